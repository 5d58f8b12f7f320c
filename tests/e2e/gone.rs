//! Gone means gone: a write that was not yet sent when its caller's deadline
//! passed or its caller left is never sent, however long it waited for one
//! of the portal's connections; a write already sent runs to its end. Each
//! way a real client leaves is tried: a `grpc-timeout`, dropping the call in
//! tonic, and a raw HTTP/2 RST_STREAM. A write also takes its turn before it
//! reads, so none waits for a connection holding a user it has read. What
//! reaches the portal is counted at the simulator.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use people_gateway::bulk::BulkSettings;
use people_gateway::domain::Product;
use portal_sim::RecordedRequest;
use tonic::Code;

use crate::harness::*;

/// Writes waiting at once, for distinct users, behind two portal connections.
const WAITING: usize = 40;
/// `--portal-max-connections` of these tests.
const CONNECTIONS: usize = 2;

/// A Workspace gateway with two portal connections, in front of a stalled
/// portal, and `WAITING` users to write to.
async fn stalled_portal_with_two_connections() -> (Gateway, Vec<String>) {
    let mut options = Options::of_known_release(Product::Workspace);
    options.portal_max_connections = CONNECTIONS;
    let gateway = Gateway::start(options).await;
    let users = add_users(&gateway, WAITING as u128);
    gateway.sim.hold_requests();
    (gateway, users)
}

/// SetContacts on Workspace: a read of the user, then one PUT.
fn new_mail(user: &str) -> pb::SetContactsRequest {
    pb::SetContactsRequest {
        user_id: user.into(),
        contacts: vec![contact("mail", "gone@example.com")],
        spam: None,
    }
}

/// A SetContacts of [`new_mail`] for each user, all sent at once, each on a
/// task of its own.
fn set_new_mail_at_once(
    gateway: &Gateway,
    users: &[String],
) -> Vec<tokio::task::JoinHandle<Result<tonic::Response<pb::User>, tonic::Status>>> {
    users
        .iter()
        .map(|user| {
            let mut client = gateway.client.clone();
            let request = as_user(seed::ADMIN_TOKEN, new_mail(user));
            tokio::spawn(async move { client.set_contacts(request).await })
        })
        .collect()
}

/// Releases the portal once nothing of the gateway's can send any more, and
/// checks that the portal then holds exactly the writes sent before.
async fn release_and_count_writes(gateway: &Gateway, sent_before: usize) {
    gateway.sim.release_requests();
    gateway.writes_settled().await;
    let puts = gateway.portal_requests_of("PUT").len();
    assert_eq!(
        puts, sent_before,
        "writes reached the portal after their callers had stopped waiting"
    );
}

#[tokio::test]
async fn writes_waiting_for_a_connection_are_never_sent_after_their_deadline() {
    let (gateway, users) = stalled_portal_with_two_connections().await;
    // A bare HTTP/2 client: tonic's client would end each call at the same
    // moment by its own timer and report CANCELLED, hiding the gateway's answer.
    let mut client = raw_client(&gateway).await;
    let mut answers = Vec::new();
    for user in &users {
        let (response, mut body) = client
            .send_request(call_head(&gateway, "SetContacts", Some("300m")), false)
            .unwrap();
        body.send_data(grpc_frame(&new_mail(user)), true).unwrap();
        answers.push(grpc_status(response));
        client = client.ready().await.unwrap();
    }
    for answer in answers {
        let (code, message) = answer.await;
        assert_eq!(code, Code::DeadlineExceeded, "{message}");
    }
    // Only writes holding one of the two connections were sent.
    let sent_before = gateway.portal_requests_of("PUT").len();
    assert!(sent_before <= CONNECTIONS, "{sent_before} writes were sent");
    release_and_count_writes(&gateway, sent_before).await;
}

#[tokio::test]
async fn writes_waiting_for_a_connection_are_never_sent_after_tonic_drops_the_call() {
    let (gateway, users) = stalled_portal_with_two_connections().await;
    // Reads are answered, so the two connections are held by writes.
    gateway.sim.hold_requests_of("PUT");
    let calls = set_new_mail_at_once(&gateway, &users);
    until(
        "every call reached the gateway and two reached the portal",
        || gateway.stopper.in_flight() == WAITING && gateway.sim.in_flight() == CONNECTIONS,
    )
    .await;
    // Dropping a call's future resets its HTTP/2 stream.
    for call in &calls {
        call.abort();
    }
    until("the gateway saw every caller leave", || {
        gateway.stopper.in_flight() == 0
    })
    .await;
    until("only the two writes sent are still running", || {
        gateway.writes_running() == CONNECTIONS
    })
    .await;
    assert_eq!(gateway.portal_requests_of("PUT").len(), CONNECTIONS);
    release_and_count_writes(&gateway, CONNECTIONS).await;
}

