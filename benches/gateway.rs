//! What one call costs the gateway: its production build (release, without
//! the demo, as deployed) as its own process in
//! front of a canned-answer portal stub (another process), driven by a tonic
//! client here that checks every status. For each RPC and concurrency it
//! reports calls per second, latency percentiles and the gateway's own CPU per
//! call (its threads' time on a CPU, to the nanosecond), as a ratio to a bare
//! `Health/Check` on the same server in the same run, to the floor's forwarded
//! GET and to the translating floor's (`gateway/floor.rs`): rounds
//! interleaved, each ratio taken within a round, the median of the rounds'
//! ratios shown with their range.
//! It also reports peak memory, portal connections opened, and the latency of
//! the same portal request sent straight to the stub; then the peak memory at
//! 1,024 concurrent calls of each RPC in a process started for it alone,
//! the two floors' included, against the floor's.
//!
//! Then it reports the CPU per user listed by ListUsers pages (against one
//! GetUser), and compares a SyncUsers stream with the same changes sent as unary
//! calls at the same concurrency, and, where nginx is installed, measures
//! nginx's `grpc_pass` hop in front of the gateway as the peer.
//!
//! Run: `cargo bench --bench gateway` (env: BENCH_CALLS, BENCH_ROUNDS,
//! BENCH_CONCURRENCY for one concurrency, BENCH_RPCS for some RPCs only,
//! BENCH_WRAPPER and BENCH_FLOOR_WRAPPER for a profiler, BENCH_PEAKS_ONLY=1
//! for the peak memory table alone, BENCH_PEAK_RUNS processes per RPC in
//! it, BENCH_RESIDENT_CODE=1 for each one's resident code by crate, BENCH_FLOOR_CLIENT
//! for another portal client in the floor: see `gateway/floor.rs`,
//! BENCH_GATEWAY for another build of the gateway).

// A benchmark run aborts on the first failure; there is no caller to answer.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "gateway/floor.rs"]
mod floor;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use people_gateway::pb::{self, people_service_client::PeopleServiceClient};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const MIKE: &str = "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302";
const TOKEN: &str = "bench-token";
const CONNECTIONS: usize = 4;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A child process that is killed when dropped.
struct Process(Child);

impl Drop for Process {
    /// SIGTERM first, so that a profiler around the gateway writes its
    /// report; SIGKILL after 30 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..300 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the gateway as it is deployed: the production build (no demo, as
/// the container image's), in a target directory of its own, so that it and
/// the README's `cargo run --release` never undo each other; and the stub as
/// this bench is built (the bench profile, with the dev-dependencies' features).
fn build() {
    let production = production_target();
    let production = production.to_str().expect("a UTF-8 target directory");
    let gateway = [
        "--release",
        "--no-default-features",
        "-p",
        "people-gateway",
        "--bin",
        "people-gateway",
        "--target-dir",
        production,
    ];
    let stub = [
        "--profile",
        "bench",
        "-p",
        "portal-sim",
        "--example",
        "portal_stub",
    ];
    // BENCH_GATEWAY names a gateway built elsewhere: this one is not run.
    let gateway = std::env::var_os("BENCH_GATEWAY")
        .is_none()
        .then_some(&gateway[..]);
    for args in gateway.into_iter().chain([&stub[..]]) {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--locked"])
            .args(args)
            .status()
            .expect("cargo build");
        assert!(status.success(), "the build failed");
    }
}

/// The gateway's command line; `BENCH_WRAPPER` (e.g. `valgrind --tool=massif`)
/// runs it under a profiler. The pid is then the wrapper's, which is the
/// profiled process itself for valgrind and perf.
fn gateway_command(binary: &std::path::Path) -> Command {
    wrapped(binary, "BENCH_WRAPPER")
}

/// `binary`, run under the command in the environment variable `wrapper`
/// when it is set.
fn wrapped(binary: &std::path::Path, wrapper: &str) -> Command {
    match std::env::var(wrapper) {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut words = wrapper.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or_default());
            command.args(words).arg(binary);
            command
        }
        _ => Command::new(binary),
    }
}

fn cargo_target() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn target_dir() -> std::path::PathBuf {
    cargo_target().join("release")
}

