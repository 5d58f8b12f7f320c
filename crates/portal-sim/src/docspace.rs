//! DocSpace 3.7 People methods: `GET @self`, `GET {x}`, `GET email`, `GET filter` and
//! `PUT {x}`, with ASP.NET Core's body and query binding and model validation (400 inside the
//! success envelope), and the rule that only the user themself changes profile fields while
//! others may change only `disable` and `isUser`.

use std::net::IpAddr;

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Map, Value};
use url::{Host, Url};
use uuid::Uuid;

use super::{
    auth,
    dates::{parse_server_local, wall_clock_or_reset},
    endpoint::{ContactsChange, Endpoint},
    listing::{self, NameKey, Order, Query, compare_as_sql, contains_ignoring_case, parse_enum},
    render::{DatesSet, Viewer, docspace_user, is_collaborator},
    state::{Portal, STATUS_ACTIVE, STATUS_TERMINATED, SimUser, parse_guid, reloaded_contacts},
    wire::{self, Exception, Failure, Incoming, Reply},
};
use crate::Release;

const USER_NOT_FOUND: &str = "The user could not be found";
/// Commit 031127419d removed title, sex, birthday and worksfrom from the update.
const FIRST_RELEASE_WITHOUT_PROFILE_DETAILS: Release = Release::new(3, 7, 1);
const ACCESS_DENIED: &str = "Access denied";
/// `[StringLength(255)]` on the name and email properties.
const MAX_TEXT: usize = 255;

/// Why DocSpace did not run (or finish) a method.
enum Refusal {
    /// An exception, written as the error envelope.
    Failed(Failure),
    /// Model binding or validation errors, keyed by field.
    Invalid(Vec<(String, Vec<String>)>),
    /// No input formatter reads the body's media type.
    UnsupportedMediaType,
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Refusal::Failed(failure)
    }
}

/// The user to show, and whether the answer is `GET @self`'s.
struct Shown {
    user: SimUser,
    self_route: bool,
    /// The dates this write set, shown as set.
    dates_set: DatesSet,
}

/// Authenticates, runs the method and wraps the result in DocSpace's envelope.
pub(crate) fn handle(portal: &mut Portal, endpoint: Endpoint, incoming: &Incoming) -> Reply {
    let caller = match auth::authenticate(portal, &incoming.headers) {
        Ok(caller) => caller.clone(),
        Err(rejected) => return wire::docspace_unauthorized(rejected.token_presented),
    };
    if endpoint == Endpoint::Filter {
        return match filter(portal, &caller, incoming) {
            Ok(reply) => reply,
            Err(refusal) => refused(
                refusal,
                "ASC.People.Api.UserController.GetByFilterAsync(UserFilter filter)+MoveNext()",
                incoming,
            ),
        };
    }
    let (answer, frame) = match endpoint {
        Endpoint::Me => (
            Ok(Shown {
                user: caller.clone(),
                self_route: true,
                dates_set: DatesSet::default(),
            }),
            "ASC.People.Api.UserController.SelfAsync()",
        ),
        Endpoint::Profile(key) => (
            profile(portal, &caller, &key),
            "ASC.People.Api.UserController.GetById(String userid)",
        ),
        Endpoint::FindByEmail => (
            find_by_email(portal, &caller, incoming),
            "ASC.People.Api.UserController.GetProfileByEmail(GetMemberByEmailRequestDto inDto)",
        ),
        Endpoint::UpdateProfile(key) => (
            update_profile(portal, &caller, &key, incoming),
            "ASC.People.Api.UserController.UpdateMember(UpdateMemberByIdRequestDto inDto)",
        ),
        // why: the router answers 404 from 3.2.1 on, before authentication.
        Endpoint::Contacts(change, key) => (
            contacts(portal, &caller, change, &key, incoming),
            "ASC.People.Api.ContactsController.UpdateMemberContactsAsync(String userid, UpdateMemberRequestDto inDto)",
        ),
        // why: answered by the router before authentication, or above.
        Endpoint::Status(_) | Endpoint::BuildVersion | Endpoint::Filter => {
            return Reply::empty(StatusCode::NOT_FOUND);
        }
    };
    match answer {
        Ok(shown) => {
            let origin = incoming.origin();
            let viewer = Viewer {
                portal,
                caller: &caller,
                origin: &origin,
            };
            let mut dto = docspace_user(&viewer, &shown.user, shown.self_route);
            dto.show_dates_as_set(&shown.user, shown.dates_set);
            wire::docspace_success(incoming, &dto)
        }
        Err(refusal) => refused(refusal, frame, incoming),
    }
}

/// A refusal as DocSpace writes it; `frame` names the method for the stack trace.
fn refused(refusal: Refusal, frame: &str, incoming: &Incoming) -> Reply {
    match refusal {
        Refusal::Failed(failure) => wire::docspace_error(&failure, frame),
        Refusal::Invalid(errors) => wire::docspace_validation(incoming, &errors),
        Refusal::UnsupportedMediaType => Reply::empty(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    }
}

fn not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        Exception::ItemNotFound,
        USER_NOT_FOUND,
    )
}

/// `GetById`: user name first, then GUID.
fn profile(portal: &Portal, caller: &SimUser, key: &str) -> Result<Shown, Refusal> {
    let user = portal
        .user_by_name(key)
        .or_else(|| parse_guid(key).and_then(|id| portal.user(id)))
        .ok_or_else(not_found)?;
    // why: CanUserViewAnotherUserAsync lets a guest see only people they share rooms with, and
    // the simulated portal has no rooms.
    if caller.is_visitor && caller.id != user.id {
        return Err(Failure::new(StatusCode::FORBIDDEN, Exception::Security, ACCESS_DENIED).into());
    }
    Ok(Shown {
        user: user.clone(),
        self_route: false,
        dates_set: DatesSet::default(),
    })
}

