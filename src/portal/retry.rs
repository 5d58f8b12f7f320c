//! Which portal exchanges are tried again, when, and how often: tower's retry
//! policy over the shared HTTP client, with tower's jittered exponential
//! backoff and a retry budget shared by every call, all inside the caller's
//! deadline; and how long each attempt may take. An attempt's answer is
//! read whole, head and body (within its cap), under one timer.
//!
//! Tried again: a connection that failed before anything was sent, and a
//! request an HTTP/2 portal refused unprocessed (`REFUSED_STREAM`, or a
//! graceful `GOAWAY`; RFC 9113 §8.7), any method; and 502, 503 or 504
//! answers to reads. Never: any 4xx, a timeout, an answer whose body broke
//! off or ran over its cap, or a write that may have reached the portal. A
//! `Retry-After` is honoured when the wait still fits the deadline;
//! otherwise the answer stands.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use tower::retry::Policy;
use tower::retry::backoff::{
    Backoff as _, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff as _,
};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::util::rng::HasherRng;

use super::envelope::{PortalError, parse_retry_after};
use super::transport::{HttpClient, PortalRequest, add_headers, causes, read_capped};
use crate::domain::{Abandoned, Credential, Deadline, Departure};
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
    /// The policy for one exchange. `deadline` bounds waiting for the next
    /// attempt (each attempt's own time is [`UnlessAbandoned`]'s). Retries are
    /// counted per `endpoint`, and sent with `credential`.
    pub fn policy<'a>(
        &self,
        deadline: Deadline,
        endpoint: &'static str,
        metrics: Arc<Metrics>,
        credential: Option<&'a Credential>,
    ) -> ExchangeRetry<'a> {
        self.budget.deposit();
        ExchangeRetry {
            budget: Arc::clone(&self.budget),
            backoff: self.backoff.clone().make_backoff(),
            deadline,
            attempts_left: MAX_ATTEMPTS - 1,
            endpoint,
            metrics,
            credential,
        }
    }
}

/// The retry state of one exchange.
#[derive(Debug, Clone)]
pub struct ExchangeRetry<'a> {
    budget: Arc<TpsBudget>,
    backoff: ExponentialBackoff,
    deadline: Deadline,
    attempts_left: u32,
    endpoint: &'static str,
    metrics: Arc<Metrics>,
    /// The headers of a retry are made for it (see `clone_request`).
    credential: Option<&'a Credential>,
}

impl ExchangeRetry<'_> {
    fn fits(&self, resume_at: Instant) -> bool {
        // The next attempt needs some time of its own after the wait.
        self.deadline
            .instant()
            .is_none_or(|deadline| resume_at + BACKOFF_MIN < deadline)
    }
}

impl<B> Policy<PortalRequest, http::Response<B>, AttemptError> for ExchangeRetry<'_> {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut PortalRequest,
        result: &mut Result<http::Response<B>, AttemptError>,
    ) -> Option<Self::Future> {
        let wait = match result {
            Ok(answer) if request.method() == Method::GET && is_retryable(answer.status()) => {
                match retry_after(answer) {
                    Some(delay) => tokio::time::sleep(delay),
                    None => self.backoff.next_backoff(),
                }
            }
            // Nothing reached the portal, so even a write is safe to send again.
            Err(AttemptError::Http(error)) if error.is_connect() => self.backoff.next_backoff(),
            // The portal said it did not process it, and will on another
            // stream or connection: no reason to wait.
            Err(AttemptError::Http(error)) if refused_unprocessed(error) => {
                tokio::time::sleep(Duration::ZERO)
            }
            _ => return None,
        };
        let resume_at = wait.deadline().into_std();
        if self.attempts_left == 0 || !self.fits(resume_at) || !self.budget.withdraw() {
            return None;
        }
        // `request` is the copy `clone_request` made, without headers: they
        // are made for it now, as they were for the first attempt (they cannot
        // fail here, having not failed then).
        add_headers(request, self.credential).ok()?;
        self.attempts_left -= 1;
        self.metrics.record_portal_retry(self.endpoint);
        Some(wait)
    }

    fn clone_request(&mut self, request: &PortalRequest) -> Option<PortalRequest> {
        // Made before every attempt, the first included, for a retry that
        // seldom comes: so it copies no headers (`retry` adds them to the copy
        // it sends). The body is shared bytes; the extensions are empty.
        let mut copy = PortalRequest::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        Some(copy)
    }
}

/// Why one attempt failed: the HTTP client's error, the answer's body,
/// its time ran out, or the caller stopped waiting before the attempt was
/// sent.
#[derive(Debug)]
pub enum AttemptError {
    /// The HTTP client failed.
    Http(hyper_util::client::legacy::Error),
    /// The answer's body could not be read, or was larger than allowed.
    Body(PortalError),
    /// No answer within the attempt's time.
    TimedOut,
    /// Not sent: the caller's deadline passed or the caller left first.
    Abandoned(Abandoned),
}

