//! The portal client: one method per People REST endpoint the gateway uses,
//! over one shared HTTP client and pool ([`HttpClient`]). It speaks JSON
//! only, puts user ids into exactly one percent-encoded path segment, and
//! forwards the caller's credential. It knows nothing of gRPC.

pub mod dates;
pub mod envelope;
mod lower_keys;
pub mod model;
mod retry;
mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::{self, BoxFuture};
use futures_util::{FutureExt as _, TryFutureExt as _};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode};
use serde::Serialize;
use tokio::sync::SemaphorePermit;
use tower::ServiceExt as _;
use tower::retry::Retry;
use tracing::{Instrument as _, debug, info_span, instrument};
use url::Url;

pub use envelope::{PortalError, PortalPage};
pub use model::{PortalBuild, PortalUser};
pub use transport::{HttpClient, http_client};

use crate::domain::Product;
use crate::domain::{Abandoned, Call, Credential, Deadline, Departure, UserId, UserRef};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::otel;
use model::{ContactBody, ContactsBody, StatusBody};
use retry::{AttemptBounds, AttemptError, RetryShared, UnlessAbandoned};
use transport::{add_headers, json_body, transport_error};

/// What a user id or name is escaped of in its path segment: everything but
/// letters, digits and `-._~@`. `;` too, which the URL standard leaves as it
/// is, but which servers and proxies in front of a portal may read as the
/// start of path parameters and cut off.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Connection settings for the portal.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// Portal root, e.g. `https://portal.example.com/`.
    pub base_url: Url,
    /// Bound on one whole HTTP exchange.
    pub timeout: Duration,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Largest answer body read; a larger (or endless) one is a bad answer.
    pub max_body: usize,
    /// PEM certificates of CAs trusted besides the built-in roots (a private CA).
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Portal requests in flight at once, and so connections open at most.
    pub max_connections: usize,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PortalSetupError {
    /// The URL cannot carry path segments (e.g. `mailto:`).
    #[error("portal URL {} cannot be a base URL", display_url(.0))]
    NotABase(Url),
    /// The extra roots (`--portal-ca`) are not PEM certificates the TLS
    /// layer accepts.
    #[error("portal CA roots: {0}")]
    Roots(String),
    /// The TLS layer could not be set up with its protocol versions.
    #[error("TLS for the portal: {0}")]
    Tls(String),
}

/// Talks to one portal's People API.
#[derive(Debug, Clone)]
pub struct PortalClient {
    http: HttpClient,
    people_url: Url,
    build_url: Url,
    timeout: Duration,
    max_body: usize,
    retry: RetryShared,
    metrics: Arc<Metrics>,
    health: Arc<PortalHealth>,
    /// One permit per connection the pool may use.
    connections: Arc<tokio::sync::Semaphore>,
    /// How many permits `connections` has.
    max_connections: usize,
}

impl PortalClient {
    /// Builds the client; `base_url` is the portal root.
    pub fn new(settings: &PortalSettings, metrics: Arc<Metrics>) -> Result<Self, PortalSetupError> {
        let api_url = |path: &[&str]| {
            let mut url = settings.base_url.clone();
            url.path_segments_mut()
                .map_err(|()| PortalSetupError::NotABase(settings.base_url.clone()))?
                .pop_if_empty()
                .extend(path);
            Ok::<_, PortalSetupError>(url)
        };
        let people_url = api_url(&["api", "2.0", "people"])?;
        let build_url = api_url(&["api", "2.0", "settings", "version", "build"])?;
        Ok(Self {
            http: http_client(settings)?,
            people_url,
            build_url,
            timeout: settings.timeout,
            max_body: settings.max_body,
            retry: RetryShared::default(),
            metrics,
            health: Arc::default(),
            connections: Arc::new(tokio::sync::Semaphore::new(settings.max_connections.max(1))),
            max_connections: settings.max_connections.max(1),
        })
    }

    /// Portal exchanges in flight at once, at most: one per connection.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// `GET /api/2.0/people/{user}`: a GUID, a user name, or `@self`; within
    /// the call's deadline, and given up when the caller leaves.
    #[instrument(level = "debug", skip_all, fields(user = %user.path_segment()))]
    pub async fn get_user(&self, call: &Call, user: &UserRef) -> Result<PortalUser, PortalError> {
        let url = self.user_url(&user.path_segment(), None);
        self.send("get_user", Outgoing::get(url), call, Exchange::Read)
            .await
    }

