//! Serving: the tonic server with PeopleService, `grpc.health.v1` and server
//! reflection (v1 and v1alpha), on a listener the caller already bound, until
//! a shutdown signal; then in-flight calls get a grace period to finish. Every
//! bound on what callers can ask of the server is applied here, in one place:
//! connections, streams, header and message sizes, keepalive, TLS, and the
//! tower stack in front of PeopleService (its values come from `settings`).
//! [`run`] is the binary's way in: it builds all this from the command line.

pub mod run;
mod settings;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Server;
use tower::{BoxError, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::connections::{self};
use crate::deadline::{Arrival, DeadlineLayer};
use crate::domain::Credential;
use crate::error::{FieldViolation, GatewayError};
use crate::pb::{self, people_service_server::PeopleServiceServer};
use crate::people::{People, PortalSetup};
use crate::portal::{PortalClient, PortalSettings};
use crate::readiness::{self, Readiness};
use crate::receive::ReceiveLayer;
use crate::service::PeopleApi;
use crate::status::{is_malformed_frame, is_oversized_message};
use crate::telemetry::metrics::{GrpcMetricsLayer, Metrics};

pub use settings::{ServeError, ServeSettings};

/// Builds the People API for one portal.
pub fn people_api(
    settings: &PortalSettings,
    setup: impl Into<PortalSetup>,
    fallback_credential: Option<Credential>,
) -> Result<PeopleApi, ServeError> {
    let portal = PortalClient::new(settings, Arc::new(Metrics::new()))?;
    Ok(PeopleApi::new(
        People::new(portal, setup.into()),
        fallback_credential,
    ))
}

/// Serves until `shutdown` completes, then waits for in-flight calls.
pub async fn serve(
    listener: TcpListener,
    api: PeopleApi,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let metrics = api.operations().metrics();
    let (health, health_service) = readiness::health();
    let stop_probing = CancellationToken::new();
    // The probe ends with the server, however the server ends.
    let _stop_probing_on_exit = stop_probing.clone().drop_guard();
    match settings.readiness_interval {
        Some(interval) => {
            let readiness = Readiness::new(
                api.operations().people().portal().clone(),
                health.clone(),
                interval,
            );
            let ready = readiness.check_once().await;
            tokio::spawn(readiness.run(ready, stop_probing.clone()));
        }
        None => readiness::always_ready(&health).await,
    }

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    // grpcurl up to 1.8.7 speaks only v1alpha.
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let writes = api.operations().pending_writes();
    let sync_draining = api.bulk().draining();
    let stop_serving = async move {
        shutdown.await;
        // SyncUsers streams stop reading and end once their started items are answered.
        sync_draining.cancel();
        // Tell health checkers first, so balancers stop sending new calls.
        stop_probing.cancel();
        readiness::stop_serving(&health).await;
    };

    // PeopleService's own layers, read top to bottom as a call passes
    // through, after the server-wide ones below (health and reflection stay
    // outside these limits).
    let max_metadata = settings.max_header_list_size as usize;
    // Routed under PeopleService's name; refusals of the layers below become gRPC statuses.
    let people = PeopleRoute {
        metrics: Arc::clone(&metrics),
        inner: ServiceBuilder::new()
            // Metadata over the limit: RESOURCE_EXHAUSTED (HTTP/2 itself only
            // refuses such a stream at eight times the limit).
            .filter(move |request: http::Request<Body>| {
                if header_list_size(request.headers()) > max_metadata {
                    Err(GatewayError::MetadataTooLarge)
                } else {
                    Ok(request)
                }
            })
            // tonic answers an over-size message OUT_OF_RANGE and a malformed
            // frame INTERNAL; the contract says RESOURCE_EXHAUSTED and INVALID_ARGUMENT.
            .map_response(callers_faults_are_theirs)
            // The caller's deadline, from the moment its headers arrived.
            .layer(DeadlineLayer)
            // A unary request arrives in full (bounded in bytes and time)
            // before it takes a slot: an unfinished one holds none.
            .layer(ReceiveLayer::new(
                settings.receive_budget,
                settings.max_message_size,
                settings.receive_timeout,
            ))
            // Beyond the limit, refuse at once instead of queueing.
            .load_shed()
            .concurrency_limit(settings.max_concurrency)
            .service(
                PeopleServiceServer::new(api).max_decoding_message_size(settings.max_message_size),
            ),
    };

    // Every service, read top to bottom as a request passes through (before
    // PeopleService's own layers above):
    let mut server = transport(&settings)
        // The moment a call arrived: its deadline counts from there.
        .layer(tower::util::MapRequestLayer::new(Arrival::stamp::<Body>))
        // Answers browsers' CORS preflights for the allowed origins, when any
        // (outside the metrics: a preflight is no call).
        .layer(tower::util::option_layer(cors(&settings)))
        // Counts and times every call, refused ones included.
        .layer(GrpcMetricsLayer(metrics))
        // Translates gRPC-Web to gRPC for browser apps, when enabled.
        .layer(tower::util::option_layer(
            settings.grpc_web.then(tonic_web::GrpcWebLayer::new),
        ));
    if let Some(tls) = settings.tls {
        server = server.tls_config(tls)?;
    }
    let incoming = connections::accept(listener, settings.connections);
    server
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(people)
        .serve_with_incoming_shutdown(incoming, stop_serving)
        .await?;
    // Writes outlive their calls when callers give up; let them finish too.
    writes.close();
    writes.wait().await;
    Ok(())
}

/// The HTTP/2 server the services run on, as the settings say: streams per
/// connection, keepalive, the header limit, HTTP/1.1 for gRPC-Web. The
/// benchmark's floor runs on the same.
pub fn transport(settings: &ServeSettings) -> Server {
    let (keepalive_interval, keepalive_timeout) = settings.keepalive;
    Server::builder()
        .max_concurrent_streams(settings.max_streams_per_connection)
        .http2_keepalive_interval(Some(keepalive_interval))
        .http2_keepalive_timeout(Some(keepalive_timeout))
        // Room above the per-call limit PeopleService's filter answers with a clear status.
        .http2_max_header_list_size(settings.max_header_list_size.saturating_mul(8))
        // gRPC-Web arrives over HTTP/1.1 when enabled.
        .accept_http1(settings.grpc_web)
}

/// CORS for gRPC-Web callers from the allowed origins: the preflight is
/// answered here, and answers show browsers the gRPC status and request id.
/// None without gRPC-Web or without an allowed origin.
fn cors(settings: &ServeSettings) -> Option<CorsLayer> {
    if !settings.grpc_web || settings.grpc_web_allow_origins.is_empty() {
        return None;
    }
    let header = http::HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(
                settings.grpc_web_allow_origins.iter().cloned(),
            ))
            .allow_methods([http::Method::POST])
            .allow_headers([
                http::header::CONTENT_TYPE,
                http::header::AUTHORIZATION,
                header("x-grpc-web"),
                header("x-user-agent"),
                header("grpc-timeout"),
                header("x-request-id"),
                header("x-people-user-id"),
                header("traceparent"),
            ])
            .expose_headers([
                header("grpc-status"),
                header("grpc-message"),
                header("grpc-status-details-bin"),
                header("x-request-id"),
            ])
            .max_age(Duration::from_secs(24 * 60 * 60)),
    )
}

