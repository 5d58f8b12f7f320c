//! Never a false OK: a portal that silently drops any one field never gets
//! an OK answered for a change to it, by a unary call or a SyncUsers item; a
//! change already in place sends no write; and a suspended Workspace user is
//! re-enabled through the status route, edits included, unless the portal
//! skips it.

use people_gateway::domain::{PortalVersion, Product};
use people_gateway::status::USER_TYPE_URL;
use prost::Message as _;
use tonic::{Code, Status};

use crate::harness::*;

type Operation = pb::sync_users_request::Operation;

/// The user the error's details carry, as the portal holds it.
fn held_user(details: &[prost_types::Any]) -> pb::User {
    let any = details
        .iter()
        .find(|detail| detail.type_url == USER_TYPE_URL)
        .expect("the details carry the user as held");
    pb::User::decode(any.value.as_slice()).unwrap()
}

fn details_of(status: &Status) -> Vec<prost_types::Any> {
    tonic_types::pb::Status::decode(status.details())
        .unwrap()
        .details
}

/// The PreconditionFailure violations' subjects.
fn violated(details: &[prost_types::Any]) -> Vec<String> {
    details
        .iter()
        .filter(|detail| detail.type_url.ends_with("google.rpc.PreconditionFailure"))
        .flat_map(|detail| {
            tonic_types::pb::PreconditionFailure::decode(detail.value.as_slice())
                .unwrap()
                .violations
        })
        .map(|violation| violation.subject)
        .collect()
}

fn reason_and_metadata(
    details: &[prost_types::Any],
) -> (String, std::collections::HashMap<String, String>) {
    let info = details
        .iter()
        .find(|detail| detail.type_url.ends_with("google.rpc.ErrorInfo"))
        .map(|detail| tonic_types::pb::ErrorInfo::decode(detail.value.as_slice()).unwrap())
        .expect("ErrorInfo");
    (info.reason, info.metadata)
}

fn date(year: i32, month: i32, day: i32) -> Option<pb::DateValue> {
    Some(pb::DateValue {
        date: Some(pb::Date { year, month, day }),
    })
}

/// One change per field, as `(contract field, the portal's parameter, the request)`.
fn workspace_changes() -> Vec<(&'static str, &'static str, pb::UpdateUserRequest)> {
    let mike = || pb::UpdateUserRequest {
        user_id: seed::USER_ID.into(),
        ..Default::default()
    };
    vec![
        (
            "first_name",
            "firstname",
            pb::UpdateUserRequest {
                first_name: Some("Michael".into()),
                ..mike()
            },
        ),
        (
            "last_name",
            "lastname",
            pb::UpdateUserRequest {
                last_name: Some("Zed".into()),
                ..mike()
            },
        ),
        (
            "comment",
            "comment",
            pb::UpdateUserRequest {
                comment: Some("a new note".into()),
                ..mike()
            },
        ),
        (
            "title",
            "title",
            pb::UpdateUserRequest {
                title: Some("Director".into()),
                ..mike()
            },
        ),
        (
            "location",
            "location",
            pb::UpdateUserRequest {
                location: Some("Riga".into()),
                ..mike()
            },
        ),
        (
            "sex",
            "sex",
            pb::UpdateUserRequest {
                sex: Some(pb::Sex::Female.into()),
                ..mike()
            },
        ),
        (
            "birthday",
            "birthday",
            pb::UpdateUserRequest {
                birthday: date(1990, 1, 2),
                ..mike()
            },
        ),
        (
            "works_from",
            "worksfrom",
            pb::UpdateUserRequest {
                works_from: date(2020, 3, 4),
                ..mike()
            },
        ),
        (
            "department_ids",
            "department",
            pb::UpdateUserRequest {
                department_ids: Some(pb::DepartmentIdList {
                    ids: vec![seed::SALES_GROUP_ID.into()],
                }),
                ..mike()
            },
        ),
        (
            "contacts",
            "contacts",
            pb::UpdateUserRequest {
                contacts: Some(pb::ContactList {
                    contacts: vec![contact("mail", "new@example.com")],
                }),
                ..mike()
            },
        ),
        (
            "avatar_url",
            "files",
            pb::UpdateUserRequest {
                avatar_url: Some("https://cdn.example.com/mike.png".into()),
                ..mike()
            },
        ),
        (
            "disabled",
            "disable",
            pb::UpdateUserRequest {
                disabled: Some(true),
                ..mike()
            },
        ),
        (
            "is_guest",
            "isVisitor",
            pb::UpdateUserRequest {
                is_guest: Some(true),
                ..mike()
            },
        ),
        (
            "lead_id",
            "lead",
            pb::UpdateUserRequest {
                lead_id: Some(seed::PEOPLE_ADMIN_ID.into()),
                ..mike()
            },
        ),
    ]
}

