//! A unary call's request message is received in full before the call takes
//! one of PeopleService's concurrency slots: a caller that never finishes its
//! request holds no slot, only the bytes it sent. Those bytes come out of one
//! gateway-wide budget until the call is answered, a request larger than the message limit is refused as
//! soon as it says so, and one that does not arrive within
//! `--receive-timeout` is answered and dropped. SyncUsers streams pass
//! through: their items are bounded by the stream's own limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tower::{BoxError, ServiceExt as _};

use crate::error::{FieldViolation, GatewayError};

/// The gRPC frame header before each message: a flag and a 4-byte length.
const FRAME_HEADER: usize = 5;

/// How unary requests are received.
#[derive(Debug, Clone)]
pub struct ReceiveLayer {
    /// Bytes of request bodies being received, over all calls.
    budget: Arc<Semaphore>,
    /// The largest request message.
    max_message: usize,
    /// How long a request may take to arrive in full.
    timeout: Duration,
}

impl ReceiveLayer {
    /// At most `budget_bytes` of unfinished requests at once, each at most
    /// `max_message` bytes and arriving within `timeout`.
    pub fn new(budget_bytes: usize, max_message: usize, timeout: Duration) -> Self {
        Self {
            budget: Arc::new(Semaphore::new(budget_bytes.min(Semaphore::MAX_PERMITS))),
            max_message,
            timeout,
        }
    }
}

impl<S> tower::Layer<S> for ReceiveLayer {
    type Service = Receive<S>;

