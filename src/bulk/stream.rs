//! One SyncUsers stream from its first item to its end: reading ahead,
//! checking each item as its unary RPC would, starting items within the
//! limits, and answering each exactly once.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tracing::debug;

use super::pause::{PauseGate, waiting_out_pauses};
use super::queue::{AtPortal, HeldBytes, Item, Queue, SeenIds};
use super::{Bulk, MAX_ITEM_ID_BYTES, Tally, rpc_status};
use crate::caller::check_routing_key;
use crate::domain::{Call, UserId, UserRef};
use crate::error::{FieldViolation, GatewayError};
use crate::mapping;
use crate::operations::{Operation, Operations, UserRecord};
use crate::pb::{self, sync_users_response};
use crate::status::is_oversized_message;
use crate::telemetry::metrics::Metrics;

type Running = Pin<Box<dyn Future<Output = (Item, Result<UserRecord, GatewayError>)> + Send>>;
type Resolving = Pin<Box<dyn Future<Output = Result<UserId, GatewayError>> + Send>>;
type Starting = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;
type Reserving = Pin<Box<dyn Future<Output = HeldBytes> + Send>>;
/// One answer on the stream, or the status it ends with.
type Answer = Result<pb::SyncUsersResponse, Status>;

/// One `SyncUsers` stream, from its first item to its end.
pub(super) struct SyncStream {
    operations: Operations,
    bulk: Bulk,
    metadata: MetadataMap,
    call: Call,
    metrics: Arc<Metrics>,
    /// The pause of this stream's credential.
    pause: PauseGate,
}

