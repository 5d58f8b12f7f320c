//! What each People operation does on each product. This is where the
//! portal's traps are handled: the reads that protect fields the portal would
//! reset, the refusals where it would silently ignore a change, the contact
//! merge it does not do itself, and the per-user serialization of every
//! read-modify-write sequence. It speaks domain and portal types, never gRPC.
//!
//! - [`rules`]: the portal's rules per product and release, as one table, and the check.
//! - `workspace`: the Workspace writes (`PUT /people/{id}` with what it would reset, the contacts routes).
//! - `docspace`: the DocSpace writes (own profile versus someone else's, contacts in `PUT /people/{id}`).
//! - `verify`: whether the portal's answer to a write holds the change (and whether a read already does).
//! - [`listing`]: ListUsers, a page of the directory or a user by email, and the check of the page.
//!
//! Every write reads its user fresh under the user's lock, sends nothing when
//! that read already holds the whole change, and checks the portal's answer
//! against the change: a field the portal dropped is never answered OK.
//!
//! A write also waits for a turn before its first read: at most as many
//! writes are under way at once as the portal has connections. A write's
//! exchanges follow one another, so that many keep every connection busy;
//! more would only wait for a connection holding the user they have read.

mod docspace;
pub mod listing;
pub mod rules;
pub mod verify;
mod workspace;

pub use verify::how_verified;

use std::sync::Arc;

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};
use uuid::Uuid;

pub use crate::domain::Call;
use crate::domain::{
    Abandoned, Contact, FieldSet, PortalVersion, ProfileChanges, Refusal, RefusalKind, UserId,
    UserRef, merge_contacts, remove_contacts,
};
use crate::domain::{Product, ProductChoice};
use crate::error::{FieldViolation, GatewayError, IgnoredChange};
use crate::locks::{UserGuard, UserLocks};
use crate::portal::model::ContactBody;
use crate::portal::{PortalClient, PortalError, PortalUser};
use rules::{ProductRules, Target};

/// The fields a release must support for a contacts edit: `spam` when sent
/// (every release takes contacts).
pub fn contact_edit_fields(spam: Option<bool>) -> FieldSet {
    ProfileChanges {
        spam,
        ..ProfileChanges::default()
    }
    .fields()
}

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

    fn apply(&self, current: Vec<Contact>) -> Vec<Contact> {
        match self {
            Self::Merge(additions) => merge_contacts(current, additions),
            Self::Replace(list) => list.clone(),
            Self::Remove(removals) => remove_contacts(current, removals),
        }
    }
}

/// What the gateway is told about the portal; the rest it asks the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalSetup {
    /// `--portal-product`.
    pub product: ProductChoice,
    /// `--portal-version`.
    pub version: Option<PortalVersion>,
}

impl From<ProductChoice> for PortalSetup {
    fn from(product: ProductChoice) -> Self {
        Self {
            product,
            version: None,
        }
    }
}

impl From<Product> for PortalSetup {
    fn from(product: Product) -> Self {
        ProductChoice::from(product).into()
    }
}

/// The product and the rules in force, settled once per process.
#[derive(Debug, Clone, Copy)]
struct PortalFacts {
    product: Product,
    rules: &'static ProductRules,
}

/// The People operations against one portal.
#[derive(Debug)]
pub struct People {
    portal: PortalClient,
    setup: PortalSetup,
    facts: OnceCell<PortalFacts>,
    locks: UserLocks,
    /// One permit per write under way, as many as the portal's connections.
    write_turns: Arc<Semaphore>,
}

/// What a write holds from its first read to its end: its user's lock and
/// its turn among the writes under way. Taken by the write itself, or
/// before it by whoever runs it ([`People::hold_for_write`]).
#[derive(Debug)]
pub struct WriteHold {
    user: UserId,
    _lock: UserGuard,
    /// `None` only if the turns were closed, which they never are.
    _turn: Option<OwnedSemaphorePermit>,
}

impl People {
    /// Operations for a portal as configured; what is not configured is learned on first use.
    pub fn new(portal: PortalClient, setup: PortalSetup) -> Self {
        Self {
            write_turns: Arc::new(Semaphore::new(portal.max_connections())),
            portal,
            setup,
            facts: OnceCell::new(),
            locks: UserLocks::default(),
        }
    }

