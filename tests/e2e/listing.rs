//! ListUsers end to end: paging through the simulated directory of either
//! product, finding a user by email, the filters as each portal applies them
//! for each caller, and every way a request or a page token can be refused.

use std::collections::HashSet;

use people_gateway::domain::Product;
use portal_sim::RecordedRequest;
use tonic::Code;

use crate::harness::*;

const PRODUCTS: [Product; 2] = [Product::Workspace, Product::Docspace];

async fn list(
    gateway: &mut Gateway,
    token: &str,
    request: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse, tonic::Status> {
    let response = gateway.client.list_users(as_user(token, request)).await?;
    Ok(response.into_inner())
}

/// A request for the first page of `size` users, without filters.
fn page_of(size: i32) -> pb::ListUsersRequest {
    pb::ListUsersRequest {
        page_size: size,
        ..Default::default()
    }
}

/// Every page of a listing, following the tokens; at most `limit` pages.
async fn all_pages(
    gateway: &mut Gateway,
    token: &str,
    request: pb::ListUsersRequest,
    limit: usize,
) -> Vec<pb::ListUsersResponse> {
    let mut pages = Vec::new();
    let mut next = request;
    loop {
        let page = list(gateway, token, next.clone()).await.unwrap();
        let token = page.next_page_token.clone();
        pages.push(page);
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < limit, "more than {limit} pages");
        next.page_token = token;
    }
}

fn ids(pages: &[pb::ListUsersResponse]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| page.users.iter().map(|user| user.id.clone()))
        .collect()
}

fn filter_requests(gateway: &Gateway) -> Vec<RecordedRequest> {
    gateway
        .portal_requests_of("GET")
        .into_iter()
        .filter(|request| request.path == "/api/2.0/people/filter")
        .collect()
}

#[tokio::test]
async fn page_size_two_lists_every_demo_user_exactly_once_on_both_products() {
    for product in PRODUCTS {
        let mut gateway = Gateway::start(Options::of_known_release(product)).await;
        let request = page_of(2);
        let pages = all_pages(&mut gateway, seed::ADMIN_TOKEN, request, 100).await;
        let listed = ids(&pages);
        let unique: HashSet<_> = listed.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "{product:?}: a user listed twice"
        );
        let stored: HashSet<_> = gateway
            .sim
            .user_ids()
            .into_iter()
            .map(|id| id.to_string())
            .collect();
        assert_eq!(unique, stored, "{product:?}");
        assert!(stored.contains(seed::SUSPENDED_ID) && stored.len() >= 8);
        for page in &pages {
            assert!(
                !page.users.is_empty() && page.users.len() <= 2,
                "{product:?}"
            );
            assert_eq!(page.total_size, Some(stored.len() as i32), "{product:?}");
        }
        // One portal request per page, each asking for that page only.
        let requests = filter_requests(&gateway);
        assert_eq!(requests.len(), pages.len(), "{product:?}");
        for (n, request) in requests.iter().enumerate() {
            let query = request.query.as_deref().unwrap_or_default();
            assert!(
                query.contains(&format!("startIndex={}", 2 * n)) && query.contains("count=2"),
                "{product:?}: {query}"
            );
        }
    }
}

