//! Wire-level checks of the portal simulator: plain HTTP against `Simulator::start`, asserting
//! the facts the gateway depends on (envelopes, dates, escaping, 401s, the update traps, faults
//! and request recording).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use portal_sim::{Fault, Product, Simulator, seed};
use reqwest::{Client, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// What came back: status, headers and the body as text.
struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(
    sim: &Simulator,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let url = sim.base_url().join(path).unwrap();
    let mut request = Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, token);
    }
    if let Some(body) = body {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

fn id(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

fn person(user: &str) -> String {
    format!("api/2.0/people/{user}")
}

#[tokio::test]
async fn workspace_envelope_is_camel_case_with_count_status_and_status_code() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let answer = call(
        &sim,
        Method::GET,
        "api/2.0/people/@self",
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        answer
            .text
            .starts_with(r#"{"count":1,"status":0,"statusCode":200,"response":{"#)
    );
    let user = &answer.json()["response"];
    assert_eq!(user["id"], seed::ADMIN_ID);
    assert_eq!(user["userName"], "jane.doe");
    assert_eq!(user["isLDAP"], false);
    assert_eq!(user["isSSO"], false);
    assert_eq!(user["terminated"], Value::Null);
    assert_eq!(user["quotaLimit"], 0);
    assert!(user.get("mobilePhoneActivationStatus").is_none());
}

#[tokio::test]
async fn docspace_envelope_leads_with_response_and_links_the_full_request_url() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let answer = call(
        &sim,
        Method::GET,
        "api/2.0/people/@self?x=1",
        Some(seed::USER_TOKEN),
        None,
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.text.starts_with(r#"{"response":{"#));
    let body = answer.json();
    assert_eq!(body["count"], 1);
    assert_eq!(body["status"], 0);
    assert_eq!(body["statusCode"], 200);
    let expected_href = format!("{}api/2.0/people/@self?x=1", sim.base_url());
    assert_eq!(
        body["links"],
        json!([{ "href": expected_href, "action": "GET" }])
    );
    let user = &body["response"];
    assert_eq!(user["theme"], "Base");
    assert_eq!(
        user["registrationDate"],
        "2015-09-01T10:15:00.0000000+03:00"
    );
    for absent in [
        "title",
        "sex",
        "birthday",
        "workFrom",
        "lead",
        "spam",
        "createdBy",
    ] {
        assert!(user.get(absent).is_none(), "{absent} must not be rendered");
    }
}

#[tokio::test]
async fn workspace_dates_have_seven_digits_and_birthdays_show_the_three_hour_shift() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let mike = call(
        &sim,
        Method::GET,
        &person("mike.zanyatski"),
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await
    .json();
    let sam = call(
        &sim,
        Method::GET,
        &person(seed::SUSPENDED_ID),
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await
    .json();

    assert_eq!(
        mike["response"]["birthday"],
        "1985-04-10T03:00:00.0000000+03:00"
    );
    // Stored at 22:30 tenant time, the wall clock is shown as if it were UTC.
    assert_eq!(
        mike["response"]["workFrom"],
        "2015-09-02T01:30:00.0000000+03:00"
    );
    assert_eq!(
        sam["response"]["terminated"],
        "2024-11-30T15:00:00.0000000+03:00"
    );
    assert_eq!(sam["response"]["status"], 2);
}

#[tokio::test]
async fn workspace_escapes_slashes_and_html_encodes_department_names() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let answer = call(
        &sim,
        Method::GET,
        &person("alex.admin"),
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await;

    assert!(
        answer.text.contains(r#""profileUrl":"http:\/\/127.0.0.1:"#),
        "{}",
        answer.text
    );
    assert!(!answer.text.contains("http://"));
    assert_eq!(
        answer.json()["response"]["department"],
        "Sales &amp; Support"
    );
    assert_eq!(
        answer.json()["response"]["groups"][0]["name"],
        "Sales & Support"
    );
}

#[tokio::test]
async fn unauthenticated_calls_get_plain_text_on_workspace_and_an_empty_401_on_docspace() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    let docspace = Simulator::start(Product::Docspace).await.unwrap();

    let bare = call(&workspace, Method::GET, "api/2.0/people/@self", None, None).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bare.text, "Unauthorized");
    assert!(
        bare.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(bare.header("www-authenticate").is_none());

    let wrong = call(
        &workspace,
        Method::GET,
        "api/2.0/people/@self",
        Some("nope"),
        None,
    )
    .await;
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic Realm=\"127.0.0.1\"")
    );

    let ds = call(
        &docspace,
        Method::GET,
        "api/2.0/people/@self",
        Some("Bearer nope"),
        None,
    )
    .await;
    assert_eq!(ds.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ds.text, "");
    assert!(ds.header("content-type").is_none());
}

#[tokio::test]
async fn workspace_put_without_contacts_wipes_them_and_without_is_visitor_promotes_a_guest() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();

    let mike = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::ADMIN_TOKEN),
        Some(json!({"location": "Oslo"})),
    )
    .await;
    assert_eq!(mike.status, StatusCode::OK);
    assert!(mike.json()["response"].get("contacts").is_none());
    assert!(mike.json()["response"].get("lead").is_none());
    let stored = sim.user(id(seed::USER_ID)).unwrap();
    assert!(stored.contacts.is_empty());
    assert_eq!(stored.lead, None);
    assert_eq!(stored.location.as_deref(), Some("Oslo"));

    let anna = call(
        &sim,
        Method::PUT,
        &person(seed::GUEST_ID),
        Some(seed::ADMIN_TOKEN),
        Some(json!({"firstname": "Anna"})),
    )
    .await;
    assert_eq!(anna.json()["response"]["isVisitor"], false);
    assert!(!sim.user(id(seed::GUEST_ID)).unwrap().is_visitor);
}