    /// The product and its rules. What the configuration leaves open is
    /// learned on the first write and kept: the release (and, with `auto`,
    /// the product) from the anonymous build endpoint, else the product from
    /// the envelope of `GET @self`. A portal that cannot be asked fails the
    /// call and is asked again next time; one that does not say gets the
    /// strictest rules.
    async fn facts(&self, call: &Call) -> Result<PortalFacts, GatewayError> {
        // Asked once per process: boxed, so that the asking is not carried
        // inline by every write's future.
        self.facts
            .get_or_try_init(|| Box::pin(self.discover(call)))
            .await
            .copied()
    }

    async fn discover(&self, call: &Call) -> Result<PortalFacts, GatewayError> {
        let configured = self.setup.product.known();
        // A named release needs no asking.
        let ask = self.setup.version.is_none();
        let build = if ask {
            self.portal.build_info(call).await?
        } else {
            None
        };
        let product = match (configured, build) {
            (Some(product), _) => product,
            (None, Some(build)) => build.product,
            (None, None) => self.portal.detect_product(call).await?,
        };
        if let Some(build) = build
            && build.product != product
        {
            warn!(configured = %product, reported = %build.product, "the portal reports another product");
        }
        let version = self.setup.version.or_else(|| {
            build
                .filter(|build| build.product == product)
                .and_then(|build| build.version)
        });
        let rules = rules::rules_for(product, version);
        match version {
            Some(version) => info!(%product, %version, rules = rules.releases, "portal rules"),
            None => info!(%product, rules = rules.releases, "portal release unknown"),
        }
        Ok(PortalFacts { product, rules })
    }

    /// The product, when configured or already learned.
    fn known_product(&self) -> Option<Product> {
        self.setup
            .product
            .known()
            .or_else(|| self.facts.get().map(|facts| facts.product))
    }

    /// Reads a user by GUID, user name or `@self`.
    pub async fn get_user(&self, call: &Call, user: &UserRef) -> Result<PortalUser, GatewayError> {
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
        match user {
            UserRef::Id(id) => self.read_target(call, *id).await,
            UserRef::Me | UserRef::Name(_) => Ok(self.portal.get_user(call, user).await?),
        }
    }

    /// Applies exactly the set fields of `changes` (boxed: a write's future,
    /// which every write waiting for its turn holds, then carries a pointer),
    /// under `held` when it is the user's.
    pub async fn update_user(
        &self,
        call: &Call,
        user: &UserRef,
        changes: Box<ProfileChanges>,
        held: Option<WriteHold>,
    ) -> Result<PortalUser, GatewayError> {
        call.still_waited_for()?;
        let facts = self.supported_facts(call, changes.fields()).await?;
        if changes.fields().is_empty() {
            // A read, boxed: inline, every write would carry its size.
            return Box::pin(self.get_user(call, user)).await;
        }
        // Each product's write boxed when it starts: inline, the larger of
        // the two would be the size of every write in flight.
        match facts.product {
            Product::Workspace => {
                Box::pin(self.update_on_workspace(facts.rules, call, user, *changes, held)).await
            }
            Product::Docspace => {
                Box::pin(self.update_on_docspace(facts.rules, call, user, *changes, held)).await
            }
        }
    }

    /// Merges, replaces or removes contacts, under `held` when it is the user's.
    pub async fn edit_contacts(
        &self,
        call: &Call,
        user: &UserRef,
        edit: ContactEdit,
        spam: Option<bool>,
        held: Option<WriteHold>,
    ) -> Result<PortalUser, GatewayError> {
        call.still_waited_for()?;
        let facts = self
            .supported_facts(call, contact_edit_fields(spam))
            .await?;
        // Boxed when it starts, as in `update_user`.
        match facts.product {
            Product::Workspace => {
                Box::pin(self.edit_contacts_on_workspace(facts.rules, call, user, edit, held)).await
            }
            Product::Docspace => {
                Box::pin(self.edit_contacts_on_docspace(facts.rules, call, user, edit, spam, held))
                    .await
            }
        }
    }

    /// Refuses what the portal's release does not support (learning the
    /// release first, if need be), as each write does before anything else.
    pub async fn check_supported(&self, call: &Call, fields: FieldSet) -> Result<(), GatewayError> {
        self.supported_facts(call, fields).await.map(drop)
    }

    /// The product and its rules, once they support `fields`.
    async fn supported_facts(
        &self,
        call: &Call,
        fields: FieldSet,
    ) -> Result<PortalFacts, GatewayError> {
        let facts = self.facts(call).await?;
        rules::check_supported(facts.rules, fields)?;
        Ok(facts)
    }