    /// `GET /api/2.0/people/email?email=…`: the user with this address; the
    /// portal answers 404 when there is none. A read, as [`PortalClient::get_user`].
    #[instrument(level = "debug", skip_all)]
    pub async fn find_by_email(&self, call: &Call, email: &str) -> Result<PortalUser, PortalError> {
        let mut url = self.people_route(&["email"]);
        url.query_pairs_mut().append_pair("email", email);
        self.send("find_by_email", Outgoing::get(url), call, Exchange::Read)
            .await
    }

    /// `GET /api/2.0/people/filter` with `query` (each pair encoded as one
    /// query value): one page of at most `max_users` users. A read, as
    /// [`PortalClient::get_user`].
    #[instrument(level = "debug", skip_all, fields(max_users))]
    pub async fn list_users(
        &self,
        call: &Call,
        query: &[(&str, String)],
        max_users: u32,
    ) -> Result<PortalPage, PortalError> {
        let mut url = self.people_route(&["filter"]);
        url.query_pairs_mut().extend_pairs(query);
        let (status, body, retry_after) = self
            .exchange(
                "list_users",
                Outgoing::get(url),
                Some(&call.credential),
                Bounds::of(call, Exchange::Read),
            )
            .await?;
        envelope::read_page(status, &body, retry_after, max_users as usize)
    }

    /// `PUT /api/2.0/people/{id}` with a product-specific JSON body. Never
    /// sent once the caller's deadline passed or the caller left; once sent,
    /// it runs to its end (within the portal timeout) whatever the caller does.
    #[instrument(level = "debug", skip_all, fields(user = %id))]
    pub async fn update_member(
        &self,
        call: &Call,
        id: UserId,
        body: &impl Serialize,
    ) -> Result<PortalUser, PortalError> {
        let url = self.user_url(&id.to_string(), None);
        let request = Outgoing::put(url, json_body(body)?);
        self.send("update_member", request, call, Exchange::Write)
            .await
    }

    /// Workspace `PUT /api/2.0/people/{id}/contacts`: replaces the whole
    /// list. Sent, or not, as [`PortalClient::update_member`].
    #[instrument(level = "debug", skip_all, fields(user = %id, contacts = contacts.len()))]
    pub async fn replace_contacts(
        &self,
        call: &Call,
        id: UserId,
        contacts: Vec<ContactBody>,
    ) -> Result<PortalUser, PortalError> {
        let url = self.user_url(&id.to_string(), Some("contacts"));
        let body = ContactsBody { contacts };
        let request = Outgoing::put(url, json_body(&body)?);
        self.send("replace_contacts", request, call, Exchange::Write)
            .await
    }

    /// Workspace `PUT /api/2.0/people/status/{Active|Terminated}` for one
    /// user: the users it was given as they are now, LDAP users left out
    /// (CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeApi.cs:1379-1417).
    /// Sent, or not, as [`PortalClient::update_member`].
    #[instrument(level = "debug", skip_all, fields(user = %id, disabled))]
    pub async fn update_status(
        &self,
        call: &Call,
        id: UserId,
        disabled: bool,
    ) -> Result<Vec<PortalUser>, PortalError> {
        let status = if disabled { "Terminated" } else { "Active" };
        let url = self.people_route(&["status", status]);
        let body = StatusBody {
            user_ids: vec![id.to_string()],
        };
        let request = Outgoing::put(url, json_body(&body)?);
        let (status, body, retry_after) = self
            .exchange(
                "update_status",
                request,
                Some(&call.credential),
                Bounds::of(call, Exchange::Write),
            )
            .await?;
        envelope::read_users(status, &body, retry_after)
    }

    /// `GET /api/2.0/settings/version/build`, which both products answer
    /// without a credential: which product, and which release (CS
    /// `module/ASC.Api/ASC.Api.Settings/SettingsApi.cs:381-386`; DS
    /// `web/ASC.Web.Api/Api/Settings/VersionController.cs:50-60`). `None` when
    /// the portal does not say; an error only when it could not be asked.
    #[instrument(skip_all)]
    pub async fn build_info(&self, call: &Call) -> Result<Option<PortalBuild>, PortalError> {
        let request = Outgoing::get(self.build_url.clone());
        let bounds = Bounds::of(call, Exchange::Read);
        let (status, body, retry_after) =
            self.exchange("build_info", request, None, bounds).await?;
        envelope::read_build(status, &body, retry_after)
    }

