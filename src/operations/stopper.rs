//! The end of shutdown's grace period: every call still running is counted
//! here, and stopped here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::sync::CancellationToken;

use crate::error::GatewayError;

/// Ends every call still running when shutdown's grace period is over.
#[derive(Debug, Clone, Default)]
pub struct Stopper {
    stop: CancellationToken,
    in_flight: Arc<AtomicUsize>,
}

impl Stopper {
    /// Answers every running call SHUTTING_DOWN; returns how many there were.
    pub fn stop_all(&self) -> usize {
        let running = self.in_flight.load(Ordering::SeqCst);
        self.stop.cancel();
        running
    }

    /// Calls running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Counts one call while the guard lives.
    pub fn count(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }

    /// Cancelled when the grace period is over: a SyncUsers stream answers
    /// what it can and ends.
    pub fn stopped(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs one call, counted, unless the server stops it first. The call
    /// stays where its caller pinned it, rather than held here a second time;
    /// the caller drops it as soon as this returns.
    pub async fn run<T>(
        &self,
        work: Pin<&mut impl Future<Output = Result<T, GatewayError>>>,
    ) -> Result<T, GatewayError> {
        let _counted = self.count();
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(GatewayError::ShuttingDown),
            result = work => result,
        }
    }
}

/// Uncounts a call when it ends, however it ends.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
