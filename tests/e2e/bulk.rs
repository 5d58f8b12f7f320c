//! SyncUsers: one stream of many changes. Each item answered once, as its
//! unary RPC would answer; each user's items in arrival order; the portal
//! never sees more items at once than the limits allow; the portal's request
//! to wait slows the stream instead of failing items; a stalled portal
//! blocks the sender instead of filling memory; deadlines and shutdown end
//! streams without starting what was queued.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pb::sync_users_request::Operation;
use pb::sync_users_response::Result as Answer;
use people_gateway::bulk::{BulkSettings, rpc_status};
use people_gateway::domain::Product;
use tokio_stream::StreamExt as _;
use tonic::Code;

use crate::harness::*;

fn item(id: impl Into<String>, operation: Operation) -> pb::SyncUsersRequest {
    pb::SyncUsersRequest {
        item_id: id.into(),
        operation: Some(operation),
    }
}

fn set_contacts(user: &str, contacts: Vec<pb::Contact>) -> Operation {
    Operation::SetContacts(pb::SetContactsRequest {
        user_id: user.into(),
        contacts,
        spam: None,
    })
}

fn add_contacts(user: &str, contacts: Vec<pb::Contact>) -> Operation {
    Operation::UpdateContacts(pb::UpdateContactsRequest {
        user_id: user.into(),
        contacts,
        spam: None,
    })
}

fn delete_contacts(user: &str, contacts: Vec<pb::Contact>) -> Operation {
    Operation::DeleteContacts(pb::DeleteContactsRequest {
        user_id: user.into(),
        contacts,
        spam: None,
    })
}

fn move_to(user: &str, location: &str) -> Operation {
    Operation::UpdateUser(pb::UpdateUserRequest {
        user_id: user.into(),
        location: Some(location.into()),
        ..Default::default()
    })
}

/// What the unary RPC answers for the same operation, as an item's result.
async fn unary(gateway: &mut Gateway, token: &str, operation: Operation) -> Answer {
    let result = match operation {
        Operation::UpdateUser(request) => gateway.update_user(token, request).await,
        Operation::UpdateContacts(request) => gateway.update_contacts(token, request).await,
        Operation::SetContacts(request) => gateway.set_contacts(token, request).await,
        Operation::DeleteContacts(request) => gateway.delete_contacts(token, request).await,
    };
    match result {
        Ok(user) => Answer::User(user),
        Err(status) => Answer::Error(rpc_status(&status)),
    }
}

/// An answer as two gateways in front of two simulators can agree on: the
/// simulator's own address taken out of URLs, error details decoded (the
/// order of `ErrorInfo.metadata` on the wire is arbitrary).
#[derive(Debug, PartialEq)]
enum Comparable {
    User(Box<pb::User>),
    Error {
        code: i32,
        message: String,
        info: Vec<tonic_types::pb::ErrorInfo>,
        other: Vec<prost_types::Any>,
    },
}

fn comparable(answer: &Answer, gateway: &Gateway) -> Comparable {
    match answer {
        Answer::User(user) => {
            let base = gateway.sim.base_url().to_string();
            let mut user = user.clone();
            for url in [&mut user.avatar_small, &mut user.profile_url]
                .into_iter()
                .flatten()
            {
                *url = url.replace(&base, "/");
            }
            Comparable::User(Box::new(user))
        }
        Answer::Error(status) => {
            let (info, other): (Vec<_>, Vec<_>) = status
                .details
                .iter()
                .cloned()
                .partition(|detail| detail.type_url.ends_with("google.rpc.ErrorInfo"));
            Comparable::Error {
                code: status.code,
                message: status.message.clone(),
                info: info
                    .iter()
                    .map(|detail| prost::Message::decode(detail.value.as_slice()).unwrap())
                    .collect(),
                other,
            }
        }
    }
}

/// `count` more users like Mike (contacts, department, lead), with ids of their own.
/// Ten changes per user, each user's in a row: replace, add, remove, move, …
/// In a row, a user's items meet in the queue, where they must keep their order.
fn mixed_items(users: &[String]) -> Vec<pb::SyncUsersRequest> {
    let mut items = Vec::new();
    for (n, user) in users.iter().enumerate() {
        for step in 0..10 {
            let operation = match step % 4 {
                0 => set_contacts(user, vec![contact("mail", &format!("m{step}@example.com"))]),
                1 => add_contacts(user, vec![contact("phone", &format!("+1 555 {step:04}"))]),
                2 => delete_contacts(
                    user,
                    vec![contact("mail", &format!("m{}@example.com", step - 2))],
                ),
                _ => move_to(user, &format!("step {step}")),
            };
            items.push(item(format!("{n}/{step}"), operation));
        }
    }
    items
}

/// The user a People API path names (`/api/2.0/people/{user}/…`).
fn user_in(path: &str) -> String {
    path.split('/').nth(4).unwrap_or_default().to_owned()
}

/// The users any People request named.
fn users_reached(gateway: &Gateway) -> std::collections::HashSet<String> {
    gateway
        .people_requests()
        .iter()
        .map(|request| user_in(&request.path))
        .collect()
}