/// Writes whose users were read but not yet written, at worst, over the
/// portal's requests in the order they arrived: a user is under way from its
/// first read to its write.
fn most_writes_under_way(requests: &[RecordedRequest]) -> usize {
    let mut read = std::collections::HashSet::new();
    let mut written = std::collections::HashSet::new();
    let mut most = 0;
    for request in requests {
        let Some(user) = request.path.split('/').nth(4) else {
            continue;
        };
        match request.method.as_str() {
            "GET" => read.insert(user),
            "PUT" => written.insert(user),
            _ => false,
        };
        most = most.max(read.difference(&written).count());
    }
    most
}

#[tokio::test]
async fn a_write_takes_its_turn_before_its_read_so_none_waits_holding_a_user_it_read() {
    let mut options = Options::of_known_release(Product::Workspace);
    options.portal_max_connections = CONNECTIONS;
    let gateway = Gateway::start(options).await;
    let users = add_users(&gateway, 3 * CONNECTIONS as u128);
    gateway.sim.hold_requests_of("PUT");
    let calls = set_new_mail_at_once(&gateway, &users);
    until(
        "every call reached the gateway and two writes reached the portal",
        || {
            gateway.stopper.in_flight() == users.len()
                && gateway.portal_requests_of("PUT").len() == CONNECTIONS
        },
    )
    .await;
    // Both connections write; the other writes wait for a turn, unread, in
    // their callers' futures: they have no task of their own yet.
    assert_eq!(gateway.portal_requests_of("GET").len(), CONNECTIONS);
    assert_eq!(gateway.writes_running(), CONNECTIONS);
    gateway.sim.release_requests();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(most_writes_under_way(&gateway.sim.requests()), CONNECTIONS);
    for user in &users {
        let held = gateway.sim.user(uuid(user)).unwrap().contacts;
        assert_eq!(held, ["mail", "gone@example.com"], "{user}");
    }
}

