//! Serving: the tonic server with PeopleService, `grpc.health.v1` and server
//! reflection (v1 and v1alpha), on a listener the caller already bound, until
//! a shutdown signal; then in-flight calls get a grace period to finish. Every
//! bound on what callers can ask of the server is set here, in one place:
//! connections, streams, header and message sizes, keepalive, TLS, and the
//! tower stack in front of PeopleService.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tower::{BoxError, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{info, warn};
use url::Url;

use crate::bulk::BulkSettings;
use crate::config::Config;
use crate::connections::{self, ConnectionLimits};
use crate::deadline::{Arrival, DeadlineLayer};
use crate::domain::Credential;
use crate::domain::ProductChoice;
use crate::error::{GatewayError, is_oversized_message};
use crate::operations::Stopper;
use crate::pb::{self, people_service_server::PeopleServiceServer};
use crate::people::{People, PortalSetup};
use crate::portal::{PortalClient, PortalSettings, PortalSetupError, display_url};
use crate::readiness::{self, Readiness};
use crate::service::PeopleApi;
use crate::telemetry::metrics::{GrpcMetricsLayer, Metrics, serve_metrics};

/// Everything that bounds what callers can ask of the server.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Open connections and how long a silent one stays.
    pub connections: ConnectionLimits,
    /// PeopleService calls in flight at once; the rest are refused at once.
    pub max_concurrency: usize,
    /// Largest request message.
    pub max_message_size: usize,
    /// Concurrent streams per connection.
    pub max_streams_per_connection: u32,
    /// HTTP/2 keepalive ping interval and how long an answer may take.
    pub keepalive: (Duration, Duration),
    /// Largest header block a call may send.
    pub max_header_list_size: u32,
    /// Server TLS (and client certificates), when configured.
    pub tls: Option<ServerTlsConfig>,
    /// Serve gRPC-Web (over HTTP/1.1 too) for browser apps.
    pub grpc_web: bool,
    /// Browser origins allowed to call over gRPC-Web from elsewhere (CORS).
    pub grpc_web_allow_origins: Vec<http::HeaderValue>,
    /// How often readiness probes the portal; `None`: no probing, always ready.
    pub readiness_interval: Option<Duration>,
}

impl Default for ServeSettings {
    /// The command line's defaults, without TLS and without readiness probes.
    fn default() -> Self {
        Self {
            connections: ConnectionLimits {
                max_connections: 4096,
                idle_timeout: Duration::from_secs(120),
            },
            max_concurrency: 1024,
            max_message_size: 1024 * 1024,
            max_streams_per_connection: 256,
            keepalive: (Duration::from_secs(30), Duration::from_secs(10)),
            max_header_list_size: 16 * 1024,
            tls: None,
            grpc_web: false,
            grpc_web_allow_origins: Vec::new(),
            readiness_interval: None,
        }
    }
}

impl ServeSettings {
    /// The settings the command line asks for; reads the TLS files.
    pub fn from_config(config: &Config) -> Result<Self, ServeError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let identity =
                    Identity::from_pem(read("--tls-cert", cert)?, read("--tls-key", key)?);
                let mut tls = ServerTlsConfig::new().identity(identity);
                if let Some(client_ca) = &config.tls_client_ca {
                    tls = tls
                        .client_ca_root(Certificate::from_pem(read("--tls-client-ca", client_ca)?));
                }
                Some(tls)
            }
            _ => None,
        };
        Ok(Self {
            connections: ConnectionLimits {
                max_connections: config.max_connections as usize,
                idle_timeout: config.idle_timeout,
            },
            max_concurrency: config.max_concurrency as usize,
            max_message_size: config.max_message_size,
            max_streams_per_connection: config.max_streams_per_connection,
            keepalive: (config.keepalive_interval, config.keepalive_timeout),
            max_header_list_size: u32::try_from(config.max_header_list_size).unwrap_or(u32::MAX),
            tls,
            grpc_web: config.grpc_web,
            grpc_web_allow_origins: config.grpc_web_allow_origin.clone(),
            readiness_interval: Some(config.readiness_interval),
        })
    }
}

/// Reads a file named by a flag.
fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::File {
        flag,
        path: path.display().to_string(),
        source,
    })
}

