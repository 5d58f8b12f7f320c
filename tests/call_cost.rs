//! The CI guard on a whole call's cost: the allocations (a deterministic
//! count, unlike time) that N GetUsers and N UpdateContacts make through the
//! real server, over real sockets, with logging on, against a canned portal
//! stub, and the heap a GetUser holds while it waits for the portal,
//! compared with the committed baseline `call_cost.baseline`. The
//! count covers this whole process (client, gateway, stub); the client and
//! the stub are lean and the same in every run, so a change in the
//! gateway's own cost moves it.
//!
//! More than the tolerance above the baseline fails; far below it fails
//! too, so that a gain is written down and kept:
//! `UPDATE_BASELINE=1 cargo test --test call_cost` rewrites the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use people_gateway::domain::{PortalVersion, Product};
use people_gateway::pb::{self, people_service_client::PeopleServiceClient};
use people_gateway::people::PortalSetup;
use people_gateway::portal::PortalSettings;
use people_gateway::server::{self, ServeSettings};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokio::sync::Semaphore;
use tonic::transport::Channel;

#[global_allocator]
static COUNTING: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Calls per RPC and round.
const CALLS: usize = 200;
/// Rounds; the lowest count of them is taken.
const ROUNDS: usize = 3;
/// How far above the baseline a count may be.
const TOLERANCE_ABOVE: f64 = 0.10;
/// How far above its baseline the heap a waiting call holds may be: the
/// sizes are the same in every run, so a small margin catches a layer
/// that starts keeping a request's worth of state.
const HELD_TOLERANCE_ABOVE: f64 = 0.04;
/// How far below it a count may be before the baseline must be lowered.
const TOLERANCE_BELOW: f64 = 0.25;

const MIKE: &str = "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302";
const TOKEN: &str = "cost-token";
/// Mike, as Workspace answers a read.
const USER: &str = include_str!("corpus/portal/workspace_user.json");
/// The contact each UpdateContacts adds.
const ADDED: (&str, &str) = ("telegram", "@cost");

/// Mike after the merge, as Workspace answers the contacts write.
fn written() -> String {
    let last = r#"{"type":"skype","value":"mike.z"}]"#;
    assert!(USER.contains(last));
    USER.replacen(
        last,
        &format!(
            r#"{{"type":"skype","value":"mike.z"}},{{"type":"{}","value":"{}"}}]"#,
            ADDED.0, ADDED.1
        ),
        1,
    )
}

/// Holds the stub's answers to reads while closed: each read that arrives
/// adds a permit to `arrived`, then waits for one of `released`.
struct Gate {
    closed: AtomicBool,
    arrived: Semaphore,
    released: Semaphore,
}

impl Gate {
    fn open() -> Self {
        Self {
            closed: AtomicBool::new(false),
            arrived: Semaphore::new(0),
            released: Semaphore::new(0),
        }
    }
}

