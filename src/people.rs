//! What each People operation does on each product. This is where the
//! portal's traps are handled: the reads that protect fields the portal would
//! reset, the refusals where it would silently ignore a change, the contact
//! merge it does not do itself, and the per-user serialization of every
//! read-modify-write sequence. It speaks domain and portal types, never gRPC.

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::config::{Product, ProductChoice};
use crate::domain::{
    Contact, Credential, ProfileChanges, Sex, UserId, UserRef, merge_contacts, remove_contacts,
};
use crate::error::{FieldViolation, GatewayError, Refusal};
use crate::locks::{UserGuard, UserLocks};
use crate::portal::dates::{WORKSPACE_CLEAR_DATE, format_date};
use crate::portal::model::{ContactBody, DocSpaceUpdateBody, WorkspaceUpdateBody};
use crate::portal::{PortalClient, PortalError, PortalUser};

/// Fields DocSpace 3.7 no longer has.
const DOCSPACE_UNSUPPORTED: &[&str] = &["title", "sex", "birthday", "works_from", "lead_id"];
/// Fields DocSpace applies only when users edit their own profile.
const DOCSPACE_SELF_ONLY: &[&str] = &[
    "first_name",
    "last_name",
    "comment",
    "location",
    "department_ids",
    "contacts",
    "avatar_url",
    "spam",
];
/// Fields DocSpace applies only when someone else is edited.
const DOCSPACE_OTHERS_ONLY: &[&str] = &["disabled", "is_guest"];
/// Fields DocSpace ignores for LDAP and SSO users editing themselves.
const DOCSPACE_DIRECTORY_MANAGED: &[&str] = &["first_name", "last_name", "location"];
/// Fields DocSpace applies to one's own profile only with the right to edit groups.
const DOCSPACE_ADMIN_ONLY: &[&str] = &["department_ids"];
/// Fields Workspace applies only for administrators.
const WORKSPACE_ADMIN_ONLY: &[&str] = &["title", "lead_id", "department_ids", "is_guest"];
/// Fields Workspace ignores for LDAP and SSO users.
const WORKSPACE_DIRECTORY_MANAGED: &[&str] = &["first_name", "last_name", "title", "location"];
/// Fields Workspace does not have.
const WORKSPACE_UNSUPPORTED: &[&str] = &["spam"];

/// How a contact request changes the list.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactEdit {
    /// Add each pair not present yet.
    Merge(Vec<Contact>),
    /// Replace the list.
    Replace(Vec<Contact>),
    /// Remove exactly these pairs.
    Remove(Vec<Contact>),
}

impl ContactEdit {
    /// The list after the edit, or `None` when it needs the current list.
    fn without_current(&self) -> Option<Vec<Contact>> {
        match self {
            Self::Replace(list) => Some(list.clone()),
            Self::Merge(_) | Self::Remove(_) => None,
        }
    }

    fn apply(&self, current: &[Contact]) -> Vec<Contact> {
        match self {
            Self::Merge(additions) => merge_contacts(current, additions),
            Self::Replace(list) => list.clone(),
            Self::Remove(removals) => remove_contacts(current, removals),
        }
    }
}

/// What a contact edit writes.
enum ContactsToWrite {
    /// This whole list.
    List(Vec<Contact>),
    /// Nothing: the edit changes nothing; here is the user as read.
    Unchanged(Box<PortalUser>),
}

/// The People operations against one portal.
#[derive(Debug)]
pub struct People {
    portal: PortalClient,
    product: ProductSetting,
    locks: UserLocks,
}

/// A configured product, or one detected once from the portal.
#[derive(Debug)]
enum ProductSetting {
    Fixed(Product),
    Detected(OnceCell<Product>),
}

impl People {
    /// Operations for a portal of the given (or to be detected) product.
    pub fn new(portal: PortalClient, product: ProductChoice) -> Self {
        let product = match product.known() {
            Some(product) => ProductSetting::Fixed(product),
            None => ProductSetting::Detected(OnceCell::new()),
        };
        Self {
            portal,
            product,
            locks: UserLocks::default(),
        }
    }

    /// The portal's product; with `auto`, detected on the first write with
    /// that caller's credential, then kept.
    async fn product(&self, credential: &Credential) -> Result<Product, GatewayError> {
        match &self.product {
            ProductSetting::Fixed(product) => Ok(*product),
            ProductSetting::Detected(cell) => cell
                .get_or_try_init(|| async {
                    let product = self.portal.detect_product(credential).await?;
                    info!(%product, "detected the portal product");
                    Ok::<_, GatewayError>(product)
                })
                .await
                .copied(),
        }
    }

