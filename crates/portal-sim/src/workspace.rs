//! Workspace (CommunityServer) People methods: `GET @self`, `GET {x}`, `GET email`,
//! `GET filter`, `PUT {x}`, the three contacts methods and `PUT status/{status}`, with the portal's order of checks and its traps
//! (a missing `contacts` wipes them, a missing `isVisitor` promotes a guest, a missing `lead`
//! clears it from 12.5, a suspended user cannot be updated from 12.7.1, and the status route
//! skips users without saying so).

use axum::http::StatusCode;
use chrono::Utc;

use super::{
    Release, auth,
    dates::wall_clock_or_reset,
    endpoint::{ContactsChange, Endpoint},
    listing::{
        self, EnumError, Order, Query, contains_ignoring_case, eq_ignoring_case, parse_enum,
    },
    render::{DatesSet, Viewer, workspace_user},
    state::{Portal, STATUS_ACTIVE, STATUS_TERMINATED, SimUser, parse_guid, reloaded_contacts},
    wire::{self, Exception, Failure, Incoming, Reply, WorkspacePaging},
    workspace_args::{Args, GUID_FORMAT_MESSAGE},
};

/// A method's result: the HTTP status, the user as the response shows it, and the dates this
/// write set (shown as set, see `render::show_dates_as_set`).
type Answer = Result<(StatusCode, SimUser, DatesSet), Failure>;

/// Authenticates, runs the method and wraps the result in Workspace's envelope.
pub(crate) fn handle(portal: &mut Portal, endpoint: Endpoint, incoming: &Incoming) -> Reply {
    let caller = match auth::authenticate(portal, &incoming.headers) {
        Ok(caller) => caller.clone(),
        Err(_) => return wire::workspace_unauthorized(incoming),
    };
    if let Endpoint::Status(status) = &endpoint {
        return match update_status(portal, &caller, status, incoming) {
            Ok(users) => {
                let origin = incoming.origin();
                let viewer = Viewer {
                    portal,
                    caller: &caller,
                    origin: &origin,
                };
                let shown: Vec<_> = users
                    .iter()
                    .map(|user| workspace_user(&viewer, user))
                    .collect();
                // why: a list's `count` is its length (ApiHttpHandlerBase.cs:176-191).
                let paging = WorkspacePaging::items(shown.len() as u64);
                wire::workspace_answer(StatusCode::OK, paging, &shown)
            }
            Err(failure) => wire::workspace_error(&failure),
        };
    }
    if endpoint == Endpoint::Filter {
        return match filter(portal, &caller, incoming) {
            Ok(reply) => reply,
            Err(failure) => wire::workspace_error(&failure),
        };
    }
    let answer = match endpoint {
        Endpoint::Me => Ok((StatusCode::OK, caller.clone(), DatesSet::default())),
        Endpoint::Profile(key) => profile(portal, &key),
        Endpoint::FindByEmail => find_by_email(portal, incoming),
        Endpoint::UpdateProfile(key) => update_profile(portal, &caller, &key, incoming),
        Endpoint::Contacts(change, key) => contacts(portal, &caller, change, &key, incoming),
        // why: answered by the router before authentication, or above.
        Endpoint::BuildVersion | Endpoint::Status(_) | Endpoint::Filter => {
            return wire::workspace_no_route();
        }
    };
    match answer {
        Ok((status, shown, dates_set)) => {
            let origin = incoming.origin();
            let viewer = Viewer {
                portal,
                caller: &caller,
                origin: &origin,
            };
            let mut dto = workspace_user(&viewer, &shown);
            dto.show_dates_as_set(&shown, dates_set);
            wire::workspace_success(status, &dto)
        }
        Err(failure) => wire::workspace_error(&failure),
    }
}

/// `GetById`: user name first, then GUID.
fn profile(portal: &Portal, key: &str) -> Answer {
    portal
        .user_by_name(key)
        .or_else(|| parse_guid(key).and_then(|id| portal.user(id)))
        .map(|user| (StatusCode::OK, user.clone(), DatesSet::default()))
        .ok_or_else(user_not_found)
}

fn user_not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        Exception::ItemNotFound,
        "User not found",
    )
}

