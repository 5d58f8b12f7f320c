//! ListUsers between the contract and the gateway: the request validated
//! into a [`UserQuery`] (its page token redeemed), and a page of users into
//! `pb::ListUsersResponse` (with the token of the next page).

use uuid::Uuid;

use super::page_token::PageTokens;
use super::requests::Violations;
use super::user::user_to_pb;
use crate::domain::{ListFilters, Page, StatusFilter, UserQuery};
use crate::error::GatewayError;
use crate::operations::UserPage;
use crate::pb;

/// The page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page; a larger `page_size` is read as this (DocSpace serves
/// at most 100 users a request).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Longest email address (the portals' own limit).
const MAX_EMAIL_CHARS: usize = 255;
/// Longest search text.
const MAX_QUERY_CHARS: usize = 255;

/// Validates ListUsers; every bad field is reported at once.
pub fn list_users_request(
    request: pb::ListUsersRequest,
    tokens: &PageTokens,
) -> Result<UserQuery, GatewayError> {
    let pb::ListUsersRequest {
        page_size,
        page_token,
        email,
        query,
        status,
        guest,
        department_id,
    } = request;
    let mut violations = Violations::default();
    let size = match u32::try_from(page_size) {
        Err(_) => {
            violations.add("page_size", "must not be negative");
            DEFAULT_PAGE_SIZE
        }
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(size) => size.min(MAX_PAGE_SIZE),
    };
    let status = match pb::StatusFilter::try_from(status) {
        Ok(pb::StatusFilter::Unspecified | pb::StatusFilter::Any) => StatusFilter::Any,
        Ok(pb::StatusFilter::Active) => StatusFilter::Active,
        Ok(pb::StatusFilter::Disabled) => StatusFilter::Disabled,
        Err(_) => {
            violations.add("status", "is not a StatusFilter value");
            StatusFilter::Any
        }
    };
    let department = (!department_id.is_empty())
        .then(|| {
            let parsed = Uuid::try_parse(&department_id).ok();
            if parsed.is_none() {
                violations.add("department_id", "must be a group GUID");
            }
            parsed
        })
        .flatten();
    let query = (!query.is_empty()).then(|| {
        if query.chars().count() > MAX_QUERY_CHARS {
            violations.add("query", "must be at most 255 characters");
        } else if query.chars().any(char::is_control) {
            violations.add("query", "must not contain control characters");
        } else if query.trim().is_empty() {
            violations.add("query", "must hold more than whitespace");
        }
        query
    });
    let filters = ListFilters {
        query,
        status,
        guest,
        department,
    };
    if !email.is_empty() {
        if let Err(description) = check_email(&email) {
            violations.add("email", description);
        }
        if filters != no_filters() {
            violations.add(
                "email",
                "finds one user and cannot be combined with query, status, guest or department_id",
            );
        }
        if !page_token.is_empty() {
            violations.add("page_token", "an email lookup has one page; send no token");
        }
        return violations.finish(UserQuery::Email(email));
    }
    let offset = if page_token.is_empty() {
        0
    } else {
        match tokens.redeem(&page_token, &filters) {
            Ok(offset) => offset,
            Err(error) => {
                violations.add("page_token", error.to_string());
                0
            }
        }
    };
    let page = Page { offset, size };
    violations.finish(UserQuery::Directory { filters, page })
}

fn no_filters() -> ListFilters {
    ListFilters {
        query: None,
        status: StatusFilter::Any,
        guest: None,
        department: None,
    }
}

/// An address both portals can look up as sent: one `@` with something on
/// each side (DocSpace's `[EmailAddress]`), no spaces or control characters
/// (DocSpace trims, Workspace does not), no comma (a list, not an address),
/// at most 255 characters.
fn check_email(email: &str) -> Result<(), &'static str> {
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err("must be at most 255 characters");
    }
    if email
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == ',')
    {
        return Err("must not contain spaces, commas or control characters");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err("must be an email address (one @ with text on both sides)"),
    }
}

