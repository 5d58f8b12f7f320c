//! Injected misbehaviour: the faults a test can queue, and how each one turns a request's real
//! answer into something else (another answer, a broken or cut-off body, a proxy's error page).

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{HeaderName, StatusCode, header},
    response::Response,
};
use tokio::time::Sleep;
use tokio_stream::Stream;

use super::wire::{self, Exception, Failure, Incoming, Reply};
use crate::Product;

/// Something to do instead of, or on top of, answering a request normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this instead of handling the request (the request is NOT applied).
    Respond {
        /// HTTP status (an invalid code becomes 500).
        status: u16,
        /// `Content-Type`; `None` sends none.
        content_type: Option<String>,
        /// Body text.
        body: String,
        /// Extra headers (framing headers are left to the server).
        headers: Vec<(String, String)>,
    },
    /// Answer with the product's own JSON error envelope for this status and message (not applied).
    PortalError {
        /// HTTP status and `statusCode`.
        status: u16,
        /// `error.message`.
        message: String,
    },
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Apply the request, then answer 200 application/json with a body that is not JSON.
    MalformedBody,
    /// Apply the request, then send a Content-Length for the full real answer but only its first
    /// half, then drop the connection.
    TruncatedBody,
    /// A reverse proxy's HTML error page with this status (502, 503, 504…); not applied.
    Html {
        /// HTTP status.
        status: u16,
    },
}

fn status_or_500(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// `Fault::Respond`: exactly what the test asked for.
pub(crate) fn canned(
    status: u16,
    content_type: Option<&str>,
    body: &str,
    headers: &[(String, String)],
) -> Reply {
    let mut reply = Reply::empty(status_or_500(status)).with_body(body.to_owned());
    if let Some(content_type) = content_type {
        reply = reply.with_header(header::CONTENT_TYPE, content_type);
    }
    for (name, value) in headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        // why: the server frames the body itself; a conflicting length would break the exchange.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        reply = reply.with_header(name, value);
    }
    reply
}

/// `Fault::PortalError`: the product's error envelope for this status.
pub(crate) fn portal_error(
    product: Product,
    status: u16,
    message: &str,
    incoming: &Incoming,
) -> Reply {
    let status = status_or_500(status);
    let failure = Failure::new(status, Exception::for_status(status), message);
    match product {
        Product::Workspace => wire::workspace_error(&failure),
        Product::Docspace => {
            let frame = format!(
                "ASC.People.Api.UserController ({} {})",
                incoming.method, incoming.raw_path
            );
            wire::docspace_error(&failure, &frame)
        }
    }
}

/// `Fault::MalformedBody`: a 200 that claims JSON but stops mid-object.
pub(crate) fn malformed_json() -> Reply {
    Reply::new(
        StatusCode::OK,
        "application/json; charset=utf-8",
        r#"{"count":1,"status":0,"statusCode":200,"response":{"id":"#,
    )
}

/// `Fault::Html`: what nginx in front of the portal sends when the backend is unreachable.
pub(crate) fn proxy_page(status: u16) -> Reply {
    let status = status_or_500(status);
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    Reply::new(status, "text/html", page).with_header(header::SERVER, "nginx")
}

/// `Fault::TruncatedBody`: the real status and headers with a `Content-Length` for the whole
/// body, then only its first half before the connection is dropped.
pub(crate) fn truncated(reply: Reply) -> Response {
    let full_length = reply.body.len();
    let half = reply.body.slice(..full_length / 2);
    let mut response = Reply {
        body: Bytes::new(),
        ..reply
    }
    .with_header(header::CONTENT_LENGTH, &full_length.to_string())
    .into_response();
    *response.body_mut() = Body::from_stream(HalfThenAbort {
        half: Some(half),
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
    });
    response
}

/// Yields the first half, pauses so the server flushes it, then fails, which makes the server
/// abort the connection short of the announced length.
struct HalfThenAbort {
    half: Option<Bytes>,
    pause: Pin<Box<Sleep>>,
}

impl Stream for HalfThenAbort {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(half) = this.half.take() {
            return Poll::Ready(Some(Ok(half)));
        }
        match this.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "simulated truncated body",
            )))),
        }
    }
}

/// The rate limiter's refusal, as DocSpace's middleware sends it before any API method runs:
/// HTTP 429 with no body; nothing is applied. DS@v3.7.2 common/ASC.Api.Core/Core/BaseStartup.cs
/// :191-412 (the same design at v3.6.1 :133-343) chains a per-user sliding window (1,500 a
/// minute), concurrency limits (50 reads, 15 writes at once) and, for POST and PUT, a fixed
/// daily window (10,000), and rejects through RedisRateLimiting.AspNetCore's
/// `RateLimitMetadata.OnRejected` (RateLimitMetadata.cs:13-33): status 429 and the lease's
/// metadata as headers. Only the fixed window's lease carries `Retry-After` (whole seconds) and
/// `X-RateLimit-Reset` (Unix seconds); the others carry `X-RateLimit-Limit`/`-Remaining` alone.
pub(crate) fn rate_limited(retry_after_seconds: Option<u64>) -> Reply {
    let limit = HeaderName::from_static("x-ratelimit-limit");
    let remaining = HeaderName::from_static("x-ratelimit-remaining");
    let reply = Reply::empty(StatusCode::TOO_MANY_REQUESTS).with_header(remaining, "0");
    match retry_after_seconds {
        None => reply.with_header(limit, "1500"),
        Some(seconds) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            reply
                .with_header(limit, "10000")
                .with_header(header::RETRY_AFTER, &seconds.to_string())
                .with_header(
                    HeaderName::from_static("x-ratelimit-reset"),
                    &(now + seconds).to_string(),
                )
        }
    }
}