/// Where the production build of the gateway goes (see [`build`]).
fn production_target() -> std::path::PathBuf {
    cargo_target().join("production")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// CPU time (user + system) of a process, in seconds: to the nanosecond,
/// the sum of its threads' time on a CPU (`/proc/<pid>/task/*/schedstat`),
/// as [`CpuClock::since`] reads it against an earlier reading.
#[derive(Debug, Clone)]
struct CpuClock {
    /// Each thread's id and nanoseconds on a CPU.
    threads: Vec<(u32, u64)>,
    /// The process's user + system time in clock ticks (`/proc/<pid>/stat`).
    ticks_seconds: f64,
}

impl CpuClock {
    fn read(pid: u32) -> Self {
        let mut threads: Vec<(u32, u64)> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|entry| {
                let tid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
                let stat =
                    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
                Some((tid, stat.split_whitespace().next()?.parse().ok()?))
            })
            .collect();
        threads.sort_unstable();
        Self {
            threads,
            ticks_seconds: cpu_seconds(pid),
        }
    }

    /// Seconds on a CPU since `earlier`: to the nanosecond when the same
    /// threads ran throughout; otherwise (a thread came or went, taking its
    /// time with it) from the clock ticks, to 10 ms.
    fn since(&self, earlier: &Self) -> f64 {
        let same_threads = self.threads.len() == earlier.threads.len()
            && self
                .threads
                .iter()
                .zip(&earlier.threads)
                .all(|(now, then)| now.0 == then.0);
        if !same_threads {
            return self.ticks_seconds - earlier.ticks_seconds;
        }
        let nanos: u64 = self.threads.iter().map(|thread| thread.1).sum::<u64>()
            - earlier.threads.iter().map(|thread| thread.1).sum::<u64>();
        nanos as f64 / 1e9
    }
}

/// CPU time (user + system) of a process, from `/proc/<pid>/stat`, in
/// seconds, to the clock tick (10 ms).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`, `RssAnon`, `RssFile`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(kib)
        .unwrap()
}

/// What of the process's own executable is resident, in KiB: its code and
/// read-only data as far as they were touched (the kernel maps a file's
/// pages around each one touched), and the pages its relocations wrote.
/// The rest of the file-backed memory is shared libraries, the same for
/// every process here.
fn program_kib(pid: u32) -> u64 {
    let program = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let program = program.to_str().unwrap();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut in_program = false;
    let mut total = 0;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-')
            && first
                .bytes()
                .all(|byte| byte.is_ascii_hexdigit() || byte == b'-')
        {
            // A mapping's first line: range, permissions, offset, device, inode, path.
            in_program = words.nth(4) == Some(program);
        } else if in_program && first == "Rss:" {
            total += kib(words.next().unwrap_or_default()).unwrap();
        }
    }
    total
}

fn kib(text: &str) -> Option<u64> {
    text.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The user of write number `n`: writes spread over this many users, so that
/// they measure the write path rather than one user's lock.
const WRITE_USERS: u128 = 4096;

fn user_of(n: usize) -> String {
    uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 + (n as u128 % WRITE_USERS))
        .to_string()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rpc {
    Health,
    GetUser,
    UpdateContacts,
    UpdateUser,
    /// The floor's forwarded GET (served by the floor process).
    Floor,
    /// The floor's GET decoded, mapped and encoded as a `User` (served by
    /// the floor process).
    Translating,
}

impl Rpc {
    const ALL: [Rpc; 4] = [
        Rpc::Health,
        Rpc::GetUser,
        Rpc::UpdateContacts,
        Rpc::UpdateUser,
    ];

    fn name(self) -> &'static str {
        match self {
            Rpc::Health => "Health/Check",
            Rpc::GetUser => "GetUser",
            Rpc::UpdateContacts => "UpdateContacts",
            Rpc::UpdateUser => "UpdateUser",
            Rpc::Floor => "floor (GET forwarded as bytes)",
            Rpc::Translating => "translating floor (GET decoded to a User)",
        }
    }

    /// Portal exchanges one call makes: a read-modify-write makes two, and
    /// UpdateUser three, since the title it sets is for People
    /// administrators on Workspace (`people::rules`), so the caller's own
    /// profile (`@self`) is read first.
    fn exchanges(self) -> f64 {
        match self {
            Rpc::Health => 0.0,
            Rpc::GetUser | Rpc::Floor | Rpc::Translating => 1.0,
            Rpc::UpdateContacts => 2.0,
            Rpc::UpdateUser => 3.0,
        }
    }
}

fn with_token<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", TOKEN.parse().unwrap());
    request
}

