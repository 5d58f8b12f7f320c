//! The HTTP client under the portal client, and what the gateway puts on
//! its requests and makes of its answers and failures: the pool and its TLS
//! ([`http_client`]), a request's headers (the credential as a sensitive
//! one) and JSON body, an answer's body read within its cap,
//! and transport errors told apart (timeout, plain HTTP, certificate,
//! unreadable, unreachable) without the URL, which holds user names and ids.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderName, HeaderValue, USER_AGENT,
};
use http::{Method, Request};
use http_body::Body as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Serialize;
use url::Url;

use super::envelope::PortalError;
use super::{PortalSettings, PortalSetupError};
use crate::domain::Credential;
use crate::telemetry::trace;

/// A request's body: a write's JSON, or nothing.
pub type Body = Full<Bytes>;

/// A request to the portal, as the HTTP client sends it.
pub type PortalRequest = Request<Body>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// TCP keepalive on portal connections, probed this often after this much
/// quiet, so that a portal that vanished without a word (or a firewall that
/// forgot the connection) is noticed on an idle connection too.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
/// Unanswered keepalive probes before the connection is given up.
const TCP_KEEPALIVE_PROBES: u32 = 3;
/// How long data sent may stay unacknowledged before the connection is
/// given up (Linux).
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// The portal's HTTP client and its connection pool: hyper-util's, over
/// TCP or rustls. A TLS portal that offers HTTP/2 by ALPN is spoken to over
/// HTTP/2 (one connection carries every request); anything else over
/// HTTP/1.1, with up to `max_connections` pooled connections.
///
/// Not reqwest, which runs on the same pool: its layers (a redirect policy
/// that parses every request's URL again, a protocol retry that copies every
/// request's headers, a map of settings on each request) cost about a
/// quarter of a whole portal exchange, and the gateway needs none of them.
///
/// Shared: a clone is one reference count, for each exchange takes one.
#[derive(Debug, Clone)]
pub struct HttpClient(Arc<Client<ConnectWithin<HttpsConnector<HttpConnector>>, Body>>);

impl HttpClient {
    /// Sends `request` over a pooled connection, or a new one.
    pub fn send(&self, request: PortalRequest) -> ResponseFuture {
        self.0.request(request)
    }
}

/// The HTTP client and connection pool for a portal, as the settings say:
/// the built-in roots and any extra ones, the connect timeout, the pool's
/// size. The benchmark's floor sends its requests through the same.
pub fn http_client(settings: &PortalSettings) -> Result<HttpClient, PortalSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &settings.extra_roots_pem {
        let refused = |error: &dyn std::fmt::Display| PortalSetupError::Roots(error.to_string());
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(certificate.map_err(|error| refused(&error))?)
                .map_err(|error| refused(&error))?;
            added += 1;
        }
        // A file of anything else (a key, a typo'd path's neighbour) would
        // otherwise trust nothing more and say nothing.
        if added == 0 {
            return Err(refused(&"no PEM certificate in it"));
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| PortalSetupError::Tls(error.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = HttpConnector::new();
    // `https://` is the TLS layer's to handle.
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(settings.connect_timeout));
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(TCP_KEEPALIVE));
    tcp.set_keepalive_interval(Some(TCP_KEEPALIVE));
    tcp.set_keepalive_retries(Some(TCP_KEEPALIVE_PROBES));
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    tcp.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
    let connector = ConnectWithin {
        connector: hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp),
        timeout: settings.connect_timeout,
    };
    let client = Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(settings.max_connections)
        .build(connector);
    Ok(HttpClient(Arc::new(client)))
}

/// A connector whose connections are made within `timeout`, the name lookup
/// and the TLS handshake included (hyper-util's own connect timeout bounds
/// each TCP connect only). Running out of time is a connect error of kind
/// `TimedOut`: nothing was sent, so the attempt may be made again.
#[derive(Debug, Clone)]
struct ConnectWithin<C> {
    connector: C,
    timeout: Duration,
}

type Connecting<T> =
    Pin<Box<dyn Future<Output = Result<T, Box<dyn StdError + Send + Sync>>> + Send>>;

impl<C> tower::Service<http::Uri> for ConnectWithin<C>
where
    C: tower::Service<http::Uri>,
    C::Error: Into<Box<dyn StdError + Send + Sync>>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = Box<dyn StdError + Send + Sync>;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.connector.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.connector.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no connection within the connect timeout",
                )
                .into()),
            }
        })
    }
}

