//! What translating one portal answer into a `User` costs: the gateway's
//! own decoder and mapping (the translating floor's part of a GetUser) next
//! to the least a translation on the same libraries can be. Both read the
//! same Workspace answer in the same process, so the ratios are what to read.
//!
//! - **gateway**: `envelope::read_user` (keys compared lower-cased, lenient
//!   numbers and booleans, the envelope's error checks), `mapping::user_to_pb`,
//!   and prost's encoding, as a GetUser does.
//! - **lean**: serde_json's derive straight into structs named for the keys
//!   this answer spells (no lower-casing, no leniency, no checks), moved into
//!   the same `User`, dates cut to their day, and encoded by prost: what a
//!   translation on serde_json and prost cannot go below without leaving
//!   them.
//! - **scan**: serde_json reading the answer and keeping nothing; what
//!   reading the JSON at all costs.
//!
//! Run: `cargo bench --bench translate` (env: BENCH_ITERATIONS, BENCH_ROUNDS;
//! BENCH_ONLY=gateway, lean or scan runs one, for an instruction count under
//! `valgrind --tool=callgrind`).

// A benchmark run aborts on the first failure; there is no caller to answer.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod timing;

use std::hint::black_box;
use std::time::Duration;

use people_gateway::mapping;
use people_gateway::pb;
use people_gateway::portal::envelope;
use prost::Message as _;
use serde::Deserialize;
use timing::{env_number, per_iteration};

const ANSWER: &[u8] = include_bytes!("../tests/corpus/portal/workspace_user.json");

/// One answer to the bytes of a `User`.
type Translate = fn(&[u8]) -> Vec<u8>;

fn gateway(answer: &[u8]) -> Vec<u8> {
    let user = envelope::read_user(200, answer, None).unwrap();
    mapping::user_to_pb(user).encode_to_vec()
}

#[derive(Deserialize)]
struct LeanEnvelope {
    response: LeanUser,
}

#[derive(Deserialize)]
struct LeanContact {
    r#type: String,
    value: String,
}

#[derive(Deserialize)]
struct LeanGroup {
    id: String,
    name: Option<String>,
    manager: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanUser {
    id: String,
    user_name: Option<String>,
    is_visitor: Option<bool>,
    display_name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    birthday: Option<String>,
    sex: Option<String>,
    status: Option<i32>,
    activation_status: Option<i32>,
    #[expect(
        dead_code,
        reason = "read, as the gateway reads it; null in this answer"
    )]
    terminated: Option<String>,
    department: Option<String>,
    work_from: Option<String>,
    location: Option<String>,
    notes: Option<String>,
    lead: Option<String>,
    title: Option<String>,
    mobile_phone: Option<String>,
    contacts: Option<Vec<LeanContact>>,
    avatar_small: Option<String>,
    groups: Option<Vec<LeanGroup>>,
    avatar_medium: Option<String>,
    avatar: Option<String>,
    is_admin: Option<bool>,
    #[serde(rename = "isLDAP")]
    is_ldap: Option<bool>,
    is_owner: Option<bool>,
    list_admin_modules: Option<Vec<String>>,
    culture_name: Option<String>,
    #[serde(rename = "isSSO")]
    is_sso: Option<bool>,
    profile_url: Option<String>,
    quota_limit: Option<f64>,
    used_space: Option<f64>,
    docs_space: Option<f64>,
    mail_space: Option<f64>,
    talk_space: Option<f64>,
}

/// `1985-04-10T03:00:00…` as the day it names.
fn day(text: &str) -> Option<pb::Date> {
    let date = chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    use chrono::Datelike as _;
    Some(pb::Date {
        year: date.year(),
        month: i32::try_from(date.month()).ok()?,
        day: i32::try_from(date.day()).ok()?,
    })
}