/// `CanUserViewAnotherUserAsync` (the same in 3.6.1): oneself, or anyone for a DocSpace admin;
/// never for a guest or a "User"; a room admin sees a guest only when they share a room, and
/// the simulated portal has no rooms
/// (DS@v3.7.2-server:common/ASC.Core.Common/Users/UserExtensions.cs:160-189).
fn can_view(caller: &SimUser, user: &SimUser) -> bool {
    if caller.id == user.id || caller.is_portal_admin() {
        return true;
    }
    if caller.is_visitor || is_collaborator(caller) {
        return false;
    }
    !user.is_visitor
}

/// `GetProfileByEmail` (`GET /people/email?email=`): validation of the query, then a blank
/// email is an `ArgumentNullException` (the binder made it null), then the lookup (trimmed,
/// matched as the email column's collation compares), then the view check
/// (DS@v3.7.2-server:products/ASC.People/Server/Api/UserController.cs:1050-1074,
/// ApiModels/RequestDto/MemberRequestDto.cs:488-498). Before 3.7.1 a missing email is simply
/// not found, and the email is not trimmed (DS@v3.6.1-server:…/UserController.cs:942-975).
fn find_by_email(portal: &Portal, caller: &SimUser, incoming: &Incoming) -> Result<Shown, Refusal> {
    let query = Query::parse(incoming);
    // why: the binder turns an empty or blank string into null.
    let email = query
        .first("email")
        .filter(|email| !email.trim().is_empty());
    if let Some(email) = email {
        let messages = email_messages(email);
        if !messages.is_empty() {
            // why: errors are keyed by the name the property binds from.
            return Err(Refusal::Invalid(vec![("email".to_owned(), messages)]));
        }
    }
    let legacy = portal.docspace_release < FIRST_RELEASE_WITHOUT_PROFILE_DETAILS;
    let email = match email {
        Some(email) if legacy => email,
        Some(email) => email.trim(),
        None if legacy => return Err(not_found().into()),
        None => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                Exception::ArgumentNull,
                "Value cannot be null. (Parameter 'email')",
            )
            .into());
        }
    };
    let user = portal
        .users()
        .iter()
        .find(|user| compare_as_sql(&user.email, email).is_eq())
        .ok_or_else(not_found)?;
    if !can_view(caller, user) {
        return Err(Failure::new(StatusCode::FORBIDDEN, Exception::Security, ACCESS_DENIED).into());
    }
    Ok(Shown {
        user: user.clone(),
        self_route: false,
        dates_set: DatesSet::default(),
    })
}

/// `EmployeeStatus`, a flags enum.
const EMPLOYEE_STATUSES: [(&str, i64); 5] = [
    ("Active", 1),
    ("Terminated", 2),
    ("Pending", 4),
    ("All", 7),
    ("Default", 5),
];
/// `EmployeeType`, a flags enum whose `DocSpaceAdmin` is `RoomAdmin | Guest`.
const EMPLOYEE_TYPES: [(&str, i64); 5] = [
    ("All", 0),
    ("RoomAdmin", 1),
    ("Guest", 2),
    ("DocSpaceAdmin", 3),
    ("User", 4),
];
const AREAS: [(&str, i64); 3] = [("All", 0), ("People", 1), ("Guests", 2)];
const SORT_ORDERS: [(&str, i64); 2] = [("Ascending", 0), ("Descending", 1)];
const STATUS_PENDING: i32 = 4;
const AREA_PEOPLE: i64 = 1;
const AREA_GUESTS: i64 = 2;
/// `ApiContext.MaxCount` and `DefaultCount` (DS@v3.7.2-server:common/ASC.Api.Core/Core/ApiContext.cs:39-40).
const MAX_COUNT: i32 = 100;

/// ASP.NET Core binding `[FromQuery]` properties: errors are collected under the name each
/// binds from, worded as its `ModelBindingMessageProvider` does.
struct QueryBinder<'a> {
    query: &'a Query,
    errors: Vec<(String, Vec<String>)>,
}