    /// Reads a user by GUID, user name or `@self`.
    pub async fn get_user(
        &self,
        credential: &Credential,
        user: &UserRef,
    ) -> Result<PortalUser, GatewayError> {
        // Unless the portal is known to be DocSpace, such a name could reach Workspace.
        if let UserRef::Name(name) = user
            && self.known_product() != Some(Product::Docspace)
            && has_workspace_format_suffix(name)
        {
            return Err(GatewayError::InvalidArgument(vec![FieldViolation::new(
                "user_id",
                "Workspace reads a trailing .json, .xml or .tml as a response format; \
                 use the user's GUID",
            )]));
        }
        Ok(self.portal.get_user(credential, user).await?)
    }

    /// The product, when configured or already detected.
    fn known_product(&self) -> Option<Product> {
        match &self.product {
            ProductSetting::Fixed(product) => Some(*product),
            ProductSetting::Detected(cell) => cell.get().copied(),
        }
    }

    /// Applies exactly the set fields of `changes`.
    pub async fn update_user(
        &self,
        credential: &Credential,
        user: &UserRef,
        changes: ProfileChanges,
        caller_gone: &CancellationToken,
    ) -> Result<PortalUser, GatewayError> {
        match self.product(credential).await? {
            Product::Workspace => {
                self.update_on_workspace(credential, user, changes, caller_gone)
                    .await
            }
            Product::Docspace => {
                self.update_on_docspace(credential, user, changes, caller_gone)
                    .await
            }
        }
    }

    /// Merges, replaces or removes contacts.
    pub async fn edit_contacts(
        &self,
        credential: &Credential,
        user: &UserRef,
        edit: ContactEdit,
        spam: Option<bool>,
        caller_gone: &CancellationToken,
    ) -> Result<PortalUser, GatewayError> {
        match self.product(credential).await? {
            Product::Workspace => {
                let spam_field = spam.map(|_| "spam").into_iter().collect();
                refuse_unsupported(Product::Workspace, spam_field)?;
                self.edit_contacts_on_workspace(credential, user, edit, caller_gone)
                    .await
            }
            Product::Docspace => {
                self.edit_contacts_on_docspace(credential, user, edit, spam, caller_gone)
                    .await
            }
        }
    }

    /// Takes the user's lock, unless the caller goes away while waiting: a
    /// write that never began must not run after its caller gave up.
    async fn lock_for_write(
        &self,
        id: UserId,
        caller_gone: &CancellationToken,
    ) -> Result<UserGuard, GatewayError> {
        tokio::select! {
            biased;
            () = caller_gone.cancelled() => Err(GatewayError::CallerGone),
            guard = self.locks.lock(id) => Ok(guard),
        }
    }

    /// Workspace: `PUT /people/{guid}` resets `isVisitor`, `contacts` and
    /// (for admins) `lead` when absent, so they are always sent, read fresh
    /// under the user's lock.
    async fn update_on_workspace(
        &self,
        credential: &Credential,
        user: &UserRef,
        changes: ProfileChanges,
        caller_gone: &CancellationToken,
    ) -> Result<PortalUser, GatewayError> {
        refuse_unsupported(
            Product::Workspace,
            changes.fields_among(WORKSPACE_UNSUPPORTED),
        )?;
        if changes.department_ids.as_ref().is_some_and(Vec::is_empty) {
            return Err(GatewayError::Refused(Refusal::DepartmentsCannotBeCleared));
        }
        if changes.fields().is_empty() {
            return self.get_user(credential, user).await;
        }
        let admin_fields = changes.fields_among(WORKSPACE_ADMIN_ONLY);
        let caller = if admin_fields.is_empty() && *user != UserRef::Me {
            None
        } else {
            Some(self.portal.get_user(credential, &UserRef::Me).await?)
        };
        if let Some(caller) = &caller
            && !admin_fields.is_empty()
            && !is_workspace_admin(caller)
        {
            return Err(GatewayError::Refused(Refusal::AdminOnlyFields {
                fields: admin_fields,
            }));
        }
        let id = match (user, &caller) {
            (UserRef::Me, Some(caller)) => user_id_of(caller)?,
            (UserRef::Id(id), _) => *id,
            _ => return Err(user_ref_not_writable()),
        };

        let _guard = self.lock_for_write(id, caller_gone).await?;
        let current = self.portal.get_user(credential, &UserRef::Id(id)).await?;
        let body = workspace_body(&current, changes)?;
        debug!(user = %id, "updating user on workspace");
        Ok(self.portal.update_member(credential, id, &body).await?)
    }