/// The HTTP client, asked to send only while the caller still waits: the
/// first attempt and every one after a retry's wait check first, so a write
/// whose connection failed is never sent again for a caller that has left.
/// Each attempt has the configured timeout, or what is left of the time its
/// answer is waited for, whichever is shorter; its answer is the whole
/// answer, the body read (at most `max_body` bytes) within the same time.
#[derive(Debug, Clone)]
pub struct UnlessAbandoned {
    http: HttpClient,
    send_by: Deadline,
    answer_by: Deadline,
    timeout: Duration,
    max_body: usize,
    gone: Departure,
}

/// What one attempt is given: its time and the largest body it reads.
#[derive(Debug, Clone, Copy)]
pub struct AttemptBounds {
    /// An attempt's own time, head and body.
    pub timeout: Duration,
    /// The largest answer body read.
    pub max_body: usize,
}

impl UnlessAbandoned {
    /// `http`, sending only before `send_by` and until `gone` is
    /// signalled; each attempt answered within `attempt.timeout` and by
    /// `answer_by`.
    pub fn new(
        http: HttpClient,
        send_by: Deadline,
        answer_by: Deadline,
        attempt: AttemptBounds,
        gone: Departure,
    ) -> Self {
        Self {
            http,
            send_by,
            answer_by,
            timeout: attempt.timeout,
            max_body: attempt.max_body,
            gone,
        }
    }

    /// When an attempt that starts at `start` must have its whole answer.
    fn attempt_ends(&self, start: Instant) -> Instant {
        let configured = start + self.timeout;
        self.answer_by
            .instant()
            .map_or(configured, |answer_by| answer_by.min(configured))
    }
}

/// A whole answer: its head and its body, read.
pub type Answer = http::Response<Bytes>;

type Sent = Pin<Box<dyn Future<Output = Result<Answer, AttemptError>> + Send>>;

impl tower::Service<PortalRequest> for UnlessAbandoned {
    type Response = Answer;
    type Error = AttemptError;
    type Future = Sent;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), AttemptError>> {
        // The pool takes requests at any time; the connection permits bound it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: PortalRequest) -> Sent {
        if let Err(why) = Abandoned::check(self.send_by, &self.gone) {
            return Box::pin(std::future::ready(Err(AttemptError::Abandoned(why))));
        }
        let ends = self.attempt_ends(Instant::now());
        let sent = self.http.send(request);
        let max_body = self.max_body;
        let answered = async move {
            let (head, body) = sent.await.map_err(AttemptError::Http)?.into_parts();
            let body = read_capped(body, max_body)
                .await
                .map_err(AttemptError::Body)?;
            Ok(http::Response::from_parts(head, body))
        };
        // One timer for head and body.
        Box::pin(async move {
            tokio::time::timeout_at(ends.into(), answered)
                .await
                .unwrap_or(Err(AttemptError::TimedOut))
        })
    }
}

/// An HTTP/2 portal's word that it did not process the request: the stream
/// refused, or the connection closing gracefully before it.
fn refused_unprocessed(error: &hyper_util::client::legacy::Error) -> bool {
    causes(error)
        .filter_map(|cause| cause.downcast_ref::<h2::Error>())
        .any(|h2| {
            h2.is_remote()
                && ((h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM))
                    || (h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR)))
        })
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