/// `GetByEmail`: for any caller, the first user whose email matches ignoring case, terminated
/// ones too (CS@v12.7.1:module/ASC.Api/ASC.Employee/EmployeeApi.cs:206-218,
/// common/ASC.Core.Common/Context/Impl/UserManager.cs:157-169).
fn find_by_email(portal: &Portal, incoming: &Incoming) -> Answer {
    // why: a method parameter is bound from the first value as sent, not split on commas as
    // the paging values are (Impl/ApiArgumentBuilder.cs:52-67); nor is it trimmed.
    let email = Args::bind(incoming)?.text("email").unwrap_or_default();
    if email.is_empty() {
        return Err(user_not_found());
    }
    portal
        .users()
        .iter()
        .find(|user| eq_ignoring_case(&user.email, &email))
        .map(|user| (StatusCode::OK, user.clone(), DatesSet::default()))
        .ok_or_else(user_not_found)
}

/// `EmployeeStatus` (a flags enum) by name or number.
const EMPLOYEE_STATUSES: [(&str, i64); 5] = [
    ("Active", 1),
    ("Terminated", 2),
    ("LeaveOfAbsence", 4),
    ("All", 7),
    ("Default", 5),
];
/// `EmployeeType`.
const EMPLOYEE_TYPES: [(&str, i64); 3] = [("All", 0), ("User", 1), ("Visitor", 2)];
/// `apiConfiguration.ItemsPerPage`: `maxPage` in the shipped configuration
/// (CS@v12.7.1:web/studio/ASC.Web.Studio/web.autofac.config:8-13).
const ITEMS_PER_PAGE: u64 = 1000;

/// A nullable enum parameter: missing or empty is `None`. A text `Enum.Parse` rejects fails the
/// binding with a 400 whose message is the innermost exception's
/// (Impl/ApiHttpHandler.cs:128-131, IApiStandartResponce.cs:51-59).
fn enum_arg(args: &Args, name: &str, members: &[(&str, i64)]) -> Result<Option<i64>, Failure> {
    let Some(text) = args.text(name).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    parse_enum(&text, members).map(Some).map_err(|error| {
        let message = match error {
            EnumError::Blank => {
                "Must specify valid information for parsing in the string.".to_owned()
            }
            EnumError::NotFound(piece) => format!("Requested value '{piece}' was not found."),
        };
        Failure::new(StatusCode::BAD_REQUEST, Exception::Argument, message)
    })
}

/// `ulong.TryParse`: surrounding spaces and a sign allowed.
fn parse_ulong(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix('-') {
        Some(zeros) => (!zeros.is_empty() && zeros.bytes().all(|b| b == b'0')).then_some(0),
        None => text.parse().ok(),
    }
}

/// What `GetByFilter` keeps; everything it tests is here.
#[derive(Debug)]
struct DirectoryFilter {
    /// `EmployeeStatus` flags a user's status must lie within.
    status: i64,
    /// The search's words, when there is a search.
    words: Option<Vec<String>>,
    group: Option<uuid::Uuid>,
    employee_type: Option<i64>,
}

impl DirectoryFilter {
    fn keeps(&self, user: &SimUser) -> bool {
        let status = i64::from(user.status);
        status & self.status == status
            && self.words.as_ref().is_none_or(|words| found(user, words))
            && self
                .group
                .is_none_or(|group| user.group_ids.contains(&group))
            && match self.employee_type {
                Some(1) => !user.is_visitor,
                Some(2) => user.is_visitor,
                _ => true,
            }
    }
}

/// `UserManager.Search`: every word in the last name, first name, title, location or email,
/// ignoring case; a word shorter than two characters is found nowhere, and so is anything
/// when there are no words (UserManager.cs:176-204, 640-653).
fn found(user: &SimUser, words: &[String]) -> bool {
    let properties = [
        user.last_name.as_str(),
        user.first_name.as_str(),
        user.title.as_deref().unwrap_or_default(),
        user.location.as_deref().unwrap_or_default(),
        user.email.as_str(),
    ];
    !words.is_empty()
        && words.iter().all(|word| {
            word.encode_utf16().count() >= 2
                && properties
                    .iter()
                    .any(|property| contains_ignoring_case(property, word))
        })
}