    /// Tells Workspace from DocSpace by the success envelope of
    /// `GET /people/@self`: DocSpace's always carries `links`, Workspace's never does.
    #[instrument(skip_all)]
    pub async fn detect_product(&self, call: &Call) -> Result<Product, PortalError> {
        let url = self.user_url(UserRef::SELF_ALIAS, None);
        let (status, body, retry_after) = self
            .exchange(
                "detect_product",
                Outgoing::get(url),
                Some(&call.credential),
                Bounds::of(call, Exchange::Read),
            )
            .await?;
        envelope::read_user(status, &body, retry_after)?;
        Ok(if envelope::has_links(&body) {
            Product::Docspace
        } else {
            Product::Workspace
        })
    }

    /// The people URL plus one of the API's own literal routes (never caller text).
    fn people_route(&self, segments: &[&str]) -> Url {
        let mut url = self.people_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// The people URL plus the user as one encoded segment (`/` becomes `%2F`).
    fn user_url(&self, user_segment: &str, child: Option<&str>) -> Url {
        let mut url = self.people_url.clone();
        let segments = std::iter::once(user_segment).chain(child);
        // Segments with nothing to escape (ids, `@self`, plain names) are
        // appended as they are, without parsing the whole path again.
        let as_they_are = |segment: &str| {
            !matches!(segment, "." | "..")
                && matches!(
                    percent_encoding::utf8_percent_encode(segment, SEGMENT).into(),
                    std::borrow::Cow::Borrowed(_)
                )
        };
        if segments.clone().all(as_they_are) {
            let appended = url
                .path_segments_mut()
                .map(|mut path| {
                    path.pop_if_empty().extend(segments.clone());
                })
                .is_ok();
            if appended {
                return url;
            }
        }
        let mut path = url.path().trim_end_matches('/').to_owned();
        for segment in segments {
            path.push('/');
            path.extend(percent_encoding::utf8_percent_encode(segment, SEGMENT));
        }
        url.set_path(&path);
        url
    }

    /// One exchange whose answer is a user. Not an `async fn`: that would
    /// keep its arguments, the whole request among them, beside the
    /// exchange for as long as the exchange runs, though the request moves
    /// into it at once.
    fn send<'a>(
        &'a self,
        endpoint: &'static str,
        request: Outgoing,
        call: &'a Call,
        kind: Exchange,
    ) -> impl Future<Output = Result<PortalUser, PortalError>> + Send + 'a {
        self.exchange(
            endpoint,
            request,
            Some(&call.credential),
            Bounds::of(call, kind),
        )
        .map(|answer| {
            let (status, body, retry_after) = answer?;
            envelope::read_user(status, &body, retry_after)
        })
    }

    /// One HTTP exchange, tried again where that is safe (see [`retry`]):
    /// status, the body (at most `max_body` bytes), and `Retry-After`.
    /// Counted and timed per endpoint, and reported to the readiness check.
    ///
    /// Nothing is sent once the caller has stopped waiting (`bounds`): not
    /// while the exchange waits for one of the portal's connections, nor
    /// after. A read is also given up mid-way; a write that was sent runs to
    /// its end, so that the caller's lock is never released while it may
    /// still land.
    ///
    /// The exchange has a span of its own only when spans are exported: it
    /// is the portal request's parent in the collector, and would cost
    /// every call for nothing otherwise.
    ///
    /// Boxed, once, when it starts: every operation awaits one or more
    /// exchanges, and an exchange inlined in each future above it would be
    /// carried (often more than once) by every call in flight, waiting or not.
    fn exchange<'a>(
        &'a self,
        endpoint: &'static str,
        request: Outgoing,
        credential: Option<&'a Credential>,
        bounds: Bounds<'a>,
    ) -> BoxFuture<'a, Result<Answer, PortalError>> {
        let span = if otel::exporting() {
            info_span!("exchange", endpoint = %endpoint, http_status = tracing::field::Empty)
        } else {
            tracing::Span::none()
        };
        Box::pin(
            self.exchange_once(endpoint, request, credential, bounds)
                .instrument(span),
        )
    }

    /// Waits for a connection permit, then makes the exchange. A chain, not
    /// one `async fn`: the wait's state (the caller's deadline and
    /// departure watched, a place in the permits' queue) and the
    /// exchange's take turns in the same bytes of the boxed future that
    /// every waiting call holds.
    fn exchange_once<'a>(
        &'a self,
        endpoint: &'static str,
        request: Outgoing,
        credential: Option<&'a Credential>,
        bounds: Bounds<'a>,
    ) -> impl Future<Output = Result<Answer, PortalError>> + Send + 'a {
        let started = Instant::now();
        // At most `max_connections` exchanges at once, so the pool never
        // opens more. The permit comes first and the exchange's (large)
        // future is allocated only then: a call waiting for a connection
        // holds a few bytes, not a whole HTTP request in the making. The
        // permit is kept across the exchange's retries.
        let permit = async move {
            bounds.still_waited_for()?;
            let permit = tokio::select! {
                biased;
                why = Abandoned::when(bounds.deadline, bounds.gone) => return Err(why),
                // Never closed, so never an error.
                permit = self.connections.acquire() => permit.ok(),
            };
            // The caller may have left in the same instant the permit came.
            bounds.still_waited_for()?;
            Ok(permit)
        };
        permit.then(move |permit| {
            self.exchange_holding(endpoint, request, credential, bounds, started, permit)
        })
    }

    /// The exchange, once its connection permit came (or the caller left
    /// before it did: then it is counted as not sent).
    async fn exchange_holding(
        &self,
        endpoint: &'static str,
        request: Outgoing,
        credential: Option<&Credential>,
        bounds: Bounds<'_>,
        started: Instant,
        permit: Result<Option<SemaphorePermit<'_>>, Abandoned>,
    ) -> Result<Answer, PortalError> {
        let _connection = match permit {
            Ok(permit) => permit,
            Err(why) => {
                self.metrics
                    .record_portal(endpoint, "not_sent", started.elapsed());
                return Err(PortalError::Abandoned(why));
            }
        };
        let answer_by = match bounds.kind {
            Exchange::Read => bounds.deadline,
            Exchange::Write => Deadline::NONE,
        };
        let exchange = Box::pin(
            future::ready(self.attempt(endpoint, request, credential, answer_by, &bounds))
                .try_flatten(),
        );
        let result = match bounds.kind {
            Exchange::Read => tokio::select! {
                biased;
                () = bounds.gone.signalled() => {
                    // Sent, but nobody waits for the answer any more.
                    self.metrics.record_portal(endpoint, "abandoned", started.elapsed());
                    return Err(PortalError::Abandoned(Abandoned::CallerGone));
                }
                result = exchange => result,
            },
            Exchange::Write => exchange.await,
        };
        let mut parsed = None;
        let outcome = match &result {
            Ok((status, _, _)) => {
                // Only an exported exchange has a span of its own to record it in.
                if otel::exporting() {
                    tracing::Span::current().record("http_status", status);
                }
                status_label(*status, &mut parsed)
            }
            Err(PortalError::Timeout) => "timeout",
            Err(
                PortalError::Unreachable(_) | PortalError::NotTls | PortalError::Certificate(_),
            ) => "unreachable",
            Err(PortalError::Undecodable(_)) => "bad_response",
            Err(PortalError::Status { status, .. }) => status_label(*status, &mut parsed),
            Err(PortalError::Abandoned(_)) => "not_sent",
        };
        self.metrics
            .record_portal(endpoint, outcome, started.elapsed());
        // A portal whose answers cannot be read as HTTP (garbage heads, an
        // endless body) serves nothing either.
        let portal_down = match &result {
            Ok((status, _, _)) => *status >= 502 && *status <= 504,
            Err(error) => matches!(
                error,
                PortalError::Unreachable(_)
                    | PortalError::NotTls
                    | PortalError::Certificate(_)
                    | PortalError::Timeout
                    | PortalError::Undecodable(_)
            ),
        };
        self.health.record(!portal_down);
        debug!(endpoint = %endpoint, outcome = %outcome, took = ?started.elapsed(), "portal exchange");
        result
    }

    /// One exchange's attempts, each with its whole answer, ready to be
    /// polled; `Err` for a request that cannot be made. Not an `async fn`,
    /// which would keep its arguments beside the attempts' state.
    fn attempt<'c>(
        &self,
        endpoint: &'static str,
        request: Outgoing,
        credential: Option<&'c Credential>,
        answer_by: Deadline,
        bounds: &Bounds<'_>,
    ) -> Result<impl Future<Output = Result<Answer, PortalError>> + Send + use<'c>, PortalError>
    {
        let mut request = transport::request(request.method, request.url, request.body)?;
        add_headers(&mut request, credential)?;
        let policy = self
            .retry
            .policy(answer_by, endpoint, Arc::clone(&self.metrics), credential);
        // Each attempt, retries included, is sent only while the caller
        // waits, and answered, body and all, within the timeout and by
        // `answer_by`.
        let http = UnlessAbandoned::new(
            self.http.clone(),
            bounds.deadline,
            answer_by,
            AttemptBounds {
                timeout: self.timeout,
                max_body: self.max_body,
            },
            bounds.gone.clone(),
        );
        Ok(Retry::new(policy, http)
            .oneshot(request)
            .map(move |answered| {
                let answer = answered.map_err(|error| match error {
                    AttemptError::Http(error) => transport_error(error),
                    AttemptError::Body(error) => error,
                    AttemptError::TimedOut => PortalError::Timeout,
                    AttemptError::Abandoned(why) => PortalError::Abandoned(why),
                })?;
                let status = answer.status().as_u16();
                let retry_after = answer
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(envelope::parse_retry_after);
                debug!(
                    endpoint = %endpoint,
                    status,
                    content_type = ?answer.headers().get(CONTENT_TYPE),
                    "portal answered"
                );
                Ok((status, answer.into_body(), retry_after))
            }))
    }

    /// Asks the anonymous build endpoint whether the portal answers at all,
    /// for the readiness check: any HTTP answer below 502 means it does.
    pub async fn probe(&self, timeout: Duration) -> bool {
        let request = Outgoing::get(self.build_url.clone());
        let bounds = Bounds {
            deadline: Deadline::after(timeout),
            gone: &Departure::UNWATCHED,
            kind: Exchange::Read,
        };
        matches!(
            self.exchange("probe", request, None, bounds).await,
            Ok((status, _, _)) if status < 502
        )
    }

    /// The metrics this client records into.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Whether the portal answered lately.
    pub fn health(&self) -> Arc<PortalHealth> {
        Arc::clone(&self.health)
    }
}

