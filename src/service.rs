//! The gRPC boundary: `onlyoffice.people.v1.PeopleService`. Each handler
//! validates the request, takes the caller's credential from metadata, runs
//! the operation and maps the answer back. It never talks HTTP itself.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::{Instrument as _, debug, info_span, warn};

use crate::domain::{Contact, Credential, CredentialError};
use crate::error::GatewayError;
use crate::mapping::{self, ContactsInput};
use crate::pb::{self, people_service_server::PeopleService};
use crate::people::{ContactEdit, People};
use crate::portal::PortalUser;

/// The cookie that carries a portal token.
const AUTH_COOKIE: &str = "asc_auth_key";

/// Serves `PeopleService` on top of the People operations.
#[derive(Debug, Clone)]
pub struct PeopleApi {
    people: Arc<People>,
    fallback_credential: Option<Credential>,
    writes: TaskTracker,
}

impl PeopleApi {
    /// `fallback_credential` is used for calls that carry none (`--portal-token`).
    pub fn new(people: People, fallback_credential: Option<Credential>) -> Self {
        Self {
            people: Arc::new(people),
            fallback_credential,
            writes: TaskTracker::new(),
        }
    }

    /// The caller's `authorization`, else `cookie: asc_auth_key=…`, else the
    /// configured token.
    fn credential(&self, metadata: &MetadataMap) -> Result<Credential, GatewayError> {
        if let Some(value) = metadata.get("authorization") {
            let text = value
                .to_str()
                .map_err(|_| GatewayError::MalformedCredentials(CredentialError::NotAscii))?;
            return Credential::authorization(text).map_err(GatewayError::MalformedCredentials);
        }
        for cookies in metadata.get_all("cookie") {
            let text = cookies
                .to_str()
                .map_err(|_| GatewayError::MalformedCredentials(CredentialError::NotAscii))?;
            let token = text
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == AUTH_COOKIE)
                .map(|(_, token)| token);
            if let Some(token) = token {
                return Credential::cookie_token(token).map_err(GatewayError::MalformedCredentials);
            }
        }
        self.fallback_credential
            .clone()
            .ok_or(GatewayError::MissingCredentials)
    }

    async fn edit_contacts(
        &self,
        metadata: &MetadataMap,
        input: ContactsInput,
        edit: fn(Vec<Contact>) -> ContactEdit,
    ) -> Result<PortalUser, GatewayError> {
        let credential = self.credential(metadata)?;
        let ContactsInput {
            user,
            contacts,
            spam,
        } = input;
        self.run_to_completion(move |people, caller_gone| async move {
            people
                .edit_contacts(&credential, &user, edit(contacts), spam, &caller_gone)
                .await
        })
        .await
    }

    /// Runs a write on its own task. A write that holds its user's lock
    /// finishes even if the caller cancels or its deadline passes, so the lock
    /// is never released while the write may still reach the portal; one still
    /// waiting for the lock gives up with its caller (`caller_gone`).
    async fn run_to_completion<F>(
        &self,
        write: impl FnOnce(Arc<People>, CancellationToken) -> F,
    ) -> Result<PortalUser, GatewayError>
    where
        F: Future<Output = Result<PortalUser, GatewayError>> + Send + 'static,
    {
        let caller_gone = CancellationToken::new();
        // Dropped with this call's future, i.e. when the caller goes away.
        let _cancel_when_dropped = caller_gone.clone().drop_guard();
        let work = write(Arc::clone(&self.people), caller_gone).in_current_span();
        match self.writes.spawn(work).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(GatewayError::ShuttingDown),
        }
    }

    /// Writes still running, for the shutdown drain.
    pub fn pending_writes(&self) -> TaskTracker {
        self.writes.clone()
    }
}

/// Runs one RPC in a span, logs its outcome (never its payload or
/// credential), and maps the result to the wire.
async fn respond(
    rpc: &'static str,
    work: impl Future<Output = Result<PortalUser, GatewayError>>,
) -> Result<Response<pb::User>, Status> {
    let span = info_span!("rpc", rpc);
    match work.instrument(span.clone()).await {
        Ok(user) => {
            span.in_scope(|| debug!("ok"));
            Ok(Response::new(mapping::user_to_pb(user)))
        }
        Err(error) => {
            let description = error.to_string();
            let portal_failed = matches!(error, GatewayError::Portal(_));
            let status = Status::from(error);
            let code = status.code();
            span.in_scope(|| {
                if portal_failed {
                    warn!(?code, error = %description, "failed");
                } else {
                    debug!(?code, error = %description, "refused");
                }
            });
            Err(status)
        }
    }
}

#[tonic::async_trait]
impl PeopleService for PeopleApi {
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        respond("GetUser", async {
            let (metadata, _, message) = request.into_parts();
            let user = mapping::get_user_request(message)?;
            let credential = self.credential(&metadata)?;
            self.people.get_user(&credential, &user).await
        })
        .await
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        respond("UpdateUser", async {
            let (metadata, _, message) = request.into_parts();
            let (user, changes) = mapping::update_user_request(message)?;
            let credential = self.credential(&metadata)?;
            self.run_to_completion(move |people, caller_gone| async move {
                people
                    .update_user(&credential, &user, changes, &caller_gone)
                    .await
            })
            .await
        })
        .await
    }

    async fn update_contacts(
        &self,
        request: Request<pb::UpdateContactsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        respond("UpdateContacts", async {
            let (metadata, _, message) = request.into_parts();
            let input = mapping::update_contacts_request(message)?;
            self.edit_contacts(&metadata, input, ContactEdit::Merge)
                .await
        })
        .await
    }

    async fn set_contacts(
        &self,
        request: Request<pb::SetContactsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        respond("SetContacts", async {
            let (metadata, _, message) = request.into_parts();
            let input = mapping::set_contacts_request(message)?;
            self.edit_contacts(&metadata, input, ContactEdit::Replace)
                .await
        })
        .await
    }

    async fn delete_contacts(
        &self,
        request: Request<pb::DeleteContactsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        respond("DeleteContacts", async {
            let (metadata, _, message) = request.into_parts();
            let input = mapping::delete_contacts_request(message)?;
            self.edit_contacts(&metadata, input, ContactEdit::Remove)
                .await
        })
        .await
    }
}
