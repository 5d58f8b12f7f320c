//! Every RPC against a Workspace (CommunityServer) portal, with its traps.

use people_gateway::domain::Product;
use tonic::Code;

use crate::harness::*;

fn mike_pairs() -> Vec<(String, String)> {
    strings(&[
        ("mail", "mike@example.com"),
        ("skype", "mike.z"),
        ("phone", "+1 650 555 0100"),
    ])
}

#[tokio::test]
async fn get_user_by_guid_maps_the_portal_user_and_forwards_the_token() {
    let mut gateway = Gateway::workspace().await;
    let request = pb::GetUserRequest {
        user_id: seed::USER_ID.into(),
    };
    let user = gateway.get_user(seed::ADMIN_TOKEN, request).await.unwrap();

    let received = gateway.portal_requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "GET");
    assert_eq!(
        received[0].path,
        format!("/api/2.0/people/{}", seed::USER_ID)
    );
    assert_eq!(received[0].header("authorization"), Some(seed::ADMIN_TOKEN));
    assert_eq!(received[0].header("accept"), Some("application/json"));

    assert_eq!(user.id, seed::USER_ID);
    assert_eq!(user.first_name.as_deref(), Some("Mike"));
    assert_eq!(user.user_name.as_deref(), Some("mike.zanyatski"));
    assert_eq!(user.email.as_deref(), Some("mike@example.com"));
    assert_eq!(user.title.as_deref(), Some("Manager"));
    assert_eq!(pb_pairs(&user.contacts), mike_pairs());
    // Workspace writes the birthday shifted by the tenant offset; the date stays.
    assert_eq!(
        user.birthday,
        Some(pb::Date {
            year: 1985,
            month: 4,
            day: 10
        })
    );
    assert_eq!(
        user.works_from,
        Some(pb::Date {
            year: 2015,
            month: 9,
            day: 1
        })
    );
    assert_eq!(user.sex, Some(pb::Sex::Male.into()));
    assert_eq!(user.status, Some(pb::UserStatus::Active.into()));
    assert_eq!(user.lead_id.as_deref(), Some(seed::ADMIN_ID));
    let groups = user.groups.unwrap().groups;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id, seed::MARKETING_GROUP_ID);
    assert_eq!(user.department.as_deref(), Some("Marketing"));
    assert_eq!(user.is_visitor, Some(false));
    assert_eq!(user.is_admin, Some(false));
    // Not a Workspace field: stays unset rather than invented.
    assert_eq!(user.registration_date, None);
    assert_eq!(user.has_avatar, None);
    assert_eq!(user.terminated, None);
}

#[tokio::test]
async fn calendar_dates_survive_tenants_west_of_utc() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.set_tenant_offset_minutes(-300);
    let user = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: seed::USER_ID.into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        user.birthday,
        Some(pb::Date {
            year: 1985,
            month: 4,
            day: 10
        })
    );
    assert_eq!(
        user.works_from,
        Some(pb::Date {
            year: 2015,
            month: 9,
            day: 1
        })
    );
}

#[tokio::test]
async fn get_user_accepts_user_names_and_self() {
    let mut gateway = Gateway::workspace().await;
    let by_name = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "mike.zanyatski".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(by_name.id, seed::USER_ID);
    let me = gateway
        .get_user(
            seed::USER_TOKEN,
            pb::GetUserRequest {
                user_id: "@self".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(me.id, seed::USER_ID);
    let paths: Vec<String> = gateway
        .portal_requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        ["/api/2.0/people/mike.zanyatski", "/api/2.0/people/@self"]
    );
}

#[tokio::test]
async fn a_user_id_never_escapes_its_path_segment() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "../../settings?x=1#f".into(),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "PORTAL_NOT_FOUND");
    let received = gateway.portal_requests();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].path,
        "/api/2.0/people/..%2F..%2Fsettings%3Fx%3D1%23f"
    );
    assert_eq!(received[0].query, None);

    // `;` starts path parameters for some servers and proxies: it is escaped,
    // and the portal reads the name whole.
    let status = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "mike.zanyatski;x=1".into(),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "PORTAL_NOT_FOUND");
    assert_eq!(
        gateway.portal_requests()[1].path,
        "/api/2.0/people/mike.zanyatski%3Bx%3D1"
    );
}