    /// Takes the user's lock, then a turn among the writes under way (in
    /// that order: a turn is never held waiting behind another write to the
    /// same user), unless the caller goes away or its deadline passes while
    /// waiting: a write that never began must not run after its caller gave up.
    pub async fn hold_for_write(&self, id: UserId, call: &Call) -> Result<WriteHold, GatewayError> {
        let started = std::time::Instant::now();
        let hold = async {
            let lock = self.locks.lock(id).await;
            let turn = Arc::clone(&self.write_turns).acquire_owned().await.ok();
            WriteHold {
                user: id,
                _lock: lock,
                _turn: turn,
            }
        };
        let (outcome, result) = tokio::select! {
            biased;
            why = Abandoned::when(call.deadline, &call.gone) => match why {
                Abandoned::CallerGone => ("caller_gone", Err(GatewayError::NotSent(why))),
                Abandoned::Deadline => ("deadline", Err(GatewayError::NotSent(why))),
            },
            hold = hold => ("acquired", Ok(hold)),
        };
        self.portal
            .metrics()
            .record_lock_wait(outcome, started.elapsed());
        result
    }

    /// The hold a write brought for `id`, or else one taken now (a hold for
    /// another user, which no caller brings, is let go first).
    async fn lock_for_write(
        &self,
        id: UserId,
        call: &Call,
        held: Option<WriteHold>,
    ) -> Result<WriteHold, GatewayError> {
        match held {
            Some(hold) if hold.user == id => Ok(hold),
            other => {
                drop(other);
                // Boxed: only a write that learned its user on its way (`@self`)
                // waits here; inline, every write's future would hold the wait.
                Box::pin(self.hold_for_write(id, call)).await
            }
        }
    }

    /// The portal client, for the metrics and health it keeps.
    pub fn portal(&self) -> &PortalClient {
        &self.portal
    }

    /// Reads a user by GUID, and makes sure the portal answered for that user:
    /// another user's contacts or guest flag must never be written back onto this one.
    async fn read_target(&self, call: &Call, id: UserId) -> Result<PortalUser, GatewayError> {
        let user = self.portal.get_user(call, &UserRef::Id(id)).await?;
        if user_id_of(&user)? != id {
            return Err(GatewayError::AnotherUserAnswered);
        }
        Ok(user)
    }

    /// The whole list an edit leads to, and the user as read fresh (under
    /// the caller's lock). Merges and removals need the current list; a
    /// replacement is written even when the list cannot be seen. The user
    /// comes boxed, as every user a write keeps across its later awaits:
    /// a write waiting for the portal then holds a pointer, not a slot.
    async fn contacts_after(
        &self,
        rules: &'static ProductRules,
        call: &Call,
        id: UserId,
        edit: &ContactEdit,
    ) -> Result<(Vec<Contact>, PortalUser), GatewayError> {
        let current = self.read_target(call, id).await?;
        if let Some(contacts) = edit.without_current() {
            return Ok((contacts, current));
        }
        if !current.shows_private_data() {
            return Err(GatewayError::Refused(Refusal {
                kind: RefusalKind::NotVisible,
                fields: crate::domain::Field::Contacts.into(),
                product: rules.product,
                releases: rules.releases,
            }));
        }
        let after = edit.apply(contacts_of(&current));
        Ok((after, current))
    }

    /// The user read again after a write whose answer does not show what
    /// the portal stored (see [`answer_shows_stored`]). The write was sent: a
    /// caller that left meanwhile did not leave before it.
    async fn read_after_write(&self, call: &Call, id: UserId) -> Result<PortalUser, GatewayError> {
        self.read_target(call, id)
            .await
            .map_err(|error| match error {
                GatewayError::NotSent(why) => abandoned_after(why, true),
                error => error,
            })
    }

    /// Whether `current`, read fresh under the user's lock, already holds the
    /// whole change: then no write is sent (and one is counted as skipped).
    fn already_held(
        &self,
        rules: &'static ProductRules,
        changes: &ProfileChanges,
        current: &PortalUser,
    ) -> bool {
        let held = verify::already_held(rules, changes, current);
        if held {
            debug!(fields = %changes.fields().join(","), "the portal already holds the change; nothing sent");
            self.portal.metrics().record_write_skipped(rules.releases);
        }
        held
    }