/// A portal request before it is sent: made an HTTP request only once it
/// holds one of the portal's connection permits.
#[derive(Debug)]
struct Outgoing {
    method: Method,
    url: Url,
    /// A write's JSON.
    body: Option<Vec<u8>>,
}

impl Outgoing {
    fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            body: None,
        }
    }

    fn put(url: Url, json: Vec<u8>) -> Self {
        Self {
            method: Method::PUT,
            url,
            body: Some(json),
        }
    }
}

/// An exchange's answer: its status, its body (at most `max_body` bytes)
/// and its `Retry-After`.
type Answer = (u16, bytes::Bytes, Option<Duration>);

/// Whether an exchange only reads (and may be given up at any point) or
/// writes (and, once sent, runs to its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exchange {
    Read,
    Write,
}

/// What bounds one exchange: its caller's deadline and departure, and its kind.
#[derive(Debug, Clone, Copy)]
struct Bounds<'a> {
    deadline: Deadline,
    gone: &'a Departure,
    kind: Exchange,
}

impl<'a> Bounds<'a> {
    fn of(call: &'a Call, kind: Exchange) -> Self {
        Self {
            deadline: call.deadline,
            gone: &call.gone,
            kind,
        }
    }

    fn still_waited_for(&self) -> Result<(), Abandoned> {
        Abandoned::check(self.deadline, self.gone)
    }
}

