//! Prometheus metrics: the gRPC server's (named as go-grpc-prometheus names
//! them), the portal calls', and the gateway's own (shed calls, lock waits,
//! calls in flight), in one registry per gateway, served as text at
//! `/metrics` on `--metrics-listen`.
//!
//! Longer than the gateway's other files (about 500 lines of code) for a
//! reason: the registry and the tower layer that counts each RPC share the
//! series handles and the bounded method table; apart, the registry's fields
//! would have to be open to the whole crate.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tracing::warn;

use crate::connections::{self, CallOpen, ConnectionInfo, ConnectionLimits};

/// Latency buckets, in seconds: a cheap gateway hop up to a slow portal.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of one gateway.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    started: IntCounterVec,
    handled: IntCounterVec,
    handling: HistogramVec,
    in_flight: IntGauge,
    shed: IntCounter,
    log_lines_dropped: IntCounter,
    portal_requests: IntCounterVec,
    portal_seconds: HistogramVec,
    portal_retries: IntCounterVec,
    lock_wait: HistogramVec,
    sync_items: IntCounterVec,
    sync_queued: IntGauge,
    sync_in_flight: IntGauge,
    sync_streams: IntGauge,
    sync_held_bytes: IntGauge,
    sync_pauses: IntCounter,
    ignored_changes: IntCounterVec,
    writes_skipped: IntCounterVec,
    methods: Arc<std::sync::RwLock<std::collections::HashMap<String, Arc<MethodMetrics>>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds and registers a metric; names and labels are fixed here, so this cannot fail.
fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    #[allow(clippy::expect_used)]
    let metric = metric.expect("metric definitions are valid");
    #[allow(clippy::expect_used)]
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let grpc = ["grpc_service", "grpc_method", "grpc_type"];
        let started = register(
            &registry,
            IntCounterVec::new(
                Opts::new("grpc_server_started_total", "RPCs started on the server."),
                &grpc,
            ),
        );
        let handled = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "grpc_server_handled_total",
                    "RPCs completed on the server, regardless of success or failure.",
                ),
                &["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
            ),
        );
        let handling = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "grpc_server_handling_seconds",
                    "Response latency of RPCs handled by the server.",
                )
                .buckets(BUCKETS.to_vec()),
                &grpc,
            ),
        );
        let in_flight = register(
            &registry,
            IntGauge::new("people_gateway_calls_in_flight", "RPCs being handled now."),
        );
        let shed = register(
            &registry,
            IntCounter::new(
                "people_gateway_shed_total",
                "PeopleService calls refused because --max-concurrency calls were in flight.",
            ),
        );
        let log_lines_dropped = register(
            &registry,
            IntCounter::new(
                "people_gateway_log_lines_dropped_total",
                "Log lines dropped because the log consumer (stderr) did not keep up.",
            ),
        );
        let portal_requests = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "people_gateway_portal_requests_total",
                    "Portal HTTP exchanges by endpoint and outcome (HTTP status, or timeout, unreachable, bad_response, not_sent, abandoned).",
                ),
                &["endpoint", "status"],
            ),
        );
        let portal_seconds = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "people_gateway_portal_request_seconds",
                    "Latency of portal HTTP exchanges, retries included.",
                )
                .buckets(BUCKETS.to_vec()),
                &["endpoint"],
            ),
        );
        let portal_retries = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "people_gateway_portal_retries_total",
                    "Portal requests sent again after a retryable failure.",
                ),
                &["endpoint"],
            ),
        );
        let lock_wait = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "people_gateway_lock_wait_seconds",
                    "Time writes waited for their user's lock and their turn among the writes under way, by outcome (acquired, caller_gone, deadline).",
                )
                .buckets(BUCKETS.to_vec()),
                &["outcome"],
            ),
        );
        let sync_items = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "people_gateway_sync_items_total",
                    "SyncUsers items answered, by operation and gRPC code.",
                ),
                &["operation", "grpc_code"],
            ),
        );
        let sync_queued = register(
            &registry,
            IntGauge::new(
                "people_gateway_sync_queued_items",
                "SyncUsers items received and not yet started, over all streams.",
            ),
        );
        let sync_in_flight = register(
            &registry,
            IntGauge::new(
                "people_gateway_sync_items_in_flight",
                "SyncUsers items being carried out against the portal, over all streams.",
            ),
        );
        let sync_streams = register(
            &registry,
            IntGauge::new("people_gateway_sync_streams", "SyncUsers streams open now."),
        );
        let sync_held_bytes = register(
            &registry,
            IntGauge::new(
                "people_gateway_sync_held_bytes",
                "Bytes of SyncUsers items read and not yet answered, with the room taken for the next read, over all streams.",
            ),
        );
        let sync_pauses = register(
            &registry,
            IntCounter::new(
                "people_gateway_sync_pauses_total",
                "Times the portal asked SyncUsers to wait (429, or 503 with Retry-After).",
            ),
        );
        let ignored_changes = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "people_gateway_portal_ignored_changes_total",
                    "Requested fields a portal write answered without applying, by field and rule set.",
                ),
                &["field", "rules"],
            ),
        );
        let writes_skipped = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "people_gateway_portal_writes_skipped_total",
                    "Writes not sent because the portal already held every requested change, by rule set.",
                ),
                &["rules"],
            ),
        );
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            if let Err(error) = registry.register(Box::new(process)) {
                warn!(%error, "process metrics are not available");
            }
        }
        Self {
            registry,
            started,
            handled,
            handling,
            in_flight,
            shed,
            log_lines_dropped,
            portal_requests,
            portal_seconds,
            portal_retries,
            lock_wait,
            sync_items,
            sync_queued,
            sync_in_flight,
            sync_streams,
            sync_held_bytes,
            sync_pauses,
            ignored_changes,
            writes_skipped,
            methods: Arc::default(),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let dropped = super::logs::dropped_lines();
        let counted = self.log_lines_dropped.get();
        if dropped > counted {
            self.log_lines_dropped.inc_by(dropped - counted);
        }
        let mut text = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            warn!(%error, "metrics could not be encoded");
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// One PeopleService call refused by the load shedder.
    pub fn record_shed(&self) {
        self.shed.inc();
    }

    /// One portal exchange and how it ended.
    pub fn record_portal(&self, endpoint: &str, outcome: &str, took: Duration) {
        self.portal_requests
            .with_label_values(&[endpoint, outcome])
            .inc();
        self.portal_seconds
            .with_label_values(&[endpoint])
            .observe(took.as_secs_f64());
    }

    /// One portal request sent again.
    pub fn record_portal_retry(&self, endpoint: &str) {
        self.portal_retries.with_label_values(&[endpoint]).inc();
    }

    /// One SyncUsers item answered.
    pub fn record_sync_item(&self, operation: &str, code: Code) {
        self.sync_items
            .with_label_values(&[operation, code_label(code)])
            .inc();
    }

    /// SyncUsers items waiting to start: `delta` more (or fewer).
    pub fn add_sync_queued(&self, delta: i64) {
        self.sync_queued.add(delta);
    }

    /// SyncUsers items at the portal: `delta` more (or fewer).
    pub fn add_sync_in_flight(&self, delta: i64) {
        self.sync_in_flight.add(delta);
    }

    /// SyncUsers streams open: `delta` more (or fewer).
    pub fn add_sync_streams(&self, delta: i64) {
        self.sync_streams.add(delta);
    }

    /// Bytes of SyncUsers items held: `delta` more (or fewer).
    pub fn add_sync_held_bytes(&self, delta: i64) {
        self.sync_held_bytes.add(delta);
    }

    /// The portal asked SyncUsers to wait.
    pub fn record_sync_pause(&self) {
        self.sync_pauses.inc();
    }

    /// One requested field a portal write did not apply.
    pub fn record_ignored_change(&self, field: &str, rules: &str) {
        self.ignored_changes
            .with_label_values(&[field, rules])
            .inc();
    }

    /// One write not sent: the portal already held the change.
    pub fn record_write_skipped(&self, rules: &str) {
        self.writes_skipped.with_label_values(&[rules]).inc();
    }

    /// One wait for a user's lock.
    pub fn record_lock_wait(&self, outcome: &str, took: Duration) {
        self.lock_wait
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }
}

/// How long a scrape's request head may take to arrive, at most: a scraper
/// sends it at once.
const METRICS_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `/metrics` on `listener` until `shutdown` completes, as bounded as
/// the gRPC port: at most `limits.max_connections` connections, each closed
/// once silent for `limits.idle_timeout`, and a request head must arrive in
/// full within that time or 10 s, whichever is shorter (a byte at a time
/// holds no connection).
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut incoming = connections::accept(listener, limits);
    tokio::pin!(shutdown);
    loop {
        let connection = tokio::select! {
            () = &mut shutdown => return Ok(()),
            next = incoming.next() => match next {
                Some(Ok(connection)) => connection,
                Some(Err(_)) => continue,
                None => return Ok(()),
            },
        };
        let metrics = Arc::clone(&metrics);
        let scrape = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let answer = scrape_answer(&metrics, &request);
            async move { Ok::<_, std::convert::Infallible>(answer) }
        });
        let serving = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.idle_timeout.min(METRICS_HEAD_TIMEOUT))
            .serve_connection(TokioIo::new(connection), scrape);
        tokio::spawn(async move {
            // A connection that fails or times out just ends.
            let _ = serving.await;
        });
    }
}

