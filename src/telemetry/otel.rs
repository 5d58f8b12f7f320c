//! OpenTelemetry export, when `--otlp-endpoint` is set: the gateway's spans
//! (one per call, one per portal exchange) go over OTLP/gRPC to a collector.
//! A caller's `traceparent` becomes the remote parent of the call's span, and
//! each portal request carries the `traceparent` of its exchange span, so the
//! collector sees caller → gateway → portal as one trace. Without an
//! endpoint, nothing here runs and `trace` makes the ids up itself.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::registry::LookupSpan;

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct OtelError(String);

/// The tracer provider behind the layer; flush it before the process ends.
pub type Provider = SdkTracerProvider;

/// A provider exporting to `endpoint` (e.g. `http://collector:4317`) in batches
/// on the tokio runtime. Call inside the runtime.
pub fn provider(endpoint: &str) -> Result<Provider, OtelError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|error| OtelError(error.to_string()))?;
    let batches = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_resource(
            Resource::builder()
                .with_service_name("people-gateway")
                .build(),
        )
        .build())
}

/// Set once a layer is made: from then on spans are exported.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports spans. Without export the gateway makes no
/// span that only a collector would see (the portal exchange's) and asks
/// OpenTelemetry for no ids: each would cost every call for nothing.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The tracing layer that records spans into `provider`.
pub fn layer<S>(
    provider: &Provider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    EXPORTING.store(true, Ordering::Relaxed);
    tracing_opentelemetry::layer().with_tracer(provider.tracer("people-gateway"))
}

/// Makes the caller's span (from its `traceparent`) the remote parent of `span`.
pub fn continue_trace(span: &Span, trace_id: [u8; 16], parent_id: [u8; 8], sampled: bool) {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(
        TraceId::from_bytes(trace_id),
        SpanId::from_bytes(parent_id),
        flags,
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}

/// The trace id OpenTelemetry gave `span`, when it records it.
pub fn trace_id_of(span: &Span) -> Option<[u8; 16]> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_bytes())
}

/// The `traceparent` of the current span, when OpenTelemetry records it.
pub fn current_traceparent() -> Option<String> {
    let context = Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}
