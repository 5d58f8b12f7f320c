//! Waiting when the portal asks to be left alone: one gate per credential
//! that the streams of that credential honour before they start an item, and
//! the loop that carries an item out again after each wait. DocSpace's
//! limiter counts per user (`ClaimTypes.Sid`, DS@v3.7.2-server:
//! common/ASC.Api.Core/Core/BaseStartup.cs:228-303), so one caller's 429
//! says nothing about another's.

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{Credential, Deadline};
use crate::error::GatewayError;
use crate::status::MAX_RETRY_DELAY;
use crate::telemetry::metrics::Metrics;

/// How often one item waits for the portal before its 429 is its answer.
const MAX_PAUSES_PER_ITEM: u32 = 10;

/// The pauses the portal asked for, by credential (hashed with a key of this
/// process, so the table holds no credential). An entry lives until its pause
/// is over, at most [`MAX_RETRY_DELAY`].
#[derive(Debug, Default)]
pub(super) struct Pauses {
    keys: std::hash::RandomState,
    until: Mutex<HashMap<u64, Instant>>,
}

impl Pauses {
    /// The gate the streams of `credential` honour.
    pub(super) fn gate(self: &Arc<Self>, credential: &Credential) -> PauseGate {
        PauseGate {
            pauses: Arc::clone(self),
            key: self.keys.hash_one(credential),
        }
    }

    fn until(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Instant>> {
        self.until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// A pause the streams of one credential honour before starting an item:
/// until the latest moment the portal asked that credential to wait.
#[derive(Debug, Clone)]
pub(super) struct PauseGate {
    pauses: Arc<Pauses>,
    key: u64,
}

impl PauseGate {
    pub(super) fn pause_for(&self, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut pauses = self.pauses.until();
        pauses.retain(|_, until| *until > now);
        let current = pauses.entry(self.key).or_insert(until);
        if *current < until {
            *current = until;
        }
    }

    pub(super) async fn wait(&self) {
        loop {
            let until = self.pauses.until().get(&self.key).copied();
            match until {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until).await;
                }
                _ => return,
            }
        }
    }
}

/// Runs `attempt` again after each wait the portal asks for, pausing every
/// stream meanwhile; gives up (answering the portal's refusal) after
/// [`MAX_PAUSES_PER_ITEM`] waits, on a wait longer than [`MAX_RETRY_DELAY`],
/// or one the deadline would not outlast. Every operation is safe to run
/// again: a refused request changed nothing, and each read-modify-write
/// starts from a fresh read.
pub(super) async fn waiting_out_pauses<T, F, Fut>(
    pause: &PauseGate,
    metrics: &Metrics,
    deadline: Deadline,
    mut attempt: F,
) -> Result<T, GatewayError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let mut pauses = 0;
    loop {
        let result = attempt().await;
        match result
            .as_ref()
            .err()
            .and_then(GatewayError::portal_asks_to_wait)
        {
            Some(wait)
                if pauses < MAX_PAUSES_PER_ITEM
                    && wait <= MAX_RETRY_DELAY
                    && deadline.remaining().is_none_or(|left| left > wait) =>
            {
                pauses += 1;
                metrics.record_sync_pause();
                pause.pause_for(wait);
                pause.wait().await;
            }
            _ => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_holds_the_waiters_of_its_credential_until_its_end() {
        let pauses = Arc::new(Pauses::default());
        let gate = pauses.gate(&Credential::Authorization("one".into()));
        let other = pauses.gate(&Credential::Authorization("two".into()));
        let started = tokio::time::Instant::now();
        gate.pause_for(Duration::from_millis(300));
        gate.pause_for(Duration::from_millis(100));
        // Another credential is not held.
        other.wait().await;
        assert!(started.elapsed() < Duration::from_millis(300));
        gate.wait().await;
        // The longer pause holds; a slower machine only waits longer.
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
