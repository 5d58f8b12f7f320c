//! A simulated ONLYOFFICE portal, the twin of the real one and of nothing else: it shares no
//! type or rule with the gateway it tests.
//!
//! A real HTTP server answering the People API exactly as Workspace (CommunityServer) or DocSpace (3.1.1 to 3.6.x, or 3.7.1 and later) do on the wire,
//! quirks and faults included, plus the anonymous build endpoint that says which is which.
//! The gateway's end-to-end tests and its `--demo` mode run against it. Tests can also stall it
//! (`hold_requests`), rate-limit it as DocSpace's limiter does (`throttle_for`), and read the
//! most requests it handled at once (`peak_in_flight`).
//!
//! A request goes: `wire::Incoming` (recorded, fault and latency picked in arrival order) →
//! `endpoint` (which API method) → `routes` (to the product's handler) → `workspace` or `docspace` (auth, binding, the method's rules
//! against `state::Portal`; the directory routes page through it with `listing`) → `render`
//! (the product's user DTO) → `wire` (envelope) → `fault` (optionally bent out of shape) → the
//! socket.

mod auth;
mod dates;
mod docspace;
mod endpoint;
mod fault;
mod listing;
mod render;
mod routes;
pub mod seed;
mod state;
mod wire;
mod workspace;
mod workspace_args;

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    response::Response,
    serve::ListenerExt as _,
};
use tokio::{net::TcpListener, sync::oneshot};
use url::Url;
use uuid::Uuid;

pub use fault::Fault;
pub use state::SimUser;

use state::Portal;
use wire::{Incoming, Reply};

/// Which product the simulator plays; they differ in routes, DTOs and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// ONLYOFFICE Workspace (CommunityServer).
    Workspace,
    /// ONLYOFFICE DocSpace.
    Docspace,
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Product::Workspace => "Workspace",
            Product::Docspace => "DocSpace",
        })
    }
}

/// A portal release, `major.minor.patch`, as the build endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
    /// Patch number.
    pub patch: u16,
}

impl Release {
    /// A release from its parts.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Larger request bodies are recorded and handled as empty.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A running simulated portal; dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    base_url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

/// One request as the simulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `"PUT"`.
    pub method: String,
    /// Raw path exactly as received, still percent-encoded, e.g. `"/api/2.0/people/..%2Fx"`.
    pub path: String,
    /// Raw query string, without the `?`.
    pub query: Option<String>,
    /// Headers in arrival order, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body as UTF-8 (lossy).
    pub body: String,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON; `None` if it is not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    fn from_incoming(incoming: &Incoming) -> RecordedRequest {
        RecordedRequest {
            method: incoming.method.as_str().to_owned(),
            path: incoming.raw_path.clone(),
            query: incoming.query.clone(),
            headers: incoming
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&incoming.body).into_owned(),
        }
    }
}

