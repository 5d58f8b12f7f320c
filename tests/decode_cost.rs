//! The CI guard on decoding cost: allocations (a deterministic count, unlike
//! time) made to decode a portal answer and map it to the contract. A
//! round trip through `serde_json::Value` (a map per object, a string per
//! key, clones) multiplies them and fails this test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;

use people_gateway::mapping;
use people_gateway::portal::envelope;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static COUNTING: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The allocations one call of `work` makes (the minimum of a few runs, so a
/// lazily initialised static elsewhere does not count).
fn allocations(work: impl Fn()) -> usize {
    (0..5)
        .map(|_| {
            let region = Region::new(COUNTING);
            work();
            region.change().allocations
        })
        .min()
        .unwrap()
}

const WORKSPACE_USER: &[u8] = include_bytes!("corpus/portal/workspace_user.json");
const DOCSPACE_USER: &[u8] = include_bytes!("corpus/portal/docspace_self.json");

/// The decode of one user answer and its mapping allocate at most this much
/// (39 for the Workspace answer when this was written; 258 through `Value`):
/// the strings and lists the user itself holds, and little more.
const MAX_ALLOCATIONS: usize = 60;

#[test]
fn decoding_a_user_costs_little_more_than_the_user_itself() {
    for (name, body) in [("workspace", WORKSPACE_USER), ("docspace", DOCSPACE_USER)] {
        let count = allocations(|| {
            let user = envelope::read_user(200, body, None).unwrap();
            std::hint::black_box(mapping::user_to_pb(user));
        });
        println!("{name}: {count} allocations");
        assert!(
            count <= MAX_ALLOCATIONS,
            "{name}: {count} allocations to decode one user (at most {MAX_ALLOCATIONS})"
        );
    }
}
