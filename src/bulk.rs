//! Bulk sync: what a `SyncUsers` stream adds to the unary operations. It
//! reads items ahead into a bounded queue (beyond it the gateway reads no
//! more, and HTTP/2 flow control blocks the sender), keeps each user's items
//! in arrival order, starts at most `--bulk-concurrency` items per stream and
//! `--bulk-max-in-flight` over all streams, pauses every stream while the
//! portal asks to wait (429, or 503 with `Retry-After`), and answers each
//! item exactly once. Each item is carried out by `PeopleApi::perform`,
//! exactly as its unary RPC would be.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tracing::{debug, info};

use crate::domain::{Deadline, UserId, UserRef};
use crate::error::{FieldViolation, GatewayError, MAX_RETRY_DELAY, is_oversized_message};
use crate::mapping;
use crate::pb::{self, sync_users_response};
use crate::people::Call;
use crate::portal::{PortalError, PortalUser};
use crate::service::{Operation, PeopleApi};
use crate::telemetry::metrics::Metrics;

/// Longest `item_id`, in bytes.
pub const MAX_ITEM_ID_BYTES: usize = 128;
/// How often one item waits for the portal before its 429 is its answer.
const MAX_PAUSES_PER_ITEM: u32 = 10;
/// The wait a 429 without `Retry-After` asks for.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// The limits of `SyncUsers`, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSettings {
    /// Items of one stream at the portal at once (`--bulk-concurrency`).
    pub per_stream: usize,
    /// Items at the portal at once over all streams (`--bulk-max-in-flight`).
    pub max_in_flight: usize,
    /// Items read ahead per stream (`--bulk-queue`).
    pub queue: usize,
    /// Items one stream may carry (`--bulk-max-items`).
    pub max_items: u64,
    /// Streams open at once (`--bulk-max-streams`).
    pub max_streams: usize,
    /// How long a stream may stay open with nothing to do: no item read,
    /// none waiting or running, no answer to send (`--bulk-idle-timeout`).
    pub idle_timeout: Duration,
}

impl Default for BulkSettings {
    /// The command line's defaults.
    fn default() -> Self {
        Self {
            per_stream: 8,
            max_in_flight: 32,
            queue: 64,
            max_items: 1_000_000,
            max_streams: 64,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What every stream of one gateway shares: the limits, the portal-wide
/// cap, the pause the portal asked for, and the signal that shutdown began.
#[derive(Debug, Clone)]
pub struct Bulk {
    settings: BulkSettings,
    in_flight: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    pause: Arc<PauseGate>,
    draining: CancellationToken,
}

impl Bulk {
    /// Shared state for streams within `settings`.
    pub fn new(settings: BulkSettings) -> Self {
        Self {
            settings,
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            streams: Arc::new(Semaphore::new(settings.max_streams.max(1))),
            pause: Arc::default(),
            draining: CancellationToken::new(),
        }
    }

    /// Cancelled when the server begins to shut down: streams stop reading,
    /// answer their queued items SHUTTING_DOWN and end once the items at the
    /// portal are answered.
    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// A place for one more stream, if there is one.
    pub(crate) fn open_stream(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        Arc::clone(&self.streams)
            .try_acquire_owned()
            .map_err(|_| GatewayError::TooManyStreams)
    }

    /// Waits out any pause, then for a place among the items at the portal.
    async fn start_permit(
        in_flight: Arc<Semaphore>,
        pause: Arc<PauseGate>,
    ) -> OwnedSemaphorePermit {
        pause.wait().await;
        match in_flight.acquire_owned().await {
            Ok(permit) => permit,
            // Never closed; should it be, nothing starts any more.
            Err(_) => std::future::pending().await,
        }
    }
}

/// A pause every stream honours before starting an item: until the latest
/// moment the portal asked to be left alone.
#[derive(Debug, Default)]
struct PauseGate {
    until: Mutex<Option<Instant>>,
}

impl PauseGate {
    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut current = self
            .until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if current.is_none_or(|current| current < until) {
            *current = Some(until);
        }
    }

    async fn wait(&self) {
        loop {
            let until = *self
                .until
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            match until {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until).await;
                }
                _ => return,
            }
        }
    }
}

