//! The gateway against a hostile portal and hostile callers: every answer is
//! a clear gRPC status, nothing is lost, nothing is leaked, and no one caller
//! takes the gateway down for the others.

use std::time::Duration;

use bytes::Bytes;

use people_gateway::domain::Product;
use tonic::Code;

use crate::harness::*;
use crate::hostile_portal::{HostilePortal, Misbehaviour};
use tonic_types::StatusExt as _;

async fn gateway_in_front_of(
    portal: &HostilePortal,
    configure: impl FnOnce(&mut Options),
) -> Gateway {
    let mut options = Options::new(Product::Workspace);
    options.portal_url = Some(portal.url());
    options.portal_timeout = Duration::from_secs(5);
    configure(&mut options);
    Gateway::start(options).await
}

fn get_by_guid() -> pb::GetUserRequest {
    pb::GetUserRequest {
        user_id: seed::USER_ID.into(),
    }
}

#[tokio::test]
async fn an_endless_or_huge_portal_answer_is_a_bad_response() {
    for misbehaviour in [Misbehaviour::EndlessBody, Misbehaviour::HugeContentLength] {
        let portal = HostilePortal::start(misbehaviour.clone()).await;
        let mut gateway = gateway_in_front_of(&portal, |options| {
            options.portal_max_body = 64 * 1024;
        })
        .await;
        let status = gateway
            .get_user(seed::ADMIN_TOKEN, get_by_guid())
            .await
            .unwrap_err();
        // Not a timeout: the read stops at the cap, long before the portal timeout.
        assert_status(&status, Code::Internal, "PORTAL_BAD_RESPONSE");
        assert_eq!(
            status.message(),
            "portal answer could not be read",
            "{misbehaviour:?}"
        );
    }
}

#[tokio::test]
async fn a_stalled_body_is_a_timeout() {
    let portal = HostilePortal::start(Misbehaviour::StalledBody).await;
    let mut gateway = gateway_in_front_of(&portal, |options| {
        options.portal_timeout = Duration::from_millis(300);
    })
    .await;
    let status = gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap_err();
    assert_status(&status, Code::DeadlineExceeded, "PORTAL_TIMEOUT");
}

#[tokio::test]
async fn an_unreadable_head_is_a_bad_response_not_unavailable() {
    for misbehaviour in [
        Misbehaviour::GarbageHead,
        Misbehaviour::HugeHeader,
        Misbehaviour::ManyHeaders,
    ] {
        let portal = HostilePortal::start(misbehaviour.clone()).await;
        let mut gateway = gateway_in_front_of(&portal, |_| {}).await;
        let status = gateway
            .get_user(seed::ADMIN_TOKEN, get_by_guid())
            .await
            .unwrap_err();
        assert_eq!(
            (status.code(), reason(&status)),
            (Code::Internal, "PORTAL_BAD_RESPONSE".to_owned()),
            "{misbehaviour:?}: {status:?}"
        );
        // A bad answer is no reason to ask again.
        assert_eq!(portal.requests().len(), 1, "{misbehaviour:?}");
        // No reqwest or hyper internals reach the caller.
        assert!(!status.message().contains("hyper"), "{status:?}");
    }
}

#[tokio::test]
async fn another_users_record_is_never_written_onto_the_target() {
    let portal = HostilePortal::start(Misbehaviour::AnotherUser(seed::GUEST_ID)).await;
    let mut gateway = gateway_in_front_of(&portal, |_| {}).await;
    let status = gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("telegram", "@mike")],
                spam: None,
            },
        )
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "PORTAL_ANSWERED_FOR_ANOTHER_USER",
    );
    let requests = portal.requests();
    assert!(
        requests.iter().all(|line| line.starts_with("GET ")),
        "{requests:?}"
    );

    let status = gateway
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
    assert_status(
        &status,
        Code::FailedPrecondition,
        "PORTAL_ANSWERED_FOR_ANOTHER_USER",
    );
    let status = gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        portal
            .requests()
            .iter()
            .all(|line| line.starts_with("GET "))
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let portal = HostilePortal::start(Misbehaviour::Redirect).await;
    let mut gateway = gateway_in_front_of(&portal, |_| {}).await;
    let status = gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "PORTAL_REDIRECTED");
    assert_eq!(portal.requests().len(), 1);
}