/// DocSpace: the owner's own profile fields, and the status fields of someone else.
fn docspace_changes() -> Vec<(&'static str, &'static str, pb::UpdateUserRequest)> {
    let own = || pb::UpdateUserRequest {
        user_id: "@self".into(),
        spam: Some(false),
        ..Default::default()
    };
    let mike = || pb::UpdateUserRequest {
        user_id: seed::USER_ID.into(),
        ..Default::default()
    };
    vec![
        (
            "first_name",
            "firstname",
            pb::UpdateUserRequest {
                first_name: Some("Janet".into()),
                ..own()
            },
        ),
        (
            "last_name",
            "lastname",
            pb::UpdateUserRequest {
                last_name: Some("Roe".into()),
                ..own()
            },
        ),
        (
            "comment",
            "comment",
            pb::UpdateUserRequest {
                comment: Some("a new note".into()),
                ..own()
            },
        ),
        (
            "location",
            "location",
            pb::UpdateUserRequest {
                location: Some("Tallinn".into()),
                ..own()
            },
        ),
        (
            "department_ids",
            "department",
            pb::UpdateUserRequest {
                department_ids: Some(pb::DepartmentIdList {
                    ids: vec![seed::SALES_GROUP_ID.into()],
                }),
                ..own()
            },
        ),
        (
            "contacts",
            "contacts",
            pb::UpdateUserRequest {
                contacts: Some(pb::ContactList {
                    contacts: vec![contact("mail", "new@example.com")],
                }),
                ..own()
            },
        ),
        (
            "avatar_url",
            "files",
            pb::UpdateUserRequest {
                avatar_url: Some("https://cdn.example.com/jane.png".into()),
                ..own()
            },
        ),
        (
            "disabled",
            "disable",
            pb::UpdateUserRequest {
                disabled: Some(true),
                ..mike()
            },
        ),
        (
            "is_guest",
            "isUser",
            pb::UpdateUserRequest {
                is_guest: Some(true),
                ..mike()
            },
        ),
    ]
}

