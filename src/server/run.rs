//! Running the binary: the portal (or the demo's), the People API, the
//! metrics listener, and shutdown on SIGTERM or ctrl-c with a grace period.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use url::Url;

use super::settings::read;
use super::{ServeError, ServeSettings, people_api, serve};
use crate::bulk::BulkSettings;
use crate::config::Config;
use crate::connections::ConnectionLimits;
use crate::domain::{Credential, ProductChoice};
use crate::operations::Stopper;
use crate::people::PortalSetup;
use crate::portal::{PortalSettings, display_url};
use crate::telemetry::metrics::serve_metrics;

/// Connections the metrics port keeps open at once: scrapers are few, and
/// the quietest connection makes room for a new one.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// Proxy variables that many HTTP clients read. The portal client reaches the
/// portal directly; an operator who set one is told so, not left to find out.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

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
    if let Some(variable) = PROXY_VARIABLES
        .into_iter()
        .find(|name| std::env::var_os(name).is_some())
    {
        warn!(
            variable,
            "the portal is reached directly: proxy variables are not read"
        );
    }
    let mut api = people_api(&settings, setup, token)?;
    if let Some(key) = &config.page_token_key {
        api = api.with_page_token_key(key.bytes());
    }
    let api = api.with_bulk(BulkSettings {
        per_stream: config.bulk_concurrency as usize,
        max_in_flight: config.bulk_max_in_flight as usize,
        queue: config.bulk_queue as usize,
        max_items: config.bulk_max_items,
        max_streams: config.bulk_max_streams as usize,
        max_streams_per_caller: config.bulk_max_streams_per_caller as usize,
        max_item_bytes: config.max_message_size,
        stream_bytes: config.bulk_stream_bytes,
        max_bytes: config.bulk_max_bytes,
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
        let limits = ConnectionLimits {
            max_connections: METRICS_MAX_CONNECTIONS,
            idle_timeout: config.idle_timeout,
        };
        tokio::spawn(serve_metrics(
            listener,
            api.operations().metrics(),
            limits,
            stopped,
        ));
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