impl QueryBinder<'_> {
    /// All values sent for `name` joined by commas (what the binder reports as attempted and
    /// what it converts for a flags enum), or `None` when none were sent.
    fn joined(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self.query.values(name).collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    fn fail(&mut self, name: &str, message: String) {
        self.errors.push((name.to_owned(), vec![message]));
    }

    /// A `string`: blank is null.
    fn text(&self, name: &str) -> Option<String> {
        self.query
            .first(name)
            .filter(|text| !text.trim().is_empty())
            .map(str::to_owned)
    }

    /// The value to convert, or `None` to keep the default. A blank value is null, which a
    /// non-nullable property refuses.
    fn convertible(&mut self, name: &str, joined: bool, nullable: bool) -> Option<String> {
        let attempted = self.joined(name)?;
        let value = if joined {
            attempted.clone()
        } else {
            self.query.first(name).unwrap_or_default().to_owned()
        };
        if value.trim().is_empty() {
            if !nullable {
                self.fail(name, format!("The value '{attempted}' is invalid."));
            }
            return None;
        }
        Some(value)
    }

    /// A conversion the type converter refused.
    fn not_valid(&mut self, name: &str, property: &str) {
        let attempted = self.joined(name).unwrap_or_default();
        self.fail(
            name,
            format!("The value '{attempted}' is not valid for {property}."),
        );
    }

    /// An `int` (`Int32Converter`: trimmed, `#`, `0x` or `&h` for hex).
    fn int(&mut self, name: &str, property: &str) -> Option<i32> {
        let value = self.convertible(name, false, false)?;
        let value = value.trim();
        let lower = value.to_ascii_lowercase();
        let hex = lower
            .strip_prefix('#')
            .or_else(|| lower.strip_prefix("0x"))
            .or_else(|| lower.strip_prefix("&h"));
        let parsed = match hex {
            Some(digits) => u32::from_str_radix(digits, 16).ok().map(|bits| bits as i32),
            None => value.parse::<i32>().ok(),
        };
        if parsed.is_none() {
            self.not_valid(name, property);
        }
        parsed
    }

    /// A `Guid?`.
    fn guid(&mut self, name: &str, property: &str) -> Option<Uuid> {
        let value = self.convertible(name, false, true)?;
        let parsed = parse_guid(&value);
        if parsed.is_none() {
            self.not_valid(name, property);
        }
        parsed
    }

    /// An enum: converted by name or number, then refused unless defined (for a flags enum:
    /// unless its members make it up).
    fn enumeration(
        &mut self,
        name: &str,
        property: &str,
        members: &[(&str, i64)],
        (flags, nullable): (bool, bool),
    ) -> Option<i64> {
        let value = self.convertible(name, flags, nullable)?;
        let Ok(parsed) = parse_enum(&value, members) else {
            self.not_valid(name, property);
            return None;
        };
        let defined = if flags {
            let all = members.iter().fold(0, |all, (_, member)| all | member);
            let has_zero = members.iter().any(|(_, member)| *member == 0);
            (parsed == 0 && has_zero) || (parsed > 0 && parsed & !all == 0)
        } else {
            members.iter().any(|(_, member)| *member == parsed)
        };
        if !defined {
            let attempted = self.joined(name).unwrap_or_default();
            self.fail(name, format!("The value '{attempted}' is invalid."));
            return None;
        }
        Some(parsed)
    }
}

/// `SimpleByFilterRequestDto`, the parameters the simulator reads
/// (DS@v3.7.2-server:products/ASC.People/Server/ApiModels/RequestDto/SimpleByFilterRequestDto.cs:45-180).
struct FilterInput {
    filter: DirectoryFilter,
    count: i32,
    start_index: i32,
    sort_by: Option<String>,
    descending: bool,
}

/// What the user query keeps; everything it tests is here.
#[derive(Debug)]
struct DirectoryFilter {
    /// A DocSpace or People admin: sees terminated users.
    is_admin: bool,
    status: Option<i64>,
    group: Option<Uuid>,
    employee_type: Option<i64>,
    area: i64,
    separator: Option<String>,
    text: Option<String>,
}

impl FilterInput {
    /// Binding in declaration order, then `[Range(1, 100)]` on a count that bound.
    fn read(query: &Query) -> Result<FilterInput, Refusal> {
        let mut binder = QueryBinder {
            query,
            errors: Vec::new(),
        };
        let status = binder.enumeration(
            "employeeStatus",
            "EmployeeStatus",
            &EMPLOYEE_STATUSES,
            (true, true),
        );
        let group = binder.guid("groupId", "GroupId");
        let employee_type = binder.enumeration(
            "employeeType",
            "EmployeeType",
            &EMPLOYEE_TYPES,
            (true, true),
        );
        let area = binder.enumeration("area", "Area", &AREAS, (false, false));
        let count = binder.int("count", "Count");
        if count.is_some_and(|count| !(1..=MAX_COUNT).contains(&count)) {
            binder.fail(
                "count",
                format!("The field Count must be between 1 and {MAX_COUNT}."),
            );
        }
        let start_index = binder.int("startIndex", "StartIndex");
        let sort_by = binder.text("sortBy");
        let sort_order = binder.enumeration("sortOrder", "SortOrder", &SORT_ORDERS, (false, false));
        let separator = binder.text("filterSeparator");
        let text = binder.text("filterValue");
        if !binder.errors.is_empty() {
            return Err(Refusal::Invalid(binder.errors));
        }
        Ok(FilterInput {
            filter: DirectoryFilter {
                is_admin: false,
                status,
                group,
                employee_type,
                area: area.unwrap_or(0),
                separator,
                text,
            },
            count: count.unwrap_or(MAX_COUNT),
            start_index: start_index.unwrap_or(0),
            sort_by,
            descending: sort_order == Some(1),
        })
    }

    /// `UserQueryFilter` picks the sort by name, any case; `DisplayName` is first name first
    /// outside Russian cultures (DS@v3.7.2-server:common/ASC.Core.Common/Users/UserQueryFilter.cs:102-111).
    fn order(&self) -> Order {
        let descending = self.descending;
        match self
            .sort_by
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("lastname") => Order::DocspaceByStatus {
                key: NameKey::LastName,
                descending,
            },
            Some("email") => Order::DocspaceByEmail { descending },
            Some("registrationdate") => Order::DocspaceByRegistration { descending },
            // why: `Type`, `Department`, `UsedSpace` and `CreatedBy` sort by data the
            // simulator does not keep; they get the default order.
            _ => Order::DocspaceByStatus {
                key: NameKey::FirstName,
                descending,
            },
        }
    }
}