impl SyncStream {
    /// A stream of `bulk`'s, carried out by `operations`, with the stream's
    /// metadata and call (credential, deadline).
    pub(super) fn new(
        operations: Operations,
        bulk: Bulk,
        metadata: MetadataMap,
        call: Call,
    ) -> Self {
        let metrics = operations.metrics();
        let pause = bulk.pauses.gate(&call.credential);
        Self {
            operations,
            bulk,
            metadata,
            call,
            metrics,
            pause,
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
    pub(super) async fn run(
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
        // Room for the next item, taken before it is read.
        let stream_bytes = Arc::new(tokio::sync::Semaphore::new(
            settings
                .stream_bytes
                .max(settings.max_item_bytes)
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        let mut reserving: Option<Reserving> = None;
        let mut reserved: Option<HeldBytes> = None;
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
                    self.pause.clone(),
                )));
            }
            let can_read = reading
                && resolving.is_none()
                && queue.len < settings.queue
                && outbox.len() < outbox_limit;
            if !can_read {
                // Room is held only while the stream would read.
                reserving = None;
                reserved = None;
            } else if reserved.is_none() && reserving.is_none() {
                reserving = Some(Box::pin(Bulk::reserve(
                    Arc::clone(&stream_bytes),
                    Arc::clone(&self.bulk.item_bytes),
                    settings.max_item_bytes,
                    Arc::clone(&self.metrics),
                )));
            }
            // Waiting for room to read, the stream waits on others, not on its caller.
            let doing_nothing = resolving.is_none()
                && queue.len == 0
                && running.is_empty()
                && outbox.is_empty()
                && reserving.is_none();
            // Answers the caller does not take hold everything behind them.
            let answers_not_taken = outbox.len() >= outbox_limit;
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
                    self.answer_unstarted(&mut queue, &mut resolving, &mut awaiting_me, &mut outbox, tally, || GatewayError::ShuttingDown);
                }
                () = draining.cancelled(), if reading || queue.len > 0 || resolving.is_some() => {
                    if reading {
                        ending = Some(Status::from(GatewayError::ShuttingDown));
                    }
                    reading = false;
                    self.answer_unstarted(&mut queue, &mut resolving, &mut awaiting_me, &mut outbox, tally, || GatewayError::ShuttingDown);
                }
                () = &mut deadline => return Err(Status::from(GatewayError::DeadlineExceeded)),
                () = &mut idle, if doing_nothing || answers_not_taken => {
                    return Err(Status::from(if answers_not_taken {
                        GatewayError::AnswersNotTaken(settings.idle_timeout)
                    } else {
                        GatewayError::StreamIdle(settings.idle_timeout)
                    }));
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
                room = poll_some(&mut reserving), if reserving.is_some() => {
                    reserving = None;
                    reserved = Some(room);
                }
                permit = poll_some(&mut starting), if starting.is_some() => {
                    starting = None;
                    if let Some(item) = queue.next() {
                        at_portal.insert(item.id.clone(), item.rpc);
                        running.push(self.start(item, permit));
                    }
                }
                message = inbound.next(), if can_read && reserved.is_some() => match message {
                    None => reading = false,
                    // The caller sent more than the gateway takes: the items
                    // read before it are still carried out and answered.
                    Some(Err(status)) if is_oversized_message(&status) => {
                        reading = false;
                        ending = Some(Status::from(GatewayError::MessageTooLarge));
                    }
                    // The caller's half broke off (a reset, a broken frame):
                    // nothing more is started. A caller that is gone gets
                    // nothing; one still listening hears about every item it
                    // sent: those not started now, those at the portal as
                    // they finish.
                    Some(Err(status)) => {
                        if out.is_closed() {
                            return Err(status);
                        }
                        reading = false;
                        ending = Some(status);
                        self.answer_unstarted(&mut queue, &mut resolving, &mut awaiting_me, &mut outbox, tally, || GatewayError::StreamBroken);
                    }
                    Some(Ok(request)) => {
                        let held = reserved.take().map(|room| keep(room, request.encoded_len()));
                        received += 1;
                        if received > settings.max_items {
                            reading = false;
                            ending = Some(Status::from(GatewayError::TooManyItems(settings.max_items)));
                            outbox.push_back(self.answer(tally, &request.item_id, "none", Err(GatewayError::TooManyItems(settings.max_items))));
                            continue;
                        }
                        match self.accept(request, &mut ids, me) {
                            Accepted::Queued(item) => queue.push(Item { held, ..item }),
                            Accepted::NeedsMe(item) => {
                                awaiting_me = Some(Item { held, ..item });
                                resolving = Some(self.resolve_me());
                            }
                            Accepted::Refused { id, rpc, error } => outbox.push_back(self.answer(tally, &id, rpc, Err(error))),
                        }
                    }
                },
            }
        }
    }

    /// Answers every item read and not started (queued, or waiting for
    /// `@self` to be known) with `error`; none of them starts after.
    fn answer_unstarted(
        &self,
        queue: &mut Queue,
        resolving: &mut Option<Resolving>,
        awaiting_me: &mut Option<Item>,
        outbox: &mut VecDeque<pb::SyncUsersResponse>,
        tally: &mut Tally,
        error: fn() -> GatewayError,
    ) {
        *resolving = None;
        let mut unstarted = queue.take_all();
        unstarted.extend(awaiting_me.take());
        for item in unstarted {
            outbox.push_back(self.answer(tally, &item.id, item.rpc, Err(error())));
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
        let (rpc, operation) = match mapping::sync_item(operation) {
            Err(error) => ("none", Err(error)),
            Ok((rpc, user_id, item)) => (
                rpc,
                check_routing_key(&self.metadata, &user_id)
                    .and_then(|()| Operation::try_from(item)),
            ),
        };
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
                // An over-long id is echoed cut to the limit: an answer costs
                // no more than a valid item's.
                id: cut_to(item_id, MAX_ITEM_ID_BYTES),
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
                    held: None,
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
            held: None,
            id: item_id,
            rpc,
            user,
            operation,
        })
    }

    /// Learns which user `@self` is, so that its items queue behind that
    /// user's other items whichever way they name it. Reading stops meanwhile.
    fn resolve_me(&self) -> Resolving {
        let operations = self.operations.clone();
        let call = item_call(&self.call);
        let pause = self.pause.clone();
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            waiting_out_pauses(&pause, &metrics, call.deadline, || operations.whoami(&call)).await
        })
    }

    /// Carries out an item at the portal, holding its place among the
    /// portal-wide items until it is answered.
    fn start(&self, item: Item, permit: OwnedSemaphorePermit) -> Running {
        let operations = self.operations.clone();
        let stream_call = self.call.clone();
        let pause = self.pause.clone();
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            let _at_portal = AtPortal::new(&metrics);
            let result = waiting_out_pauses(&pause, &metrics, stream_call.deadline, || {
                operations.perform(item_call(&stream_call), item.operation.clone())
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
        result: Result<UserRecord, GatewayError>,
    ) -> pb::SyncUsersResponse {
        tally.answered += 1;
        let result = match result {
            Ok(user) => {
                self.metrics.record_sync_item(rpc, Code::Ok);
                sync_users_response::Result::User(pb::User::from(user))
            }
            Err(error) => {
                tally.failed += 1;
                let status = Status::from(error);
                self.metrics.record_sync_item(rpc, status.code());
                debug!(rpc = %rpc, code = %crate::status::code_name(status.code()), "item failed");
                sync_users_response::Result::Error(rpc_status(&status))
            }
        };
        pb::SyncUsersResponse {
            item_id: id.to_owned(),
            result: Some(result),
        }
    }
}

/// The stream's call for one attempt at an item: a departure of its own
/// (an attempt's end signals it), which the stream's, if ever signalled,
/// reaches too.
fn item_call(stream: &Call) -> Call {
    Call {
        gone: stream.gone.child(),
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

/// `text` cut to at most `bytes`, at a character boundary.
fn cut_to(mut text: String, bytes: usize) -> String {
    if text.len() > bytes {
        let mut end = bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Of the room taken for an item, what it holds: its encoded size; the rest
/// goes back.
fn keep(mut room: HeldBytes, size: usize) -> HeldBytes {
    let size = size.max(1);
    // The room is one largest item, so an item always fits; should one not,
    // it keeps the whole room.
    if room.stream.num_permits() < size || room.gateway.num_permits() < size {
        return room;
    }
    let (Some(stream), Some(gateway)) = (room.stream.split(size), room.gateway.split(size)) else {
        return room;
    };
    HeldBytes {
        stream,
        gateway,
        metrics: Arc::clone(&room.metrics),
    }
}

/// Waits for the future in `slot`; `select!` polls it only while there is one.
async fn poll_some<T>(slot: &mut Option<Pin<Box<dyn Future<Output = T> + Send>>>) -> T {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
