//! What checking a write's answer costs, next to what the gateway already
//! spends on that answer: decoding the portal's JSON and mapping it to the
//! contract. Both run on the same answer in the same process, so the ratio
//! is what to read; absolute times move with the machine.
//!
//! Run: `cargo bench --bench verify` (env: BENCH_ITERATIONS, BENCH_ROUNDS).

// A benchmark run aborts on the first failure; there is no caller to answer.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod timing;

use std::hint::black_box;

use chrono::NaiveDate;
use people_gateway::domain::{Contact, ProfileChanges, Sex, UserId};
use people_gateway::mapping;
use people_gateway::people::rules::WORKSPACE;
use people_gateway::people::verify;
use people_gateway::portal::envelope;
use timing::{env_number, per_iteration};

const ANSWER: &[u8] = include_bytes!("../tests/corpus/portal/workspace_user.json");

fn main() {
    let iterations = env_number("BENCH_ITERATIONS", 200_000);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let held = envelope::read_user(200, ANSWER, None).unwrap();
    let before = held.clone();
    // Every field the answer shows, as the answer holds it: nothing is
    // contradicted, so every comparison runs to its end.
    let contacts = held
        .contacts
        .iter()
        .flatten()
        .map(|contact| {
            Contact::new(
                contact.r#type.as_deref().unwrap(),
                contact.value.as_deref().unwrap(),
            )
            .unwrap()
        })
        .collect();
    let departments = held
        .groups
        .iter()
        .flatten()
        .map(|group| group.id.parse().unwrap())
        .collect();
    let changes = ProfileChanges {
        first_name: held.firstname.clone(),
        last_name: held.lastname.clone(),
        comment: held.notes.clone(),
        title: held.title.clone(),
        location: held.location.clone(),
        sex: Some(Sex::Male),
        birthday: Some(NaiveDate::from_ymd_opt(1985, 4, 10)),
        works_from: Some(NaiveDate::from_ymd_opt(2015, 9, 1)),
        department_ids: Some(departments),
        contacts: Some(contacts),
        avatar_url: Some("https://cdn.example.com/mike.png".into()),
        disabled: Some(false),
        is_guest: Some(false),
        lead: Some(held.lead.as_deref().and_then(UserId::parse)),
        spam: None,
    };
    let verdict = verify::verify(&WORKSPACE, &changes, &before, &held);
    assert!(verdict.ignored.len() <= 1, "{verdict:?}");

    let decode = per_iteration(iterations, rounds, || {
        let user = envelope::read_user(200, black_box(ANSWER), None).unwrap();
        black_box(mapping::user_to_pb(user));
    });
    let check = per_iteration(iterations, rounds, || {
        black_box(verify::verify(
            &WORKSPACE,
            black_box(&changes),
            black_box(&before),
            black_box(&held),
        ));
    });
    println!(
        "people-gateway verify cost: {iterations} iterations, median of {rounds} rounds, \
         a Workspace answer with every field of UpdateUser set"
    );
    println!(
        "decode + map the answer   {:>8.2} µs",
        decode.as_secs_f64() * 1e6
    );
    println!(
        "verify all 14 fields      {:>8.2} µs",
        check.as_secs_f64() * 1e6
    );
    println!(
        "verify / decode+map       {:>8.2}",
        check.as_secs_f64() / decode.as_secs_f64()
    );
}
