//! The gRPC boundary: `onlyoffice.people.v1.PeopleService`. Each handler
//! validates the request, takes the caller's credential from metadata, runs
//! the operation and maps the answer back; SyncUsers hands its stream to
//! [`crate::bulk`], whose items run through the same `PeopleApi::perform`.
//! It never talks HTTP itself.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Instant;

use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Extensions, Request, Response, Status, Streaming};
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::bulk::{self, Bulk, BulkSettings, SyncStream, Tally};
use crate::deadline;
use crate::domain::{Contact, Credential, CredentialError, Deadline, ProfileChanges, UserRef};
use crate::error::code_name;
use crate::error::{FieldViolation, GatewayError};
use crate::mapping::{self, ContactsInput};
use crate::pb::{self, people_service_server::PeopleService, sync_users_request};
use crate::people::{Call, ContactEdit, People};
use crate::portal::PortalUser;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::trace::{self, CallTrace};

/// The cookie that carries a portal token.
const AUTH_COOKIE: &str = "asc_auth_key";
/// Echoed to the caller, and forwarded to the portal.
const REQUEST_ID: &str = "x-request-id";
/// A routing key a mesh may hash on; when sent, it must name the request's user.
const ROUTING_KEY: &str = "x-people-user-id";

/// Serves `PeopleService` on top of the People operations.
#[derive(Debug, Clone)]
pub struct PeopleApi {
    people: Arc<People>,
    fallback_credential: Option<Credential>,
    writes: TaskTracker,
    stopper: Stopper,
    bulk: Bulk,
}

/// Ends every call still running when shutdown's grace period is over.
#[derive(Debug, Clone, Default)]
pub struct Stopper {
    stop: CancellationToken,
    in_flight: Arc<AtomicUsize>,
}

impl Stopper {
    /// Answers every running call SHUTTING_DOWN; returns how many there were.
    pub fn stop_all(&self) -> usize {
        let running = self.in_flight.load(Ordering::SeqCst);
        self.stop.cancel();
        running
    }

    /// Calls running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Counts one call while the guard lives.
    fn count(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }

    /// Cancelled when the grace period is over: a SyncUsers stream answers
    /// what it can and ends.
    fn stopped(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs one call, counted, unless the server stops it first.
    async fn run<T>(
        &self,
        work: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let _counted = self.count();
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(GatewayError::ShuttingDown),
            result = work => result,
        }
    }
}