impl Simulator {
    /// Binds 127.0.0.1:0, seeds the demo data, serves in a background tokio task until dropped.
    pub async fn start(product: Product) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        Simulator::serve(listener, product)
    }

    /// Serves on a listener the caller bound, e.g. to restart a portal on the address of one
    /// that was stopped.
    pub fn serve(listener: TcpListener, product: Product) -> std::io::Result<Simulator> {
        let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let addr = listener.local_addr()?;
        let base_url = Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            product,
            fallback_host: addr.to_string(),
            portal: Mutex::new(seed::portal()),
            inbox: Mutex::new(Inbox::default()),
            latency: Mutex::new(None),
            in_flight: Mutex::new(InFlight::default()),
            hold: tokio::sync::watch::Sender::new(false),
            held_method: Mutex::new(None),
            throttle: Mutex::new(None),
        });
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        // why: like a real portal's server, answer without Nagle stalls on small writes.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            // why: a dropped sender also means stop.
            let _ = stopped.await;
        });
        runtime.spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "portal simulator stopped with an error");
            }
        });
        tracing::debug!(%addr, %product, "portal simulator listening");
        Ok(Simulator {
            addr,
            base_url,
            shared,
            stop: Some(stop),
        })
    }

    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// e.g. "http://127.0.0.1:41234/" (trailing slash; the gateway appends "api/2.0/people/...").
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// Which product the simulator plays.
    pub fn product(&self) -> Product {
        self.shared.product
    }

    /// Every request received so far, in arrival order (recorded before routing, also for faulted ones).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.inbox).requests.clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.inbox).requests.clear();
    }

    /// Queue a fault for the next request (any method); each queued fault is used once, FIFO.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.inbox).faults.push_back(QueuedFault {
            method: None,
            fault,
        });
    }

    /// Queue a fault for the next request with this HTTP method ("GET", "PUT", "POST", "DELETE").
    pub fn push_fault_on(&self, method: &str, fault: Fault) {
        lock(&self.shared.inbox).faults.push_back(QueuedFault {
            method: Some(method.to_ascii_uppercase()),
            fault,
        });
    }

    /// Added latency before every request is handled (None = off). Used to force overlapping requests.
    pub fn set_latency(&self, latency: Option<Duration>) {
        *lock(&self.shared.latency) = latency;
    }

    /// The most requests that were being handled at once since the start or
    /// the last reset (latency, holds and faults included).
    pub fn peak_in_flight(&self) -> usize {
        lock(&self.shared.in_flight).peak
    }

    /// Starts counting the peak afresh from the requests being handled now.
    pub fn reset_peak_in_flight(&self) {
        let mut in_flight = lock(&self.shared.in_flight);
        in_flight.peak = in_flight.now;
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        lock(&self.shared.in_flight).now
    }

    /// A stalled portal: from now on every request is recorded and then
    /// waits, unanswered, until [`Simulator::release_requests`].
    pub fn hold_requests(&self) {
        *lock(&self.shared.held_method) = None;
        self.shared.hold.send_replace(true);
    }

    /// A portal stalled for one HTTP method only (e.g. `"PUT"`): requests with that method
    /// are recorded and wait, others are answered, until [`Simulator::release_requests`].
    pub fn hold_requests_of(&self, method: &str) {
        *lock(&self.shared.held_method) = Some(method.to_ascii_uppercase());
        self.shared.hold.send_replace(true);
    }

    /// Lets held requests (and later ones) through.
    pub fn release_requests(&self) {
        *lock(&self.shared.held_method) = None;
        self.shared.hold.send_replace(false);
    }

    /// The portal's rate limiter refuses every request for `window` from the next request on
    /// (so a slow test setup cannot let the window pass unseen), as DocSpace's
    /// does when a client exceeds a limit: HTTP 429 with no body; nothing is applied. With
    /// `retry_after_seconds`, the shape of the fixed-window limit on writes (`Retry-After` and
    /// `X-RateLimit-Reset`); without, that of the per-minute and concurrency limits, which
    /// send only `X-RateLimit-Limit`/`-Remaining` (most of DocSpace's 429s). Workspace's API
    /// host has no rate limiter (no 429 anywhere in CS@7c503dfb5 module/ASC.Api), but a proxy in
    /// front of it may answer the same way, so the simulator does this for either product.
    pub fn throttle_for(&self, window: Duration, retry_after_seconds: Option<u64>) {
        self.throttle(window, retry_after_seconds, None);
    }

    /// As [`Simulator::throttle_for`], for the requests of one token only (sent as
    /// `Authorization` or as the `asc_auth_key` cookie): DocSpace's limiter counts per user
    /// (DS@v3.7.2-server:common/ASC.Api.Core/Core/BaseStartup.cs:228-303).
    pub fn throttle_token_for(
        &self,
        token: &str,
        window: Duration,
        retry_after_seconds: Option<u64>,
    ) {
        self.throttle(window, retry_after_seconds, Some(token.to_owned()));
    }

    fn throttle(&self, window: Duration, retry_after_seconds: Option<u64>, token: Option<String>) {
        let refused = self.throttled_requests();
        *lock(&self.shared.throttle) = Some(Throttle {
            window,
            until: None,
            retry_after_seconds,
            refused,
            token,
        });
    }

    /// Requests the rate limiter has refused so far.
    pub fn throttled_requests(&self) -> usize {
        lock(&self.shared.throttle)
            .as_ref()
            .map_or(0, |throttle| throttle.refused)
    }

    /// Workspace: whether the People module lets non-self callers see private data (email, contacts,
    /// mobilePhone). Default true. When false only the user themself sees them (admins too do not).
    pub fn set_people_module_visible(&self, visible: bool) {
        lock(&self.shared.portal).people_module_visible = visible;
    }

    /// Whether the deployment restricts names with `core.username.regex` (letters, marks,
    /// apostrophes, spaces and hyphens); off by default, as both products ship.
    pub fn set_letters_only_names(&self, on: bool) {
        lock(&self.shared.portal).letters_only_names = on;
    }

    /// The tenant's UTC offset in minutes (default `seed::TENANT_OFFSET_MINUTES`).
    pub fn set_tenant_offset_minutes(&self, minutes: i32) {
        lock(&self.shared.portal).tenant_offset_minutes = minutes;
    }

    /// How many active full (non-guest) users the tariff allows; `None` (the default): no limit.
    pub fn set_user_quota(&self, quota: Option<usize>) {
        lock(&self.shared.portal).user_quota = quota;
    }

    /// The DocSpace release whose update rules the simulator follows (default
    /// `seed::DOCSPACE_RELEASE`); its build endpoint reports it too.
    pub fn set_docspace_release(&self, release: Release) {
        lock(&self.shared.portal).docspace_release = release;
    }

    /// The Workspace release whose update rules the simulator follows (default
    /// `seed::WORKSPACE_RELEASE`); its build endpoint reports what that release's shipped
    /// configuration says.
    pub fn set_workspace_release(&self, release: Release) {
        lock(&self.shared.portal).workspace_release = release;
    }

    /// Makes every write drop changes to one update parameter silently, as a portal
    /// release, plugin or setting the gateway does not know might: named as the portal's
    /// binder reads it (`firstname`, `comment`, `department`, `files`, `disable`,
    /// `isVisitor`, `isUser`, `lead`, `spam`…, any case). The answer shows the user as
    /// stored, without the change. `None` stops it.
    pub fn drop_updates_to(&self, parameter: Option<&str>) {
        lock(&self.shared.portal).dropped_parameter = parameter.map(str::to_ascii_lowercase);
    }

    /// What `GET /api/2.0/settings/version/build` reports instead of the release, e.g. the
    /// built-in fallback `3.1.0` of a deployment that configures no version.
    pub fn set_reported_version(&self, reported: Option<&str>) {
        lock(&self.shared.portal).reported_version = reported.map(str::to_owned);
    }

    /// Snapshot of a stored user (the persisted state, not what a response showed).
    pub fn user(&self, id: Uuid) -> Option<SimUser> {
        lock(&self.shared.portal).user(id).cloned()
    }

    /// Insert or replace a stored user.
    pub fn upsert_user(&self, user: SimUser) {
        lock(&self.shared.portal).upsert(user);
    }

    /// Appends `count` plain users after the stored ones, fast enough for directories of
    /// hundreds of thousands: active, no token, no department. Numbering goes on across calls:
    /// the `n`th one ever added is `P{n:06} Generated` (user name `p{n:06}`, email
    /// `p{n:06}@example.com`) with the id [`seed::generated_user_id`]`(n)`, so they sort by
    /// name in the order they were added (below a million).
    pub fn add_generated_users(&self, count: usize) {
        let mut portal = lock(&self.shared.portal);
        let first = portal.generated_users;
        let last = first.saturating_add(count);
        portal.append((first..last).map(seed::generated_user));
        portal.generated_users = last;
    }

    /// Every stored user's id, in storage order.
    pub fn user_ids(&self) -> Vec<Uuid> {
        lock(&self.shared.portal)
            .users()
            .iter()
            .map(|user| user.id)
            .collect()
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("product", &self.shared.product)
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // why: the server may already be gone with its runtime; nothing left to stop then.
            let _ = stop.send(());
        }
    }
}

