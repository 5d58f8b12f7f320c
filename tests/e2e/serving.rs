//! Serving concerns: credentials from metadata, health, reflection (v1 and
//! v1alpha, including the error detail types), and graceful shutdown.

use std::time::Duration;

use people_gateway::domain::{Product, ProductChoice};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::harness::*;

fn get_self() -> pb::GetUserRequest {
    pb::GetUserRequest {
        user_id: "@self".into(),
    }
}

#[tokio::test]
async fn the_asc_auth_key_cookie_is_forwarded_as_the_only_cookie() {
    let mut gateway = Gateway::workspace().await;
    let mut request = Request::new(get_self());
    request.metadata_mut().insert(
        "cookie",
        format!("theme=dark; asc_auth_key={}; other=1", seed::USER_TOKEN)
            .parse()
            .unwrap(),
    );
    let me = gateway.client.get_user(request).await.unwrap().into_inner();
    assert_eq!(me.id, seed::USER_ID);
    let received = &gateway.portal_requests()[0];
    assert_eq!(
        received.header("cookie"),
        Some(format!("asc_auth_key={}", seed::USER_TOKEN).as_str())
    );
    assert_eq!(received.header("authorization"), None);
}

#[tokio::test]
async fn without_credentials_the_configured_token_is_used() {
    let mut options = Options::new(Product::Workspace);
    options.fallback_token = Some(seed::USER_TOKEN);
    let mut gateway = Gateway::start(options).await;
    let me = gateway
        .client
        .get_user(Request::new(get_self()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.id, seed::USER_ID);
    assert_eq!(
        gateway.portal_requests()[0].header("authorization"),
        Some(seed::USER_TOKEN)
    );
    // A caller's own credential wins over the configured one.
    let admin = gateway
        .get_user(seed::ADMIN_TOKEN, get_self())
        .await
        .unwrap();
    assert_eq!(admin.id, seed::ADMIN_ID);
}

#[tokio::test]
async fn without_any_credential_the_portal_is_not_called() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .client
        .get_user(Request::new(get_self()))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
    assert!(gateway.portal_requests().is_empty());
}

#[tokio::test]
async fn credentials_with_control_characters_are_rejected_and_never_echoed() {
    let mut gateway = Gateway::workspace().await;
    let mut request = Request::new(get_self());
    request
        .metadata_mut()
        .insert("authorization", "secret\tvalue".parse().unwrap());
    let status = gateway.client.get_user(request).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, "MALFORMED_CREDENTIALS");
    assert!(!format!("{status:?}").contains("secret"));
    assert!(gateway.portal_requests().is_empty());
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_service() {
    let gateway = Gateway::workspace().await;
    let mut health = HealthClient::new(gateway.channel.clone());
    for service in ["", "onlyoffice.people.v1.PeopleService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_service_and_resolve_error_details() {
    use tonic_reflection::pb::{v1, v1alpha};

    let gateway = Gateway::workspace().await;

    let mut v1_client =
        v1::server_reflection_client::ServerReflectionClient::new(gateway.channel.clone());
    let requests = vec![
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "google.rpc.ErrorInfo".into(),
                ),
            ),
        },
    ];
    let mut answers = v1_client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"onlyoffice.people.v1.PeopleService"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let error_info = answers.message().await.unwrap().unwrap();
    assert!(
        matches!(
            error_info.message_response,
            Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
        ),
        "google.rpc.ErrorInfo not resolvable: {error_info:?}"
    );

    let mut alpha =
        v1alpha::server_reflection_client::ServerReflectionClient::new(gateway.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = alpha
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a service list, got {listed:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "onlyoffice.people.v1.PeopleService")
    );
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_call_finish() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .sim
        .push_fault(Fault::Delay(Duration::from_millis(300)));
    let mut client = gateway.client.clone();
    let call = tokio::spawn(async move {
        client
            .get_user(as_user(seed::ADMIN_TOKEN, get_self()))
            .await
    });
    // Wait until the call has reached the portal, so it is truly in flight.
    until("the call reaches the portal", || {
        !gateway.portal_requests().is_empty()
    })
    .await;
    let server = gateway.shut_down();
    let answer = call.await.unwrap();
    assert_eq!(answer.unwrap().into_inner().id, seed::ADMIN_ID);
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn calls_still_running_after_the_grace_period_get_shutting_down() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.hold_requests();
    let mut client = gateway.client.clone();
    let call = tokio::spawn(async move {
        client
            .get_user(as_user(seed::ADMIN_TOKEN, get_self()))
            .await
    });
    until("the call reaches the portal", || {
        !gateway.portal_requests().is_empty()
    })
    .await;
    let stopper = gateway.stopper.clone();
    let server = gateway.shut_down();
    let drained = people_gateway::server::run::drain(
        async { server.await.expect("server task") },
        Duration::from_millis(100),
        &stopper,
    )
    .await;
    assert!(
        matches!(
            drained,
            Err(people_gateway::server::ServeError::CallsDropped(1))
        ),
        "{drained:?}"
    );
    let status = call.await.unwrap().unwrap_err();
    assert_status(&status, Code::Unavailable, "SHUTTING_DOWN");
}

#[tokio::test]
async fn auto_detection_uses_each_products_own_routes() {
    for product in [Product::Workspace, Product::Docspace] {
        let mut options = Options::new(product);
        options.gateway_product = Some(ProductChoice::Auto);
        let mut gateway = Gateway::start(options).await;
        for n in 0..2 {
            gateway
                .set_contacts(
                    seed::USER_TOKEN,
                    pb::SetContactsRequest {
                        user_id: "@self".into(),
                        contacts: vec![contact("icq", &n.to_string())],
                        spam: (product == Product::Docspace).then_some(true),
                    },
                )
                .await
                .unwrap();
        }
        let puts: Vec<String> = gateway
            .portal_requests_of("PUT")
            .into_iter()
            .map(|request| request.path)
            .collect();
        let expected = match product {
            Product::Workspace => format!("/api/2.0/people/{}/contacts", seed::USER_ID),
            Product::Docspace => format!("/api/2.0/people/{}", seed::USER_ID),
        };
        assert_eq!(puts, [expected.clone(), expected], "{product}");
        let gets = gateway.portal_requests_of("GET");
        let build_probes: Vec<_> = gets
            .iter()
            .filter(|request| request.path == BUILD_PATH)
            .collect();
        assert_eq!(build_probes.len(), 1, "{product}: asked once");
        assert_eq!(
            build_probes[0].header("authorization"),
            None,
            "{product}: the build endpoint needs no credential"
        );
        let self_reads = gets
            .iter()
            .filter(|request| request.path.ends_with("@self"))
            .count();
        assert_eq!(self_reads, 2, "{product}: one @self lookup per call");
    }
}

#[tokio::test]
async fn format_suffix_names_are_refused_before_the_product_is_known() {
    let mut options = Options::new(Product::Workspace);
    options.gateway_product = Some(ProductChoice::Auto);
    let mut gateway = Gateway::start(options).await;
    let status = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "mike.json".into(),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "INVALID_REQUEST");
    assert!(gateway.portal_requests().is_empty());
}
