//! End-to-end tests: the real gateway on a loopback port, the generated gRPC
//! client, and the portal simulator over real HTTP. Each test asserts both
//! what the portal received and what the caller got.

// Test code: a failed setup step fails the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod bulk;
mod docspace;
mod gone;
mod hostile;
mod hostile_portal;
mod listing;
mod operability;
mod releases;
mod serving;
mod statuses;
mod tls;
mod verify;
mod workspace;
