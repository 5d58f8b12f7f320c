//! What operators see: metrics scraped over HTTP, trace context and request
//! ids carried to the portal and back, JSON log lines, readiness that follows
//! the portal, gRPC-Web, and the routing key a mesh may hash on.

use std::time::Duration;

use people_gateway::domain::Product;
use people_gateway::telemetry::metrics::serve_metrics;
use prost::Message as _;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::harness::*;

fn get(user_id: &str) -> pb::GetUserRequest {
    pb::GetUserRequest {
        user_id: user_id.into(),
    }
}

#[tokio::test]
async fn metrics_count_calls_codes_portal_requests_retries_and_lock_waits() {
    let mut gateway = Gateway::workspace().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(serve_metrics(
        listener,
        gateway.metrics.clone(),
        metrics_port_limits(Duration::from_secs(120)),
        std::future::pending(),
    ));

    gateway
        .get_user(seed::ADMIN_TOKEN, get(seed::USER_ID))
        .await
        .unwrap();
    // Answered after one retry.
    gateway
        .sim
        .push_fault_on("GET", Fault::Html { status: 503 });
    gateway
        .get_user(seed::ADMIN_TOKEN, get(seed::ADMIN_ID))
        .await
        .unwrap();
    let missing = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            get("00000000-0000-0000-0000-0000000000ff"),
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("telegram", "@m")],
                spam: None,
            },
        )
        .await
        .unwrap();

    let response = reqwest::get(&metrics_url).await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let people = ("grpc_service", "onlyoffice.people.v1.PeopleService");
    let get_user = ("grpc_method", "GetUser");
    assert_eq!(
        sample(
            &text,
            "grpc_server_started_total",
            &[people, get_user, ("grpc_type", "unary")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "grpc_server_handled_total",
            &[people, get_user, ("grpc_code", "OK")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "grpc_server_handled_total",
            &[people, get_user, ("grpc_code", "NotFound")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "grpc_server_handling_seconds_count",
            &[people, get_user]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "grpc_server_handled_total",
            &[
                people,
                ("grpc_method", "UpdateContacts"),
                ("grpc_code", "OK")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "people_gateway_portal_requests_total",
            &[("endpoint", "get_user"), ("status", "404")]
        ),
        Some(1.0)
    );
    // Four reads answered 200: two GetUser, and the read and the write of the merge.
    assert_eq!(
        sample(
            &text,
            "people_gateway_portal_requests_total",
            &[("endpoint", "get_user"), ("status", "200")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "people_gateway_portal_requests_total",
            &[("endpoint", "replace_contacts"), ("status", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "people_gateway_portal_retries_total",
            &[("endpoint", "get_user")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "people_gateway_lock_wait_seconds_count",
            &[("outcome", "acquired")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "people_gateway_calls_in_flight", &[]),
        Some(0.0)
    );
    assert_eq!(sample(&text, "people_gateway_shed_total", &[]), Some(0.0));
}

#[tokio::test]
async fn trace_context_and_request_ids_reach_the_portal_and_come_back() {
    let gateway = Gateway::workspace().await;
    let mut client = gateway.client.clone();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = as_user(
        seed::ADMIN_TOKEN,
        pb::UpdateContactsRequest {
            user_id: seed::USER_ID.into(),
            contacts: vec![contact("telegram", "@traced")],
            spam: None,
        },
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    request
        .metadata_mut()
        .insert("x-request-id", "req-42".parse().unwrap());
    let response = client.update_contacts(request).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "req-42");

    // The question for the release, the read and the write (which runs on a
    // task of its own) all carry them.
    let received = gateway.portal_requests();
    assert_eq!(received.len(), 3);
    let mut span_ids = Vec::new();
    for portal_request in &received {
        let traceparent = portal_request.header("traceparent").expect("traceparent");
        let parts: Vec<_> = traceparent.split('-').collect();
        assert_eq!((parts[0], parts[1], parts[3]), ("00", trace_id, "01"));
        assert_ne!(parts[2], "00f067aa0ba902b7");
        span_ids.push(parts[2].to_owned());
        assert_eq!(portal_request.header("x-request-id"), Some("req-42"));
    }
    assert_ne!(
        span_ids[0], span_ids[1],
        "each portal request is a span of its own"
    );

    // Without either, a new trace and a new request id, echoed on errors too.
    gateway.sim.clear_requests();
    let status = client
        .get_user(as_user(
            seed::ADMIN_TOKEN,
            get("00000000-0000-0000-0000-0000000000ff"),
        ))
        .await
        .unwrap_err();
    let echoed = status
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(echoed.len(), 36);
    let received = gateway.portal_requests();
    assert_eq!(received[0].header("x-request-id"), Some(echoed.as_str()));
    let traceparent = received[0].header("traceparent").unwrap();
    assert_eq!(traceparent.len(), 55);
    assert!(!traceparent.contains(trace_id));
}

async fn next_status(
    watch: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
) -> ServingStatus {
    let message = tokio::time::timeout(PATIENCE, watch.next())
        .await
        .expect("no health change in time")
        .expect("the watch ended")
        .expect("watch error");
    ServingStatus::try_from(message.status).unwrap()
}

#[tokio::test]
async fn readiness_follows_the_portal_and_liveness_does_not() {
    let mut options = Options::new(Product::Workspace);
    // Each probe may take as long: a busy machine must not look like a portal outage.
    options.serve.readiness_interval = Some(Duration::from_secs(1));
    let mut gateway = Gateway::start(options).await;
    let mut health = HealthClient::new(gateway.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_status(&mut watch).await, ServingStatus::Serving);

    let addr = gateway.stop_portal().await;
    assert_eq!(next_status(&mut watch).await, ServingStatus::NotServing);
    let people = health
        .check(HealthCheckRequest {
            service: "onlyoffice.people.v1.PeopleService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(people.status, ServingStatus::NotServing as i32);
    let liveness = health
        .check(HealthCheckRequest {
            service: "liveness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(liveness.status, ServingStatus::Serving as i32);

    gateway.restart_portal(addr).await;
    assert_eq!(next_status(&mut watch).await, ServingStatus::Serving);
    gateway
        .get_user(seed::ADMIN_TOKEN, get(seed::USER_ID))
        .await
        .unwrap();
}

/// One gRPC-Web frame: flag, big-endian length, payload.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut framed = vec![flag];
    framed.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// GetUser of Mike over gRPC-Web on HTTP/1.1, as a browser sends it
/// (from `origin`, when given).
async fn grpc_web_get_user(gateway: &Gateway, origin: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap()
        .post(format!(
            "http://{}/onlyoffice.people.v1.PeopleService/GetUser",
            gateway.addr
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", seed::ADMIN_TOKEN)
        .body(frame(0, &get(seed::USER_ID).encode_to_vec()));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn grpc_web_calls_are_served_when_enabled() {
    let mut options = Options::new(Product::Workspace);
    options.serve.grpc_web = true;
    let gateway = Gateway::start(options).await;
    let response = grpc_web_get_user(&gateway, None).await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes[0], 0, "a data frame first");
    let length = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
    let user = pb::User::decode(&bytes[5..5 + length]).unwrap();
    assert_eq!(user.id, seed::USER_ID);
    let trailers = &bytes[5 + length..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    assert!(String::from_utf8_lossy(&trailers[5..]).contains("grpc-status:0"));
}

#[tokio::test]
async fn a_routing_key_must_name_the_requests_user() {
    let gateway = Gateway::workspace().await;
    let mut client = gateway.client.clone();
    let keyed = |key: &str| {
        let mut request = as_user(seed::ADMIN_TOKEN, get(seed::USER_ID));
        request
            .metadata_mut()
            .insert("x-people-user-id", key.parse().unwrap());
        request
    };
    client.get_user(keyed(seed::USER_ID)).await.unwrap();
    let status = client.get_user(keyed(seed::ADMIN_ID)).await.unwrap_err();
    assert_status(&status, Code::InvalidArgument, "INVALID_REQUEST");
    assert_eq!(bad_fields(&status), ["x-people-user-id"]);
    assert_eq!(gateway.portal_requests().len(), 1);
}

#[tokio::test]
async fn watching_an_unknown_service_streams_service_unknown_and_stays_open() {
    let gateway = Gateway::workspace().await;
    let mut health = HealthClient::new(gateway.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect("the health protocol answers a watch of an unknown service")
        .into_inner();
    assert_eq!(next_status(&mut watch).await, ServingStatus::ServiceUnknown);
    // Check still answers NOT_FOUND, as the protocol says.
    let status = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn sync_users_is_labelled_a_bidirectional_stream() {
    let mut gateway = Gateway::workspace().await;
    let outcome = gateway.sync_users(seed::ADMIN_TOKEN, Vec::new()).await;
    assert!(outcome.ended.is_ok(), "{:?}", outcome.ended);
    let rendered = gateway.metrics.render();
    let labels = [("grpc_method", "SyncUsers"), ("grpc_type", "bidi_stream")];
    assert_eq!(
        sample(&rendered, "grpc_server_started_total", &labels),
        Some(1.0),
        "{rendered}"
    );
}

/// A browser's CORS preflight for a gRPC-Web call from `origin`.
async fn preflight(gateway: &Gateway, origin: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap()
        .request(
            reqwest::Method::OPTIONS,
            format!(
                "http://{}/onlyoffice.people.v1.PeopleService/GetUser",
                gateway.addr
            ),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn browsers_from_allowed_origins_pass_the_cors_preflight_and_no_others() {
    const APP: &str = "https://app.example.com";
    let mut options = Options::new(Product::Workspace);
    options.serve.grpc_web = true;
    options.serve.grpc_web_allow_origins = vec![APP.parse().unwrap()];
    let gateway = Gateway::start(options).await;

    let allowed = preflight(&gateway, APP).await;
    assert!(allowed.status().is_success(), "{allowed:?}");
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], APP);
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    for needed in ["content-type", "x-grpc-web", "authorization"] {
        assert!(allowed_headers.contains(needed), "{allowed_headers}");
    }

    let elsewhere = preflight(&gateway, "https://evil.example").await;
    assert!(
        !elsewhere
            .headers()
            .contains_key("access-control-allow-origin"),
        "{elsewhere:?}"
    );

    // The call itself shows the browser its status.
    let answer = grpc_web_get_user(&gateway, Some(APP)).await;
    assert_eq!(answer.headers()["access-control-allow-origin"], APP);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("grpc-status"), "{exposed}");
    // Preflights are no calls: only the one GetUser is counted.
    assert_eq!(
        sample(
            &gateway.metrics.render(),
            "grpc_server_started_total",
            &[("grpc_method", "GetUser")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn without_allowed_origins_a_preflight_is_refused() {
    let mut options = Options::new(Product::Workspace);
    options.serve.grpc_web = true;
    let gateway = Gateway::start(options).await;
    let refused = preflight(&gateway, "https://app.example.com").await;
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn calls_ended_by_deadline_or_cancel_leave_the_in_flight_gauge_and_are_counted() {
    let gateway = Gateway::workspace().await;
    gateway.sim.hold_requests();
    let handled = |code: &str| {
        sample(
            &gateway.metrics.render(),
            "grpc_server_handled_total",
            &[("grpc_method", "GetUser"), ("grpc_code", code)],
        )
        .unwrap_or(0.0)
    };
    // Twenty calls a tonic client drops while their reads are at the portal.
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let mut client = gateway.client.clone();
            tokio::spawn(async move {
                client
                    .get_user(as_user(
                        seed::ADMIN_TOKEN,
                        pb::GetUserRequest {
                            user_id: seed::USER_ID.into(),
                        },
                    ))
                    .await
            })
        })
        .collect();
    until("twenty calls in flight", || {
        sample(
            &gateway.metrics.render(),
            "people_gateway_calls_in_flight",
            &[],
        ) == Some(20.0)
    })
    .await;
    for call in &calls {
        call.abort();
    }
    until("every dropped call counted as cancelled", || {
        handled("Canceled") == 20.0
    })
    .await;
    // Twenty more whose deadline passes at the stalled portal, over a
    // connection that is then closed.
    let mut raw = raw_client(&gateway).await;
    let mut answers = Vec::new();
    for _ in 0..20 {
        let (response, mut body) = raw
            .send_request(call_head(&gateway, "GetUser", Some("200m")), false)
            .unwrap();
        let request = pb::GetUserRequest {
            user_id: seed::USER_ID.into(),
        };
        body.send_data(grpc_frame(&request), true).unwrap();
        answers.push(grpc_status(response));
        raw = raw.ready().await.unwrap();
    }
    for answer in answers {
        assert_eq!(answer.await.0, tonic::Code::DeadlineExceeded);
    }
    drop(raw);
    until("every call out of the gauge", || {
        sample(
            &gateway.metrics.render(),
            "people_gateway_calls_in_flight",
            &[],
        ) == Some(0.0)
    })
    .await;
    assert_eq!(handled("DeadlineExceeded"), 20.0);
    gateway.sim.release_requests();
}

fn metrics_port_limits(idle_timeout: Duration) -> people_gateway::connections::ConnectionLimits {
    people_gateway::connections::ConnectionLimits {
        max_connections: 4,
        idle_timeout,
    }
}

/// Reads until the peer closes; `false` when it is still open after `patience`.
async fn closed_within(stream: &mut tokio::net::TcpStream, patience: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(patience, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn the_metrics_port_closes_silent_and_dribbling_connections_and_caps_them() {
    use tokio::io::AsyncWriteExt as _;
    let gateway = Gateway::workspace().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let idle = Duration::from_millis(500);
    tokio::spawn(serve_metrics(
        listener,
        gateway.metrics.clone(),
        metrics_port_limits(idle),
        std::future::pending(),
    ));
    // Four silent connections take every place; a fifth waits in the backlog.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    let scrape = tokio::spawn(async move {
        reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    // The silent ones are closed within the idle timeout, and the scrape is then served.
    for stream in &mut silent {
        assert!(
            closed_within(stream, idle * 10).await,
            "a silent connection stayed open"
        );
    }
    assert!(scrape.await.unwrap().contains("people_gateway_shed_total"));

    // A request head sent a byte at a time is cut off too.
    let mut dribbling = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = b"GET /metrics HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = std::time::Instant::now();
    let mut cut = false;
    for byte in head {
        if dribbling.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        if closed_within(&mut dribbling, idle / 5).await {
            cut = true;
            break;
        }
    }
    assert!(cut, "a dribbled head was read to its end");
    assert!(
        started.elapsed() < idle * 10,
        "cut after {:?}",
        started.elapsed()
    );
}
