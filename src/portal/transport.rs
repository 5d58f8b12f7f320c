//! What the gateway puts on the HTTP client's requests and makes of its
//! answers and failures: a request's headers (the credential as a sensitive
//! one) and JSON body, an answer's body read within its cap, and
//! transport errors told apart (timeout, plain HTTP, unreadable, unreachable)
//! without the URL, which holds user names and ids.

use bytes::{Bytes, BytesMut};
use reqwest::Request;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderName, HeaderValue};
use serde::Serialize;

use super::envelope::PortalError;
use crate::domain::Credential;
use crate::telemetry::trace;

/// The W3C trace context header.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The request id header, as the caller's.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers the gateway itself adds to an exchange at most: credential,
/// `Accept`, `Content-Type`, `traceparent` and `x-request-id`.
const HEADERS_SENT: usize = 5;

/// A write's JSON body. Its `Content-Type` comes with the other headers in
/// [`add_headers`]: a write waiting for a connection permit holds its body,
/// not a header map as well.
pub(super) fn json_body(body: &impl Serialize) -> Result<Vec<u8>, PortalError> {
    serde_json::to_vec(body)
        .map_err(|error| PortalError::Unreachable(format!("request body not encodable: {error}")))
}

/// Adds every header of an exchange once it holds a connection permit (and
/// before the retry policy copies it): the caller's
/// credential (sensitive, so it never shows in debug output), `Accept`,
/// `Content-Type` for a body (always JSON), and the trace context.
pub(super) fn add_headers(
    request: &mut Request,
    credential: Option<&Credential>,
) -> Result<(), PortalError> {
    let has_body = request.body().is_some();
    let headers = request.headers_mut();
    headers.reserve(HEADERS_SENT);
    if let Some(credential) = credential {
        let (name, value) = credential_header(credential)?;
        headers.insert(name, value);
    }
    let json = HeaderValue::from_static("application/json");
    if has_body {
        headers.insert(CONTENT_TYPE, json.clone());
    }
    headers.insert(ACCEPT, json);
    // Made here from hex digits, and checked as visible ASCII on the way in:
    // neither can fail.
    let trace_headers = trace::with_current(|trace| {
        Ok::<_, http::header::InvalidHeaderValue>((
            HeaderValue::try_from(trace.child_traceparent())?,
            HeaderValue::from_str(trace.request_id())?,
        ))
    });
    if let Some(made) = trace_headers {
        let (traceparent, request_id) = made.map_err(|_| {
            PortalError::Unreachable("trace context is not a valid header value".into())
        })?;
        headers.insert(TRACEPARENT, traceparent);
        headers.insert(REQUEST_ID, request_id);
    }
    Ok(())
}

/// The credential as a sensitive header.
fn credential_header(credential: &Credential) -> Result<(HeaderName, HeaderValue), PortalError> {
    // Credentials are validated as visible ASCII on the way in, so this cannot fail.
    let (name, value) = match credential {
        Credential::Authorization(token) => (AUTHORIZATION, HeaderValue::from_str(token)),
        Credential::CookieToken(token) => (
            COOKIE,
            HeaderValue::try_from(format!("asc_auth_key={token}")),
        ),
    };
    let mut value = value
        .map_err(|_| PortalError::Unreachable("credential is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Reads the body chunk by chunk, giving up as soon as it grows past `cap`:
/// an endless or huge answer costs at most `cap` bytes.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Bytes, PortalError> {
    let too_large = || PortalError::Undecodable(format!("answer body larger than {cap} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(too_large());
    }
    let mut body = Gathered::default();
    while let Some(chunk) = response.chunk().await.map_err(body_error)? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.push(chunk);
    }
    Ok(body.into_bytes())
}

/// An answer's body as its chunks arrive: one chunk (the usual answer) is
/// kept as it came, without a copy; more are copied into one buffer.
#[derive(Debug, Default)]
struct Gathered {
    first: Option<Bytes>,
    copied: BytesMut,
}

impl Gathered {
    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.copied.len()
    }

    fn push(&mut self, chunk: Bytes) {
        match self.first.take() {
            Some(first) => {
                self.copied.reserve(first.len() + chunk.len());
                self.copied.extend_from_slice(&first);
                self.copied.extend_from_slice(&chunk);
            }
            None if self.copied.is_empty() => self.first = Some(chunk),
            None => self.copied.extend_from_slice(&chunk),
        }
    }

    fn into_bytes(self) -> Bytes {
        self.first.unwrap_or_else(|| self.copied.freeze())
    }
}

pub(super) fn transport_error(error: reqwest::Error) -> PortalError {
    if error.is_timeout() {
        PortalError::Timeout
    } else if is_plain_http_answer(&error) {
        PortalError::NotTls
    } else if let Some(reason) = certificate_refused(&error) {
        PortalError::Certificate(reason)
    } else if is_malformed_answer(&error) {
        // The portal answered, but not with HTTP the client can read.
        PortalError::Undecodable(describe(error))
    } else {
        PortalError::Unreachable(describe(error))
    }
}

/// rustls's reason for refusing the portal's certificate, when that is what
/// failed (`invalid peer certificate: UnknownIssuer`); only the reason is
/// kept, never a host or a name.
fn certificate_refused(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if let Some(reason) = text.strip_prefix("invalid peer certificate: ") {
            let reason: String = reason
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            return Some(if reason.is_empty() {
                "refused".into()
            } else {
                reason
            });
        }
        source = cause.source();
    }
    None
}

/// A TLS handshake that got a plain HTTP answer: rustls reports the first
/// bytes (`HTTP/1.1 …`) as a record of an invalid content type.
fn is_plain_http_answer(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.to_string().contains("InvalidContentType") {
            return true;
        }
        source = cause.source();
    }
    false
}

/// An unparseable status line or head, or headers too many or too large.
fn is_malformed_answer(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            return hyper_error.is_parse() || hyper_error.is_parse_status();
        }
        source = cause.source();
    }
    false
}

/// A body that broke off mid-way is unreadable; a slow one is a timeout.
fn body_error(error: reqwest::Error) -> PortalError {
    if error.is_timeout() {
        PortalError::Timeout
    } else {
        PortalError::Undecodable(format!("body: {}", describe(error)))
    }
}

/// The error text without the URL (it holds user names and ids).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_its_chunks_in_order_and_one_chunk_is_not_copied() {
        let chunk = Bytes::from_static(b"{\"a\":1}");
        let mut one = Gathered::default();
        one.push(chunk.clone());
        assert_eq!(one.len(), 7);
        let body = one.into_bytes();
        assert_eq!(body, "{\"a\":1}");
        assert_eq!(body.as_ptr(), chunk.as_ptr(), "kept as it came");

        let mut many = Gathered::default();
        for (piece, so_far) in [("", 0), ("{\"a\"", 4), (":", 5), ("", 5), ("1}", 7)] {
            many.push(Bytes::from_static(piece.as_bytes()));
            assert_eq!(many.len(), so_far);
        }
        assert_eq!(many.into_bytes(), "{\"a\":1}");
        assert!(Gathered::default().into_bytes().is_empty());
    }
}