impl DirectoryFilter {
    /// `GetUserQueryForFilter` for one user (DbUserService.cs:767-966).
    fn keeps(&self, user: &SimUser) -> bool {
        let area = self.area;
        let status = match self.status {
            None => self.is_admin || user.status != STATUS_TERMINATED,
            Some(4) => user.status == STATUS_PENDING,
            Some(2) => self.is_admin && user.status == STATUS_TERMINATED,
            Some(7) => self.is_admin || user.status != STATUS_TERMINATED,
            Some(1 | 5) => user.status == STATUS_ACTIVE,
            // why: a combination no case names filters nothing.
            Some(_) => true,
        };
        let group = self
            .group
            .is_none_or(|group| user.group_ids.contains(&group));
        let guest = user.is_visitor;
        // why: the type filters are skipped in the area they contradict
        // (UserController.cs:2690-2708).
        let of_type = match self.employee_type {
            Some(3) if area != AREA_GUESTS => in_admin_group(user),
            Some(1) if area != AREA_GUESTS => {
                !guest && !in_admin_group(user) && !is_collaborator(user)
            }
            Some(4) if area != AREA_GUESTS => is_collaborator(user),
            Some(2) if area != AREA_PEOPLE => guest,
            _ => true,
        };
        let in_area = match area {
            AREA_PEOPLE => !guest,
            AREA_GUESTS => guest,
            _ => true,
        };
        status && group && of_type && in_area && self.matches_text(user)
    }

    /// `UserQueryHelper.FilterByText`: lower-cased and trimmed, then every space-separated
    /// word (or, with a separator, any piece) in the first name, last name or email
    /// (DS@v3.7.2-server:common/ASC.Core.Common/Users/UserQueryHelper.cs:53-91).
    fn matches_text(&self, user: &SimUser) -> bool {
        let Some(text) = &self.text else {
            return true;
        };
        let text = text.to_lowercase();
        let text = text.trim();
        let found = |piece: &str| {
            [&user.first_name, &user.last_name, &user.email]
                .iter()
                .any(|property| contains_ignoring_case(property, piece))
        };
        match &self.separator {
            None => text.split(' ').all(found),
            Some(separator) => text.split(separator.as_str()).any(found),
        }
    }
}

/// The type groups DocSpace stores: filters by type look at these rows, and the owner has
/// none, being an administrator through the tenant's `OwnerId` only
/// (DS@v3.7.2-server:common/ASC.Core.Common/Context/Impl/UserManager.cs:1022-1030).
fn in_admin_group(user: &SimUser) -> bool {
    user.is_admin && !user.is_owner
}

/// `SearchUsersByExtendedFilter` (`GET /people/filter`) through `GetByFilterAsync`: binding and
/// validation first, then guests and "User"s are refused, then the query
/// (DS@v3.7.2-server:products/ASC.People/Server/Api/UserController.cs:1178-1211, 2583-2710,
/// common/ASC.Core.Common/Data/DbUserService.cs:298-307, 322-441, 767-966).
fn filter(portal: &mut Portal, caller: &SimUser, incoming: &Incoming) -> Result<Reply, Refusal> {
    let mut input = FilterInput::read(&Query::parse(incoming))?;
    if caller.is_visitor || is_collaborator(caller) {
        return Err(Failure::new(StatusCode::FORBIDDEN, Exception::Security, ACCESS_DENIED).into());
    }
    // why: a People admin who is not a DocSpace admin is a "User", refused above; so whoever
    // gets here also sees guests they share no room with (`IncludeStrangers`).
    input.filter.is_admin = caller.is_people_admin();
    let skip = usize::try_from(input.start_index).unwrap_or(0);
    let take = usize::try_from(input.count).unwrap_or(0);
    let filter = &input.filter;
    let page = listing::page(
        portal,
        (input.order(), format!("{filter:?}")),
        skip,
        take,
        |user| filter.keeps(user),
    );

    let origin = incoming.origin();
    let viewer = Viewer {
        portal,
        caller,
        origin: &origin,
    };
    let shown: Vec<_> = page
        .users
        .iter()
        .map(|user| docspace_user(&viewer, user, false))
        .collect();
    Ok(wire::docspace_list(
        incoming,
        shown.len(),
        page.total,
        &shown,
    ))
}

