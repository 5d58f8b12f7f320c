//! Log lines, in a process of their own: tracing's per-thread subscribers
//! miss events when other tests in the same process log at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e/harness.rs"]
#[allow(dead_code, unused_imports)]
mod harness;

use harness::*;
use people_gateway::telemetry::logs;
use tonic::Code;

fn get(user_id: &str) -> pb::GetUserRequest {
    pb::GetUserRequest {
        user_id: user_id.into(),
    }
}

fn get_self() -> pb::GetUserRequest {
    get("@self")
}

/// Collects everything logged on this thread.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn credentials_never_reach_the_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded, so gateway, client and simulator all log here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut gateway = Gateway::workspace().await;
    let secret = "s3cret-portal-token";
    let status = gateway.get_user(secret, get_self()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // A write: its PUT fails with 502 and is not tried again.
    gateway
        .sim
        .push_fault_on("PUT", Fault::Html { status: 502 });
    let _ = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                comment: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    // Lookups: an address and a search, neither of which may be logged.
    let email = "Private.Person@Example.com";
    let search = "secret-search-words";
    for request in [
        pb::ListUsersRequest {
            email: email.into(),
            ..Default::default()
        },
        pb::ListUsersRequest {
            query: search.into(),
            ..Default::default()
        },
    ] {
        let page = gateway
            .client
            .list_users(as_user(seed::ADMIN_TOKEN, request))
            .await
            .unwrap();
        assert!(page.into_inner().users.is_empty());
    }

    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("failed"),
        "the failures were not logged at all"
    );
    assert!(logged.contains("ListUsers"), "the lookups were not logged");
    for private in [email, "Private.Person", search] {
        assert!(!logged.contains(private), "{private} was logged");
    }
    assert!(!logged.contains(secret), "a caller's token was logged");
    assert!(
        !logged.contains(seed::ADMIN_TOKEN),
        "a caller's token was logged"
    );
}

async fn json_logs_are_one_object_per_line_with_the_rpc_and_no_personal_data() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = logs::subscriber(
        logs::LogFormat::Json,
        tracing_subscriber::EnvFilter::new("trace"),
        move || writer.clone(),
        false,
        None,
    );
    // The test runtime is single-threaded, so gateway, client and simulator all log here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut gateway = Gateway::workspace().await;
    let secret_value = "+1 555 0199 secret";
    gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("phone", secret_value)],
                spam: None,
            },
        )
        .await
        .unwrap();
    let _ = gateway
        .get_user("not-a-token", get(seed::USER_ID))
        .await
        .unwrap_err();
    // A caller's unknown user: the caller's mistake, not a portal failure.
    let _ = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            get("00000000-0000-0000-0000-0000000000ff"),
        )
        .await
        .unwrap_err();
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, Vec::new()).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect();
    let handled: Vec<_> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "handled")
        .collect();
    assert_eq!(handled.len(), 3, "one line per unary RPC");
    let stream_ended: Vec<_> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "stream ended")
        .collect();
    assert_eq!(stream_ended.len(), 1, "one line per stream");
    for line in handled.iter().chain(&stream_ended) {
        assert!(line["timestamp"].is_string() && line["level"] == "INFO");
        assert!(line["target"].is_string());
        // To the microsecond: no float noise such as 0.40823600000000004.
        let took = line["fields"]["took_ms"].to_string();
        assert!(
            took.split('.')
                .nth(1)
                .is_none_or(|decimals| decimals.len() <= 3),
            "{took}"
        );
        // No caller sent a traceparent, so there is no parent span to name.
        assert!(line["span"].get("parent_span_id").is_none(), "{line}");
        assert_eq!(line["span"]["name"], "rpc");
        assert!(
            line["span"]["trace_id"]
                .as_str()
                .is_some_and(|id| id.len() == 32)
        );
    }
    assert_eq!(handled[0]["span"]["rpc"], "UpdateContacts");
    assert_eq!(handled[0]["fields"]["code"], "OK");
    assert_eq!(handled[1]["fields"]["code"], "UNAUTHENTICATED");
    assert_eq!(handled[2]["fields"]["code"], "NOT_FOUND");
    assert_eq!(stream_ended[0]["span"]["rpc"], "SyncUsers");
    assert!(
        !lines.iter().any(|line| line["level"] == "WARN"),
        "a caller's mistake was logged as a warning: {text}"
    );
    assert!(!text.contains(secret_value), "a contact value was logged");
    assert!(!text.contains(seed::ADMIN_TOKEN), "a token was logged");
    assert!(!text.contains("not-a-token"), "a token was logged");
}

/// One test, so that no two subscribers of this process ever overlap.
#[tokio::test]
async fn logs_carry_the_rpc_and_never_a_secret() {
    credentials_never_reach_the_logs().await;
    json_logs_are_one_object_per_line_with_the_rpc_and_no_personal_data().await;
}