#[tokio::test]
async fn update_user_sends_only_the_change_plus_what_the_portal_would_reset() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                title: Some("Head of Marketing".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].path, format!("/api/2.0/people/{}", seed::USER_ID));
    assert_eq!(puts[0].header("content-type"), Some("application/json"));
    let body = puts[0].json().unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "isVisitor": false,
            "contacts": [
                {"type": "mail", "value": "mike@example.com"},
                {"type": "skype", "value": "mike.z"},
                {"type": "phone", "value": "+1 650 555 0100"},
            ],
            "department": [seed::MARKETING_GROUP_ID],
            "lead": seed::ADMIN_ID,
            "title": "Head of Marketing",
        })
    );
    assert!(!puts[0].body.contains("null"));

    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(stored.title.as_deref(), Some("Head of Marketing"));
    assert_eq!(pairs(&stored.contacts), mike_pairs());
    assert_eq!(stored.lead, Some(uuid(seed::ADMIN_ID)));
    assert_eq!(stored.first_name, "Mike");
    assert_eq!(user.title.as_deref(), Some("Head of Marketing"));
}

#[tokio::test]
async fn updating_a_guest_keeps_the_guest_a_guest() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::GUEST_ID.into(),
                comment: Some("contractor".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let stored = gateway.sim.user(uuid(seed::GUEST_ID)).unwrap();
    assert!(stored.is_visitor, "the portal promoted the guest");
    assert_eq!(stored.notes.as_deref(), Some("contractor"));
    let put = &gateway.portal_requests_of("PUT")[0];
    assert_eq!(put.json().unwrap()["isVisitor"], serde_json::json!(true));
}

#[tokio::test]
async fn update_self_resolves_the_guid_first() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                location: Some("Riga".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let requests = gateway.people_requests();
    let put = requests.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, format!("/api/2.0/people/{}", seed::USER_ID));
    assert_eq!(requests[0].path, "/api/2.0/people/@self");
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" || !r.path.contains("@self"))
    );
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(stored.location.as_deref(), Some("Riga"));
    assert_eq!(pairs(&stored.contacts), mike_pairs());
}

#[tokio::test]
async fn dates_are_set_and_cleared() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                birthday: Some(pb::DateValue { date: None }),
                works_from: Some(pb::DateValue {
                    date: Some(pb::Date {
                        year: 2020,
                        month: 2,
                        day: 29,
                    }),
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let body = gateway.portal_requests_of("PUT")[0].json().unwrap();
    assert_eq!(body["birthday"], "1900-01-01");
    assert_eq!(body["worksfrom"], "2020-02-29");
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(stored.birthday, None);
    assert_eq!(
        stored.work_from.map(|wall_clock| wall_clock.date()),
        chrono::NaiveDate::from_ymd_opt(2020, 2, 29)
    );
}

#[tokio::test]
async fn lead_is_cleared_only_when_asked() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                lead_id: Some(String::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let body = gateway.portal_requests_of("PUT")[0].json().unwrap();
    assert!(body.get("lead").is_none());
    assert_eq!(gateway.sim.user(uuid(seed::USER_ID)).unwrap().lead, None);
}

#[tokio::test]
async fn directory_managed_names_are_refused_before_any_write() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::LDAP_ID.into(),
                first_name: Some("Leo".into()),
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
async fn admin_only_fields_from_a_plain_user_are_refused() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                title: Some("CEO".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ADMIN_ONLY_FIELDS");
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .title
            .as_deref(),
        Some("Manager")
    );
}

#[tokio::test]
async fn an_admin_cannot_be_made_a_guest() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::SECOND_ADMIN_ID.into(),
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
}

#[tokio::test]
async fn portal_permission_denial_as_500_becomes_permission_denied() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::GUEST_ID.into(),
                comment: Some("hi".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "PORTAL_PERMISSION_DENIED");
    assert_eq!(
        info_metadata(&status, "http_status").as_deref(),
        Some("500")
    );
    assert!(
        info_metadata(&status, "portal_message")
            .unwrap()
            .contains("access denied")
    );
}

#[tokio::test]
async fn a_suspended_user_is_a_failed_precondition() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::SUSPENDED_ID.into(),
                comment: Some("back soon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "PORTAL_USER_SUSPENDED");
}