/// How long the portal asked to be left alone, when a result says so: any
/// 429, and a 503 that carries `Retry-After`.
fn portal_asks_to_wait<T>(result: &Result<T, GatewayError>) -> Option<Duration> {
    match result {
        Err(GatewayError::Portal(PortalError::Status {
            status: 429,
            retry_after,
            ..
        })) => Some(retry_after.unwrap_or(DEFAULT_PAUSE)),
        Err(GatewayError::Portal(PortalError::Status {
            status: 503,
            retry_after: Some(wait),
            ..
        })) => Some(*wait),
        _ => None,
    }
}

/// Runs `attempt` again after each wait the portal asks for, pausing every
/// stream meanwhile; gives up (answering the portal's refusal) after
/// [`MAX_PAUSES_PER_ITEM`] waits, on a wait longer than [`MAX_RETRY_DELAY`],
/// or one the deadline would not outlast. Every operation is safe to run
/// again: a refused request changed nothing, and each read-modify-write
/// starts from a fresh read.
async fn waiting_out_pauses<T, F, Fut>(
    bulk: &Bulk,
    metrics: &Metrics,
    deadline: Deadline,
    mut attempt: F,
) -> Result<T, GatewayError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let mut pauses = 0;
    loop {
        let result = attempt().await;
        match portal_asks_to_wait(&result) {
            Some(wait)
                if pauses < MAX_PAUSES_PER_ITEM
                    && wait <= MAX_RETRY_DELAY
                    && deadline.remaining().is_none_or(|left| left > wait) =>
            {
                pauses += 1;
                metrics.record_sync_pause();
                bulk.pause.pause_for(wait);
                bulk.pause.wait().await;
            }
            _ => return result,
        }
    }
}

/// Every `item_id` a stream has seen, as 128-bit keyed fingerprints: 16
/// bytes an item whatever the id's length, and a false "duplicate" less
/// likely than 2^-80 in a stream of `--bulk-max-items` items.
struct SeenIds {
    keys: (RandomState, RandomState),
    seen: HashSet<u128>,
}

impl SeenIds {
    fn new() -> Self {
        Self {
            keys: (RandomState::new(), RandomState::new()),
            seen: HashSet::new(),
        }
    }

    /// Remembers `id`; false when it was seen before.
    fn insert(&mut self, id: &str) -> bool {
        let high = u128::from(self.keys.0.hash_one(id));
        let low = u128::from(self.keys.1.hash_one(id));
        self.seen.insert(high << 64 | low)
    }
}

/// An item waiting or running: its id, its RPC's name and its user.
struct Item {
    id: String,
    rpc: &'static str,
    user: UserId,
    operation: Operation,
}

/// The items read and not started. At most one item per user is ready or
/// running; the others wait behind it in arrival order.
struct Queue {
    ready: VecDeque<Item>,
    behind: HashMap<UserId, VecDeque<Item>>,
    len: usize,
    metrics: Arc<Metrics>,
}

impl Queue {
    fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            ready: VecDeque::new(),
            behind: HashMap::new(),
            len: 0,
            metrics,
        }
    }

    fn push(&mut self, item: Item) {
        self.len += 1;
        self.metrics.add_sync_queued(1);
        match self.behind.get_mut(&item.user) {
            Some(waiting) => waiting.push_back(item),
            None => {
                self.behind.insert(item.user, VecDeque::new());
                self.ready.push_back(item);
            }
        }
    }

    /// The next item to start; its user stays busy until [`Queue::finished`].
    fn next(&mut self) -> Option<Item> {
        let item = self.ready.pop_front()?;
        self.len -= 1;
        self.metrics.add_sync_queued(-1);
        Some(item)
    }

    /// `user`'s running item is answered: its next item, if any, is ready.
    fn finished(&mut self, user: UserId) {
        match self.behind.get_mut(&user).and_then(VecDeque::pop_front) {
            Some(item) => self.ready.push_back(item),
            None => {
                self.behind.remove(&user);
            }
        }
    }

    /// Every item not started, in no particular order; the queue is empty after.
    fn take_all(&mut self) -> Vec<Item> {
        let mut items: Vec<Item> = self.ready.drain(..).collect();
        for (_, waiting) in self.behind.drain() {
            items.extend(waiting);
        }
        self.metrics.add_sync_queued(-(self.len as i64));
        self.len = 0;
        items
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.metrics.add_sync_queued(-(self.len as i64));
    }
}

/// Counts one item at the portal while it lives.
struct AtPortal(Arc<Metrics>);