/// `UpdateMember` (`PUT /people/{userid}`), as the configured release has it: DS@v3.7.2-server
/// `products/ASC.People/Server/Api/UserController.cs:1897-2061`, or for 3.1.1 to 3.6.x
/// DS@v3.6.1-server `…/UserController.cs:1753-1900`.
fn update_profile(
    portal: &mut Portal,
    caller: &SimUser,
    key: &str,
    incoming: &Incoming,
) -> Result<Shown, Refusal> {
    let legacy = portal.docspace_release < FIRST_RELEASE_WITHOUT_PROFILE_DETAILS;
    let input = UpdateMember::read(incoming, legacy)?;
    // why: GetUserInfoAsync tries a GUID and falls back to the user name, so `@self` is a name.
    let mut user = match parse_guid(key) {
        Some(id) => portal.user(id),
        None => portal.user_by_name(key),
    }
    .cloned()
    .ok_or_else(not_found)?;
    let before = user.clone();
    let editing_self = caller.id == user.id;
    if !editing_self && !caller.is_portal_admin() {
        return Err(
            Failure::new(StatusCode::FORBIDDEN, Exception::Authorizing, ACCESS_DENIED).into(),
        );
    }
    // why: 3.7.1 refuses to edit the owner, or an admin unless the owner asks (:1915-1921).
    if !legacy && !editing_self && (user.is_owner || (!caller.is_owner && user.is_admin)) {
        return Err(Failure::new(StatusCode::FORBIDDEN, Exception::Security, ACCESS_DENIED).into());
    }
    let mut shown_contacts = None;
    let mut dates_set = DatesSet::default();
    if editing_self {
        if !user.is_ldap && !user.is_sso {
            let first_name = input.first_name.unwrap_or_else(|| user.first_name.clone());
            let last_name = input.last_name.unwrap_or_else(|| user.last_name.clone());
            // why: DocSpace checks the first name, and the last name only when it is not empty.
            if !portal.name_allowed(&first_name)
                || !(last_name.is_empty() || portal.name_allowed(&last_name))
            {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    Exception::Argument,
                    "Incorrect firstname or lastname",
                )
                .into());
            }
            user.first_name = first_name;
            user.last_name = last_name;
            if let Some(location) = input.location {
                user.location = Some(location);
            }
            // why: before 3.7.1, a DocSpace admin's own title (3.6.1:1790-1793).
            if legacy
                && caller.is_portal_admin()
                && let Some(title) = input.title
            {
                user.title = Some(title);
            }
        }
        if let Some(comment) = input.comment {
            user.notes = Some(comment);
        }
        if legacy {
            // why: SexEnum 0 is Female, 1 Male; anything else keeps the value (3.6.1:1798-1803).
            match input.sex {
                Some(0) => user.sex = Some(false),
                Some(1) => user.sex = Some(true),
                _ => {}
            }
            dates_set = DatesSet {
                birthday: input.birthday.is_some(),
                work_from: input.works_from.is_some(),
            };
            if let Some(birthday) = input.birthday {
                user.birthday = wall_clock_or_reset(birthday);
            }
            if let Some(works_from) = input.works_from {
                user.work_from = wall_clock_or_reset(works_from);
            }
        }
        // why: assigned unconditionally, so leaving `spam` out resets it.
        user.spam = input.spam;
        if let Some(contacts) = input.contacts {
            let flat: Vec<String> = contacts
                .into_iter()
                .filter(|(_, value)| !value.is_empty())
                .flat_map(|(kind, value)| [kind, value])
                .collect();
            if flat.is_empty() {
                // why: an empty string is persisted, but it does not clear the in-memory list
                // the response is built from.
                shown_contacts = Some(user.contacts.clone());
                user.contacts = Vec::new();
            } else {
                user.contacts = reloaded_contacts(&flat);
            }
        }
        if let Some(files) = input.files.filter(|files| !files.is_empty()) {
            let url = photo_url(&files, incoming);
            if user.avatar_url.as_ref() != Some(&url) {
                check_photo_source(&url, incoming)?;
                user.avatar_url = Some(url);
            }
        }
        if caller.is_portal_admin()
            && let Some(department) = &input.department
        {
            portal.replace_groups(&mut user, department);
        }
    }
    // why: 3.7.1 applies `disable` to others only (:1995-2001); earlier releases also to oneself,
    // but not to the owner, nor to an admin unless the owner asks (3.6.1:1842).
    let may_disable = if legacy {
        editing_self
            || caller.is_owner
            || (caller.is_portal_admin() && !user.is_owner && !user.is_admin)
    } else {
        !editing_self
    };
    if may_disable && let Some(disable) = input.disable {
        user.status = if disable {
            STATUS_TERMINATED
        } else {
            STATUS_ACTIVE
        };
        user.terminated = disable.then(Utc::now);
    }
    if !editing_self && let Some(make_guest) = input.is_user {
        // why: the owner, admins and module admins never become guests (:2009-2012).
        let can_be_guest = !user.is_owner && !user.is_admin && user.admin_modules.is_empty();
        if make_guest && can_be_guest && !user.is_visitor {
            user.is_visitor = true;
        } else if !make_guest && user.is_visitor {
            // why: `countPaidUserChecker.CheckAppend()` throws a TenantQuotaException (402).
            if !portal.has_free_seat() {
                return Err(Failure::new(
                    StatusCode::PAYMENT_REQUIRED,
                    Exception::TenantQuota,
                    "The number of paid users exceeds the tariff limit",
                )
                .into());
            }
            user.is_visitor = false;
        }
    }
    Ok(store(portal, &before, user, shown_contacts, dates_set))
}

/// Saves a written user and answers with it as the user in memory shows it: the contacts an
/// empty list did not clear there (`shown_contacts`), the dates as set.
fn store(
    portal: &mut Portal,
    before: &SimUser,
    mut user: SimUser,
    shown_contacts: Option<Vec<String>>,
    dates_set: DatesSet,
) -> Shown {
    portal.drop_ignored(before, &mut user);
    portal.save(&mut user);
    if let Some(contacts) = shown_contacts {
        user.contacts = contacts;
    }
    Shown {
        user,
        self_route: false,
        dates_set,
    }
}

