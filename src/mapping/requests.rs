//! gRPC requests into validated domain values and operations: every bad
//! field is reported at once, and nothing the portal would misread passes.

use chrono::{Datelike as _, NaiveDate};
use url::Url;
use uuid::Uuid;

use crate::domain::{Contact, ContactField, ProfileChanges, Sex, UserId, UserRef};
use crate::error::{FieldViolation, GatewayError};
use crate::operations::Operation;
use crate::pb::{self, sync_users_request};
use crate::people::ContactEdit;

/// Most contacts one request may carry.
const MAX_CONTACTS: usize = 200;
/// Most department ids one request may carry.
const MAX_DEPARTMENTS: usize = 200;
/// Most field violations one error lists; the rest are counted.
const MAX_VIOLATIONS: usize = 10;
/// Longest first/last name, title or location (the portal's own limit).
const MAX_SHORT_TEXT: usize = 255;
/// Longest comment.
const MAX_COMMENT: usize = 4000;
/// Longest avatar URL.
const MAX_URL: usize = 2048;

/// Collects violations so the caller hears about every bad field at once.
#[derive(Default)]
pub(super) struct Violations(Vec<FieldViolation>);

impl Violations {
    pub(super) fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Every bad field, but at most [`MAX_VIOLATIONS`] of them and a count of
    /// the rest: no answer grows with the input.
    pub(super) fn finish<T>(mut self, value: T) -> Result<T, GatewayError> {
        if self.0.is_empty() {
            return Ok(value);
        }
        if self.0.len() > MAX_VIOLATIONS {
            let more = self.0.len() - MAX_VIOLATIONS;
            self.0.truncate(MAX_VIOLATIONS);
            self.add("…", format!("and {more} more"));
        }
        Err(GatewayError::InvalidArgument(self.0))
    }
}

/// A contact-list request, validated.
#[derive(Debug, Clone, PartialEq)]
struct ContactsInput {
    /// Whose contacts.
    user: UserRef,
    /// The contacts of the request.
    contacts: Vec<Contact>,
    /// DocSpace's marketing-mail consent to send along.
    spam: Option<bool>,
}

/// Validates GetUser.
pub fn get_user_request(request: pb::GetUserRequest) -> Result<UserRef, GatewayError> {
    let pb::GetUserRequest { user_id } = request;
    UserRef::parse_for_read(&user_id).map_err(|error| {
        GatewayError::InvalidArgument(vec![FieldViolation::new("user_id", error.to_string())])
    })
}

/// Validates UpdateUser into the user and the changes.
pub fn update_user_request(
    request: pb::UpdateUserRequest,
) -> Result<(UserRef, ProfileChanges), GatewayError> {
    let pb::UpdateUserRequest {
        user_id,
        first_name,
        last_name,
        comment,
        title,
        location,
        sex,
        birthday,
        works_from,
        department_ids,
        contacts,
        avatar_url,
        disabled,
        is_guest,
        lead_id,
        spam,
    } = request;
    let mut violations = Violations::default();
    let user = write_target(&user_id, &mut violations);
    let changes = ProfileChanges {
        first_name: first_name.map(|name| name_text("first_name", name, &mut violations)),
        last_name: last_name.map(|name| name_text("last_name", name, &mut violations)),
        comment: comment.map(|text| free_text("comment", text, MAX_COMMENT, &mut violations)),
        title: title.map(|text| free_text("title", text, MAX_SHORT_TEXT, &mut violations)),
        location: location.map(|text| free_text("location", text, MAX_SHORT_TEXT, &mut violations)),
        sex: sex.and_then(|sex| match pb::Sex::try_from(sex) {
            Ok(pb::Sex::Male) => Some(Sex::Male),
            Ok(pb::Sex::Female) => Some(Sex::Female),
            Ok(pb::Sex::Unspecified) | Err(_) => {
                violations.add("sex", "must be SEX_MALE or SEX_FEMALE");
                None
            }
        }),
        birthday: birthday.map(|value| date_value("birthday", value, &mut violations)),
        works_from: works_from.map(|value| date_value("works_from", value, &mut violations)),
        department_ids: department_ids.map(|list| {
            let pb::DepartmentIdList { ids } = list;
            if ids.len() > MAX_DEPARTMENTS {
                violations.add(
                    "department_ids.ids",
                    format!("must hold at most {MAX_DEPARTMENTS} ids"),
                );
                return Vec::new();
            }
            ids.iter()
                .enumerate()
                .filter_map(|(index, id)| {
                    let parsed = Uuid::try_parse(id).ok();
                    if parsed.is_none() {
                        violations.add(
                            format!("department_ids.ids[{index}]"),
                            "must be a group GUID",
                        );
                    }
                    parsed
                })
                .collect()
        }),
        contacts: contacts.map(|list| {
            let pb::ContactList { contacts } = list;
            contact_list("contacts.contacts", contacts, &mut violations)
        }),
        avatar_url: avatar_url.and_then(|url| avatar(url, &mut violations)),
        disabled,
        is_guest,
        lead: lead_id.map(|lead| {
            if lead.is_empty() {
                return None;
            }
            let parsed = UserId::parse(&lead);
            if parsed.is_none() {
                violations.add("lead_id", "must be a user GUID, or empty to clear the lead");
            }
            // The portal keeps no nil lead: it is how it writes "none".
            parsed.filter(|lead| !lead.is_nil())
        }),
        spam,
    };
    violations.finish((user, changes))
}

