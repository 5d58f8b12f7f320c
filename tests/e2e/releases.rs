//! DocSpace releases differ in what `PUT /people/{id}` applies: the gateway
//! learns the release once from the portal's build endpoint (or is told it),
//! and follows the rules of that release; an unknown release gets the rules of
//! every known release at once.

use people_gateway::domain::PortalVersion;
use tonic::Code;

use crate::harness::*;

const DOCSPACE_3_6: PortalVersion = PortalVersion::new(3, 6, 1);

async fn docspace_at(release: PortalVersion) -> Gateway {
    let gateway = Gateway::docspace().await;
    gateway.sim.set_docspace_release(sim_release(release));
    gateway
}

fn own_details() -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        user_id: "@self".into(),
        title: Some("Founder".into()),
        sex: Some(pb::Sex::Female.into()),
        birthday: Some(pb::DateValue {
            date: Some(pb::Date {
                year: 1980,
                month: 2,
                day: 29,
            }),
        }),
        works_from: Some(pb::DateValue {
            date: Some(pb::Date {
                year: 2014,
                month: 3,
                day: 2,
            }),
        }),
        spam: Some(false),
        ..Default::default()
    }
}

#[tokio::test]
async fn docspace_3_6_applies_own_title_sex_and_dates() {
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
    let me = gateway
        .update_user(seed::ADMIN_TOKEN, own_details())
        .await
        .unwrap();

    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(puts.len(), 1);
    let body = puts[0].json().unwrap();
    assert_eq!(body["title"], "Founder");
    assert_eq!(body["sex"], 0);
    // Noon in the tenant's zone (UTC+3 in the demo), written in UTC so that
    // no reader shifts the day.
    assert_eq!(body["birthday"], "1980-02-29T09:00:00.000Z");
    assert_eq!(body["worksfrom"], "2014-03-02T09:00:00.000Z");

    let stored = gateway.sim.user(uuid(seed::ADMIN_ID)).unwrap();
    assert_eq!(stored.title.as_deref(), Some("Founder"));
    assert_eq!(stored.sex, Some(false));
    assert_eq!(
        stored.birthday.map(|wall_clock| wall_clock.date()),
        chrono::NaiveDate::from_ymd_opt(1980, 2, 29)
    );
    assert_eq!(
        stored.work_from.map(|wall_clock| wall_clock.date()),
        chrono::NaiveDate::from_ymd_opt(2014, 3, 2)
    );
    assert_eq!(me.title.as_deref(), Some("Founder"));
    assert_eq!(
        me.birthday,
        Some(pb::Date {
            year: 1980,
            month: 2,
            day: 29
        })
    );

    let builds: Vec<_> = gateway
        .portal_requests_of("GET")
        .into_iter()
        .filter(|request| request.path == BUILD_PATH)
        .collect();
    assert_eq!(builds.len(), 1, "the release is asked once");
}

#[tokio::test]
async fn the_same_fields_are_refused_on_docspace_3_7() {
    let mut gateway = docspace_at(PortalVersion::new(3, 7, 2)).await;
    let status = gateway
        .update_user(seed::ADMIN_TOKEN, own_details())
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "FIELD_NOT_SUPPORTED_BY_PRODUCT",
    );
    assert_eq!(
        info_metadata(&status, "fields").as_deref(),
        Some("title,sex,birthday,works_from")
    );
    assert_eq!(
        info_metadata(&status, "portal_rules").as_deref(),
        Some("DocSpace 3.7.1 and later")
    );
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn docspace_3_6_applies_ones_own_disable() {
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
    let me = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                disabled: Some(true),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(me.status, Some(pb::UserStatus::Terminated.into()));
    assert_eq!(gateway.sim.user(uuid(seed::USER_ID)).unwrap().status, 2);
}

#[tokio::test]
async fn docspace_3_6_ignores_disabling_the_owner_so_it_is_refused() {
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
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
    assert_status(
        &status,
        Code::FailedPrecondition,
        "PRIVILEGED_USER_STATUS_NOT_CHANGEABLE",
    );
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(gateway.sim.user(uuid(seed::ADMIN_ID)).unwrap().status, 1);
}