fn retry_after<B>(response: &http::Response<B>) -> Option<Duration> {
    response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::{PortalSettings, http_client};

    fn request(method: Method) -> PortalRequest {
        let mut request = PortalRequest::default();
        *request.method_mut() = method;
        *request.uri_mut() = http::Uri::from_static("http://127.0.0.1:9/");
        request
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Result<http::Response<()>, AttemptError> {
        let mut builder = http::Response::builder().status(status);
        if let Some(seconds) = retry_after {
            builder = builder.header("retry-after", seconds);
        }
        Ok(builder.body(()).unwrap())
    }

    fn http() -> HttpClient {
        http_client(&PortalSettings {
            base_url: "http://127.0.0.1:9/".parse().unwrap(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_body: 1024,
            extra_roots_pem: None,
            max_connections: 1,
        })
        .unwrap()
    }

    fn unless_abandoned(send_by: Deadline, gone: Departure) -> UnlessAbandoned {
        UnlessAbandoned::new(
            http(),
            send_by,
            Deadline::NONE,
            AttemptBounds {
                timeout: Duration::from_secs(10),
                max_body: 1024,
            },
            gone,
        )
    }

    #[tokio::test]
    async fn an_attempt_the_caller_no_longer_waits_for_is_neither_sent_nor_tried_again() {
        use tower::ServiceExt as _;
        let mut gone = Departure::UNWATCHED;
        gone.watch().cancel();
        // Nothing listens at port 9 of this address: were the request sent, it would fail otherwise.
        let mut result = unless_abandoned(Deadline::NONE, gone)
            .oneshot(request(Method::PUT))
            .await;
        assert!(
            matches!(result, Err(AttemptError::Abandoned(Abandoned::CallerGone))),
            "{result:?}"
        );
        let shared = RetryShared::default();
        let mut policy = shared.policy(Deadline::NONE, "test", Arc::default(), None);
        let mut put = request(Method::PUT);
        assert!(policy.retry(&mut put, &mut result).is_none());
        let passed = unless_abandoned(
            Deadline::at(Some(std::time::Instant::now())),
            Departure::UNWATCHED,
        );
        assert!(matches!(
            passed.oneshot(request(Method::PUT)).await,
            Err(AttemptError::Abandoned(Abandoned::Deadline))
        ));
    }

    #[tokio::test]
    async fn reads_answered_5xx_are_tried_twice_more_and_nothing_else_is() {
        let shared = RetryShared::default();
        let mut policy = shared.policy(Deadline::NONE, "test", Arc::default(), None);
        let mut get = request(Method::GET);
        assert!(policy.retry(&mut get, &mut answer(503, None)).is_some());
        assert!(policy.retry(&mut get, &mut answer(502, None)).is_some());
        assert!(
            policy.retry(&mut get, &mut answer(504, None)).is_none(),
            "three attempts at most"
        );

        let mut fresh = shared.policy(Deadline::NONE, "test", Arc::default(), None);
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
        let mut policy = shared.policy(deadline, "test", Arc::default(), None);
        let mut get = request(Method::GET);
        assert!(
            policy
                .retry(&mut get, &mut answer(503, Some("60")))
                .is_none()
        );
        assert!(
            policy
                .retry(&mut get, &mut answer(503, Some("2")))
                .is_some()
        );
    }

    #[tokio::test]
    async fn an_attempt_ends_at_its_timeout_or_at_the_answer_deadline_whichever_comes_first() {
        let start = Instant::now();
        let configured = UnlessAbandoned::new(
            http(),
            Deadline::NONE,
            Deadline::NONE,
            AttemptBounds {
                timeout: Duration::from_secs(120),
                max_body: 1024,
            },
            Departure::UNWATCHED,
        );
        assert_eq!(
            configured.attempt_ends(start),
            start + Duration::from_secs(120)
        );
        let answer_by = Deadline::at(Some(start + Duration::from_secs(58)));
        let cut = UnlessAbandoned::new(
            http(),
            Deadline::NONE,
            answer_by,
            AttemptBounds {
                timeout: Duration::from_secs(120),
                max_body: 1024,
            },
            Departure::UNWATCHED,
        );
        assert_eq!(cut.attempt_ends(start), start + Duration::from_secs(58));
    }

    #[tokio::test]
    async fn a_retried_request_is_the_same_request_headers_and_all() {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let credential = Credential::Authorization("Bearer a-token".into());
        let shared = RetryShared::default();
        let mut policy = shared.policy(Deadline::NONE, "test", Arc::default(), Some(&credential));
        let mut put = request(Method::PUT);
        *put.body_mut() = super::super::transport::Body::from("{\"a\":1}");
        add_headers(&mut put, Some(&credential)).unwrap();
        let (method, uri, version, headers) = (
            put.method().clone(),
            put.uri().clone(),
            put.version(),
            put.headers().clone(),
        );
        let mut copy = <ExchangeRetry<'_> as Policy<
            PortalRequest,
            http::Response<Bytes>,
            AttemptError,
        >>::clone_request(&mut policy, &put)
        .unwrap();
        assert!(
            copy.headers().is_empty(),
            "made before every attempt, for a retry that seldom comes"
        );
        // Nothing listens at port 9 of this address: the attempt fails to
        // connect, which even a write is tried again after.
        let mut failed = unless_abandoned(Deadline::NONE, Departure::UNWATCHED)
            .oneshot(put)
            .await;
        assert!(policy.retry(&mut copy, &mut failed).is_some(), "{failed:?}");
        assert_eq!(copy.method(), method);
        assert_eq!(copy.uri(), &uri);
        assert_eq!(copy.version(), version);
        assert_eq!(copy.headers(), &headers);
        assert_eq!(
            headers.len(),
            4,
            "credential, User-Agent, Content-Type, Accept"
        );
        assert!(copy.headers()[http::header::AUTHORIZATION].is_sensitive());
        assert_eq!(
            copy.into_body().collect().await.unwrap().to_bytes(),
            "{\"a\":1}"
        );
    }
}
