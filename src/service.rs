//! The unary gRPC boundary: `onlyoffice.people.v1.PeopleService`. Each
//! handler checks the routing key, validates the request into an
//! [`Operation`], takes the call from its metadata ([`crate::caller`]), has
//! [`crate::operations`] carry it out and maps the answer back. SyncUsers is
//! handed to [`crate::bulk`], whose items take the same way. It never talks
//! HTTP, and sees no portal type.

use std::future::{Future, Ready};
use std::pin::Pin;
use std::time::Instant;

use futures_util::future::Either;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Code, Extensions, Request, Response, Status, Streaming};
use tracing::{Instrument as _, debug, info, warn};

use crate::bulk::{Bulk, BulkSettings};
use crate::caller::{Callers, call_span, check_routing_key, echo_request_id, elapsed_ms};
use crate::deadline;
use crate::domain::{Credential, Deadline};
use crate::error::GatewayError;
use crate::mapping::{self, PageTokens};
use crate::operations::{Operation, Operations, Stopper};
use crate::pb::{self, people_service_server::PeopleService};
use crate::people::People;
use crate::status::code_name;
use crate::telemetry::otel;
use crate::telemetry::trace::CallTrace;

/// Serves `PeopleService` on top of the operations.
#[derive(Debug, Clone)]
pub struct PeopleApi {
    operations: Operations,
    callers: Callers,
    bulk: Bulk,
    page_tokens: PageTokens,
}

impl PeopleApi {
    /// `fallback_credential` is used for calls that carry none (`--portal-token`).
    pub fn new(people: People, fallback_credential: Option<Credential>) -> Self {
        let operations = Operations::new(people);
        Self {
            bulk: Bulk::new(BulkSettings::default(), operations.stopper()),
            operations,
            callers: Callers::new(fallback_credential),
            page_tokens: PageTokens::default(),
        }
    }

    /// The same API sealing ListUsers page tokens with this key
    /// (`--page-token-key`); every replica must share it.
    pub fn with_page_token_key(mut self, key: &[u8]) -> Self {
        self.page_tokens = PageTokens::new(key);
        self
    }

    /// The same API with these SyncUsers limits.
    pub fn with_bulk(mut self, settings: BulkSettings) -> Self {
        self.bulk = Bulk::new(settings, self.operations.stopper());
        self
    }

    /// What SyncUsers streams share, and the signal that ends them at shutdown.
    pub fn bulk(&self) -> &Bulk {
        &self.bulk
    }

    /// The operations behind the API: metrics, the portal, the shutdown drain.
    pub fn operations(&self) -> &Operations {
        &self.operations
    }

    /// GetUser: the routing key, validation and credential, then the read.
    fn read(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> impl Future<Output = Result<Response<pb::User>, Status>> + '_ {
        self.unary(
            "GetUser",
            request,
            move |metadata, extensions, message| {
                check_routing_key(metadata, &message.user_id)?;
                let user = mapping::get_user_request(message)?;
                Ok((user, self.callers.call(metadata, extensions)?))
            },
            move |(user, call)| async move { self.operations.read(&call, &user).await },
            pb::User::from,
        )
    }

    /// ListUsers: the query and credential, then the page.
    fn list(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> impl Future<Output = Result<Response<pb::ListUsersResponse>, Status>> + '_ {
        self.unary(
            "ListUsers",
            request,
            move |metadata, extensions, message| {
                let query = mapping::list_users_request(message, &self.page_tokens)?;
                Ok((query, self.callers.call(metadata, extensions)?))
            },
            move |(query, call)| async move {
                let page = self.operations.list(&call, &query).await?;
                Ok((page, query))
            },
            move |(page, query)| mapping::list_users_response(page, &query, &self.page_tokens),
        )
    }

    /// One write RPC: the routing key, validation, credential, then the
    /// operation, as every write RPC does it.
    fn write<M>(
        &self,
        rpc: &'static str,
        request: Request<M>,
        user_id: fn(&M) -> &str,
    ) -> impl Future<Output = Result<Response<pb::User>, Status>> + '_
    where
        M: Send + 'static,
        Operation: TryFrom<M, Error = GatewayError>,
    {
        self.unary(
            rpc,
            request,
            move |metadata, extensions, message| {
                check_routing_key(metadata, user_id(&message))?;
                let operation = Operation::try_from(message)?;
                Ok((operation, self.callers.call(metadata, extensions)?))
            },
            move |(operation, call)| self.operations.perform(call, operation),
            pb::User::from,
        )
    }

    /// One unary RPC: its trace context and deadline read, the request
    /// checked and taken apart by `prepare`, then `work` on what it made,
    /// answered by [`respond`]. Not an `async fn`: the request is checked
    /// here, and only what `prepare` made moves into the boxed work, so the
    /// call's future holds neither the request nor its metadata (a whole
    /// header map) while it waits.
    fn unary<'a, M, P, W, T, A>(
        &'a self,
        rpc: &'static str,
        request: Request<M>,
        prepare: impl FnOnce(&MetadataMap, &Extensions, M) -> Result<P, GatewayError>,
        work: impl FnOnce(P) -> W,
        into_message: impl FnOnce(T) -> A + 'a,
    ) -> impl Future<Output = Result<Response<A>, Status>> + 'a
    where
        W: Future<Output = Result<T, GatewayError>> + 'a,
        T: 'a,
        A: 'a,
    {
        let trace = CallTrace::from_metadata(request.metadata());
        let (metadata, extensions, message) = request.into_parts();
        let deadline = deadline::of(&extensions);
        let prepared = prepare(&metadata, &extensions, message);
        respond(
            self.operations.stopper(),
            rpc,
            trace,
            deadline,
            checked(prepared, work),
            into_message,
        )
    }
}