/// The answer to one request on the metrics port: the exposition at
/// `GET /metrics`, 404 elsewhere.
fn scrape_answer<B>(
    metrics: &Metrics,
    request: &http::Request<B>,
) -> http::Response<Full<bytes::Bytes>> {
    let found = request.method() == http::Method::GET && request.uri().path() == "/metrics";
    let (status, content_type, body) = if found {
        (
            http::StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        )
    } else {
        (
            http::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            String::new(),
        )
    };
    let mut answer = http::Response::new(Full::new(bytes::Bytes::from(body)));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    answer
}

/// The tower layer that counts and times every RPC.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

/// Counts and times every RPC: started when the request comes, handled (with
/// its code) when the response's last frame has gone, or when the caller leaves.
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    ResBody: HttpBody,
{
    type Response = http::Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut rpc = Rpc::new(request.uri().path(), Arc::clone(&self.metrics));
        // The call holds its connection open for as long as it is counted.
        rpc.connection = ConnectionInfo::of(request.extensions()).map(ConnectionInfo::call_open);
        Counted {
            response: self.inner.call(request),
            rpc: Some(rpc),
        }
    }
}

pin_project_lite::pin_project! {
    /// One call's answer coming, counted; the count moves into the answer's
    /// body, which finishes it with the last frame. Inline in the server's
    /// own box rather than boxed again: every call in flight has one.
    pub struct Counted<F> {
        #[pin]
        response: F,
        // Dropped unfinished (the call failed or its caller left): cancelled.
        rpc: Option<Rpc>,
    }
}

impl<F, ResBody, E> Future for Counted<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<MetricsBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.response.poll(cx))?;
        // Trailers-only answers (errors) carry the status in the headers.
        let code = grpc_code(response.headers());
        let (parts, body) = response.into_parts();
        Poll::Ready(Ok(http::Response::from_parts(
            parts,
            MetricsBody {
                inner: body,
                rpc: this.rpc.take(),
                code,
            },
        )))
    }
}

/// The path calls to any method the server does not serve are counted under:
/// invented paths add no series, however many or long, and cannot crowd out
/// a real method.
const UNKNOWN_METHOD: &str = "/unknown/unknown";

/// Where an answer's gRPC status is: the trailers, or the headers of a
/// trailers-only answer.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The gRPC status code in `headers` (or trailers), when one is there.
fn grpc_code(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get(GRPC_STATUS)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from)
}