/// Uncounts a call when it ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PeopleApi {
    /// `fallback_credential` is used for calls that carry none (`--portal-token`).
    pub fn new(people: People, fallback_credential: Option<Credential>) -> Self {
        Self {
            people: Arc::new(people),
            fallback_credential,
            writes: TaskTracker::new(),
            stopper: Stopper::default(),
            bulk: Bulk::new(BulkSettings::default()),
        }
    }

    /// The same API with these SyncUsers limits.
    pub fn with_bulk(mut self, settings: BulkSettings) -> Self {
        self.bulk = Bulk::new(settings);
        self
    }

    /// What SyncUsers streams share, and the signal that ends them at shutdown.
    pub fn bulk(&self) -> &Bulk {
        &self.bulk
    }

    /// The caller's `authorization`, else `cookie: asc_auth_key=…`, else the
    /// configured token. Credential-like metadata the gateway cannot use
    /// (binary, repeated, a misspelt cookie) is refused rather than replaced
    /// by the configured token: a caller never acts with someone else's rights.
    fn credential(&self, metadata: &MetadataMap) -> Result<Credential, GatewayError> {
        let unusable = || GatewayError::MalformedCredentials(CredentialError::UnusableForm);
        if metadata.get_bin("authorization-bin").is_some()
            || metadata.get_all("authorization").iter().count() > 1
        {
            return Err(unusable());
        }
        if let Some(value) = metadata.get("authorization") {
            let text = value
                .to_str()
                .map_err(|_| GatewayError::MalformedCredentials(CredentialError::NotAscii))?;
            return Credential::authorization(text).map_err(GatewayError::MalformedCredentials);
        }
        let mut found = None;
        for cookies in metadata.get_all("cookie") {
            let text = cookies
                .to_str()
                .map_err(|_| GatewayError::MalformedCredentials(CredentialError::NotAscii))?;
            for pair in text
                .split(';')
                .map(str::trim)
                .filter(|pair| !pair.is_empty())
            {
                let (name, token) = pair.split_once('=').unwrap_or((pair, ""));
                let name = name.trim();
                if name == AUTH_COOKIE && found.is_none() && pair.contains('=') {
                    found = Some(token);
                } else if name.eq_ignore_ascii_case(AUTH_COOKIE) {
                    // Misspelt, repeated, or without a value.
                    return Err(unusable());
                }
            }
        }
        if let Some(token) = found {
            return Credential::cookie_token(token).map_err(GatewayError::MalformedCredentials);
        }
        self.fallback_credential
            .clone()
            .ok_or(GatewayError::MissingCredentials)
    }

    /// The call as the operations see it: credential and deadline.
    fn call(&self, metadata: &MetadataMap, extensions: &Extensions) -> Result<Call, GatewayError> {
        let mut call = Call::new(self.credential(metadata)?);
        call.deadline = deadline::of(extensions);
        Ok(call)
    }

    /// Carries out one validated change, as a unary RPC or a SyncUsers item.
    pub(crate) async fn perform(
        &self,
        call: Call,
        operation: Operation,
    ) -> Result<PortalUser, GatewayError> {
        match operation {
            Operation::UpdateUser { user, changes } => {
                self.run_to_completion(call, move |people, call| async move {
                    people.update_user(&call, &user, changes).await
                })
                .await
            }
            Operation::EditContacts { input, edit } => {
                let ContactsInput {
                    user,
                    contacts,
                    spam,
                } = input;
                self.run_to_completion(call, move |people, call| async move {
                    people
                        .edit_contacts(&call, &user, edit(contacts), spam)
                        .await
                })
                .await
            }
        }
    }

    /// Runs a write on its own task. A write that holds its user's lock
    /// finishes even if the caller cancels or its deadline passes, so the lock
    /// is never released while the write may still reach the portal; one still
    /// waiting for the lock gives up with its caller (`call.gone`). A write that
    /// outlives its caller logs how it ended.
    async fn run_to_completion<F>(
        &self,
        call: Call,
        write: impl FnOnce(Arc<People>, Call) -> F,
    ) -> Result<PortalUser, GatewayError>
    where
        F: Future<Output = Result<PortalUser, GatewayError>> + Send + 'static,
    {
        let gone = call.gone.clone();
        // Dropped with this call's future, i.e. when the caller goes away.
        let _cancel_when_dropped = call.gone.clone().drop_guard();
        let work = write(Arc::clone(&self.people), call);
        let trace = trace::current();
        let work = async move {
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
        match self.writes.spawn(work).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(GatewayError::ShuttingDown),
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

/// The status with the call's request id, as every answer carries it.
fn with_request_id(mut status: Status, request_id: &str) -> Status {
    if let Ok(id) = MetadataValue::try_from(request_id) {
        status.metadata_mut().insert(REQUEST_ID, id);
    }
    status
}

/// One change a caller asks for, validated exactly as its unary RPC
/// validates it; a SyncUsers item carries the same.
#[derive(Debug, Clone)]
pub(crate) enum Operation {
    /// UpdateUser.
    UpdateUser {
        /// Whose profile.
        user: UserRef,
        /// The fields set in the request.
        changes: ProfileChanges,
    },
    /// UpdateContacts, SetContacts or DeleteContacts.
    EditContacts {
        /// Whose contacts, which, and the consent to send along.
        input: ContactsInput,
        /// How the list changes.
        edit: fn(Vec<Contact>) -> ContactEdit,
    },
}

impl Operation {
    fn update_user(request: pb::UpdateUserRequest) -> Result<Self, GatewayError> {
        let (user, changes) = mapping::update_user_request(request)?;
        Ok(Self::UpdateUser { user, changes })
    }

    fn update_contacts(request: pb::UpdateContactsRequest) -> Result<Self, GatewayError> {
        let input = mapping::update_contacts_request(request)?;
        Ok(Self::EditContacts {
            input,
            edit: ContactEdit::Merge,
        })
    }

    fn set_contacts(request: pb::SetContactsRequest) -> Result<Self, GatewayError> {
        let input = mapping::set_contacts_request(request)?;
        Ok(Self::EditContacts {
            input,
            edit: ContactEdit::Replace,
        })
    }

    fn delete_contacts(request: pb::DeleteContactsRequest) -> Result<Self, GatewayError> {
        let input = mapping::delete_contacts_request(request)?;
        Ok(Self::EditContacts {
            input,
            edit: ContactEdit::Remove,
        })
    }

    /// A SyncUsers item's change, checked as its unary RPC checks it: the
    /// stream's routing key first, then the request. Also the RPC's name.
    pub(crate) fn of_item(
        metadata: &MetadataMap,
        operation: Option<sync_users_request::Operation>,
    ) -> (&'static str, Result<Self, GatewayError>) {
        use sync_users_request::Operation as Item;
        let Some(operation) = operation else {
            return (
                "none",
                Err(GatewayError::InvalidArgument(vec![FieldViolation::new(
                    "operation",
                    "must be set: update_user, update_contacts, set_contacts or delete_contacts",
                )])),
            );
        };
        let (name, user_id) = match &operation {
            Item::UpdateUser(request) => ("UpdateUser", &request.user_id),
            Item::UpdateContacts(request) => ("UpdateContacts", &request.user_id),
            Item::SetContacts(request) => ("SetContacts", &request.user_id),
            Item::DeleteContacts(request) => ("DeleteContacts", &request.user_id),
        };
        if let Err(error) = check_routing_key(metadata, user_id) {
            return (name, Err(error));
        }
        let operation = match operation {
            Item::UpdateUser(request) => Self::update_user(request),
            Item::UpdateContacts(request) => Self::update_contacts(request),
            Item::SetContacts(request) => Self::set_contacts(request),
            Item::DeleteContacts(request) => Self::delete_contacts(request),
        };
        (name, operation)
    }

    /// The user the change is about.
    pub(crate) fn user(&self) -> &UserRef {
        match self {
            Self::UpdateUser { user, .. } => user,
            Self::EditContacts { input, .. } => &input.user,
        }
    }
}

/// A mesh may route on `x-people-user-id` so that one user's writes meet one
/// replica (and its lock); a key that names another user would route around
/// that lock, so it must match the request's `user_id` exactly.
fn check_routing_key(metadata: &MetadataMap, user_id: &str) -> Result<(), GatewayError> {
    match metadata.get(ROUTING_KEY).map(|value| value.to_str()) {
        None => Ok(()),
        Some(Ok(key)) if key == user_id => Ok(()),
        Some(_) => Err(GatewayError::InvalidArgument(vec![FieldViolation::new(
            ROUTING_KEY,
            "must equal the request's user_id when sent",
        )])),
    }
}

/// Runs one RPC in a span with its trace context, logs one line with its
/// outcome (never its payload or credential), echoes the request id, and maps
/// the result to the wire. At the caller's deadline the caller hears
/// DEADLINE_EXCEEDED; nothing is sent to the portal after it (a write that
/// was sent before runs to its end on its own task).
async fn respond(
    stopper: &Stopper,
    rpc: &'static str,
    trace: CallTrace,
    deadline: Deadline,
    work: impl Future<Output = Result<PortalUser, GatewayError>>,
) -> Result<Response<pb::User>, Status> {
    let started = Instant::now();
    let mut trace = trace;
    let request_id = trace.request_id().to_owned();
    let span = call_span(rpc, &mut trace);
    let within_deadline = async {
        tokio::select! {
            biased;
            result = work => result,
            () = deadline.passed() => Err(GatewayError::DeadlineExceeded),
        }
    };
    let result = trace
        .scope(stopper.run(within_deadline))
        .instrument(span.clone())
        .await;
    let echoed = MetadataValue::try_from(request_id.as_str()).ok();
    let (code, answer) = match result {
        Ok(user) => {
            let mut response = Response::new(mapping::user_to_pb(user));
            if let Some(id) = echoed {
                response.metadata_mut().insert(REQUEST_ID, id);
            }
            (Code::Ok, Ok(response))
        }
        Err(error) => {
            let description = error.to_string();
            let portal_failed = error.is_portal_failure();
            let mut status = Status::from(error);
            if let Some(id) = echoed {
                status.metadata_mut().insert(REQUEST_ID, id);
            }
            span.in_scope(|| {
                if portal_failed {
                    warn!(error = %description, "portal call failed");
                } else {
                    debug!(error = %description, "refused");
                }
            });
            (status.code(), Err(status))
        }
    };
    span.record("code", code_name(code));
    span.in_scope(|| {
        info!(
            code = code_name(code),
            took_ms = elapsed_ms(started),
            "handled"
        );
    });
    answer
}

/// The span of one call, tied to its trace context: the RPC, the trace and
/// parent span ids (the parent only when the caller sent one), the request
/// id, and the code once known.
fn call_span(rpc: &'static str, trace: &mut CallTrace) -> tracing::Span {
    let span = info_span!(
        "rpc",
        rpc,
        trace_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
        request_id = %trace.request_id(),
        code = tracing::field::Empty,
    );
    if let Some(parent) = trace.parent_id() {
        span.record("parent_span_id", parent);
    }
    trace.attach(&span);
    span
}

/// Milliseconds since `started`, to the microsecond, for log lines.
pub(crate) fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_micros() as f64) / 1000.0
}

