//! Bulk sync: what a `SyncUsers` stream adds to the unary operations. It
//! reads items ahead into a queue bounded in items and in bytes, per stream
//! and gateway-wide (beyond it the gateway reads no more, and HTTP/2 flow
//! control blocks the sender), keeps each user's items
//! in arrival order (`queue`), starts at most `--bulk-concurrency` items per
//! stream and `--bulk-max-in-flight` over all streams, pauses the streams of
//! a credential while the portal asks it to wait (`pause`), and answers each item exactly
//! once (`stream`). Each item is carried out by
//! [`Operations::perform`](crate::operations::Operations::perform), exactly
//! as its unary RPC would be.

mod pause;
mod queue;
mod stream;

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::{Instrument as _, info};

use crate::caller::{Callers, call_span, echo_request_id, elapsed_ms, with_request_id};
use crate::error::GatewayError;
use crate::operations::{Operations, Stopper};
use crate::pb;
use crate::telemetry::trace::CallTrace;
use pause::{PauseGate, Pauses};
use queue::HeldBytes;
use stream::SyncStream;

/// Longest `item_id`, in bytes.
pub const MAX_ITEM_ID_BYTES: usize = 128;

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
    /// Streams one caller may hold open at once (`--bulk-max-streams-per-caller`).
    pub max_streams_per_caller: usize,
    /// The largest item, in bytes (`--max-message-size`).
    pub max_item_bytes: usize,
    /// Bytes of items one stream holds, read and not yet answered (`--bulk-stream-bytes`).
    pub stream_bytes: usize,
    /// Bytes of items all streams hold (`--bulk-max-bytes`).
    pub max_bytes: usize,
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
            max_streams_per_caller: 16,
            max_item_bytes: 1024 * 1024,
            stream_bytes: 2 * 1024 * 1024,
            max_bytes: 128 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What every stream of one gateway shares: the limits, the portal-wide
/// cap, the pauses the portal asked for, and the signal that shutdown began.
#[derive(Debug, Clone)]
pub struct Bulk {
    settings: BulkSettings,
    in_flight: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    item_bytes: Arc<Semaphore>,
    shares: Arc<Shares>,
    pauses: Arc<Pauses>,
    draining: CancellationToken,
    stopper: Stopper,
}

impl Bulk {
    /// Shared state for streams within `settings`, stopped by `stopper`
    /// when shutdown's grace period is over.
    pub fn new(settings: BulkSettings, stopper: Stopper) -> Self {
        Self {
            settings,
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            streams: Arc::new(Semaphore::new(settings.max_streams.max(1))),
            // Never below one largest item, which a stream must be able to read.
            item_bytes: Arc::new(Semaphore::new(
                settings
                    .max_bytes
                    .max(settings.max_item_bytes)
                    .min(Semaphore::MAX_PERMITS),
            )),
            shares: Arc::new(Shares::new(settings.max_streams_per_caller.max(1))),
            pauses: Arc::default(),
            draining: CancellationToken::new(),
            stopper,
        }
    }

    /// Opens one SyncUsers stream: checks its credential (one that every
    /// item would fail with ends it at once) and takes a place among the
    /// streams, then runs it on its own task, answering through the response.
    pub fn open(
        &self,
        operations: Operations,
        callers: &Callers,
        request: Request<Streaming<pb::SyncUsersRequest>>,
    ) -> Result<Response<ReceiverStream<Result<pb::SyncUsersResponse, Status>>>, Status> {
        let mut trace = CallTrace::from_metadata(request.metadata());
        let request_id = trace.request_id().to_owned();
        let (metadata, extensions, inbound) = request.into_parts();
        let refused = |error: GatewayError| with_request_id(error.into(), &request_id);
        let call = callers.call(&metadata, &extensions).map_err(refused)?;
        let share = self
            .shares
            .take(caller_key(&metadata, &extensions, &call))
            .map_err(refused)?;
        let place = self.open_stream().map_err(refused)?;
        let (out, answers) = tokio::sync::mpsc::channel(1);
        let metrics = operations.metrics();
        let stream = SyncStream::new(operations, self.clone(), metadata, call);
        let stopper = self.stopper.clone();
        let span = call_span("SyncUsers", &mut trace);
        let echoed_id = request_id.clone();
        let work = async move {
            let _place = (place, share);
            let _counted = stopper.count();
            metrics.add_sync_streams(1);
            let started = std::time::Instant::now();
            let mut tally = Tally::default();
            let ended = stream
                .run(inbound, out.clone(), stopper.stopped(), &mut tally)
                .await;
            log_end(&tally, &ended, started);
            metrics.add_sync_streams(-1);
            if let Err(status) = ended {
                let _ = out.send(Err(with_request_id(status, &echoed_id))).await;
            }
        };
        tokio::spawn(trace.scope(work).instrument(span));
        let mut response = Response::new(ReceiverStream::new(answers));
        echo_request_id(response.metadata_mut(), &request_id);
        Ok(response)
    }