/// What the generated service awaits for one unary RPC.
type Answer<'a, M> = Pin<Box<dyn Future<Output = Result<Response<M>, Status>> + Send + 'a>>;

/// The work of a checked call, or its refusal.
type CheckedWork<W, T> = Either<W, Ready<Result<T, GatewayError>>>;

/// A call's work, boxed: `work` on the checked request's parts, or the
/// refusal, ready. Not an async block taking the parts apart: that would keep
/// them twice in every call in flight, as captured and as taken apart.
fn checked<P, W, T>(
    prepared: Result<P, GatewayError>,
    work: impl FnOnce(P) -> W,
) -> Pin<Box<CheckedWork<W, T>>>
where
    W: Future<Output = Result<T, GatewayError>>,
{
    Box::pin(match prepared {
        Ok(parts) => Either::Left(work(parts)),
        Err(refusal) => Either::Right(std::future::ready(Err(refusal))),
    })
}

/// Runs one RPC in a span with its trace context, logs one line with its
/// outcome (never its payload or credential), echoes the request id, and maps
/// the result to the wire. At the caller's deadline the caller hears
/// DEADLINE_EXCEEDED; nothing is sent to the portal after it (a write that
/// was sent before runs to its end on its own task).
///
/// `work` comes boxed: each wrapper here (the deadline, the stopper, the
/// trace scope, the span) would otherwise hold a copy of it in the call's
/// state, several times its size for every call in flight.
async fn respond<T, M>(
    stopper: Stopper,
    rpc: &'static str,
    mut trace: CallTrace,
    deadline: Deadline,
    work: Pin<Box<impl Future<Output = Result<T, GatewayError>>>>,
    into_message: impl FnOnce(T) -> M,
) -> Result<Response<M>, Status> {
    let started = Instant::now();
    let span = call_span(rpc, &mut trace);
    let within_deadline = std::pin::pin!(async {
        tokio::select! {
            biased;
            result = work => result,
            () = deadline.passed() => Err(GatewayError::DeadlineExceeded),
        }
    });
    // The span and the trace context are held once, by the running call,
    // and taken back from it once it has answered.
    let mut running = std::pin::pin!(trace.scope(stopper.run(within_deadline)).instrument(span));
    let result = running.as_mut().await;
    let trace = running.as_mut().inner_pin_mut().take_value();
    let echo_id = |metadata: &mut MetadataMap| {
        if let Some(trace) = &trace {
            echo_request_id(metadata, trace.request_id());
        }
    };
    let span = running.span();
    let (code, answer) = match result {
        Ok(answer) => {
            let mut response = Response::new(into_message(answer));
            echo_id(response.metadata_mut());
            (Code::Ok, Ok(response))
        }
        Err(error) => {
            let description = error.to_string();
            let portal_failed = error.is_portal_failure();
            let mut status = Status::from(error);
            echo_id(status.metadata_mut());
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
    if otel::exporting() {
        span.record("code", tracing::field::display(code_name(code)));
    }
    span.in_scope(|| {
        info!(
            code = %code_name(code),
            took_ms = elapsed_ms(started),
            "handled"
        );
    });
    answer
}

#[tonic::async_trait]
impl PeopleService for PeopleApi {
    type SyncUsersStream = ReceiverStream<Result<pb::SyncUsersResponse, Status>>;

    async fn sync_users(
        &self,
        request: Request<Streaming<pb::SyncUsersRequest>>,
    ) -> Result<Response<Self::SyncUsersStream>, Status> {
        self.bulk
            .open(self.operations.clone(), &self.callers, request)
    }

    // The unary methods are not `async fn`s: `async_trait` would keep the
    // request (up to 392 bytes, UpdateUser's) in every call's box for as
    // long as the call runs, though it is taken apart before anything waits.

    fn get_user<'life0, 'async_trait>(
        &'life0 self,
        request: Request<pb::GetUserRequest>,
    ) -> Answer<'async_trait, pb::User>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.read(request))
    }

    fn list_users<'life0, 'async_trait>(
        &'life0 self,
        request: Request<pb::ListUsersRequest>,
    ) -> Answer<'async_trait, pb::ListUsersResponse>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.list(request))
    }

    fn update_user<'life0, 'async_trait>(
        &'life0 self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Answer<'async_trait, pb::User>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.write("UpdateUser", request, |message| &message.user_id))
    }

    fn update_contacts<'life0, 'async_trait>(
        &'life0 self,
        request: Request<pb::UpdateContactsRequest>,
    ) -> Answer<'async_trait, pb::User>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.write("UpdateContacts", request, |message| &message.user_id))
    }

    fn set_contacts<'life0, 'async_trait>(
        &'life0 self,
        request: Request<pb::SetContactsRequest>,
    ) -> Answer<'async_trait, pb::User>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.write("SetContacts", request, |message| &message.user_id))
    }

    fn delete_contacts<'life0, 'async_trait>(
        &'life0 self,
        request: Request<pb::DeleteContactsRequest>,
    ) -> Answer<'async_trait, pb::User>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.write("DeleteContacts", request, |message| &message.user_id))
    }
}