impl PeopleApi {
    /// One write RPC: the routing key, validation, credential, then the
    /// operation, as every write RPC does it.
    async fn write<M>(
        &self,
        rpc: &'static str,
        request: Request<M>,
        user_id: fn(&M) -> &str,
        operation: fn(M) -> Result<Operation, GatewayError>,
    ) -> Result<Response<pb::User>, Status> {
        let trace = CallTrace::from_metadata(request.metadata());
        let (metadata, extensions, message) = request.into_parts();
        let deadline = deadline::of(&extensions);
        respond(&self.stopper, rpc, trace, deadline, async {
            check_routing_key(&metadata, user_id(&message))?;
            let operation = operation(message)?;
            let call = self.call(&metadata, &extensions)?;
            self.perform(call, operation).await
        })
        .await
    }
}

#[tonic::async_trait]
impl PeopleService for PeopleApi {
    type SyncUsersStream = ReceiverStream<Result<pb::SyncUsersResponse, Status>>;

    async fn sync_users(
        &self,
        request: Request<Streaming<pb::SyncUsersRequest>>,
    ) -> Result<Response<Self::SyncUsersStream>, Status> {
        let trace = CallTrace::from_metadata(request.metadata());
        let request_id = trace.request_id().to_owned();
        let (metadata, extensions, inbound) = request.into_parts();
        // The credential is the stream's: one that every item would fail with ends it at once.
        let call = self
            .call(&metadata, &extensions)
            .map_err(|error| with_request_id(error.into(), &request_id))?;
        let place = self
            .bulk
            .open_stream()
            .map_err(|error| with_request_id(error.into(), &request_id))?;
        let (out, answers) = tokio::sync::mpsc::channel(1);
        let stream = SyncStream::new(self.clone(), metadata, call);
        let stopper = self.stopper.clone();
        let metrics = self.metrics();
        let mut trace = trace;
        let span = call_span("SyncUsers", &mut trace);
        let echoed_id = request_id.clone();
        let work = async move {
            let _place = place;
            let _counted = stopper.count();
            metrics.add_sync_streams(1);
            let started = Instant::now();
            let mut tally = Tally::default();
            let ended = stream
                .run(inbound, out.clone(), stopper.stopped(), &mut tally)
                .await;
            bulk::log_end(&tally, &ended, started);
            metrics.add_sync_streams(-1);
            if let Err(status) = ended {
                let _ = out.send(Err(with_request_id(status, &echoed_id))).await;
            }
        };
        tokio::spawn(trace.scope(work).instrument(span));
        let mut response = Response::new(ReceiverStream::new(answers));
        if let Ok(id) = MetadataValue::try_from(request_id.as_str()) {
            response.metadata_mut().insert(REQUEST_ID, id);
        }
        Ok(response)
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let trace = CallTrace::from_metadata(request.metadata());
        let (metadata, extensions, message) = request.into_parts();
        let deadline = deadline::of(&extensions);
        respond(&self.stopper, "GetUser", trace, deadline, async {
            check_routing_key(&metadata, &message.user_id)?;
            let user = mapping::get_user_request(message)?;
            let call = self.call(&metadata, &extensions)?;
            call.still_waited_for()?;
            self.people.get_user(&call, &user).await
        })
        .await
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.write(
            "UpdateUser",
            request,
            |message| &message.user_id,
            Operation::update_user,
        )
        .await
    }

    async fn update_contacts(
        &self,
        request: Request<pb::UpdateContactsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.write(
            "UpdateContacts",
            request,
            |message| &message.user_id,
            Operation::update_contacts,
        )
        .await
    }

    async fn set_contacts(
        &self,
        request: Request<pb::SetContactsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.write(
            "SetContacts",
            request,
            |message| &message.user_id,
            Operation::set_contacts,
        )
        .await
    }

    async fn delete_contacts(
        &self,
        request: Request<pb::DeleteContactsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.write(
            "DeleteContacts",
            request,
            |message| &message.user_id,
            Operation::delete_contacts,
        )
        .await
    }
}
