//! Every RPC against a DocSpace portal: no contacts routes, self-only profile
//! fields, the `spam` reset, and the fields 3.7 dropped.

use tonic::Code;

use crate::harness::*;

#[tokio::test]
async fn get_self_maps_docspace_only_fields() {
    let mut gateway = Gateway::docspace().await;
    let me = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "@self".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(me.id, seed::ADMIN_ID);
    assert_eq!(me.is_owner, Some(true));
    assert!(me.registration_date.is_some());
    assert!(me.theme.is_some(), "DocSpace sends the theme on GET @self");
    assert!(me.has_avatar.is_some());
    // DocSpace 3.7 has none of these: they stay unset.
    assert_eq!(me.title, None);
    assert_eq!(me.birthday, None);
    assert_eq!(me.sex, None);
    assert_eq!(me.lead_id, None);

    let mike = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: seed::USER_ID.into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(mike.theme, None, "the theme comes only with GET @self");
    assert_eq!(
        mike.created_by.as_ref().map(|creator| creator.id.as_str()),
        Some(seed::ADMIN_ID),
        "admins see createdBy"
    );
    assert_eq!(mike.status, Some(pb::UserStatus::Active.into()));
}

#[tokio::test]
async fn own_profile_update_sends_camel_case_and_keeps_spam() {
    let mut gateway = Gateway::docspace().await;
    let user = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                first_name: Some("Michael".into()),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.first_name.as_deref(), Some("Michael"));
    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].path, format!("/api/2.0/people/{}", seed::USER_ID));
    assert_eq!(puts[0].header("content-type"), Some("application/json"));
    assert_eq!(puts[0].header("authorization"), Some(seed::USER_TOKEN));
    assert_eq!(
        puts[0].json().unwrap(),
        serde_json::json!({"firstName": "Michael", "spam": true})
    );
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(stored.first_name, "Michael");
    assert_eq!(stored.spam, Some(true));
    assert_eq!(stored.contacts.len(), 6, "contacts were not touched");
}

#[tokio::test]
async fn own_profile_update_without_spam_is_refused() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                location: Some("Riga".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "SPAM_REQUIRED");
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(
        gateway.sim.user(uuid(seed::USER_ID)).unwrap().spam,
        Some(true)
    );
}

#[tokio::test]
async fn profile_fields_of_another_user_are_refused_not_silently_ignored() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                first_name: Some("Michael".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PROFILE_FIELDS_SELF_ONLY");
    assert!(status.message().contains("first_name"));
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(
        gateway.sim.user(uuid(seed::USER_ID)).unwrap().first_name,
        "Mike"
    );
}

#[tokio::test]
async fn an_admin_suspends_and_demotes_another_user() {
    let mut gateway = Gateway::docspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                disabled: Some(true),
                is_guest: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let put = &gateway.portal_requests_of("PUT")[0];
    // DocSpace's inverted name: isUser true makes a guest.
    assert_eq!(
        put.json().unwrap(),
        serde_json::json!({"disable": true, "isUser": true})
    );
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(stored.status, 2);
    assert!(stored.is_visitor);
    assert_eq!(
        stored.spam,
        Some(true),
        "spam is only reset by own-profile writes"
    );
    assert_eq!(user.status, Some(pb::UserStatus::Terminated.into()));
    assert!(user.terminated.is_some());
}

#[tokio::test]
async fn own_status_changes_are_refused() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                disabled: Some(true),
                spam: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "OWN_STATUS_NOT_CHANGEABLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn fields_docspace_dropped_are_refused() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                title: Some("CTO".into()),
                birthday: Some(pb::DateValue { date: None }),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "FIELD_NOT_SUPPORTED_BY_PRODUCT",
    );
    let failure = tonic_types::StatusExt::get_error_details(&status);
    let subjects: Vec<_> = failure
        .precondition_failure()
        .unwrap()
        .violations
        .iter()
        .map(|violation| violation.subject.clone())
        .collect();
    assert_eq!(subjects, ["title", "birthday"]);
    assert!(gateway.people_requests().is_empty());
}