/// Validates UpdateContacts (at least one contact).
fn update_contacts_request(
    request: pb::UpdateContactsRequest,
) -> Result<ContactsInput, GatewayError> {
    let pb::UpdateContactsRequest {
        user_id,
        contacts,
        spam,
    } = request;
    contacts_input(user_id, contacts, spam, false)
}

/// Validates SetContacts (an empty list clears).
fn set_contacts_request(request: pb::SetContactsRequest) -> Result<ContactsInput, GatewayError> {
    let pb::SetContactsRequest {
        user_id,
        contacts,
        spam,
    } = request;
    contacts_input(user_id, contacts, spam, true)
}

/// Validates DeleteContacts (at least one contact).
fn delete_contacts_request(
    request: pb::DeleteContactsRequest,
) -> Result<ContactsInput, GatewayError> {
    let pb::DeleteContactsRequest {
        user_id,
        contacts,
        spam,
    } = request;
    contacts_input(user_id, contacts, spam, false)
}

fn contacts_input(
    user_id: String,
    contacts: Vec<pb::Contact>,
    spam: Option<bool>,
    may_be_empty: bool,
) -> Result<ContactsInput, GatewayError> {
    let mut violations = Violations::default();
    let user = write_target(&user_id, &mut violations);
    if contacts.is_empty() && !may_be_empty {
        violations.add("contacts", "must name at least one contact");
    }
    let contacts = contact_list("contacts", contacts, &mut violations);
    violations.finish(ContactsInput {
        user,
        contacts,
        spam,
    })
}

fn write_target(user_id: &str, violations: &mut Violations) -> UserRef {
    UserRef::parse_for_write(user_id).unwrap_or_else(|error| {
        violations.add("user_id", error.to_string());
        UserRef::Me
    })
}

fn contact_list(
    field: &str,
    contacts: Vec<pb::Contact>,
    violations: &mut Violations,
) -> Vec<Contact> {
    if contacts.len() > MAX_CONTACTS {
        violations.add(field, format!("must hold at most {MAX_CONTACTS} contacts"));
        return Vec::new();
    }
    contacts
        .into_iter()
        .enumerate()
        .filter_map(|(index, contact)| {
            let pb::Contact { r#type, value } = contact;
            Contact::new(&r#type, &value)
                .map_err(|(part, error)| {
                    let part = match part {
                        ContactField::Type => "type",
                        ContactField::Value => "value",
                    };
                    violations.add(format!("{field}[{index}].{part}"), error.to_string());
                })
                .ok()
        })
        .collect()
}

fn name_text(field: &str, text: String, violations: &mut Violations) -> String {
    if text.trim().is_empty() {
        violations.add(field, "must not be empty");
    }
    free_text(field, text, MAX_SHORT_TEXT, violations)
}

fn free_text(field: &str, text: String, max_chars: usize, violations: &mut Violations) -> String {
    if text.chars().count() > max_chars {
        violations.add(field, format!("must be at most {max_chars} characters"));
    }
    let allowed = |c: char| !c.is_control() || (field == "comment" && matches!(c, '\n' | '\t'));
    if !text.chars().all(allowed) {
        violations.add(field, "must not contain control characters");
    }
    text
}

/// `None` clears; dates up to 1900-01-01 are refused because Workspace reads
/// that day as "clear".
fn date_value(field: &str, value: pb::DateValue, violations: &mut Violations) -> Option<NaiveDate> {
    let pb::DateValue { date } = value;
    let pb::Date { year, month, day } = date?;
    let parsed = u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(month, day)| NaiveDate::from_ymd_opt(year, month, day))
        .filter(|date| date.year() <= 9999);
    match parsed {
        Some(date) if date > NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) => {
            Some(date)
        }
        Some(_) => {
            violations.add(
                format!("{field}.date"),
                "must be after 1900-01-01 (the portal reads that day as 'clear')",
            );
            None
        }
        None => {
            violations.add(format!("{field}.date"), "is not a valid calendar date");
            None
        }
    }
}