/// The writes the portal received per user, in arrival order.
fn writes_per_user(gateway: &Gateway) -> HashMap<String, Vec<(String, String)>> {
    let mut writes: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for request in gateway.portal_requests_of("PUT") {
        let user = user_in(&request.path);
        writes
            .entry(user)
            .or_default()
            .push((request.path.clone(), request.body.clone()));
    }
    writes
}

/// One item per user: each moves to Lisbon.
fn everyone_moves(users: &[String]) -> Vec<pb::SyncUsersRequest> {
    users
        .iter()
        .map(|user| item(user.clone(), move_to(user, "Lisbon")))
        .collect()
}

/// A SyncUsers stream as the owner over `client`, read to its end.
async fn sync_as_admin(
    client: &mut pb::people_service_client::PeopleServiceClient<tonic::transport::Channel>,
    items: Vec<pb::SyncUsersRequest>,
) -> SyncOutcome {
    let request = as_user(seed::ADMIN_TOKEN, tokio_stream::iter(items));
    read_sync(client.sync_users(request).await).await
}

fn with_bulk(product: Product, bulk: BulkSettings) -> Options {
    let mut options = Options::of_known_release(product);
    options.bulk = bulk;
    options
}

fn limits(per_stream: usize, max_in_flight: usize) -> BulkSettings {
    BulkSettings {
        per_stream,
        max_in_flight,
        ..BulkSettings::default()
    }
}