/// For each field: with the portal dropping it, UpdateUser and the same
/// change as a SyncUsers item both answer PORTAL_IGNORED_CHANGE naming it,
/// with the user as stored; with the portal applying it, both answer OK.
async fn no_dropped_field_is_answered_ok(
    product: Product,
    changes: Vec<(&'static str, &'static str, pb::UpdateUserRequest)>,
) {
    for (field, parameter, request) in changes {
        let mut gateway = Gateway::start(Options::new(product)).await;
        gateway.sim.drop_updates_to(Some(parameter));
        let status = gateway
            .update_user(seed::ADMIN_TOKEN, request.clone())
            .await
            .expect_err(field);
        assert_status(&status, Code::FailedPrecondition, "PORTAL_IGNORED_CHANGE");
        let details = details_of(&status);
        assert_eq!(violated(&details), [field], "{product:?}");
        let (_, metadata) = reason_and_metadata(&details);
        assert_eq!(metadata["ignored_fields"], field);
        let held = held_user(&details);
        let fresh = gateway
            .get_user(
                seed::ADMIN_TOKEN,
                pb::GetUserRequest {
                    user_id: held.id.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(held, fresh, "{field}: the details carry the user as stored");
        let ignored = sample(
            &gateway.metrics.render(),
            "people_gateway_portal_ignored_changes_total",
            &[("field", field)],
        );
        assert_eq!(ignored, Some(1.0), "{field}");

        let outcome = gateway
            .sync_users(
                seed::ADMIN_TOKEN,
                vec![pb::SyncUsersRequest {
                    item_id: field.into(),
                    operation: Some(Operation::UpdateUser(request.clone())),
                }],
            )
            .await;
        match outcome.by_id().remove(field) {
            Some(pb::sync_users_response::Result::Error(status)) => {
                let (reason, _) = reason_and_metadata(&status.details);
                assert_eq!(reason, "PORTAL_IGNORED_CHANGE", "{field}");
                assert_eq!(violated(&status.details), [field]);
                held_user(&status.details);
            }
            other => panic!("{field}: a dropped change answered {other:?}"),
        }

        // The same change, applied, is OK.
        gateway.sim.drop_updates_to(None);
        gateway
            .update_user(seed::ADMIN_TOKEN, request)
            .await
            .unwrap_or_else(|status| panic!("{field}: {status:?}"));
    }
}

#[tokio::test]
async fn workspace_never_answers_ok_for_a_dropped_field() {
    no_dropped_field_is_answered_ok(Product::Workspace, workspace_changes()).await;
}

#[tokio::test]
async fn docspace_never_answers_ok_for_a_dropped_field() {
    no_dropped_field_is_answered_ok(Product::Docspace, docspace_changes()).await;
}

#[tokio::test]
async fn dropped_contact_edits_are_never_ok() {
    for product in [Product::Workspace, Product::Docspace] {
        let mut gateway = Gateway::start(Options::new(product)).await;
        gateway.sim.drop_updates_to(Some("contacts"));
        let status = gateway
            .update_contacts(
                seed::ADMIN_TOKEN,
                pb::UpdateContactsRequest {
                    user_id: "@self".into(),
                    contacts: vec![contact("telegram", "@jane")],
                    spam: (product == Product::Docspace).then_some(false),
                },
            )
            .await
            .unwrap_err();
        assert_status(&status, Code::FailedPrecondition, "PORTAL_IGNORED_CHANGE");
        assert_eq!(violated(&details_of(&status)), ["contacts"]);
    }
}

#[tokio::test]
async fn a_change_already_in_place_sends_no_write() {
    for product in [Product::Workspace, Product::Docspace] {
        let mut gateway = Gateway::start(Options::new(product)).await;
        let mike = gateway
            .get_user(
                seed::ADMIN_TOKEN,
                pb::GetUserRequest {
                    user_id: seed::USER_ID.into(),
                },
            )
            .await
            .unwrap();
        let same = pb::UpdateUserRequest {
            user_id: seed::USER_ID.into(),
            is_guest: mike.is_visitor,
            disabled: Some(false),
            ..Default::default()
        };
        let answered = gateway
            .update_user(seed::ADMIN_TOKEN, same.clone())
            .await
            .unwrap();
        assert_eq!(answered, mike);
        let contacts = pb_pairs(&mike.contacts);
        let set = pb::SetContactsRequest {
            user_id: seed::USER_ID.into(),
            contacts: contacts
                .iter()
                .rev()
                .map(|(kind, value)| contact(kind, value))
                .collect(),
            spam: None,
        };
        if product == Product::Workspace {
            gateway
                .set_contacts(seed::ADMIN_TOKEN, set.clone())
                .await
                .unwrap();
        }
        let outcome = gateway
            .sync_users(
                seed::ADMIN_TOKEN,
                vec![pb::SyncUsersRequest {
                    item_id: "same".into(),
                    operation: Some(Operation::UpdateUser(same)),
                }],
            )
            .await;
        assert!(matches!(
            outcome.by_id().remove("same"),
            Some(pb::sync_users_response::Result::User(_))
        ));
        assert!(gateway.portal_requests_of("PUT").is_empty(), "{product:?}");
        let skipped = sample(
            &gateway.metrics.render(),
            "people_gateway_portal_writes_skipped_total",
            &[],
        );
        let expected = if product == Product::Workspace {
            3.0
        } else {
            2.0
        };
        assert_eq!(skipped, Some(expected), "{product:?}");

        // One field that differs sends the write.
        let changed = pb::UpdateUserRequest {
            user_id: seed::USER_ID.into(),
            is_guest: mike.is_visitor,
            disabled: Some(true),
            ..Default::default()
        };
        gateway
            .update_user(seed::ADMIN_TOKEN, changed)
            .await
            .unwrap();
        assert_eq!(gateway.portal_requests_of("PUT").len(), 1);
    }
}

fn status_of(gateway: &Gateway, id: &str) -> i32 {
    gateway.sim.user(uuid(id)).unwrap().status
}

const ACTIVE: i32 = 1;
const TERMINATED: i32 = 2;

fn status_route_calls(gateway: &Gateway) -> Vec<String> {
    gateway
        .portal_requests_of("PUT")
        .into_iter()
        .filter(|request| request.path.starts_with("/api/2.0/people/status/"))
        .map(|request| request.path)
        .collect()
}

#[tokio::test]
async fn a_suspended_workspace_user_is_re_enabled_with_or_without_edits() {
    // A 12.7.1 refuses every update of a suspended user.
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::SUSPENDED_ID.into(),
                disabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.status, Some(pb::UserStatus::Active.into()));
    assert_eq!(status_of(&gateway, seed::SUSPENDED_ID), ACTIVE);
    assert_eq!(
        status_route_calls(&gateway),
        ["/api/2.0/people/status/Active"]
    );
    // Re-enabling alone needs nothing else.
    assert_eq!(gateway.portal_requests_of("PUT").len(), 1);

    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::SUSPENDED_ID.into(),
                disabled: Some(false),
                location: Some("Lisbon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.location.as_deref(), Some("Lisbon"));
    let stored = gateway.sim.user(uuid(seed::SUSPENDED_ID)).unwrap();
    assert_eq!(
        (stored.status, stored.location.as_deref()),
        (ACTIVE, Some("Lisbon"))
    );
    let puts: Vec<_> = gateway
        .portal_requests_of("PUT")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        puts,
        [
            "/api/2.0/people/status/Active".to_owned(),
            format!("/api/2.0/people/{}", seed::SUSPENDED_ID)
        ]
    );
}

#[tokio::test]
async fn disabling_with_edits_is_one_write() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                disabled: Some(true),
                location: Some("Lisbon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.status, Some(pb::UserStatus::Terminated.into()));
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(
        (stored.status, stored.location.as_deref()),
        (TERMINATED, Some("Lisbon"))
    );
    assert_eq!(gateway.portal_requests_of("PUT").len(), 1);
}

#[tokio::test]
async fn a_re_enable_the_quota_blocks_is_never_ok() {
    let mut gateway = Gateway::workspace().await;
    // Every seat is taken: the status route skips the user without a word.
    gateway.sim.set_user_quota(Some(0));
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::SUSPENDED_ID.into(),
                disabled: Some(false),
                location: Some("Lisbon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "PORTAL_IGNORED_CHANGE");
    let details = details_of(&status);
    assert_eq!(violated(&details), ["disabled"]);
    let (_, metadata) = reason_and_metadata(&details);
    assert_eq!(metadata["not_sent_fields"], "location");
    assert_eq!(metadata["applied_fields"], "");
    let held = held_user(&details);
    assert_eq!(held.status, Some(pb::UserStatus::Terminated.into()));
    assert_eq!(status_of(&gateway, seed::SUSPENDED_ID), TERMINATED);
    // Nothing but the status route was written.
    assert_eq!(status_route_calls(&gateway).len(), 1);
    assert_eq!(gateway.portal_requests_of("PUT").len(), 1);
}

#[tokio::test]
async fn workspace_before_12_5_has_no_lead() {
    let lead = || pb::UpdateUserRequest {
        user_id: seed::USER_ID.into(),
        lead_id: Some(seed::PEOPLE_ADMIN_ID.into()),
        ..Default::default()
    };
    // It says it is 12.0.0, so the lead is refused before anything is written.
    let mut gateway = Gateway::workspace().await;
    gateway
        .sim
        .set_workspace_release(portal_sim::Release::new(12, 1, 0));
    let status = gateway
        .update_user(seed::ADMIN_TOKEN, lead())
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "FIELD_NOT_SUPPORTED_BY_PRODUCT",
    );
    assert!(gateway.portal_requests_of("PUT").is_empty());
    // Told a later release, the gateway sends it; the portal drops it, and the
    // answer shows so.
    let mut options = Options::new(Product::Workspace);
    options.portal_version = Some(PortalVersion::new(12, 7, 1));
    let mut gateway = Gateway::start(options).await;
    gateway
        .sim
        .set_workspace_release(portal_sim::Release::new(12, 1, 0));
    let status = gateway
        .update_user(seed::ADMIN_TOKEN, lead())
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "PORTAL_IGNORED_CHANGE");
    assert_eq!(violated(&details_of(&status)), ["lead_id"]);
}