async fn call(channel: Channel, rpc: Rpc, n: usize) {
    match rpc {
        Rpc::Health => {
            let answer = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("Health/Check");
            assert_eq!(answer.into_inner().status, 1);
        }
        Rpc::GetUser => {
            let user = PeopleServiceClient::new(channel)
                .get_user(with_token(pb::GetUserRequest {
                    user_id: MIKE.into(),
                }))
                .await
                .expect("GetUser");
            assert_eq!(user.into_inner().id, MIKE);
        }
        Rpc::UpdateContacts => {
            let user = PeopleServiceClient::new(channel)
                .update_contacts(with_token(pb::UpdateContactsRequest {
                    user_id: user_of(n),
                    contacts: vec![pb::Contact {
                        r#type: "telegram".into(),
                        value: format!("@bench{n}"),
                    }],
                    spam: None,
                }))
                .await
                .expect("UpdateContacts");
            assert_eq!(user.into_inner().id, user_of(n));
        }
        Rpc::Floor => {
            let body = floor::call(
                channel,
                with_token(pb::GetUserRequest {
                    user_id: MIKE.into(),
                }),
            )
            .await
            .expect("floor");
            assert!(
                body.windows(MIKE.len())
                    .any(|window| window == MIKE.as_bytes())
            );
        }
        Rpc::Translating => {
            let user = floor::translate(
                channel,
                with_token(pb::GetUserRequest {
                    user_id: MIKE.into(),
                }),
            )
            .await
            .expect("translating floor");
            assert_eq!(user.id, MIKE);
        }
        Rpc::UpdateUser => {
            let user = PeopleServiceClient::new(channel)
                .update_user(with_token(pb::UpdateUserRequest {
                    user_id: user_of(n),
                    title: Some(format!("Manager {}", n % 7)),
                    ..Default::default()
                }))
                .await
                .expect("UpdateUser");
            assert_eq!(user.into_inner().id, user_of(n));
        }
    }
}

struct Phase {
    calls: usize,
    elapsed: Duration,
    cpu: f64,
    latency: Histogram<u64>,
}

/// `calls` calls of `rpc` from `concurrency` tasks over the channels.
async fn phase(
    channels: &[Channel],
    pid: u32,
    rpc: Rpc,
    calls: usize,
    concurrency: usize,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = CpuClock::read(pid);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let channel = channels[task % channels.len()].clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls {
                        return latency;
                    }
                    let sent = Instant::now();
                    call(channel.clone(), rpc, n).await;
                    latency.record(sent.elapsed().as_micros() as u64).unwrap();
                }
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        latency.add(task.await.unwrap()).unwrap();
    }
    Phase {
        calls,
        elapsed: started.elapsed(),
        cpu: CpuClock::read(pid).since(&cpu_before),
        latency,
    }
}

/// Peak resident memory at `concurrency` calls of one RPC, each RPC in a
/// process started for it alone (the run above shares one process, whose
/// peak is that of its largest RPC, and whose allocator keeps what earlier
/// RPCs left), against the floor measured the same way. A peak depends on
/// how the calls happen to bunch up, so each process is started `runs`
/// times (`BENCH_PEAK_RUNS`, 5: the floor's own peak spreads over 1.5 MiB
/// between processes) and the median run is shown, with the range.
async fn peak_per_rpc(stub: &Stub, calls: usize, concurrency: usize) {
    let runs = env_number("BENCH_PEAK_RUNS", 5).max(1);
    println!();
    println!(
        "Peak resident memory at {concurrency} concurrent calls, each RPC in a fresh process \
         ({calls} calls after 200 at concurrency 8), the median of {runs} processes:"
    );
    println!();
    println!(
        "| process | RPC | idle MiB | peak MiB | peaks' range MiB | ratio to the floor's peak | after: anonymous MiB | after: file-backed MiB | of which its own program MiB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut floor_peak_kib = 0;
    let mut resident_code = Vec::new();
    for rpc in [
        Rpc::Floor,
        Rpc::Translating,
        Rpc::GetUser,
        Rpc::UpdateContacts,
        Rpc::UpdateUser,
    ] {
        let mut measured = Vec::new();
        for _ in 0..runs {
            measured.push(peak_of_one_process(stub, rpc, calls, concurrency).await);
        }
        measured.sort_by_key(|memory| memory.peak_kib);
        let lowest = measured[0].peak_kib;
        let highest = measured[measured.len() - 1].peak_kib;
        // The lower middle one when the number of runs is even.
        let median = &measured[(measured.len() - 1) / 2];
        if rpc == Rpc::Floor {
            floor_peak_kib = median.peak_kib;
        }
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1}–{:.1} | {:.2} | {:.1} | {:.1} | {:.1} |",
            if matches!(rpc, Rpc::Floor | Rpc::Translating) {
                "floor"
            } else {
                "gateway"
            },
            rpc.name(),
            mib(median.idle_kib),
            mib(median.peak_kib),
            mib(lowest),
            mib(highest),
            median.peak_kib as f64 / floor_peak_kib as f64,
            mib(median.anonymous_kib),
            mib(median.file_kib),
            mib(median.program_kib),
        );
        if let Some(by_crate) = &median.resident_code {
            resident_code.push((rpc, by_crate.clone()));
        }
    }
    for (rpc, by_crate) in resident_code {
        println!();
        println!("Resident code after the calls, {}:", rpc.name());
        println!();
        print!("{by_crate}");
    }
}