#[tokio::test]
async fn a_read_answered_503_is_tried_again_and_a_write_is_not() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .sim
        .push_fault_on("GET", Fault::Html { status: 503 });
    let user = gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap();
    assert_eq!(user.id, seed::USER_ID);
    let gets = gateway.portal_requests_of("GET");
    assert_eq!(gets.len(), 2);
    // The attempt tried again carries every header the first one did: the
    // caller's credential, the request id, and the same trace, with a span
    // id of its own (it is another request; W3C Trace Context's parent-id
    // names the request).
    for name in ["authorization", "accept", "x-request-id"] {
        let first = gets[0].header(name);
        assert!(first.is_some(), "the first attempt has no {name}");
        assert_eq!(
            gets[1].header(name),
            first,
            "{name} differs when tried again"
        );
    }
    let trace_of = |get: &portal_sim::RecordedRequest| {
        let traceparent = get.header("traceparent").expect("a traceparent");
        let parts: Vec<String> = traceparent.split('-').map(str::to_owned).collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        (parts[1].clone(), parts[3].clone())
    };
    assert_eq!(
        trace_of(&gets[1]),
        trace_of(&gets[0]),
        "another trace when tried again"
    );
    assert!(
        gets.iter().all(|get| get.header("content-type").is_none()),
        "a GET has no body, so no Content-Type"
    );

    gateway.sim.clear_requests();
    gateway
        .sim
        .push_fault_on("PUT", Fault::Html { status: 503 });
    let status = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("mail", "mike@example.com")],
                spam: None,
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::Unavailable, "PORTAL_UNAVAILABLE");
    assert_eq!(
        gateway.portal_requests_of("PUT").len(),
        1,
        "a write may have landed"
    );
}

#[tokio::test]
async fn client_errors_are_never_tried_again() {
    let mut gateway = Gateway::workspace().await;
    for status in [404, 429] {
        gateway.sim.clear_requests();
        gateway.sim.push_fault_on(
            "GET",
            Fault::PortalError {
                status,
                message: "no".into(),
            },
        );
        let _ = gateway
            .get_user(seed::ADMIN_TOKEN, get_by_guid())
            .await
            .unwrap_err();
        assert_eq!(gateway.portal_requests_of("GET").len(), 1, "{status}");
    }
}

fn unavailable_for(seconds: &str) -> Fault {
    Fault::Respond {
        status: 503,
        content_type: Some("text/html".into()),
        body: "<html>busy</html>".into(),
        headers: vec![("Retry-After".into(), seconds.into())],
    }
}

#[tokio::test]
async fn retry_after_is_honoured_only_within_the_deadline_and_clamped_for_callers() {
    let mut gateway = Gateway::workspace().await;
    // A short wait fits the caller's deadline: asked again, and it works.
    gateway.sim.push_fault_on("GET", unavailable_for("1"));
    let mut request = as_user(seed::ADMIN_TOKEN, get_by_guid());
    request.set_timeout(PATIENCE);
    gateway.client.get_user(request).await.unwrap();
    assert_eq!(gateway.portal_requests_of("GET").len(), 2);

    // A wait of years fits no deadline: the caller hears at once, with a bounded hint.
    gateway.sim.clear_requests();
    gateway
        .sim
        .push_fault_on("GET", unavailable_for("99999999"));
    let mut request = as_user(seed::ADMIN_TOKEN, get_by_guid());
    request.set_timeout(Duration::from_secs(10));
    let status = gateway.client.get_user(request).await.unwrap_err();
    assert_status(&status, Code::Unavailable, "PORTAL_UNAVAILABLE");
    assert_eq!(gateway.portal_requests_of("GET").len(), 1);
    let hint = status
        .get_error_details()
        .retry_info()
        .and_then(|info| info.retry_delay);
    assert_eq!(hint, Some(Duration::from_secs(300)));
}