/// A page of users as the contract's response; the next page's token is
/// issued for the same filters.
pub fn list_users_response(
    page: UserPage,
    query: &UserQuery,
    tokens: &PageTokens,
) -> pb::ListUsersResponse {
    let UserPage {
        users,
        total,
        next_offset,
    } = page;
    let next_page_token = match (query, next_offset) {
        (UserQuery::Directory { filters, .. }, Some(offset)) => tokens.issue(offset, filters),
        _ => String::new(),
    };
    pb::ListUsersResponse {
        users: users
            .into_iter()
            .map(|user| user_to_pb(user.into_portal()))
            .collect(),
        next_page_token,
        total_size: total.map(|total| i32::try_from(total).unwrap_or(i32::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> pb::ListUsersRequest {
        pb::ListUsersRequest::default()
    }

    fn violations(result: Result<UserQuery, GatewayError>) -> Vec<String> {
        match result {
            Err(GatewayError::InvalidArgument(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn page_sizes_default_clamp_and_refuse_negatives() {
        let tokens = PageTokens::default();
        let size = |page_size| match list_users_request(
            pb::ListUsersRequest {
                page_size,
                ..request()
            },
            &tokens,
        ) {
            Ok(UserQuery::Directory { page, .. }) => page.size,
            other => panic!("{other:?}"),
        };
        assert_eq!(size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(size(7), 7);
        assert_eq!(size(100_000), MAX_PAGE_SIZE);
        let negative = pb::ListUsersRequest {
            page_size: -1,
            ..request()
        };
        assert_eq!(
            violations(list_users_request(negative, &tokens)),
            ["page_size"]
        );
    }

    #[test]
    fn email_stands_alone_and_must_look_like_an_address() {
        let tokens = PageTokens::default();
        let found = list_users_request(
            pb::ListUsersRequest {
                email: "Mike@Example.com".into(),
                ..request()
            },
            &tokens,
        );
        assert_eq!(found.unwrap(), UserQuery::Email("Mike@Example.com".into()));
        for bad in [
            "mike",
            "@example.com",
            "mike@",
            "a@b@c",
            " mike@example.com",
            "m\u{7}@x",
        ] {
            let result = list_users_request(
                pb::ListUsersRequest {
                    email: bad.into(),
                    ..request()
                },
                &tokens,
            );
            assert_eq!(violations(result), ["email"], "{bad:?}");
        }
        let combined = pb::ListUsersRequest {
            email: "mike@example.com".into(),
            guest: Some(true),
            ..request()
        };
        assert_eq!(violations(list_users_request(combined, &tokens)), ["email"]);
    }

    #[test]
    fn searches_and_addresses_are_bounded_at_255_characters() {
        let tokens = PageTokens::default();
        let request = |query: String, email: String| pb::ListUsersRequest {
            query,
            email,
            ..request()
        };
        let at_limit = "é".repeat(255);
        assert!(list_users_request(request(at_limit.clone(), String::new()), &tokens).is_ok());
        let long = format!("{at_limit}x");
        assert_eq!(
            violations(list_users_request(request(long, String::new()), &tokens)),
            ["query"]
        );
        let address = format!("{}@example.com", "m".repeat(243));
        assert_eq!(address.chars().count(), 255);
        assert!(list_users_request(request(String::new(), address.clone()), &tokens).is_ok());
        assert_eq!(
            violations(list_users_request(
                request(String::new(), format!("m{address}")),
                &tokens
            )),
            ["email"]
        );
    }

    #[test]
    fn bad_filters_are_each_named() {
        let tokens = PageTokens::default();
        let bad = pb::ListUsersRequest {
            page_size: -5,
            query: "\u{0}".into(),
            status: 42,
            department_id: "marketing".into(),
            page_token: "forged".into(),
            ..request()
        };
        assert_eq!(
            violations(list_users_request(bad, &tokens)),
            [
                "page_size",
                "status",
                "department_id",
                "query",
                "page_token"
            ]
        );
    }

    #[test]
    fn a_next_page_token_leads_to_its_offset_with_the_same_filters_only() {
        let tokens = PageTokens::default();
        let first = pb::ListUsersRequest {
            page_size: 2,
            query: "doe".into(),
            ..request()
        };
        let query = list_users_request(first.clone(), &tokens).unwrap();
        let response = list_users_response(
            UserPage {
                users: Vec::new(),
                total: Some(10),
                next_offset: Some(2),
            },
            &query,
            &tokens,
        );
        assert_eq!(response.total_size, Some(10));
        let next = pb::ListUsersRequest {
            page_token: response.next_page_token.clone(),
            ..first.clone()
        };
        match list_users_request(next, &tokens) {
            Ok(UserQuery::Directory { page, .. }) => assert_eq!(page.offset, 2),
            other => panic!("{other:?}"),
        }
        let reused = pb::ListUsersRequest {
            page_token: response.next_page_token,
            query: "smith".into(),
            ..first
        };
        assert_eq!(
            violations(list_users_request(reused, &tokens)),
            ["page_token"]
        );
    }
}