/// One fresh process's memory in KiB: idle, its peak over the calls, and
/// what is resident once they are done, split into the heap and stacks
/// (anonymous) and the mapped binary and libraries (file-backed), and of
/// the latter what is the process's own program.
struct ProcessMemory {
    idle_kib: u64,
    peak_kib: u64,
    anonymous_kib: u64,
    file_kib: u64,
    program_kib: u64,
    /// By crate, when asked for (`BENCH_RESIDENT_CODE`).
    resident_code: Option<String>,
}

async fn peak_of_one_process(
    stub: &Stub,
    rpc: Rpc,
    calls: usize,
    concurrency: usize,
) -> ProcessMemory {
    let (process, address) = match rpc {
        Rpc::Floor | Rpc::Translating => start_floor(stub),
        _ => start_gateway(stub),
    };
    let pid = process.0.id();
    let channels = connect(address).await;
    let idle_kib = memory_kib(pid, "VmRSS:");
    phase(&channels, pid, rpc, 200, 8).await;
    phase(&channels, pid, rpc, calls, concurrency).await;
    ProcessMemory {
        idle_kib,
        peak_kib: memory_kib(pid, "VmHWM:"),
        anonymous_kib: memory_kib(pid, "RssAnon:"),
        file_kib: memory_kib(pid, "RssFile:"),
        program_kib: program_kib(pid),
        resident_code: resident_code(pid),
    }
}

