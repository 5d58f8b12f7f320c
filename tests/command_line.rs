//! The binary as an operator starts it: every variable templated into a
//! ConfigMap, on/off flags written as an operator would write them, and the
//! errors a mistyped flag gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a starting gateway may take to say it serves; only a hang ends there.
const PATIENCE: Duration = Duration::from_secs(120);

fn gateway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_people-gateway"));
    command
        .env_clear()
        .env("PEOPLE_GATEWAY_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Stops the process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` and waits until its log says it serves; fails with what
/// it printed if it exits first.
fn serves(command: Command) -> Running {
    serves_after(command).0
}

/// As [`serves`], with the lines it printed before it served.
fn serves_after(mut command: Command) -> (Running, Vec<String>) {
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let running = Running(child);
    let mut printed = Vec::new();
    loop {
        match seen.recv_timeout(PATIENCE) {
            Ok(line) if line.contains("serving") => return (running, printed),
            Ok(line) => printed.push(line),
            Err(_) => panic!("the gateway did not start serving:\n{}", printed.join("\n")),
        }
    }
}

/// Runs `command`, which must refuse to start; its exit code and error text.
fn refused(mut command: Command) -> (i32, String) {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "it started");
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn demo_off_from_a_variable_leaves_the_portal_flags_usable() {
    for off in ["false", "0", "no", "off"] {
        let mut command = gateway();
        command
            .env("PEOPLE_GATEWAY_DEMO", off)
            .env("PEOPLE_GATEWAY_GRPC_WEB", off)
            .env("PEOPLE_GATEWAY_PORTAL_URL", "http://127.0.0.1:9/")
            .env("PEOPLE_GATEWAY_PORTAL_PRODUCT", "workspace");
        drop(serves(command));
    }
}

#[test]
fn demo_on_from_a_variable_takes_the_usual_spellings() {
    for on in ["true", "1", "yes", "on"] {
        let mut command = gateway();
        command.env("PEOPLE_GATEWAY_DEMO", on);
        drop(serves(command));
    }
}

#[test]
fn an_operator_who_set_a_proxy_variable_is_told_it_is_not_read() {
    let mut command = gateway();
    command
        .env("PEOPLE_GATEWAY_DEMO", "on")
        .env("HTTPS_PROXY", "http://proxy.internal:3128");
    let (_running, printed) = serves_after(command);
    assert!(
        printed
            .iter()
            .any(|line| line.contains("proxy variables are not read")
                && line.contains("HTTPS_PROXY")),
        "{printed:?}"
    );
    let (_running, printed) = serves_after(gateway_in_demo());
    assert!(
        !printed.iter().any(|line| line.contains("proxy")),
        "{printed:?}"
    );
}

fn gateway_in_demo() -> Command {
    let mut command = gateway();
    command.env("PEOPLE_GATEWAY_DEMO", "on");
    command
}

#[test]
fn a_variable_that_is_neither_on_nor_off_is_refused() {
    let mut command = gateway();
    command.env("PEOPLE_GATEWAY_DEMO", "maybe");
    let (code, text) = refused(command);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("maybe"), "{text}");
}

#[test]
fn demo_and_a_portal_url_together_are_refused() {
    let mut command = gateway();
    command
        .env("PEOPLE_GATEWAY_DEMO", "1")
        .args(["--portal-url", "http://127.0.0.1:9/"]);
    let (code, text) = refused(command);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cannot be used with --demo"), "{text}");
    let (code, text) = refused(gateway());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("required unless --demo"), "{text}");
}

#[test]
fn mistyped_flags_get_errors_that_say_what_to_write() {
    let cases: [(&[&str], &[&str], &str); 4] = [
        (
            &["--demo", "--metrics-listen", "9090"],
            &["0.0.0.0:9090"],
            "",
        ),
        (
            &["--demo", "--otlp-endpoint", "nope"],
            &["http://collector:4317"],
            "relative URL",
        ),
        (
            &[
                "--portal-url",
                "ftp://portal.example.com/",
                "--portal-product",
                "workspace",
            ],
            &["not ftp://"],
            "add https://",
        ),
        (
            &[
                "--demo",
                "--grpc-web",
                "--grpc-web-allow-origin",
                "https://app.example.com/x",
            ],
            &["https://app.example.com"],
            "",
        ),
    ];
    for (args, wanted, unwanted) in cases {
        let mut command = gateway();
        command.args(args);
        let (code, text) = refused(command);
        assert_eq!(code, 2, "{args:?}: {text}");
        for wanted in wanted {
            assert!(text.contains(wanted), "{args:?}: {text}");
        }
        assert!(
            unwanted.is_empty() || !text.contains(unwanted),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn an_unreadable_tls_file_is_named_with_its_flag_before_anything_starts() {
    let mut command = gateway();
    command.args([
        "--demo",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    let (_, text) = refused(command);
    assert!(
        text.contains("--tls-cert: cannot read /nonexistent/cert.pem"),
        "{text}"
    );
    assert!(!text.contains("demo"), "the demo started first: {text}");
}

#[test]
fn help_names_the_log_filter_and_the_docspace_releases() {
    let output = gateway().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("RUST_LOG"), "{help}");
    assert!(help.contains("3.1.1"), "{help}");
    assert!(!help.contains("3.2 or later"), "{help}");
}

/// A free loopback port, for a listener the binary binds itself.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_stalled_log_reader_never_stops_calls_or_health() {
    use people_gateway::pb::{GetUserRequest, people_service_client::PeopleServiceClient};
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let metrics_port = free_port();
    let mut command = gateway();
    command
        .env("PEOPLE_GATEWAY_DEMO", "1")
        .env(
            "PEOPLE_GATEWAY_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("RUST_LOG", "trace");
    // stderr is piped and never read: once the pipe is full, the log writer
    // cannot write another byte.
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    // The demo prints its port once its listener is bound; the rest of
    // stdout is read too, so that only stderr stalls.
    let (first_line, banner) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let _ = first_line.send(lines.next().unwrap_or_default());
        lines.for_each(drop);
    });
    let banner = tokio::time::timeout(PATIENCE, banner)
        .await
        .expect("the demo never printed its port")
        .unwrap();
    let port: u16 = banner
        .split("gRPC on port ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no port in {banner:?}"));
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = PeopleServiceClient::new(channel.clone());
    // Each call logs hundreds of trace lines: far more than the pipe and the
    // writer's queue hold.
    for _ in 0..500 {
        let mut request = tonic::Request::new(GetUserRequest {
            user_id: "@self".into(),
        });
        request.set_timeout(Duration::from_secs(30));
        client
            .get_user(request)
            .await
            .expect("a call waited for the log");
    }
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health waited for the log");
    assert_eq!(health.into_inner().status, 1);
    let scraped = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped: f64 = scraped
        .lines()
        .find_map(|line| line.strip_prefix("people_gateway_log_lines_dropped_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in {scraped}"));
    assert!(
        dropped > 0.0,
        "the log never stalled: the test proves nothing"
    );
}