    /// The portal's answer to a write, once it is the user written and shows
    /// every requested field as asked; otherwise the error naming what it did
    /// not apply.
    fn verified(
        &self,
        rules: &'static ProductRules,
        id: UserId,
        changes: &ProfileChanges,
        before: &PortalUser,
        held: PortalUser,
    ) -> Result<PortalUser, GatewayError> {
        if user_id_of(&held)? != id {
            return Err(GatewayError::AnotherUserAnswered);
        }
        if changes.department_ids.is_some() {
            // Groups the answer shows but that cannot be read are a bad answer, not an unverified field.
            department_ids_of(&held)?;
        }
        let verdict = verify::verify(rules, changes, before, &held);
        if verdict.ignored.is_empty() {
            Ok(held)
        } else {
            Err(self.ignored(verdict.into_ignored(rules, held)))
        }
    }

    /// The error for a write the portal answered without applying all of
    /// it, counted and logged (field names only, never values).
    fn ignored(&self, ignored: Box<IgnoredChange>) -> GatewayError {
        let metrics = self.portal.metrics();
        for mismatch in &ignored.ignored {
            metrics.record_ignored_change(mismatch.field.name(), ignored.releases);
        }
        warn!(
            ignored = %ignored.fields().join(","),
            applied = %ignored.applied.join(","),
            rules = ignored.releases,
            "the portal answered a write without applying all of it"
        );
        GatewayError::IgnoredChange(ignored)
    }
}

