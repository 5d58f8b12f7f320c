//! What a ListUsers call asks for, validated: one user by email, or a page
//! of the directory under filters.

use uuid::Uuid;

/// Which accounts a listing keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFilter {
    /// Active and suspended alike (what the caller may see of either).
    Any,
    /// Active accounts only.
    Active,
    /// Suspended accounts only.
    Disabled,
}

/// The filters of a directory listing; every one set must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListFilters {
    /// The portal's own text search; `None` searches nothing.
    pub query: Option<String>,
    /// Which accounts.
    pub status: StatusFilter,
    /// Only guests (`Some(true)`) or only full users (`Some(false)`).
    pub guest: Option<bool>,
    /// Only members of this department.
    pub department: Option<Uuid>,
}

/// Where a page starts and how many users it holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Users of the listing before this page.
    pub offset: u32,
    /// Most users in the page, at least 1.
    pub size: u32,
}

/// A ListUsers call, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserQuery {
    /// The one user with this email address, compared case-insensitively.
    Email(String),
    /// One page of the users matching the filters.
    Directory {
        /// The filters.
        filters: ListFilters,
        /// Which page.
        page: Page,
    },
}