/// `ContactsController` of 3.0 and 3.1 (DS@v3.1.1-server:products/ASC.People/Server/Api/
/// ContactsController.cs:49-140), which 3.2.1 commented out: the user themself or an
/// administrator. PUT replaces the list (an empty one is stored, but answered with the old
/// list, as in `UpdateMember`); POST clears and replaces, and fails on a user without contacts;
/// DELETE removes by type in memory and saves nothing.
fn contacts(
    portal: &mut Portal,
    caller: &SimUser,
    change: ContactsChange,
    key: &str,
    incoming: &Incoming,
) -> Result<Shown, Refusal> {
    let input = UpdateMember::read(incoming, true)?;
    let mut user = match parse_guid(key) {
        Some(id) => portal.user(id),
        None => portal.user_by_name(key),
    }
    .cloned()
    .ok_or_else(not_found)?;
    if caller.id != user.id && !caller.is_portal_admin() {
        // why: 3.0 maps no AuthorizingException, so its denial is a 500
        // (DS@v3.0.0-server:common/ASC.Api.Core/Middleware/ResponseWrapper.cs:45-83).
        let status = if portal.docspace_release < Release::new(3, 1, 0) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::FORBIDDEN
        };
        return Err(Failure::new(status, Exception::Authorizing, ACCESS_DENIED).into());
    }
    let before = user.clone();
    let requested: Vec<String> = input
        .contacts
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .flat_map(|(kind, value)| [kind, value])
        .collect();
    let mut shown_contacts = None;
    match change {
        ContactsChange::Remove => {
            let mut shown = user.clone();
            for kind in requested.iter().step_by(2) {
                if let Some(index) = shown.contacts.iter().position(|item| item == kind)
                    && index + 2 <= shown.contacts.len()
                {
                    shown.contacts.drain(index..index + 2);
                }
            }
            return Ok(Shown {
                user: shown,
                self_route: false,
                dates_set: DatesSet::default(),
            });
        }
        ContactsChange::Set if user.contacts.is_empty() => {
            return Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Exception::Plain,
                "Object reference not set to an instance of an object.",
            )
            .into());
        }
        ContactsChange::Replace | ContactsChange::Set => {
            if requested.is_empty() {
                shown_contacts = Some(user.contacts.clone());
                user.contacts = Vec::new();
            } else {
                user.contacts = reloaded_contacts(&requested);
            }
        }
    }
    Ok(store(
        portal,
        &before,
        user,
        shown_contacts,
        DatesSet::default(),
    ))
}

/// A relative photo path is resolved against the portal's own address
/// (PeopleControllerBase.cs:107-113).
fn photo_url(files: &str, incoming: &Incoming) -> String {
    let lower = files.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        files.to_owned()
    } else {
        format!("{}/{}", incoming.origin(), files.trim_start_matches('/'))
    }
}

/// The photo URL's SSRF check: absolute URLs must not point at loopback or private addresses.
fn check_photo_source(files: &str, incoming: &Incoming) -> Result<(), Failure> {
    // why: a relative path was resolved against the portal itself, which a real portal reaches
    // under its public name; the simulator's loopback address stands in for that.
    if files.starts_with(&format!("{}/", incoming.origin())) {
        return Ok(());
    }
    let Ok(url) = Url::parse(files) else {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            Exception::Security,
            ACCESS_DENIED,
        ));
    };
    let internal = match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        None => true,
    };
    if internal || !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            Exception::Security,
            ACCESS_DENIED,
        ));
    }
    Ok(())
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unspecified(),
    }
}

/// `UpdateMemberRequestDto` after binding.
#[derive(Debug, Default)]
struct UpdateMember {
    disable: Option<bool>,
    email: Option<String>,
    is_user: Option<bool>,
    first_name: Option<String>,
    last_name: Option<String>,
    department: Option<Vec<Uuid>>,
    location: Option<String>,
    comment: Option<String>,
    contacts: Option<Vec<(String, String)>>,
    files: Option<String>,
    spam: Option<bool>,
    /// Read by releases before 3.7.1 only.
    title: Option<String>,
    /// `SexEnum?`, before 3.7.1.
    sex: Option<i64>,
    /// `ApiDateTime` through its JSON converter, before 3.7.1.
    birthday: Option<chrono::DateTime<Utc>>,
    works_from: Option<chrono::DateTime<Utc>>,
}

impl UpdateMember {
    /// The input formatter, then model validation: names match case-insensitively, unknown
    /// properties are ignored, booleans must be real JSON booleans.
    fn read(incoming: &Incoming, legacy: bool) -> Result<UpdateMember, Refusal> {
        if !reads_json(incoming.media_type().as_deref()) {
            return Err(Refusal::UnsupportedMediaType);
        }
        let body = &incoming.body;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(invalid("", "A non-empty request body is required."));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|error| invalid("$", &json_syntax_message(body, &error)))?;
        let Value::Object(object) = value else {
            return Err(invalid(
                "$",
                &conversion_message(
                    "ASC.People.ApiModels.RequestDto.UpdateMemberRequestDto",
                    "$",
                    0,
                ),
            ));
        };
        let raw = String::from_utf8_lossy(body);
        let mut input = UpdateMember::default();
        for (name, value) in &object {
            let at = Property { name, raw: &raw };
            match name.to_ascii_lowercase().as_str() {
                "disable" => input.disable = at.boolean(value)?,
                "isuser" => input.is_user = at.boolean(value)?,
                "spam" => input.spam = at.boolean(value)?,
                "email" => input.email = at.string(value)?,
                "firstname" => input.first_name = at.string(value)?,
                "lastname" => input.last_name = at.string(value)?,
                "location" => input.location = at.string(value)?,
                "comment" => input.comment = at.string(value)?,
                "files" => input.files = at.string(value)?,
                "userid" => {
                    at.string(value)?;
                }
                "department" => input.department = at.guids(value)?,
                "contacts" => input.contacts = at.contacts(value)?,
                "title" if legacy => input.title = at.string(value)?,
                "sex" if legacy => input.sex = at.integer(value, "SexEnum")?,
                "birthday" if legacy => input.birthday = at.date(value)?,
                "worksfrom" if legacy => input.works_from = at.date(value)?,
                // why: System.Text.Json ignores properties the DTO does not declare (3.7.1
                // dropped title, sex, birthday and worksfrom).
                _ => {}
            }
        }
        let errors = input.validation_errors();
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(Refusal::Invalid(errors))
        }
    }

    /// DataAnnotations on the DTO, in declaration order.
    fn validation_errors(&self) -> Vec<(String, Vec<String>)> {
        let mut errors = Vec::new();
        if let Some(email) = &self.email {
            let messages = email_messages(email);
            if !messages.is_empty() {
                errors.push(("Email".to_owned(), messages));
            }
        }
        for (field, value) in [
            ("FirstName", &self.first_name),
            ("LastName", &self.last_name),
        ] {
            if value.as_deref().is_some_and(too_long) {
                errors.push((field.to_owned(), vec![length_message(field)]));
            }
        }
        errors
    }
}