#[tokio::test]
async fn a_write_whose_deadline_has_passed_is_never_started() {
    let gateway = Gateway::workspace().await;
    let mut client = gateway.client.clone();
    let mut request = as_user(
        seed::ADMIN_TOKEN,
        pb::SetContactsRequest {
            user_id: seed::USER_ID.into(),
            contacts: vec![contact("mail", "x@example.com")],
            spam: None,
        },
    );
    request.set_timeout(Duration::from_nanos(1));
    let status = client.set_contacts(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    gateway.writes_settled().await;
    assert!(gateway.portal_requests().is_empty());
    assert_eq!(
        pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts).len(),
        3
    );
}

#[tokio::test]
async fn a_write_waiting_for_its_lock_past_the_deadline_is_never_sent() {
    let gateway = Gateway::workspace().await;
    // The first write holds mike's lock while its read takes a second; a
    // second read, should the second write ever get that far, too.
    for _ in 0..2 {
        gateway
            .sim
            .push_fault_on("GET", Fault::Delay(Duration::from_secs(1)));
    }
    let first = tokio::spawn({
        let mut client = gateway.client.clone();
        async move {
            client
                .update_contacts(as_user(
                    seed::ADMIN_TOKEN,
                    pb::UpdateContactsRequest {
                        user_id: seed::USER_ID.into(),
                        contacts: vec![contact("telegram", "@first")],
                        spam: None,
                    },
                ))
                .await
        }
    });
    until("the first write reads", || {
        !gateway.portal_requests().is_empty()
    })
    .await;
    let mut request = as_user(
        seed::ADMIN_TOKEN,
        pb::UpdateContactsRequest {
            user_id: seed::USER_ID.into(),
            contacts: vec![contact("telegram", "@second")],
            spam: None,
        },
    );
    request.set_timeout(Duration::from_millis(200));
    let mut client = gateway.client.clone();
    let status = client.update_contacts(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    first.await.unwrap().unwrap();
    gateway.writes_settled().await;
    assert_eq!(gateway.portal_requests_of("PUT").len(), 1);
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    assert!(stored.contains(&("telegram".into(), "@first".into())));
    assert!(!stored.contains(&("telegram".into(), "@second".into())));
}

#[tokio::test]
async fn beyond_max_concurrency_calls_are_shed_at_once_and_health_still_answers() {
    let mut options = Options::new(Product::Workspace);
    options.serve.max_concurrency = 2;
    let gateway = Gateway::start(options).await;
    gateway.sim.hold_requests();
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let mut client = gateway.client.clone();
            tokio::spawn(async move {
                client
                    .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
                    .await
            })
        })
        .collect();
    until("two calls are in flight", || {
        gateway.portal_requests().len() == 2
    })
    .await;

    let mut client = gateway.client.clone();
    let status = client
        .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
        .await
        .unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "OVERLOADED");
    let mut health = tonic_health::pb::health_client::HealthClient::new(gateway.channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    gateway.sim.release_requests();
    for call in slow {
        call.await.unwrap().unwrap();
    }
    // The slots are free again.
    client
        .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_oversized_message_is_resource_exhausted_and_the_connection_lives_on() {
    let mut options = Options::new(Product::Workspace);
    options.serve.max_message_size = 4 * 1024;
    let mut gateway = Gateway::start(options).await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                comment: Some("x".repeat(8 * 1024)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(gateway.portal_requests().is_empty());
    gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap();
}

#[tokio::test]
async fn oversized_metadata_fails_that_call_only() {
    let mut gateway = Gateway::workspace().await;
    let innocent = tokio::spawn({
        let mut client = gateway.client.clone();
        async move {
            for _ in 0..10 {
                client
                    .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
                    .await?;
            }
            Ok::<_, tonic::Status>(())
        }
    });
    let mut request = as_user(seed::ADMIN_TOKEN, get_by_guid());
    request
        .metadata_mut()
        .insert("x-padding", "p".repeat(64 * 1024).parse().unwrap());
    let status = gateway.client.get_user(request).await.unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "METADATA_TOO_LARGE");
    innocent.await.unwrap().unwrap();
    gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap();
}

#[tokio::test]
async fn unusable_credentials_are_refused_not_replaced_by_the_configured_token() {
    let mut options = Options::new(Product::Workspace);
    options.fallback_token = Some(seed::ADMIN_TOKEN);
    let mut gateway = Gateway::start(options).await;
    let cookie = |text: &str| {
        let mut request = tonic::Request::new(get_by_guid());
        request
            .metadata_mut()
            .insert("cookie", text.parse().unwrap());
        request
    };
    for request in [
        cookie("ASC_AUTH_KEY=t"),
        cookie("asc_auth_key"),
        cookie("asc_auth_key=a; asc_auth_key=b"),
        // Near misses: none is the portal's cookie, so none may act as the configured token.
        cookie("asc_auth_key:user-tok"),
        cookie("x=1, asc_auth_key=user-tok"),
        cookie("asc_auth_key%3Duser-tok"),
        cookie("asc-auth-key=user-tok"),
        cookie(";;;"),
        cookie("theme=dark; lang=en"),
        {
            let mut request = tonic::Request::new(get_by_guid());
            request
                .metadata_mut()
                .insert("cookie", tonic::metadata::MetadataValue::from_static(""));
            request
        },
        {
            let mut request = tonic::Request::new(get_by_guid());
            request.metadata_mut().insert_bin(
                "authorization-bin",
                tonic::metadata::MetadataValue::from_bytes(b"t"),
            );
            request
        },
        {
            let mut request = tonic::Request::new(get_by_guid());
            request
                .metadata_mut()
                .append("authorization", "a".parse().unwrap());
            request
                .metadata_mut()
                .append("authorization", "b".parse().unwrap());
            request
        },
    ] {
        let label = format!("{:?}", request.metadata());
        let status = gateway.client.get_user(request).await.unwrap_err();
        assert_status(&status, Code::Unauthenticated, "MALFORMED_CREDENTIALS");
        assert!(gateway.portal_requests().is_empty(), "{label}");
    }
    // Only a call with no credential-like metadata at all acts as the configured token.
    let user = gateway
        .client
        .get_user(tonic::Request::new(get_by_guid()))
        .await
        .unwrap();
    assert_eq!(user.into_inner().id, seed::USER_ID);
    assert_eq!(
        gateway.portal_requests()[0].header("authorization"),
        Some(seed::ADMIN_TOKEN)
    );
}

#[tokio::test]
async fn thousands_of_idle_connections_leave_calls_working() {
    let mut gateway = Gateway::workspace().await;
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(tokio::net::TcpStream::connect(gateway.addr).await.unwrap());
    }
    // A new connection, not the harness's warm one.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gateway.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut fresh = pb::people_service_client::PeopleServiceClient::new(channel);
    fresh
        .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
        .await
        .unwrap();
    gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap();
    drop(idle);
}

