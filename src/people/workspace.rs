//! The Workspace (CommunityServer) writes. `PUT /people/{guid}` resets
//! `isVisitor`, `contacts`, `department` and (for admins, from 12.5) `lead`
//! when they are absent, so every write sends their current values, read
//! fresh under the user's lock. Contacts have routes of their own, which
//! replace the list. A suspended user is re-enabled through the status route
//! first: from 12.7.0 `PUT /people/{guid}` refuses any update of a user who is
//! not active (CS@v12.7.1:module/ASC.Api/ASC.Employee/EmployeeApi.cs:734-735;
//! also in 12.7.0's untagged d59e563e8, while the tag v12.7.0 holds 12.6.0's code).
//! Disabling travels in the update itself, which applies it on every release.

use tracing::debug;

use super::rules::{self, ProductRules, Subject};
use super::{
    Call, ContactEdit, People, WriteHold, abandoned_after, answer_shows_stored, contact_bodies,
    contacts_of, department_ids_of, id_not_a_guid, target_of, user_id_of, user_ref_not_writable,
    verify,
};
use crate::domain::{Contact, Field, FieldSet, Product, ProfileChanges, Sex, UserId, UserRef};
use crate::error::GatewayError;
use crate::portal::dates::{WORKSPACE_CLEAR_DATE, format_date};
use crate::portal::model::WorkspaceUpdateBody;
use crate::portal::{PortalError, PortalUser};

impl People {
    /// `PUT /people/{guid}` with the changes plus everything Workspace would
    /// reset. Re-enabling goes first through the status route, since 12.7
    /// refuses to update a suspended user at all.
    pub(super) async fn update_on_workspace(
        &self,
        rules: &'static ProductRules,
        call: &Call,
        user: &UserRef,
        changes: ProfileChanges,
        held: Option<WriteHold>,
    ) -> Result<PortalUser, GatewayError> {
        let needs_caller = *user == UserRef::Me
            || !changes
                .fields()
                .intersection(rules::caller_dependent(rules))
                .is_empty();
        // Only what the rules ask of the caller is kept across the write's
        // awaits, not the caller's whole profile. An id that is not a GUID
        // fails where it is used, as it did when the profile was kept.
        let caller = if needs_caller {
            let caller = self.portal.get_user(call, &UserRef::Me).await?;
            Some((
                UserId::parse(&caller.id),
                is_people_admin(&caller),
                caller.isowner == Some(true),
            ))
        } else {
            None
        };
        let id = match (user, caller) {
            (UserRef::Me, Some((caller_id, _, _))) => caller_id.ok_or_else(id_not_a_guid)?,
            (UserRef::Id(id), _) => *id,
            _ => return Err(user_ref_not_writable()),
        };

        let _hold = self.lock_for_write(id, call, held).await?;
        let before = self.read_target(call, id).await?;
        let subject = match caller {
            Some((caller_id, caller_is_admin, caller_is_owner)) => Subject {
                own_profile: caller_id.ok_or_else(id_not_a_guid)? == id,
                caller_is_admin,
                caller_is_owner,
                target: target_of(&before),
            },
            // No set field depends on the caller.
            None => Subject {
                target: target_of(&before),
                ..Subject::default()
            },
        };
        rules::check(rules, &changes, &subject)?;
        if self.already_held(rules, &changes, &before) {
            return Ok(before);
        }
        let reenabling = changes.disabled == Some(false) && is_suspended(&before);
        let mut rest = changes.clone();
        if changes.disabled == Some(false) {
            // Re-enabled through the status route, or already active.
            rest.disabled = None;
        }
        // Every refusal comes before the first write. The status route
        // changes nothing the update resends, so the body is built now.
        let resent_contacts = match &rest.contacts {
            Some(_) => Vec::new(),
            None => contacts_of(&before),
        };
        rules::check_texts(rules, texts_sent(&rest, &resent_contacts))?;
        // Boxed: an update's future is as large as its largest state, this
        // one included, for every update in flight, waiting or not.
        let body = if rest.fields().is_empty() {
            None
        } else {
            Some(Box::new(workspace_body(rules, &before, rest)?))
        };
        let mut sent = false;
        if reenabling {
            // Boxed: a rare path, whose size every update would carry inline.
            let held = Box::pin(self.reenable(rules, call, id, &changes, &before)).await?;
            if body.is_none() {
                return self.verified(rules, id, &changes, &before, held);
            }
            sent = true;
        }
        let Some(body) = body else {
            // Nothing but `disabled: false` for a user already active: held.
            return Ok(before);
        };
        debug!(user = %id, "updating user on workspace");
        call.still_waited_for()
            .map_err(|why| abandoned_after(why, sent))?;
        let held = self.portal.update_member(call, id, &body).await?;
        let held = if answer_shows_stored(Product::Workspace, &changes) {
            held
        } else {
            drop(held);
            self.read_after_write(call, id).await?
        };
        self.verified(rules, id, &changes, &before, held)
    }

