//! Serving: the tonic server with PeopleService, `grpc.health.v1` and server
//! reflection (v1 and v1alpha), on a listener the caller already bound, until
//! a shutdown signal; then in-flight calls get a grace period to finish.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::config::Config;
use crate::domain::Credential;
use crate::pb::{self, people_service_server::PeopleServiceServer};
use crate::people::{People, PortalSetup};
use crate::portal::{PortalClient, PortalSettings, PortalSetupError, display_url};
use crate::service::PeopleApi;

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
}

/// Builds the People API for one portal.
pub fn people_api(
    settings: &PortalSettings,
    setup: impl Into<PortalSetup>,
    fallback_credential: Option<Credential>,
) -> Result<PeopleApi, ServeError> {
    let portal = PortalClient::new(settings)?;
    Ok(PeopleApi::new(
        People::new(portal, setup.into()),
        fallback_credential,
    ))
}

/// Serves until `shutdown` completes, then waits for in-flight calls.
pub async fn serve(
    listener: TcpListener,
    api: PeopleApi,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<PeopleServiceServer<PeopleApi>>().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    // grpcurl up to 1.8.7 speaks only v1alpha.
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let writes = api.pending_writes();
    let stop_serving = async move {
        shutdown.await;
        // Tell health checkers first, so balancers stop sending new calls.
        health
            .set_not_serving::<PeopleServiceServer<PeopleApi>>()
            .await;
    };
    // Small gRPC frames must not wait for Nagle's algorithm (40 ms stalls).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PeopleServiceServer::new(api))
        .serve_with_incoming_shutdown(incoming, stop_serving)
        .await?;
    // Writes outlive their calls when callers give up; let them finish too.
    writes.close();
    writes.wait().await;
    Ok(())
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

    let (portal_url, product, token, _demo) = if config.demo {
        let demo = crate::demo::Demo::start(config.portal_product, config.portal_token.clone())
            .await
            .map_err(ServeError::Demo)?;
        demo.print_instructions(local);
        // The simulator plays a concrete product; `auto` still detects it.
        let choice = config.portal_product.unwrap_or(demo.product().into());
        (
            demo.portal_url(),
            choice,
            Some(demo.credential()),
            Some(demo),
        )
    } else {
        let (Some(url), Some(product)) = (config.portal_url.clone(), config.portal_product) else {
            return Err(ServeError::Config(
                "--portal-url and --portal-product are required",
            ));
        };
        (url, product, config.portal_token.clone(), None)
    };
    let settings = PortalSettings {
        base_url: portal_url.clone(),
        timeout: config.portal_timeout,
        connect_timeout: config.portal_connect_timeout,
    };
    let setup = PortalSetup {
        product,
        version: config.portal_version,
    };
    let api = people_api(&settings, setup, token)?;
    info!(listen = %local, portal = %display_url(&portal_url), ?product, "serving");

    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = serve(listener, api, async {
        let _ = signalled_rx.await;
    });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown_signal() => info!("shutting down"),
    }
    let _ = signalled_tx.send(());
    drain(server, config.shutdown_grace).await
}

/// Lets in-flight calls finish, up to the grace period.
async fn drain(
    server: impl Future<Output = Result<(), ServeError>>,
    grace: Duration,
) -> Result<(), ServeError> {
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result,
        Err(_) => {
            warn!(?grace, "grace period over; dropping remaining calls");
            Ok(())
        }
    }
}

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
