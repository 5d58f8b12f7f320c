//! The status table: every portal failure the gateway knows, produced by the
//! simulator's faults over real HTTP, and what the caller gets for it.

use std::time::Duration;

use people_gateway::domain::Product;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::harness::*;

async fn get_mike(gateway: &mut Gateway) -> Result<pb::User, Status> {
    gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: seed::USER_ID.into(),
            },
        )
        .await
}

fn portal_error(status: u16, message: &str) -> Fault {
    Fault::PortalError {
        status,
        message: message.into(),
    }
}

fn plain(status: u16, content_type: Option<&str>, body: &str) -> Fault {
    Fault::Respond {
        status,
        content_type: content_type.map(Into::into),
        body: body.into(),
        headers: vec![],
    }
}

#[tokio::test]
async fn portal_statuses_map_to_grpc_codes() {
    let table: Vec<(Fault, Code, &str)> = vec![
        (
            portal_error(400, "Invalid arguments"),
            Code::InvalidArgument,
            "PORTAL_INVALID_ARGUMENT",
        ),
        (
            plain(401, Some("text/plain"), "Unauthorized"),
            Code::Unauthenticated,
            "PORTAL_UNAUTHENTICATED",
        ),
        (
            plain(401, None, ""),
            Code::Unauthenticated,
            "PORTAL_UNAUTHENTICATED",
        ),
        (
            plain(402, None, ""),
            Code::FailedPrecondition,
            "PORTAL_PAYMENT_REQUIRED",
        ),
        (
            portal_error(403, "Access denied"),
            Code::PermissionDenied,
            "PORTAL_PERMISSION_DENIED",
        ),
        (
            portal_error(404, "user not found"),
            Code::NotFound,
            "PORTAL_NOT_FOUND",
        ),
        (
            portal_error(409, "conflict"),
            Code::Aborted,
            "PORTAL_CONFLICT",
        ),
        (
            plain(415, None, ""),
            Code::Internal,
            "PORTAL_UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            portal_error(500, "Server error"),
            Code::Internal,
            "PORTAL_ERROR",
        ),
        (
            portal_error(500, "\"Mike\" access denied \"Edit user information\""),
            Code::PermissionDenied,
            "PORTAL_PERMISSION_DENIED",
        ),
        (
            portal_error(500, "The user is suspended"),
            Code::FailedPrecondition,
            "PORTAL_USER_SUSPENDED",
        ),
        (
            portal_error(501, "not implemented"),
            Code::Unimplemented,
            "PORTAL_UNIMPLEMENTED",
        ),
        (
            Fault::Html { status: 502 },
            Code::Unavailable,
            "PORTAL_UNAVAILABLE",
        ),
        (
            Fault::Html { status: 503 },
            Code::Unavailable,
            "PORTAL_UNAVAILABLE",
        ),
        (
            Fault::Html { status: 504 },
            Code::DeadlineExceeded,
            "PORTAL_TIMEOUT",
        ),
        (Fault::MalformedBody, Code::Internal, "PORTAL_BAD_RESPONSE"),
        (Fault::TruncatedBody, Code::Internal, "PORTAL_BAD_RESPONSE"),
    ];
    let mut gateway = Gateway::workspace().await;
    for (fault, code, expected_reason) in table {
        let label = format!("{fault:?}");
        // Reads are tried again after a 502, 503 or 504: every attempt fails here.
        let attempts = match fault {
            Fault::Html { status: 502..=504 } => READ_ATTEMPTS,
            _ => 1,
        };
        for _ in 0..attempts {
            gateway.sim.push_fault(fault.clone());
        }
        let status = get_mike(&mut gateway).await.expect_err(&label);
        assert_eq!(status.code(), code, "{label}: {status:?}");
        assert_eq!(reason(&status), expected_reason, "{label}");
        let info = status.get_error_details().error_info().cloned();
        assert_eq!(
            info.map(|info| info.domain),
            Some("people-gateway".into()),
            "{label}"
        );
    }
    // After the faults, the portal answers normally again.
    assert!(get_mike(&mut gateway).await.is_ok());
}

#[tokio::test]
async fn errors_carry_http_status_and_portal_message() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.push_fault(portal_error(404, "user not found"));
    let status = get_mike(&mut gateway).await.unwrap_err();
    assert_eq!(
        info_metadata(&status, "http_status").as_deref(),
        Some("404")
    );
    assert_eq!(
        info_metadata(&status, "portal_message").as_deref(),
        Some("user not found")
    );
    assert_eq!(status.message(), "portal: user not found");
}

