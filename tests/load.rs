//! A bounded load test in a process of its own (so its memory reading is its
//! own): 1,000 concurrent calls through the real gateway to the simulator,
//! reads and read-modify-write merges mixed, every one answered correctly,
//! nothing lost, and the process's peak memory bounded, while a hostile
//! caller holds requests it never finishes and connections it never uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e/harness.rs"]
#[allow(dead_code, unused_imports)]
mod harness;

use std::time::Duration;

use harness::*;

const CALLS: usize = 1000;
const MERGES: usize = 200;
/// How much the peak resident memory may grow over the run.
const MAX_GROWTH_KIB: u64 = 128 * 1024;

/// Requests a hostile caller starts and never finishes, meanwhile.
const UNFINISHED: usize = 100;
/// Connections it opens and never uses.
const SILENT: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_are_all_answered_and_memory_stays_bounded() {
    let gateway = Gateway::workspace().await;
    let before = memory_kib("VmRSS:");
    // The hostile caller: a hundred calls whose message never ends, on
    // connections of their own, and fifty silent connections.
    let mut raw = raw_client(&gateway).await;
    let mut unfinished = Vec::new();
    for _ in 0..UNFINISHED {
        let (response, mut body) = raw
            .send_request(call_head(&gateway, "GetUser", None), false)
            .unwrap();
        body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 40, 10]), false)
            .unwrap();
        unfinished.push((response, body));
        raw = raw.ready().await.unwrap();
    }
    let mut silent = Vec::new();
    for _ in 0..SILENT {
        silent.push(tokio::net::TcpStream::connect(gateway.addr).await.unwrap());
    }

    let calls = (0..CALLS).map(|n| {
        let mut client = gateway.client.clone();
        tokio::spawn(async move {
            if n < MERGES {
                let request = pb::UpdateContactsRequest {
                    user_id: seed::USER_ID.into(),
                    contacts: vec![contact("telegram", &format!("@load{n}"))],
                    spam: None,
                };
                let user = client
                    .update_contacts(as_user(seed::ADMIN_TOKEN, request))
                    .await?
                    .into_inner();
                Ok::<_, tonic::Status>(user.id == seed::USER_ID)
            } else {
                let id = [seed::USER_ID, seed::ADMIN_ID, seed::GUEST_ID][n % 3];
                let request = pb::GetUserRequest { user_id: id.into() };
                let user = client
                    .get_user(as_user(seed::ADMIN_TOKEN, request))
                    .await?
                    .into_inner();
                Ok(user.id == id)
            }
        })
    });
    let calls: Vec<_> = calls.collect();
    let answers = tokio::time::timeout(Duration::from_secs(120), async {
        let mut answers = Vec::with_capacity(CALLS);
        for call in calls {
            answers.push(call.await.unwrap());
        }
        answers
    })
    .await
    .expect("the load did not finish in time");

    let failed: Vec<_> = answers
        .iter()
        .filter(|answer| !matches!(answer, Ok(true)))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {CALLS} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    for n in 0..MERGES {
        assert!(
            stored.contains(&("telegram".to_owned(), format!("@load{n}"))),
            "merge {n} was lost"
        );
    }
    drop((unfinished, silent));
    let peak = memory_kib("VmHWM:");
    assert!(
        peak.saturating_sub(before) < MAX_GROWTH_KIB,
        "peak memory grew by {} KiB",
        peak - before
    );
}