#[tokio::test]
async fn silent_connections_are_closed_and_free_their_slots() {
    use tokio::io::AsyncReadExt as _;
    let mut options = Options::new(Product::Workspace);
    options.serve.connections.max_connections = 20;
    // Long enough for a real call's portal round trip on a busy machine.
    options.serve.connections.idle_timeout = Duration::from_secs(1);
    let gateway = Gateway::start(options).await;
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(tokio::net::TcpStream::connect(gateway.addr).await.unwrap());
    }
    // Every slot is taken by a silent client; a real one still gets through
    // once the silent ones are closed.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gateway.addr))
        .unwrap()
        .connect_timeout(PATIENCE)
        .timeout(PATIENCE)
        .http2_keep_alive_interval(Duration::from_millis(100))
        .connect_lazy();
    let mut fresh = pb::people_service_client::PeopleServiceClient::new(channel);
    fresh
        .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
        .await
        .unwrap();
    // The first silent client was closed by the gateway: it reads the server's
    // HTTP/2 preface (SETTINGS), then the end of the stream.
    let mut buffer = vec![0; 4096];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match idle[0].read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent connection stayed open");
}

#[tokio::test]
async fn https_against_a_plain_http_port_says_so() {
    let mut options = Options::new(Product::Workspace);
    let sim = portal_sim::Simulator::start(portal_sim::Product::Workspace)
        .await
        .unwrap();
    options.portal_url = Some(format!("https://{}/", sim.addr()).parse().unwrap());
    let mut gateway = Gateway::start(options).await;
    let status = gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap_err();
    assert_status(&status, Code::Unavailable, "PORTAL_NOT_TLS");
    assert!(status.message().contains("use http://"), "{status:?}");
}