#[tokio::test]
async fn hidden_contacts_are_never_written_back_as_empty() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.set_people_module_visible(false);
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
    assert_status(&status, Code::FailedPrecondition, "CONTACTS_NOT_VISIBLE");
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
    assert_status(&status, Code::FailedPrecondition, "CONTACTS_NOT_VISIBLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(
        pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts),
        mike_pairs()
    );
    let seen = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: seed::USER_ID.into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        seen.contacts, None,
        "hidden contacts must read as unknown, not empty"
    );
    assert_eq!(seen.email, None);
}

#[tokio::test]
async fn update_contacts_merges_by_type_and_value() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![
                    contact("MAIL", "mike@example.com"),
                    contact("mail", "mike@home.example"),
                    contact("telegram", "@mike"),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let expected = strings(&[
        ("mail", "mike@example.com"),
        ("skype", "mike.z"),
        ("phone", "+1 650 555 0100"),
        ("mail", "mike@home.example"),
        ("telegram", "@mike"),
    ]);
    assert_eq!(pb_pairs(&user.contacts), expected);
    assert_eq!(
        pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts),
        expected
    );
    let put = &gateway.portal_requests_of("PUT")[0];
    assert_eq!(
        put.path,
        format!("/api/2.0/people/{}/contacts", seed::USER_ID)
    );
    assert_eq!(put.json().unwrap()["contacts"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_merge_that_changes_nothing_writes_nothing() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_contacts(
            seed::USER_TOKEN,
            pb::UpdateContactsRequest {
                user_id: "@self".into(),
                contacts: vec![contact("Skype", "mike.z")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(pb_pairs(&user.contacts), mike_pairs());
    assert!(gateway.portal_requests_of("PUT").is_empty());
}

#[tokio::test]
async fn set_contacts_replaces_and_an_empty_list_clears() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .set_contacts(
            seed::USER_TOKEN,
            pb::SetContactsRequest {
                user_id: "@self".into(),
                contacts: vec![contact("jabber", "mike@jabber.example")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        pb_pairs(&user.contacts),
        strings(&[("jabber", "mike@jabber.example")])
    );
    let cleared = gateway
        .set_contacts(
            seed::USER_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.contacts, Some(pb::ContactList::default()));
    assert!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .contacts
            .is_empty()
    );
    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[1].json().unwrap(), serde_json::json!({"contacts": []}));
}

#[tokio::test]
async fn delete_contacts_removes_exact_pairs_not_the_first_of_a_type() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("mail", "mike@home.example")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let user = gateway
        .delete_contacts(
            seed::ADMIN_TOKEN,
            pb::DeleteContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("Mail", "mike@home.example"), contact("icq", "404")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(pb_pairs(&user.contacts), mike_pairs());
    assert_eq!(
        pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts),
        mike_pairs()
    );
    // The portal's own DELETE would drop the first mail entry; it is never used.
    assert!(gateway.portal_requests_of("DELETE").is_empty());
}

#[tokio::test]
async fn concurrent_merges_for_one_user_lose_nothing() {
    let gateway = Gateway::workspace().await;
    // Every portal answer is slow, so unserialized read-modify-writes would overlap.
    gateway
        .sim
        .set_latency(Some(std::time::Duration::from_millis(60)));
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..6 {
        let mut client = gateway.client.clone();
        calls.spawn(async move {
            client
                .update_contacts(as_user(
                    seed::ADMIN_TOKEN,
                    pb::UpdateContactsRequest {
                        user_id: seed::USER_ID.into(),
                        contacts: vec![contact("icq", &n.to_string())],
                        ..Default::default()
                    },
                ))
                .await
        });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    for n in 0..6 {
        assert!(
            stored.contains(&("icq".to_string(), n.to_string())),
            "contact {n} was lost: {stored:?}"
        );
    }
    assert_eq!(stored.len(), 9);
}

#[tokio::test]
async fn a_merge_whose_caller_gave_up_still_completes_before_the_next_one() {
    let gateway = Gateway::workspace().await;
    // The first merge's write is slow to be answered.
    gateway
        .sim
        .push_fault_on("PUT", Fault::Delay(std::time::Duration::from_secs(3)));
    let mut impatient = gateway.client.clone();
    let first = tokio::spawn(async move {
        let request = as_user(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("icq", "first")],
                ..Default::default()
            },
        );
        impatient.update_contacts(request).await
    });
    until("the first merge's write was sent", || {
        !gateway.portal_requests_of("PUT").is_empty()
    })
    .await;
    // Its caller gives up mid-write.
    first.abort();
    let mut client = gateway.client.clone();
    client
        .update_contacts(as_user(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("icq", "second")],
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert!(
        first.await.unwrap_err().is_cancelled(),
        "the first caller was meant to give up mid-write"
    );
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    for value in ["first", "second"] {
        assert!(
            stored.contains(&("icq".to_string(), value.to_string())),
            "{value} was lost: {stored:?}"
        );
    }
}

#[tokio::test]
async fn a_merge_whose_caller_gave_up_while_waiting_never_writes() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .sim
        .set_latency(Some(std::time::Duration::from_millis(80)));
    let mut holder = gateway.client.clone();
    let first = tokio::spawn(async move {
        holder
            .update_contacts(as_user(
                seed::ADMIN_TOKEN,
                pb::UpdateContactsRequest {
                    user_id: seed::USER_ID.into(),
                    contacts: vec![contact("icq", "first")],
                    ..Default::default()
                },
            ))
            .await
    });
    until("the first merge holds the lock", || {
        !gateway.portal_requests().is_empty()
    })
    .await;
    let mut impatient = as_user(
        seed::ADMIN_TOKEN,
        pb::UpdateContactsRequest {
            user_id: seed::USER_ID.into(),
            contacts: vec![contact("icq", "second")],
            ..Default::default()
        },
    );
    // Expires while the second merge still waits for the first one's lock.
    impatient.set_timeout(std::time::Duration::from_millis(30));
    let status = gateway.client.update_contacts(impatient).await.unwrap_err();
    assert!(matches!(
        status.code(),
        Code::DeadlineExceeded | Code::Cancelled
    ));
    first.await.unwrap().unwrap();
    // Shutting down waits for every write still running, abandoned ones included.
    gateway.shut_down().await.unwrap().unwrap();
    assert_eq!(gateway.portal_requests_of("PUT").len(), 1);
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    assert!(!stored.contains(&("icq".to_string(), "second".to_string())));
}

#[tokio::test]
async fn malformed_contacts_are_refused_before_the_portal_is_called() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .set_contacts(
            seed::ADMIN_TOKEN,
            pb::SetContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("mail", "a|b"), contact("", "x")],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "INVALID_REQUEST");
    assert_eq!(
        bad_fields(&status),
        ["contacts[0].value", "contacts[1].type"]
    );
    assert!(gateway.portal_requests().is_empty());
}