impl AtPortal {
    fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.add_sync_in_flight(1);
        Self(Arc::clone(metrics))
    }
}

impl Drop for AtPortal {
    fn drop(&mut self) {
        self.0.add_sync_in_flight(-1);
    }
}

/// How a stream went, for its log line.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Items answered.
    pub answered: u64,
    /// Items answered with an error.
    pub failed: u64,
}

type Running = Pin<Box<dyn Future<Output = (Item, Result<PortalUser, GatewayError>)> + Send>>;
type Resolving = Pin<Box<dyn Future<Output = Result<UserId, GatewayError>> + Send>>;
type Starting = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;
type Answer = Result<pb::SyncUsersResponse, Status>;

/// One `SyncUsers` stream, from its first item to its end.
pub(crate) struct SyncStream {
    api: PeopleApi,
    bulk: Bulk,
    metadata: MetadataMap,
    call: Call,
    metrics: Arc<Metrics>,
}

impl SyncStream {
    /// A stream of `api`'s with the stream's metadata and call (credential, deadline).
    pub(crate) fn new(api: PeopleApi, metadata: MetadataMap, call: Call) -> Self {
        let metrics = api.metrics();
        let bulk = api.bulk().clone();
        Self {
            api,
            bulk,
            metadata,
            call,
            metrics,
        }
    }