#[tokio::test]
async fn workspace_texts_it_would_read_as_dates_are_refused() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                comment: Some("2020-01-02T03:04:05+03:00".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "TEXT_READ_AS_DATE");
    assert_eq!(violated(&details_of(&status)), ["comment"]);
    assert!(gateway.portal_requests_of("PUT").is_empty());
    // DocSpace keeps such a text as it is.
    let mut gateway = Gateway::docspace().await;
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                comment: Some("2020-01-02T03:04:05+03:00".into()),
                spam: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_day_written_is_the_day_read_on_every_offset() {
    let offsets = [
        -12 * 60,
        -9 * 60 - 30,
        -5 * 60,
        0,
        5 * 60 + 45,
        12 * 60,
        12 * 60 + 45,
        13 * 60 + 45,
        14 * 60,
    ];
    let day = pb::Date {
        year: 1990,
        month: 6,
        day: 7,
    };
    for product in [Product::Workspace, Product::Docspace] {
        for offset in offsets {
            let mut options = Options::new(product);
            if product == Product::Docspace {
                // The last releases whose update takes a birthday.
                options.portal_version = Some(PortalVersion::new(3, 6, 1));
            }
            let mut gateway = Gateway::start(options).await;
            if product == Product::Docspace {
                gateway
                    .sim
                    .set_docspace_release(portal_sim::Release::new(3, 6, 1));
            }
            gateway.sim.set_tenant_offset_minutes(offset);
            let (user_id, spam) = match product {
                Product::Workspace => (seed::USER_ID, None),
                Product::Docspace => (seed::ADMIN_ID, Some(false)),
            };
            let written = gateway
                .update_user(
                    seed::ADMIN_TOKEN,
                    pb::UpdateUserRequest {
                        user_id: user_id.into(),
                        birthday: Some(pb::DateValue { date: Some(day) }),
                        works_from: Some(pb::DateValue { date: Some(day) }),
                        spam,
                        ..Default::default()
                    },
                )
                .await
                .unwrap_or_else(|status| panic!("{product:?} at {offset}: {status:?}"));
            assert_eq!(written.birthday, Some(day), "{product:?} at {offset}");
            let read = gateway
                .get_user(
                    seed::ADMIN_TOKEN,
                    pb::GetUserRequest {
                        user_id: user_id.into(),
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                (read.birthday, read.works_from),
                (Some(day), Some(day)),
                "{product:?} at {offset}"
            );
            let stored = gateway.sim.user(uuid(user_id)).unwrap();
            assert_eq!(
                stored.birthday.map(|wall_clock| wall_clock.date()),
                chrono::NaiveDate::from_ymd_opt(1990, 6, 7),
                "{product:?} at {offset}"
            );
            // Written again, it is already held: nothing is sent.
            let puts = gateway.portal_requests_of("PUT").len();
            if product == Product::Workspace {
                gateway
                    .update_user(
                        seed::ADMIN_TOKEN,
                        pb::UpdateUserRequest {
                            user_id: user_id.into(),
                            birthday: Some(pb::DateValue { date: Some(day) }),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(gateway.portal_requests_of("PUT").len(), puts);
            }
        }
    }
}

#[tokio::test]
async fn a_write_answered_with_another_users_record_is_never_ok() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    // The PUT is answered with Jane's record, not Mike's.
    let jane = serde_json::json!({
        "count": 1, "status": 0, "statusCode": 200,
        "response": {
            "id": seed::ADMIN_ID, "userName": "jane.doe", "isVisitor": false,
            "email": "jane@example.com",
            "contacts": [{"type": "mail", "value": "mike@example.com"}],
        },
    });
    gateway.sim.push_fault_on(
        "PUT",
        Fault::Respond {
            status: 200,
            content_type: Some("application/json".into()),
            body: jane.to_string(),
            headers: Vec::new(),
        },
    );
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
    assert_status(
        &status,
        Code::FailedPrecondition,
        "PORTAL_ANSWERED_FOR_ANOTHER_USER",
    );
}

#[tokio::test]
async fn a_workspace_of_unknown_release_keeps_every_users_lead() {
    let mut gateway = Gateway::workspace().await;
    // The question for the release is not answered.
    gateway.sim.push_fault_on(
        "GET",
        Fault::Respond {
            status: 404,
            content_type: None,
            body: String::new(),
            headers: Vec::new(),
        },
    );
    let lead = gateway.sim.user(uuid(seed::USER_ID)).unwrap().lead;
    assert!(lead.is_some());
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                title: Some("Director".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(gateway.portal_requests()[0].path, BUILD_PATH);
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(
        (stored.title.as_deref(), stored.lead),
        (Some("Director"), lead)
    );
}

#[tokio::test]
async fn a_refusal_comes_before_a_re_enable_is_sent() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::SUSPENDED_ID.into(),
                disabled: Some(false),
                comment: Some("2020-01-02T03:04:05+03:00".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "TEXT_READ_AS_DATE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(status_of(&gateway, seed::SUSPENDED_ID), TERMINATED);
}

#[tokio::test]
async fn a_nil_lead_clears_the_lead() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                lead_id: Some(uuid::Uuid::nil().to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.lead_id, None);
    assert_eq!(gateway.sim.user(uuid(seed::USER_ID)).unwrap().lead, None);
}