fn metric(gateway: &Gateway, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(&gateway.metrics.render(), name, labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_items_for_a_hundred_users_answer_as_unary_calls_in_each_users_order() {
    let bulk = limits(4, 32);
    let mut streamed = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let mut sequential = Gateway::workspace().await;
    let users = add_users(&streamed, 100);
    assert_eq!(add_users(&sequential, 100), users);
    let items = mixed_items(&users);
    assert_eq!(items.len(), 1000);
    // Each portal request takes a moment, so that items overlap.
    streamed.sim.set_latency(Some(Duration::from_millis(1)));

    let outcome = streamed.sync_users(seed::ADMIN_TOKEN, items.clone()).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    let answers = outcome.by_id();
    assert_eq!(answers.len(), 1000, "every item answered exactly once");

    // The same items one by one as unary calls, on a portal of its own.
    for request in items {
        let expected = unary(
            &mut sequential,
            seed::ADMIN_TOKEN,
            request.operation.unwrap(),
        )
        .await;
        let got = &answers[&request.item_id];
        assert_eq!(
            comparable(got, &streamed),
            comparable(&expected, &sequential),
            "item {}",
            request.item_id
        );
        assert!(
            matches!(got, Answer::User(_)),
            "item {}: {got:?}",
            request.item_id
        );
    }
    // Each user's writes reached the portal in the items' order: exactly the
    // writes of the sequential run.
    assert_eq!(writes_per_user(&streamed), writes_per_user(&sequential));
    for user in &users {
        let id = uuid(user);
        assert_eq!(streamed.sim.user(id), sequential.sim.user(id));
    }

    let peak = streamed.sim.peak_in_flight();
    assert!(peak <= bulk.per_stream, "{peak} portal requests at once");
    assert!(peak >= 2, "items for different users did not overlap");
    assert_eq!(
        metric(
            &streamed,
            "people_gateway_sync_items_total",
            &[("operation", "SetContacts"), ("grpc_code", "OK")]
        ),
        300.0
    );
    assert_eq!(
        metric(&streamed, "people_gateway_sync_queued_items", &[]),
        0.0
    );
    assert_eq!(
        metric(&streamed, "people_gateway_sync_items_in_flight", &[]),
        0.0
    );
}

#[tokio::test]
async fn streams_share_the_gateway_wide_cap() {
    let bulk = limits(8, 3);
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 40);
    gateway.sim.set_latency(Some(Duration::from_millis(2)));
    let streams = users.chunks(20).map(|users| {
        let items = everyone_moves(users);
        let mut client = gateway.client.clone();
        async move { sync_as_admin(&mut client, items).await }
    });
    let outcomes = futures_util::future::join_all(streams).await;
    for outcome in outcomes {
        assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
        assert_eq!(outcome.by_id().len(), 20);
    }
    let peak = gateway.sim.peak_in_flight();
    assert!(peak <= 3, "{peak} portal requests at once over two streams");
}

#[tokio::test]
async fn a_bad_item_gets_the_unary_error_and_the_stream_goes_on() {
    let mut gateway = Gateway::workspace().await;
    let mike = seed::USER_ID;
    let unknown = "00000000-0000-4000-8000-00000000abcd";
    let fine = || set_contacts(mike, vec![contact("mail", "mike@example.com")]);
    let bad_user = || set_contacts("not a guid", vec![contact("mail", "a@example.com")]);
    let bad_contact = || add_contacts(mike, vec![contact("mail", "")]);
    let unsupported = || {
        Operation::UpdateUser(pb::UpdateUserRequest {
            user_id: mike.into(),
            spam: Some(true),
            ..Default::default()
        })
    };
    let missing = || add_contacts(unknown, vec![contact("mail", "x@example.com")]);
    let items = vec![
        item("", fine()),
        item("x".repeat(129), fine()),
        item("dup", fine()),
        item("dup", fine()),
        pb::SyncUsersRequest {
            item_id: "no-operation".into(),
            operation: None,
        },
        item("bad-user", bad_user()),
        item("bad-contact", bad_contact()),
        item("unsupported", unsupported()),
        item("missing", missing()),
        item("last", fine()),
    ];
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, items).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    assert_eq!(
        outcome.answers.len(),
        10,
        "every item answered once, duplicates too"
    );

    let error_of = |id: &str| {
        let answers: Vec<_> = outcome
            .answers
            .iter()
            .filter(|answer| answer.item_id == id)
            .collect();
        answers
            .iter()
            .find_map(|answer| match &answer.result {
                Some(Answer::Error(status)) => Some(status.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no error for {id:?}: {answers:?}"))
    };
    let bad_request_field = |status: &tonic_types::Status| {
        let status = tonic::Status::with_details(
            Code::from(status.code),
            status.message.clone(),
            prost::Message::encode_to_vec(status).into(),
        );
        bad_fields(&status)
    };
    // An over-long id is echoed cut to 128 bytes, so an answer costs no more
    // than a valid item's.
    for (id, field) in [
        ("", "item_id"),
        (&*"x".repeat(128), "item_id"),
        ("dup", "item_id"),
        ("no-operation", "operation"),
    ] {
        let status = error_of(id);
        assert_eq!(status.code, Code::InvalidArgument as i32, "{id}");
        assert_eq!(bad_request_field(&status), [field], "{id}");
    }
    // The rest fail exactly as their unary calls do.
    for (id, operation) in [
        ("bad-user", bad_user()),
        ("bad-contact", bad_contact()),
        ("unsupported", unsupported()),
        ("missing", missing()),
    ] {
        let expected = unary(&mut gateway, seed::ADMIN_TOKEN, operation).await;
        assert!(
            matches!(expected, Answer::Error(_)),
            "{id} succeeded as a unary call"
        );
        assert_eq!(
            comparable(&Answer::Error(error_of(id)), &gateway),
            comparable(&expected, &gateway),
            "{id}"
        );
    }
    let by_id: HashMap<_, _> = outcome
        .answers
        .iter()
        .map(|answer| (answer.item_id.as_str(), answer))
        .collect();
    assert!(matches!(by_id["last"].result, Some(Answer::User(_))));
    // Exactly one of the two "dup" items was carried out.
    let dups = outcome
        .answers
        .iter()
        .filter(|answer| answer.item_id == "dup" && matches!(answer.result, Some(Answer::User(_))))
        .count();
    assert_eq!(dups, 1);
}

#[tokio::test]
async fn a_routing_key_covers_only_items_for_its_user() {
    let mut gateway = Gateway::workspace().await;
    let mut request = as_user(
        seed::ADMIN_TOKEN,
        tokio_stream::iter(vec![
            item("mike", move_to(seed::USER_ID, "Oslo")),
            item("jane", move_to(seed::ADMIN_ID, "Oslo")),
        ]),
    );
    request
        .metadata_mut()
        .insert("x-people-user-id", seed::USER_ID.parse().unwrap());
    let outcome = read_sync(gateway.client.sync_users(request).await).await;
    let answers = outcome.by_id();
    assert!(matches!(answers["mike"], Answer::User(_)));
    let Answer::Error(status) = &answers["jane"] else {
        panic!("an item for another user passed the routing key");
    };
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert_eq!(
        gateway
            .sim
            .user(uuid(seed::ADMIN_ID))
            .unwrap()
            .location
            .as_deref(),
        Some("Riga")
    );
}

#[tokio::test]
async fn self_and_the_callers_own_id_keep_one_order() {
    let bulk = limits(8, 32);
    let mut streamed = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let mut sequential = Gateway::workspace().await;
    streamed.sim.set_latency(Some(Duration::from_millis(2)));
    let mike = seed::USER_ID;
    let operations = vec![
        set_contacts("@self", vec![contact("mail", "a@example.com")]),
        add_contacts(mike, vec![contact("skype", "b")]),
        delete_contacts("@self", vec![contact("mail", "a@example.com")]),
        add_contacts(mike, vec![contact("phone", "+1 555 0199")]),
        set_contacts(mike, vec![contact("mail", "c@example.com")]),
        add_contacts("@self", vec![contact("skype", "d")]),
    ];
    let items: Vec<_> = operations
        .iter()
        .enumerate()
        .map(|(n, operation)| item(n.to_string(), operation.clone()))
        .collect();
    let outcome = streamed.sync_users(seed::USER_TOKEN, items).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    let answers = outcome.by_id();
    for (n, operation) in operations.into_iter().enumerate() {
        let expected = unary(&mut sequential, seed::USER_TOKEN, operation).await;
        assert_eq!(
            comparable(&answers[&n.to_string()], &streamed),
            comparable(&expected, &sequential),
            "item {n}"
        );
    }
    assert_eq!(
        streamed.sim.user(uuid(mike)).unwrap().contacts,
        sequential.sim.user(uuid(mike)).unwrap().contacts
    );
}

#[tokio::test]
async fn the_portals_429_slows_the_stream_and_fails_no_item() {
    let bulk = limits(4, 32);
    let mut gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 10);
    // Every request during the window is refused, as DocSpace's per-minute
    // limit refuses: without `Retry-After`, so the gateway waits its default
    // second, longer than the window (which starts at the first request).
    gateway.sim.throttle_for(Duration::from_millis(600), None);
    let items: Vec<_> = (0..40)
        .map(|n| {
            let user = &users[n % users.len()];
            item(n.to_string(), move_to(user, &format!("step {n}")))
        })
        .collect();
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, items).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    let answers = outcome.by_id();
    assert_eq!(answers.len(), 40);
    for (id, answer) in &answers {
        assert!(matches!(answer, Answer::User(_)), "item {id}: {answer:?}");
    }
    let throttled = gateway.sim.throttled_requests();
    assert!(
        throttled >= 1,
        "the portal never refused: the test proves nothing"
    );
    assert!(
        throttled <= bulk.per_stream,
        "{throttled} requests refused: the stream went on sending while asked to wait"
    );
    assert!(metric(&gateway, "people_gateway_sync_pauses_total", &[]) >= 1.0);
}

/// Items offered without end: counts how many the client library pulled.
fn endless_items(
    users: Vec<String>,
    pulled: Arc<AtomicUsize>,
    total: usize,
) -> impl tokio_stream::Stream<Item = pb::SyncUsersRequest> {
    tokio_stream::iter(0..total).map(move |n| {
        pulled.fetch_add(1, Ordering::SeqCst);
        let user = &users[n % users.len()];
        item(n.to_string(), move_to(user, &format!("step {n}")))
    })
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_stalled_portal_blocks_the_sender_within_bounded_memory() {
    const OFFERED: usize = 100_000;
    let bulk = limits(8, 32);
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 50);
    gateway.sim.hold_requests();
    let before = resident_bytes();
    let pulled = Arc::new(AtomicUsize::new(0));
    let line = Line::to(gateway.addr).await;
    let mut client = line.client().await;
    let items = endless_items(users, Arc::clone(&pulled), OFFERED);
    let stream = tokio::spawn(async move {
        read_sync(client.sync_users(as_user(seed::ADMIN_TOKEN, items)).await).await
    });
    // The gateway fills its queue, then reads no more.
    until("the gateway's queue is full", || {
        metric(&gateway, "people_gateway_sync_queued_items", &[]) == bulk.queue as f64
    })
    .await;
    until("the items started are at the portal", || {
        gateway.sim.in_flight() == bulk.per_stream
    })
    .await;
    // The sender is blocked by flow control: in two seconds it gets nowhere near the end.
    let finished = tokio::time::timeout(Duration::from_secs(2), async {
        while pulled.load(Ordering::SeqCst) < OFFERED {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let sent = pulled.load(Ordering::SeqCst);
    assert!(
        finished.is_err() && sent < OFFERED / 2,
        "{sent} of {OFFERED} items taken"
    );
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 64 * 1024 * 1024, "memory grew by {grown} bytes");
    assert_eq!(
        gateway.sim.in_flight(),
        bulk.per_stream,
        "more items started than allowed"
    );
    // The caller leaves. A tonic client cannot reset a call whose request is
    // held back by flow control (hyper sends the reset only once the request
    // body has ended), so the caller's connection goes, as when its process
    // dies; RST_STREAM is tried in the gone tests.
    line.cut();
    stream.abort();
    // The items at the portal were reads before their writes: given up.
    gateway.nothing_more_is_sent_after_the_caller_left().await;
}

#[tokio::test]
async fn at_the_deadline_queued_items_are_never_started() {
    let bulk = limits(4, 32);
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 20);
    gateway.sim.hold_requests();
    let items = everyone_moves(&users);
    let mut request = as_user(seed::ADMIN_TOKEN, tokio_stream::iter(items));
    request.set_timeout(Duration::from_millis(300));
    let mut client = gateway.client.clone();
    let outcome = read_sync(client.sync_users(request).await).await;
    let status = outcome.ended.expect_err("the stream outlived its deadline");
    // tonic's client reports its own timer as CANCELLED when it fires first.
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    gateway.sim.release_requests();
    gateway.writes_settled().await;
    let reached = users_reached(&gateway);
    assert!(
        reached.len() <= bulk.per_stream,
        "{} users reached the portal, {} items may run at once",
        reached.len(),
        bulk.per_stream
    );
    assert!(
        gateway.portal_requests_of("PUT").is_empty(),
        "a write was sent after the deadline"
    );
}

/// Opens a stream of twenty `items` (kept open: the sender is returned) at
/// a held portal with four items per stream, and waits until four are at
/// the portal and sixteen queued.
async fn four_at_the_portal_sixteen_queued(
    gateway: &Gateway,
    items: impl Iterator<Item = pb::SyncUsersRequest>,
) -> (
    tokio::task::JoinHandle<SyncOutcome>,
    tokio::sync::mpsc::Sender<pb::SyncUsersRequest>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(32);
    for item in items {
        sender.send(item).await.unwrap();
    }
    let mut client = gateway.client.clone();
    let stream = tokio::spawn(async move {
        let items = tokio_stream::wrappers::ReceiverStream::new(receiver);
        read_sync(client.sync_users(as_user(seed::ADMIN_TOKEN, items)).await).await
    });
    until("four items at the portal, sixteen queued", || {
        gateway.sim.in_flight() == 4
            && metric(gateway, "people_gateway_sync_queued_items", &[]) == 16.0
    })
    .await;
    (stream, sender)
}

#[tokio::test]
async fn shutdown_answers_queued_items_and_finishes_started_ones() {
    let bulk = limits(4, 32);
    let mut gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 20);
    gateway.sim.hold_requests();
    let items = users
        .iter()
        .map(|user| item(user.clone(), move_to(user, "Lisbon")));
    let (stream, sender) = four_at_the_portal_sixteen_queued(&gateway, items).await;
    let server = gateway.shut_down();
    until("the queue is answered", || {
        metric(&gateway, "people_gateway_sync_queued_items", &[]) == 0.0
    })
    .await;
    gateway.sim.release_requests();
    let outcome = stream.await.unwrap();
    drop(sender);
    let status = outcome
        .ended
        .as_ref()
        .expect_err("the stream ended as if complete");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(status), "SHUTTING_DOWN");
    let answers = outcome.by_id();
    assert_eq!(answers.len(), 20);
    let done = answers
        .values()
        .filter(|answer| matches!(answer, Answer::User(_)))
        .count();
    let refused = answers
        .values()
        .filter(|answer| matches!(answer, Answer::Error(status) if status.code == Code::Unavailable as i32))
        .count();
    assert_eq!((done, refused), (4, 16));
    assert_eq!(gateway.portal_requests_of("PUT").len(), 4);
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn when_the_grace_period_ends_every_item_still_gets_an_answer() {
    let bulk = limits(4, 32);
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 20);
    // SetContacts on Workspace reads, then PUTs: the four held at the portal were sent.
    gateway.sim.hold_requests_of("PUT");
    let items = users.iter().map(|user| {
        let mail = vec![contact("mail", "grace@example.com")];
        item(user.clone(), set_contacts(user, mail))
    });
    let (stream, sender) = four_at_the_portal_sixteen_queued(&gateway, items).await;
    // What the server does when shutdown's grace period is over.
    gateway.stopper.stop_all();
    let outcome = stream.await.unwrap();
    drop(sender);
    assert_status(
        outcome.ended.as_ref().unwrap_err(),
        Code::Unavailable,
        "SHUTTING_DOWN",
    );
    let answers = outcome.by_id();
    assert_eq!(answers.len(), 20, "an item went unanswered");
    let reason_of = |answer: &Answer| match answer {
        Answer::Error(status) => status
            .details
            .iter()
            .find(|detail| detail.type_url.ends_with("google.rpc.ErrorInfo"))
            .map(|detail| {
                let info: tonic_types::pb::ErrorInfo =
                    prost::Message::decode(detail.value.as_slice()).unwrap();
                info.reason
            })
            .unwrap_or_default(),
        Answer::User(_) => "OK".into(),
    };
    let unknown = answers
        .values()
        .filter(|answer| reason_of(answer) == "OUTCOME_UNKNOWN")
        .count();
    let not_started = answers
        .values()
        .filter(|answer| reason_of(answer) == "SHUTTING_DOWN")
        .count();
    assert_eq!((unknown, not_started), (4, 16));
    // The four were sent, and land; nothing else is sent.
    gateway.sim.release_requests();
    gateway.writes_settled().await;
    assert_eq!(gateway.portal_requests_of("PUT").len(), 4);
}