#[tokio::test]
async fn docspace_3_6_cannot_clear_dates_reliably_so_it_is_refused() {
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                birthday: Some(pb::DateValue { date: None }),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "DATE_NOT_CLEARABLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn an_unreported_release_gets_the_strictest_rules() {
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
    // A deployment that configures no version reports the built-in fallback.
    gateway.sim.set_reported_version(Some("3.1.0"));
    let status = gateway
        .update_user(seed::ADMIN_TOKEN, own_details())
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "FIELD_NOT_SUPPORTED_BY_PRODUCT",
    );
    assert_eq!(
        info_metadata(&status, "portal_rules").as_deref(),
        Some("DocSpace of unknown release")
    );
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                disabled: Some(true),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "OWN_STATUS_NOT_CHANGEABLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn a_pinned_release_is_not_asked_for() {
    let mut options = Options::new(people_gateway::domain::Product::Docspace);
    options.portal_version = Some(DOCSPACE_3_6);
    let mut gateway = Gateway::start(options).await;
    gateway.sim.set_docspace_release(sim_release(DOCSPACE_3_6));
    gateway
        .update_user(seed::ADMIN_TOKEN, own_details())
        .await
        .unwrap();
    assert!(
        gateway
            .portal_requests()
            .iter()
            .all(|request| request.path != BUILD_PATH)
    );
    assert_eq!(
        gateway
            .sim
            .user(uuid(seed::ADMIN_ID))
            .unwrap()
            .title
            .as_deref(),
        Some("Founder")
    );
}

#[tokio::test]
async fn a_portal_that_cannot_be_asked_fails_the_call_and_is_asked_again() {
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
    for _ in 0..READ_ATTEMPTS {
        gateway.sim.push_fault(Fault::Html { status: 503 });
    }
    let status = gateway
        .update_user(seed::ADMIN_TOKEN, own_details())
        .await
        .unwrap_err();
    assert_status(&status, Code::Unavailable, "PORTAL_UNAVAILABLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());

    gateway
        .update_user(seed::ADMIN_TOKEN, own_details())
        .await
        .unwrap();
    let builds = gateway
        .portal_requests()
        .into_iter()
        .filter(|request| request.path == BUILD_PATH)
        .count();
    assert_eq!(builds, READ_ATTEMPTS + 1);
}

/// DocSpace 3.0 and 3.1 still have `PUT /people/{id}/contacts`.
const DOCSPACE_3_1: PortalVersion = PortalVersion::new(3, 1, 1);

#[tokio::test]
async fn docspace_3_1_administrators_edit_others_contacts_through_the_contacts_route() {
    let mut gateway = docspace_at(DOCSPACE_3_1).await;
    let user = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("telegram", "@mike")],
                spam: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(pb_pairs(&user.contacts), strings(&[("telegram", "@mike")]));
    let puts: Vec<_> = gateway
        .portal_requests_of("PUT")
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(
        puts,
        [format!("/api/2.0/people/{}/contacts", seed::USER_ID)]
    );
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(pairs(&stored.contacts), strings(&[("telegram", "@mike")]));

    // Emptied: stored, though the route answers with the old list; the
    // gateway reads again and answers what is stored.
    let user = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: Vec::new(),
                spam: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(pb_pairs(&user.contacts), []);
    assert!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .contacts
            .is_empty()
    );

    // The route carries no consent, and a plain user edits only their own.
    let status = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: Vec::new(),
                spam: Some(true),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PROFILE_FIELDS_SELF_ONLY");
    let status = gateway
        .set_contacts(
            seed::USER_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::ADMIN_ID.into(),
                contacts: Vec::new(),
                spam: None,
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PROFILE_FIELDS_SELF_ONLY");

    // From 3.2.1 the route is gone: another user's contacts are refused.
    let mut gateway = docspace_at(DOCSPACE_3_6).await;
    let status = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("telegram", "@mike")],
                spam: None,
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PROFILE_FIELDS_SELF_ONLY");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}