/// The media types System.Text.Json's input formatter reads.
fn reads_json(media_type: Option<&str>) -> bool {
    match media_type {
        Some("application/json" | "text/json") => true,
        Some(other) => other.starts_with("application/") && other.ends_with("+json"),
        None => false,
    }
}

/// What the DTOs' `[EmailAddress]` and `[StringLength(255)]` on `Email` say of a value.
fn email_messages(email: &str) -> Vec<String> {
    let mut messages = Vec::new();
    if !is_email_address(email) {
        messages.push("The Email field is not a valid e-mail address.".to_owned());
    }
    if too_long(email) {
        messages.push(length_message("Email"));
    }
    messages
}

/// `EmailAddressAttribute`: exactly one `@`, neither first nor last, no line breaks.
fn is_email_address(text: &str) -> bool {
    if text.contains('\r') || text.contains('\n') {
        return false;
    }
    match (text.find('@'), text.rfind('@')) {
        (Some(first), Some(last)) => first == last && first > 0 && first + 1 < text.len(),
        _ => false,
    }
}

/// .NET string lengths count UTF-16 units.
fn too_long(text: &str) -> bool {
    text.encode_utf16().count() > MAX_TEXT
}

fn length_message(field: &str) -> String {
    format!("The field {field} must be a string with a maximum length of {MAX_TEXT}.")
}

fn invalid(field: &str, message: &str) -> Refusal {
    Refusal::Invalid(vec![(field.to_owned(), vec![message.to_owned()])])
}

fn conversion_message(clr_type: &str, path: &str, position: usize) -> String {
    format!(
        "The JSON value could not be converted to {clr_type}. Path: {path} | LineNumber: 0 | BytePositionInLine: {position}."
    )
}

/// A System.Text.Json reader message for the place serde stopped at.
fn json_syntax_message(body: &[u8], error: &serde_json::Error) -> String {
    let line = error.line().saturating_sub(1);
    let position = error.column();
    let found = String::from_utf8_lossy(body)
        .lines()
        .nth(line)
        .and_then(|row| row.chars().nth(position.saturating_sub(1)))
        .unwrap_or('?');
    if error.is_eof() {
        format!(
            "Expected depth to be zero at the end of the JSON payload. There is an open JSON object or array that should be closed. Path: $ | LineNumber: {line} | BytePositionInLine: {position}."
        )
    } else {
        format!(
            "'{found}' is an invalid start of a value. Path: $ | LineNumber: {line} | BytePositionInLine: {position}."
        )
    }
}

/// One top-level property being read, for error paths and positions.
struct Property<'a> {
    name: &'a str,
    raw: &'a str,
}