#[tokio::test]
async fn a_stream_without_a_usable_credential_ends_at_once() {
    let mut gateway = Gateway::workspace().await;
    let items = tokio_stream::iter(vec![item("a", move_to(seed::USER_ID, "Oslo"))]);
    let outcome = read_sync(gateway.client.sync_users(items).await).await;
    let status = outcome.ended.expect_err("a stream without a credential");
    assert_status(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
    assert!(gateway.people_requests().is_empty());
}

#[tokio::test]
async fn streams_and_items_per_stream_are_bounded() {
    let bulk = BulkSettings {
        max_streams: 1,
        max_items: 3,
        ..BulkSettings::default()
    };
    let mut gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let mut client = gateway.client.clone();
    let open = client
        .sync_users(as_user(
            seed::ADMIN_TOKEN,
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        ))
        .await
        .unwrap();
    let second = gateway
        .sync_users(
            seed::ADMIN_TOKEN,
            vec![item("a", move_to(seed::USER_ID, "Oslo"))],
        )
        .await;
    assert_status(
        &second.ended.unwrap_err(),
        Code::ResourceExhausted,
        "TOO_MANY_STREAMS",
    );
    drop((sender, open));

    until("the first stream is closed", || {
        metric(&gateway, "people_gateway_sync_streams", &[]) == 0.0
    })
    .await;
    let items: Vec<_> = (0..5)
        .map(|n| item(n.to_string(), move_to(seed::USER_ID, &format!("step {n}"))))
        .collect();
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, items).await;
    assert_status(
        outcome.ended.as_ref().unwrap_err(),
        Code::ResourceExhausted,
        "TOO_MANY_ITEMS",
    );
    let answers = outcome.by_id();
    assert_eq!(
        answers.len(),
        4,
        "three items carried out, the fourth refused, the fifth not read"
    );
    assert!(
        matches!(&answers["3"], Answer::Error(status) if status.code == Code::ResourceExhausted as i32)
    );
    assert_eq!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .location
            .as_deref(),
        Some("step 2")
    );
}

