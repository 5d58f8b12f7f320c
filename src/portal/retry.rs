//! Which portal exchanges are tried again, when, and how often: tower's retry
//! policy over the shared `reqwest::Client`, with tower's jittered exponential
//! backoff and a retry budget shared by every call, all inside the caller's
//! deadline.
//!
//! Tried again: a connection that failed before anything was sent (any
//! method), and 502, 503 or 504 answers to reads. Never: any 4xx, a timeout,
//! or a write that may have reached the portal. A `Retry-After` is honoured
//! when the wait still fits the deadline; otherwise the answer stands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Request, Response, StatusCode};
use tower::retry::Policy;
use tower::retry::backoff::{
    Backoff as _, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff as _,
};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::util::rng::HasherRng;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;

use super::envelope::parse_retry_after;
use crate::domain::{Abandoned, Deadline};
use crate::telemetry::metrics::Metrics;

/// Attempts per exchange, the first one included.
const MAX_ATTEMPTS: u32 = 3;
/// First backoff; it doubles per attempt, plus up to the same again as jitter.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest backoff between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What every exchange shares: the budget and the backoff shape.
#[derive(Debug, Clone)]
pub struct RetryShared {
    budget: Arc<TpsBudget>,
    backoff: ExponentialBackoffMaker,
}

impl Default for RetryShared {
    fn default() -> Self {
        // Retries may add at most 20% to the portal's load (over a 10 s window),
        // beyond a floor of 5 per second.
        let budget = Arc::new(TpsBudget::new(Duration::from_secs(10), 5, 0.2));
        let backoff =
            ExponentialBackoffMaker::new(BACKOFF_MIN, BACKOFF_MAX, 1.0, HasherRng::default())
                .unwrap_or_default();
        Self { budget, backoff }
    }
}

impl RetryShared {
    /// The policy for one exchange. `deadline` bounds waiting and each
    /// attempt; `attempt_timeout` is the HTTP client's own timeout for an
    /// attempt, which one the deadline cuts shorter carries itself
    /// ([`ExchangeRetry::own_timeout`]). Retries are counted per `endpoint`.
    pub fn policy(
        &self,
        deadline: Deadline,
        attempt_timeout: Duration,
        endpoint: &'static str,
        metrics: Arc<Metrics>,
    ) -> ExchangeRetry {
        self.budget.deposit();
        ExchangeRetry {
            budget: Arc::clone(&self.budget),
            backoff: self.backoff.clone().make_backoff(),
            deadline,
            attempt_timeout,
            attempts_left: MAX_ATTEMPTS - 1,
            endpoint,
            metrics,
        }
    }
}

/// The retry state of one exchange.
#[derive(Debug, Clone)]
pub struct ExchangeRetry {
    budget: Arc<TpsBudget>,
    backoff: ExponentialBackoff,
    deadline: Deadline,
    attempt_timeout: Duration,
    attempts_left: u32,
    endpoint: &'static str,
    metrics: Arc<Metrics>,
}

impl ExchangeRetry {
    /// The timeout an attempt that starts at `start` must carry itself: the
    /// time left to the deadline, when that is shorter than the configured
    /// timeout, which the HTTP client applies on its own otherwise. (A
    /// request's own timeout lives in a map of extensions that the request
    /// carries, and that the retry's spare copy clones.)
    pub fn own_timeout(&self, start: Instant) -> Option<Duration> {
        let left = self.deadline.instant()?.saturating_duration_since(start);
        (left < self.attempt_timeout).then_some(left)
    }

    fn fits(&self, resume_at: Instant) -> bool {
        // The next attempt needs some time of its own after the wait.
        self.deadline
            .instant()
            .is_none_or(|deadline| resume_at + BACKOFF_MIN < deadline)
    }
}

impl Policy<Request, Response, AttemptError> for ExchangeRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request,
        result: &mut Result<Response, AttemptError>,
    ) -> Option<Self::Future> {
        let wait = match result {
            Ok(response) if request.method() == Method::GET && is_retryable(response.status()) => {
                match retry_after(response) {
                    Some(delay) => tokio::time::sleep(delay),
                    None => self.backoff.next_backoff(),
                }
            }
            // Nothing reached the portal, so even a write is safe to send again.
            Err(AttemptError::Http(error)) if error.is_connect() => self.backoff.next_backoff(),
            _ => return None,
        };
        let resume_at = wait.deadline().into_std();
        if self.attempts_left == 0 || !self.fits(resume_at) || !self.budget.withdraw() {
            return None;
        }
        self.attempts_left -= 1;
        self.metrics.record_portal_retry(self.endpoint);
        // `request` is the copy sent after the wait.
        if let Some(timeout) = self.own_timeout(resume_at) {
            *request.timeout_mut() = Some(timeout);
        }
        Some(wait)
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        request.try_clone()
    }
}

/// Why one attempt failed: the HTTP client's error, or the caller stopped
/// waiting before the attempt was sent.
#[derive(Debug)]
pub enum AttemptError {
    /// The HTTP client failed.
    Http(reqwest::Error),
    /// Not sent: the caller's deadline passed or the caller left first.
    Abandoned(Abandoned),
}

