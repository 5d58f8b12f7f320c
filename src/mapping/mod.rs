//! Conversions between the protobuf contract and the gateway's own types:
//! gRPC requests are validated into [`Operation`]s and domain values (with a
//! field violation per bad field) in `requests`, and what the portal holds
//! becomes a `pb::User` in `user`; ListUsers requests and pages in `listing`,
//! with their page tokens in `page_token`. The only module that sees both protobuf and
//! portal types. Messages are destructured whole, so a new protobuf field does
//! not compile until it is mapped.
//!
//! [`Operation`]: crate::operations::Operation

mod listing;
mod page_token;
mod requests;
mod user;

pub use listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, list_users_request, list_users_response};
pub use page_token::PageTokens;
pub use requests::{get_user_request, sync_item, update_user_request};
pub use user::user_to_pb;
