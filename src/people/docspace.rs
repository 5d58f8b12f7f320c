//! The DocSpace writes. `PUT /people/{guid}` applies profile fields only to
//! one's own profile and status fields (mostly) only to others, resets `spam`
//! unless it is sent, and is the only way to change contacts (DocSpace 3.2 and
//! later have no contacts routes). Which fields exist depends on the release.

use tracing::debug;

use super::rules::{self, ProductRules, Subject};
use super::{
    Call, ContactEdit, People, WriteHold, answer_shows_stored, contact_bodies, target_of,
    user_id_of, user_ref_not_writable,
};
use crate::domain::{Field, Product, ProfileChanges, Refusal, RefusalKind, Sex, UserId, UserRef};
use crate::error::GatewayError;
use crate::portal::PortalUser;
use crate::portal::dates::format_tenant_noon;
use crate::portal::model::DocSpaceUpdateBody;

impl People {
    /// `PUT /people/{guid}` with exactly the changes, once the rules say DocSpace applies them all.
    pub(super) async fn update_on_docspace(
        &self,
        rules: &'static ProductRules,
        call: &Call,
        user: &UserRef,
        changes: ProfileChanges,
        held: Option<WriteHold>,
    ) -> Result<PortalUser, GatewayError> {
        let (id, caller) = self.docspace_target(call, user).await?;
        let own_profile = user_id_of(&caller)? == id;
        let _hold = self.lock_for_write(id, call, held).await?;
        // Read under the lock, also for one's own profile: whether the
        // change is already held must not rest on a read another write may
        // have overtaken.
        let before = self.read_target(call, id).await?;
        let subject = Subject {
            own_profile,
            caller_is_admin: is_docspace_admin(&caller),
            caller_is_owner: caller.isowner == Some(true),
            target: target_of(&before),
        };
        rules::check(rules, &changes, &subject)?;
        if self.already_held(rules, &changes, &before) {
            return Ok(before);
        }
        let tenant_offset = caller
            .registrationdate
            .as_ref()
            .and_then(|date| date.parse())
            .and_then(|date| date.offset());
        // Boxed, as on Workspace: inline, every update in flight carries it.
        let body = Box::new(docspace_body(changes.clone(), tenant_offset));
        debug!(user = %id, own_profile, "updating user on docspace");
        call.still_waited_for()?;
        let held = self.portal.update_member(call, id, &body).await?;
        let held = if answer_shows_stored(Product::Docspace, &changes) {
            held
        } else {
            drop(held);
            self.read_after_write(call, id).await?
        };
        self.verified(rules, id, &changes, &before, held)
    }

    /// Contacts travel in `PUT /people/{id}`, for one's own profile only; up
    /// to 3.1.x an administrator edits someone else's through
    /// `PUT /people/{id}/contacts`.
    pub(super) async fn edit_contacts_on_docspace(
        &self,
        rules: &'static ProductRules,
        call: &Call,
        user: &UserRef,
        edit: ContactEdit,
        spam: Option<bool>,
        held: Option<WriteHold>,
    ) -> Result<PortalUser, GatewayError> {
        let (id, caller) = self.docspace_target(call, user).await?;
        let own_profile = user_id_of(&caller)? == id;
        let caller_is_admin = is_docspace_admin(&caller);
        let by_route = !own_profile && caller_is_admin && rules.contacts_route_for_others;
        if by_route {
            if spam.is_some() {
                // One's own consent, which the route does not carry.
                return Err(Refusal {
                    kind: RefusalKind::SelfOnly,
                    fields: Field::Spam.into(),
                    product: rules.product,
                    releases: rules.releases,
                }
                .into());
            }
        } else {
            // The rules judge a contact edit as an update of `contacts` (and `spam`).
            let as_update = ProfileChanges {
                contacts: Some(Vec::new()),
                spam,
                ..ProfileChanges::default()
            };
            let subject = Subject {
                own_profile,
                caller_is_admin,
                caller_is_owner: caller.isowner == Some(true),
                target: target_of(&caller),
            };
            rules::check(rules, &as_update, &subject)?;
        }
        let _hold = self.lock_for_write(id, call, held).await?;
        let (contacts, before) = self.contacts_after(rules, call, id, &edit).await?;
        let changes = ProfileChanges {
            contacts: Some(contacts),
            spam,
            ..ProfileChanges::default()
        };
        if self.already_held(rules, &changes, &before) {
            return Ok(before);
        }
        let list = contact_bodies(changes.contacts.as_deref().unwrap_or_default());
        call.still_waited_for()?;
        let held = if by_route {
            self.portal.replace_contacts(call, id, list).await?
        } else {
            let body = DocSpaceUpdateBody {
                contacts: Some(list),
                spam,
                ..DocSpaceUpdateBody::default()
            };
            self.portal.update_member(call, id, &body).await?
        };
        let held = if answer_shows_stored(Product::Docspace, &changes) {
            held
        } else {
            drop(held);
            self.read_after_write(call, id).await?
        };
        self.verified(rules, id, &changes, &before, held)
    }