/// PeopleService behind its layers, routed under the service's own name,
/// with the layers' refusals answered as gRPC statuses: the filter's and the
/// receiving layer's own errors, or else the load shedder's; calls refused
/// for want of room (`OVERLOADED`) are counted as shed. (tower's `map_result`
/// cannot turn its errors into `Infallible`.)
#[derive(Debug, Clone)]
struct PeopleRoute<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> NamedService for PeopleRoute<S> {
    const NAME: &'static str = <PeopleServiceServer<PeopleApi> as NamedService>::NAME;
}

impl<S> tower::Service<http::Request<Body>> for PeopleRoute<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = RouteAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The shedder is always ready; a refusal comes from `call`, answered there.
        self.inner.poll_ready(cx).map(|_| Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        RouteAnswer {
            answer: self.inner.call(request),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

pin_project_lite::pin_project! {
    /// One PeopleService call's answer, its layers' refusals made gRPC
    /// statuses. Inline in the router's box: every call in flight has one.
    struct RouteAnswer<F> {
        #[pin]
        answer: F,
        metrics: Arc<Metrics>,
    }
}

impl<F> Future for RouteAnswer<F>
where
    F: Future<Output = Result<http::Response<Body>, BoxError>>,
{
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        Poll::Ready(Ok(answer.unwrap_or_else(|error| {
            let refusal = match error.downcast::<GatewayError>() {
                Ok(refusal) => *refusal,
                Err(_) => GatewayError::Overloaded,
            };
            if matches!(refusal, GatewayError::Overloaded) {
                this.metrics.record_shed();
            }
            Status::from(refusal).into_http()
        })))
    }
}

/// The header list size as HTTP/2 counts it: name, value and 32 per field.
fn header_list_size(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

fn callers_faults_are_theirs(response: http::Response<Body>) -> http::Response<Body> {
    match Status::from_header_map(response.headers()) {
        Some(status) if is_oversized_message(&status) => {
            Status::from(GatewayError::MessageTooLarge).into_http()
        }
        Some(status) if is_malformed_frame(&status) => {
            Status::from(GatewayError::InvalidArgument(vec![FieldViolation::new(
                "(body)",
                "carries a gRPC frame whose compression flag is neither 0 nor 1",
            )]))
            .into_http()
        }
        _ => response,
    }
}