#[tokio::test]
async fn a_listed_user_is_the_user_get_user_answers() {
    for product in PRODUCTS {
        let mut gateway = Gateway::start(Options::of_known_release(product)).await;
        let mike = gateway.sim.user(uuid(seed::USER_ID)).unwrap();
        let page = list(
            &mut gateway,
            seed::ADMIN_TOKEN,
            pb::ListUsersRequest {
                query: mike.last_name.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let listed = page
            .users
            .iter()
            .find(|user| user.id == seed::USER_ID)
            .expect("Mike is found by his last name");
        let read = gateway
            .get_user(
                seed::ADMIN_TOKEN,
                pb::GetUserRequest {
                    user_id: seed::USER_ID.into(),
                },
            )
            .await
            .unwrap();
        // Workspace computes the storage fields only for listings
        // (CS@v12.7.1 `EmployeeWraperFull.cs:323-335`): a read shows 0, a
        // listing the real figures (the simulator: -1, no quota).
        let without_storage = |user: &pb::User| pb::User {
            quota_limit: None,
            used_space: None,
            docs_space: None,
            mail_space: None,
            talk_space: None,
            ..user.clone()
        };
        assert_eq!(
            without_storage(listed),
            without_storage(&read),
            "{product:?}"
        );
    }
}

#[tokio::test]
async fn email_finds_exactly_one_user_whatever_the_case() {
    for product in PRODUCTS {
        let mut gateway = Gateway::start(Options::of_known_release(product)).await;
        let email = gateway.sim.user(uuid(seed::USER_ID)).unwrap().email;
        for asked in [email.clone(), email.to_uppercase(), mixed_case(&email)] {
            gateway.sim.clear_requests();
            let page = list(
                &mut gateway,
                seed::ADMIN_TOKEN,
                pb::ListUsersRequest {
                    email: asked.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let found: Vec<_> = page.users.iter().map(|user| user.id.as_str()).collect();
            assert_eq!(found, [seed::USER_ID], "{product:?} {asked}");
            assert_eq!(page.next_page_token, "");
            assert_eq!(page.total_size, Some(1));
            let requests = gateway.people_requests();
            assert_eq!(requests.len(), 1, "{product:?}: one request");
            assert_eq!(requests[0].path, "/api/2.0/people/email");
        }
    }
}

fn mixed_case(text: &str) -> String {
    text.chars()
        .enumerate()
        .map(|(n, c)| {
            if n % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

#[tokio::test]
async fn an_unknown_email_is_an_empty_page() {
    for product in PRODUCTS {
        let mut gateway = Gateway::start(Options::of_known_release(product)).await;
        let page = list(
            &mut gateway,
            seed::ADMIN_TOKEN,
            pb::ListUsersRequest {
                email: "nobody@example.com".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(page.users.is_empty(), "{product:?}");
        assert_eq!(page.next_page_token, "");
        assert_eq!(page.total_size, Some(0));
    }
}

#[tokio::test]
async fn forged_or_reused_tokens_and_negative_page_sizes_are_invalid_and_nothing_is_sent() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    let first = list(&mut gateway, seed::ADMIN_TOKEN, page_of(2))
        .await
        .unwrap();
    assert!(!first.next_page_token.is_empty());
    gateway.sim.clear_requests();
    let mut forged = first.next_page_token.clone();
    forged.replace_range(2..3, if &forged[2..3] == "A" { "B" } else { "A" });
    let refused = [
        pb::ListUsersRequest {
            page_token: forged,
            ..Default::default()
        },
        pb::ListUsersRequest {
            page_token: "bm90IGEgdG9rZW4".into(),
            ..Default::default()
        },
        // Reused with another filter.
        pb::ListUsersRequest {
            page_token: first.next_page_token.clone(),
            guest: Some(true),
            ..Default::default()
        },
        pb::ListUsersRequest {
            page_token: first.next_page_token.clone(),
            email: "mike@example.com".into(),
            ..Default::default()
        },
        page_of(-1),
    ];
    for request in refused {
        let status = list(&mut gateway, seed::ADMIN_TOKEN, request.clone())
            .await
            .unwrap_err();
        assert_status(&status, Code::InvalidArgument, "INVALID_REQUEST");
        let field = if request.page_size < 0 {
            "page_size"
        } else {
            "page_token"
        };
        assert!(
            bad_fields(&status).contains(&field.to_owned()),
            "{request:?}"
        );
    }
    assert!(gateway.people_requests().is_empty(), "nothing was sent");
    // The token still works with the filters it was issued for, and a
    // different page size.
    let second = list(
        &mut gateway,
        seed::ADMIN_TOKEN,
        pb::ListUsersRequest {
            page_size: 3,
            page_token: first.next_page_token,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let first_ids: HashSet<_> = first.users.iter().map(|user| &user.id).collect();
    assert!(
        second
            .users
            .iter()
            .all(|user| !first_ids.contains(&user.id))
    );
    assert_eq!(second.users.len(), 3);
}

#[tokio::test]
async fn a_call_without_a_credential_is_unauthenticated() {
    for product in PRODUCTS {
        let mut gateway = Gateway::start(Options::of_known_release(product)).await;
        let status = gateway
            .client
            .list_users(pb::ListUsersRequest::default())
            .await
            .unwrap_err();
        assert_status(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
        let status = list(&mut gateway, "not-a-known-token", Default::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{product:?}");
    }
}

#[tokio::test]
async fn filters_reach_the_portal_and_each_page_holds_only_what_they_let_through() {
    for product in PRODUCTS {
        let mut gateway = Gateway::start(Options::of_known_release(product)).await;
        let listed = |pages: Vec<pb::ListUsersResponse>| -> HashSet<String> {
            ids(&pages).into_iter().collect()
        };
        let suspended = all_pages(
            &mut gateway,
            seed::ADMIN_TOKEN,
            pb::ListUsersRequest {
                status: pb::StatusFilter::Disabled.into(),
                ..Default::default()
            },
            10,
        )
        .await;
        assert_eq!(
            listed(suspended),
            HashSet::from([seed::SUSPENDED_ID.to_owned()])
        );
        let guests = all_pages(
            &mut gateway,
            seed::ADMIN_TOKEN,
            pb::ListUsersRequest {
                guest: Some(true),
                ..Default::default()
            },
            10,
        )
        .await;
        assert_eq!(listed(guests), HashSet::from([seed::GUEST_ID.to_owned()]));
        let active_full_users = listed(
            all_pages(
                &mut gateway,
                seed::ADMIN_TOKEN,
                pb::ListUsersRequest {
                    guest: Some(false),
                    status: pb::StatusFilter::Active.into(),
                    ..Default::default()
                },
                10,
            )
            .await,
        );
        assert!(active_full_users.contains(seed::USER_ID));
        assert!(!active_full_users.contains(seed::GUEST_ID));
        assert!(!active_full_users.contains(seed::SUSPENDED_ID));
        let marketing = listed(
            all_pages(
                &mut gateway,
                seed::ADMIN_TOKEN,
                pb::ListUsersRequest {
                    department_id: seed::MARKETING_GROUP_ID.into(),
                    ..Default::default()
                },
                10,
            )
            .await,
        );
        let members: HashSet<String> = gateway
            .sim
            .user_ids()
            .into_iter()
            .filter(|id| {
                let user = gateway.sim.user(*id).unwrap();
                user.group_ids.contains(&uuid(seed::MARKETING_GROUP_ID))
            })
            .map(|id| id.to_string())
            .collect();
        assert!(!members.is_empty());
        assert_eq!(marketing, members, "{product:?}");
    }
}

#[tokio::test]
async fn workspace_lists_only_active_users_to_non_administrators() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    let seen = ids(&all_pages(&mut gateway, seed::USER_TOKEN, Default::default(), 10).await);
    assert!(seen.contains(&seed::ADMIN_ID.to_owned()));
    assert!(!seen.contains(&seed::SUSPENDED_ID.to_owned()));
    // Asked for suspended users only, Workspace lists active ones instead
    // (`EmployeeApi.cs:438-452`): the caller hears it, not a false page.
    let status = list(
        &mut gateway,
        seed::USER_TOKEN,
        pb::ListUsersRequest {
            status: pb::StatusFilter::Disabled.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "PORTAL_IGNORED_FILTER");
    assert_eq!(info_metadata(&status, "filter").as_deref(), Some("status"));
}

#[tokio::test]
async fn docspace_refuses_listings_to_plain_users_and_guests() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Docspace)).await;
    for token in [seed::USER_TOKEN, seed::GUEST_TOKEN] {
        let status = list(&mut gateway, token, Default::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{token}");
    }
    // Looking up one's own address is allowed; someone else's is not.
    let own = gateway.sim.user(uuid(seed::USER_ID)).unwrap().email;
    let found = list(
        &mut gateway,
        seed::USER_TOKEN,
        pb::ListUsersRequest {
            email: own,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.users.len(), 1);
    let admins = gateway.sim.user(uuid(seed::ADMIN_ID)).unwrap().email;
    let status = list(
        &mut gateway,
        seed::USER_TOKEN,
        pb::ListUsersRequest {
            email: admins,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_search_workspace_would_cut_at_a_comma_is_refused_before_sending() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    let status = list(
        &mut gateway,
        seed::ADMIN_TOKEN,
        pb::ListUsersRequest {
            query: "Doe, Jane".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "FILTER_NOT_SUPPORTED");
    assert!(gateway.people_requests().is_empty());
}

#[tokio::test]
async fn caller_text_stays_inside_its_query_value() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Docspace)).await;
    let page = list(
        &mut gateway,
        seed::ADMIN_TOKEN,
        pb::ListUsersRequest {
            query: "x&employeeStatus=Terminated&count=100#".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(page.users.is_empty());
    let requests = filter_requests(&gateway);
    let query = requests[0].query.clone().unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(pairs.contains(&(
        "filterValue".to_owned(),
        "x&employeeStatus=Terminated&count=100#".to_owned()
    )));
    assert_eq!(
        pairs.iter().filter(|(name, _)| name == "count").count(),
        1,
        "{query}"
    );
}

/// The next portal GET answers this listing envelope instead: `users`
/// entries (ids only) and, when given, a `total`.
fn canned_page(gateway: &Gateway, users: u32, total: Option<u32>) {
    let entries: Vec<String> = (1..=users)
        .map(|n| format!(r#"{{"id":"00000000-0000-0000-0000-{n:012}"}}"#))
        .collect();
    let total = total
        .map(|total| format!(r#""total":{total},"#))
        .unwrap_or_default();
    gateway.sim.push_fault_on(
        "GET",
        Fault::Respond {
            status: 200,
            content_type: Some("application/json".into()),
            body: format!(
                r#"{{"count":{users},{total}"status":0,"statusCode":200,"response":[{}]}}"#,
                entries.join(",")
            ),
            headers: Vec::new(),
        },
    );
}

#[tokio::test]
async fn a_portal_that_lists_more_users_than_asked_for_is_a_bad_answer() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    canned_page(&gateway, 3, Some(9));
    let status = list(&mut gateway, seed::ADMIN_TOKEN, page_of(2))
        .await
        .unwrap_err();
    assert_status(&status, Code::Internal, "PORTAL_BAD_RESPONSE");
    // The same answer for a page of three is read.
    canned_page(&gateway, 3, Some(9));
    let page = list(&mut gateway, seed::ADMIN_TOKEN, page_of(3))
        .await
        .unwrap();
    assert_eq!(page.users.len(), 3);
    assert_eq!(page.total_size, Some(9));
    assert!(!page.next_page_token.is_empty());
    // Without its total, a full page cannot tell the last one from a portal
    // that ignores `startIndex` (which would page forever): a bad answer.
    canned_page(&gateway, 2, None);
    let status = list(&mut gateway, seed::ADMIN_TOKEN, page_of(2))
        .await
        .unwrap_err();
    assert_status(&status, Code::Internal, "PORTAL_BAD_RESPONSE");
}

#[tokio::test]
async fn a_listing_is_retried_as_a_read_and_given_up_at_the_deadline() {
    let mut gateway = Gateway::start(Options::of_known_release(Product::Workspace)).await;
    gateway
        .sim
        .push_fault_on("GET", Fault::Html { status: 503 });
    let page = list(&mut gateway, seed::ADMIN_TOKEN, Default::default())
        .await
        .unwrap();
    assert!(!page.users.is_empty());
    assert_eq!(filter_requests(&gateway).len(), 2, "tried again once");

    gateway.sim.clear_requests();
    gateway.sim.hold_requests_of("GET");
    // Sent raw, so that the gateway's answer at the deadline is heard
    // (a client's own timer would cancel first).
    let mut raw = raw_client(&gateway).await;
    let (response, mut body) = raw
        .send_request(call_head(&gateway, "ListUsers", Some("300m")), false)
        .unwrap();
    body.send_data(grpc_frame(&pb::ListUsersRequest::default()), true)
        .unwrap();
    let (code, _) = grpc_status(response).await;
    assert_eq!(code, Code::DeadlineExceeded);
    assert_eq!(filter_requests(&gateway).len(), 1, "one request, held");
    gateway.sim.release_requests();
}