fn lean(answer: &[u8]) -> Vec<u8> {
    let user = serde_json::from_slice::<LeanEnvelope>(answer)
        .unwrap()
        .response;
    // The portal's numbers as the contract's (a table in the gateway).
    let status = match user.status {
        Some(1) => Some(pb::UserStatus::Active),
        Some(2) => Some(pb::UserStatus::Terminated),
        Some(4) => Some(pb::UserStatus::Pending),
        _ => None,
    };
    let activation_status = match user.activation_status {
        Some(0) => Some(pb::ActivationStatus::NotActivated),
        Some(1) => Some(pb::ActivationStatus::Activated),
        Some(2) => Some(pb::ActivationStatus::Pending),
        _ => None,
    };
    let sex = match user.sex.as_deref() {
        Some("male") => Some(pb::Sex::Male),
        Some("female") => Some(pb::Sex::Female),
        _ => None,
    };
    pb::User {
        id: user.id,
        display_name: user.display_name,
        title: user.title,
        first_name: user.first_name,
        last_name: user.last_name,
        user_name: user.user_name,
        email: user.email,
        contacts: user.contacts.map(|contacts| pb::ContactList {
            contacts: contacts
                .into_iter()
                .map(|contact| pb::Contact {
                    r#type: contact.r#type,
                    value: contact.value,
                })
                .collect(),
        }),
        birthday: user.birthday.as_deref().and_then(day),
        sex: sex.map(Into::into),
        status: status.map(Into::into),
        activation_status: activation_status.map(Into::into),
        // `null` in this answer, as for every user not suspended.
        terminated: None,
        department: user.department,
        works_from: user.work_from.as_deref().and_then(day),
        groups: user.groups.map(|groups| pb::GroupList {
            groups: groups
                .into_iter()
                .map(|group| pb::Group {
                    id: group.id,
                    name: group.name,
                    manager: group.manager,
                    is_system: None,
                })
                .collect(),
        }),
        location: user.location,
        notes: user.notes,
        lead_id: user.lead,
        avatar: user.avatar,
        avatar_medium: user.avatar_medium,
        avatar_small: user.avatar_small,
        profile_url: user.profile_url,
        is_admin: user.is_admin,
        is_ldap: user.is_ldap,
        list_admin_modules: user.list_admin_modules.unwrap_or_default(),
        is_owner: user.is_owner,
        is_visitor: user.is_visitor,
        culture_name: user.culture_name,
        mobile_phone: user.mobile_phone,
        is_sso: user.is_sso,
        quota_limit: user.quota_limit.map(|number| number as i64),
        used_space: user.used_space,
        docs_space: user.docs_space.map(|number| number as i64),
        mail_space: user.mail_space.map(|number| number as i64),
        talk_space: user.talk_space.map(|number| number as i64),
        ..pb::User::default()
    }
    .encode_to_vec()
}

fn scan(answer: &[u8]) -> Vec<u8> {
    serde_json::from_slice::<serde::de::IgnoredAny>(answer).unwrap();
    Vec::new()
}

fn main() {
    let iterations = env_number("BENCH_ITERATIONS", 200_000);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let translations: [(&str, Translate); 3] =
        [("gateway", gateway), ("lean", lean), ("scan", scan)];
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        let (_, translate) = translations
            .iter()
            .find(|(name, _)| *name == only)
            .expect("BENCH_ONLY is gateway, lean or scan");
        for _ in 0..iterations {
            black_box(translate(black_box(ANSWER)));
        }
        return;
    }
    // Both translations say the same of this answer; a lean one that left
    // fields out would be cheaper for that alone.
    let gateway_user = pb::User::decode(gateway(ANSWER).as_slice()).unwrap();
    let lean_user = pb::User::decode(lean(ANSWER).as_slice()).unwrap();
    assert_eq!(gateway_user, lean_user);
    let times: Vec<(&str, Duration)> = translations
        .iter()
        .map(|(name, translate)| {
            let time = per_iteration(iterations, rounds, || {
                black_box(translate(black_box(ANSWER)));
            });
            (*name, time)
        })
        .collect();
    let gateway_time = times[0].1.as_secs_f64();
    println!(
        "people-gateway translation cost: {iterations} iterations, median of {rounds} rounds, \
         a {}-byte Workspace answer to one User",
        ANSWER.len()
    );
    for (name, time) in times {
        println!(
            "{name:<8} {:>8.2} µs   {:>5.2} of the gateway's",
            time.as_secs_f64() * 1e6,
            time.as_secs_f64() / gateway_time
        );
    }
}
