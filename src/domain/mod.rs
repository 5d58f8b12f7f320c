//! Validated values shared by the gRPC side and the portal side, one topic a
//! file: who a call is about (`user`), contacts and their merge rules
//! (`contact`), what an update changes (`profile`), which portal (`product`),
//! the caller's credential (`credential`), the call itself (`call`), what a
//! listing asks for (`listing`), and the refusals the rules decide (`refusal`).
//! Nothing here knows tonic or the HTTP client.

mod call;
mod contact;
mod credential;
mod listing;
mod product;
mod profile;
mod refusal;
mod user;

pub use call::{Abandoned, Call, Deadline, Departure, Passed};
pub use contact::{Contact, ContactError, ContactField, merge_contacts, remove_contacts};
pub use credential::{Credential, CredentialError};
pub use listing::{ListFilters, Page, StatusFilter, UserQuery};
pub use product::{PortalVersion, PortalVersionError, Product, ProductChoice};
pub use profile::{Field, FieldSet, ProfileChanges, Sex};
pub use refusal::{Refusal, RefusalKind};
pub use user::{UserId, UserRef, UserRefError};