/// Whether the portal answers, from the outcome of recent exchanges.
#[derive(Debug, Default)]
pub struct PortalHealth {
    consecutive_failures: AtomicU32,
}

impl PortalHealth {
    /// Records one exchange: the portal answered, or it is away or failing.
    pub fn record(&self, answered: bool) {
        if answered {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        } else {
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Failed exchanges in a row, up to now.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }
}

/// A URL for logs and errors: without any `user:password@`.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials anyway.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// An HTTP status as the metrics label it is (`200`): `http`'s own text of
/// the status, parsed into `parsed`, rather than a new string for every
/// exchange.
fn status_label(status: u16, parsed: &mut Option<StatusCode>) -> &str {
    match StatusCode::from_u16(status) {
        Ok(code) => parsed.insert(code).as_str(),
        Err(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_labelled_by_its_three_digits() {
        let mut parsed = None;
        assert_eq!(status_label(200, &mut parsed), "200");
        assert_eq!(status_label(404, &mut parsed), "404");
        assert_eq!(status_label(103, &mut parsed), "103");
        assert_eq!(status_label(999, &mut parsed), "999");
    }

    fn client(base: &str) -> PortalClient {
        PortalClient::new(
            &PortalSettings {
                base_url: Url::parse(base).unwrap(),
                timeout: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(1),
                max_body: 1024,
                extra_roots_pem: None,
                max_connections: 4,
            },
            Arc::default(),
        )
        .unwrap()
    }

    #[test]
    fn user_ids_stay_inside_one_path_segment() {
        let client = client("http://portal.test/");
        let url = client.user_url("../settings?x=1#y", None);
        assert_eq!(
            url.as_str(),
            "http://portal.test/api/2.0/people/..%2Fsettings%3Fx%3D1%23y"
        );
        // Path parameters to some servers and proxies.
        let url = client.user_url("jane;doe", None);
        assert_eq!(url.as_str(), "http://portal.test/api/2.0/people/jane%3Bdoe");
        let url = client.user_url("@self", Some("contacts"));
        assert_eq!(
            url.as_str(),
            "http://portal.test/api/2.0/people/@self/contacts"
        );
        let url = client.user_url("1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302", Some("contacts"));
        assert_eq!(
            url.as_str(),
            "http://portal.test/api/2.0/people/1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302/contacts"
        );
    }

    proptest::proptest! {
        /// Any `user_id` is refused, or reaches the portal as exactly one path
        /// segment that decodes to what the caller sent.
        #[test]
        fn a_user_id_is_refused_or_exactly_one_segment(text in "\\PC{0,40}|[./%?#@ a-z\\\\]{0,12}") {
            let client = client("http://portal.test/office/");
            if let Ok(user) = UserRef::parse_for_read(&text) {
                let url = client.user_url(&user.path_segment(), None);
                let segments: Vec<&str> = url.path_segments().unwrap().collect();
                proptest::prop_assert_eq!(&segments[..3], &["office", "api", "2.0"]);
                proptest::prop_assert_eq!(segments[3], "people");
                proptest::prop_assert_eq!(segments.len(), 5, "{:?} became {}", text, url);
                let decoded = percent_encoding::percent_decode_str(segments[4]).decode_utf8().unwrap();
                proptest::prop_assert_eq!(decoded, user.path_segment());
                proptest::prop_assert!(url.query().is_none() && url.fragment().is_none());
            }
        }
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        let url = Url::parse("https://admin:hunter2@portal.test/office").unwrap();
        assert_eq!(display_url(&url), "https://portal.test/office");
    }

    #[test]
    fn portal_under_a_sub_path_keeps_it() {
        let client = client("http://portal.test/office");
        let url = client.user_url("mike", None);
        assert_eq!(
            url.as_str(),
            "http://portal.test/office/api/2.0/people/mike"
        );
    }

    /// Nearly every call in flight at a busy gateway waits for a portal
    /// connection, in this future. Written as one `async fn`, it kept the
    /// wait's state beside the exchange's (840 bytes); as a chain the two
    /// take turns in the same bytes.
    #[test]
    fn a_call_waiting_for_a_connection_holds_a_small_future() {
        let client = client("http://portal.test/");
        let call = Call::new(Credential::authorization("Bearer x").unwrap());
        let request = Outgoing::get(client.build_url.clone());
        let bounds = Bounds::of(&call, Exchange::Read);
        let size = std::mem::size_of_val(&client.exchange_once("test", request, None, bounds));
        // 624 bytes (debug and release builds alike).
        assert!(size <= 640, "{size}");
    }
}
