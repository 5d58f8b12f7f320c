//! What the directory routes (`GET people/filter`, `GET people/email`) share: the query string
//! as both portals read it, .NET's enum conversion, case-insensitive comparison without
//! allocating, the orders each product lists users in, and cutting one page out of a filtered,
//! sorted directory without looking at more than it must.

use std::cmp::Ordering;

use url::form_urlencoded;

use super::{
    state::{Portal, SimUser},
    wire::Incoming,
};

/// The query string's pairs, `+` read as a space and `%XX` decoded; both portals' query
/// collections look names up case-insensitively.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(incoming: &Incoming) -> Query {
        let pairs = incoming
            .query
            .as_deref()
            .map(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .map(|(name, value)| (name.into_owned(), value.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// Every value sent for `name`, in order.
    pub(crate) fn values<'q, 'n>(
        &'q self,
        name: &'n str,
    ) -> impl Iterator<Item = &'q str> + use<'q, 'n> {
        self.pairs
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first value sent for `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Workspace's `ApiContext.GetRequestValue`: the values of `name[]`, else of `name`; a
    /// single non-empty value is split on commas; the first piece
    /// (CS@v12.7.1:module/ASC.Api/ASC.Api/Impl/ApiContext.cs:95-122).
    pub(crate) fn request_value(&self, name: &str) -> Option<&str> {
        let bracketed = format!("{name}[]");
        if let Some(first) = self.first(&bracketed) {
            return Some(first);
        }
        let mut values = self.values(name);
        let first = values.next()?;
        if values.next().is_none() && !first.is_empty() {
            return first.split(',').next();
        }
        Some(first)
    }
}

/// Why `Enum.Parse` refused a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnumError {
    /// A piece was empty or blank.
    Blank,
    /// A piece was neither a member's name nor an integer.
    NotFound(String),
}

/// `Enum.Parse(type, text, ignoreCase: true)`: member names in any case or integers, several
/// joined by commas OR-ed together, each piece trimmed. Any integer is accepted; whether it is
/// a defined value is the caller's business.
pub(crate) fn parse_enum(text: &str, members: &[(&str, i64)]) -> Result<i64, EnumError> {
    let mut value = 0;
    for piece in text.split(',') {
        let piece = piece.trim();
        if piece.is_empty() {
            return Err(EnumError::Blank);
        }
        let member = members
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(piece))
            .map(|(_, member)| *member)
            .or_else(|| piece.parse::<i32>().ok().map(i64::from))
            .ok_or_else(|| EnumError::NotFound(piece.to_owned()))?;
        value |= member;
    }
    Ok(value)
}

/// `String.Compare(a, b, ignoreCase: true)` without allocating: char by char, lower-cased.
/// The portals compare by culture, which also weighs accents and punctuation differently; the
/// simulator's names do not need that.
pub(crate) fn compare_ignoring_case(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

pub(crate) fn eq_ignoring_case(a: &str, b: &str) -> bool {
    compare_ignoring_case(a, b) == Ordering::Equal
}

/// MySQL's `utf8_general_ci`, which DocSpace's name and email columns use: case-insensitive,
/// and trailing spaces do not count (PAD SPACE).
pub(crate) fn compare_as_sql(a: &str, b: &str) -> Ordering {
    compare_ignoring_case(a.trim_end_matches(' '), b.trim_end_matches(' '))
}

/// Whether `haystack` contains `needle`, case-insensitively, without allocating.
pub(crate) fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack.char_indices().any(|(at, _)| {
        let mut rest = haystack
            .get(at..)
            .unwrap_or_default()
            .chars()
            .flat_map(char::to_lowercase);
        needle
            .chars()
            .flat_map(char::to_lowercase)
            .all(|wanted| rest.next() == Some(wanted))
    })
}

/// The orders the products list users in; ties keep storage order (LINQ's `OrderBy` is
/// stable; MySQL promises nothing, and storage order is what it gives in practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Workspace's `UserInfoComparer`: first name then last name (`last_first` swaps them),
    /// ignoring case; descending reverses the comparison, not the ties
    /// (CS@v12.7.1:web/core/ASC.Web.Core/Users/UserInfoComparer.cs:47-64,
    /// common/ASC.Core.Common/Users/UserFormatter.cs:72-91).
    Workspace { last_first: bool, descending: bool },
    /// DocSpace's query: active users first, then pending ones, then the rest, each group by
    /// `key` (pending users by email instead of a name); descending turns only the key around
    /// (DS@v3.7.2-server:common/ASC.Core.Common/Data/DbUserService.cs:421-433).
    DocspaceByStatus { key: NameKey, descending: bool },
    /// DocSpace sorted by email alone (`DbUserService.cs:418-420`).
    DocspaceByEmail { descending: bool },
    /// DocSpace sorted by registration date alone (`DbUserService.cs:324-328`).
    DocspaceByRegistration { descending: bool },
}

/// The name DocSpace sorts a status group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKey {
    FirstName,
    LastName,
}

impl NameKey {
    /// What a user is sorted by: the name, or a pending user's email.
    fn text(self, user: &SimUser) -> &str {
        match self {
            _ if user.status == STATUS_PENDING => &user.email,
            NameKey::FirstName => &user.first_name,
            NameKey::LastName => &user.last_name,
        }
    }
}

/// `EmployeeStatus.Pending` in DocSpace.
const STATUS_PENDING: i32 = 4;

impl Order {
    pub(crate) fn compare(self, a: &SimUser, b: &SimUser) -> Ordering {
        let turned = |ordering: Ordering, descending: bool| {
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        };
        match self {
            Order::Workspace {
                last_first,
                descending,
            } => {
                let (first, second) = if last_first {
                    (
                        compare_ignoring_case(&a.last_name, &b.last_name),
                        compare_ignoring_case(&a.first_name, &b.first_name),
                    )
                } else {
                    (
                        compare_ignoring_case(&a.first_name, &b.first_name),
                        compare_ignoring_case(&a.last_name, &b.last_name),
                    )
                };
                turned(first.then(second), descending)
            }
            Order::DocspaceByStatus { key, descending } => status_rank(a)
                .cmp(&status_rank(b))
                .then_with(|| turned(compare_as_sql(key.text(a), key.text(b)), descending)),
            Order::DocspaceByEmail { descending } => {
                turned(compare_as_sql(&a.email, &b.email), descending)
            }
            Order::DocspaceByRegistration { descending } => {
                turned(a.registration_date.cmp(&b.registration_date), descending)
            }
        }
    }
}

/// Active 0, pending 1, anything else 2.
fn status_rank(user: &SimUser) -> u8 {
    match user.status {
        1 => 0,
        STATUS_PENDING => 1,
        _ => 2,
    }
}

/// One page of a filtered directory, and how many users the filter accepts in all.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) users: Vec<SimUser>,
    pub(crate) total: usize,
}

/// The users `keep` accepts, in `order`: `take` of them after the first `skip`, and the count of
/// all. `filter` describes everything `keep` tests (the same description must mean the same
/// test), so paging through a large directory filters and sorts it once; filtering the sorted
/// directory gives what filtering first and then sorting stably gives, and only the page is
/// copied out.
pub(crate) fn page(
    portal: &mut Portal,
    (order, filter): (Order, String),
    skip: usize,
    take: usize,
    keep: impl Fn(&SimUser) -> bool,
) -> Page {
    let order = (format!("{order:?}"), |a: &SimUser, b: &SimUser| {
        order.compare(a, b)
    });
    let (users, positions) = portal.matching(order, filter, keep);
    Page {
        users: positions
            .iter()
            .skip(skip)
            .take(take)
            .filter_map(|position| users.get(*position))
            .cloned()
            .collect(),
        total: positions.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Query {
        let request = axum::http::Request::builder()
            .uri(format!("/api/2.0/people/filter?{text}"))
            .body(());
        let Ok(request) = request else {
            return Query::default();
        };
        let (parts, ()) = request.into_parts();
        Query::parse(&Incoming::new(
            &parts,
            axum::body::Bytes::new(),
            "localhost",
        ))
    }

    #[test]
    fn query_values_are_decoded_and_names_match_in_any_case() {
        let query = query("FilterValue=jane+doe%40x&count=5");
        assert_eq!(query.first("filtervalue"), Some("jane doe@x"));
        assert_eq!(query.first("COUNT"), Some("5"));
        assert_eq!(query.first("startIndex"), None);
    }

    #[test]
    fn request_values_take_the_first_comma_piece_of_a_single_value_only() {
        assert_eq!(query("count=5,7").request_value("count"), Some("5"));
        assert_eq!(
            query("count=5,7&count=9").request_value("count"),
            Some("5,7")
        );
        assert_eq!(query("count[]=3&count=5").request_value("count"), Some("3"));
        assert_eq!(query("count=").request_value("count"), Some(""));
        assert_eq!(query("x=1").request_value("count"), None);
    }

    #[test]
    fn enums_parse_names_numbers_and_combinations() {
        let members = [("Active", 1), ("Terminated", 2), ("All", 7)];
        assert_eq!(parse_enum("active", &members), Ok(1));
        assert_eq!(parse_enum(" 2 ", &members), Ok(2));
        assert_eq!(parse_enum("Active, Terminated", &members), Ok(3));
        assert_eq!(parse_enum("99", &members), Ok(99));
        assert_eq!(
            parse_enum("nope", &members),
            Err(EnumError::NotFound("nope".to_owned()))
        );
        assert_eq!(parse_enum("Active,", &members), Err(EnumError::Blank));
    }

    #[test]
    fn comparisons_ignore_case_char_by_char() {
        assert_eq!(compare_ignoring_case("anna", "Anna"), Ordering::Equal);
        assert_eq!(compare_ignoring_case("alex", "Anna"), Ordering::Less);
        assert_eq!(compare_ignoring_case("Zoë", "zoe"), Ordering::Greater);
        assert_eq!(
            compare_ignoring_case("P000010", "p000009"),
            Ordering::Greater
        );
        assert_eq!(compare_as_sql("a@b ", "A@B"), Ordering::Equal);
        assert!(contains_ignoring_case("Mike Zanyatski", "ZAN"));
        assert!(contains_ignoring_case("Zoë", "Ë"));
        assert!(!contains_ignoring_case("Mike", "mikes"));
        assert!(contains_ignoring_case("", ""));
    }
}