#[tokio::test]
async fn a_503_that_says_how_long_to_wait_is_waited_out_even_for_a_write() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.push_fault_on(
        "PUT",
        Fault::Respond {
            status: 503,
            content_type: Some("text/html".into()),
            body: "<html>maintenance</html>".into(),
            headers: vec![("Retry-After".into(), "1".into())],
        },
    );
    let items = vec![item("mike", move_to(seed::USER_ID, "Oslo"))];
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, items).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    assert!(matches!(outcome.by_id()["mike"], Answer::User(_)));
    // The refused write and the one after the wait, each after a fresh read.
    assert_eq!(gateway.portal_requests_of("PUT").len(), 2);
    assert_eq!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .location
            .as_deref(),
        Some("Oslo")
    );
    assert_eq!(
        metric(&gateway, "people_gateway_sync_pauses_total", &[]),
        1.0
    );
}

#[tokio::test]
async fn a_caller_that_leaves_starts_nothing_more() {
    let bulk = limits(4, 32);
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 20);
    gateway.sim.hold_requests();
    let items = everyone_moves(&users);
    let mut client = gateway.client.clone();
    let stream = tokio::spawn(async move { sync_as_admin(&mut client, items).await });
    until("four items at the portal", || gateway.sim.in_flight() == 4).await;
    stream.abort();
    until("the stream is gone", || {
        metric(&gateway, "people_gateway_sync_streams", &[]) == 0.0
    })
    .await;
    gateway.sim.release_requests();
    gateway.writes_settled().await;
    let reached = users_reached(&gateway);
    assert_eq!(reached.len(), 4, "items started after their caller left");
    // Those four were still reading their users when the caller left: their
    // writes had not been sent, and never are.
    assert!(
        gateway.portal_requests_of("PUT").is_empty(),
        "a write not sent before its caller left was sent"
    );
}