/// With `BENCH_RESIDENT_CODE=1`: which crates' code the process keeps
/// resident after its calls (`gateway/resident_code.py`, needs python3 and nm).
fn resident_code(pid: u32) -> Option<String> {
    std::env::var_os("BENCH_RESIDENT_CODE")?;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gateway/resident_code.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(pid.to_string())
        .output()
        .expect("python3");
    assert!(output.status.success(), "resident_code.py failed");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Users per ListUsers page in the listing comparison (the gateway's largest page).
const LIST_PAGE: usize = 100;
/// Calls at once in the listing comparison.
const LIST_CONCURRENCY: usize = 16;

/// ListUsers pages of [`LIST_PAGE`] users against GetUser, interleaved at
/// the same concurrency: the gateway's CPU per listed user, as a ratio to
/// the CPU of reading one user with GetUser.
async fn compare_listing(channels: &[Channel], pid: u32, calls: usize, rounds: usize) {
    let pages = (calls / LIST_PAGE).max(20);
    let mut per_user = Vec::new();
    let mut per_page = Vec::new();
    let mut per_get = Vec::new();
    for _ in 0..rounds {
        let cpu_before = CpuClock::read(pid);
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..LIST_CONCURRENCY)
            .map(|task| {
                let mut client = PeopleServiceClient::new(channels[task % channels.len()].clone());
                let next = Arc::clone(&next);
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < pages {
                        let page = client
                            .list_users(with_token(pb::ListUsersRequest {
                                page_size: LIST_PAGE as i32,
                                ..Default::default()
                            }))
                            .await
                            .expect("ListUsers")
                            .into_inner();
                        assert_eq!(page.users.len(), LIST_PAGE);
                        assert!(!page.next_page_token.is_empty());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let cpu = CpuClock::read(pid).since(&cpu_before);
        per_page.push(cpu / pages as f64 * 1e6);
        per_user.push(cpu / (pages * LIST_PAGE) as f64 * 1e6);
        let get = phase(channels, pid, Rpc::GetUser, pages * 10, LIST_CONCURRENCY).await;
        per_get.push(get.cpu / get.calls as f64 * 1e6);
    }
    let (user, page, get) = (median(per_user), median(per_page), median(per_get));
    println!();
    println!(
        "ListUsers, pages of {LIST_PAGE} at concurrency {LIST_CONCURRENCY}, {pages} pages a round, median of {rounds} rounds, interleaved with GetUser:"
    );
    println!();
    println!("| measure | gateway CPU µs | ratio to one GetUser |");
    println!("|---|---:|---:|");
    println!(
        "| one page of {LIST_PAGE} users | {page:.1} | {:.2} |",
        page / get
    );
    println!("| per listed user | {user:.2} | {:.3} |", user / get);
}

/// Items of one SyncUsers stream at the portal at once, and the unary
/// concurrency it is compared with.
const SYNC_CONCURRENCY: usize = 16;

fn contact_change(n: usize) -> pb::UpdateContactsRequest {
    pb::UpdateContactsRequest {
        user_id: user_of(n),
        contacts: vec![pb::Contact {
            r#type: "telegram".into(),
            value: format!("@bulk{n}"),
        }],
        spam: None,
    }
}

/// `items` UpdateContacts changes through one SyncUsers stream, each answer checked.
async fn sync_phase(channel: Channel, pid: u32, items: usize) -> Phase {
    use pb::{sync_users_request::Operation, sync_users_response::Result as Answer};
    let cpu_before = CpuClock::read(pid);
    let started = Instant::now();
    let requests = tokio_stream::iter((0..items).map(|n| pb::SyncUsersRequest {
        item_id: n.to_string(),
        operation: Some(Operation::UpdateContacts(contact_change(n))),
    }));
    let mut answers = PeopleServiceClient::new(channel)
        .sync_users(with_token(requests))
        .await
        .expect("SyncUsers")
        .into_inner();
    let mut answered = 0;
    while let Some(answer) = answers.message().await.expect("SyncUsers stream") {
        let n: usize = answer.item_id.parse().unwrap();
        match answer.result {
            Some(Answer::User(user)) => assert_eq!(user.id, user_of(n)),
            other => panic!("item {n}: {other:?}"),
        }
        answered += 1;
    }
    assert_eq!(answered, items);
    Phase {
        calls: items,
        elapsed: started.elapsed(),
        cpu: CpuClock::read(pid).since(&cpu_before),
        latency: Histogram::<u64>::new(3).unwrap(),
    }
}

/// SyncUsers against the same changes as unary UpdateContacts calls at the
/// same concurrency, rounds interleaved: items per second and gateway CPU per item.
async fn compare_sync(channels: &[Channel], pid: u32, items: usize, rounds: usize) {
    let mut unary = Vec::new();
    let mut stream = Vec::new();
    for _ in 0..rounds {
        unary.push(phase(channels, pid, Rpc::UpdateContacts, items, SYNC_CONCURRENCY).await);
        stream.push(sync_phase(channels[0].clone(), pid, items).await);
    }
    println!();
    println!(
        "SyncUsers against unary UpdateContacts: {items} changes per round, median of {rounds} rounds, {SYNC_CONCURRENCY} at the portal at once"
    );
    println!();
    println!("| how | changes/s | gateway CPU µs/change |");
    println!("|---|---:|---:|");
    for (how, phases) in [
        (
            format!("unary UpdateContacts, {SYNC_CONCURRENCY} concurrent calls"),
            &unary,
        ),
        (
            format!("one SyncUsers stream, --bulk-concurrency {SYNC_CONCURRENCY}"),
            &stream,
        ),
    ] {
        let rate = median(
            phases
                .iter()
                .map(|p| p.calls as f64 / p.elapsed.as_secs_f64())
                .collect(),
        );
        let cpu = median(
            phases
                .iter()
                .map(|p| p.cpu / p.calls as f64 * 1e6)
                .collect(),
        );
        println!("| {how} | {rate:.0} | {cpu:.1} |");
    }
}

/// nginx as a peer: one process (`master_process off`, one worker's work)
/// proxying gRPC to the gateway with `grpc_pass` over kept-alive upstream
/// connections. `None` when nginx is not installed.
fn start_nginx(upstream: SocketAddr) -> Option<(Process, SocketAddr, tempfile::TempDir)> {
    let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())?;
    let dir = tempfile::Builder::new()
        .prefix("people-gateway-bench-nginx")
        .tempdir()
        .unwrap();
    let port = free_port();
    let root = dir.path().display().to_string();
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {root}/nginx.pid;\n\
         error_log {root}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 100000000;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
           fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
           upstream gateway {{ server {upstream}; keepalive 64; keepalive_requests 100000000; }}\n\
           server {{\n    listen 127.0.0.1:{port} http2;\n    location / {{ grpc_pass grpc://gateway; }}\n  }}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
    let process = Command::new(binary)
        .args(["-p", &root, "-e", &format!("{root}/error.log"), "-c"])
        .arg(dir.path().join("nginx.conf"))
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Some((Process(process), address, dir))
}

/// Where nginx is installed: Health/Check through nginx's `grpc_pass` hop,
/// with nginx's CPU per call beside the gateway's, rounds interleaved with
/// GetUser and Health/Check straight to the gateway, all at concurrency 16.
async fn compare_nginx(
    gateway: SocketAddr,
    direct: &[Channel],
    gateway_pid: u32,
    calls: usize,
    rounds: usize,
) {
    let Some((nginx, address, _dir)) = start_nginx(gateway) else {
        println!();
        println!("nginx is not installed: no grpc_pass peer measured");
        return;
    };
    let nginx_pid = nginx.0.id();
    let proxied = connect(address).await;
    phase(&proxied, gateway_pid, Rpc::Health, 200, 8).await;
    let concurrency = 16;
    let mut health = Vec::new();
    let mut through_nginx = Vec::new();
    let mut nginx_cpu = Vec::new();
    let mut get_user = Vec::new();
    for _ in 0..rounds {
        health.push(phase(direct, gateway_pid, Rpc::Health, calls, concurrency).await);
        let before = CpuClock::read(nginx_pid);
        let proxied_phase = phase(&proxied, gateway_pid, Rpc::Health, calls, concurrency).await;
        nginx_cpu.push(CpuClock::read(nginx_pid).since(&before) / calls as f64 * 1e6);
        through_nginx.push(proxied_phase);
        get_user.push(phase(direct, gateway_pid, Rpc::GetUser, calls, concurrency).await);
    }
    let per_call = |phases: &[Phase]| {
        median(
            phases
                .iter()
                .map(|p| p.cpu / p.calls as f64 * 1e6)
                .collect(),
        )
    };
    let rate = |phases: &[Phase]| {
        median(
            phases
                .iter()
                .map(|p| p.calls as f64 / p.elapsed.as_secs_f64())
                .collect(),
        )
    };
    println!();
    println!(
        "The peer: nginx grpc_pass (one process) in front of the gateway, {calls} calls per round, median of {rounds} rounds, concurrency {concurrency}"
    );
    println!();
    println!("| path | calls/s | nginx CPU µs/call | gateway CPU µs/call |");
    println!("|---|---:|---:|---:|");
    println!(
        "| Health/Check straight to the gateway | {:.0} | – | {:.1} |",
        rate(&health),
        per_call(&health)
    );
    println!(
        "| Health/Check through nginx grpc_pass | {:.0} | {:.1} | {:.1} |",
        rate(&through_nginx),
        median(nginx_cpu),
        per_call(&through_nginx)
    );
    println!(
        "| GetUser straight to the gateway (the whole job) | {:.0} | – | {:.1} |",
        rate(&get_user),
        per_call(&get_user)
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn connect(address: SocketAddr) -> Vec<Channel> {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        let endpoint = Channel::from_shared(format!("http://{address}")).unwrap();
        let channel = loop {
            // The gateway process is starting; bounded by the build just done.
            match endpoint.clone().connect().await {
                Ok(channel) => break channel,
                Err(_) if channels.is_empty() => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(error) => panic!("connect: {error}"),
            }
        };
        channels.push(channel);
    }
    channels
}

/// The same portal request a GetUser makes, sent straight to the stub: p50 in µs.
async fn direct_p50(stub: &Stub, calls: usize) -> f64 {
    let client = stub.client();
    let url = stub.url(&format!("api/2.0/people/{MIKE}"));
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for _ in 0..calls {
        let sent = Instant::now();
        let body = client
            .get(&url)
            .header("authorization", TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!body.is_empty());
        latency.record(sent.elapsed().as_micros() as u64).unwrap();
    }
    latency.value_at_quantile(0.5) as f64
}

/// `--floor LISTEN PORTAL_URL` serves the floor (a process of its own);
/// otherwise the benchmark runs.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--floor") {
        let listen = args[at + 1].parse().expect("floor address");
        let portal = url::Url::parse(&args[at + 2]).expect("portal URL");
        let roots = args.get(at + 3).map(|ca| std::fs::read(ca).expect("CA"));
        floor::run(listen, portal, roots);
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

/// How the gateway and the floor reach the portal stub: `BENCH_PORTAL=http`
/// (the default), `https` (TLS offering HTTP/1.1 only) or `https-h2` (TLS
/// offering HTTP/2 and HTTP/1.1 by ALPN, as an nginx with `http2 on` does).
struct Stub {
    address: SocketAddr,
    /// The CA the stub's certificate chains to, when it serves TLS.
    ca: Option<std::path::PathBuf>,
}

impl Stub {
    fn url(&self, path: &str) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/{path}", self.address)
    }

    fn client(&self) -> reqwest::Client {
        let mut client = reqwest::Client::builder();
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        client.build().unwrap()
    }
}

/// Starts the stub as `BENCH_PORTAL` says, with a private CA made for the run.
fn start_stub(binary: &std::path::Path) -> (Process, Stub, &'static str) {
    let mode = std::env::var("BENCH_PORTAL").unwrap_or_default();
    let (alpn, label) = match mode.as_str() {
        "" | "http" => (None, "HTTP/1.1"),
        "https" => (Some("http/1.1"), "HTTPS, HTTP/1.1 only"),
        "https-h2" => (Some("h2,http/1.1"), "HTTPS offering HTTP/2"),
        other => panic!("BENCH_PORTAL={other}: http, https or https-h2"),
    };
    let mut command = Command::new(binary);
    command.arg("127.0.0.1:0");
    let ca = alpn.map(|alpn| {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = std::env::temp_dir().join(format!("people-gateway-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        command
            .arg("--tls")
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem"))
            .args(["--alpn", alpn]);
        dir.join("ca.pem")
    });
    let mut child = command.stdout(Stdio::piped()).spawn().expect("portal stub");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().parse().unwrap();
    (Process(child), Stub { address, ca }, label)
}

/// Starts the gateway in front of the stub, as a process of its own.
fn start_gateway(stub: &Stub) -> (Process, SocketAddr) {
    let port = free_port();
    // BENCH_GATEWAY: another build of the gateway, such as the container
    // image's static musl one.
    let binary = std::env::var_os("BENCH_GATEWAY").map_or_else(
        || production_target().join("release/people-gateway"),
        std::path::PathBuf::from,
    );
    let mut command = gateway_command(&binary);
    if let Some(ca) = &stub.ca {
        command.arg("--portal-ca").arg(ca);
    }
    let process = Process(
        command
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--portal-url",
                &stub.url(""),
                "--portal-product",
                "workspace",
                "--max-concurrency",
                "4096",
                "--bulk-concurrency",
                &SYNC_CONCURRENCY.to_string(),
                "--bulk-max-in-flight",
                "64",
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("gateway"),
    );
    (process, format!("127.0.0.1:{port}").parse().unwrap())
}

/// Starts the floor in front of the stub, as a process of its own.
fn start_floor(stub: &Stub) -> (Process, SocketAddr) {
    // BENCH_FLOOR_WRAPPER runs the floor under a profiler, as BENCH_WRAPPER
    // does the gateway.
    let mut command = wrapped(&std::env::current_exe().unwrap(), "BENCH_FLOOR_WRAPPER");
    command.args(["--floor", "127.0.0.1:0", &stub.url("")]);
    if let Some(ca) = &stub.ca {
        command.arg(ca);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("floor");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Process(child), line.trim().parse().unwrap())
}

async fn bench() {
    let calls = env_number("BENCH_CALLS", 4000);
    let rounds = env_number("BENCH_ROUNDS", 5);
    // For profiling one path: BENCH_CONCURRENCY=16 runs only that concurrency.
    let concurrencies: Vec<usize> = match env_number("BENCH_CONCURRENCY", 0) {
        0 => vec![1, 16, 256, 1024],
        one => vec![one],
    };
    build();
    let release = target_dir();

    let (_stub, stub, protocol) = start_stub(&release.join("examples/portal_stub"));
    // BENCH_PEAKS_ONLY=1: only the fresh processes' peak memory, to try a
    // memory change without the whole run.
    if std::env::var("BENCH_PEAKS_ONLY").is_ok_and(|value| value == "1") {
        peak_per_rpc(&stub, calls.max(1024), 1024).await;
        return;
    }

    let (gateway, address) = start_gateway(&stub);
    let pid = gateway.0.id();
    let channels = connect(address).await;
    let idle_kib = memory_kib(pid, "VmRSS:");
    let (floor_process, floor_address) = start_floor(&stub);
    let floor_pid = floor_process.0.id();
    let floor_channels = connect(floor_address).await;
    let floor_idle_kib = memory_kib(floor_pid, "VmRSS:");
    // Warm up every path once.
    for rpc in Rpc::ALL {
        phase(&channels, pid, rpc, 200, 8).await;
    }
    phase(&floor_channels, floor_pid, Rpc::Floor, 200, 8).await;
    phase(&floor_channels, floor_pid, Rpc::Translating, 200, 8).await;
    sync_phase(channels[0].clone(), pid, 200).await;

    println!(
        "people-gateway: {calls} calls per RPC and round, median of {rounds} rounds, {CONNECTIONS} connections, \
         gateway, floor and portal stub as separate processes, portal over {protocol}; CPU to the nanosecond, \
         each ratio the median of the rounds' own (their range in brackets)"
    );
    println!();
    println!(
        "| concurrency | RPC | calls/s | p50 µs | p90 µs | p99 µs | CPU µs/call | ratio to Health/Check | ratio to the floor's exchanges | ratio to the translating floor's exchanges |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut getuser_p50_at_1 = 0.0;
    // The floor is measured in the same rounds, after the gateway's RPCs.
    // BENCH_RPCS=GetUser,floor measures only those (and Health/Check, the
    // first ratio's base), for profiling one path.
    let only = std::env::var("BENCH_RPCS").ok();
    let measured: Vec<Rpc> = Rpc::ALL
        .into_iter()
        .chain([Rpc::Translating, Rpc::Floor])
        .filter(|rpc| {
            *rpc == Rpc::Health
                || only.as_deref().is_none_or(|only| {
                    only.split(',')
                        .any(|name| rpc.name().starts_with(name.trim()))
                })
        })
        .collect();
    for concurrency in concurrencies {
        let per_round_calls = if concurrency == 1 { calls / 4 } else { calls };
        let mut results: Vec<Vec<Phase>> = measured.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (index, rpc) in measured.iter().copied().enumerate() {
                let (channels, pid) = match rpc {
                    Rpc::Floor | Rpc::Translating => (&floor_channels, floor_pid),
                    _ => (&channels, pid),
                };
                results[index].push(phase(channels, pid, rpc, per_round_calls, concurrency).await);
            }
        }
        let cpu_per_call: Vec<f64> = results
            .iter()
            .map(|phases| {
                median(
                    phases
                        .iter()
                        .map(|p| p.cpu / p.calls as f64 * 1e6)
                        .collect(),
                )
            })
            .collect();
        // A ratio is taken within each round (the RPC's phase against the
        // base's in the same round, a few seconds apart), and the median of
        // the rounds' ratios shown with their range: pairing cancels what
        // drifts over minutes on this VM, and the range shows what is left.
        let position = |base: Rpc| measured.iter().position(|rpc| *rpc == base);
        let (floor_at, translating_at) = (position(Rpc::Floor), position(Rpc::Translating));
        let paired = |index: usize, base_at: usize, exchanges: f64| {
            let ratios: Vec<f64> = results[index]
                .iter()
                .zip(&results[base_at])
                .map(|(phase, base)| {
                    (phase.cpu / phase.calls as f64) / (exchanges * base.cpu / base.calls as f64)
                })
                .collect();
            let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (median(ratios), low, high)
        };
        for (index, rpc) in measured.iter().copied().enumerate() {
            let phases = &results[index];
            let rate = median(
                phases
                    .iter()
                    .map(|p| p.calls as f64 / p.elapsed.as_secs_f64())
                    .collect(),
            );
            let quantile = |q: f64| {
                median(
                    phases
                        .iter()
                        .map(|p| p.latency.value_at_quantile(q) as f64)
                        .collect(),
                )
            };
            if rpc == Rpc::GetUser && concurrency == 1 {
                getuser_p50_at_1 = quantile(0.5);
            }
            let to = |base_at: Option<usize>| match (rpc, base_at) {
                (Rpc::Health, _) | (_, None) => "–".to_owned(),
                (_, Some(base_at)) => {
                    let (ratio, low, high) = paired(index, base_at, rpc.exchanges());
                    format!("{ratio:.2} ({low:.2}–{high:.2})")
                }
            };
            let (health, _, _) = paired(index, 0, 1.0);
            let (to_floor, to_translating) = (to(floor_at), to(translating_at));
            println!(
                "| {concurrency} | {} | {rate:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {health:.2} | {to_floor} | {to_translating} |",
                rpc.name(),
                quantile(0.5),
                quantile(0.9),
                quantile(0.99),
                cpu_per_call[index],
            );
        }
    }
    let peak_kib = memory_kib(pid, "VmHWM:");
    let floor_peak_kib = memory_kib(floor_pid, "VmHWM:");
    let direct = direct_p50(&stub, 2000).await;
    let stub_connections: usize = stub
        .client()
        .get(stub.url("__stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    println!();
    println!(
        "- resident memory: gateway {:.1} MiB idle, {:.1} MiB peak; the floors' process {:.1} MiB idle, {:.1} MiB peak (peaks at the highest concurrency run; ratio {:.2})",
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        floor_idle_kib as f64 / 1024.0,
        floor_peak_kib as f64 / 1024.0,
        peak_kib as f64 / floor_peak_kib as f64,
    );
    if getuser_p50_at_1 > 0.0 {
        println!(
            "- portal round trip at concurrency 1, p50: {direct:.0} µs straight to the stub, {getuser_p50_at_1:.0} µs as a GetUser through the gateway: {:.0} µs added",
            getuser_p50_at_1 - direct
        );
    }
    println!(
        "- portal connections the stub accepted over the whole run: {stub_connections} (the bench's own direct requests included)"
    );
    if only.is_some() {
        return;
    }
    // Not under a profiler (it would measure the profiler, and overwrite
    // the run's profile), nor when one concurrency was asked for.
    let skip_fresh_processes = ["BENCH_WRAPPER", "BENCH_FLOOR_WRAPPER", "BENCH_CONCURRENCY"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()));
    if !skip_fresh_processes {
        peak_per_rpc(&stub, calls.max(1024), 1024).await;
    }
    compare_listing(&channels, pid, calls, rounds).await;
    compare_sync(&channels, pid, calls, rounds).await;
    compare_nginx(address, &channels, pid, calls, rounds).await;
    drop(gateway);
    drop(floor_process);
}