    /// Reads, carries out and answers items until the caller half-closes
    /// and every item is answered (`Ok`), or the stream must end early: the
    /// caller left, its deadline passed, shutdown began, or too many items
    /// (the status to end with). Items not started by then are not started;
    /// items at the portal finish on their own tasks, as unary writes do.
    ///
    /// When `stopped` is cancelled (shutdown's grace period is over), the
    /// items at the portal are answered OUTCOME_UNKNOWN, the queued ones
    /// SHUTTING_DOWN, and the stream ends once those answers are sent.
    pub(crate) async fn run(
        self,
        mut inbound: impl futures_util::Stream<Item = Result<pb::SyncUsersRequest, Status>> + Unpin,
        out: mpsc::Sender<Answer>,
        stopped: CancellationToken,
        tally: &mut Tally,
    ) -> Result<(), Status> {
        let settings = self.bulk.settings;
        let mut ids = SeenIds::new();
        let mut queue = Queue::new(Arc::clone(&self.metrics));
        let mut running: FuturesUnordered<Running> = FuturesUnordered::new();
        // The items of `running`, by id, to answer should the gateway stop.
        let mut at_portal: HashMap<String, &'static str> = HashMap::new();
        let mut outbox: VecDeque<pb::SyncUsersResponse> = VecDeque::new();
        // An `@self` item waiting for the stream to learn who `@self` is.
        let mut resolving: Option<Resolving> = None;
        let mut awaiting_me: Option<Item> = None;
        let mut starting: Option<Starting> = None;
        let mut me: Option<UserId> = None;
        let mut reading = true;
        let mut received: u64 = 0;
        let mut ending: Option<Status> = None;
        let draining = self.bulk.draining.clone();
        // Answers wait here until the caller takes them; while they pile up,
        // nothing more is read or started.
        let outbox_limit = settings.per_stream.max(16);
        let deadline = self.call.deadline.passed();
        tokio::pin!(deadline);
        // Restarted whenever anything happens: a stream that only holds its
        // place is ended.
        let idle = tokio::time::sleep(settings.idle_timeout);
        tokio::pin!(idle);

        loop {
            if !reading
                && resolving.is_none()
                && queue.len == 0
                && running.is_empty()
                && outbox.is_empty()
            {
                return ending.map_or(Ok(()), Err);
            }
            let can_start = !queue.ready.is_empty()
                && running.len() < settings.per_stream
                && outbox.len() < outbox_limit;
            if can_start && starting.is_none() {
                starting = Some(Box::pin(Bulk::start_permit(
                    Arc::clone(&self.bulk.in_flight),
                    Arc::clone(&self.bulk.pause),
                )));
            }
            let can_read = reading
                && resolving.is_none()
                && queue.len < settings.queue
                && outbox.len() < outbox_limit;
            let doing_nothing =
                resolving.is_none() && queue.len == 0 && running.is_empty() && outbox.is_empty();
            idle.as_mut().reset(Instant::now() + settings.idle_timeout);

            tokio::select! {
                biased;
                () = stopped.cancelled(), if !running.is_empty() || reading || queue.len > 0 || resolving.is_some() => {
                    reading = false;
                    ending = Some(Status::from(GatewayError::ShuttingDown));
                    // Their writes go on on their own tasks; their outcome is unknown here.
                    running = FuturesUnordered::new();
                    for (id, rpc) in at_portal.drain() {
                        outbox.push_back(self.answer(tally, &id, rpc, Err(GatewayError::OutcomeUnknown)));
                    }
                    let mut unstarted = queue.take_all();
                    resolving = None;
                    unstarted.extend(awaiting_me.take());
                    for item in unstarted {
                        outbox.push_back(self.answer(tally, &item.id, item.rpc, Err(GatewayError::ShuttingDown)));
                    }
                }
                () = draining.cancelled(), if reading || queue.len > 0 || resolving.is_some() => {
                    if reading {
                        ending = Some(Status::from(GatewayError::ShuttingDown));
                    }
                    reading = false;
                    let mut unstarted = queue.take_all();
                    resolving = None;
                    unstarted.extend(awaiting_me.take());
                    for item in unstarted {
                        outbox.push_back(self.answer(tally, &item.id, item.rpc, Err(GatewayError::ShuttingDown)));
                    }
                }
                () = &mut deadline => return Err(Status::from(GatewayError::DeadlineExceeded)),
                () = &mut idle, if doing_nothing => {
                    return Err(Status::from(GatewayError::StreamIdle(settings.idle_timeout)));
                }
                () = out.closed() => return Err(Status::from(GatewayError::CallerGone)),
                permit = out.reserve(), if !outbox.is_empty() => {
                    let Ok(permit) = permit else {
                        return Err(Status::from(GatewayError::CallerGone));
                    };
                    if let Some(answer) = outbox.pop_front() {
                        permit.send(Ok(answer));
                    }
                }
                Some((item, result)) = running.next(), if !running.is_empty() => {
                    at_portal.remove(&item.id);
                    queue.finished(item.user);
                    outbox.push_back(self.answer(tally, &item.id, item.rpc, result));
                }
                found = poll_some(&mut resolving), if resolving.is_some() => {
                    resolving = None;
                    if let Some(item) = awaiting_me.take() {
                        match found {
                            Ok(id) => {
                                me = Some(id);
                                queue.push(Item { user: id, ..item });
                            }
                            Err(error) => outbox.push_back(self.answer(tally, &item.id, item.rpc, Err(error))),
                        }
                    }
                }
                permit = poll_some(&mut starting), if starting.is_some() => {
                    starting = None;
                    if let Some(item) = queue.next() {
                        at_portal.insert(item.id.clone(), item.rpc);
                        running.push(self.start(item, permit));
                    }
                }
                message = inbound.next(), if can_read => match message {
                    None => reading = false,
                    // The caller sent more than the gateway takes: the items
                    // read before it are still carried out and answered.
                    Some(Err(status)) if is_oversized_message(&status) => {
                        reading = false;
                        ending = Some(Status::from(GatewayError::MessageTooLarge));
                    }
                    // The caller's half broke off (a reset, a broken frame):
                    // nothing more is started for it.
                    Some(Err(status)) => return Err(status),
                    Some(Ok(request)) => {
                        received += 1;
                        if received > settings.max_items {
                            reading = false;
                            ending = Some(Status::from(GatewayError::TooManyItems(settings.max_items)));
                            outbox.push_back(self.answer(tally, &request.item_id, "none", Err(GatewayError::TooManyItems(settings.max_items))));
                            continue;
                        }
                        match self.accept(request, &mut ids, me) {
                            Accepted::Queued(item) => queue.push(item),
                            Accepted::NeedsMe(item) => {
                                awaiting_me = Some(item);
                                resolving = Some(self.resolve_me());
                            }
                            Accepted::Refused { id, rpc, error } => outbox.push_back(self.answer(tally, &id, rpc, Err(error))),
                        }
                    }
                },
            }
        }
    }