/// Why the gateway could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The configured address.
        address: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The portal client could not be built.
    #[error("portal client: {0}")]
    Portal(#[from] PortalSetupError),
    /// The reflection service rejected the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The demo portal simulator could not start.
    #[error("demo portal: {0}")]
    Demo(std::io::Error),
    /// Configuration that clap cannot express.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// A file named by a flag could not be read.
    #[error("{flag}: cannot read {path}: {source}")]
    File {
        /// The flag that named it.
        flag: &'static str,
        /// As given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The grace period ended with calls still running; they were answered
    /// SHUTTING_DOWN, and writes among them may or may not have reached the portal.
    #[error("{0} call(s) were still running when the grace period ended")]
    CallsDropped(usize),
}

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
            // resets such a stream at four times the limit).
            .filter(move |request: http::Request<Body>| {
                if header_list_size(request.headers()) > max_metadata {
                    Err(GatewayError::MetadataTooLarge)
                } else {
                    Ok(request)
                }
            })
            // tonic answers an over-size message OUT_OF_RANGE; the contract says RESOURCE_EXHAUSTED.
            .map_response(oversized_message_is_resource_exhausted)
            // Beyond the limit, refuse at once instead of queueing.
            .load_shed()
            .concurrency_limit(settings.max_concurrency)
            // The caller's deadline, from the moment its headers arrived.
            .layer(DeadlineLayer)
            .service(
                PeopleServiceServer::new(api).max_decoding_message_size(settings.max_message_size),
            ),
    };

    // Every service, read top to bottom as a request passes through (before
    // PeopleService's own layers above):
    let (keepalive_interval, keepalive_timeout) = settings.keepalive;
    let mut server = Server::builder()
        .max_concurrent_streams(settings.max_streams_per_connection)
        .http2_keepalive_interval(Some(keepalive_interval))
        .http2_keepalive_timeout(Some(keepalive_timeout))
        // Room above the per-call limit PeopleService's filter answers with a clear status.
        .http2_max_header_list_size(settings.max_header_list_size.saturating_mul(4))
        // gRPC-Web arrives over HTTP/1.1 when enabled.
        .accept_http1(settings.grpc_web)
        // The moment a call arrived: its deadline counts from there.
        .layer(tower::util::MapRequestLayer::new(Arrival::stamp::<Body>))
        // Counts and times every call, refused ones included.
        .layer(GrpcMetricsLayer(metrics))
        // Answers browsers' CORS preflights for the allowed origins, when any.
        .layer(tower::util::option_layer(cors(&settings)))
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
/// with the layers' refusals answered as gRPC statuses: the filter's own
/// error, or else the load shedder's (the only other layer that refuses),
/// counted. (tower's `map_result` cannot turn its errors into `Infallible`.)
#[derive(Debug, Clone)]
struct PeopleRoute<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> NamedService for PeopleRoute<S> {
    const NAME: &'static str = <PeopleServiceServer<PeopleApi> as NamedService>::NAME;
}

type Answer =
    std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S> tower::Service<http::Request<Body>> for PeopleRoute<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The shedder is always ready; a refusal comes from `call`, answered there.
        self.inner.poll_ready(cx).map(|_| Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Answer {
        let answer = self.inner.call(request);
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            Ok(answer.await.unwrap_or_else(|error| {
                let refusal = match error.downcast::<GatewayError>() {
                    Ok(refusal) => *refusal,
                    Err(_) => {
                        metrics.record_shed();
                        GatewayError::Overloaded
                    }
                };
                Status::from(refusal).into_http()
            }))
        })
    }
}