/// The user's departments as read: `groups[].id`. Both products leave
/// `groups` out when there are none; Workspace then sends `department: ""`
/// and DocSpace leaves both out when the caller may not see them. `None`
/// when the answer does not show them.
fn department_ids_of(user: &PortalUser) -> Result<Option<Vec<Uuid>>, GatewayError> {
    match (&user.groups, user.department.as_deref()) {
        (Some(groups), _) => groups
            .iter()
            .map(|group| {
                Uuid::try_parse(&group.id).map_err(|_| {
                    GatewayError::Portal(PortalError::Undecodable("group id is not a GUID".into()))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        (None, Some("")) => Ok(Some(Vec::new())),
        (None, _) => Ok(None),
    }
}

/// Whether a write's answer shows what the portal stored. It does not for:
/// - a date the write set: the answer shows the tenant's wall clock, every
///   later read that wall clock taken for UTC (see `PortalDate::calendar_date`);
/// - on DocSpace, an emptied contact list: stored, but the answer shows
///   the list in memory, which an empty string does not clear
///   (DS@v3.7.2-server:products/ASC.People/Server/Api/PeopleControllerBase.cs:87-93,
///   common/ASC.Core.Common/Core/UserInfo.cs:118-126, 288-293).
///
/// There the user is read again, and the answer is dropped before that
/// read rather than held across it.
fn answer_shows_stored(product: Product, changes: &ProfileChanges) -> bool {
    let sets_a_date = changes.birthday.is_some() || changes.works_from.is_some();
    let empties_contacts =
        product == Product::Docspace && changes.contacts.as_ref().is_some_and(Vec::is_empty);
    !(sets_a_date || empties_contacts)
}

/// What a caller who stopped waiting hears: nothing was sent, or (after a
/// write went out) that a write already sent runs to its end.
fn abandoned_after(why: Abandoned, sent: bool) -> GatewayError {
    match (why, sent) {
        (why, false) => GatewayError::NotSent(why),
        (Abandoned::Deadline, true) => GatewayError::DeadlineExceeded,
        (Abandoned::CallerGone, true) => GatewayError::CallerGone,
    }
}

/// Workspace registers every route again with these suffixes as response
/// formats, compared case-sensitively (CS@7c503dfb5:module/ASC.Api/ASC.Api/Impl/
/// Routing/ApiRouteRegistrator.cs:39-47, Impl/Constraints/ApiHttpMethodConstraint.cs:58-79).
fn has_workspace_format_suffix(name: &str) -> bool {
    [".json", ".xml", ".tml"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// The facts about a user that the rules ask for.
fn target_of(user: &PortalUser) -> Target {
    Target {
        is_owner: user.isowner == Some(true),
        is_admin: user.isadmin == Some(true),
        is_module_admin: user
            .listadminmodules
            .as_ref()
            .is_some_and(|modules| !modules.is_empty()),
        is_guest: user.isvisitor == Some(true),
        is_directory_user: user.isldap == Some(true) || user.issso == Some(true),
    }
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
    UserId::parse(&user.id).ok_or_else(id_not_a_guid)
}

/// A user the portal answered with whose id is not a GUID.
fn id_not_a_guid() -> GatewayError {
    GatewayError::Portal(PortalError::Undecodable("user id is not a GUID".into()))
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
    use crate::domain::Contact;

    #[test]
    fn only_the_exact_lower_case_suffixes_are_formats() {
        assert!(has_workspace_format_suffix("john.json"));
        assert!(has_workspace_format_suffix("john.xml"));
        assert!(has_workspace_format_suffix("john.tml"));
        assert!(!has_workspace_format_suffix("John.JSON"));
        assert!(!has_workspace_format_suffix("john.Xml"));
        assert!(!has_workspace_format_suffix("john.jsonx"));
    }

    #[test]
    fn contact_edits_apply_by_kind() {
        let mail = Contact::new("mail", "a@x").unwrap();
        let phone = Contact::new("phone", "1").unwrap();
        let current = vec![mail.clone()];
        assert_eq!(
            ContactEdit::Merge(vec![phone.clone()]).apply(current.clone()),
            [mail.clone(), phone.clone()]
        );
        assert_eq!(ContactEdit::Remove(vec![mail.clone()]).apply(current), []);
        assert_eq!(
            ContactEdit::Replace(vec![phone.clone()]).without_current(),
            Some(vec![phone])
        );
        assert_eq!(ContactEdit::Merge(vec![mail]).without_current(), None);
    }

    /// What a call waiting on the portal holds is mostly its future. An
    /// exchange, or a product's write, inlined in each future above it
    /// (rather than boxed when it starts) made a write's future 14 KiB.
    #[test]
    fn a_call_waiting_on_the_portal_holds_a_small_future() {
        let portal = PortalClient::new(
            &crate::portal::PortalSettings {
                base_url: url::Url::parse("http://portal.test/").unwrap(),
                timeout: std::time::Duration::from_secs(1),
                connect_timeout: std::time::Duration::from_secs(1),
                max_body: 1024,
                extra_roots_pem: None,
                max_connections: 1,
            },
            std::sync::Arc::default(),
        )
        .unwrap();
        let people = People::new(portal, ProductChoice::Workspace.into());
        let call = Call::new(crate::domain::Credential::authorization("Bearer x").unwrap());
        let user = UserRef::Me;
        let sizes = [
            std::mem::size_of_val(&people.get_user(&call, &user)),
            std::mem::size_of_val(&people.update_user(&call, &user, Box::default(), None)),
            std::mem::size_of_val(&people.edit_contacts(
                &call,
                &user,
                ContactEdit::Replace(Vec::new()),
                None,
                None,
            )),
        ];
        // 448, 384 and 432 bytes (a debug build), the writes with the hold
        // they may bring (256 and 304 without); over 2,000, over 6,600
        // and 14,056 before the boxing; 832 and 664 with the portal's
        // discovery inline, an update's changes held inline and a contacts
        // edit's `spam` kept as a change.
        assert!(
            sizes
                .iter()
                .zip([512, 448, 480])
                .all(|(&size, bound)| size <= bound),
            "{sizes:?}"
        );
        // Each product's write, boxed when it starts; the users it reads
        // are pointers (`PortalUser`).
        let rules = &rules::WORKSPACE;
        let edit = || ContactEdit::Replace(Vec::new());
        let changes = ProfileChanges::default;
        let writes = [
            std::mem::size_of_val(&people.update_on_workspace(
                rules,
                &call,
                &user,
                changes(),
                None,
            )),
            std::mem::size_of_val(&people.edit_contacts_on_workspace(
                rules,
                &call,
                &user,
                edit(),
                None,
            )),
            std::mem::size_of_val(&people.update_on_docspace(rules, &call, &user, changes(), None)),
            std::mem::size_of_val(&people.edit_contacts_on_docspace(
                rules,
                &call,
                &user,
                edit(),
                None,
                None,
            )),
        ];
        // 1,448, 976, 1,160 and 1,160 bytes (a debug build), with the hold
        // a write may bring (1,416, 896, 1,128 and 1,072 without); 1,976 and
        // 1,368 for the updates with the body they send held inline (it is
        // boxed: an update waits for its answer holding it); 3,200, 2,176
        // and (DocSpace's contacts edit) 5,680 with the users held inline.
        let bounds = [1536, 1024, 1280, 1280];
        assert!(
            writes
                .iter()
                .zip(bounds)
                .all(|(&size, bound)| size <= bound),
            "{writes:?}"
        );
    }
}
