//! Throughput and latency of the gateway against the in-process portal
//! simulator, next to a bare `grpc.health.v1.Health/Check` on the same server.
//! Everything runs in one process on loopback, so the figures compare RPCs
//! with each other rather than measure a deployment.
//!
//! Run: `cargo bench --bench throughput` (env: BENCH_CALLS, BENCH_CONCURRENCY, BENCH_ROUNDS).

// A benchmark run aborts on the first failure; there is no caller to answer.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use people_gateway::domain::Credential;
use people_gateway::domain::Product;
use people_gateway::pb::{self, people_service_client::PeopleServiceClient};
use people_gateway::portal::PortalSettings;
use people_gateway::server;
use portal_sim::{Simulator, seed};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Figures {
    name: &'static str,
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn print(&mut self) {
        self.latencies.sort();
        let pick = |q: f64| {
            let index = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies[index].as_secs_f64() * 1e3
        };
        println!(
            "{:<16} {:>7} calls {:>9.0} rpc/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            self.name,
            self.calls,
            self.calls as f64 / self.elapsed.as_secs_f64(),
            pick(0.50),
            pick(0.99),
        );
    }
}

/// Runs `rounds` rounds and keeps the median one by throughput, since a
/// shared machine makes single rounds noisy.
async fn measure<F, Fut>(
    name: &'static str,
    calls: usize,
    concurrency: usize,
    rounds: usize,
    call: F,
) -> Figures
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut results = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        results.push(round(name, calls, concurrency, call.clone()).await);
    }
    results.sort_by_key(|figures| figures.elapsed);
    let median = results.len() / 2;
    results.swap_remove(median)
}

/// Runs `calls` calls of `call` on `concurrency` tasks.
async fn round<F, Fut>(name: &'static str, calls: usize, concurrency: usize, call: F) -> Figures
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let call = call.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = worker;
            while n < calls {
                let begun = Instant::now();
                call(n).await;
                latencies.push(begun.elapsed());
                n += concurrency;
            }
            latencies
        });
    }
    let mut latencies = Vec::with_capacity(calls);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("worker"));
    }
    Figures {
        name,
        calls,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let calls = env_number("BENCH_CALLS", 20_000);
    let concurrency = env_number("BENCH_CONCURRENCY", 32);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let sim = Simulator::start(portal_sim::Product::Workspace)
        .await
        .expect("simulator");
    let settings = PortalSettings {
        base_url: sim.base_url(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        max_body: 4 * 1024 * 1024,
        extra_roots_pem: None,
        max_connections: 64,
    };
    let token = Credential::authorization(seed::ADMIN_TOKEN).expect("token");
    let api = server::people_api(&settings, Product::Workspace, Some(token)).expect("api");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server::serve(
        listener,
        api,
        server::ServeSettings::default(),
        std::future::pending(),
    ));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");

    println!(
        "people-gateway throughput: {calls} calls per RPC, {concurrency} concurrent, \
         median of {rounds} rounds, Workspace simulator"
    );
    let health = HealthClient::new(channel.clone());
    measure("Health/Check", calls, concurrency, rounds, move |_| {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest::default())
                .await
                .expect("health");
        }
    })
    .await
    .print();

    let people = PeopleServiceClient::new(channel.clone());
    let client = people.clone();
    measure("GetUser", calls, concurrency, rounds, move |_| {
        let mut client = client.clone();
        async move {
            client
                .get_user(pb::GetUserRequest {
                    user_id: seed::USER_ID.into(),
                })
                .await
                .expect("get");
        }
    })
    .await
    .print();

    // One user, so every call takes the same lock: the serialized path. Each
    // sample adds a contact and removes it again, so both calls really write
    // (a read and a write each) and the list stays small.
    let client = people.clone();
    measure("Merge+Delete", calls / 8, concurrency, rounds, move |n| {
        let mut client = client.clone();
        let contact = pb::Contact {
            r#type: "icq".into(),
            value: format!("bench-{n}"),
        };
        async move {
            client
                .update_contacts(pb::UpdateContactsRequest {
                    user_id: seed::GUEST_ID.into(),
                    contacts: vec![contact.clone()],
                    spam: None,
                })
                .await
                .expect("merge");
            client
                .delete_contacts(pb::DeleteContactsRequest {
                    user_id: seed::GUEST_ID.into(),
                    contacts: vec![contact],
                    spam: None,
                })
                .await
                .expect("delete");
        }
    })
    .await
    .print();
}
