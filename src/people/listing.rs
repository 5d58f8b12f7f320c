//! ListUsers: how each product is asked for a page of its directory or for
//! the user with an email address, as data ([`ListingRules`]), and the check
//! that the portal's answer holds only what the filters let through.
//!
//! Both products page the filter route themselves (`startIndex`/`count`) and
//! say how many users match (`total`), so a listing never reads more than
//! one page. Each product names its filters differently; a rule change in a
//! release is a change to one entry below.

use tracing::debug;
use uuid::Uuid;

use super::People;
use super::verify::is_disabled;
use crate::domain::{Call, ListFilters, Page, Product, StatusFilter, UserQuery};
use crate::error::GatewayError;
use crate::portal::{PortalError, PortalUser};

/// How one product's `GET /api/2.0/people/filter` is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingRules {
    /// The product.
    pub product: Product,
    /// The releases described, as shown to callers.
    pub releases: &'static str,
    /// Most users one request may ask for.
    pub max_count: u32,
    /// `employeeStatus` for active accounts only.
    pub active_only: (&'static str, &'static str),
    /// `employeeStatus` for suspended accounts only.
    pub disabled_only: (&'static str, &'static str),
    /// The parameter that keeps only guests.
    pub guests_only: (&'static str, &'static str),
    /// The parameter that keeps only full users.
    pub full_users_only: (&'static str, &'static str),
    /// Whether the portal reads only what precedes the first comma of a
    /// query value, so a search holding one would be cut short.
    pub cuts_values_at_comma: bool,
}

/// Workspace (CS@v12.7.1 `module/ASC.Api/ASC.Employee/EmployeeApi.cs:399-509`,
/// `GetFullByFilter`): the API framework reads `startIndex` and `count`,
/// serving at most 1000 (`module/ASC.Api/ASC.Api/Impl/ApiContext.cs:48-83`,
/// `web/studio/ASC.Web.Studio/web.autofac.config:8-13`), and every query
/// value up to its first comma (`ApiContext.cs:95-122`). `EmployeeStatus`
/// and `EmployeeType` bind by name (`Utils/ConvertUtils.cs:56-66`). A caller
/// who administers nobody asking for suspended users gets active ones
/// (`EmployeeApi.cs:438-452`), which the answer check catches.
pub const WORKSPACE_LISTING: ListingRules = ListingRules {
    product: Product::Workspace,
    releases: "Workspace",
    max_count: 1000,
    active_only: ("employeeStatus", "Active"),
    disabled_only: ("employeeStatus", "Terminated"),
    guests_only: ("employeeType", "Visitor"),
    full_users_only: ("employeeType", "User"),
    cuts_values_at_comma: true,
};

/// DocSpace (DS@v3.7.2-server `products/ASC.People/Server/Api/UserController.cs:1178-1211,
/// 2583-2710`; the same parameters from DS@v3.0.0-server `UserController.cs:810-840`):
/// `count` is `[Range(1, 100)]` (`ApiModels/RequestDto/SimpleByFilterRequestDto.cs`,
/// `common/ASC.Api.Core/Core/ApiContext.cs:39-40`). Guests are `employeeType=Guest`;
/// `area=People` leaves them out whatever else is asked
/// (`common/ASC.Core.Common/Data/DbUserService.cs:770-788`).
pub const DOCSPACE_LISTING: ListingRules = ListingRules {
    product: Product::Docspace,
    releases: "DocSpace",
    max_count: 100,
    active_only: ("employeeStatus", "Active"),
    disabled_only: ("employeeStatus", "Terminated"),
    guests_only: ("employeeType", "Guest"),
    full_users_only: ("area", "People"),
    cuts_values_at_comma: false,
};

/// The listing rules of a product.
pub fn listing_rules(product: Product) -> &'static ListingRules {
    match product {
        Product::Workspace => &WORKSPACE_LISTING,
        Product::Docspace => &DOCSPACE_LISTING,
    }
}