/// The methods the server serves, by path: PeopleService and Health from
/// their descriptors, and both reflection versions.
fn served_methods() -> &'static HashSet<String> {
    static SERVED: OnceLock<HashSet<String>> = OnceLock::new();
    SERVED.get_or_init(|| {
        use prost::Message as _;
        let mut served: HashSet<String> = [
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for encoded in [
            crate::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else {
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    for method in &service.method {
                        served.insert(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        served
    })
}

/// The metric handles of one method, resolved once.
#[derive(Debug)]
struct MethodMetrics {
    labels: [String; 3],
    started: prometheus::IntCounter,
    handling: prometheus::Histogram,
    /// By `Code as usize`, resolved on first use.
    handled: [std::sync::OnceLock<prometheus::IntCounter>; 17],
}

impl Metrics {
    /// The handles of the method `path` names, made on its first call.
    fn method(&self, path: &str) -> Arc<MethodMetrics> {
        if let Some(found) = self
            .methods
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(path)
        {
            return Arc::clone(found);
        }
        let key = if served_methods().contains(path) {
            path
        } else {
            UNKNOWN_METHOD
        };
        let mut methods = self
            .methods
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let metrics = methods
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(self.method_metrics(key)));
        Arc::clone(metrics)
    }

    fn method_metrics(&self, path: &str) -> MethodMetrics {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("unknown", "unknown"));
        let kind = method_kind(service, method);
        let labels = [service.to_owned(), method.to_owned(), kind.to_owned()];
        MethodMetrics {
            started: self.started.with_label_values(&labels),
            handling: self.handling.with_label_values(&labels),
            handled: Default::default(),
            labels,
        }
    }
}

/// How a method streams, as its descriptor says (checked against the
/// descriptors in the tests); unknown paths count as unary.
fn method_kind(service: &str, method: &str) -> &'static str {
    match (service, method) {
        (_, "ServerReflectionInfo") => "bidi_stream",
        ("onlyoffice.people.v1.PeopleService", "SyncUsers") => "bidi_stream",
        ("grpc.health.v1.Health", "Watch") => "server_stream",
        _ => "unary",
    }
}

/// One RPC being counted; one that is dropped before it is finished (its
/// caller left before the answer, or its connection closed) counts as
/// cancelled, so the in-flight gauge never keeps it.
#[derive(Debug)]
struct Rpc {
    method: Arc<MethodMetrics>,
    started: Instant,
    metrics: Arc<Metrics>,
    finished: bool,
    /// The call counted open on its connection.
    connection: Option<CallOpen>,
}

impl Rpc {
    fn new(path: &str, metrics: Arc<Metrics>) -> Self {
        let method = metrics.method(path);
        method.started.inc();
        metrics.in_flight.inc();
        Self {
            method,
            started: Instant::now(),
            metrics,
            finished: false,
            connection: None,
        }
    }

    fn finish(mut self, code: Code) {
        self.record(code);
    }

    fn record(&mut self, code: Code) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let [service, method, kind] = &self.method.labels;
        self.method.handled[code as usize]
            .get_or_init(|| {
                self.metrics
                    .handled
                    .with_label_values(&[service, method, kind, code_label(code)])
            })
            .inc();
        self.method
            .handling
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics.in_flight.dec();
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

/// go-grpc-prometheus labels codes by their Go names.
fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// A response body that reports its RPC as handled once its last frame
/// (the trailers with `grpc-status`) has gone, or as cancelled if dropped early.
#[derive(Debug)]
pub struct MetricsBody<B> {
    inner: B,
    rpc: Option<Rpc>,
    code: Option<Code>,
}

impl<B: HttpBody + Unpin> HttpBody for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_code) {
                    self.code = Some(code);
                }
            }
            Some(Err(_)) => self.code = Some(Code::Internal),
            None => {}
        }
        if frame.is_none() || self.inner.is_end_stream() {
            let code = self.code.unwrap_or(Code::Unknown);
            if let Some(rpc) = self.rpc.take() {
                rpc.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body of no RPC (a CORS preflight's answer, made by a layer outside this one).
impl<B: Default> Default for MetricsBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
            rpc: None,
            code: None,
        }
    }
}

impl<B> Drop for MetricsBody<B> {
    fn drop(&mut self) {
        if let Some(rpc) = self.rpc.take() {
            // Trailers-only answers end with the headers; others were cut short.
            rpc.finish(self.code.unwrap_or(Code::Cancelled));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_labelled_with_the_kind_its_descriptor_gives() {
        use prost::Message as _;
        let sets = [
            crate::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ];
        let mut seen = 0;
        for encoded in sets {
            let set = prost_types::FileDescriptorSet::decode(encoded).unwrap();
            for file in &set.file {
                for service in &file.service {
                    let name = format!("{}.{}", file.package(), service.name());
                    for method in &service.method {
                        let expected = match (method.client_streaming(), method.server_streaming())
                        {
                            (true, true) => "bidi_stream",
                            (false, true) => "server_stream",
                            (true, false) => "client_stream",
                            (false, false) => "unary",
                        };
                        assert_eq!(
                            method_kind(&name, method.name()),
                            expected,
                            "{name}/{}",
                            method.name()
                        );
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 8, "{seen} methods");
    }

    #[test]
    fn invented_method_paths_add_no_series_and_real_methods_keep_their_names() {
        let metrics = Arc::new(Metrics::new());
        for n in 0..500 {
            let path = format!("/evil.Service/{}{n}", "M".repeat(40 * 1024));
            Rpc::new(&path, Arc::clone(&metrics)).finish(Code::Unimplemented);
        }
        Rpc::new(
            "/onlyoffice.people.v1.PeopleService/GetUser",
            Arc::clone(&metrics),
        )
        .finish(Code::Ok);
        assert_eq!(metrics.methods.read().unwrap().len(), 2);
        let text = metrics.render();
        assert!(text.len() < 512 * 1024, "{} bytes", text.len());
        assert!(text.contains("grpc_method=\"unknown\""));
        assert!(text.contains("grpc_method=\"GetUser\""));
    }
}