    /// Checks an item as its unary RPC would, plus its id.
    fn accept(
        &self,
        request: pb::SyncUsersRequest,
        ids: &mut SeenIds,
        me: Option<UserId>,
    ) -> Accepted {
        let pb::SyncUsersRequest { item_id, operation } = request;
        let (rpc, operation) = Operation::of_item(&self.metadata, operation);
        let id_problem = if item_id.is_empty() {
            Some("must not be empty")
        } else if item_id.len() > MAX_ITEM_ID_BYTES {
            Some("must be at most 128 bytes")
        } else if !ids.insert(&item_id) {
            Some("was already used in this stream")
        } else {
            None
        };
        if let Some(problem) = id_problem {
            let error =
                GatewayError::InvalidArgument(vec![FieldViolation::new("item_id", problem)]);
            return Accepted::Refused {
                id: item_id,
                rpc,
                error,
            };
        }
        let operation = match operation {
            Ok(operation) => operation,
            Err(error) => {
                return Accepted::Refused {
                    id: item_id,
                    rpc,
                    error,
                };
            }
        };
        let user = match (operation.user(), me) {
            (UserRef::Id(id), _) => *id,
            (UserRef::Me, Some(me)) => me,
            (UserRef::Me, None) => {
                return Accepted::NeedsMe(Item {
                    id: item_id,
                    rpc,
                    // Replaced once `@self` is known.
                    user: UserId::from(uuid::Uuid::nil()),
                    operation,
                });
            }
            // Writes refuse names while validating.
            (UserRef::Name(_), _) => {
                return Accepted::Refused {
                    id: item_id,
                    rpc,
                    error: GatewayError::InvalidArgument(vec![FieldViolation::new(
                        "user_id",
                        "must be a user GUID or @self",
                    )]),
                };
            }
        };
        Accepted::Queued(Item {
            id: item_id,
            rpc,
            user,
            operation,
        })
    }

    /// Learns which user `@self` is, so that its items queue behind that
    /// user's other items whichever way they name it. Reading stops meanwhile.
    fn resolve_me(&self) -> Resolving {
        let people = self.api.people();
        let call = item_call(&self.call);
        let bulk = self.bulk.clone();
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            waiting_out_pauses(&bulk, &metrics, call.deadline, || {
                people.get_user(&call, &UserRef::Me)
            })
            .await
            .and_then(|user| {
                UserId::parse(&user.id).ok_or_else(|| {
                    GatewayError::Portal(PortalError::Undecodable("user id is not a GUID".into()))
                })
            })
        })
    }

    /// Carries out an item at the portal, holding its place among the
    /// portal-wide items until it is answered.
    fn start(&self, item: Item, permit: OwnedSemaphorePermit) -> Running {
        let api = self.api.clone();
        let stream_call = self.call.clone();
        let bulk = self.bulk.clone();
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            let _at_portal = AtPortal::new(&metrics);
            let result = waiting_out_pauses(&bulk, &metrics, stream_call.deadline, || {
                api.perform(item_call(&stream_call), item.operation.clone())
            })
            .await;
            drop(permit);
            (item, result)
        })
    }

    /// The response for one item, counted.
    fn answer(
        &self,
        tally: &mut Tally,
        id: &str,
        rpc: &str,
        result: Result<PortalUser, GatewayError>,
    ) -> pb::SyncUsersResponse {
        tally.answered += 1;
        let result = match result {
            Ok(user) => {
                self.metrics.record_sync_item(rpc, Code::Ok);
                sync_users_response::Result::User(mapping::user_to_pb(user))
            }
            Err(error) => {
                tally.failed += 1;
                let status = Status::from(error);
                self.metrics.record_sync_item(rpc, status.code());
                debug!(rpc, code = ?status.code(), "item failed");
                sync_users_response::Result::Error(rpc_status(&status))
            }
        };
        pb::SyncUsersResponse {
            item_id: id.to_owned(),
            result: Some(result),
        }
    }
}

/// The stream's call for one attempt at an item: a cancellation of its own
/// (an attempt's end cancels it), which the stream's end cancels too.
fn item_call(stream: &Call) -> Call {
    Call {
        gone: stream.gone.child_token(),
        ..stream.clone()
    }
}

/// What became of an item as it was read.
enum Accepted {
    /// Valid; waits for its turn.
    Queued(Item),
    /// Valid, for `@self`, which the stream has not resolved yet.
    NeedsMe(Item),
    /// Answered at once with this error.
    Refused {
        id: String,
        rpc: &'static str,
        error: GatewayError,
    },
}