/// State shared by the simulator handle and every connection task.
struct Shared {
    product: Product,
    /// Used for links when a request has no `Host` header.
    fallback_host: String,
    portal: Mutex<Portal>,
    /// Recording and fault selection share a lock so both follow arrival order.
    inbox: Mutex<Inbox>,
    latency: Mutex<Option<Duration>>,
    /// Requests being handled now, and the most there were at once.
    in_flight: Mutex<InFlight>,
    /// While true, requests are recorded and then wait: a stalled portal.
    hold: tokio::sync::watch::Sender<bool>,
    /// The one HTTP method held, when not every request is.
    held_method: Mutex<Option<String>>,
    /// Until when the rate limiter refuses every request, and what it tells.
    throttle: Mutex<Option<Throttle>>,
}

/// The rate limiter refusing every request until `until`.
struct Throttle {
    window: Duration,
    /// The window's end, once its first request came.
    until: Option<tokio::time::Instant>,
    retry_after_seconds: Option<u64>,
    refused: usize,
    /// Only this token's requests, when set.
    token: Option<String>,
}

#[derive(Default)]
struct InFlight {
    now: usize,
    peak: usize,
}

/// Counts one request as being handled while it lives.
struct Handling<'a>(&'a Mutex<InFlight>);

impl<'a> Handling<'a> {
    fn enter(counter: &'a Mutex<InFlight>) -> Self {
        let mut in_flight = lock(counter);
        in_flight.now += 1;
        in_flight.peak = in_flight.peak.max(in_flight.now);
        Handling(counter)
    }
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        lock(self.0).now -= 1;
    }
}