#[tokio::test]
async fn updates_need_a_guid_or_self() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: "mike.zanyatski".into(),
                comment: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "INVALID_REQUEST");
    assert_eq!(bad_fields(&status), ["user_id"]);
    assert!(gateway.portal_requests().is_empty());
}

#[tokio::test]
async fn spam_is_refused_on_workspace() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
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
    // Nothing but the anonymous question for the release.
    assert!(gateway.people_requests().is_empty());
}

#[tokio::test]
async fn every_profile_field_reaches_the_portal() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                first_name: Some("Michael".into()),
                last_name: Some("Zan".into()),
                sex: Some(pb::Sex::Female.into()),
                department_ids: Some(pb::DepartmentIdList {
                    ids: vec![seed::SALES_GROUP_ID.into()],
                }),
                avatar_url: Some("https://cdn.example.com/mike.png".into()),
                is_guest: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let body = gateway.portal_requests_of("PUT")[0].json().unwrap();
    assert_eq!(body["firstname"], "Michael");
    assert_eq!(body["lastname"], "Zan");
    assert_eq!(body["sex"], "female");
    assert_eq!(
        body["department"],
        serde_json::json!([seed::SALES_GROUP_ID])
    );
    assert_eq!(body["files"], "https://cdn.example.com/mike.png");
    assert_eq!(body["isVisitor"], serde_json::json!(true));
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(
        (stored.first_name.as_str(), stored.last_name.as_str()),
        ("Michael", "Zan")
    );
    assert_eq!(stored.sex, Some(false));
    assert_eq!(stored.group_ids, [uuid(seed::SALES_GROUP_ID)]);
    assert_eq!(
        stored.avatar_url.as_deref(),
        Some("https://cdn.example.com/mike.png")
    );
    assert!(stored.is_visitor);
    assert_eq!(pairs(&stored.contacts), mike_pairs());
    assert_eq!(user.sex, Some(pb::Sex::Female.into()));
    assert_eq!(user.is_visitor, Some(true));
    // Sent HTML-encoded by the portal, passed on as the portal wrote it.
    assert_eq!(user.department.as_deref(), Some("Sales &amp; Support"));
}