#[tokio::test]
async fn workspace_put_refusals_are_500s_with_the_portal_messages() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();

    let by_name = call(
        &sim,
        Method::PUT,
        &person("@self"),
        Some(seed::USER_TOKEN),
        Some(json!({})),
    )
    .await;
    assert_eq!(by_name.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        by_name.json()["error"]["message"],
        "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)."
    );

    let other = call(
        &sim,
        Method::PUT,
        &person(seed::ADMIN_ID),
        Some(seed::USER_TOKEN),
        Some(json!({})),
    )
    .await;
    assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        other.json(),
        json!({"status":1,"statusCode":500,"error":{"message":"\"Mike Zanyatski\" access denied \"Edit user information\"","hresult":-2147467259,"data":{}}})
    );

    // Only a deployment that configures a name rule refuses names.
    sim.set_letters_only_names(true);
    let digits = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::USER_TOKEN),
        Some(json!({"firstname": "R2D2"})),
    )
    .await;
    assert_eq!(digits.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        digits.json()["error"]["message"],
        "Incorrect firstname or lastname"
    );
    assert_eq!(sim.user(id(seed::USER_ID)).unwrap().first_name, "Mike");
}

#[tokio::test]
async fn workspace_delete_contacts_removes_by_type_and_ignores_the_value() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let body = json!({"contacts": [{"Type": "skype", "Value": "not-the-stored-value"}]});

    let answer = call(
        &sim,
        Method::DELETE,
        "api/2.0/people/mike.zanyatski/contacts",
        Some(seed::USER_TOKEN),
        Some(body),
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json()["response"]["contacts"],
        json!([{"type": "mail", "value": "mike@example.com"}, {"type": "phone", "value": "+1 650 555 0100"}])
    );
    assert_eq!(
        sim.user(id(seed::USER_ID)).unwrap().contacts,
        ["mail", "mike@example.com", "phone", "+1 650 555 0100"]
    );
}

#[tokio::test]
async fn workspace_post_contacts_replaces_the_list_and_answers_201() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let body = json!({"contacts": [{"type": "GTalk", "value": "m@x"}]});

    let answer = call(
        &sim,
        Method::POST,
        &format!("{}/contacts", person(seed::USER_ID)),
        Some(seed::USER_TOKEN),
        Some(body),
    )
    .await;

    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.json()["statusCode"], 201);
    assert_eq!(
        sim.user(id(seed::USER_ID)).unwrap().contacts,
        ["GTalk", "m@x"]
    );
}

#[tokio::test]
async fn docspace_has_no_contacts_route_and_answers_404_with_an_empty_body() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let answer = call(
        &sim,
        Method::PUT,
        "api/2.0/people/mike.zanyatski/contacts",
        Some(seed::USER_TOKEN),
        Some(json!({"contacts": []})),
    )
    .await;

    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.text, "");
}

#[tokio::test]
async fn docspace_validation_failure_is_a_400_inside_the_success_envelope() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let answer = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::USER_TOKEN),
        Some(json!({"email": "not-an-address", "firstName": "Changed"})),
    )
    .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = answer.json();
    assert_eq!(body["status"], 1);
    assert_eq!(body["statusCode"], 400);
    assert_eq!(body["count"], 1);
    assert_eq!(body["links"][0]["action"], "PUT");
    assert_eq!(
        body["response"]["title"],
        "One or more validation errors occurred."
    );
    assert_eq!(body["response"]["status"], 400);
    assert_eq!(
        body["response"]["errors"]["Email"][0],
        "The Email field is not a valid e-mail address."
    );
    assert_eq!(sim.user(id(seed::USER_ID)).unwrap().first_name, "Mike");
}

#[tokio::test]
async fn docspace_admin_editing_another_users_first_name_is_ignored_with_200() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let answer = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::ADMIN_TOKEN),
        Some(json!({"firstName": "Michael", "spam": false})),
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["response"]["firstName"], "Mike");
    let stored = sim.user(id(seed::USER_ID)).unwrap();
    assert_eq!(stored.first_name, "Mike");
    assert_eq!(stored.spam, Some(true));
}

#[tokio::test]
async fn docspace_self_update_without_spam_resets_it() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let answer = call(
        &sim,
        Method::PUT,
        &person("mike.zanyatski"),
        Some(seed::USER_TOKEN),
        Some(json!({"location": "Oslo"})),
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    let stored = sim.user(id(seed::USER_ID)).unwrap();
    assert_eq!(stored.spam, None);
    assert_eq!(stored.location.as_deref(), Some("Oslo"));
}

#[tokio::test]
async fn docspace_empty_contacts_clear_storage_while_the_answer_still_shows_the_old_ones() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let body = json!({"contacts": [{"type": "skype", "value": ""}], "spam": true});

    let answer = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::USER_TOKEN),
        Some(body),
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json()["response"]["contacts"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert!(sim.user(id(seed::USER_ID)).unwrap().contacts.is_empty());
}

#[tokio::test]
async fn docspace_put_on_at_self_is_looked_up_as_a_user_name_and_not_found() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let answer = call(
        &sim,
        Method::PUT,
        &person("@self"),
        Some(seed::USER_TOKEN),
        Some(json!({})),
    )
    .await;

    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let body = answer.json();
    assert_eq!(body["error"]["message"], "The user could not be found");
    assert_eq!(body["statusCode"], 404);
    assert!(body.get("links").is_none());
}