/// The HTTP client, asked to send only while the caller still waits: the
/// first attempt and every one after a retry's wait check first, so a write
/// whose connection failed is never sent again for a caller that has left.
#[derive(Debug, Clone)]
pub struct UnlessAbandoned {
    http: reqwest::Client,
    deadline: Deadline,
    gone: CancellationToken,
}

impl UnlessAbandoned {
    /// `http`, sending only before `deadline` and while `gone` is not cancelled.
    pub fn new(http: reqwest::Client, deadline: Deadline, gone: CancellationToken) -> Self {
        Self {
            http,
            deadline,
            gone,
        }
    }
}

type Sent = Pin<Box<dyn Future<Output = Result<Response, AttemptError>> + Send>>;

impl tower::Service<Request> for UnlessAbandoned {
    type Response = Response;
    type Error = AttemptError;
    type Future = Sent;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AttemptError>> {
        tower::Service::<Request>::poll_ready(&mut self.http, cx).map_err(AttemptError::Http)
    }

    fn call(&mut self, request: Request) -> Sent {
        if let Err(why) = Abandoned::check(self.deadline, &self.gone) {
            return Box::pin(std::future::ready(Err(AttemptError::Abandoned(why))));
        }
        let sent = tower::Service::<Request>::call(&mut self.http, request);
        Box::pin(async move { sent.await.map_err(AttemptError::Http) })
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method) -> Request {
        Request::new(method, "http://portal.test/".parse().unwrap())
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Result<Response, AttemptError> {
        let mut builder = http::Response::builder().status(status);
        if let Some(seconds) = retry_after {
            builder = builder.header("retry-after", seconds);
        }
        Ok(Response::from(builder.body("").unwrap()))
    }

    #[tokio::test]
    async fn an_attempt_the_caller_no_longer_waits_for_is_neither_sent_nor_tried_again() {
        use tower::ServiceExt as _;
        let gone = CancellationToken::new();
        gone.cancel();
        // Nothing listens at port 9 of this address: were the request sent, it would fail otherwise.
        let http = UnlessAbandoned::new(reqwest::Client::new(), Deadline::NONE, gone);
        let put = Request::new(Method::PUT, "http://127.0.0.1:9/".parse().unwrap());
        let mut result = http.oneshot(put).await;
        assert!(
            matches!(result, Err(AttemptError::Abandoned(Abandoned::CallerGone))),
            "{result:?}"
        );
        let shared = RetryShared::default();
        let mut policy = shared.policy(
            Deadline::NONE,
            Duration::from_secs(10),
            "test",
            Arc::default(),
        );
        let mut put = request(Method::PUT);
        assert!(policy.retry(&mut put, &mut result).is_none());
        let passed = UnlessAbandoned::new(
            reqwest::Client::new(),
            Deadline::at(Some(std::time::Instant::now())),
            CancellationToken::new(),
        );
        let put = Request::new(Method::PUT, "http://127.0.0.1:9/".parse().unwrap());
        assert!(matches!(
            passed.oneshot(put).await,
            Err(AttemptError::Abandoned(Abandoned::Deadline))
        ));
    }

    #[tokio::test]
    async fn reads_answered_5xx_are_tried_twice_more_and_nothing_else_is() {
        let shared = RetryShared::default();
        let mut policy = shared.policy(
            Deadline::NONE,
            Duration::from_secs(10),
            "test",
            Arc::default(),
        );
        let mut get = request(Method::GET);
        assert!(policy.retry(&mut get, &mut answer(503, None)).is_some());
        assert!(policy.retry(&mut get, &mut answer(502, None)).is_some());
        assert!(
            policy.retry(&mut get, &mut answer(504, None)).is_none(),
            "three attempts at most"
        );

        let mut fresh = shared.policy(
            Deadline::NONE,
            Duration::from_secs(10),
            "test",
            Arc::default(),
        );
        for status in [200, 400, 404, 429, 500] {
            assert!(
                fresh.retry(&mut get, &mut answer(status, None)).is_none(),
                "{status}"
            );
        }
        let mut put = request(Method::PUT);
        assert!(
            fresh.retry(&mut put, &mut answer(503, None)).is_none(),
            "a write may have landed"
        );
    }

    #[tokio::test]
    async fn retry_after_is_waited_for_only_within_the_deadline() {
        let shared = RetryShared::default();
        // Far from the deadline, so that a stalled test thread cannot reach it.
        let deadline = Deadline::after(Duration::from_secs(60));
        let mut policy = shared.policy(deadline, Duration::from_secs(120), "test", Arc::default());
        let mut get = request(Method::GET);
        assert!(
            policy
                .retry(&mut get, &mut answer(503, Some("60")))
                .is_none()
        );
        let wait = policy.retry(&mut get, &mut answer(503, Some("2")));
        assert!(wait.is_some());
        // The attempt after the wait gets what is left of the deadline, not the full timeout.
        let timeout = get.timeout().copied().unwrap();
        assert!(timeout <= Duration::from_secs(58), "{timeout:?}");
    }
}