impl ListingRules {
    /// The query of the filter route for one page, or why the portal would
    /// not answer it faithfully.
    pub fn query(
        &self,
        filters: &ListFilters,
        page: Page,
    ) -> Result<Vec<(&'static str, String)>, GatewayError> {
        let mut query = vec![
            ("startIndex", page.offset.to_string()),
            ("count", page.size.min(self.max_count).to_string()),
        ];
        let pair = |(name, value): (&'static str, &'static str)| (name, value.to_owned());
        match filters.status {
            StatusFilter::Any => {}
            StatusFilter::Active => query.push(pair(self.active_only)),
            StatusFilter::Disabled => query.push(pair(self.disabled_only)),
        }
        match filters.guest {
            None => {}
            Some(true) => query.push(pair(self.guests_only)),
            Some(false) => query.push(pair(self.full_users_only)),
        }
        if let Some(department) = filters.department {
            query.push(("groupId", department.hyphenated().to_string()));
        }
        if let Some(text) = &filters.query {
            if self.cuts_values_at_comma && text.contains(',') {
                return Err(GatewayError::FilterNotSupported {
                    filter: "query",
                    message: "Workspace reads a search only up to its first comma; search \
                              without the comma",
                });
            }
            query.push(("filterValue", text.clone()));
        }
        Ok(query)
    }
}

/// One page of a listing, as the portal answered it.
#[derive(Debug)]
pub struct ListedPage {
    /// The users, in the portal's order.
    pub users: Vec<PortalUser>,
    /// How many users match over all pages, when the portal said.
    pub total: Option<u64>,
    /// Where the next page starts; `None` on the last page.
    pub next_offset: Option<u32>,
}

impl People {
    /// ListUsers: the user with an email address, or one page of the
    /// directory. Read with the caller's own credential, so the caller sees
    /// what the portal shows them and nothing more.
    pub async fn list_users(
        &self,
        call: &Call,
        query: &UserQuery,
    ) -> Result<ListedPage, GatewayError> {
        call.still_waited_for()?;
        let facts = self.facts(call).await?;
        let rules = listing_rules(facts.product);
        match query {
            UserQuery::Email(email) => {
                let user = match self.portal.find_by_email(call, email).await {
                    Ok(user) => Some(user),
                    // Both products answer 404 when nobody has the address
                    // (CS `EmployeeApi.cs:206-218`, DS `UserController.cs:1050-1074`).
                    Err(PortalError::Status { status: 404, .. }) => None,
                    Err(error) => return Err(error.into()),
                };
                if let Some(user) = &user
                    && let Some(Some(shown)) = user.email.as_ref()
                    && shown.trim().to_lowercase() != email.trim().to_lowercase()
                {
                    return Err(GatewayError::IgnoredFilter {
                        filter: "email",
                        releases: rules.releases,
                    });
                }
                let users: Vec<PortalUser> = user.into_iter().collect();
                Ok(ListedPage {
                    total: Some(users.len() as u64),
                    users,
                    next_offset: None,
                })
            }
            UserQuery::Directory { filters, page } => {
                let page = Page {
                    size: page.size.min(rules.max_count),
                    ..*page
                };
                let parameters = rules.query(filters, page)?;
                let answer = self.portal.list_users(call, &parameters, page.size).await?;
                if let Some(filter) = first_filter_broken(filters, &answer.users) {
                    return Err(GatewayError::IgnoredFilter {
                        filter,
                        releases: rules.releases,
                    });
                }
                let listed = u32::try_from(answer.users.len()).unwrap_or(u32::MAX);
                let after = page.offset.saturating_add(listed);
                // Both products always say how many match; without it, a
                // portal that ignored `startIndex` would page forever.
                let Some(total) = answer.total else {
                    return Err(
                        PortalError::Undecodable("a listing without its total".into()).into(),
                    );
                };
                // A portal that lists nothing more ends the listing, even if
                // its count says otherwise (the directory shrank).
                let more = listed > 0 && u64::from(after) < total;
                debug!(listed, total, more, "page listed");
                Ok(ListedPage {
                    users: answer.users,
                    total: answer.total,
                    next_offset: more.then_some(after),
                })
            }
        }
    }
}