/// `GetFullByFilter` (`GET /people/filter`) through `GetByFilter`, for any caller
/// (CS@v12.7.1:module/ASC.Api/ASC.Employee/EmployeeApi.cs:399-509), with the paging the API
/// context reads from the query string (Impl/ApiContext.cs:48-83) and the envelope its handler
/// writes (Impl/ApiHttpHandler.cs:58-59, ApiHttpHandlerBase.cs:176-191).
fn filter(portal: &mut Portal, caller: &SimUser, incoming: &Incoming) -> Result<Reply, Failure> {
    let query = Query::parse(incoming);
    // why: the API context reads these before binding, and a value it cannot parse is ignored.
    let specified_count = query
        .request_value("count")
        .filter(|count| !count.is_empty())
        .and_then(parse_ulong)
        .map_or(ITEMS_PER_PAGE, |count| count.min(ITEMS_PER_PAGE));
    let start_index = query
        .request_value("startIndex")
        .and_then(|start| start.trim().parse::<i64>().ok())
        .map_or(0, |start| start.max(0));
    // why: bound in the method's parameter order, so the first bad one answers.
    let args = Args::bind(incoming)?;
    let requested_status = enum_arg(&args, "employeeStatus", &EMPLOYEE_STATUSES)?;
    let group = args.guid("groupId")?.filter(|group| !group.is_nil());
    let employee_type = enum_arg(&args, "employeeType", &EMPLOYEE_TYPES)?;

    // why: people admins see everyone by default; others only active users and users on leave,
    // and cannot widen that to terminated ones by name (EmployeeApi.cs:438-452), though a
    // combination such as `Active,Terminated` gets through.
    let is_admin = caller.is_people_admin();
    let status = match requested_status {
        Some(status @ (2 | 7)) if is_admin => status,
        Some(2 | 7) => 5,
        Some(status) => status,
        None if is_admin => 7,
        None => 5,
    };
    let search = query.request_value("filterValue").unwrap_or_default();
    let filter = DirectoryFilter {
        status,
        // why: `UserManager.Search` runs only for a non-empty value, and splits it on spaces.
        words: (!search.is_empty()).then(|| {
            search
                .split(' ')
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        group,
        employee_type,
    };
    // why: `sortBy` and `sortOrder` are compared as sent; anything else is the display
    // order, first name first outside Russian cultures (UserFormatter.cs:124-135).
    let order = Order::Workspace {
        last_first: query.request_value("sortBy") == Some("lastname"),
        descending: query.request_value("sortOrder") == Some("descending"),
    };
    // why: `Skip((int)StartIndex)`: the cast truncates, and a negative skip skips nothing.
    let skip = usize::try_from(start_index as i32).unwrap_or(0);
    let take = usize::try_from(specified_count).unwrap_or(usize::MAX);
    let page = listing::page(portal, (order, format!("{filter:?}")), skip, take, |user| {
        filter.keeps(user)
    });

    let origin = incoming.origin();
    let viewer = Viewer {
        portal,
        caller,
        origin: &origin,
    };
    let shown: Vec<_> = page
        .users
        .iter()
        .map(|user| workspace_user(&viewer, user).listed())
        .collect();
    let count = shown.len() as u64;
    let start_index = start_index.unsigned_abs();
    // why: the handler counts the method's lazy answer as one item, so it claims a next page
    // only when none was asked for (`count=0`) (ApiHttpHandlerBase.cs:178-190).
    let next_index = (specified_count == 0).then(|| start_index.saturating_add(1));
    let paging = WorkspacePaging {
        count,
        start_index,
        next_index,
        total: Some(page.total as u64),
    };
    Ok(wire::workspace_answer(StatusCode::OK, paging, &shown))
}

/// `GetUserInfo`: a GUID, or else a user name.
fn user_by_id_or_name<'a>(portal: &'a Portal, key: &str) -> Result<&'a SimUser, Failure> {
    match parse_guid(key) {
        Some(id) => portal.user(id),
        None => portal.user_by_name(key),
    }
    .ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            Exception::ItemNotFound,
            "user not found",
        )
    })
}

