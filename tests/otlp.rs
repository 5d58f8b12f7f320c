//! OTLP export, in a process of its own (it installs the global subscriber):
//! with `--otlp-endpoint`, the call's span continues the caller's trace, and
//! each portal request carries the span id of its own exchange span, so a
//! collector sees caller → gateway → portal as one trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e/harness.rs"]
#[allow(dead_code, unused_imports)]
mod harness;

use std::sync::{Arc, Mutex};

use harness::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use people_gateway::telemetry::{logs, otel};

/// A collector that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_as_one_trace_with_the_portal_requests() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let provider = otel::provider(&endpoint).unwrap();
    let subscriber = logs::subscriber(
        logs::LogFormat::Text,
        tracing_subscriber::EnvFilter::new("info"),
        std::io::sink,
        false,
        Some(&provider),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let gateway = Gateway::workspace().await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let mut request = as_user(
        seed::ADMIN_TOKEN,
        pb::GetUserRequest {
            user_id: seed::USER_ID.into(),
        },
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-01").parse().unwrap(),
    );
    gateway.client.clone().get_user(request).await.unwrap();

    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.0.lock().unwrap().clone();

    let rpc = spans
        .iter()
        .find(|span| span.name == "rpc")
        .expect("the call's span was exported");
    assert_eq!(hex(&rpc.trace_id), trace_id);
    assert_eq!(hex(&rpc.parent_span_id), caller_span);

    let portal_request = &gateway.portal_requests()[0];
    let sent = portal_request.header("traceparent").unwrap();
    let parts: Vec<_> = sent.split('-').collect();
    assert_eq!(parts[1], trace_id);
    let exchange = spans
        .iter()
        .find(|span| span.name == "exchange")
        .expect("the portal exchange's span was exported");
    assert_eq!(hex(&exchange.trace_id), trace_id);
    assert_eq!(
        parts[2],
        hex(&exchange.span_id),
        "the portal request names its own span"
    );
    let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
}