#[tokio::test]
async fn an_admin_suspends_a_user() {
    let mut gateway = Gateway::workspace().await;
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        gateway.portal_requests_of("PUT")[0].json().unwrap()["disable"],
        serde_json::json!(true)
    );
    assert_eq!(gateway.sim.user(uuid(seed::USER_ID)).unwrap().status, 2);
    assert_eq!(user.status, Some(pb::UserStatus::Terminated.into()));
    assert!(user.terminated.is_some());
}

/// Mike in both departments, so that losing one or both shows.
fn mike_in_two_departments(gateway: &Gateway) {
    let mut mike = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    mike.group_ids = vec![uuid(seed::MARKETING_GROUP_ID), uuid(seed::SALES_GROUP_ID)];
    gateway.sim.upsert_user(mike);
}

fn change_title(user_id: &str) -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        user_id: user_id.into(),
        title: Some("Head of Marketing".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_admin_update_of_one_field_keeps_every_department() {
    let mut gateway = Gateway::workspace().await;
    mike_in_two_departments(&gateway);
    let user = gateway
        .update_user(seed::ADMIN_TOKEN, change_title(seed::USER_ID))
        .await
        .unwrap();

    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(
        puts[0].json().unwrap()["department"],
        serde_json::json!([seed::MARKETING_GROUP_ID, seed::SALES_GROUP_ID])
    );
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(
        stored.group_ids,
        [uuid(seed::MARKETING_GROUP_ID), uuid(seed::SALES_GROUP_ID)]
    );
    assert_eq!(user.groups.unwrap().groups.len(), 2);
}

#[tokio::test]
async fn a_people_module_admin_keeps_departments_too() {
    let mut gateway = Gateway::workspace().await;
    mike_in_two_departments(&gateway);
    let user = gateway
        .update_user(seed::PEOPLE_ADMIN_TOKEN, change_title(seed::USER_ID))
        .await
        .unwrap();
    assert_eq!(user.title.as_deref(), Some("Head of Marketing"));
    let stored = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
    assert_eq!(stored.group_ids.len(), 2);
    assert_eq!(stored.title.as_deref(), Some("Head of Marketing"));
}

#[tokio::test]
async fn an_empty_department_list_clears_them() {
    let mut gateway = Gateway::workspace().await;
    mike_in_two_departments(&gateway);
    let user = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                department_ids: Some(pb::DepartmentIdList { ids: vec![] }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(puts[0].json().unwrap()["department"], serde_json::json!([]));
    assert!(
        gateway
            .sim
            .user(uuid(seed::USER_ID))
            .unwrap()
            .group_ids
            .is_empty()
    );
    assert_eq!(user.groups, Some(pb::GroupList::default()));
}

#[tokio::test]
async fn departments_hidden_from_the_caller_are_never_reset() {
    // Told the release, so the first read is the user's.
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    // The read under the lock shows no department at all (a trimmed or proxied answer).
    let trimmed = serde_json::json!({
        "count": 1, "status": 0, "statusCode": 200,
        "response": {
            "id": seed::USER_ID, "userName": "mike.zanyatski", "isVisitor": false,
            "firstName": "Mike", "lastName": "Zanyatski", "email": "mike@example.com",
            "contacts": [{"type": "mail", "value": "mike@example.com"}],
            "isAdmin": false, "isOwner": false, "isLDAP": false, "isSSO": false,
        },
    });
    gateway.sim.push_fault_on(
        "GET",
        Fault::Respond {
            status: 200,
            content_type: Some("application/json".into()),
            body: trimmed.to_string(),
            headers: Vec::new(),
        },
    );
    // A comment needs no read of the caller, so the trimmed answer is the user's.
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                comment: Some("met again".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "DEPARTMENTS_NOT_VISIBLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert_eq!(
        gateway.sim.user(uuid(seed::USER_ID)).unwrap().group_ids,
        [uuid(seed::MARKETING_GROUP_ID)]
    );
}

#[tokio::test]
async fn a_module_admin_or_oneself_is_never_made_a_guest() {
    let mut gateway = Gateway::workspace().await;
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
    assert!(
        status.message().contains("module administrator"),
        "{status:?}"
    );

    let status = gateway
        .update_user(
            seed::USER_TOKEN,
            pb::UpdateUserRequest {
                user_id: "@self".into(),
                is_guest: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "OWN_STATUS_NOT_CHANGEABLE");
    assert!(gateway.portal_requests_of("PUT").is_empty());
    assert!(
        !gateway
            .sim
            .user(uuid(seed::MODULE_ADMIN_ID))
            .unwrap()
            .is_visitor
    );
    assert!(!gateway.sim.user(uuid(seed::USER_ID)).unwrap().is_visitor);
}

#[tokio::test]
async fn promoting_a_guest_without_a_free_seat_is_a_failed_precondition() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.set_user_quota(Some(1));
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::GUEST_ID.into(),
                is_guest: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "PORTAL_QUOTA_EXCEEDED");
    assert_eq!(
        info_metadata(&status, "http_status").as_deref(),
        Some("500")
    );
    assert!(gateway.sim.user(uuid(seed::GUEST_ID)).unwrap().is_visitor);
}

#[tokio::test]
async fn a_name_the_portal_rules_refuse_is_an_invalid_argument() {
    let mut gateway = Gateway::workspace().await;
    gateway.sim.set_letters_only_names(true);
    let status = gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                first_name: Some("R2D2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "PORTAL_INVALID_NAME");
    assert_eq!(bad_fields(&status), ["first_name", "last_name"]);
    assert_eq!(
        gateway.sim.user(uuid(seed::USER_ID)).unwrap().first_name,
        "Mike"
    );
}

#[tokio::test]
async fn a_relative_avatar_path_is_resolved_by_the_portal() {
    let mut gateway = Gateway::workspace().await;
    gateway
        .update_user(
            seed::ADMIN_TOKEN,
            pb::UpdateUserRequest {
                user_id: seed::USER_ID.into(),
                avatar_url: Some("/storage/userPhotos/root/mike.png".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let puts = gateway.portal_requests_of("PUT");
    assert_eq!(
        puts[0].json().unwrap()["files"],
        "/storage/userPhotos/root/mike.png"
    );
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
async fn an_upper_case_suffix_is_an_ordinary_user_name() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "John.JSON".into(),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "PORTAL_NOT_FOUND");
    let gets = gateway.portal_requests_of("GET");
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].path, "/api/2.0/people/John.JSON");
}

#[tokio::test]
async fn names_with_a_format_suffix_are_refused_on_workspace() {
    let mut gateway = Gateway::workspace().await;
    let status = gateway
        .get_user(
            seed::ADMIN_TOKEN,
            pb::GetUserRequest {
                user_id: "mike.xml".into(),
            },
        )
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "INVALID_REQUEST");
    assert!(gateway.portal_requests().is_empty());
}

#[tokio::test]
async fn profile_updates_and_merges_interleaved_lose_nothing() {
    let gateway = Gateway::workspace().await;
    gateway
        .sim
        .set_latency(Some(std::time::Duration::from_millis(40)));
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..4 {
        let mut merge = gateway.client.clone();
        calls.spawn(async move {
            merge
                .update_contacts(as_user(
                    seed::ADMIN_TOKEN,
                    pb::UpdateContactsRequest {
                        user_id: seed::USER_ID.into(),
                        contacts: vec![contact("icq", &n.to_string())],
                        ..Default::default()
                    },
                ))
                .await
                .map(drop)
        });
        let mut update = gateway.client.clone();
        calls.spawn(async move {
            update
                .update_user(as_user(
                    seed::ADMIN_TOKEN,
                    pb::UpdateUserRequest {
                        user_id: seed::USER_ID.into(),
                        comment: Some(format!("note {n}")),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop)
        });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }
    let stored = pairs(&gateway.sim.user(uuid(seed::USER_ID)).unwrap().contacts);
    assert_eq!(stored.len(), 7, "{stored:?}");
}