/// The "Edit user information" check: self, a portal admin, or a People-module admin (whose
/// ACEs grant it). A denial is an `AuthorizingException`, which Workspace does not map, so it
/// surfaces as a 500.
fn demand_edit(caller: &SimUser, target_id: uuid::Uuid) -> Result<(), Failure> {
    if caller.id == target_id || caller.is_people_admin() {
        return Ok(());
    }
    Err(Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        Exception::Authorizing,
        format!(
            "\"{}\" access denied \"Edit user information\"",
            caller.full_name()
        ),
    ))
}

/// The update parameters after binding, in the method's parameter order.
struct UpdateMember {
    is_visitor: bool,
    first_name: Option<String>,
    last_name: Option<String>,
    comment: Option<String>,
    title: Option<String>,
    location: Option<String>,
    sex: Option<String>,
    birthday: Option<chrono::DateTime<Utc>>,
    works_from: Option<chrono::DateTime<Utc>>,
    contacts: Vec<(String, String)>,
    department: Vec<uuid::Uuid>,
    files: Option<String>,
    disable: Option<bool>,
    lead: Option<uuid::Uuid>,
}

impl UpdateMember {
    /// Binding happens before the method runs, so conversion errors come first.
    fn bind(incoming: &Incoming, has_lead: bool) -> Result<UpdateMember, Failure> {
        let args = Args::bind(incoming)?;
        Ok(UpdateMember {
            is_visitor: args.flag("isVisitor")?,
            first_name: args.text("firstname"),
            last_name: args.text("lastname"),
            comment: args.text("comment"),
            // why: the binder builds every collection parameter, so a missing `department`
            // (like `[]`) is an empty array, never null (Utils/Binder.cs:85-106, 214-263).
            department: args.guids("department")?.unwrap_or_default(),
            title: args.text("title"),
            location: args.text("location"),
            sex: args.text("sex"),
            birthday: args.date("birthday")?,
            works_from: args.date("worksfrom")?,
            contacts: args.contacts("contacts").unwrap_or_default(),
            files: args.text("files"),
            disable: args.optional_flag("disable")?,
            // why: before 12.5 `UpdateMember` has no `lead` parameter, so the key is never
            // bound (CS@v12.0.1:module/ASC.Api/ASC.Employee/EmployeeApi.cs:769).
            lead: if has_lead { args.guid("lead")? } else { None },
        })
    }
}

