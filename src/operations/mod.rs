//! What a call does, whichever gRPC layer it came through: the operations a
//! caller may ask for ([`Operation`]) and their one way of being carried out
//! ([`Operations::perform`]): each write on its own task, run to its end once
//! sent and counted for the shutdown drain. The unary service and SyncUsers
//! both call it; SyncUsers never calls the service. It knows nothing of gRPC or
//! protobuf; what the portal holds comes back as a [`UserRecord`].

mod stopper;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, info};

use crate::domain::{Call, FieldSet, ProfileChanges, UserId, UserQuery, UserRef};
use crate::error::GatewayError;
use crate::people::{ContactEdit, People, WriteHold, contact_edit_fields};
use crate::portal::{PortalError, PortalUser};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::trace;

pub use stopper::{InFlight, Stopper};

/// One change a caller asks for, validated; a unary RPC and a SyncUsers item
/// carry the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// UpdateUser: exactly the set fields.
    UpdateUser {
        /// Whose profile.
        user: UserRef,
        /// The fields set in the request; boxed, as the largest part of an
        /// operation, which every write and every SyncUsers item waiting
        /// for its turn holds.
        changes: Box<ProfileChanges>,
    },
    /// UpdateContacts, SetContacts or DeleteContacts.
    EditContacts {
        /// Whose contacts.
        user: UserRef,
        /// How the list changes.
        edit: ContactEdit,
        /// DocSpace's marketing-mail consent, sent along.
        spam: Option<bool>,
    },
}

impl Operation {
    /// The user the change is about.
    pub fn user(&self) -> &UserRef {
        match self {
            Self::UpdateUser { user, .. } | Self::EditContacts { user, .. } => user,
        }
    }

    /// Whether it changes anything: an update that sets no field is a read.
    fn writes(&self) -> bool {
        match self {
            Self::UpdateUser { changes, .. } => !changes.fields().is_empty(),
            Self::EditContacts { .. } => true,
        }
    }

    /// The fields the portal's release must support for it.
    fn fields(&self) -> FieldSet {
        match self {
            Self::UpdateUser { changes, .. } => changes.fields(),
            Self::EditContacts { spam, .. } => contact_edit_fields(*spam),
        }
    }
}

/// A user as the portal holds it after an operation, for the gRPC layers to
/// hand to `mapping`; what is inside is the portal's business.
#[derive(Debug)]
pub struct UserRecord(PortalUser);

impl UserRecord {
    /// The portal's answer.
    pub(crate) fn into_portal(self) -> PortalUser {
        self.0
    }
}

/// One page of a listing, for the gRPC layer to hand to `mapping`.
#[derive(Debug)]
pub struct UserPage {
    /// The users, in the portal's order.
    pub users: Vec<UserRecord>,
    /// How many users match over all pages, when the portal said.
    pub total: Option<u64>,
    /// Where the next page starts; `None` on the last page.
    pub next_offset: Option<u32>,
}

/// Carries out operations against one portal.
#[derive(Debug, Clone)]
pub struct Operations {
    people: Arc<People>,
    writes: TaskTracker,
    stopper: Stopper,
}

impl Operations {
    /// Operations through `people`.
    pub fn new(people: People) -> Self {
        Self {
            people: Arc::new(people),
            writes: TaskTracker::new(),
            stopper: Stopper::default(),
        }
    }

    /// GetUser: a user by GUID, user name or `@self`.
    pub async fn read(&self, call: &Call, user: &UserRef) -> Result<UserRecord, GatewayError> {
        call.still_waited_for()?;
        self.people.get_user(call, user).await.map(UserRecord)
    }

    /// ListUsers: one page of the directory, or the user with an email address.
    pub async fn list(&self, call: &Call, query: &UserQuery) -> Result<UserPage, GatewayError> {
        call.still_waited_for()?;
        let page = self.people.list_users(call, query).await?;
        Ok(UserPage {
            users: page.users.into_iter().map(UserRecord).collect(),
            total: page.total,
            next_offset: page.next_offset,
        })
    }

    /// Which user `@self` is for this call's credential.
    pub async fn whoami(&self, call: &Call) -> Result<UserId, GatewayError> {
        let me = self.people.get_user(call, &UserRef::Me).await?;
        UserId::parse(&me.id).ok_or_else(|| {
            GatewayError::from(PortalError::Undecodable("user id is not a GUID".into()))
        })
    }