#[derive(Default)]
struct Inbox {
    requests: Vec<RecordedRequest>,
    faults: VecDeque<QueuedFault>,
}

struct QueuedFault {
    /// `None` matches any method.
    method: Option<String>,
    fault: Fault,
}

impl Shared {
    /// Records the request and takes the first queued fault that applies to it.
    fn arrive(&self, incoming: &Incoming) -> Option<Fault> {
        let mut inbox = lock(&self.inbox);
        inbox
            .requests
            .push(RecordedRequest::from_incoming(incoming));
        let method = incoming.method.as_str();
        let position = inbox
            .faults
            .iter()
            .position(|queued| queued.method.as_deref().is_none_or(|m| m == method))?;
        inbox.faults.remove(position).map(|queued| queued.fault)
    }

    /// The rate limiter's refusal, while it refuses.
    fn throttled(&self, incoming: &Incoming) -> Option<Reply> {
        let mut throttle = lock(&self.throttle);
        let throttle = throttle.as_mut()?;
        if let Some(token) = &throttle.token
            && !auth::presents(&incoming.headers, token)
        {
            return None;
        }
        let now = tokio::time::Instant::now();
        if now >= *throttle.until.get_or_insert(now + throttle.window) {
            return None;
        }
        throttle.refused += 1;
        Some(fault::rate_limited(throttle.retry_after_seconds))
    }

    /// Handles the request against the portal state (applying it) and returns the real answer.
    fn answer(&self, incoming: &Incoming) -> Reply {
        let mut portal = lock(&self.portal);
        let offset = portal.tenant_offset_minutes;
        dates::with_tenant_offset(offset, || {
            routes::dispatch(self.product, &mut portal, incoming)
        })
    }
}

/// A poisoned lock only means another request panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The single entry point: every request, whatever its path, comes through here.
async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // why: a body that cannot be read (too large, client gone) is handled as empty.
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let incoming = Incoming::new(&parts, body, &shared.fallback_host);
    let _handling = Handling::enter(&shared.in_flight);
    let fault = shared.arrive(&incoming);
    if let Some(refusal) = shared.throttled(&incoming) {
        return refusal.into_response();
    }
    // A stalled portal: wait (unanswered) while held; a closed channel cannot happen here.
    let held = lock(&shared.held_method)
        .as_deref()
        .is_none_or(|method| method == incoming.method.as_str());
    if held {
        let _ = shared.hold.subscribe().wait_for(|held| !held).await;
    }
    let latency = *lock(&shared.latency);
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => shared.answer(&incoming).into_response(),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            shared.answer(&incoming).into_response()
        }
        Some(Fault::Respond {
            status,
            content_type,
            body,
            headers,
        }) => fault::canned(status, content_type.as_deref(), &body, &headers).into_response(),
        Some(Fault::PortalError { status, message }) => {
            fault::portal_error(shared.product, status, &message, &incoming).into_response()
        }
        Some(Fault::MalformedBody) => {
            let _applied = shared.answer(&incoming);
            fault::malformed_json().into_response()
        }
        Some(Fault::TruncatedBody) => fault::truncated(shared.answer(&incoming)),
        Some(Fault::Html { status }) => fault::proxy_page(status).into_response(),
    }
}
