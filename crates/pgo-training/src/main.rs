//! The workload the container image's profile-guided build learns from.
//!
//!     pgo-training <gateway binary>
//!
//! Starts the portal simulator (Workspace, then DocSpace), runs the gateway
//! binary in front of each with the image's log format, and drives it over
//! gRPC the way callers do: reads, writes that change something and writes
//! that change nothing, lookups, and the refusals callers earn (an unknown
//! user, a malformed id, no credential, a caller without the right), 16 at
//! a time, then a SyncUsers stream from each caller. Then it stops the
//! gateway with SIGTERM, as an orchestrator does, so that an instrumented
//! build writes its profile on the way out (`LLVM_PROFILE_FILE` is passed
//! on). Exits non-zero if an answer was not the one expected, or the
//! gateway did not serve or did not stop cleanly.
//!
//! It is not the benchmark (`benches/gateway.rs`): a build trained on the
//! calls it is then measured with would flatter itself.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use people_gateway::pb::people_service_client::PeopleServiceClient;
use people_gateway::pb::{
    Contact, GetUserRequest, ListUsersRequest, SyncUsersRequest, UpdateContactsRequest,
    UpdateUserRequest, sync_users_request, sync_users_response,
};
use portal_sim::{Product, Simulator, seed};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Rounds of the call mix per product; each round is 9 calls.
const ROUNDS: usize = 1024;
/// Calls in flight at once.
const CONCURRENCY: usize = 16;
/// Changes in each caller's SyncUsers stream, sent after its unary calls.
const SYNC_ITEMS: usize = 64;
/// How long a starting gateway may take to answer its first call.
const START_WITHIN: Duration = Duration::from_secs(30);
/// How long a gateway told to stop may take to exit, its calls drained.
const STOP_WITHIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    let Some(gateway) = std::env::args_os().nth(1) else {
        eprintln!("usage: pgo-training <gateway binary>");
        return ExitCode::from(2);
    };
    for (product, name) in [
        (Product::Workspace, "workspace"),
        (Product::Docspace, "docspace"),
    ] {
        if let Err(why) = train(&gateway, product, name).await {
            eprintln!("pgo-training ({product}): {why}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// One gateway process in front of one simulated portal, from start to exit.
async fn train(gateway: &std::ffi::OsStr, product: Product, name: &str) -> Result<(), String> {
    let portal = Simulator::start(product)
        .await
        .map_err(|error| format!("portal simulator: {error}"))?;
    let address = free_address()?;
    let child = Command::new(gateway)
        .args(["--listen", &address.to_string()])
        .args(["--portal-url", portal.base_url().as_str()])
        .args(["--portal-product", name])
        // As the image runs it (deploy/Dockerfile).
        .env("PEOPLE_GATEWAY_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("starting the gateway: {error}"))?;
    let mut running = Running(Some(child));
    let channel = connect(address).await?;
    let calls = tokio::task::JoinSet::from_iter(
        (0..CONCURRENCY).map(|caller| call_mix(channel.clone(), caller, product)),
    );
    for outcome in calls.join_all().await {
        outcome?;
    }
    running.stop()
}

/// A loopback address no one listens on, for the gateway to bind.
fn free_address() -> Result<SocketAddr, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_err(|error| format!("finding a free port: {error}"))
}

/// A channel to the gateway once its health check says it serves.
async fn connect(address: SocketAddr) -> Result<Channel, String> {
    let started = Instant::now();
    let endpoint = Channel::from_shared(format!("http://{address}"))
        .map_err(|error| format!("gateway address: {error}"))?;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let answer = HealthClient::new(channel.clone())
                .check(HealthCheckRequest::default())
                .await;
            if matches!(answer, Ok(ok) if ok.get_ref().status() == ServingStatus::Serving) {
                return Ok(channel);
            }
        }
        if started.elapsed() > START_WITHIN {
            return Err(format!("the gateway did not serve within {START_WITHIN:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One caller's share of the calls, each answer checked for the code it must have.
async fn call_mix(channel: Channel, caller: usize, product: Product) -> Result<(), String> {
    // DocSpace forgets the marketing-mail consent on every write of one's own
    // profile unless it is sent; Workspace has none.
    let spam = matches!(product, Product::Docspace).then_some(false);
    let mut people = PeopleServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel);
    for round in 0..ROUNDS / CONCURRENCY {
        let turn = caller + round * CONCURRENCY;
        for user in [seed::USER_ID, seed::ADMIN_ID, seed::GUEST_ID, "@self"] {
            let asked = GetUserRequest {
                user_id: user.to_owned(),
            };
            expect(Code::Ok, people.get_user(as_admin(asked)).await)?;
        }
        // The same few values over and over: once present, a merge changes
        // nothing and is not sent. Users edit their own contacts (DocSpace
        // applies them only then).
        let contacts = UpdateContactsRequest {
            user_id: "@self".to_owned(),
            contacts: vec![Contact {
                r#type: "phone".to_owned(),
                value: format!("+1 555 010{}", turn % 4),
            }],
            spam,
        };
        expect(
            Code::Ok,
            people
                .update_contacts(as_caller(seed::USER_TOKEN, contacts))
                .await,
        )?;
        let name = UpdateUserRequest {
            user_id: "@self".to_owned(),
            first_name: Some(["Ann", "Anna", "Anne"][turn % 3].to_owned()),
            spam,
            ..Default::default()
        };
        expect(
            Code::Ok,
            people.update_user(as_caller(seed::USER_TOKEN, name)).await,
        )?;
        let page = ListUsersRequest {
            page_size: 5,
            ..Default::default()
        };
        expect(Code::Ok, people.list_users(as_admin(page)).await)?;
        // One refusal per round, in turn.
        let (code, answer) = match turn % 4 {
            0 => (
                Code::NotFound,
                people
                    .get_user(as_admin(GetUserRequest {
                        user_id: "00000000-0000-4000-8000-000000000000".to_owned(),
                    }))
                    .await,
            ),
            1 => (
                Code::InvalidArgument,
                people
                    .get_user(as_admin(GetUserRequest {
                        user_id: String::new(),
                    }))
                    .await,
            ),
            2 => (
                Code::Unauthenticated,
                people
                    .get_user(Request::new(GetUserRequest {
                        user_id: seed::USER_ID.to_owned(),
                    }))
                    .await,
            ),
            _ => (
                Code::PermissionDenied,
                people
                    .update_user(as_caller(
                        seed::USER_TOKEN,
                        UpdateUserRequest {
                            user_id: seed::ADMIN_ID.to_owned(),
                            first_name: Some("Mallory".to_owned()),
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
        };
        expect(code, answer)?;
        health
            .check(HealthCheckRequest::default())
            .await
            .map_err(|status| format!("Health/Check: {status}"))?;
    }
    sync_stream(&mut people, caller, spam).await
}

/// One SyncUsers stream of contact merges, every item answered with a user.
async fn sync_stream(
    people: &mut PeopleServiceClient<Channel>,
    caller: usize,
    spam: Option<bool>,
) -> Result<(), String> {
    let items = (0..SYNC_ITEMS).map(move |item| SyncUsersRequest {
        item_id: format!("{caller}-{item}"),
        operation: Some(sync_users_request::Operation::UpdateContacts(
            UpdateContactsRequest {
                user_id: "@self".to_owned(),
                contacts: vec![Contact {
                    r#type: "phone".to_owned(),
                    value: format!("+1 555 020{}", item % 4),
                }],
                spam,
            },
        )),
    });
    let mut answers = people
        .sync_users(as_caller(seed::USER_TOKEN, tokio_stream::iter(items)))
        .await
        .map_err(|status| format!("SyncUsers: {status}"))?
        .into_inner();
    let mut answered = 0;
    while let Some(answer) = answers
        .message()
        .await
        .map_err(|status| format!("SyncUsers: {status}"))?
    {
        if let Some(sync_users_response::Result::Error(error)) = answer.result {
            return Err(format!(
                "SyncUsers item {}: {}",
                answer.item_id, error.message
            ));
        }
        answered += 1;
    }
    if answered == SYNC_ITEMS {
        Ok(())
    } else {
        Err(format!(
            "SyncUsers answered {answered} of {SYNC_ITEMS} items"
        ))
    }
}

fn as_admin<T>(message: T) -> Request<T> {
    as_caller(seed::ADMIN_TOKEN, message)
}

fn as_caller<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = token.parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// The call ended with `code`, or the workload is not what it claims.
fn expect<T>(code: Code, answer: Result<T, tonic::Status>) -> Result<(), String> {
    let got = answer
        .as_ref()
        .map_or_else(tonic::Status::code, |_| Code::Ok);
    if got == code {
        Ok(())
    } else {
        let detail = answer.err().map(|status| status.message().to_owned());
        Err(format!("expected {code:?}, got {got:?} {detail:?}"))
    }
}

/// The gateway's process: stopped with SIGTERM when asked, killed if dropped.
struct Running(Option<Child>);

impl Running {
    /// SIGTERM, then waits (at most `STOP_WITHIN`, so that a gateway that
    /// never exits cannot hang the image's build); the gateway must exit
    /// cleanly for its profile to be written.
    fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.0.take() else {
            return Ok(());
        };
        let signalled = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|error| format!("kill: {error}"))?;
        if !signalled.success() {
            return Err("kill -TERM failed".to_owned());
        }
        let asked = Instant::now();
        let exit = loop {
            match child.try_wait() {
                Ok(Some(exit)) => break exit,
                Ok(None) if asked.elapsed() > STOP_WITHIN => {
                    // Dropped with the child in it: killed.
                    self.0 = Some(child);
                    return Err(format!("the gateway did not exit within {STOP_WITHIN:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(error) => return Err(format!("waiting for the gateway: {error}")),
            }
        };
        if exit.success() {
            Ok(())
        } else {
            Err(format!("the gateway exited with {exit}"))
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
