//! Readiness that follows the portal: `grpc.health.v1` reports SERVING for
//! `""` and for PeopleService only while the portal answers, judged by a
//! periodic probe of the anonymous build endpoint and by the outcome of real
//! calls; after two failures in a row it reports NOT_SERVING, and SERVING
//! again as soon as the portal answers. Liveness (`liveness`) only says the
//! process answers, so a portal outage never restarts the gateway.

use std::time::Duration;

use std::pin::Pin;

use futures_util::stream::{self, Stream, StreamExt as _};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse, health_check_response};
use tonic_health::server::{HealthReporter, HealthService};
use tracing::{info, warn};

use crate::pb::people_service_server::PeopleServiceServer;
use crate::portal::PortalClient;
use crate::service::PeopleApi;

/// PeopleService's name for health checks.
const PEOPLE_SERVICE: &str = <PeopleServiceServer<PeopleApi> as tonic::server::NamedService>::NAME;

/// The health service name a liveness probe asks for.
pub const LIVENESS: &str = "liveness";

/// Failed probes or calls in a row before the gateway stops being ready.
const FAILURES_TO_FAIL: u32 = 2;

/// The reporter that sets statuses, and `grpc.health.v1.Health` serving them.
pub fn health() -> (HealthReporter, HealthServer<Health>) {
    let reporter = HealthReporter::new();
    let service = Health {
        inner: HealthService::from_health_reporter(reporter.clone()),
    };
    (reporter, HealthServer::new(service))
}

/// `grpc.health.v1.Health` as the protocol asks: tonic's, except that Watch
/// on an unknown service streams SERVICE_UNKNOWN and stays open, instead of
/// failing NOT_FOUND.
pub struct Health {
    inner: HealthService,
}

type Statuses = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = Statuses;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Statuses>, Status> {
        match self.inner.watch(request).await {
            Ok(statuses) => Ok(statuses.map(|statuses| Box::pin(statuses) as Statuses)),
            Err(status) if status.code() == Code::NotFound => {
                let unknown = HealthCheckResponse {
                    status: health_check_response::ServingStatus::ServiceUnknown as i32,
                };
                // The gateway's services are fixed at start, so no other status follows.
                let statuses = stream::iter([Ok(unknown)]).chain(stream::pending());
                Ok(Response::new(Box::pin(statuses) as Statuses))
            }
            Err(status) => Err(status),
        }
    }
}

/// Reports readiness from the portal's answers until `stop` is cancelled.
pub struct Readiness {
    portal: PortalClient,
    health: HealthReporter,
    interval: Duration,
}

impl Readiness {
    /// Readiness for `portal`, probed every `interval`.
    pub fn new(portal: PortalClient, health: HealthReporter, interval: Duration) -> Self {
        Self {
            portal,
            health,
            interval,
        }
    }

    /// Probes once and reports, so the server starts with a settled status.
    pub async fn check_once(&self) -> bool {
        self.health
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        let ready = self.portal.probe(self.probe_timeout()).await;
        self.report(ready).await;
        if !ready {
            warn!("the portal does not answer yet: not ready");
        }
        ready
    }

    /// Keeps probing every interval, and reports changes, until `stop`.
    pub async fn run(self, mut reported: bool, stop: CancellationToken) {
        // The first probe was `check_once`'s.
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            self.portal.probe(self.probe_timeout()).await;
            let ready = self.portal.health().consecutive_failures() < FAILURES_TO_FAIL;
            if ready != reported {
                if ready {
                    info!("the portal answers again: ready");
                } else {
                    warn!("the portal does not answer: not ready");
                }
                self.report(ready).await;
                reported = ready;
            }
        }
    }

    /// A portal slower than the interval (or than 2 s) counts as away.
    fn probe_timeout(&self) -> Duration {
        self.interval
            .clamp(Duration::from_millis(100), Duration::from_secs(2))
    }

    async fn report(&self, ready: bool) {
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.health.set_service_status("", status).await;
        self.health.set_service_status(PEOPLE_SERVICE, status).await;
    }
}

/// Reports SERVING without asking the portal (readiness probing is off).
pub async fn always_ready(health: &HealthReporter) {
    for service in [LIVENESS, "", PEOPLE_SERVICE] {
        health
            .set_service_status(service, ServingStatus::Serving)
            .await;
    }
}

/// Reports NOT_SERVING for good: the server is shutting down.
pub async fn stop_serving(health: &HealthReporter) {
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    health
        .set_service_status(PEOPLE_SERVICE, ServingStatus::NotServing)
        .await;
}