/// `UpdateMember` (`PUT /people/{userid}`).
fn update_profile(portal: &mut Portal, caller: &SimUser, key: &str, incoming: &Incoming) -> Answer {
    let has_lead = portal.workspace_release >= FIRST_RELEASE_WITH_LEAD;
    let input = UpdateMember::bind(incoming, has_lead)?;
    let target_id = parse_guid(key).ok_or_else(|| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Exception::Format,
            GUID_FORMAT_MESSAGE,
        )
    })?;
    demand_edit(caller, target_id)?;
    let mut user = portal.user(target_id).cloned().ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            Exception::ItemNotFound,
            "user not found",
        )
    })?;
    let before = user.clone();
    // why: from 12.7.0 (CS@d59e563e8 "Update to v12.7.0", untagged, and v12.7.1:
    // module/ASC.Api/ASC.Employee/EmployeeApi.cs:734-735; the tag v12.7.0 holds 12.6.0's code).
    if portal.workspace_release >= FIRST_RELEASE_REFUSING_SUSPENDED && !user.is_active() {
        return Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Exception::Plain,
            "The user is suspended",
        ));
    }
    let editing_self = caller.id == user.id;
    // why: `IsProductAdministrator(People)` gates title and lead (EmployeeApi.cs:744), and
    // `Action_EditGroups`, held by the same people, gates departments (:610).
    let caller_is_admin = caller.is_people_admin();

    if !user.is_ldap && !user.is_sso {
        if let Some(first_name) = input.first_name {
            user.first_name = first_name;
        }
        if let Some(last_name) = input.last_name {
            user.last_name = last_name;
        }
        if let Some(location) = input.location {
            user.location = Some(location);
        }
        if caller_is_admin && let Some(title) = input.title {
            user.title = Some(title);
        }
    }
    // why: `UserNameRegex.IsMatch(FirstName + LastName)` (EmployeeApi.cs:760-761).
    if !portal.name_allowed(&format!("{}{}", user.first_name, user.last_name)) {
        return Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Exception::Plain,
            "Incorrect firstname or lastname",
        ));
    }
    if let Some(comment) = input.comment {
        user.notes = Some(comment);
    }
    match input.sex.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("male") => user.sex = Some(true),
        Some("female") => user.sex = Some(false),
        _ => {}
    }
    let dates_set = DatesSet {
        birthday: input.birthday.is_some(),
        work_from: input.works_from.is_some(),
    };
    if let Some(birthday) = input.birthday {
        user.birthday = wall_clock_or_reset(birthday);
    }
    if let Some(works_from) = input.works_from {
        user.work_from = wall_clock_or_reset(works_from);
    }
    if caller_is_admin && has_lead {
        // why: the lead is assigned whenever an admin calls, so a missing one clears it.
        user.lead = input.lead.filter(|lead| !lead.is_nil());
    }
    user.contacts = flatten_contacts(&input.contacts);
    if caller_is_admin {
        // why: `UpdateDepartments` leaves every group and joins the listed ones, and the list
        // is never null, so an editor who may edit groups empties them unless they are sent.
        portal.replace_groups(&mut user, &input.department);
    }
    if let Some(files) = input.files.filter(|files| !files.is_empty()) {
        user.avatar_url = Some(photo_url(&files, incoming));
    }
    if let Some(disable) = input.disable {
        user.status = if disable {
            STATUS_TERMINATED
        } else {
            STATUS_ACTIVE
        };
        user.terminated = disable.then(Utc::now);
    }
    // why: `canBeGuestFlag = !IsOwner && !IsAdmin && !GetListAdminModules().Any() && !IsMe()`
    // (EmployeeApi.cs:806).
    let can_be_guest =
        !user.is_owner && !user.is_admin && user.admin_modules.is_empty() && !editing_self;
    if input.is_visitor && !user.is_visitor && can_be_guest {
        user.is_visitor = true;
    }
    if !editing_self && !input.is_visitor && user.is_visitor {
        // why: a guest becomes a full user only while a seat is free (EmployeeApi.cs:814-826).
        if !portal.has_free_seat() {
            return Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Exception::TenantQuota,
                format!(
                    "Exceeds the maximum active users ({})",
                    portal.user_quota.unwrap_or_default()
                ),
            ));
        }
        user.is_visitor = false;
    }
    portal.drop_ignored(&before, &mut user);
    Ok((StatusCode::OK, save(portal, user), dates_set))
}

/// The first release whose `UpdateMember` has `lead` (CS@v12.5.2:…/EmployeeApi.cs:725).
const FIRST_RELEASE_WITH_LEAD: Release = Release::new(12, 5, 0);
/// The first release whose `UpdateMember` refuses users who are not active.
const FIRST_RELEASE_REFUSING_SUSPENDED: Release = Release::new(12, 7, 0);

/// `UpdateUserStatus` (`PUT /people/status/{status}` with `userIds`), the same from v9.6 to
/// HEAD (CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeApi.cs:1379-1418). It answers the
/// users it was given, LDAP users left out, and skips without a word the owner, the caller,
/// and, when re-enabling, a non-guest while no seat is free.
fn update_status(
    portal: &mut Portal,
    caller: &SimUser,
    status: &str,
    incoming: &Incoming,
) -> Result<Vec<SimUser>, Failure> {
    let args = Args::bind(incoming)?;
    // why: the enum binds by name (any case) or number (Utils/ConvertUtils.cs:56-66).
    let status = match status.trim().to_ascii_lowercase().as_str() {
        "active" | "1" => Some(STATUS_ACTIVE),
        "terminated" | "2" => Some(STATUS_TERMINATED),
        "leaveofabsence" | "default" | "all" | "4" | "5" | "7" => None,
        _ => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                Exception::Argument,
                "Invalid arguments",
            ));
        }
    };
    // why: `DemandPermissions(Action_EditUser)`, held by portal and People admins; its
    // AuthorizingException is no SecurityException, so it surfaces as a 500.
    if !caller.is_people_admin() {
        return Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Exception::Authorizing,
            format!(
                "\"{}\" access denied \"Edit user information\"",
                caller.full_name()
            ),
        ));
    }
    let ids = args.guids("userIds")?.unwrap_or_default();
    let mut answered = Vec::new();
    for id in ids {
        let Some(mut user) = portal.user(id).cloned() else {
            continue;
        };
        if user.is_ldap {
            continue;
        }
        let before = user.clone();
        if !user.is_owner && user.id != caller.id {
            match status {
                Some(STATUS_ACTIVE)
                    if user.status == STATUS_TERMINATED
                        && (portal.has_free_seat() || user.is_visitor) =>
                {
                    user.status = STATUS_ACTIVE;
                }
                // why: the route sets no TerminatedDate, unlike `UpdateMember`.
                Some(STATUS_TERMINATED) => user.status = STATUS_TERMINATED,
                _ => {}
            }
            portal.drop_ignored(&before, &mut user);
            portal.save(&mut user);
        }
        answered.push(user);
    }
    Ok(answered)
}