    /// DocSpace applies profile fields only to one's own profile and status
    /// fields only to others, and resets `spam` unless it is sent.
    async fn update_on_docspace(
        &self,
        credential: &Credential,
        user: &UserRef,
        changes: ProfileChanges,
        caller_gone: &CancellationToken,
    ) -> Result<PortalUser, GatewayError> {
        refuse_unsupported(
            Product::Docspace,
            changes.fields_among(DOCSPACE_UNSUPPORTED),
        )?;
        if changes.fields().is_empty() {
            return self.get_user(credential, user).await;
        }
        let (id, caller) = self.docspace_target(credential, user).await?;
        let own_profile = user_id_of(&caller)? == id;
        if own_profile {
            let status_fields = changes.fields_among(DOCSPACE_OTHERS_ONLY);
            if !status_fields.is_empty() {
                return Err(GatewayError::Refused(Refusal::OwnStatusFields {
                    fields: status_fields,
                }));
            }
            let directory_fields = changes.fields_among(DOCSPACE_DIRECTORY_MANAGED);
            if is_directory_user(&caller) && !directory_fields.is_empty() {
                return Err(GatewayError::Refused(Refusal::DirectoryManagedFields {
                    fields: directory_fields,
                }));
            }
            let admin_fields = changes.fields_among(DOCSPACE_ADMIN_ONLY);
            if !is_docspace_admin(&caller) && !admin_fields.is_empty() {
                return Err(GatewayError::Refused(Refusal::AdminOnlyFields {
                    fields: admin_fields,
                }));
            }
            if changes.spam.is_none() {
                return Err(GatewayError::Refused(Refusal::SpamRequired));
            }
        } else {
            let profile_fields = changes.fields_among(DOCSPACE_SELF_ONLY);
            if !profile_fields.is_empty() {
                return Err(GatewayError::Refused(Refusal::ProfileFieldsSelfOnly {
                    fields: profile_fields,
                }));
            }
        }
        let clears_contacts = changes.contacts.as_ref().is_some_and(Vec::is_empty);
        let body = docspace_body(changes);

        let _guard = self.lock_for_write(id, caller_gone).await?;
        debug!(user = %id, own_profile, "updating user on docspace");
        let updated = self.portal.update_member(credential, id, &body).await?;
        Ok(with_docspace_contacts_fix(updated, clears_contacts))
    }

    async fn edit_contacts_on_workspace(
        &self,
        credential: &Credential,
        user: &UserRef,
        edit: ContactEdit,
        caller_gone: &CancellationToken,
    ) -> Result<PortalUser, GatewayError> {
        let id = match user {
            UserRef::Id(id) => *id,
            // The contacts routes look `@self` up as a user name; resolve it.
            UserRef::Me => user_id_of(&self.portal.get_user(credential, user).await?)?,
            UserRef::Name(_) => return Err(user_ref_not_writable()),
        };
        let _guard = self.lock_for_write(id, caller_gone).await?;
        let contacts = match self.contacts_to_write(credential, id, &edit).await? {
            ContactsToWrite::List(contacts) => contacts,
            ContactsToWrite::Unchanged(current) => return Ok(*current),
        };
        Ok(self
            .portal
            .replace_contacts(credential, id, contact_bodies(&contacts))
            .await?)
    }

    /// DocSpace 3.2+ has no contacts routes: contacts travel in
    /// `PUT /people/{id}`, for one's own profile only.
    async fn edit_contacts_on_docspace(
        &self,
        credential: &Credential,
        user: &UserRef,
        edit: ContactEdit,
        spam: Option<bool>,
        caller_gone: &CancellationToken,
    ) -> Result<PortalUser, GatewayError> {
        let (id, caller) = self.docspace_target(credential, user).await?;
        if user_id_of(&caller)? != id {
            return Err(GatewayError::Refused(Refusal::ProfileFieldsSelfOnly {
                fields: vec!["contacts"],
            }));
        }
        if spam.is_none() {
            return Err(GatewayError::Refused(Refusal::SpamRequired));
        }
        let _guard = self.lock_for_write(id, caller_gone).await?;
        let contacts = match self.contacts_to_write(credential, id, &edit).await? {
            ContactsToWrite::List(contacts) => contacts,
            ContactsToWrite::Unchanged(current) => return Ok(*current),
        };
        let body = DocSpaceUpdateBody {
            contacts: Some(contact_bodies(&contacts)),
            spam,
            ..DocSpaceUpdateBody::default()
        };
        let updated = self.portal.update_member(credential, id, &body).await?;
        Ok(with_docspace_contacts_fix(updated, contacts.is_empty()))
    }