#[tokio::test]
async fn a_wait_longer_than_five_minutes_is_the_items_answer_not_a_pause() {
    let mut gateway = Gateway::workspace().await;
    // DocSpace's daily limit on writes: come back tomorrow.
    gateway.sim.push_fault_on(
        "PUT",
        Fault::Respond {
            status: 429,
            content_type: None,
            body: String::new(),
            headers: vec![("Retry-After".into(), "86400".into())],
        },
    );
    let items = vec![item("refused", move_to(seed::USER_ID, "Oslo"))];
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, items).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    let answers = outcome.by_id();
    let Answer::Error(status) = &answers["refused"] else {
        panic!("the item waited a day");
    };
    assert_eq!(status.code, Code::ResourceExhausted as i32);
    assert_eq!(
        metric(&gateway, "people_gateway_sync_pauses_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn a_stream_with_nothing_to_do_is_ended_but_a_slow_item_is_not() {
    let bulk = BulkSettings {
        idle_timeout: Duration::from_millis(200),
        ..BulkSettings::default()
    };
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    gateway.sim.hold_requests();
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut client = gateway.client.clone();
    let mut answers = client
        .sync_users(as_user(
            seed::ADMIN_TOKEN,
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        ))
        .await
        .unwrap()
        .into_inner();
    sender
        .send(item("mike", move_to(seed::USER_ID, "Oslo")))
        .await
        .unwrap();
    until("the item is at the portal", || gateway.sim.in_flight() == 1).await;
    // An item at the portal is work: well past the idle time, the stream stays.
    let early = tokio::time::timeout(Duration::from_millis(600), answers.message()).await;
    assert!(
        early.is_err(),
        "the stream ended while its item ran: {early:?}"
    );
    gateway.sim.release_requests();
    let answer = answers.message().await.unwrap().unwrap();
    assert!(matches!(answer.result, Some(Answer::User(_))));
    // Then nothing more comes, and the caller keeps the stream open.
    let status = tokio::time::timeout(PATIENCE, answers.message())
        .await
        .expect("an idle stream was never ended")
        .unwrap_err();
    assert_status(&status, Code::DeadlineExceeded, "STREAM_IDLE");
    drop(sender);
    until("the stream is closed", || {
        metric(&gateway, "people_gateway_sync_streams", &[]) == 0.0
    })
    .await;
}

#[tokio::test]
async fn an_item_over_the_message_size_ends_the_stream_after_the_items_before_it() {
    let mut options = Options::new(Product::Workspace);
    options.serve.max_message_size = 2048;
    let mut gateway = Gateway::start(options).await;
    let many = (0..100)
        .map(|n| contact("phone", &format!("+1 555 {n:04}")))
        .collect();
    let items = vec![
        item("fits", move_to(seed::USER_ID, "Oslo")),
        item("too-large", set_contacts(seed::USER_ID, many)),
        item("never-read", move_to(seed::USER_ID, "Rome")),
    ];
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, items).await;
    assert_status(
        outcome.ended.as_ref().unwrap_err(),
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
    );
    let answers = outcome.by_id();
    assert_eq!(answers.len(), 1, "{:?}", answers.keys());
    assert!(matches!(answers["fits"], Answer::User(_)));
    assert_eq!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .location
            .as_deref(),
        Some("Oslo")
    );
}