/// Waits for the future in `slot`; `select!` polls it only while there is one.
async fn poll_some<T>(slot: &mut Option<Pin<Box<dyn Future<Output = T> + Send>>>) -> T {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// A gRPC status as `google.rpc.Status`, with the details the unary RPC
/// would send in `grpc-status-details-bin`.
pub fn rpc_status(status: &Status) -> tonic_types::Status {
    if !status.details().is_empty()
        && let Ok(decoded) = tonic_types::Status::decode(status.details())
    {
        return decoded;
    }
    tonic_types::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Vec::new(),
    }
}

/// Logs how a stream ended, and records its code on the stream's span.
pub(crate) fn log_end(tally: &Tally, outcome: &Result<(), Status>, started: std::time::Instant) {
    let code = outcome.as_ref().err().map_or(Code::Ok, Status::code);
    tracing::Span::current().record("code", crate::error::code_name(code));
    info!(
        items = tally.answered,
        failed = tally.failed,
        code = crate::error::code_name(code),
        took_ms = crate::service::elapsed_ms(started),
        "stream ended"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from(uuid::Uuid::from_u128(n))
    }

    fn item(id: &str, user_n: u128) -> Item {
        Item {
            id: id.to_owned(),
            rpc: "SetContacts",
            user: user(user_n),
            operation: Operation::EditContacts {
                input: mapping::ContactsInput {
                    user: UserRef::Id(user(user_n)),
                    contacts: Vec::new(),
                    spam: None,
                },
                edit: crate::people::ContactEdit::Replace,
            },
        }
    }

    #[test]
    fn one_item_per_user_is_ready_and_the_rest_keep_their_order() {
        let mut queue = Queue::new(Arc::default());
        for (id, user) in [("a1", 1), ("b1", 2), ("a2", 1), ("a3", 1), ("b2", 2)] {
            queue.push(item(id, user));
        }
        assert_eq!(queue.len, 5);
        let first = queue.next().unwrap();
        let second = queue.next().unwrap();
        assert_eq!((first.id.as_str(), second.id.as_str()), ("a1", "b1"));
        assert!(
            queue.next().is_none(),
            "a user's second item became ready early"
        );
        queue.finished(user(1));
        assert_eq!(queue.next().unwrap().id, "a2");
        queue.finished(user(2));
        assert_eq!(queue.next().unwrap().id, "b2");
        queue.finished(user(1));
        assert_eq!(queue.next().unwrap().id, "a3");
        queue.finished(user(1));
        queue.finished(user(2));
        assert_eq!(queue.len, 0);
        assert!(queue.behind.is_empty());
    }

    #[test]
    fn ids_are_remembered_exactly() {
        let mut ids = SeenIds::new();
        assert!(ids.insert("a"));
        assert!(ids.insert("b"));
        assert!(!ids.insert("a"));
        assert!(ids.insert("A"));
    }

    #[test]
    fn the_portal_asks_to_wait_with_429_and_with_503_that_says_how_long() {
        let status = |status, retry_after| -> Result<(), GatewayError> {
            Err(GatewayError::Portal(PortalError::Status {
                status,
                message: None,
                field_errors: Vec::new(),
                retry_after,
            }))
        };
        let two = Some(Duration::from_secs(2));
        assert_eq!(portal_asks_to_wait(&status(429, two)), two);
        assert_eq!(portal_asks_to_wait(&status(429, None)), Some(DEFAULT_PAUSE));
        assert_eq!(portal_asks_to_wait(&status(503, two)), two);
        assert_eq!(portal_asks_to_wait(&status(503, None)), None);
        assert_eq!(portal_asks_to_wait(&status(500, two)), None);
        assert_eq!(portal_asks_to_wait(&Ok(())), None);
    }

    #[tokio::test]
    async fn a_pause_holds_every_waiter_until_its_end() {
        let gate = PauseGate::default();
        let started = tokio::time::Instant::now();
        gate.pause_for(Duration::from_millis(300));
        gate.pause_for(Duration::from_millis(100));
        gate.wait().await;
        // The longer pause holds; a slower machine only waits longer.
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn statuses_keep_their_details() {
        let status = Status::from(GatewayError::InvalidArgument(vec![FieldViolation::new(
            "item_id",
            "must not be empty",
        )]));
        let rpc = rpc_status(&status);
        assert_eq!(rpc.code, Code::InvalidArgument as i32);
        assert_eq!(rpc.message, status.message());
        assert!(
            rpc.details
                .iter()
                .any(|detail| detail.type_url.ends_with("google.rpc.BadRequest")),
            "{rpc:?}"
        );
    }
}