/// The header list size as HTTP/2 counts it: name, value and 32 per field.
fn header_list_size(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

fn oversized_message_is_resource_exhausted(response: http::Response<Body>) -> http::Response<Body> {
    match Status::from_header_map(response.headers()) {
        Some(status) if is_oversized_message(&status) => {
            Status::from(GatewayError::MessageTooLarge).into_http()
        }
        _ => response,
    }
}

/// Runs the gateway as configured until SIGTERM or ctrl-c.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        address: config.listen,
        source,
    })?;

    // Files named by flags are read before anything starts or is printed.
    let serve_settings = ServeSettings::from_config(&config)?;
    let extra_roots_pem = config
        .portal_ca
        .as_deref()
        .map(|path| read("--portal-ca", path))
        .transpose()?;
    let Target {
        portal_url,
        product,
        token,
        demo: _running_demo,
    } = if config.demo {
        start_demo(&config, local).await?
    } else {
        let (Some(url), Some(product)) = (config.portal_url.clone(), config.portal_product) else {
            return Err(ServeError::Config(
                "--portal-url and --portal-product are required",
            ));
        };
        Target {
            portal_url: url,
            product,
            token: config.portal_token.clone(),
            demo: None,
        }
    };
    let settings = PortalSettings {
        base_url: portal_url.clone(),
        timeout: config.portal_timeout,
        connect_timeout: config.portal_connect_timeout,
        max_body: config.portal_max_body,
        extra_roots_pem,
        max_connections: config.portal_max_connections as usize,
    };
    let setup = PortalSetup {
        product,
        version: config.portal_version,
    };
    let api = people_api(&settings, setup, token)?.with_bulk(BulkSettings {
        per_stream: config.bulk_concurrency as usize,
        max_in_flight: config.bulk_max_in_flight as usize,
        queue: config.bulk_queue as usize,
        max_items: config.bulk_max_items,
        max_streams: config.bulk_max_streams as usize,
        idle_timeout: config.bulk_idle_timeout,
    });
    let stopper = api.operations().stopper();
    let stop_metrics = CancellationToken::new();
    if let Some(address) = config.metrics_listen {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| ServeError::Bind { address, source })?;
        info!(%address, "metrics at /metrics");
        let stopped = stop_metrics.clone().cancelled_owned();
        tokio::spawn(serve_metrics(listener, api.operations().metrics(), stopped));
    }
    let _stop_metrics = stop_metrics.drop_guard();
    info!(listen = %local, portal = %display_url(&portal_url), ?product, "serving");

    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = serve(listener, api, serve_settings, async {
        let _ = signalled_rx.await;
    });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown_signal() => info!("shutting down"),
    }
    let _ = signalled_tx.send(());
    drain(server, config.shutdown_grace, &stopper).await
}

/// The portal to serve against, and the demo portal while it runs.
struct Target {
    portal_url: Url,
    product: ProductChoice,
    token: Option<Credential>,
    demo: Option<DemoPortal>,
}

#[cfg(feature = "demo")]
type DemoPortal = crate::demo::Demo;
#[cfg(not(feature = "demo"))]
type DemoPortal = std::convert::Infallible;

/// Starts the embedded demo portal and prints how to call it.
#[cfg(feature = "demo")]
async fn start_demo(config: &Config, local: std::net::SocketAddr) -> Result<Target, ServeError> {
    let demo = crate::demo::Demo::start(config.portal_product, config.portal_token.clone())
        .await
        .map_err(ServeError::Demo)?;
    demo.print_instructions(local);
    // The simulator plays a concrete product; `auto` still detects it.
    let product = config.portal_product.unwrap_or(demo.product().into());
    Ok(Target {
        portal_url: demo.portal_url(),
        product,
        token: Some(demo.credential()),
        demo: Some(demo),
    })
}

/// A production build carries no demo portal.
#[cfg(not(feature = "demo"))]
async fn start_demo(_: &Config, _: std::net::SocketAddr) -> Result<Target, ServeError> {
    Err(ServeError::Config(
        "this build has no --demo (it was built without the `demo` feature); \
         point it at a portal with --portal-url and --portal-product",
    ))
}

/// Lets in-flight calls finish, up to the grace period; then answers the
/// rest SHUTTING_DOWN and reports how many there were.
pub async fn drain(
    server: impl Future<Output = Result<(), ServeError>>,
    grace: Duration,
    stopper: &Stopper,
) -> Result<(), ServeError> {
    tokio::pin!(server);
    if let Ok(result) = tokio::time::timeout(grace, &mut server).await {
        return result;
    }
    let dropped = stopper.stop_all();
    warn!(
        ?grace,
        dropped, "grace period over; answering the remaining calls SHUTTING_DOWN"
    );
    // Long enough to write those answers; the connections close after them.
    let _ = tokio::time::timeout(STATUS_FLUSH, &mut server).await;
    if dropped == 0 {
        Ok(())
    } else {
        Err(ServeError::CallsDropped(dropped))
    }
}

/// How long the last answers get to leave once the grace period is over.
const STATUS_FLUSH: Duration = Duration::from_secs(1);

/// Completes on ctrl-c or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