    /// The list an edit leads to; merges and removals read the current list
    /// first (under the caller's lock) and write nothing when it stays the same.
    async fn contacts_to_write(
        &self,
        credential: &Credential,
        id: UserId,
        edit: &ContactEdit,
    ) -> Result<ContactsToWrite, GatewayError> {
        if let Some(contacts) = edit.without_current() {
            return Ok(ContactsToWrite::List(contacts));
        }
        let current = self.portal.get_user(credential, &UserRef::Id(id)).await?;
        if !current.shows_private_data() {
            return Err(GatewayError::Refused(Refusal::ContactsNotVisible));
        }
        let before = contacts_of(&current);
        let after = edit.apply(&before);
        Ok(if after == before {
            ContactsToWrite::Unchanged(Box::new(current))
        } else {
            ContactsToWrite::List(after)
        })
    }

    /// The target's GUID and the caller as the portal sees them (DocSpace
    /// treats one's own profile differently, and `@self` is no route there).
    async fn docspace_target(
        &self,
        credential: &Credential,
        user: &UserRef,
    ) -> Result<(UserId, PortalUser), GatewayError> {
        let caller = self.portal.get_user(credential, &UserRef::Me).await?;
        let id = match user {
            UserRef::Me => user_id_of(&caller)?,
            UserRef::Id(id) => *id,
            UserRef::Name(_) => return Err(user_ref_not_writable()),
        };
        Ok((id, caller))
    }
}

fn refuse_unsupported(product: Product, fields: Vec<&'static str>) -> Result<(), GatewayError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(GatewayError::Refused(Refusal::UnsupportedFields {
            product,
            fields,
        }))
    }
}

/// Builds the Workspace body: the requested changes plus the current values
/// of every field the portal would otherwise reset.
fn workspace_body(
    current: &PortalUser,
    changes: ProfileChanges,
) -> Result<WorkspaceUpdateBody, GatewayError> {
    let directory_fields = changes.fields_among(WORKSPACE_DIRECTORY_MANAGED);
    if is_directory_user(current) && !directory_fields.is_empty() {
        return Err(GatewayError::Refused(Refusal::DirectoryManagedFields {
            fields: directory_fields,
        }));
    }
    let is_visitor = current.isvisitor.ok_or_else(|| {
        GatewayError::Portal(PortalError::Undecodable(
            "user has no isVisitor; refusing to guess the guest flag".into(),
        ))
    })?;
    let is_privileged = current.isadmin == Some(true) || current.isowner == Some(true);
    if changes.is_guest == Some(true) && !is_visitor && is_privileged {
        return Err(GatewayError::Refused(Refusal::AdminCannotBecomeGuest));
    }
    if changes.contacts.is_none() && !current.shows_private_data() {
        return Err(GatewayError::Refused(Refusal::ContactsNotVisible));
    }

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
    Ok(WorkspaceUpdateBody {
        is_visitor: is_guest.unwrap_or(is_visitor),
        contacts: match contacts {
            Some(contacts) => contact_bodies(&contacts),
            None => contact_bodies(&contacts_of(current)),
        },
        lead: lead.unwrap_or(current_lead).map(|lead| lead.to_string()),
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
        department: department_ids.map(|ids| ids.iter().map(ToString::to_string).collect()),
        files: avatar_url.map(String::from),
        disable: disabled,
    })
}

fn workspace_date(date: Option<chrono::NaiveDate>) -> String {
    date.map_or_else(|| WORKSPACE_CLEAR_DATE.to_owned(), format_date)
}

