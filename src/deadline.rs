//! A call's deadline: the caller's `grpc-timeout`, counted from the moment
//! its headers arrive (not from when its request message is whole), and the
//! layer that holds PeopleService calls to it. At the deadline the caller
//! hears DEADLINE_EXCEEDED, whether or not its message ever arrived; nothing
//! is sent to the portal for it after that.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::body::Body;

use crate::domain::{Deadline, Passed};
use crate::error::GatewayError;

/// tonic's own timer for `grpc-timeout` starts just after [`Arrival::stamp`]
/// and answers CANCELLED "Timeout expired"; the gateway's deadline ends this
/// much earlier, so the caller hears DEADLINE_EXCEEDED (timers resolve to 1 ms).
const AHEAD_OF_TRANSPORT_TIMER: Duration = Duration::from_millis(1);

/// The caller's deadline, as gRPC sends it.
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// When a call's headers arrived, stamped by the server's outermost layer.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(Instant);

impl Arrival {
    /// Stamps a request with the moment it arrives. tonic's own timer starts
    /// only after the server's layers have been called (and routing to
    /// PeopleService may wait for a poll), so the stamp must come first.
    pub fn stamp<B>(mut request: http::Request<B>) -> http::Request<B> {
        request.extensions_mut().insert(Arrival(Instant::now()));
        request
    }
}

/// The deadline the layer found on a call, in its request's extensions.
#[derive(Debug, Clone, Copy)]
struct CallDeadline(Deadline);

/// The deadline of a call that passed [`DeadlineLayer`]; none otherwise.
pub fn of(extensions: &http::Extensions) -> Deadline {
    extensions
        .get::<CallDeadline>()
        .map_or(Deadline::NONE, |found| found.0)
}

/// Reads each call's `grpc-timeout` as its headers arrive, hands the
/// deadline to the handler, and answers DEADLINE_EXCEEDED when it passes
/// first. tower's own timeout has one duration for all calls and answers
/// with an error rather than a gRPC status, so it does not fit here.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineLayer;

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = WithDeadline<S>;

    fn layer(&self, inner: S) -> WithDeadline<S> {
        WithDeadline { inner }
    }
}

/// The service [`DeadlineLayer`] makes.
#[derive(Debug, Clone)]
pub struct WithDeadline<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for WithDeadline<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = WithinDeadline<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let arrived = request
            .extensions()
            .get::<Arrival>()
            .map_or_else(Instant::now, |arrival| arrival.0);
        let deadline = request
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout)
            .and_then(|timeout| arrived.checked_add(timeout))
            .map(|at| at.checked_sub(AHEAD_OF_TRANSPORT_TIMER).unwrap_or(at));
        let deadline = Deadline::at(deadline);
        request.extensions_mut().insert(CallDeadline(deadline));
        WithinDeadline {
            answer: self.inner.call(request),
            passed: deadline.passed(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A call racing its deadline; the answer wins a tie. Held inline by the
    /// layer above rather than boxed: every call in flight has one.
    pub struct WithinDeadline<F> {
        #[pin]
        answer: F,
        #[pin]
        passed: Passed,
    }
}

impl<F, E> Future for WithinDeadline<F>
where
    F: Future<Output = Result<http::Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Poll::Ready(answer) = this.answer.poll(cx) {
            return Poll::Ready(answer);
        }
        this.passed
            .poll(cx)
            .map(|()| Ok(Status::from(GatewayError::DeadlineExceeded).into_http()))
    }
}

/// Parses `grpc-timeout`: at most eight digits and a unit (`H`, `M`, `S`,
/// `m`, `u`, `n`), as the gRPC HTTP/2 protocol defines it.
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(value.checked_mul(3600)?),
        'M' => Duration::from_secs(value.checked_mul(60)?),
        'S' => Duration::from_secs(value),
        'm' => Duration::from_millis(value),
        'u' => Duration::from_micros(value),
        'n' => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_as_the_protocol_defines_them() {
        assert_eq!(parse_grpc_timeout("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_grpc_timeout("99999999S"),
            Some(Duration::from_secs(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        for bad in ["", "S", "123456789S", "1x", "-1S", "1.5S", "١S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