#[tokio::test]
async fn one_credentials_429_does_not_pause_another_credentials_stream() {
    let mut gateway = Gateway::start(with_bulk(Product::Workspace, limits(4, 32))).await;
    let users = add_users(&gateway, 4);
    // The admin is told to wait half a minute, as DocSpace's daily window says.
    gateway
        .sim
        .throttle_token_for(seed::ADMIN_TOKEN, Duration::from_millis(50), Some(30));
    let items: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, user)| item(n.to_string(), move_to(user, "Lisbon")))
        .collect();
    let mut admin = gateway.client.clone();
    let paused = tokio::spawn(async move {
        read_sync(
            admin
                .sync_users(as_user(seed::ADMIN_TOKEN, tokio_stream::iter(items)))
                .await,
        )
        .await
    });
    until("the admin's stream was told to wait", || {
        gateway.sim.throttled_requests() >= 1
    })
    .await;
    // Mike's own stream goes on meanwhile.
    let own = vec![item(
        "own",
        set_contacts("@self", vec![contact("telegram", "@mike")]),
    )];
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        gateway.sync_users(seed::USER_TOKEN, own),
    )
    .await
    .expect("another credential's stream waited out the admin's pause");
    assert!(matches!(
        outcome.by_id().remove("own"),
        Some(Answer::User(_))
    ));
    paused.abort();
}

#[tokio::test]
async fn one_caller_cannot_hold_every_stream_place() {
    let bulk = BulkSettings {
        max_streams: 8,
        max_streams_per_caller: 2,
        ..BulkSettings::default()
    };
    let mut gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    // The admin holds two streams open, doing nothing.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (sender, receiver) = tokio::sync::mpsc::channel::<pb::SyncUsersRequest>(1);
        let mut client = gateway.client.clone();
        let open = client
            .sync_users(as_user(
                seed::ADMIN_TOKEN,
                tokio_stream::wrappers::ReceiverStream::new(receiver),
            ))
            .await
            .unwrap();
        held.push((sender, open));
    }
    let third = gateway
        .sync_users(
            seed::ADMIN_TOKEN,
            vec![item("a", move_to(seed::USER_ID, "Oslo"))],
        )
        .await;
    assert_status(
        &third.ended.unwrap_err(),
        Code::ResourceExhausted,
        "CALLER_STREAM_SHARE",
    );
    // Another caller still gets a place.
    let own = gateway
        .sync_users(
            seed::USER_TOKEN,
            vec![item(
                "own",
                set_contacts("@self", vec![contact("telegram", "@mike")]),
            )],
        )
        .await;
    assert!(own.ended.is_ok(), "{:?}", own.ended);
    // A place the admin gives back is its own again.
    drop(held.pop());
    until("the admin's stream is closed", || {
        metric(&gateway, "people_gateway_sync_streams", &[]) == 1.0
    })
    .await;
    let again = gateway
        .sync_users(
            seed::ADMIN_TOKEN,
            vec![item("a", move_to(seed::USER_ID, "Oslo"))],
        )
        .await;
    assert!(again.ended.is_ok(), "{:?}", again.ended);
}

/// An UpdateUser of one user with 200 contacts of 250 characters: about 50 KB.
fn large_item(n: usize, user: &str) -> pb::SyncUsersRequest {
    let contacts = (0..200)
        .map(|c| contact("skype", &format!("{c:03}{}", "x".repeat(247))))
        .collect();
    item(
        n.to_string(),
        Operation::UpdateUser(pb::UpdateUserRequest {
            user_id: user.into(),
            contacts: Some(pb::ContactList { contacts }),
            ..Default::default()
        }),
    )
}