impl Property<'_> {
    fn path(&self) -> String {
        format!("$.{}", self.name)
    }

    /// Roughly where the reader was: just past the property name in the raw body.
    fn position(&self) -> usize {
        self.raw
            .find(&format!("\"{}\"", self.name))
            .map_or(0, |at| at + self.name.len() + 2)
    }

    fn mismatch(&self, path: &str, clr_type: &str) -> Refusal {
        invalid(path, &conversion_message(clr_type, path, self.position()))
    }

    fn boolean(&self, value: &Value) -> Result<Option<bool>, Refusal> {
        match value {
            Value::Null => Ok(None),
            Value::Bool(flag) => Ok(Some(*flag)),
            // why: AllowReadingFromString covers numbers only; "true" as a string is an error.
            _ => Err(self.mismatch(&self.path(), "System.Nullable`1[System.Boolean]")),
        }
    }

    fn string(&self, value: &Value) -> Result<Option<String>, Refusal> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            _ => Err(self.mismatch(&self.path(), "System.String")),
        }
    }

    /// A nullable enum without a string converter: a JSON integer.
    fn integer(&self, value: &Value, clr_type: &str) -> Result<Option<i64>, Refusal> {
        match value {
            Value::Null => Ok(None),
            Value::Number(number) => number
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.mismatch(&self.path(), clr_type)),
            _ => Err(self.mismatch(&self.path(), clr_type)),
        }
    }

    /// `ApiDateTimeConverter.Read`: `DateTimeOffset.TryParse` first, so a string without an
    /// offset is server-local time (UTC here); one it cannot read becomes `MinValue`, taken as
    /// no date (DS@v3.6.1-server:common/ASC.Api.Core/Core/ApiDateTime.cs:376-393).
    fn date(&self, value: &Value) -> Result<Option<chrono::DateTime<Utc>>, Refusal> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(parse_server_local(text)),
            _ => Err(self.mismatch(&self.path(), "ASC.Api.Core.ApiDateTime")),
        }
    }

    fn guids(&self, value: &Value) -> Result<Option<Vec<Uuid>>, Refusal> {
        let items = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => items,
            _ => return Err(self.mismatch(&self.path(), "System.Guid[]")),
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str()
                    .and_then(|text| Uuid::try_parse(text).ok())
                    .ok_or_else(|| {
                        self.mismatch(&format!("{}[{index}]", self.path()), "System.Guid")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn contacts(&self, value: &Value) -> Result<Option<Vec<(String, String)>>, Refusal> {
        let items = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => items,
            _ => {
                return Err(self.mismatch(
                    &self.path(),
                    "System.Collections.Generic.List`1[ASC.People.ApiModels.RequestDto.Contact]",
                ));
            }
        };
        let mut contacts = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let Value::Object(fields) = item else {
                return Err(self.mismatch(
                    &format!("{}[{index}]", self.path()),
                    "ASC.People.ApiModels.RequestDto.Contact",
                ));
            };
            let kind = self.contact_field(fields, "type", index)?;
            let value = self.contact_field(fields, "value", index)?;
            contacts.push((kind.unwrap_or_default(), value.unwrap_or_default()));
        }
        Ok(Some(contacts))
    }

    fn contact_field(
        &self,
        fields: &Map<String, Value>,
        wanted: &str,
        index: usize,
    ) -> Result<Option<String>, Refusal> {
        let Some((name, value)) = fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        else {
            return Ok(None);
        };
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            _ => Err(self.mismatch(&format!("{}[{index}].{name}", self.path()), "System.String")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_attribute_only_checks_for_one_inner_at_sign() {
        assert!(is_email_address("a@b"));
        assert!(is_email_address("odd but fine@x"));
        assert!(!is_email_address("no-at-sign"));
        assert!(!is_email_address("@leading"));
        assert!(!is_email_address("trailing@"));
        assert!(!is_email_address("two@@signs"));
        assert!(!is_email_address(""));
    }

    #[test]
    fn json_variants_are_read_and_others_are_not() {
        assert!(reads_json(Some("application/json")));
        assert!(reads_json(Some("text/json")));
        assert!(reads_json(Some("application/problem+json")));
        assert!(!reads_json(Some("application/x-www-form-urlencoded")));
        assert!(!reads_json(None));
    }

    #[test]
    fn photos_from_internal_addresses_are_refused_but_the_portal_itself_is_trusted() {
        let request = axum::http::Request::builder()
            .uri("/api/2.0/people/x")
            .header("host", "127.0.0.1:8080")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let incoming = Incoming::new(&parts, axum::body::Bytes::new(), "localhost");
        let check = |url: &str| check_photo_source(url, &incoming);
        assert!(check("https://cdn.example.com/a.png").is_ok());
        assert!(check(&photo_url("/storage/a.png", &incoming)).is_ok());
        assert!(check("http://127.0.0.1/a.png").is_err());
        assert!(check("http://10.1.2.3/a.png").is_err());
        assert!(check("http://localhost/a.png").is_err());
        assert!(check("file:///etc/passwd").is_err());
    }

    fn filter_input(query: &str) -> Result<FilterInput, Vec<(String, Vec<String>)>> {
        let request = axum::http::Request::builder()
            .uri(format!("/api/2.0/people/filter?{query}"))
            .body(())
            .map_err(|_| Vec::new())?;
        let (parts, ()) = request.into_parts();
        let incoming = Incoming::new(&parts, axum::body::Bytes::new(), "localhost");
        match FilterInput::read(&Query::parse(&incoming)) {
            Ok(input) => Ok(input),
            Err(Refusal::Invalid(errors)) => Err(errors),
            Err(_) => Err(Vec::new()),
        }
    }

    #[test]
    fn the_filter_binds_flags_from_every_value_and_defaults_what_is_missing() {
        let input = filter_input("EMPLOYEESTATUS=1&employeeStatus=Terminated&employeeType=All");
        let filter = input.as_ref().map(|input| &input.filter).ok();
        assert_eq!(filter.and_then(|filter| filter.status), Some(3));
        assert_eq!(filter.and_then(|filter| filter.employee_type), Some(0));
        assert_eq!(input.as_ref().map(|input| input.count).ok(), Some(100));
        let hex = filter_input("count=0x10&startIndex=-5&filterValue=%20");
        assert_eq!(hex.as_ref().map(|input| input.count).ok(), Some(16));
        assert_eq!(hex.as_ref().map(|input| input.start_index).ok(), Some(-5));
        assert_eq!(hex.ok().and_then(|input| input.filter.text), None);
    }

    #[test]
    fn the_filter_refuses_undefined_and_unconvertible_values_by_binding_name() {
        let errors = filter_input("employeeStatus=0&area=5&count=&sortOrder=up").err();
        assert_eq!(
            errors,
            Some(vec![
                (
                    "employeeStatus".to_owned(),
                    vec!["The value '0' is invalid.".to_owned()]
                ),
                (
                    "area".to_owned(),
                    vec!["The value '5' is invalid.".to_owned()]
                ),
                (
                    "count".to_owned(),
                    vec!["The value '' is invalid.".to_owned()]
                ),
                (
                    "sortOrder".to_owned(),
                    vec!["The value 'up' is not valid for SortOrder.".to_owned()]
                ),
            ])
        );
    }
}
