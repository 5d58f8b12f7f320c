//! Bounded fuzzing on the stable toolchain: proptest mutates a committed
//! corpus of portal answers (`tests/corpus/portal/`: both products' envelopes,
//! errors, validation failures, build answers, non-JSON bodies) and generates
//! arbitrary requests. Decoding and validation must never panic, and what they
//! accept must keep their promises. `FUZZ_CASES` sets the number of cases per
//! target (CI runs the default).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use people_gateway::mapping;
use people_gateway::pb;
use people_gateway::portal::envelope;
use proptest::prelude::*;
use prost::Message as _;

fn corpus() -> Vec<Vec<u8>> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/portal");
    let mut seeds: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "the seed corpus is missing");
    seeds
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(3000)
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), 0..64usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..16),
                Just(b"null".to_vec()),
                Just(b"[]".to_vec()),
                Just(b"{}".to_vec()),
                Just(b"\"\\u0000\"".to_vec()),
                Just(b"1e999".to_vec()),
                Just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec()),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 0..256usize).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Flip(at, byte) => {
                if let Some(slot) = bytes.get_mut(at % len) {
                    *slot = *byte;
                }
            }
            Mutation::Delete(at, count) => {
                let start = (at % len).min(bytes.len());
                let end = (start + count).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Insert(at, inserted) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Duplicate(at, count) => {
                let start = (at % len).min(bytes.len());
                let end = (start + count).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
        }
    }
    bytes
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(Into::into),
        any::<f64>().prop_map(
            |n| serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, Into::into)
        ),
        "\\PC{0,24}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("contacts".to_owned()),
                    Just("groups".to_owned()),
                    Just("birthday".to_owned()),
                    Just("email".to_owned()),
                    Just("isVisitor".to_owned()),
                    Just("status".to_owned()),
                    Just("statusCode".to_owned()),
                    Just("response".to_owned()),
                    Just("error".to_owned()),
                    "[a-zA-Z]{1,12}",
                ],
                inner,
                0..8,
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

const STATUSES: [u16; 9] = [200, 201, 400, 401, 403, 404, 429, 500, 503];

/// Decodes an answer the way the gateway does, all the way to the wire.
fn decode(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(user) = envelope::read_user(status, body, None) {
        prop_assert!((200..300).contains(&status));
        // The one-pass path reads exactly what the tolerant path reads. It
        // may also read an answer the tolerant path cannot hold as a `Value`
        // (a number beyond f64 in a key it skips), never another user.
        let tolerant = envelope::read_user_tolerantly(status, body, None);
        match &tolerant {
            Ok(tolerant) => prop_assert_eq!(&user, tolerant),
            Err(_) => prop_assert!(serde_json::from_slice::<serde_json::Value>(body).is_err()),
        }
        prop_assert!(!user.id.is_empty());
        let message = mapping::user_to_pb(user);
        let encoded = message.encode_to_vec();
        prop_assert_eq!(pb::User::decode(encoded.as_slice()).unwrap(), message);
    }
    if let Ok(page) = envelope::read_page(status, body, None, 2) {
        prop_assert!((200..300).contains(&status));
        // The same holds for a listing's page.
        match envelope::read_page_tolerantly(status, body, None, 2) {
            Ok(tolerant) => {
                prop_assert_eq!(page.total, tolerant.total);
                prop_assert_eq!(&page.users, &tolerant.users);
            }
            Err(_) => prop_assert!(serde_json::from_slice::<serde_json::Value>(body).is_err()),
        }
    }
    let _ = envelope::read_build(status, body, None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_portal_answers_never_panic(
        seed in any::<prop::sample::Index>(),
        status in prop::sample::select(STATUSES.to_vec()),
        mutations in proptest::collection::vec(mutation(), 0..6),
    ) {
        let seeds = corpus();
        let body = apply(seed.get(&seeds).clone(), &mutations);
        decode(status, &body)?;
    }

    #[test]
    fn arbitrary_json_under_a_success_envelope_never_panics(
        response in json(),
        status in prop::sample::select(vec![0i64, 1, 2]),
    ) {
        let body = serde_json::json!({"count": 1, "status": status, "statusCode": 200, "response": response});
        decode(200, body.to_string().as_bytes())?;
    }

}

proptest! {
    // Generating large requests costs more than checking them: fewer cases.
    #![proptest_config(ProptestConfig { cases: cases() / 8, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_update_requests_are_validated_without_panic(
        user_id in "\\PC{0,40}",
        text in proptest::option::of("\\PC{0,300}"),
        long in proptest::option::of("\\PC{0,4100}"),
        sex in proptest::option::of(any::<i32>()),
        date in proptest::option::of((any::<i32>(), any::<i32>(), any::<i32>())),
        ids in proptest::option::of(proptest::collection::vec("[0-9a-f-]{0,36}", 0..210)),
        contacts in proptest::option::of(proptest::collection::vec(("\\PC{0,12}", "\\PC{0,260}"), 0..210)),
        avatar in proptest::option::of("\\PC{0,100}"),
        lead in proptest::option::of("\\PC{0,40}"),
    ) {
        let request = pb::UpdateUserRequest {
            user_id,
            first_name: text.clone(),
            last_name: text.clone(),
            comment: long,
            title: text.clone(),
            location: text,
            sex,
            birthday: date.map(|(year, month, day)| pb::DateValue { date: Some(pb::Date { year, month, day }) }),
            works_from: None,
            department_ids: ids.map(|ids| pb::DepartmentIdList { ids }),
            contacts: contacts.map(|contacts| pb::ContactList {
                contacts: contacts.into_iter().map(|(r#type, value)| pb::Contact { r#type, value }).collect(),
            }),
            avatar_url: avatar,
            disabled: None,
            is_guest: None,
            lead_id: lead,
            spam: None,
        };
        match mapping::update_user_request(request) {
            Ok((_, changes)) => {
                for text in [&changes.first_name, &changes.last_name, &changes.title, &changes.location]
                    .into_iter()
                    .flatten()
                {
                    prop_assert!(text.chars().count() <= 255);
                    prop_assert!(!text.chars().any(char::is_control));
                }
                prop_assert!(changes.contacts.as_ref().is_none_or(|list| list.len() <= 200));
                prop_assert!(changes.department_ids.as_ref().is_none_or(|list| list.len() <= 200));
                if let Some(url) = &changes.avatar_url {
                    prop_assert!(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/'));
                }
            }
            Err(error) => {
                // However bad the input, the answer stays small.
                let status = tonic::Status::from(error);
                prop_assert!(status.message().len() < 8 * 1024);
            }
        }
    }
}