    /// `PUT /people/status/Active` for one suspended user: the user as the
    /// portal holds it afterwards, or the error when it stays suspended (the
    /// route skips the owner, the caller, LDAP users, and non-guests while the
    /// active-user quota is full, without saying so).
    async fn reenable(
        &self,
        rules: &'static ProductRules,
        call: &Call,
        id: UserId,
        changes: &ProfileChanges,
        before: &PortalUser,
    ) -> Result<PortalUser, GatewayError> {
        call.still_waited_for()?;
        let answered = self.portal.update_status(call, id, false).await?;
        let held = match answered
            .into_iter()
            .find(|user| UserId::parse(&user.id) == Some(id))
        {
            Some(held) => held,
            // LDAP users are left out of the answer: read what it holds.
            None => self.read_target(call, id).await?,
        };
        if is_suspended(&held) {
            let reenable = ProfileChanges {
                disabled: Some(false),
                ..ProfileChanges::default()
            };
            let mut ignored =
                verify::verify(rules, &reenable, before, &held).into_ignored(rules, held);
            // Nothing else is sent to a user who stays suspended.
            ignored.not_sent = changes.fields().without(Field::Disabled.into());
            return Err(self.ignored(ignored));
        }
        Ok(held)
    }

    /// Workspace `PUT /people/{guid}/contacts` with the whole new list.
    pub(super) async fn edit_contacts_on_workspace(
        &self,
        rules: &'static ProductRules,
        call: &Call,
        user: &UserRef,
        edit: ContactEdit,
        held: Option<WriteHold>,
    ) -> Result<PortalUser, GatewayError> {
        let id = match user {
            UserRef::Id(id) => *id,
            // The contacts routes look `@self` up as a user name; resolve it.
            UserRef::Me => user_id_of(&self.portal.get_user(call, user).await?)?,
            UserRef::Name(_) => return Err(user_ref_not_writable()),
        };
        let _hold = self.lock_for_write(id, call, held).await?;
        let (contacts, before) = self.contacts_after(rules, call, id, &edit).await?;
        let changes = ProfileChanges {
            contacts: Some(contacts),
            ..ProfileChanges::default()
        };
        if self.already_held(rules, &changes, &before) {
            return Ok(before);
        }
        rules::check_texts(rules, texts_sent(&changes, &[]))?;
        let list = contact_bodies(changes.contacts.as_deref().unwrap_or_default());
        call.still_waited_for()?;
        let held = self.portal.replace_contacts(call, id, list).await?;
        self.verified(rules, id, &changes, &before, held)
    }
}