    /// Carries out one validated change, as a unary RPC or a SyncUsers item,
    /// on a task of its own (see [`Self::spawn_write`]). A write to a user
    /// named by id first takes its user's lock and its turn here, in the
    /// caller's future: a write waiting for them holds only this future, no
    /// task yet, and one whose caller leaves is dropped with it. Others (`@self`
    /// is known only once read) take them on their task. The task runs in the
    /// caller's span and trace context; until it starts, this future holds
    /// the call and the operation, after, only what waits for the task.
    #[expect(
        clippy::manual_async_fn,
        reason = "as an `async fn` it keeps the call and the operation twice: 128 bytes more a waiting write"
    )]
    pub fn perform(
        &self,
        call: Call,
        operation: Operation,
    ) -> impl Future<Output = Result<UserRecord, GatewayError>> + Send + '_ {
        async move {
            let held = match operation.user() {
                UserRef::Id(id) if operation.writes() => {
                    // A release's refusal comes at once, not after the wait.
                    self.people
                        .check_supported(&call, operation.fields())
                        .await?;
                    Some(self.people.hold_for_write(*id, &call).await?)
                }
                UserRef::Id(_) | UserRef::Me | UserRef::Name(_) => None,
            };
            self.spawn_write(call, operation, held).await
        }
    }

    /// Runs a write on its own task. A write that was sent finishes even if
    /// the caller cancels or its deadline passes, so its user's lock is never
    /// released while it may still reach the portal; one not yet sent gives up
    /// with its caller (`call.gone`, signalled when the returned future is
    /// dropped) and is never sent. A write that outlives its caller logs how
    /// it ended.
    fn spawn_write(
        &self,
        mut call: Call,
        operation: Operation,
        held: Option<WriteHold>,
    ) -> impl Future<Output = Result<UserRecord, GatewayError>> + Send + 'static {
        // The task outlives the caller's future: from here it is told.
        let gone = call.gone.watch();
        let cancel_when_dropped = gone.clone().drop_guard();
        let people = Arc::clone(&self.people);
        // Boxed once here: each wrapper below would otherwise carry its own
        // copy of this (large) future in the task, for every write in flight.
        let work: Pin<Box<dyn Future<Output = Result<PortalUser, GatewayError>> + Send>> =
            match operation {
                Operation::UpdateUser { user, changes } => {
                    Box::pin(async move { people.update_user(&call, &user, changes, held).await })
                }
                Operation::EditContacts { user, edit, spam } => {
                    Box::pin(
                        async move { people.edit_contacts(&call, &user, edit, spam, held).await },
                    )
                }
            };
        let trace = trace::current();
        let work = async move {
            // A user is a pointer (`PortalUser`): the task's cell, as large
            // as what it returns, stays small for every write in flight.
            let result = match trace {
                Some(trace) => trace.scope(work).await,
                None => work.await,
            };
            if gone.is_cancelled() {
                match &result {
                    Ok(_) => info!("write completed after its caller left"),
                    Err(error) => info!(error = %error, "write ended after its caller left"),
                }
            }
            result
        }
        .in_current_span();
        let task = self.writes.spawn(work);
        async move {
            let _cancel_when_dropped = cancel_when_dropped;
            match task.await {
                Ok(result) => result.map(UserRecord),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => Err(GatewayError::ShuttingDown),
            }
        }
    }

    /// The metrics of this gateway.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.people.portal().metrics()
    }

    /// The people operations (and through them the portal client).
    pub fn people(&self) -> Arc<People> {
        Arc::clone(&self.people)
    }

    /// Stops calls at the end of shutdown's grace period.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Writes still running, for the shutdown drain.
    pub fn pending_writes(&self) -> TaskTracker {
        self.writes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Credential, ProductChoice};
    use crate::people::ContactEdit;
    use crate::portal::{PortalClient, PortalSettings};

    /// A write waits in this future for its user's lock and its turn (when
    /// named by id), then for its task, for as long as the portal takes.
    /// Spawned from an `async fn`, it kept the operation and the work's
    /// closure beside the task's handle: 992 bytes.
    #[test]
    fn a_write_waiting_for_its_task_holds_a_small_future() {
        let portal = PortalClient::new(
            &PortalSettings {
                base_url: url::Url::parse("http://portal.test/").unwrap(),
                timeout: std::time::Duration::from_secs(1),
                connect_timeout: std::time::Duration::from_secs(1),
                max_body: 1024,
                extra_roots_pem: None,
                max_connections: 1,
            },
            Arc::default(),
        )
        .unwrap();
        let operations = Operations::new(People::new(portal, ProductChoice::Workspace.into()));
        let call = Call::new(Credential::authorization("Bearer x").unwrap());
        let operation = Operation::EditContacts {
            user: UserRef::Me,
            edit: ContactEdit::Replace(Vec::new()),
            spam: None,
        };
        let size = std::mem::size_of_val(&operations.perform(call, operation));
        // 640 bytes (a debug build), the wait for the lock and the turn
        // inline: a write waiting for them has no task yet, whose cell, box
        // and product's write came to about 2 KB. 128 when every write
        // waited on its task; 320 with an update's changes held inline.
        assert!(size <= 704, "{size}");
    }
}