/// The first filter a listed user contradicts, as far as the answer shows it:
/// a field the portal does not show the caller is not held against it.
fn first_filter_broken(filters: &ListFilters, users: &[PortalUser]) -> Option<&'static str> {
    users.iter().find_map(|user| {
        // A status shown that is neither active nor suspended (pending)
        // contradicts both filters.
        let status_holds = match filters.status {
            _ if user.status.is_none() => true,
            StatusFilter::Any => true,
            StatusFilter::Active => is_disabled(user) == Some(false),
            StatusFilter::Disabled => is_disabled(user) == Some(true),
        };
        if !status_holds {
            return Some("status");
        }
        if let (Some(guest), Some(shown)) = (filters.guest, user.isvisitor)
            && guest != shown
        {
            return Some("guest");
        }
        if let (Some(department), Some(groups)) = (filters.department, &user.groups)
            && !groups
                .iter()
                .any(|group| Uuid::try_parse(&group.id).ok() == Some(department))
        {
            return Some("department_id");
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters() -> ListFilters {
        ListFilters {
            query: None,
            status: StatusFilter::Any,
            guest: None,
            department: None,
        }
    }

    const PAGE: Page = Page {
        offset: 20,
        size: 10,
    };

    #[test]
    fn each_product_names_its_filters() {
        let all = ListFilters {
            query: Some("jane".into()),
            status: StatusFilter::Disabled,
            guest: Some(false),
            department: Some(Uuid::nil()),
        };
        let workspace = WORKSPACE_LISTING.query(&all, PAGE).unwrap();
        let docspace = DOCSPACE_LISTING.query(&all, PAGE).unwrap();
        let expected = |guests: (&'static str, &'static str)| {
            vec![
                ("startIndex", "20".to_owned()),
                ("count", "10".to_owned()),
                ("employeeStatus", "Terminated".to_owned()),
                (guests.0, guests.1.to_owned()),
                ("groupId", Uuid::nil().to_string()),
                ("filterValue", "jane".to_owned()),
            ]
        };
        assert_eq!(workspace, expected(("employeeType", "User")));
        assert_eq!(docspace, expected(("area", "People")));
    }

    #[test]
    fn no_filter_sends_only_the_page() {
        let query = DOCSPACE_LISTING.query(&filters(), PAGE).unwrap();
        assert_eq!(
            query,
            vec![("startIndex", "20".to_owned()), ("count", "10".to_owned())]
        );
    }

    #[test]
    fn a_page_larger_than_the_portal_serves_asks_for_what_it_serves() {
        let page = Page {
            offset: 0,
            size: 500,
        };
        let query = DOCSPACE_LISTING.query(&filters(), page).unwrap();
        assert_eq!(query[1], ("count", "100".to_owned()));
    }

    #[test]
    fn workspace_refuses_a_search_it_would_cut_at_a_comma() {
        let with_comma = ListFilters {
            query: Some("Doe, Jane".into()),
            ..filters()
        };
        assert!(matches!(
            WORKSPACE_LISTING.query(&with_comma, PAGE),
            Err(GatewayError::FilterNotSupported {
                filter: "query",
                ..
            })
        ));
        assert!(DOCSPACE_LISTING.query(&with_comma, PAGE).is_ok());
    }

    fn user(json: &str) -> PortalUser {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn users_outside_a_filter_are_caught_and_unshown_fields_are_not_held_against_the_answer() {
        let active_guest = user(r#"{"id":"a","status":1,"isvisitor":true}"#);
        let unshown = user(r#"{"id":"b"}"#);
        let disabled = ListFilters {
            status: StatusFilter::Disabled,
            ..filters()
        };
        assert_eq!(
            first_filter_broken(&disabled, &[unshown, active_guest]),
            Some("status")
        );
        let full_users = ListFilters {
            guest: Some(false),
            ..filters()
        };
        let active_guest = user(r#"{"id":"a","status":1,"isvisitor":true}"#);
        assert_eq!(
            first_filter_broken(&full_users, &[active_guest]),
            Some("guest")
        );
        let in_marketing = ListFilters {
            department: Some(Uuid::from_u128(7)),
            ..filters()
        };
        let elsewhere =
            user(r#"{"id":"c","groups":[{"id":"00000000-0000-0000-0000-000000000008"}]}"#);
        let hidden_groups = user(r#"{"id":"d"}"#);
        assert_eq!(first_filter_broken(&in_marketing, &[hidden_groups]), None);
        assert_eq!(
            first_filter_broken(&in_marketing, &[elsewhere]),
            Some("department_id")
        );
    }
}
