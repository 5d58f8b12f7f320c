//! Paging through a directory of 100,000 users, in a process of its own (so
//! its memory reading is its own): every user is listed exactly once, each
//! page is one portal request for that page only, and the process's peak
//! memory grows by far less than the directory would take in memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e/harness.rs"]
#[allow(dead_code, unused_imports)]
mod harness;

use std::collections::HashSet;

use harness::*;
use people_gateway::domain::Product;
use people_gateway::mapping::MAX_PAGE_SIZE;

const DIRECTORY: usize = 100_000;
/// How much the peak resident memory may grow while paging: a few pages'
/// worth. The directory itself, as the portal's JSON, is over 100 MiB.
const MAX_GROWTH_KIB: u64 = 24 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_a_hundred_thousand_users_keeps_memory_bounded() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Docspace)).await;
    gateway.sim.add_generated_users(DIRECTORY);
    let stored = gateway.sim.user_ids();
    assert!(stored.len() > DIRECTORY);
    let mut seen: HashSet<uuid::Uuid> = HashSet::with_capacity(stored.len() * 2);
    let mut request = pb::ListUsersRequest {
        page_size: i32::try_from(MAX_PAGE_SIZE).unwrap(),
        ..Default::default()
    };
    // The first page warms up every path; memory is measured from there.
    let mut pages = 0;
    let mut baseline = None;
    loop {
        let page = gateway
            .client
            .list_users(as_user(seed::ADMIN_TOKEN, request.clone()))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.users.len() <= MAX_PAGE_SIZE as usize);
        assert_eq!(page.total_size, Some(stored.len() as i32));
        for user in &page.users {
            assert!(seen.insert(uuid(&user.id)), "{} listed twice", user.id);
        }
        if baseline.is_none() {
            gateway.sim.clear_requests();
            // Forget the peak of building the directory: writing 5 to
            // clear_refs resets VmHWM to the current resident set.
            std::fs::write("/proc/self/clear_refs", "5").unwrap();
            baseline = Some(memory_kib("VmRSS:"));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let peak = memory_kib("VmHWM:");
    let baseline = baseline.unwrap();
    assert_eq!(seen.len(), stored.len(), "every user, once");
    assert_eq!(pages, stored.len().div_ceil(MAX_PAGE_SIZE as usize));
    // Each later page was one request for one page.
    let requests = gateway.people_requests();
    assert_eq!(requests.len(), pages - 1);
    assert!(requests.iter().all(|request| {
        request.path == "/api/2.0/people/filter"
            && request
                .query
                .as_deref()
                .is_some_and(|query| query.contains(&format!("count={MAX_PAGE_SIZE}")))
    }));
    eprintln!(
        "{pages} pages; peak resident memory grew by {} KiB while paging",
        peak.saturating_sub(baseline)
    );
    assert!(
        peak.saturating_sub(baseline) < MAX_GROWTH_KIB,
        "peak memory grew by {} KiB while paging",
        peak.saturating_sub(baseline)
    );
}