#[tokio::test]
async fn contacts_merge_uses_the_profile_route_not_the_removed_one() {
    let mut gateway = Gateway::docspace().await;
    let user = gateway
        .update_contacts(
            seed::USER_TOKEN,
            pb::UpdateContactsRequest {
                user_id: "@self".into(),
                contacts: vec![
                    contact("telegram", "@mike"),
                    contact("mail", "mike@example.com"),
                ],
                spam: Some(true),
            },
        )
        .await
        .unwrap();
    let expected = strings(&[
        ("mail", "mike@example.com"),
        ("skype", "mike.z"),
        ("phone", "+1 650 555 0100"),
        ("telegram", "@mike"),
    ]);
    assert_eq!(pb_pairs(&user.contacts), expected);
    assert_eq!(
        pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts),
        expected
    );
    let requests = gateway.portal_requests();
    assert!(requests.iter().all(|r| !r.path.ends_with("/contacts")));
    let put = requests.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, format!("/api/2.0/people/{}", seed::USER_ID));
    let body = put.json().unwrap();
    assert_eq!(body["spam"], serde_json::json!(true));
    assert_eq!(body["contacts"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn delete_contacts_on_docspace_removes_exact_pairs() {
    let mut gateway = Gateway::docspace().await;
    let user = gateway
        .delete_contacts(
            seed::USER_TOKEN,
            pb::DeleteContactsRequest {
                user_id: "@self".into(),
                contacts: vec![contact("skype", "mike.z")],
                spam: Some(true),
            },
        )
        .await
        .unwrap();
    let expected = strings(&[("mail", "mike@example.com"), ("phone", "+1 650 555 0100")]);
    assert_eq!(pb_pairs(&user.contacts), expected);
    assert_eq!(
        pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts),
        expected
    );
}

#[tokio::test]
async fn clearing_contacts_answers_with_what_was_stored() {
    let mut gateway = Gateway::docspace().await;
    let user = gateway
        .set_contacts(
            seed::USER_TOKEN,
            pb::SetContactsRequest {
                user_id: "@self".into(),
                contacts: vec![],
                spam: Some(true),
            },
        )
        .await
        .unwrap();
    // DocSpace's own answer still lists the old contacts; the store is empty.
    assert!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .contacts
            .is_empty()
    );
    assert_eq!(user.contacts, Some(pb::ContactList::default()));
}

#[tokio::test]
async fn contacts_of_another_user_are_refused() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("mail", "x@y")],
                spam: Some(true),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PROFILE_FIELDS_SELF_ONLY");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn contacts_without_spam_are_refused() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_contacts(
            seed::USER_TOKEN,
            pb::UpdateContactsRequest {
                user_id: "@self".into(),
                contacts: vec![contact("mail", "x@y")],
                spam: None,
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "SPAM_REQUIRED");
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn docspace_validation_failure_becomes_invalid_argument_with_fields() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                first_name: Some("x".repeat(255)),
                last_name: Some("y".repeat(255)),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await;
    // 255 characters pass both the gateway and DocSpace.
    assert!(status.is_ok(), "{status:?}");

    gateway.sim.push_fault_on(
        "PUT",
        Fault::Respond {
            status: 400,
            content_type: Some("application/json; charset=utf-8".into()),
            body: r#"{"response":{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"FirstName":["The field FirstName must be a string with a maximum length of 255."]},"traceId":"00-1"},"count":1,"links":[{"href":"http://x/api/2.0/people/x","action":"PUT"}],"status":1,"statusCode":400}"#.into(),
            headers: vec![],
        },
    );
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                first_name: Some("Mike".into()),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "PORTAL_INVALID_ARGUMENT");
    assert_eq!(bad_fields(&status), ["first_name"]);
    assert_eq!(
        status.message(),
        "portal: One or more validation errors occurred."
    );
}

#[tokio::test]
async fn an_admin_updates_their_own_profile_fields() {
    let mut gateway = Gateway::docspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                comment: Some("on leave in May".into()),
                location: Some("Lisbon".into()),
                department_ids: Some(pb::DepartmentIdList {
                    ids: vec![seed::SALES_GROUP_ID.into()],
                }),
                avatar_url: Some("https://cdn.example.com/jane.png".into()),
                spam: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let body = gateway.portal_requests_of("PUT")[0].json().unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "comment": "on leave in May",
            "location": "Lisbon",
            "department": [seed::SALES_GROUP_ID],
            "files": "https://cdn.example.com/jane.png",
            "spam": false,
        })
    );
    let stored = gateway.sim.user(uuid(seed::ADMIN_ID)).unwrap();
    assert_eq!(stored.notes.as_deref(), Some("on leave in May"));
    assert_eq!(stored.location.as_deref(), Some("Lisbon"));
    assert_eq!(stored.group_ids, [uuid(seed::SALES_GROUP_ID)]);
    assert_eq!(
        stored.avatar_url.as_deref(),
        Some("https://cdn.example.com/jane.png")
    );
    assert_eq!(stored.spam, Some(false));
    assert_eq!(user.location.as_deref(), Some("Lisbon"));
}