#[tokio::test]
async fn a_call_without_credentials_is_told_how_to_send_one() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .client
        .get_user(tonic::Request::new(get_by_guid()))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
    for hint in ["authorization", "asc_auth_key", "--portal-token"] {
        assert!(status.message().contains(hint), "{status:?}");
    }
}

#[tokio::test]
async fn portal_requests_never_exceed_the_connection_cap_and_a_waiting_call_keeps_its_deadline() {
    let mut options = Options::new(Product::Workspace);
    options.portal_max_connections = 2;
    let gateway = Gateway::start(options).await;
    gateway.sim.hold_requests();
    let calls: Vec<_> = (0..6)
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
    until("two requests at the portal", || {
        gateway.sim.in_flight() == 2
    })
    .await;
    // Another caller waits for a connection, and gives up at its deadline.
    let mut late = as_user(
        seed::ADMIN_TOKEN,
        pb::GetUserRequest {
            user_id: seed::USER_ID.into(),
        },
    );
    late.set_timeout(Duration::from_millis(200));
    let status = gateway.client.clone().get_user(late).await.unwrap_err();
    // Whichever side notices the deadline first ends the call.
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    assert_eq!(
        gateway.sim.requests().len(),
        2,
        "a request went past the cap"
    );
    gateway.sim.release_requests();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(gateway.sim.peak_in_flight(), 2);
    // The six callers that waited got their answers; the one that left sent nothing.
    assert_eq!(gateway.sim.requests().len(), 6);
}

#[tokio::test]
async fn requests_that_never_finish_hold_no_slot_and_end_in_time() {
    let mut options = Options::new(Product::Workspace);
    options.serve.max_concurrency = 4;
    options.serve.receive_timeout = Duration::from_secs(5);
    let mut gateway = Gateway::start(options).await;
    let mut raw = raw_client(&gateway).await;
    // Twelve calls send their headers and the start of a message, then nothing.
    let mut unfinished = Vec::new();
    for _ in 0..12 {
        let (response, mut body) = raw
            .send_request(call_head(&gateway, "GetUser", None), false)
            .unwrap();
        body.send_data(Bytes::from_static(&[0, 0, 0, 0, 40, 10]), false)
            .unwrap();
        unfinished.push((response, body));
        raw = raw.ready().await.unwrap();
    }
    // A normal call is served meanwhile: the unfinished ones hold no slot.
    let started = std::time::Instant::now();
    gateway
        .get_user(seed::ADMIN_TOKEN, get_by_guid())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    // Each unfinished one is answered once its time is up.
    for (response, _body) in unfinished {
        let (code, message) = grpc_status(response).await;
        assert_eq!(code, Code::DeadlineExceeded, "{message}");
        let message = message.replace("%20", " ");
        assert!(message.contains("did not arrive in full"), "{message}");
    }
    assert!(gateway.portal_requests_of("GET").len() <= 2);
}

#[tokio::test]
async fn an_endless_grpc_web_request_is_refused_at_the_message_limit() {
    let mut options = Options::new(Product::Workspace);
    options.serve.grpc_web = true;
    options.serve.max_message_size = 64 * 1024;
    let gateway = Gateway::start(options).await;
    // A chunked body that would never end: the gateway answers once it passes the limit.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /onlyoffice.people.v1.PeopleService/GetUser HTTP/1.1\r\nhost: {}\r\n\
         content-type: application/grpc-web+proto\r\nauthorization: {}\r\n\
         transfer-encoding: chunked\r\n\r\n",
        gateway.addr,
        seed::ADMIN_TOKEN
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    // Well-formed GetUser messages, one after another without end: each fits
    // the limit, the request as a whole never ends.
    let one = grpc_frame(&get_by_guid());
    let messages: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * (0x4000 / one.len()))
        .collect();
    let mut chunk = format!("{:x}\r\n", messages.len()).into_bytes();
    chunk.extend_from_slice(&messages);
    chunk.extend_from_slice(b"\r\n");
    let step = messages.len();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&sent);
    let sender = tokio::spawn(async move {
        // At most 256 MiB, so a gateway that kept reading would fail the test, not hang it.
        while counted.load(std::sync::atomic::Ordering::Relaxed) < 256 * 1024 * 1024 {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
            counted.fetch_add(step, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // The answer comes while the body is still being sent.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                answer.extend_from_slice(&buffer[..read]);
                if String::from_utf8_lossy(&answer).contains("grpc-status") {
                    break;
                }
            }
        }
    }
    sender.abort();
    let total = sent.load(std::sync::atomic::Ordering::Relaxed);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("grpc-status: 8") || text.contains("grpc-status:8"),
        "{text}"
    );
    // Far less than the endless body: what the limit and the socket buffers hold.
    assert!(total < 64 * 1024 * 1024, "{total} bytes were taken");
}