    /// Cancelled when the server begins to shut down: streams stop reading,
    /// answer their queued items SHUTTING_DOWN and end once the items at the
    /// portal are answered.
    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// A place for one more stream, if there is one.
    fn open_stream(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        Arc::clone(&self.streams)
            .try_acquire_owned()
            .map_err(|_| GatewayError::TooManyStreams)
    }

    /// Room to read one more item of the largest size, from the stream's
    /// budget and the gateway's; what the item does not need is given back
    /// once it is read.
    async fn reserve(
        stream: Arc<Semaphore>,
        gateway: Arc<Semaphore>,
        bytes: usize,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
    ) -> HeldBytes {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        // Neither is ever closed; should one be, nothing more is read.
        let Ok(stream) = stream.acquire_many_owned(bytes).await else {
            return std::future::pending().await;
        };
        let Ok(gateway) = gateway.acquire_many_owned(bytes).await else {
            return std::future::pending().await;
        };
        metrics.add_sync_held_bytes(i64::from(bytes));
        HeldBytes {
            stream,
            gateway,
            metrics,
        }
    }

    /// Waits out any pause, then for a place among the items at the portal.
    async fn start_permit(in_flight: Arc<Semaphore>, pause: PauseGate) -> OwnedSemaphorePermit {
        pause.wait().await;
        match in_flight.acquire_owned().await {
            Ok(permit) => permit,
            // Never closed; should it be, nothing starts any more.
            Err(_) => std::future::pending().await,
        }
    }
}

/// Who holds a stream place: the caller's own credential, or, for a call
/// that carries none (and acts with `--portal-token`), the address it calls from.
#[derive(Debug, Hash)]
enum CallerKey<'a> {
    Credential(&'a crate::domain::Credential),
    Connection(Option<std::net::IpAddr>),
}

fn caller_key<'a>(
    metadata: &tonic::metadata::MetadataMap,
    extensions: &tonic::Extensions,
    call: &'a crate::domain::Call,
) -> CallerKey<'a> {
    if crate::caller::carries_own_credential(metadata) {
        CallerKey::Credential(&call.credential)
    } else {
        // By address, not port: opening more connections earns no more places.
        CallerKey::Connection(
            crate::connections::ConnectionInfo::of(extensions)
                .and_then(crate::connections::ConnectionInfo::remote_addr)
                .map(|address| address.ip()),
        )
    }
}

/// The stream places each caller holds (by a keyed hash of the caller, so
/// the table holds no credential), at most `per_caller` each.
#[derive(Debug)]
struct Shares {
    per_caller: usize,
    keys: RandomState,
    held: Mutex<HashMap<u64, usize>>,
}

impl Shares {
    fn new(per_caller: usize) -> Self {
        Self {
            per_caller,
            keys: RandomState::new(),
            held: Mutex::default(),
        }
    }

    /// One more place for `caller`, unless it holds its share.
    fn take(self: &Arc<Self>, caller: CallerKey<'_>) -> Result<SharePlace, GatewayError> {
        use std::hash::BuildHasher as _;
        let key = self.keys.hash_one(&caller);
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let count = held.entry(key).or_default();
        if *count >= self.per_caller {
            return Err(GatewayError::CallerStreamShare(self.per_caller));
        }
        *count += 1;
        Ok(SharePlace {
            shares: Arc::clone(self),
            key,
        })
    }
}

/// One place of a caller's share, given back when dropped.
#[derive(Debug)]
struct SharePlace {
    shares: Arc<Shares>,
    key: u64,
}

impl Drop for SharePlace {
    fn drop(&mut self) {
        let mut held = self
            .shares
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// How a stream went, for its log line.
#[derive(Debug, Default)]
struct Tally {
    /// Items answered.
    pub answered: u64,
    /// Items answered with an error.
    pub failed: u64,
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
fn log_end(tally: &Tally, outcome: &Result<(), Status>, started: std::time::Instant) {
    let code = outcome.as_ref().err().map_or(Code::Ok, Status::code);
    tracing::Span::current().record(
        "code",
        tracing::field::display(crate::status::code_name(code)),
    );
    info!(
        items = tally.answered,
        failed = tally.failed,
        code = %crate::status::code_name(code),
        took_ms = elapsed_ms(started),
        "stream ended"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldViolation;

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