    fn layer(&self, inner: S) -> Receive<S> {
        Receive {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ReceiveLayer`] makes.
#[derive(Debug, Clone)]
pub struct Receive<S> {
    inner: S,
    layer: ReceiveLayer,
}

impl<S> tower::Service<http::Request<Body>> for Receive<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The inner service is made ready once the request is in hand.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut inner = self.inner.clone();
        let layer = self.layer.clone();
        Answer::Receiving {
            receiving: Box::pin(async move {
                let (request, held) = if request.uri().path().ends_with("/SyncUsers") {
                    (request, None)
                } else {
                    receive_whole(request, &layer).await?
                };
                let answer = inner.ready().await?.call(request);
                Ok((answer, held))
            }),
        }
    }
}

/// The request with its whole body in hand, and the budget that body holds;
/// refused past the receive timeout.
async fn receive_whole(
    request: http::Request<Body>,
    layer: &ReceiveLayer,
) -> Result<(http::Request<Body>, Held), GatewayError> {
    let (parts, body) = request.into_parts();
    let (bytes, held) = tokio::time::timeout(layer.timeout, receive(body, layer))
        .await
        .map_err(|_| GatewayError::ReceiveTimeout(layer.timeout))??;
    let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
    Ok((request, held))
}

/// Receiving a request and handing it on: the first stage, boxed.
type BoxedReceiving<F> = Pin<Box<dyn Future<Output = Result<(F, Held), BoxError>> + Send>>;

/// The request's bytes, counted against the budget until the call is answered.
type Held = Option<OwnedSemaphorePermit>;

pin_project_lite::pin_project! {
    /// One call through [`Receive`]: receiving its request, boxed, then the
    /// inner service's answer, inline. Every call in flight waits in the
    /// second stage, which holds only the inner future and the bytes'
    /// permit; the first stage's box (the request's parts, the body being
    /// read, the timer) is gone by then.
    #[project = Stage]
    pub enum Answer<F> {
        /// The request arriving, then the inner service called with it.
        Receiving { receiving: BoxedReceiving<F> },
        /// The inner service's answer coming.
        Called {
            #[pin]
            answer: F,
            held: Held,
        },
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<http::Response<Body>, BoxError>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        loop {
            match self.as_mut().project() {
                Stage::Receiving { receiving } => match receiving.as_mut().poll(cx) {
                    Poll::Ready(Ok((answer, held))) => self.set(Answer::Called { answer, held }),
                    Poll::Ready(Err(refusal)) => return Poll::Ready(Err(refusal)),
                    Poll::Pending => return Poll::Pending,
                },
                Stage::Called { answer, held } => {
                    let answer = std::task::ready!(answer.poll(cx));
                    // The bytes stop counting once the call is answered
                    // (tonic has decoded them).
                    drop(held.take());
                    return Poll::Ready(answer);
                }
            }
        }
    }
}

/// Whether tonic-web's error is its base64 decoding failing
/// (tonic-web 0.14 `call.rs`: the base64 engine's `Invalid …` errors,
/// "malformed base64 request …", "unexpected frame type").
fn is_malformed_grpc_web(message: &str) -> bool {
    message.strip_prefix("tonic-web: ").is_some_and(|said| {
        said.starts_with("Invalid")
            || said.starts_with("Encoded text")
            || said.starts_with("malformed base64")
            || said.starts_with("unexpected frame type")
    })
}

/// The whole body, and the budget it holds (until the call is answered).
async fn receive(
    mut body: Body,
    layer: &ReceiveLayer,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), GatewayError> {
    let limit = layer.max_message.saturating_add(FRAME_HEADER);
    let mut received = BytesMut::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|status| {
            // gRPC-Web's translation fails on a malformed body (base64 it
            // cannot decode): the caller's request, not its departure. Its
            // transport errors carry the same prefix, so the decoder's own
            // words tell them apart.
            if is_malformed_grpc_web(status.message()) {
                GatewayError::InvalidArgument(vec![FieldViolation::new(
                    "(body)",
                    "is not a well-formed gRPC-Web request",
                )])
            } else {
                GatewayError::CallerGone
            }
        })?;
        let Ok(data) = frame.into_data() else {
            // Trailers end a request; nothing of them is needed.
            continue;
        };
        if received.len().saturating_add(data.len()) > limit {
            return Err(GatewayError::MessageTooLarge);
        }
        let size = u32::try_from(data.len()).map_err(|_| GatewayError::MessageTooLarge)?;
        if size > 0 {
            let permit = Arc::clone(&layer.budget)
                .try_acquire_many_owned(size)
                .map_err(|_| GatewayError::Overloaded)?;
            match &mut held {
                Some(held) => held.merge(permit),
                None => held = Some(permit),
            }
        }
        received.extend_from_slice(&data);
    }
    Ok((received.freeze(), held))
}

#[cfg(test)]
mod tests {
    use tower::{Layer as _, ServiceExt as _};

    use super::*;

    fn request(bytes: &'static [u8]) -> http::Request<Body> {
        http::Request::post("/onlyoffice.people.v1.PeopleService/GetUser")
            .body(Body::new(Full::new(Bytes::from_static(bytes))))
            .unwrap()
    }

    #[tokio::test]
    async fn bytes_beyond_the_budget_or_the_limit_are_refused() {
        let answered = tower::service_fn(|request: http::Request<Body>| async move {
            let body = request.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>(http::Response::new(Body::new(Full::new(body))))
        });
        let receive = ReceiveLayer::new(16, 64, Duration::from_secs(1)).layer(answered);
        let refusal = |result: Result<http::Response<Body>, BoxError>| {
            result
                .err()
                .and_then(|error| error.downcast::<GatewayError>().ok())
                .map(|error| error.to_string())
        };
        let over_budget = receive.clone().oneshot(request(&[7; 20])).await;
        assert_eq!(
            refusal(over_budget),
            Some(GatewayError::Overloaded.to_string())
        );
        let over_limit = ReceiveLayer::new(1024, 8, Duration::from_secs(1))
            .layer(receive.inner)
            .oneshot(request(&[7; 20]))
            .await;
        assert_eq!(
            refusal(over_limit),
            Some(GatewayError::MessageTooLarge.to_string())
        );
        // Within both, the request reaches the service whole.
        let answer = receive.oneshot(request(&[7; 12])).await.unwrap();
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.as_ref(), &[7; 12]);
    }
}
