//! people-gateway: a gRPC gateway in front of the ONLYOFFICE People REST API,
//! for Workspace (CommunityServer) and DocSpace portals.
//!
//! The layers, each importing only those below it:
//! - [`server`]: serving (every limit and both tower stacks, read top to
//!   bottom), `server::run` for the binary, readiness and the demo portal.
//! - [`service`] (unary RPCs) and [`bulk`] (the SyncUsers stream): the two
//!   gRPC layers. `service` hands SyncUsers streams to `bulk`, which never
//!   calls back; their operations meet only in [`operations`], and neither
//!   sees a portal type.
//! - `caller` (credential, routing key, request id from metadata) and
//!   `deadline` (a call's `grpc-timeout`, from its headers' arrival), which
//!   both gRPC layers use; [`mapping`]: protobuf into [`operations::Operation`]s
//!   and what the portal holds into `pb::User`.
//! - [`operations`]: what a call does, whichever layer it came through: the
//!   write task that runs to its end once sent, the shutdown stopper.
//! - [`people`]: what each operation does on each product (safe
//!   read-modify-write, the rules table and its refusals, per-user locks).
//! - [`error`]: every error, and its one translation into a gRPC status.
//! - [`portal`]: the HTTP client for the portal's REST API and its wire shapes.
//! - [`domain`], [`config`], [`connections`], [`telemetry`]: validated values,
//!   flags, bounded accepting, and metrics, traces and logs.
//!
//! One unary `UpdateContacts`, followed through: [`service::PeopleApi`] checks
//! the routing key, [`mapping`] validates the request into an
//! `Operation::EditContacts`, `caller` takes the credential and the deadline
//! into a [`domain::Call`], and [`operations::Operations::perform`] takes the
//! user's lock and a turn among the writes under way, then runs it on its own
//! task: [`people::People`] (for `@self`, first resolving it and locking the
//! user there) reads the current list with [`portal::PortalClient::get_user`] (under the
//! deadline, tried again where safe), merges, and sends the whole list back
//! (Workspace `PUT /people/{id}/contacts`, DocSpace `PUT /people/{id}`) unless
//! the caller has left. The portal's answer returns as an
//! [`operations::UserRecord`] that [`mapping`] turns into a `pb::User`; an
//! error goes through [`error`].
//!
//! One SyncUsers item, followed through: [`bulk`] reads it from the stream,
//! checks its id and routing key, has [`mapping`] validate it into the same
//! `Operation` its unary RPC would make, queues it behind its user's earlier
//! items, waits for a place (and out any pause the portal asked for), and
//! hands it to the same [`operations::Operations::perform`]; the answer goes
//! back on the stream under the item's id, once.

pub mod bulk;
mod caller;
pub mod config;
pub mod connections;
mod deadline;
#[cfg(feature = "demo")]
mod demo;
pub mod domain;
pub mod error;
mod locks;
pub mod mapping;
pub mod operations;
pub mod people;
pub mod portal;
mod readiness;
mod receive;
pub mod server;
pub mod service;
pub mod status;
pub mod telemetry;

/// Generated protobuf types and gRPC stubs for `onlyoffice.people.v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("onlyoffice.people.v1");

    /// Encoded descriptors of the contract (and the google.rpc error details), for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("people_descriptor");
}