#[tokio::test]
async fn a_refused_change_or_an_empty_update_does_not_wait_for_the_users_write() {
    let mut options = Options::of_known_release(Product::Workspace);
    options.portal_max_connections = CONNECTIONS;
    let gateway = Gateway::start(options).await;
    let users = add_users(&gateway, 1);
    gateway.sim.hold_requests_of("PUT");
    let calls = set_new_mail_at_once(&gateway, &users);
    until("the user's write is held at the portal", || {
        gateway.portal_requests_of("PUT").len() == 1
    })
    .await;
    // It holds the user's lock and a turn; the other connection is free.
    // Neither call below needs them, so neither waits (a wait would outlast
    // the bound and fail the test).
    let update = |request: pb::UpdateUserRequest| {
        let mut client = gateway.client.clone();
        let request = as_user(seed::ADMIN_TOKEN, request);
        tokio::time::timeout(Duration::from_secs(30), async move {
            client.update_user(request).await
        })
    };
    // Workspace has no `spam`: refused at once.
    let refusal = update(pb::UpdateUserRequest {
        user_id: users[0].clone(),
        spam: Some(true),
        ..Default::default()
    })
    .await
    .expect("the refusal waited for the user's write")
    .unwrap_err();
    assert_status(
        &refusal,
        Code::FailedPrecondition,
        "FIELD_NOT_SUPPORTED_BY_PRODUCT",
    );
    // An update that sets nothing is a read.
    let read = update(pb::UpdateUserRequest {
        user_id: users[0].clone(),
        ..Default::default()
    })
    .await
    .expect("the read waited for the user's write")
    .unwrap()
    .into_inner();
    assert_eq!(read.id, users[0]);
    assert_eq!(gateway.portal_requests_of("GET").len(), 2);
    gateway.sim.release_requests();
    for call in calls {
        call.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_deadline_counts_from_the_headers_not_from_a_late_message() {
    let gateway = Gateway::workspace().await;
    let mut client = raw_client(&gateway).await;
    let sent = Instant::now();
    let (response, mut body) = client
        .send_request(call_head(&gateway, "SetContacts", Some("300m")), false)
        .unwrap();
    // The message never comes: the deadline passes all the same.
    let (code, message) = grpc_status(response).await;
    assert!(sent.elapsed() >= Duration::from_millis(290));
    assert_eq!(code, Code::DeadlineExceeded, "{message}");
    // Too late: a message sent now is never carried out.
    let late = grpc_frame(&new_mail(seed::USER_ID));
    let _ = body.send_data(late, true);
    let mut tonic_client = gateway.client.clone();
    tonic_client
        .get_user(as_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: seed::USER_ID.into(),
            },
        ))
        .await
        .unwrap();
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

/// A Workspace gateway whose streams start four items at once, in front of a
/// stalled portal, and `count` users to change.
async fn four_per_stream_at_a_stalled_portal(count: u128) -> (Gateway, Vec<String>) {
    let mut options = Options::of_known_release(Product::Workspace);
    options.bulk = BulkSettings {
        per_stream: 4,
        max_in_flight: 32,
        ..BulkSettings::default()
    };
    let gateway = Gateway::start(options).await;
    let users = add_users(&gateway, count);
    gateway.sim.hold_requests();
    (gateway, users)
}

/// A SyncUsers stream over bare HTTP/2, left open, with one item per user
/// (ids 0, 1, …) made by `operation`.
async fn raw_sync_stream(
    gateway: &Gateway,
    users: &[String],
    operation: impl Fn(&str) -> pb::sync_users_request::Operation,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let mut client = raw_client(gateway).await;
    let (response, mut body) = client
        .send_request(call_head(gateway, "SyncUsers", None), false)
        .unwrap();
    for (n, user) in users.iter().enumerate() {
        let item = pb::SyncUsersRequest {
            item_id: n.to_string(),
            operation: Some(operation(user)),
        };
        body.send_data(grpc_frame(&item), false).unwrap();
    }
    (response, body)
}

#[tokio::test]
async fn a_reset_sync_stream_starts_nothing_more_and_sends_no_write() {
    let (gateway, users) = four_per_stream_at_a_stalled_portal(20).await;
    // UpdateUser on Workspace reads the user before it writes.
    let (response, mut body) = raw_sync_stream(&gateway, &users, |user| {
        pb::sync_users_request::Operation::UpdateUser(pb::UpdateUserRequest {
            user_id: user.into(),
            location: Some("Lisbon".into()),
            ..Default::default()
        })
    })
    .await;
    until("four items at the portal and the rest queued", || {
        gateway.sim.in_flight() == 4
            && sample(
                &gateway.metrics.render(),
                "people_gateway_sync_queued_items",
                &[],
            ) == Some(16.0)
    })
    .await;
    body.send_reset(h2::Reason::CANCEL);
    drop(response);
    gateway.nothing_more_is_sent_after_the_caller_left().await;
}

#[tokio::test]
async fn a_caller_still_listening_hears_about_every_item_when_its_stream_breaks() {
    use prost::Message as _;
    let (gateway, users) = four_per_stream_at_a_stalled_portal(8).await;
    let (response, mut body) = raw_sync_stream(&gateway, &users, |user| {
        pb::sync_users_request::Operation::SetContacts(new_mail(user))
    })
    .await;
    until("four items at the portal and four queued", || {
        gateway.sim.in_flight() == 4
            && sample(
                &gateway.metrics.render(),
                "people_gateway_sync_queued_items",
                &[],
            ) == Some(4.0)
    })
    .await;
    // A message that is not protobuf: the request stream cannot go on.
    let broken = Bytes::from_static(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    body.send_data(broken, false).unwrap();
    until("the queued items are answered", || {
        sample(
            &gateway.metrics.render(),
            "people_gateway_sync_queued_items",
            &[],
        ) == Some(0.0)
    })
    .await;
    gateway.sim.release_requests();
    let response = response.await.unwrap();
    let mut answers = response.into_body();
    let mut bytes = BytesMut::new();
    while let Some(data) = answers.data().await {
        let data = data.unwrap();
        let _ = answers.flow_control().release_capacity(data.len());
        bytes.extend_from_slice(&data);
    }
    let trailers = answers.trailers().await.unwrap().expect("trailers");
    assert_ne!(trailers["grpc-status"], "0", "{trailers:?}");
    let mut by_reason = std::collections::HashMap::<String, usize>::new();
    let mut rest = &bytes[..];
    while rest.len() >= 5 {
        let length = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let answer = pb::SyncUsersResponse::decode(&rest[5..5 + length]).unwrap();
        let reason = match answer.result.unwrap() {
            pb::sync_users_response::Result::User(_) => "OK".to_owned(),
            pb::sync_users_response::Result::Error(status) => reason(&tonic::Status::with_details(
                Code::from(status.code),
                status.message.clone(),
                Bytes::from(status.encode_to_vec()),
            )),
        };
        *by_reason.entry(reason).or_default() += 1;
        rest = &rest[5 + length..];
    }
    assert_eq!(by_reason.get("OK"), Some(&4), "{by_reason:?}");
    assert_eq!(
        by_reason.get("REQUEST_STREAM_BROKEN"),
        Some(&4),
        "{by_reason:?}"
    );
    gateway.writes_settled().await;
    assert_eq!(gateway.portal_requests_of("PUT").len(), 4);
}