#[tokio::test]
async fn rate_limits_carry_retry_after_as_retry_info() {
    let mut gateway = Gateway::docspace().await;
    gateway.sim.push_fault(Fault::Respond {
        status: 429,
        content_type: None,
        body: String::new(),
        headers: vec![("Retry-After".into(), "7".into())],
    });
    let status = get_mike(&mut gateway).await.unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "PORTAL_RATE_LIMITED");
    let retry = status.get_error_details().retry_info().cloned().unwrap();
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn real_unauthenticated_answers_of_both_products() {
    for product in [Product::Workspace, Product::Docspace] {
        let mut gateway = Gateway::start(Options::new(product)).await;
        let status = gateway
            .get_user(
                "not-a-token",
                pb::GetUserRequest {
                    user_id: "@self".into(),
                },
            )
            .await
            .unwrap_err();
        assert_status(&status, Code::Unauthenticated, "PORTAL_UNAUTHENTICATED");
        assert_eq!(
            info_metadata(&status, "http_status").as_deref(),
            Some("401")
        );
    }
}

#[tokio::test]
async fn a_slow_portal_is_deadline_exceeded() {
    let mut options = Options::new(Product::Workspace);
    options.portal_timeout = Duration::from_millis(200);
    let mut gateway = Gateway::start(options).await;
    gateway.sim.push_fault(Fault::Delay(Duration::from_secs(3)));
    let status = get_mike(&mut gateway).await.unwrap_err();
    assert_status(&status, Code::DeadlineExceeded, "PORTAL_TIMEOUT");
}

#[tokio::test]
async fn an_unreachable_portal_is_unavailable() {
    // A port that was free a moment ago and has no listener now.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut options = Options::new(Product::Workspace);
    options.portal_url = Some(format!("http://{closed}/").parse().unwrap());
    let mut gateway = Gateway::start(options).await;
    let status = get_mike(&mut gateway).await.unwrap_err();
    assert_status(&status, Code::Unavailable, "PORTAL_UNREACHABLE");
    // The transport's error chain stays in the log: it names hosts and internals.
    assert_eq!(status.message(), "portal unreachable");
}

#[tokio::test]
async fn a_failed_read_never_leads_to_a_write() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .sim
        .push_fault_on("GET", portal_error(500, "Server error"));
    let status = gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("icq", "1")],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::Internal, "PORTAL_ERROR");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn docspace_write_failures_map_like_reads() {
    let table: Vec<(Fault, Code, &str)> = vec![
        (
            portal_error(400, "Incorrect firstname or lastname"),
            Code::InvalidArgument,
            "PORTAL_INVALID_ARGUMENT",
        ),
        (
            plain(401, None, ""),
            Code::Unauthenticated,
            "PORTAL_UNAUTHENTICATED",
        ),
        (
            plain(402, None, ""),
            Code::FailedPrecondition,
            "PORTAL_PAYMENT_REQUIRED",
        ),
        (
            portal_error(403, "Access denied"),
            Code::PermissionDenied,
            "PORTAL_PERMISSION_DENIED",
        ),
        (
            plain(415, None, ""),
            Code::Internal,
            "PORTAL_UNSUPPORTED_MEDIA_TYPE",
        ),
        (portal_error(500, "boom"), Code::Internal, "PORTAL_ERROR"),
        (
            Fault::Html { status: 503 },
            Code::Unavailable,
            "PORTAL_UNAVAILABLE",
        ),
        (Fault::MalformedBody, Code::Internal, "PORTAL_BAD_RESPONSE"),
    ];
    let mut gateway = Gateway::docspace().await;
    for (fault, code, expected_reason) in table {
        let label = format!("{fault:?}");
        gateway.sim.push_fault_on("PUT", fault);
        let status = gateway
            .set_contacts(
                seed::USER_TOKEN,
                pb::SetContactsRequest {
                    user_id: "@self".into(),
                    contacts: vec![contact("icq", "1")],
                    spam: Some(true),
                },
            )
            .await
            .expect_err(&label);
        assert_eq!(status.code(), code, "{label}: {status:?}");
        assert_eq!(reason(&status), expected_reason, "{label}");
    }
}

#[tokio::test]
async fn docspace_real_refusals_come_through_with_their_messages() {
    let mut gateway = Gateway::docspace().await;
    // A non-owner admin may not touch the owner.
    let status = gateway
        .update_user(
            seed::SECOND_ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::ADMIN_ID.into(),
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PORTAL_PERMISSION_DENIED");
    assert_eq!(
        info_metadata(&status, "portal_message").as_deref(),
        Some("Access denied")
    );
    assert_eq!(gateway.sim.user(uuid(seed::ADMIN_ID)).unwrap().status, 1);

    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: "00000000-0000-0000-0000-0000000000ff".into(),
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "PORTAL_NOT_FOUND");
    assert_eq!(
        info_metadata(&status, "portal_message").as_deref(),
        Some("The user could not be found")
    );
}

#[tokio::test]
async fn workspace_bad_request_carries_the_portal_message() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .sim
        .push_fault_on("PUT", portal_error(400, "invalid date time format: x"));
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
    assert_status(&status, Code::InvalidArgument, "PORTAL_INVALID_ARGUMENT");
    assert_eq!(status.message(), "portal: invalid date time format: x");
}