    /// The target's GUID and the caller as the portal sees them (DocSpace
    /// treats one's own profile differently, and `@self` is no route there).
    async fn docspace_target(
        &self,
        call: &Call,
        user: &UserRef,
    ) -> Result<(UserId, PortalUser), GatewayError> {
        let caller = self.portal.get_user(call, &UserRef::Me).await?;
        let id = match user {
            UserRef::Me => user_id_of(&caller)?,
            UserRef::Id(id) => *id,
            UserRef::Name(_) => return Err(user_ref_not_writable()),
        };
        Ok((id, caller))
    }
}

/// The changes as DocSpace's `UpdateMemberRequestDto`; the rules have already
/// refused whatever the release in force does not apply.
fn docspace_body(
    changes: ProfileChanges,
    tenant_offset: Option<chrono::FixedOffset>,
) -> DocSpaceUpdateBody {
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
        spam,
        // No DocSpace release has it (refused by the rules).
        lead: _,
    } = changes;
    // Clearing is refused where it cannot be done; what is left sets a day.
    let date = |date: Option<Option<chrono::NaiveDate>>| {
        date.flatten()
            .map(|date| format_tenant_noon(date, tenant_offset))
    };
    DocSpaceUpdateBody {
        first_name,
        last_name,
        location,
        comment,
        contacts: contacts.map(|contacts| contact_bodies(&contacts)),
        department: department_ids.map(|ids| ids.iter().map(ToString::to_string).collect()),
        files: avatar_url,
        spam,
        disable: disabled,
        is_user: is_guest,
        title,
        sex: sex.map(|sex| match sex {
            Sex::Female => 0,
            Sex::Male => 1,
        }),
        birthday: date(birthday),
        works_from: date(works_from),
    }
}

/// DocSpace admins and the owner hold `Action_EditGroups` and pass
/// `IsDocSpaceAdmin`. Whether any other role does is not verified, so a
/// non-admin holding it would be refused here (never silently ignored).
fn is_docspace_admin(caller: &PortalUser) -> bool {
    caller.isadmin == Some(true) || caller.isowner == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_only_the_changes_with_docspace_names() {
        let body = docspace_body(
            ProfileChanges {
                first_name: Some("Michael".into()),
                sex: Some(Sex::Female),
                birthday: Some(chrono::NaiveDate::from_ymd_opt(1985, 4, 11)),
                is_guest: Some(true),
                spam: Some(false),
                ..ProfileChanges::default()
            },
            chrono::FixedOffset::east_opt(3 * 3600),
        );
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "firstName": "Michael",
                "sex": 0,
                "birthday": "1985-04-11T09:00:00.000Z",
                "isUser": true,
                "spam": false,
            })
        );
    }
}
