//! DocSpace 3.7 People methods: `GET @self`, `GET {x}` and `PUT {x}`, with ASP.NET Core's body
//! binding and model validation (400 inside the success envelope), and the rule that only the
//! user themself changes profile fields while others may change only `disable` and `isUser`.

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
    render::{DatesSet, Viewer, docspace_user},
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
        Endpoint::UpdateProfile(key) => (
            update_profile(portal, &caller, &key, incoming),
            "ASC.People.Api.UserController.UpdateMember(UpdateMemberByIdRequestDto inDto)",
        ),
        // why: the router answers 404 from 3.2.1 on, before authentication.
        Endpoint::Contacts(change, key) => (
            contacts(portal, &caller, change, &key, incoming),
            "ASC.People.Api.ContactsController.UpdateMemberContactsAsync(String userid, UpdateMemberRequestDto inDto)",
        ),
        // why: answered by the router before authentication.
        Endpoint::Status(_) | Endpoint::BuildVersion => {
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
        Err(Refusal::Failed(failure)) => wire::docspace_error(&failure, frame),
        Err(Refusal::Invalid(errors)) => wire::docspace_validation(incoming, &errors),
        Err(Refusal::UnsupportedMediaType) => Reply::empty(StatusCode::UNSUPPORTED_MEDIA_TYPE),
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
            let mut messages = Vec::new();
            if !is_email_address(email) {
                messages.push("The Email field is not a valid e-mail address.".to_owned());
            }
            if too_long(email) {
                messages.push(length_message("Email"));
            }
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
}