#[tokio::test]
async fn respond_and_html_faults_replace_the_answer_without_applying_the_request() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.push_fault_on(
        "PUT",
        Fault::Respond {
            status: 429,
            content_type: Some("text/plain".into()),
            body: "slow down".into(),
            headers: vec![("Retry-After".into(), "7".into())],
        },
    );
    sim.push_fault(Fault::Html { status: 502 });

    // The GET takes the any-method fault even though the PUT fault was queued first.
    let proxied = call(
        &sim,
        Method::GET,
        "api/2.0/people/@self",
        Some(seed::USER_TOKEN),
        None,
    )
    .await;
    assert_eq!(proxied.status, StatusCode::BAD_GATEWAY);
    assert!(
        proxied
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(proxied.text.contains("<title>502 Bad Gateway</title>"));

    let limited = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::USER_TOKEN),
        Some(json!({"firstname": "Changed"})),
    )
    .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.text, "slow down");
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(sim.user(id(seed::USER_ID)).unwrap().first_name, "Mike");

    let normal = call(
        &sim,
        Method::GET,
        "api/2.0/people/@self",
        Some(seed::USER_TOKEN),
        None,
    )
    .await;
    assert_eq!(normal.status, StatusCode::OK);
}

#[tokio::test]
async fn portal_error_fault_uses_each_products_error_envelope() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    let docspace = Simulator::start(Product::Docspace).await.unwrap();
    for sim in [&workspace, &docspace] {
        sim.push_fault(Fault::PortalError {
            status: 402,
            message: "Payment required".into(),
        });
    }

    let cs = call(
        &workspace,
        Method::GET,
        "api/2.0/people/@self",
        Some(seed::USER_TOKEN),
        None,
    )
    .await;
    assert_eq!(cs.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(cs.json()["error"]["message"], "Payment required");
    assert_eq!(cs.json()["error"]["data"], json!({}));

    let ds = call(
        &docspace,
        Method::GET,
        "api/2.0/people/@self",
        Some(seed::USER_TOKEN),
        None,
    )
    .await;
    assert_eq!(ds.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(ds.json()["statusCode"], 402);
    assert!(
        ds.json()["error"]["type"]
            .as_str()
            .unwrap()
            .starts_with("ASC.")
    );
}

#[tokio::test]
async fn malformed_body_fault_applies_the_request_but_answers_with_broken_json() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.push_fault(Fault::MalformedBody);
    let contacts = json!([{"Type": "mail", "Value": "mike@example.com"}]);

    let answer = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::USER_TOKEN),
        Some(json!({"location": "Oslo", "contacts": contacts})),
    )
    .await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(serde_json::from_str::<Value>(&answer.text).is_err());
    assert_eq!(
        sim.user(id(seed::USER_ID)).unwrap().location.as_deref(),
        Some("Oslo")
    );
}