fn docspace_body(changes: ProfileChanges) -> DocSpaceUpdateBody {
    let ProfileChanges {
        first_name,
        last_name,
        comment,
        location,
        department_ids,
        contacts,
        avatar_url,
        disabled,
        is_guest,
        spam,
        // Refused earlier: DocSpace 3.7 does not have them.
        title: _,
        sex: _,
        birthday: _,
        works_from: _,
        lead: _,
    } = changes;
    DocSpaceUpdateBody {
        first_name,
        last_name,
        location,
        comment,
        contacts: contacts.map(|contacts| contact_bodies(&contacts)),
        department: department_ids.map(|ids| ids.iter().map(ToString::to_string).collect()),
        files: avatar_url.map(String::from),
        spam,
        disable: disabled,
        is_user: is_guest,
    }
}

/// DocSpace persists a cleared list but still answers with the old one; the
/// caller gets what the portal stored.
fn with_docspace_contacts_fix(mut user: PortalUser, cleared: bool) -> PortalUser {
    if cleared {
        user.contacts = None;
    }
    user
}

/// Workspace registers every route again with these suffixes as formats.
fn has_workspace_format_suffix(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".json", ".xml", ".tml"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// LDAP and SSO users' names (and more) come from the directory.
fn is_directory_user(user: &PortalUser) -> bool {
    user.isldap == Some(true) || user.issso == Some(true)
}

/// DocSpace applies own departments only with `Action_EditGroups`; owners and
/// DocSpace admins hold it. Whether any other role does is not verified, so a
/// non-admin holding it would be refused here (never silently ignored).
fn is_docspace_admin(caller: &PortalUser) -> bool {
    caller.isadmin == Some(true) || caller.isowner == Some(true)
}

/// Workspace grants title, lead and departments to portal admins and People-module admins.
fn is_workspace_admin(caller: &PortalUser) -> bool {
    caller.isadmin == Some(true)
        || caller.isowner == Some(true)
        || caller.listadminmodules.as_ref().is_some_and(|modules| {
            modules
                .iter()
                .any(|module| module.eq_ignore_ascii_case("people"))
        })
}

fn contacts_of(user: &PortalUser) -> Vec<Contact> {
    user.contacts
        .iter()
        .flatten()
        .map(|contact| Contact {
            kind: contact.r#type.clone().unwrap_or_default(),
            value: contact.value.clone().unwrap_or_default(),
        })
        .collect()
}

fn contact_bodies(contacts: &[Contact]) -> Vec<ContactBody> {
    contacts
        .iter()
        .map(|contact| ContactBody {
            r#type: contact.kind.clone(),
            value: contact.value.clone(),
        })
        .collect()
}

fn user_id_of(user: &PortalUser) -> Result<UserId, GatewayError> {
    UserId::parse(&user.id).ok_or_else(|| {
        GatewayError::Portal(PortalError::Undecodable("user id is not a GUID".into()))
    })
}

/// Writes take a GUID or `@self`; validation already refuses names.
fn user_ref_not_writable() -> GatewayError {
    GatewayError::InvalidArgument(vec![FieldViolation::new(
        "user_id",
        "must be a user GUID or @self",
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }))
    }

    #[test]
    fn workspace_body_resends_guest_flag_contacts_and_lead() {
        let body = workspace_body(
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
                "lead": "0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01",
                "title": "Lead",
            })
        );
    }

    #[test]
    fn workspace_body_clears_dates_with_the_sentinel_and_lead_by_omission() {
        let body = workspace_body(
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
    fn workspace_body_refuses_when_contacts_are_hidden() {
        let mut hidden = mike();
        hidden.email = Some(None);
        hidden.contacts = None;
        let error = workspace_body(
            &hidden,
            ProfileChanges {
                comment: Some("x".into()),
                ..ProfileChanges::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            error,
            GatewayError::Refused(Refusal::ContactsNotVisible)
        ));
    }

    #[test]
    fn workspace_body_refuses_without_a_guest_flag_to_resend() {
        let mut odd = mike();
        odd.isvisitor = None;
        assert!(workspace_body(&odd, ProfileChanges::default()).is_err());
    }

    #[test]
    fn contact_edits_apply_by_kind() {
        let mail = Contact::new("mail", "a@x").unwrap();
        let phone = Contact::new("phone", "1").unwrap();
        let current = vec![mail.clone()];
        assert_eq!(
            ContactEdit::Merge(vec![phone.clone()]).apply(&current),
            [mail.clone(), phone.clone()]
        );
        assert_eq!(ContactEdit::Remove(vec![mail.clone()]).apply(&current), []);
        assert_eq!(
            ContactEdit::Replace(vec![phone.clone()]).without_current(),
            Some(vec![phone])
        );
        assert_eq!(ContactEdit::Merge(vec![mail]).without_current(), None);
    }
}