/// An absolute http(s) URL, or an absolute path that both products resolve
/// against the portal itself (CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeApi.cs:683-686;
/// DS@v3.7.2-server:products/ASC.People/Server/Api/PeopleControllerBase.cs:107-113).
fn avatar(text: String, violations: &mut Violations) -> Option<String> {
    let is_url = Url::parse(&text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
    let is_path = text.starts_with('/')
        && !text.starts_with("//")
        && !text.contains('\\')
        && !text.chars().any(|c| c.is_control() || c.is_whitespace())
        && Url::parse("http://portal.invalid")
            .and_then(|base| base.join(&text))
            .is_ok();
    if !(is_url || is_path) || text.len() > MAX_URL {
        violations.add(
            "avatar_url",
            format!(
                "must be an absolute http(s) URL or a path starting with / \
                 (resolved on the portal), of at most {MAX_URL} characters"
            ),
        );
        return None;
    }
    Some(text)
}

impl ContactsInput {
    fn into_operation(self, edit: fn(Vec<Contact>) -> ContactEdit) -> Operation {
        Operation::EditContacts {
            user: self.user,
            edit: edit(self.contacts),
            spam: self.spam,
        }
    }
}

impl TryFrom<pb::UpdateUserRequest> for Operation {
    type Error = GatewayError;

    fn try_from(request: pb::UpdateUserRequest) -> Result<Self, GatewayError> {
        let (user, changes) = update_user_request(request)?;
        Ok(Operation::UpdateUser {
            user,
            changes: Box::new(changes),
        })
    }
}

impl TryFrom<pb::UpdateContactsRequest> for Operation {
    type Error = GatewayError;

    fn try_from(request: pb::UpdateContactsRequest) -> Result<Self, GatewayError> {
        Ok(update_contacts_request(request)?.into_operation(ContactEdit::Merge))
    }
}

impl TryFrom<pb::SetContactsRequest> for Operation {
    type Error = GatewayError;

    fn try_from(request: pb::SetContactsRequest) -> Result<Self, GatewayError> {
        Ok(set_contacts_request(request)?.into_operation(ContactEdit::Replace))
    }
}

impl TryFrom<pb::DeleteContactsRequest> for Operation {
    type Error = GatewayError;

    fn try_from(request: pb::DeleteContactsRequest) -> Result<Self, GatewayError> {
        Ok(delete_contacts_request(request)?.into_operation(ContactEdit::Remove))
    }
}

/// A SyncUsers item's RPC name and `user_id` (for the routing key), and a
/// way to validate it as that RPC validates its request.
pub fn sync_item(
    operation: Option<sync_users_request::Operation>,
) -> Result<(&'static str, String, SyncItem), GatewayError> {
    use sync_users_request::Operation as Item;
    let Some(operation) = operation else {
        return Err(GatewayError::InvalidArgument(vec![FieldViolation::new(
            "operation",
            "must be set: update_user, update_contacts, set_contacts or delete_contacts",
        )]));
    };
    let (rpc, user_id) = match &operation {
        Item::UpdateUser(request) => ("UpdateUser", request.user_id.clone()),
        Item::UpdateContacts(request) => ("UpdateContacts", request.user_id.clone()),
        Item::SetContacts(request) => ("SetContacts", request.user_id.clone()),
        Item::DeleteContacts(request) => ("DeleteContacts", request.user_id.clone()),
    };
    Ok((rpc, user_id, SyncItem(operation)))
}

/// A SyncUsers item's request, not yet validated.
pub struct SyncItem(sync_users_request::Operation);

impl TryFrom<SyncItem> for Operation {
    type Error = GatewayError;

    fn try_from(item: SyncItem) -> Result<Self, GatewayError> {
        use sync_users_request::Operation as Item;
        match item.0 {
            Item::UpdateUser(request) => request.try_into(),
            Item::UpdateContacts(request) => request.try_into(),
            Item::SetContacts(request) => request.try_into(),
            Item::DeleteContacts(request) => request.try_into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(user_id: &str) -> pb::UpdateUserRequest {
        pb::UpdateUserRequest {
            user_id: user_id.into(),
            ..Default::default()
        }
    }

    fn violations(error: GatewayError) -> Vec<String> {
        match error {
            GatewayError::InvalidArgument(violations) => violations
                .into_iter()
                .map(|violation| violation.field)
                .collect(),
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn update_reports_every_bad_field() {
        let bad = pb::UpdateUserRequest {
            first_name: Some("  ".into()),
            sex: Some(pb::Sex::Unspecified.into()),
            birthday: Some(pb::DateValue {
                date: Some(pb::Date {
                    year: 1990,
                    month: 2,
                    day: 30,
                }),
            }),
            contacts: Some(pb::ContactList {
                contacts: vec![pb::Contact {
                    r#type: "mail".into(),
                    value: "a|b".into(),
                }],
            }),
            lead_id: Some("boss".into()),
            avatar_url: Some("file:///etc/passwd".into()),
            ..request("not-a-guid")
        };
        let fields = violations(update_user_request(bad).unwrap_err());
        assert_eq!(
            fields,
            [
                "user_id",
                "first_name",
                "sex",
                "birthday.date",
                "contacts.contacts[0].value",
                "avatar_url",
                "lead_id"
            ]
        );
    }

    #[test]
    fn presence_decides_what_changes() {
        let (user, changes) = update_user_request(pb::UpdateUserRequest {
            comment: Some(String::new()),
            birthday: Some(pb::DateValue { date: None }),
            contacts: Some(pb::ContactList::default()),
            lead_id: Some(String::new()),
            ..request("@self")
        })
        .unwrap();
        assert_eq!(user, UserRef::Me);
        assert_eq!(changes.comment.as_deref(), Some(""));
        assert_eq!(changes.birthday, Some(None));
        assert_eq!(changes.contacts, Some(Vec::new()));
        assert_eq!(changes.lead, Some(None));
        assert_eq!(changes.first_name, None);
        assert_eq!(
            changes.fields().join(","),
            "comment,birthday,contacts,lead_id"
        );
    }

    #[test]
    fn lists_are_capped_and_errors_do_not_grow_with_the_input() {
        let many_ids = pb::UpdateUserRequest {
            department_ids: Some(pb::DepartmentIdList {
                ids: vec![String::new(); 2_000_000],
            }),
            ..request("@self")
        };
        let error = update_user_request(many_ids).unwrap_err();
        assert_eq!(violations(error), ["department_ids.ids"]);

        let bad_contacts = pb::UpdateUserRequest {
            contacts: Some(pb::ContactList {
                contacts: vec![
                    pb::Contact {
                        r#type: String::new(),
                        value: String::new(),
                    };
                    MAX_CONTACTS
                ],
            }),
            ..request("@self")
        };
        let GatewayError::InvalidArgument(listed) = update_user_request(bad_contacts).unwrap_err()
        else {
            panic!("expected INVALID_ARGUMENT");
        };
        assert_eq!(listed.len(), MAX_VIOLATIONS + 1);
        assert_eq!(
            listed[MAX_VIOLATIONS].description,
            format!("and {} more", MAX_CONTACTS - MAX_VIOLATIONS)
        );
        let status = tonic::Status::from(GatewayError::InvalidArgument(listed));
        assert!(status.message().len() < 2048, "{}", status.message().len());
    }

    #[test]
    fn avatars_are_http_urls_or_paths_on_the_portal() {
        let avatar = |url: &str| {
            update_user_request(pb::UpdateUserRequest {
                avatar_url: Some(url.into()),
                ..request("@self")
            })
            .map(|(_, changes)| changes.avatar_url)
        };
        for good in [
            "https://cdn.example.com/a.png",
            "http://portal.example.com/x?y=1",
            "/storage/userPhotos/root/a.png",
        ] {
            assert_eq!(avatar(good).ok().flatten().as_deref(), Some(good), "{good}");
        }
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com/a.png",
            "storage/a.png",
            "//evil.example.com/a.png",
            "/a b.png",
            "/a\\b.png",
            "javascript:alert(1)",
        ] {
            let error = avatar(bad).expect_err(bad);
            assert_eq!(violations(error), ["avatar_url"], "{bad}");
        }
    }

    #[test]
    fn the_clear_sentinel_date_is_refused() {
        let error = update_user_request(pb::UpdateUserRequest {
            works_from: Some(pb::DateValue {
                date: Some(pb::Date {
                    year: 1900,
                    month: 1,
                    day: 1,
                }),
            }),
            ..request("@self")
        })
        .unwrap_err();
        assert_eq!(violations(error), ["works_from.date"]);
    }

    #[test]
    fn merge_and_delete_need_contacts_but_set_may_clear() {
        let empty = pb::UpdateContactsRequest {
            user_id: "@self".into(),
            ..Default::default()
        };
        assert_eq!(
            violations(update_contacts_request(empty).unwrap_err()),
            ["contacts"]
        );
        let clear = pb::SetContactsRequest {
            user_id: "@self".into(),
            ..Default::default()
        };
        assert!(set_contacts_request(clear).unwrap().contacts.is_empty());
    }
}