/// A request for `url`, with `body` as a write's JSON. Its headers come
/// later, in [`add_headers`].
pub(super) fn request(
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
) -> Result<PortalRequest, PortalError> {
    // The URL's own text becomes the URI's, without a copy.
    let uri = http::Uri::from_maybe_shared(Bytes::from(String::from(url)))
        .map_err(|_| PortalError::Unreachable("the request URL is not a valid URI".into()))?;
    let mut request = Request::new(body.map(Bytes::from).map(Full::new).unwrap_or_default());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    Ok(request)
}

/// Who is asking, on every request.
const PRODUCT: HeaderValue =
    HeaderValue::from_static(concat!("people-gateway/", env!("CARGO_PKG_VERSION")));

/// Headers the gateway itself adds to an exchange at most: credential,
/// `User-Agent`, `Accept`, `Content-Type`, `traceparent` and `x-request-id`.
const HEADERS_SENT: usize = 6;

/// A write's JSON body. Its `Content-Type` comes with the other headers in
/// [`add_headers`]: a write waiting for a connection permit holds its body,
/// not a header map as well.
pub(super) fn json_body(body: &impl Serialize) -> Result<Vec<u8>, PortalError> {
    serde_json::to_vec(body)
        .map_err(|error| PortalError::Unreachable(format!("request body not encodable: {error}")))
}

/// Adds every header of an exchange once it holds a connection permit, and
/// to each retry's copy when it is sent (see `retry`): the caller's
/// credential (sensitive, so it never shows in debug output), `User-Agent`,
/// `Accept`, `Content-Type` for a body (always JSON), and the trace context.
pub(super) fn add_headers(
    request: &mut PortalRequest,
    credential: Option<&Credential>,
) -> Result<(), PortalError> {
    let has_body = !request.body().is_end_stream();
    let headers = request.headers_mut();
    headers.reserve(HEADERS_SENT);
    if let Some(credential) = credential {
        let (name, value) = credential_header(credential)?;
        headers.insert(name, value);
    }
    headers.insert(USER_AGENT, PRODUCT);
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
        let (mut traceparent, mut request_id) = made.map_err(|_| {
            PortalError::Unreachable("trace context is not a valid header value".into())
        })?;
        // New with every call: an HTTP/2 portal's HPACK table gains nothing
        // by indexing them, and would evict what does repeat.
        traceparent.set_sensitive(true);
        request_id.set_sensitive(true);
        headers.insert(trace::TRACEPARENT, traceparent);
        headers.insert(trace::REQUEST_ID, request_id);
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
/// an endless or huge answer costs at most `cap` bytes. Its time is the
/// attempt's, one timer for head and body alike ([`super::retry`]).
pub(super) async fn read_capped(mut body: Incoming, cap: usize) -> Result<Bytes, PortalError> {
    let too_large = || PortalError::Undecodable(format!("answer body larger than {cap} bytes"));
    // A declared length is the hint's lower bound.
    if body.size_hint().lower() > cap as u64 {
        return Err(too_large());
    }
    let mut gathered = Gathered::default();
    while let Some(frame) = body.frame().await {
        // Trailers carry nothing the gateway reads.
        if let Ok(chunk) = frame.map_err(body_error)?.into_data() {
            if gathered.len() + chunk.len() > cap {
                return Err(too_large());
            }
            gathered.push(chunk);
        }
    }
    Ok(gathered.into_bytes())
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

/// What a failed attempt means for the caller. An attempt that ran out of
/// time is [`AttemptError::TimedOut`](super::retry::AttemptError) instead.
pub(super) fn transport_error(error: hyper_util::client::legacy::Error) -> PortalError {
    if timed_out(&error) {
        // The connect timeout.
        PortalError::Timeout
    } else if is_plain_http_answer(&error) {
        PortalError::NotTls
    } else if let Some(reason) = certificate_refused(&error) {
        PortalError::Certificate(reason)
    } else if is_malformed_answer(&error) {
        // The portal answered, but not with HTTP the client can read.
        PortalError::Undecodable(describe(&error))
    } else {
        PortalError::Unreachable(describe(&error))
    }
}

/// `error` and its causes, outermost first.
pub(super) fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&cause| cause.source())
}

/// A connection not made within the connect timeout, or one the system gave
/// up on (`ETIMEDOUT`, which the TLS layer wraps in an error of its own).
fn timed_out(error: &(dyn StdError + 'static)) -> bool {
    fn is_timeout(io: &std::io::Error) -> bool {
        io.kind() == std::io::ErrorKind::TimedOut
            || io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>())
                .is_some_and(is_timeout)
    }
    causes(error).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(is_timeout)
    })
}