/// `UpdatePhotoUrl`: a URL that does not start with `http://` or `https://` is a path on the
/// portal itself (EmployeeApi.cs:683-686).
fn photo_url(files: &str, incoming: &Incoming) -> String {
    if files.starts_with("http://") || files.starts_with("https://") {
        files.to_owned()
    } else {
        format!("{}/{}", incoming.origin(), files.trim_start_matches('/'))
    }
}

/// `UpdateMemberContacts`, `SetMemberContacts` and `DeleteMemberContacts`.
fn contacts(
    portal: &mut Portal,
    caller: &SimUser,
    change: ContactsChange,
    key: &str,
    incoming: &Incoming,
) -> Answer {
    let requested = Args::bind(incoming)?.contacts("contacts");
    let mut user = user_by_id_or_name(portal, key)?.clone();
    let before = user.clone();
    demand_edit(caller, user.id)?;
    let status = match change {
        ContactsChange::Replace => {
            user.contacts = flatten_contacts(&requested.unwrap_or_default());
            StatusCode::OK
        }
        ContactsChange::Set => {
            user.contacts = flatten_contacts(&requested.unwrap_or_default());
            StatusCode::CREATED
        }
        ContactsChange::Remove => {
            for (kind, _value) in requested.unwrap_or_default() {
                // why: the portal removes the first element equal to the type and the element after
                // it; the requested value is never compared.
                if let Some(index) = user.contacts.iter().position(|item| *item == kind) {
                    if index + 2 > user.contacts.len() {
                        return Err(Failure::new(
                            StatusCode::BAD_REQUEST,
                            Exception::Argument,
                            "Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection.",
                        ));
                    }
                    user.contacts.drain(index..index + 2);
                }
            }
            StatusCode::OK
        }
    };
    portal.drop_ignored(&before, &mut user);
    Ok((status, save(portal, user), DatesSet::default()))
}

/// Persists the user and returns it as the response shows it: the stored copy is what reads back
/// after the `a|b|` round trip, while the answer still shows the in-memory list.
fn save(portal: &mut Portal, mut shown: SimUser) -> SimUser {
    shown.last_modified = shown.last_modified.wrapping_add(1);
    let mut stored = shown.clone();
    stored.contacts = reloaded_contacts(&shown.contacts);
    portal.upsert(stored);
    shown
}

fn flatten_contacts(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(kind, value)| [kind.clone(), value.clone()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_as_ulong_does() {
        assert_eq!(parse_ulong(" 25 "), Some(25));
        assert_eq!(parse_ulong("+7"), Some(7));
        assert_eq!(parse_ulong("-0"), Some(0));
        assert_eq!(parse_ulong("-3"), None);
        assert_eq!(parse_ulong("ten"), None);
    }

    #[test]
    fn a_search_needs_words_of_two_characters_in_any_searched_property() {
        let mut user = crate::seed::generated_user(7);
        user.location = Some("Palo Alto".to_owned());
        let words = |text: &str| -> Vec<String> { text.split(' ').map(str::to_owned).collect() };
        assert!(found(&user, &words("alto p000007")));
        assert!(found(&user, &words("GENERATED")));
        assert!(!found(&user, &words("alto p")));
        assert!(!found(&user, &[]));
    }
}
