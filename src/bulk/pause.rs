//! Waiting when the portal asks to be left alone: one gate every stream
//! honours before it starts an item, and the loop that carries an item out
//! again after each wait.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::Deadline;
use crate::error::GatewayError;
use crate::status::MAX_RETRY_DELAY;
use crate::telemetry::metrics::Metrics;

/// How often one item waits for the portal before its 429 is its answer.
const MAX_PAUSES_PER_ITEM: u32 = 10;

/// A pause every stream honours before starting an item: until the latest
/// moment the portal asked to be left alone.
#[derive(Debug, Default)]
pub(super) struct PauseGate {
    until: Mutex<Option<Instant>>,
}

impl PauseGate {
    pub(super) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut current = self
            .until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if current.is_none_or(|current| current < until) {
            *current = Some(until);
        }
    }

    pub(super) async fn wait(&self) {
        loop {
            let until = *self
                .until
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
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
    async fn a_pause_holds_every_waiter_until_its_end() {
        let gate = PauseGate::default();
        let started = tokio::time::Instant::now();
        gate.pause_for(Duration::from_millis(300));
        gate.pause_for(Duration::from_millis(100));
        gate.wait().await;
        // The longer pause holds; a slower machine only waits longer.
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