#[tokio::test]
async fn a_stream_holds_items_within_its_byte_budget() {
    const ITEM_LIMIT: usize = 256 * 1024;
    let bulk = BulkSettings {
        per_stream: 1,
        queue: 64,
        max_item_bytes: ITEM_LIMIT,
        stream_bytes: 2 * ITEM_LIMIT,
        ..BulkSettings::default()
    };
    let mut options = with_bulk(Product::Workspace, bulk);
    options.serve.max_message_size = ITEM_LIMIT;
    let gateway = Gateway::start(options).await;
    let users = add_users(&gateway, 20);
    gateway.sim.hold_requests();
    let items: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, user)| large_item(n, user))
        .collect();
    let size = prost::Message::encoded_len(&items[0]);
    assert!(size > 40_000, "{size} bytes");
    let mut client = gateway.client.clone();
    let stream = tokio::spawn(async move {
        read_sync(
            client
                .sync_users(as_user(seed::ADMIN_TOKEN, tokio_stream::iter(items)))
                .await,
        )
        .await
    });
    until("one item at the portal", || gateway.sim.in_flight() == 1).await;
    // Each read needs room for a largest item: 2 × 256 KiB holds the item at
    // the portal and the few behind it, never the 64 the queue would take.
    let held_items = || {
        metric(&gateway, "people_gateway_sync_queued_items", &[])
            + metric(&gateway, "people_gateway_sync_items_in_flight", &[])
    };
    until("the stream's byte budget is used", || held_items() >= 3.0).await;
    let most = (2 * ITEM_LIMIT - ITEM_LIMIT) / size + 2;
    let watched = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            assert!(held_items() <= most as f64, "{} items held", held_items());
            // A look every few milliseconds; rendering the registry in a
            // tight loop would starve the gateway on two cores.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(watched.is_err());
    stream.abort();
}

#[tokio::test]
async fn sixty_four_streams_of_the_largest_items_stay_within_the_gateways_byte_budget() {
    const STREAMS: usize = 64;
    const ITEM_LIMIT: usize = 256 * 1024;
    let bulk = BulkSettings {
        max_streams: STREAMS,
        max_streams_per_caller: STREAMS,
        max_item_bytes: ITEM_LIMIT,
        stream_bytes: 4 * 1024 * 1024,
        // Well above the room all streams take to read (64 × 256 KiB), so
        // what fills it is items.
        max_bytes: 48 * 1024 * 1024,
        ..BulkSettings::default()
    };
    let mut options = with_bulk(Product::Workspace, bulk);
    options.serve.max_message_size = ITEM_LIMIT;
    let gateway = Gateway::start(options).await;
    let users = add_users(&gateway, STREAMS as u128);
    gateway.sim.hold_requests();
    let size = prost::Message::encoded_len(&large_item(0, &users[0]));
    let streams: Vec<_> = users
        .iter()
        .map(|user| {
            let items: Vec<_> = (0..20).map(|n| large_item(n, user)).collect();
            let mut client = gateway.client.clone();
            tokio::spawn(async move {
                read_sync(
                    client
                        .sync_users(as_user(seed::ADMIN_TOKEN, tokio_stream::iter(items)))
                        .await,
                )
                .await
            })
        })
        .collect();
    let held = || metric(&gateway, "people_gateway_sync_held_bytes", &[]);
    let items_held = || {
        metric(&gateway, "people_gateway_sync_queued_items", &[])
            + metric(&gateway, "people_gateway_sync_items_in_flight", &[])
    };
    // 1,280 items of about 50 KB would be 66 MB: the budget fills, with items.
    until("the gateway's byte budget is used", || {
        held() >= (bulk.max_bytes - STREAMS * ITEM_LIMIT) as f64
    })
    .await;
    assert!(held() <= bulk.max_bytes as f64, "{} bytes held", held());
    let counted = items_held() * size as f64;
    assert!(
        counted >= (bulk.max_bytes - 2 * STREAMS * ITEM_LIMIT) as f64,
        "{} items held, {} bytes",
        items_held(),
        held()
    );
    assert!(items_held() < (STREAMS * 20) as f64, "every item was read");
    // Once the portal answers, every item is answered and every byte given back.
    gateway.sim.release_requests();
    for stream in streams {
        let outcome = stream.await.unwrap();
        assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
        assert_eq!(outcome.answers.len(), 20);
    }
    until("every held byte given back", || held() == 0.0).await;
}

#[tokio::test]
async fn a_caller_that_takes_no_answers_is_ended_and_holds_nothing() {
    let bulk = BulkSettings {
        idle_timeout: Duration::from_millis(500),
        ..BulkSettings::default()
    };
    let gateway = Gateway::start(with_bulk(Product::Workspace, bulk)).await;
    let users = add_users(&gateway, 20);
    // Items sent over bare HTTP/2, and the answers never read: flow control
    // stops them, and they pile up in the gateway.
    let mut client = raw_client(&gateway).await;
    let (_response, mut body) = client
        .send_request(call_head(&gateway, "SyncUsers", None), false)
        .unwrap();
    for n in 0..300 {
        let user = &users[n % users.len()];
        let request = item(n.to_string(), move_to(user, &format!("step {n}")));
        body.send_data(grpc_frame(&request), false).unwrap();
    }
    until("the stream is opened", || {
        metric(&gateway, "people_gateway_sync_streams", &[]) == 1.0
    })
    .await;
    until("the stream is ended for answers not taken", || {
        metric(&gateway, "people_gateway_sync_streams", &[]) == 0.0
    })
    .await;
    until("every held byte given back", || {
        metric(&gateway, "people_gateway_sync_held_bytes", &[]) == 0.0
    })
    .await;
    assert!(
        sample(
            &gateway.metrics.render(),
            "people_gateway_sync_items_total",
            &[("operation", "UpdateUser"), ("grpc_code", "OK")],
        )
        .unwrap_or(0.0)
            < 300.0
    );
}
