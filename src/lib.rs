//! people-gateway: a gRPC gateway in front of the ONLYOFFICE People REST API,
//! for Workspace (CommunityServer) and DocSpace portals.
//!
//! Modules, one per boundary:
//! - [`service`]: the gRPC side, `onlyoffice.people.v1.PeopleService`.
//! - [`bulk`]: the SyncUsers stream: read-ahead, per-user order, limits, pauses the portal asks for.
//! - [`mapping`]: protobuf requests into validated domain values, portal users into `pb::User`.
//! - [`people`]: what each operation does on each product (safe read-modify-write, refusals).
//! - [`portal`]: the HTTP client for the portal's REST API and its wire shapes.
//! - [`error`]: every error and the one table that maps it to a gRPC status.
//! - [`domain`], [`locks`]: validated values and per-user write serialization.
//! - [`config`], [`server`], [`demo`]: flags, serving (every limit and the tower stack), and the demo mode.
//! - [`connections`]: accepting client connections within bounds.
//! - [`deadline`]: a call's deadline, from its `grpc-timeout` as its headers arrive.
//! - [`readiness`]: health that follows the portal.
//! - [`telemetry`]: metrics, trace context and request ids, OTLP export, log format.
//!
//! One `UpdateContacts` call, followed through: [`service::PeopleApi`] takes the
//! credential from metadata and [`mapping`] validates the contacts; [`people::People`]
//! resolves `@self`, locks the user, reads the current list with
//! [`portal::PortalClient::get_user`] (under the caller's deadline, tried again
//! where safe), merges, and writes the whole list back
//! (Workspace `PUT /people/{id}/contacts`, DocSpace `PUT /people/{id}`); the
//! portal's answer goes back through [`mapping::user_to_pb`], and any error
//! through [`error`].

pub mod bulk;
pub mod caller;
pub mod config;
pub mod connections;
pub mod deadline;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod error;
pub mod locks;
pub mod mapping;
pub mod operations;
pub mod people;
pub mod portal;
pub mod readiness;
pub mod server;
pub mod service;
pub mod telemetry;

/// Generated protobuf types and gRPC stubs for `onlyoffice.people.v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("onlyoffice.people.v1");

    /// Encoded descriptors of the contract (and the google.rpc error details), for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("people_descriptor");
}