/// Every text a write sends, with its field: the changes and the contacts resent.
fn texts_sent<'a>(
    changes: &'a ProfileChanges,
    resent_contacts: &'a [Contact],
) -> impl Iterator<Item = (Field, &'a str)> {
    let texts = [
        (Field::FirstName, changes.first_name.as_deref()),
        (Field::LastName, changes.last_name.as_deref()),
        (Field::Comment, changes.comment.as_deref()),
        (Field::Title, changes.title.as_deref()),
        (Field::Location, changes.location.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, text)| Some((field, text?)));
    let contacts = changes
        .contacts
        .iter()
        .flatten()
        .chain(resent_contacts)
        .flat_map(|contact| [contact.kind.as_str(), contact.value.as_str()])
        .map(|text| (Field::Contacts, text));
    texts.chain(contacts)
}

/// Whether the user's status is Terminated (`EmployeeStatus` 2).
fn is_suspended(user: &PortalUser) -> bool {
    verify::is_disabled(user) == Some(true)
}

/// Builds the body: the requested changes plus the current values of every
/// field the portal would otherwise reset (refused when one cannot be read).
fn workspace_body(
    rules: &'static ProductRules,
    current: &PortalUser,
    changes: ProfileChanges,
) -> Result<WorkspaceUpdateBody, GatewayError> {
    let is_visitor = current.isvisitor.ok_or_else(|| {
        GatewayError::Portal(PortalError::Undecodable(
            "user has no isVisitor; refusing to guess the guest flag".into(),
        ))
    })?;
    let current_departments = department_ids_of(current)?;
    let readable: FieldSet = [
        (Field::Contacts, current.shows_private_data()),
        (Field::DepartmentIds, current_departments.is_some()),
        (Field::IsGuest, true),
        // Left out when the user has none (`EmitDefaultValue=false`).
        (Field::LeadId, true),
    ]
    .into_iter()
    .filter_map(|(field, readable)| readable.then_some(field))
    .collect();
    rules::check_resend(rules, changes.fields(), readable)?;

    let ProfileChanges {
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
        lead,
        spam: _,
    } = changes;
    let current_lead = current
        .lead
        .as_deref()
        .and_then(UserId::parse)
        .filter(|lead| !lead.is_nil());
    let departments = department_ids.or(current_departments).unwrap_or_default();
    Ok(WorkspaceUpdateBody {
        is_visitor: is_guest.unwrap_or(is_visitor),
        contacts: match contacts {
            Some(contacts) => contact_bodies(&contacts),
            None => contact_bodies(&contacts_of(current)),
        },
        // Resent wherever some release in force would reset it; a release
        // without `lead` ignores the key.
        lead: lead
            .unwrap_or(current_lead)
            .filter(|_| {
                rules.supported.contains(Field::LeadId)
                    || rules.reset_when_absent.contains(Field::LeadId)
            })
            .map(|lead| lead.to_string()),
        department: departments.iter().map(ToString::to_string).collect(),
        firstname: first_name,
        lastname: last_name,
        comment,
        title,
        location,
        sex: sex.map(|sex| match sex {
            Sex::Male => "male",
            Sex::Female => "female",
        }),
        birthday: birthday.map(workspace_date),
        worksfrom: works_from.map(workspace_date),
        files: avatar_url,
        disable: disabled,
    })
}

fn workspace_date(date: Option<chrono::NaiveDate>) -> String {
    date.map_or_else(|| WORKSPACE_CLEAR_DATE.to_owned(), format_date)
}