#[tokio::test]
async fn directory_users_cannot_rename_themselves() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::LDAP_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                last_name: Some("Smith".into()),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "FIELDS_MANAGED_BY_DIRECTORY",
    );
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn plain_users_cannot_change_their_own_departments() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                department_ids: Some(pb::DepartmentIdList {
                    ids: vec![seed::SALES_GROUP_ID.into()],
                }),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ADMIN_ONLY_FIELDS");
    assert!(
        status
            .message()
            .starts_with("DocSpace applies department_ids"),
        "{status:?}"
    );
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn editing_the_owner_or_an_admin_as_a_non_owner_is_permission_denied() {
    let mut gateway = Gateway::docspace().await;
    let disable = |user_id: &str| pb::UpdateUserRequest {
        user_id: user_id.into(),
        disabled: Some(true),
        ..Default::default()
    };
    // DocSpace 3.7.1+ answers 403 itself; the gateway passes it on.
    let status = gateway
        .update_user(seed::SECOND_ADMIN_TOKEN, disable(seed::ADMIN_ID))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PORTAL_PERMISSION_DENIED");
    assert_eq!(
        info_metadata(&status, "http_status").as_deref(),
        Some("403")
    );
    assert_eq!(gateway.portal_requests_of("PUT").len(), 1);
    assert_eq!(gateway.sim.user(uuid(seed::ADMIN_ID)).unwrap().status, 1);

    // The owner may suspend an admin.
    let alex = gateway
        .update_user(seed::ADMIN_TOKEN, disable(seed::SECOND_ADMIN_ID))
        .await
        .unwrap();
    assert_eq!(alex.status, Some(pb::UserStatus::Terminated.into()));
}

#[tokio::test]
async fn a_module_admin_is_never_made_a_guest() {
    let mut gateway = Gateway::docspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::MODULE_ADMIN_ID.into(),
                is_guest: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "ADMIN_CANNOT_BECOME_GUEST",
    );
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert!(
        !gateway
            .sim
            .user(uuid(seed::MODULE_ADMIN_ID))
            .unwrap()
            .is_visitor
    );
}

#[tokio::test]
async fn a_relative_avatar_path_is_resolved_by_the_portal() {
    let mut gateway = Gateway::docspace().await;
    gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                avatar_url: Some("/storage/userPhotos/root/mike.png".into()),
                spam: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(
        stored.avatar_url,
        Some(format!(
            "{}storage/userPhotos/root/mike.png",
            gateway.sim.base_url()
        ))
    );
}

#[tokio::test]
async fn an_admin_makes_a_guest_a_full_user_and_reads_by_name() {
    let mut gateway = Gateway::docspace().await;
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::GUEST_ID.into(),
                is_guest: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        gateway.portal_requests_of("PUT")[0].json().unwrap(),
        serde_json::json!({"isUser": false})
    );
    assert!(!gateway.sim.user(uuid(seed::GUEST_ID)).unwrap().is_visitor);
    let by_name = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "anna.guest".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(by_name.id, seed::GUEST_ID);
    assert_eq!(by_name.is_visitor, Some(false));
    assert_eq!(
        gateway.portal_requests_of("GET").last().unwrap().path,
        "/api/2.0/people/anna.guest"
    );
}

#[tokio::test]
async fn concurrent_merges_on_docspace_lose_nothing() {
    let gateway = Gateway::docspace().await;
    gateway
        .sim
        .set_latency(Some(std::time::Duration::from_millis(40)));
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..5 {
        let mut client = gateway.client.clone();
        calls.spawn(async move {
            client
                .update_contacts(as_user(
                    seed::USER_TOKEN,
                    pb::UpdateContactsRequest {
                        user_id: "@self".into(),
                        contacts: vec![contact("icq", &n.to_string())],
                        spam: Some(true),
                    },
                ))
                .await
        });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    for n in 0..5 {
        assert!(
            stored.contains(&("icq".to_string(), n.to_string())),
            "contact {n} was lost: {stored:?}"
        );
    }
}