#[tokio::test]
async fn a_portal_answering_garbage_heads_is_not_ready() {
    let portal = HostilePortal::start(Misbehaviour::GarbageHead).await;
    let gateway = gateway_in_front_of(&portal, |options| {
        options.portal_timeout = Duration::from_secs(1);
        options.serve.readiness_interval = Some(Duration::from_millis(200));
    })
    .await;
    // Several periodic probes have met the garbage.
    until("three probes answered with garbage", || {
        sample(
            &gateway.metrics.render(),
            "people_gateway_portal_requests_total",
            &[("endpoint", "probe"), ("status", "bad_response")],
        )
        .unwrap_or(0.0)
            >= 3.0
    })
    .await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(gateway.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
}

#[tokio::test]
async fn a_malformed_grpc_web_request_is_invalid_argument() {
    let mut options = Options::new(Product::Workspace);
    options.serve.grpc_web = true;
    let gateway = Gateway::start(options).await;
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    for (content_type, body) in [
        ("application/grpc-web-text", b"!!! not base64 !!!".to_vec()),
        // A frame flag that is neither data nor trailers.
        ("application/grpc-web+proto", vec![7, 0, 0, 0, 0]),
    ] {
        let response = http
            .post(format!(
                "http://{}/onlyoffice.people.v1.PeopleService/GetUser",
                gateway.addr
            ))
            .header("content-type", content_type)
            .header("authorization", seed::ADMIN_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let code = headers
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                text.lines()
                    .find_map(|line| line.trim().strip_prefix("grpc-status:"))
                    .map(|code| code.trim().to_owned())
            });
        assert_eq!(
            code.as_deref(),
            Some("3"),
            "{content_type}: {headers:?} {text}"
        );
    }
}

#[tokio::test]
async fn idle_connections_make_room_for_a_new_caller_and_a_probe() {
    let mut options = Options::new(Product::Workspace);
    options.serve.connections.max_connections = 8;
    // Far longer than the test: the silent ones are not closed for silence.
    options.serve.connections.idle_timeout = Duration::from_secs(600);
    let gateway = Gateway::start(options).await;
    // The harness's own connection carries a call waiting at a stalled
    // portal: quiet, but busy, so it is never the one closed.
    gateway.sim.hold_requests_of("GET");
    let mut client = gateway.client.clone();
    let busy = tokio::spawn(async move {
        client
            .get_user(as_user(seed::ADMIN_TOKEN, get_by_guid()))
            .await
    });
    until("the busy call is at the portal", || {
        gateway.sim.in_flight() == 1
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..7 {
        silent.push(tokio::net::TcpStream::connect(gateway.addr).await.unwrap());
    }
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gateway.addr))
        .unwrap()
        .connect_lazy();
    // A probe gets through once the quietest connection is closed for it.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let answered = tokio::time::timeout(
        Duration::from_secs(30),
        health.check(tonic_health::pb::HealthCheckRequest {
            service: "liveness".into(),
        }),
    )
    .await
    .expect("the probe waited for a silent connection to time out");
    assert_eq!(
        answered.unwrap().into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    gateway.sim.release_requests();
    let mut fresh = pb::people_service_client::PeopleServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", gateway.addr))
            .unwrap()
            .connect_lazy(),
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        fresh.get_user(as_user(seed::ADMIN_TOKEN, get_by_guid())),
    )
    .await
    .expect("a new caller waited for a silent connection to time out")
    .unwrap();
    // The busy call's connection was left alone.
    busy.await.unwrap().unwrap();
}