/// Title and lead need `IsProductAdministrator(People)`, departments
/// `Action_EditGroups`: portal admins, the owner and People-module admins hold
/// both (CS@7c503dfb5:web/core/ASC.Web.Core/WebItemSecurity.cs:263-267, 299-309).
fn is_people_admin(caller: &PortalUser) -> bool {
    caller.isadmin == Some(true)
        || caller.isowner == Some(true)
        || caller.listadminmodules.as_ref().is_some_and(|modules| {
            modules
                .iter()
                .any(|module| module.eq_ignore_ascii_case("people"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Refusal, RefusalKind};
    use crate::people::rules::WORKSPACE;

    fn current(json: serde_json::Value) -> PortalUser {
        serde_json::from_value(json).unwrap()
    }

    fn mike() -> PortalUser {
        current(serde_json::json!({
            "id": "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302",
            "email": "mike@example.com",
            "isvisitor": false,
            "lead": "0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01",
            "contacts": [{"type": "mail", "value": "mike@example.com"}],
            "department": "Marketing, Sales",
            "groups": [
                {"id": "6174c082-e4a5-4091-b2b3-c4d5e6f70807", "name": "Marketing"},
                {"id": "7285d193-f5b6-41a2-83c4-d5e6f7081908", "name": "Sales"},
            ],
        }))
    }

    #[test]
    fn the_body_resends_guest_flag_contacts_lead_and_departments() {
        let body = workspace_body(
            &WORKSPACE,
            &mike(),
            ProfileChanges {
                title: Some("Lead".into()),
                ..ProfileChanges::default()
            },
        )
        .unwrap();
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "isVisitor": false,
                "contacts": [{"type": "mail", "value": "mike@example.com"}],
                "department": [
                    "6174c082-e4a5-4091-b2b3-c4d5e6f70807",
                    "7285d193-f5b6-41a2-83c4-d5e6f7081908",
                ],
                "lead": "0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01",
                "title": "Lead",
            })
        );
    }

    #[test]
    fn an_empty_department_list_is_sent_to_clear() {
        let body = workspace_body(
            &WORKSPACE,
            &mike(),
            ProfileChanges {
                department_ids: Some(Vec::new()),
                ..ProfileChanges::default()
            },
        )
        .unwrap();
        assert!(body.department.is_empty());
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["department"], serde_json::json!([]));
    }

    #[test]
    fn a_user_without_departments_is_sent_none() {
        let mut loner = mike();
        loner.groups = None;
        loner.department = Some(String::new());
        let body = workspace_body(&WORKSPACE, &loner, ProfileChanges::default()).unwrap();
        assert!(body.department.is_empty());
    }

    #[test]
    fn hidden_departments_or_contacts_are_never_reset() {
        let mut hidden = mike();
        hidden.groups = None;
        hidden.department = None;
        let comment = ProfileChanges {
            comment: Some("x".into()),
            ..ProfileChanges::default()
        };
        let error = workspace_body(&WORKSPACE, &hidden, comment.clone()).unwrap_err();
        assert!(matches!(
            error,
            GatewayError::Refused(Refusal {
                kind: RefusalKind::NotVisible,
                fields,
                ..
            }) if fields == Field::DepartmentIds.into()
        ));
        // Setting the departments needs no read of them.
        let set = ProfileChanges {
            department_ids: Some(Vec::new()),
            ..comment.clone()
        };
        assert!(workspace_body(&WORKSPACE, &hidden, set).is_ok());

        let mut private = mike();
        private.email = Some(None);
        private.contacts = None;
        let error = workspace_body(&WORKSPACE, &private, comment).unwrap_err();
        assert!(matches!(
            error,
            GatewayError::Refused(Refusal {
                kind: RefusalKind::NotVisible,
                fields,
                ..
            }) if fields == Field::Contacts.into()
        ));
    }

    #[test]
    fn dates_clear_with_the_sentinel_and_lead_by_omission() {
        let body = workspace_body(
            &WORKSPACE,
            &mike(),
            ProfileChanges {
                birthday: Some(None),
                lead: Some(None),
                ..ProfileChanges::default()
            },
        )
        .unwrap();
        assert_eq!(body.birthday.as_deref(), Some("1900-01-01"));
        assert_eq!(body.lead, None);
    }

    #[test]
    fn no_guest_flag_to_resend_is_an_unreadable_answer() {
        let mut odd = mike();
        odd.isvisitor = None;
        assert!(matches!(
            workspace_body(&WORKSPACE, &odd, ProfileChanges::default()),
            Err(GatewayError::Portal(PortalError::Undecodable(_)))
        ));
    }
}