/// A portal that answers every read with [`USER`] and every write with
/// [`written`], over HTTP/1.1 with hyper and nothing else; reads wait at
/// `gate` while it is closed.
async fn stub(gate: Arc<Gate>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let written = Bytes::from(written());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let written = written.clone();
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<_>| {
                    let read = request.method() != http::Method::PUT;
                    let body = if read {
                        Bytes::from_static(USER.as_bytes())
                    } else {
                        written.clone()
                    };
                    let gate = Arc::clone(&gate);
                    async move {
                        if read && gate.closed.load(Ordering::SeqCst) {
                            gate.arrived.add_permits(1);
                            gate.released.acquire().await.unwrap().forget();
                        }
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json; charset=UTF-8")
                                .body(http_body_util::Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    address
}

/// The gateway as `people-gateway --portal-product workspace --portal-version 12.7.1`
/// serves it, logging as it does (into a sink).
async fn gateway(portal: SocketAddr) -> Channel {
    let settings = PortalSettings {
        base_url: format!("http://{portal}/").parse().unwrap(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(3),
        max_body: 4 * 1024 * 1024,
        extra_roots_pem: None,
        max_connections: 64,
    };
    let setup = PortalSetup {
        product: Product::Workspace.into(),
        version: Some(PortalVersion::new(12, 7, 1)),
    };
    let api = server::people_api(&settings, setup, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(server::serve(
        listener,
        api,
        ServeSettings::default(),
        std::future::pending(),
    ));
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn with_token<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", TOKEN.parse().unwrap());
    request
}

async fn get_user(client: &mut PeopleServiceClient<Channel>) {
    let user = client
        .get_user(with_token(pb::GetUserRequest {
            user_id: MIKE.into(),
        }))
        .await
        .unwrap();
    assert_eq!(user.into_inner().id, MIKE);
}

async fn update_contacts(client: &mut PeopleServiceClient<Channel>) {
    let user = client
        .update_contacts(with_token(pb::UpdateContactsRequest {
            user_id: MIKE.into(),
            contacts: vec![pb::Contact {
                r#type: ADDED.0.into(),
                value: ADDED.1.into(),
            }],
            spam: None,
        }))
        .await
        .unwrap()
        .into_inner();
    let contacts = user.contacts.unwrap().contacts;
    assert!(
        contacts
            .iter()
            .any(|c| c.r#type == ADDED.0 && c.value == ADDED.1)
    );
}

/// GetUsers in flight at once while the heap they hold is measured: as many
/// as the gateway's portal connections, so that each reaches the portal.
const WAITING: usize = 64;

/// The heap a GetUser holds while it waits for the portal's answer, in bytes
/// net of what is freed: `WAITING` calls are sent at once and held at the
/// stub until all have arrived; the lowest of the rounds, per call. A busy
/// gateway holds this for every call in flight. The first round opens the
/// portal connections and grows the tables the later rounds reuse.
async fn held_while_waiting(client: &PeopleServiceClient<Channel>, gate: &Gate) -> usize {
    gate.closed.store(true, Ordering::SeqCst);
    let mut held = Vec::new();
    for round in 0..=ROUNDS {
        let region = Region::new(COUNTING);
        let calls: Vec<_> = (0..WAITING)
            .map(|_| {
                let mut client = client.clone();
                tokio::spawn(async move { get_user(&mut client).await })
            })
            .collect();
        let all_arrived = u32::try_from(WAITING).unwrap();
        gate.arrived
            .acquire_many(all_arrived)
            .await
            .unwrap()
            .forget();
        let change = region.change();
        if round > 0 {
            let net = change.bytes_allocated as isize + change.bytes_reallocated
                - change.bytes_deallocated as isize;
            held.push(usize::try_from(net).unwrap_or(0) / WAITING);
        }
        gate.released.add_permits(WAITING);
        for call in calls {
            call.await.unwrap();
        }
    }
    gate.closed.store(false, Ordering::SeqCst);
    held.into_iter().min().unwrap()
}

/// The lowest count of allocations per call over the rounds.
async fn per_call<F: AsyncFnMut()>(mut call: F) -> usize {
    // Warm up: connections, pools and lazily built statics.
    for _ in 0..20 {
        call().await;
    }
    let mut counts = Vec::new();
    for _ in 0..ROUNDS {
        let region = Region::new(COUNTING);
        for _ in 0..CALLS {
            call().await;
        }
        counts.push(region.change().allocations / CALLS);
    }
    counts.into_iter().min().unwrap()
}

fn baseline_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/call_cost.baseline")
}

/// `RPC count` lines; `#` starts a comment.
fn baseline() -> Vec<(String, usize)> {
    std::fs::read_to_string(baseline_path())
        .unwrap()
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (rpc, count) = line.split_once(' ').unwrap();
            (rpc.to_owned(), count.trim().parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_call_allocates_no_more_than_the_baseline() {
    // Logging on, as in production (this test is a process of its own).
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::set_global_default(logs).unwrap();
    let gate = Arc::new(Gate::open());
    let portal = stub(Arc::clone(&gate)).await;
    let client_channel = gateway(portal).await;
    let mut client = PeopleServiceClient::new(client_channel.clone());
    let allocations = |rpc, count| (rpc, count, "allocations per call", TOLERANCE_ABOVE);
    let measured = [
        allocations(
            "GetUser",
            per_call(async || get_user(&mut client).await).await,
        ),
        allocations(
            "UpdateContacts",
            per_call(async || update_contacts(&mut client).await).await,
        ),
        (
            "GetUser-waiting",
            held_while_waiting(&client, &gate).await,
            "bytes held by each call waiting for the portal",
            HELD_TOLERANCE_ABOVE,
        ),
    ];
    // For reference (not held to a baseline): the same client and server
    // answering a bare Health/Check, without the portal.
    let mut health = tonic_health::pb::health_client::HealthClient::new(client_channel.clone());
    let check = per_call(async || {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap();
        assert_eq!(answer.into_inner().status, 1);
    })
    .await;
    println!("Health/Check: {check} allocations per call (reference)");
    for (name, value, what, _) in measured {
        println!("{name}: {value} {what}");
    }
    if std::env::var_os("UPDATE_BASELINE").is_some() {
        let mut text = String::from(
            "# Allocations per call, and the heap each call waiting for the portal\n\
             # holds, in bytes, in the whole test process (client, gateway, stub),\n\
             # written by `UPDATE_BASELINE=1 cargo test --test call_cost`.\n",
        );
        for (name, value, _, _) in measured {
            text.push_str(&format!("{name} {value}\n"));
        }
        std::fs::write(baseline_path(), text).unwrap();
        return;
    }
    let baseline = baseline();
    for (name, value, what, above) in measured {
        let (_, expected) = baseline
            .iter()
            .find(|(known, _)| known == name)
            .unwrap_or_else(|| panic!("the baseline has no {name}"));
        let expected = *expected as f64;
        assert!(
            value as f64 <= expected * (1.0 + above),
            "{name}: {value} {what}, more than the baseline's {expected} by over {:.0}%",
            above * 100.0
        );
        assert!(
            value as f64 >= expected * (1.0 - TOLERANCE_BELOW),
            "{name}: {value} {what}, far below the baseline's {expected}: \
             lower it with UPDATE_BASELINE=1 cargo test --test call_cost"
        );
    }
}
