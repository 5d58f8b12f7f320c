//! Conversions between the protobuf contract and the gateway's own types:
//! gRPC requests are validated into [`Operation`]s and domain values (with a
//! field violation per bad field) in `requests`, and what the portal holds
//! becomes a `pb::User` in `user`. The only module that sees both protobuf and
//! portal types. Messages are destructured whole, so a new protobuf field does
//! not compile until it is mapped.
//!
//! [`Operation`]: crate::operations::Operation

mod requests;
mod user;

pub use requests::{get_user_request, sync_item, update_user_request};
pub use user::user_to_pb;