#[tokio::test]
async fn truncated_body_fault_sends_half_the_announced_length_then_closes() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    sim.push_fault(Fault::TruncatedBody);

    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let request = format!(
        "GET /api/2.0/people/@self HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
        sim.addr(),
        seed::USER_TOKEN
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();

    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"));
    let announced: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(announced > 100);
    assert_eq!(body.len(), announced / 2);
    assert!(body.starts_with(r#"{"response":{"#));

    sim.push_fault(Fault::TruncatedBody);
    let response = Client::new()
        .get(sim.base_url().join("api/2.0/people/@self").unwrap())
        .header(header::AUTHORIZATION, seed::USER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.is_err());
}

#[tokio::test]
async fn delay_fault_outlasts_a_short_client_timeout_and_the_request_is_still_recorded() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.push_fault(Fault::Delay(Duration::from_secs(60)));
    let client = Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    let error = client
        .get(sim.base_url().join("api/2.0/people/@self").unwrap())
        .header(header::AUTHORIZATION, seed::USER_TOKEN)
        .send()
        .await
        .unwrap_err();

    assert!(error.is_timeout());
    // Recorded as it arrived, whatever its answer does.
    let recorded = tokio::time::timeout(Duration::from_secs(120), async {
        while sim.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(recorded.is_ok(), "the request was never recorded");
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn requests_are_recorded_in_order_with_the_raw_encoded_path_even_when_faulted() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.push_fault(Fault::Html { status: 504 });

    call(
        &sim,
        Method::GET,
        "api/2.0/people/..%2Fx",
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await;
    let answer = call(
        &sim,
        Method::PUT,
        &format!("{}?fields=id", person(seed::USER_ID)),
        Some(seed::USER_TOKEN),
        Some(json!({"firstname": "Mike"})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);

    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/2.0/people/..%2Fx");
    assert_eq!(requests[0].header("AUTHORIZATION"), Some(seed::ADMIN_TOKEN));
    assert_eq!(requests[1].method, "PUT");
    assert_eq!(requests[1].query.as_deref(), Some("fields=id"));
    assert_eq!(requests[1].header("content-type"), Some("application/json"));
    assert_eq!(requests[1].json(), Some(json!({"firstname": "Mike"})));

    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_requests_under_latency_are_all_answered() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    sim.set_latency(Some(Duration::from_millis(50)));
    let client = Client::new();
    let url = sim.base_url().join("api/2.0/people/@self").unwrap();

    let calls = (0..16).map(|_| {
        let request = client
            .get(url.clone())
            .header(header::AUTHORIZATION, seed::USER_TOKEN);
        async move { request.send().await.map(|response| response.status()) }
    });
    let statuses = futures_join(calls).await;

    assert!(statuses.iter().all(|status| *status == StatusCode::OK));
    assert_eq!(sim.requests().len(), 16);
}

/// Runs the calls concurrently on the runtime and collects their statuses.
async fn futures_join<F>(calls: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = reqwest::Result<StatusCode>> + Send + 'static,
{
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap().unwrap());
    }
    statuses
}

#[tokio::test]
async fn workspace_put_without_department_empties_them_for_an_editor_of_groups_only() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let title_only = json!({"isVisitor": false, "title": "Boss"});
    // A plain user editing themself holds no Action_EditGroups: nothing happens to departments.
    let mike = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::USER_TOKEN),
        Some(title_only.clone()),
    )
    .await;
    assert_eq!(mike.status, StatusCode::OK);
    assert_eq!(sim.user(id(seed::USER_ID)).unwrap().group_ids.len(), 1);
    // An administrator's update binds the missing list as empty and leaves every department.
    let admin = call(
        &sim,
        Method::PUT,
        &person(seed::USER_ID),
        Some(seed::ADMIN_TOKEN),
        Some(title_only),
    )
    .await;
    assert_eq!(admin.status, StatusCode::OK);
    assert!(sim.user(id(seed::USER_ID)).unwrap().group_ids.is_empty());
    assert_eq!(admin.json()["response"]["department"], "");
}

#[tokio::test]
async fn both_products_report_their_build_without_a_credential() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    let answer = call(
        &workspace,
        Method::GET,
        "api/2.0/settings/version/build",
        None,
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    // A 12.7.1 ships `version.number` 12.7.0.
    assert_eq!(answer.json()["response"]["communityServer"], "12.7.0");

    let docspace = Simulator::start(Product::Docspace).await.unwrap();
    docspace.set_docspace_release(portal_sim::Release::new(3, 6, 1));
    let answer = call(
        &docspace,
        Method::GET,
        "api/2.0/settings/version/build",
        None,
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["response"]["docSpace"], "3.6.1");
    docspace.set_reported_version(Some("3.1.0"));
    let answer = call(
        &docspace,
        Method::GET,
        "api/2.0/settings/version/build",
        None,
        None,
    )
    .await;
    assert_eq!(answer.json()["response"]["docSpace"], "3.1.0");
}

#[tokio::test]
async fn workspace_format_suffixes_are_case_sensitive_and_xml_is_converted() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let xml = call(
        &sim,
        Method::GET,
        "api/2.0/people/mike.zanyatski.xml",
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(xml.status, StatusCode::OK);
    assert!(xml.header("content-type").unwrap().starts_with("text/xml"));
    assert!(
        xml.text.contains("<userName>mike.zanyatski</userName>"),
        "{}",
        xml.text
    );
    let upper = call(
        &sim,
        Method::GET,
        "api/2.0/people/mike.zanyatski.JSON",
        Some(seed::ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(upper.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn docspace_before_3_7_1_applies_own_details_and_ignores_the_owners_status() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    sim.set_docspace_release(portal_sim::Release::new(3, 6, 1));
    let own = call(
        &sim,
        Method::PUT,
        &person(seed::SECOND_ADMIN_ID),
        Some(seed::SECOND_ADMIN_TOKEN),
        Some(json!({"title": "CTO", "sex": 1, "birthday": "1990-05-06T12:00:00.000+03:00", "disable": false, "spam": true})),
    )
    .await;
    assert_eq!(own.status, StatusCode::OK);
    let alex = sim.user(id(seed::SECOND_ADMIN_ID)).unwrap();
    assert_eq!(alex.title.as_deref(), Some("CTO"));
    assert_eq!(alex.sex, Some(true));
    // Stored as the tenant's wall clock of the instant sent.
    assert_eq!(
        alex.birthday,
        chrono::NaiveDate::from_ymd_opt(1990, 5, 6).and_then(|day| day.and_hms_opt(12, 0, 0))
    );
    assert_eq!(own.json()["response"]["title"], "CTO");

    // No 403 before 3.7.1: the owner's status is silently left alone.
    let owner = call(
        &sim,
        Method::PUT,
        &person(seed::ADMIN_ID),
        Some(seed::SECOND_ADMIN_TOKEN),
        Some(json!({"disable": true})),
    )
    .await;
    assert_eq!(owner.status, StatusCode::OK);
    assert_eq!(sim.user(id(seed::ADMIN_ID)).unwrap().status, 1);
}

#[tokio::test]
async fn the_rate_limiter_answers_429_with_retry_after_and_applies_nothing() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    sim.throttle_for(Duration::from_secs(60), Some(7));
    let path = format!("api/2.0/people/{}", seed::USER_ID);
    let refused = call(
        &sim,
        Method::PUT,
        &path,
        Some(seed::ADMIN_TOKEN),
        Some(json!({"firstname": "Throttled"})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), Some("7"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert!(refused.header("x-ratelimit-reset").is_some());
    assert!(refused.text.is_empty(), "{}", refused.text);
    assert_eq!(sim.throttled_requests(), 1);
    // The per-minute limit says no more than that it refused.
    sim.throttle_for(Duration::from_secs(60), None);
    let refused = call(&sim, Method::GET, &path, Some(seed::ADMIN_TOKEN), None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), None);
    assert_eq!(refused.header("x-ratelimit-limit"), Some("1500"));
    assert_eq!(sim.throttled_requests(), 2);
    assert_eq!(sim.user(id(seed::USER_ID)).unwrap().first_name, "Mike");
    // A window that is over refuses nothing.
    sim.throttle_for(Duration::ZERO, Some(7));
    let answered = call(&sim, Method::GET, &path, Some(seed::ADMIN_TOKEN), None).await;
    assert_eq!(answered.status, StatusCode::OK);
    assert_eq!(sim.throttled_requests(), 2);
}

#[tokio::test]
async fn a_held_portal_records_requests_and_answers_them_once_released() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.hold_requests();
    let path = format!("api/2.0/people/{}", seed::USER_ID);
    let pending = tokio::spawn({
        let url = sim.base_url().join(&path).unwrap();
        async move {
            Client::new()
                .get(url)
                .header(header::AUTHORIZATION, seed::ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let held = tokio::time::timeout(Duration::from_secs(120), async {
        while sim.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(held.is_ok(), "the request never arrived");
    assert_eq!(sim.requests().len(), 1, "a held request is recorded");
    assert!(!pending.is_finished());
    sim.release_requests();
    assert_eq!(pending.await.unwrap(), StatusCode::OK);
    assert_eq!(sim.peak_in_flight(), 1);
    assert_eq!(sim.in_flight(), 0);
}

#[tokio::test]
async fn workspace_stores_a_text_that_is_wholly_a_date_time_rewritten() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let path = format!("api/2.0/people/{}", seed::USER_ID);
    for (sent, stored) in [
        ("2020-01-02T03:04:05+03:00", "2020-01-02T00:04:05+00:00"),
        ("2020-01-02T03:04:05.000Z", "2020-01-02T03:04:05Z"),
        ("2020-01-02T03:04:05.1230000", "2020-01-02T03:04:05.123"),
        ("met on 2020-01-02T03:04:05Z", "met on 2020-01-02T03:04:05Z"),
    ] {
        let body = serde_json::json!({
            "comment": sent,
            "isVisitor": false,
            "contacts": [{"type": "mail", "value": "mike@example.com"}],
        });
        let answer = call(
            &sim,
            Method::PUT,
            &path,
            Some(seed::ADMIN_TOKEN),
            Some(body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        let id = seed::USER_ID.parse().unwrap();
        assert_eq!(
            sim.user(id).unwrap().notes.as_deref(),
            Some(stored),
            "{sent}"
        );
    }
}

#[tokio::test]
async fn the_workspace_status_route_skips_without_a_word() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let suspended: uuid::Uuid = seed::SUSPENDED_ID.parse().unwrap();
    let owner: uuid::Uuid = seed::ADMIN_ID.parse().unwrap();
    let ldap: uuid::Uuid = seed::LDAP_ID.parse().unwrap();
    sim.set_user_quota(Some(0));
    let body = serde_json::json!({
        "userIds": [seed::SUSPENDED_ID, seed::ADMIN_ID, seed::LDAP_ID],
    });
    let answer = call(
        &sim,
        Method::PUT,
        "api/2.0/people/status/Active",
        Some(seed::ADMIN_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    // No seat: still suspended; the LDAP user is left out of the answer.
    let ids: Vec<_> = answer.json()["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [seed::SUSPENDED_ID, seed::ADMIN_ID]);
    assert_eq!(sim.user(suspended).unwrap().status, 2);
    sim.set_user_quota(None);
    call(
        &sim,
        Method::PUT,
        "api/2.0/people/status/active",
        Some(seed::ADMIN_TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(sim.user(suspended).unwrap().status, 1);
    // The caller (the owner) and LDAP users are never changed.
    let body = serde_json::json!({ "userIds": [seed::ADMIN_ID, seed::LDAP_ID] });
    call(
        &sim,
        Method::PUT,
        "api/2.0/people/status/Terminated",
        Some(seed::ADMIN_TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(sim.user(owner).unwrap().status, 1);
    assert_eq!(sim.user(ldap).unwrap().status, 1);
}

#[tokio::test]
async fn docspace_3_1_has_the_contacts_routes_and_3_2_1_does_not() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let path = format!("api/2.0/people/{}/contacts", seed::USER_ID);
    let body = json!({"contacts": [{"type": "telegram", "value": "@mike"}]});
    let gone = call(
        &sim,
        Method::PUT,
        &path,
        Some(seed::ADMIN_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    sim.set_docspace_release(portal_sim::Release::new(3, 1, 1));
    let put = call(
        &sim,
        Method::PUT,
        &path,
        Some(seed::ADMIN_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(
        sim.user(id(seed::USER_ID)).unwrap().contacts,
        ["telegram", "@mike"]
    );
    // DELETE answers the removal but saves nothing.
    let delete = call(
        &sim,
        Method::DELETE,
        &path,
        Some(seed::ADMIN_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(delete.status, StatusCode::OK);
    assert!(delete.json()["response"].get("contacts").is_none());
    assert_eq!(
        sim.user(id(seed::USER_ID)).unwrap().contacts,
        ["telegram", "@mike"]
    );
    // Someone else's, by a plain user: 403 on 3.1.
    let others = format!("api/2.0/people/{}/contacts", seed::ADMIN_ID);
    let denied = call(
        &sim,
        Method::PUT,
        &others,
        Some(seed::USER_TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

/// The first names a list answer carries, in order.
fn first_names(answer: &Answer) -> Vec<String> {
    answer.json()["response"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", answer.text))
        .iter()
        .map(|user| user["firstName"].as_str().unwrap().to_owned())
        .collect()
}

async fn get(sim: &Simulator, path: &str, token: &str) -> Answer {
    call(sim, Method::GET, path, Some(token), None).await
}

#[tokio::test]
async fn both_products_find_a_user_by_email_in_any_case_terminated_ones_too() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    // Any caller, a guest too.
    let found = get(
        &workspace,
        "api/2.0/people/email?email=MIKE%40Example.com",
        seed::GUEST_TOKEN,
    )
    .await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found
            .text
            .starts_with(r#"{"count":1,"status":0,"statusCode":200,"response":{"#),
        "{}",
        found.text
    );
    assert_eq!(found.json()["response"]["id"], seed::USER_ID);
    assert_eq!(found.json()["response"]["quotaLimit"], 0);
    let terminated = get(
        &workspace,
        "api/2.0/people/EMAIL?email=sam@example.com",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(terminated.json()["response"]["id"], seed::SUSPENDED_ID);

    let docspace = Simulator::start(Product::Docspace).await.unwrap();
    // Trimmed, and matched as the email column's collation compares.
    let found = get(
        &docspace,
        "api/2.0/people/email?email=+Mike%40EXAMPLE.com+",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.text.starts_with(r#"{"response":{"#), "{}", found.text);
    assert_eq!(found.json()["count"], 1);
    assert_eq!(found.json()["response"]["id"], seed::USER_ID);
    let terminated = get(
        &docspace,
        "api/2.0/people/email?email=sam@example.com",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(terminated.json()["response"]["id"], seed::SUSPENDED_ID);
}

#[tokio::test]
async fn an_unknown_or_missing_email_is_not_found_and_workspace_does_not_split_it() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    for path in [
        "api/2.0/people/email?email=nobody@example.com",
        "api/2.0/people/email",
        // A method parameter is bound whole, unlike the paging values.
        "api/2.0/people/email?email=mike@example.com,x",
    ] {
        let answer = get(&workspace, path, seed::ADMIN_TOKEN).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.json()["error"]["message"], "User not found");
    }
    let bare = call(&workspace, Method::GET, "api/2.0/people/email", None, None).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);

    let docspace = Simulator::start(Product::Docspace).await.unwrap();
    let answer = get(
        &docspace,
        "api/2.0/people/email?email=nobody@example.com",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.json()["error"]["message"],
        "The user could not be found"
    );
    assert_eq!(
        answer.json()["error"]["type"],
        "ASC.Common.Web.ItemNotFoundException"
    );
}

#[tokio::test]
async fn docspace_email_lookup_refuses_blank_and_malformed_emails_and_others_to_plain_users() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    for path in ["api/2.0/people/email?email=%20", "api/2.0/people/email"] {
        let blank = get(&sim, path, seed::ADMIN_TOKEN).await;
        assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{path}");
        let body = blank.json();
        assert_eq!(body["statusCode"], 400);
        assert_eq!(
            body["error"]["message"],
            "Value cannot be null. (Parameter 'email')"
        );
        assert_eq!(body["error"]["type"], "System.ArgumentNullException");
    }
    let malformed = get(
        &sim,
        "api/2.0/people/email?email=no-at-sign",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["status"], 1);
    assert_eq!(
        malformed.json()["response"]["errors"]["email"][0],
        "The Email field is not a valid e-mail address."
    );

    // A "User" sees only themself, and the 404 comes before the refusal.
    let others = get(
        &sim,
        "api/2.0/people/email?email=jane@example.com",
        seed::USER_TOKEN,
    )
    .await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);
    assert_eq!(others.json()["error"]["message"], "Access denied");
    let unknown = get(
        &sim,
        "api/2.0/people/email?email=nobody@x.com",
        seed::USER_TOKEN,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let own = get(
        &sim,
        "api/2.0/people/email?email=mike@example.com",
        seed::USER_TOKEN,
    )
    .await;
    assert_eq!(own.status, StatusCode::OK);
    let guest = get(
        &sim,
        "api/2.0/people/email?email=mike@example.com",
        seed::GUEST_TOKEN,
    )
    .await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn workspace_filter_pages_the_directory_in_display_order_with_its_envelope() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    let all = get(&sim, "api/2.0/people/filter", seed::ADMIN_TOKEN).await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(
        all.text
            .starts_with(r#"{"count":8,"total":8,"status":0,"statusCode":200,"response":[{"#),
        "{}",
        all.text
    );
    assert_eq!(
        first_names(&all),
        ["Alex", "Anna", "Jane", "Lee", "Mike", "Pat", "Quinn", "Sam"]
    );
    // Built with the API context, a listed user's quota limit is loaded: -1 while quotas are off.
    assert_eq!(all.json()["response"][0]["quotaLimit"], -1);

    let page = get(
        &sim,
        "api/2.0/people/filter?startIndex=2&count=3",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert!(
        page.text
            .starts_with(r#"{"count":3,"startIndex":2,"total":8,"status":0,"#),
        "{}",
        page.text
    );
    assert_eq!(first_names(&page), ["Jane", "Lee", "Mike"]);
    // Paging values are read through `GetRequestValue`: the first comma piece.
    let split = get(
        &sim,
        "api/2.0/people/filter?startIndex=7,1&count=5,1",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&split), ["Sam"]);
    let past_the_end = get(
        &sim,
        "api/2.0/people/filter?startIndex=50",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(
        past_the_end.text,
        r#"{"startIndex":50,"total":8,"status":0,"statusCode":200,"response":[]}"#
    );
    // Asking for nothing: the handler then claims a next page.
    let nothing = get(&sim, "api/2.0/people/filter?count=0", seed::ADMIN_TOKEN).await;
    assert_eq!(
        nothing.text,
        r#"{"nextIndex":1,"total":8,"status":0,"statusCode":200,"response":[]}"#
    );
    let by_last_name = get(
        &sim,
        "api/2.0/people/filter?sortBy=lastname&sortOrder=descending&count=2",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&by_last_name), ["Mike", "Sam"]);
    let bare = call(&sim, Method::GET, "api/2.0/people/filter", None, None).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn workspace_filter_never_shows_terminated_users_to_non_admins() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    for path in [
        "api/2.0/people/filter",
        "api/2.0/people/filter?employeeStatus=Terminated",
        "api/2.0/people/filter?employeeStatus=all",
    ] {
        let answer = get(&sim, path, seed::GUEST_TOKEN).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.json()["total"], 7, "{path}");
        assert!(!first_names(&answer).contains(&"Sam".to_owned()), "{path}");
    }
    // People admins may ask for them.
    let terminated = get(
        &sim,
        "api/2.0/people/filter?employeeStatus=2",
        seed::PEOPLE_ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&terminated), ["Sam"]);
    let bad = get(
        &sim,
        "api/2.0/people/filter?employeeStatus=Fired",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json()["error"]["message"],
        "Requested value 'Fired' was not found."
    );
}

#[tokio::test]
async fn both_filters_search_words_in_names_and_emails() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    let docspace = Simulator::start(Product::Docspace).await.unwrap();
    for sim in [&workspace, &docspace] {
        for (search, expected) in [
            ("ZAN", vec!["Mike"]),
            ("mike+example.com", vec!["Mike"]),
            ("guest", vec!["Anna"]),
            ("nobody", vec![]),
        ] {
            let path = format!("api/2.0/people/filter?filterValue={search}");
            let answer = get(sim, &path, seed::ADMIN_TOKEN).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(first_names(&answer), expected, "{} {path}", sim.product());
            assert_eq!(answer.json()["total"], expected.len(), "{path}");
        }
    }
    // Workspace also searches titles and locations, and a one-letter word finds nothing.
    let title = get(
        &workspace,
        "api/2.0/people/filter?filterValue=director",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&title), ["Jane"]);
    let short = get(
        &workspace,
        "api/2.0/people/filter?filterValue=j+doe",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert!(first_names(&short).is_empty());
    let title = get(
        &docspace,
        "api/2.0/people/filter?filterValue=director",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert!(first_names(&title).is_empty());
}

#[tokio::test]
async fn both_filters_select_a_department_and_guests() {
    let workspace = Simulator::start(Product::Workspace).await.unwrap();
    let docspace = Simulator::start(Product::Docspace).await.unwrap();
    for sim in [&workspace, &docspace] {
        let product = sim.product();
        let marketing = format!("api/2.0/people/filter?groupId={}", seed::MARKETING_GROUP_ID);
        let answer = get(sim, &marketing, seed::ADMIN_TOKEN).await;
        assert_eq!(first_names(&answer), ["Jane", "Mike"], "{product}");
        let unknown = format!("api/2.0/people/filter?groupId={}", Uuid::new_v4());
        let answer = get(sim, &unknown, seed::ADMIN_TOKEN).await;
        assert_eq!(answer.json()["total"], 0, "{product}");
        let bad = get(sim, "api/2.0/people/filter?groupId=nope", seed::ADMIN_TOKEN).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{product}");
    }
    let visitors = get(
        &workspace,
        "api/2.0/people/filter?employeeType=Visitor",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&visitors), ["Anna"]);
    let users = get(
        &workspace,
        "api/2.0/people/filter?employeeType=1",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(users.json()["total"], 7);

    let guests = get(
        &docspace,
        "api/2.0/people/filter?employeeType=Guest",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&guests), ["Anna"]);
    let area_guests = get(
        &docspace,
        "api/2.0/people/filter?area=Guests",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&area_guests), ["Anna"]);
    // The People area leaves guests out, and then a guest filter is dropped.
    for path in [
        "api/2.0/people/filter?area=People",
        "api/2.0/people/filter?area=1&employeeType=Guest",
    ] {
        let people = get(&docspace, path, seed::ADMIN_TOKEN).await;
        assert_eq!(
            first_names(&people),
            ["Alex", "Jane", "Lee", "Mike", "Pat", "Quinn", "Sam"],
            "{path}"
        );
    }
    let bad = get(
        &docspace,
        "api/2.0/people/filter?groupId=nope",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(
        bad.json()["response"]["errors"]["groupId"][0],
        "The value 'nope' is not valid for GroupId."
    );
}

#[tokio::test]
async fn docspace_filter_pages_with_count_and_total_and_refuses_plain_users() {
    let sim = Simulator::start(Product::Docspace).await.unwrap();
    let all = get(&sim, "api/2.0/people/filter", seed::ADMIN_TOKEN).await;
    assert_eq!(all.status, StatusCode::OK);
    // Active users first, the terminated one last.
    assert_eq!(
        first_names(&all),
        ["Alex", "Anna", "Jane", "Lee", "Mike", "Pat", "Quinn", "Sam"]
    );
    let page = get(
        &sim,
        "api/2.0/people/filter?startIndex=1&count=2",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert!(page.text.starts_with(r#"{"response":[{"#), "{}", page.text);
    let body = page.json();
    assert_eq!(first_names(&page), ["Anna", "Jane"]);
    assert_eq!(body["count"], 2);
    assert_eq!(body["total"], 8);
    assert_eq!(body["status"], 0);
    assert_eq!(body["statusCode"], 200);
    let expected_href = format!(
        "{}api/2.0/people/filter?startIndex=1&count=2",
        sim.base_url()
    );
    assert_eq!(
        body["links"],
        json!([{ "href": expected_href, "action": "GET" }])
    );
    // The envelope's keys in the order System.Text.Json writes them.
    let at = |key: &str| page.text.rfind(&format!(r#""{key}":"#)).unwrap();
    let keys = [
        "response",
        "count",
        "total",
        "links",
        "status",
        "statusCode",
    ];
    assert!(
        keys.windows(2).all(|pair| at(pair[0]) < at(pair[1])),
        "{}",
        page.text
    );
    let past_the_end = get(
        &sim,
        "api/2.0/people/filter?startIndex=20",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(past_the_end.json()["count"], 0);
    assert_eq!(past_the_end.json()["total"], 8);

    for token in [
        seed::USER_TOKEN,
        seed::GUEST_TOKEN,
        seed::PEOPLE_ADMIN_TOKEN,
    ] {
        let refused = get(&sim, "api/2.0/people/filter", token).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{token}");
        assert_eq!(refused.json()["error"]["message"], "Access denied");
    }
    // Validation comes first, for everyone.
    for token in [seed::ADMIN_TOKEN, seed::USER_TOKEN] {
        let too_many = get(&sim, "api/2.0/people/filter?count=101", token).await;
        assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            too_many.json()["response"]["errors"]["count"][0],
            "The field Count must be between 1 and 100."
        );
    }
    let zero = get(&sim, "api/2.0/people/filter?count=0", seed::ADMIN_TOKEN).await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    let bad = get(
        &sim,
        "api/2.0/people/filter?employeeStatus=9&count=x",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(
        bad.json()["response"]["errors"],
        json!({
            "employeeStatus": ["The value '9' is invalid."],
            "count": ["The value 'x' is not valid for Count."],
        })
    );
    // Only administrators see terminated users, and then only when asked or by default.
    let terminated = get(
        &sim,
        "api/2.0/people/filter?employeeStatus=Terminated",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&terminated), ["Sam"]);
    let active = get(
        &sim,
        "api/2.0/people/filter?employeeStatus=Default",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(active.json()["total"], 7);
}

#[tokio::test]
async fn generated_users_extend_the_directory_in_name_order() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.add_generated_users(3);
    sim.add_generated_users(2);
    let ids = sim.user_ids();
    assert_eq!(ids.len(), 13);
    assert_eq!(ids[8], seed::generated_user_id(0));
    assert_eq!(ids[12], seed::generated_user_id(4));
    let fifth = sim.user(seed::generated_user_id(4)).unwrap();
    assert_eq!(
        (
            fifth.first_name.as_str(),
            fifth.last_name.as_str(),
            fifth.user_name.as_str(),
            fifth.email.as_str()
        ),
        ("P000004", "Generated", "p000004", "p000004@example.com")
    );
    assert_eq!(fifth.token, None);
    let page = get(
        &sim,
        "api/2.0/people/filter?filterValue=generated&startIndex=3",
        seed::ADMIN_TOKEN,
    )
    .await;
    assert_eq!(first_names(&page), ["P000003", "P000004"]);
    assert_eq!(page.json()["total"], 5);
}

#[tokio::test]
async fn workspace_filter_clamps_count_to_a_thousand() {
    let sim = Simulator::start(Product::Workspace).await.unwrap();
    sim.add_generated_users(1200);
    let answer = get(&sim, "api/2.0/people/filter?count=5000", seed::ADMIN_TOKEN).await;
    assert_eq!(answer.json()["count"], 1000);
    assert_eq!(answer.json()["total"], 1208);
    let default = get(&sim, "api/2.0/people/filter?count=-3", seed::ADMIN_TOKEN).await;
    assert_eq!(default.json()["count"], 1000);
}

/// Just what the paging test reads of a list answer.
#[derive(serde::Deserialize)]
struct Listed {
    total: u64,
    response: Vec<Listing>,
}

#[derive(serde::Deserialize)]
struct Listing {
    #[serde(rename = "firstName")]
    first_name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_users_page_through_in_a_thousand_requests() {
    for product in [Product::Workspace, Product::Docspace] {
        let sim = Simulator::start(product).await.unwrap();
        sim.add_generated_users(100_000);
        let client = Client::new();
        let started = std::time::Instant::now();
        let mut seen = 0;
        let mut last = String::new();
        for request in 0..1001 {
            let path = format!("api/2.0/people/filter?startIndex={seen}&count=100");
            let page: Listed = client
                .get(sim.base_url().join(&path).unwrap())
                .header(header::AUTHORIZATION, seed::ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(page.total, 100_008, "{product}");
            if request == 0 {
                assert_eq!(page.response[0].first_name, "Alex", "{product}");
            }
            let Some(tail) = page.response.last() else {
                break;
            };
            last.clone_from(&tail.first_name);
            seen += page.response.len();
        }
        assert_eq!(seen, 100_008, "{product}");
        // Last by name, and on DocSpace also as the only terminated user.
        assert_eq!(last, "Sam", "{product}");
        eprintln!("{product}: 100,008 users in {:?}", started.elapsed());
    }
}