/// rustls's reason for refusing the portal's certificate, when that is what
/// failed (`invalid peer certificate: UnknownIssuer`); only the reason is
/// kept, never a host or a name.
fn certificate_refused(error: &(dyn StdError + 'static)) -> Option<String> {
    causes(error).find_map(|cause| {
        let text = cause.to_string();
        let reason: String = text
            .strip_prefix("invalid peer certificate: ")?
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        Some(if reason.is_empty() {
            "refused".into()
        } else {
            reason
        })
    })
}

/// A TLS handshake that got a plain HTTP answer: rustls reports the first
/// bytes (`HTTP/1.1 …`) as a record of an invalid content type.
fn is_plain_http_answer(error: &(dyn StdError + 'static)) -> bool {
    causes(error).any(|cause| cause.to_string().contains("InvalidContentType"))
}

/// An unparseable status line or head, or headers too many or too large.
fn is_malformed_answer(error: &(dyn StdError + 'static)) -> bool {
    causes(error)
        .find_map(|cause| cause.downcast_ref::<hyper::Error>())
        .is_some_and(|hyper_error| hyper_error.is_parse() || hyper_error.is_parse_status())
}

/// A body that broke off mid-way is unreadable.
fn body_error(error: hyper::Error) -> PortalError {
    PortalError::Undecodable(format!("body: {}", describe(&error)))
}

/// The error and its causes as one text. Neither hyper nor rustls puts the
/// URL (which holds user names and ids) into an error.
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    for cause in causes(error) {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base_url: &str) -> PortalSettings {
        PortalSettings {
            base_url: base_url.parse().unwrap(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_millis(200),
            max_body: 1024,
            extra_roots_pem: None,
            max_connections: 1,
        }
    }

    #[tokio::test]
    async fn a_portal_that_never_finishes_the_tls_handshake_is_a_connect_timeout() {
        // Accepts the TCP connection and then says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.push(stream);
            }
        });
        let http = http_client(&settings(&url)).unwrap();
        let request = request(Method::GET, url.parse().unwrap(), None).unwrap();
        let error = tokio::time::timeout(Duration::from_secs(20), http.send(request))
            .await
            .expect("the connect timeout ends the attempt")
            .unwrap_err();
        assert!(
            error.is_connect(),
            "{error:?}: nothing was sent, so it may be sent again"
        );
        assert!(matches!(transport_error(error), PortalError::Timeout));
        held.abort();
    }

    #[tokio::test]
    async fn a_request_carries_its_headers_and_what_is_new_each_call_is_never_indexed() {
        let credential = Credential::authorization("Bearer secret").unwrap();
        let url: Url = "http://portal.test/api/2.0/people/@self".parse().unwrap();
        let call_trace = trace::CallTrace::from_metadata(&tonic::metadata::MetadataMap::new());
        let (get, put) = call_trace
            .scope(async {
                let mut get = request(Method::GET, url.clone(), None).unwrap();
                add_headers(&mut get, Some(&credential)).unwrap();
                let mut put = request(Method::PUT, url.clone(), Some(b"{}".to_vec())).unwrap();
                add_headers(&mut put, Some(&credential)).unwrap();
                (get, put)
            })
            .await;
        let headers = get.headers();
        assert_eq!(headers[USER_AGENT], PRODUCT);
        assert_eq!(headers[ACCEPT], "application/json");
        assert!(!headers.contains_key(CONTENT_TYPE), "a GET has no body");
        assert_eq!(put.headers()[CONTENT_TYPE], "application/json");
        for name in [AUTHORIZATION, trace::TRACEPARENT, trace::REQUEST_ID] {
            assert!(headers[&name].is_sensitive(), "{name}");
        }
        assert!(!headers[ACCEPT].is_sensitive());
        assert_eq!(get.uri(), url.as_str());
    }

    #[test]
    fn extra_roots_must_hold_a_certificate() {
        let mut with = settings("https://portal.test/");
        with.extra_roots_pem =
            Some(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec());
        assert!(matches!(
            http_client(&with),
            Err(PortalSetupError::Roots(_))
        ));
        with.extra_roots_pem = Some(b"not PEM at all".to_vec());
        assert!(matches!(
            http_client(&with),
            Err(PortalSetupError::Roots(_))
        ));
        let ca = rcgen::generate_simple_self_signed(vec!["portal.test".to_owned()]).unwrap();
        with.extra_roots_pem = Some(ca.cert.pem().into_bytes());
        assert!(http_client(&with).is_ok());
    }

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
