//! Starts a simulator and a gateway pointed at it, and offers small helpers
//! for requests with credentials and for reading error details.

use people_gateway::bulk::BulkSettings;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use people_gateway::domain::{Credential, PortalVersion};
use people_gateway::domain::{Product, ProductChoice};
use people_gateway::pb::people_service_client::PeopleServiceClient;
use people_gateway::people::PortalSetup;
use people_gateway::portal::PortalSettings;
use people_gateway::server::{self, ServeError, ServeSettings};
use portal_sim::{RecordedRequest, Simulator};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;
use url::Url;

pub use people_gateway::pb;
pub use portal_sim::{Fault, seed};

/// How to start a gateway.
pub struct Options {
    pub product: Product,
    /// `--portal-token`.
    pub fallback_token: Option<&'static str>,
    pub portal_timeout: Duration,
    /// Point the gateway somewhere else than the simulator.
    pub portal_url: Option<Url>,
    /// What the gateway is told (`--portal-product`), when not the simulator's product.
    pub gateway_product: Option<ProductChoice>,
    /// `--portal-version`; `None` lets the gateway ask the portal.
    pub portal_version: Option<PortalVersion>,
    /// `--portal-max-body`.
    pub portal_max_body: usize,
    /// The serving limits (and TLS).
    pub serve: ServeSettings,
    /// `--portal-ca`, as PEM.
    pub portal_ca: Option<Vec<u8>>,
    /// The SyncUsers limits.
    pub bulk: BulkSettings,
    /// `--portal-max-connections`.
    pub portal_max_connections: usize,
}

impl Options {
    /// Told the release the simulator runs (`--portal-version`), so that a
    /// stalled portal holds the calls' own requests, not the one-time
    /// question for the release.
    pub fn of_known_release(product: Product) -> Self {
        let mut options = Self::new(product);
        options.portal_version = Some(match product {
            Product::Workspace => PortalVersion::new(12, 7, 1),
            Product::Docspace => PortalVersion::new(3, 7, 2),
        });
        options
    }

    pub fn new(product: Product) -> Self {
        Self {
            product,
            fallback_token: None,
            // Long, so that a busy machine never times out a held request;
            // tests of timeouts set their own.
            portal_timeout: Duration::from_secs(60),
            portal_url: None,
            gateway_product: None,
            portal_version: None,
            portal_max_body: 4 * 1024 * 1024,
            serve: ServeSettings::default(),
            portal_ca: None,
            bulk: BulkSettings::default(),
            portal_max_connections: 64,
        }
    }
}

/// A simulator, a gateway in front of it, and a connected client.
pub struct Gateway {
    pub sim: Simulator,
    pub client: PeopleServiceClient<Channel>,
    pub channel: Channel,
    /// Where the gateway listens.
    pub addr: std::net::SocketAddr,
    /// Ends the calls left when a grace period is over.
    pub stopper: people_gateway::operations::Stopper,
    /// The gateway's metrics.
    pub metrics: std::sync::Arc<people_gateway::telemetry::metrics::Metrics>,
    writes: tokio_util::task::TaskTracker,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Gateway {
    pub async fn workspace() -> Self {
        Self::start(Options::new(Product::Workspace)).await
    }

    pub async fn docspace() -> Self {
        Self::start(Options::new(Product::Docspace)).await
    }

    pub async fn start(options: Options) -> Self {
        let sim = Simulator::start(sim_product(options.product))
            .await
            .expect("simulator");
        let settings = PortalSettings {
            base_url: options.portal_url.unwrap_or_else(|| sim.base_url()),
            timeout: options.portal_timeout,
            connect_timeout: Duration::from_secs(10),
            max_body: options.portal_max_body,
            extra_roots_pem: options.portal_ca,
            max_connections: options.portal_max_connections,
        };
        let fallback = options
            .fallback_token
            .map(|token| Credential::authorization(token).expect("token"));
        let choice = options
            .gateway_product
            .unwrap_or_else(|| options.product.into());
        let setup = PortalSetup {
            product: choice,
            version: options.portal_version,
        };
        let api = server::people_api(&settings, setup, fallback)
            .expect("api")
            .with_bulk(options.bulk);
        let writes = api.operations().pending_writes();
        let stopper = api.operations().stopper();
        let metrics = api.operations().metrics();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (shutdown, signal) = oneshot::channel::<()>();
        let serves_tls = options.serve.tls.is_some();
        let server = tokio::spawn(server::serve(listener, api, options.serve, async {
            let _ = signal.await;
        }));
        let endpoint = Channel::from_shared(format!("http://{addr}")).expect("uri");
        // The listener is bound already, so connecting needs no waiting. A TLS
        // gateway gets its clients from its test; this plaintext one stays unused.
        let channel = if serves_tls {
            endpoint.connect_lazy()
        } else {
            endpoint.connect().await.expect("connect")
        };
        Self {
            sim,
            client: PeopleServiceClient::new(channel.clone()),
            channel,
            addr,
            stopper,
            metrics,
            writes,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Signals shutdown and returns the server task, to await its end.
    pub fn shut_down(&mut self) -> JoinHandle<Result<(), ServeError>> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.take().expect("server already shut down")
    }

    /// GetUser as the holder of `token`.
    pub async fn get_user(
        &mut self,
        token: &str,
        request: pb::GetUserRequest,
    ) -> Result<pb::User, Status> {
        let response = self.client.get_user(as_user(token, request)).await?;
        Ok(response.into_inner())
    }

    /// UpdateUser as the holder of `token`.
    pub async fn update_user(
        &mut self,
        token: &str,
        request: pb::UpdateUserRequest,
    ) -> Result<pb::User, Status> {
        let response = self.client.update_user(as_user(token, request)).await?;
        Ok(response.into_inner())
    }

    /// UpdateContacts as the holder of `token`.
    pub async fn update_contacts(
        &mut self,
        token: &str,
        request: pb::UpdateContactsRequest,
    ) -> Result<pb::User, Status> {
        let response = self.client.update_contacts(as_user(token, request)).await?;
        Ok(response.into_inner())
    }

    /// SetContacts as the holder of `token`.
    pub async fn set_contacts(
        &mut self,
        token: &str,
        request: pb::SetContactsRequest,
    ) -> Result<pb::User, Status> {
        let response = self.client.set_contacts(as_user(token, request)).await?;
        Ok(response.into_inner())
    }

    /// DeleteContacts as the holder of `token`.
    pub async fn delete_contacts(
        &mut self,
        token: &str,
        request: pb::DeleteContactsRequest,
    ) -> Result<pb::User, Status> {
        let response = self.client.delete_contacts(as_user(token, request)).await?;
        Ok(response.into_inner())
    }

    /// Requests the portal received, without the ones before the last `clear_requests`.
    pub fn portal_requests(&self) -> Vec<RecordedRequest> {
        self.sim.requests()
    }

    /// Requests of one method.
    pub fn portal_requests_of(&self, method: &str) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|request| request.method == method)
            .collect()
    }
}

/// What a SyncUsers stream answered: every item's response in arrival
/// order, and how the stream ended.
pub struct SyncOutcome {
    pub answers: Vec<pb::SyncUsersResponse>,
    pub ended: Result<(), Status>,
}

impl SyncOutcome {
    /// Each item's answer by id; fails on an id answered twice.
    pub fn by_id(&self) -> std::collections::HashMap<String, pb::sync_users_response::Result> {
        let mut by_id = std::collections::HashMap::new();
        for answer in &self.answers {
            let result = answer.result.clone().expect("an answer carries a result");
            assert!(
                by_id.insert(answer.item_id.clone(), result).is_none(),
                "item {} answered twice",
                answer.item_id
            );
        }
        by_id
    }
}

impl Gateway {
    /// SyncUsers as the holder of `token`: sends `items`, half-closes, and
    /// reads every answer until the stream ends.
    pub async fn sync_users(
        &mut self,
        token: &str,
        items: Vec<pb::SyncUsersRequest>,
    ) -> SyncOutcome {
        let request = as_user(token, tokio_stream::iter(items));
        read_sync(self.client.sync_users(request).await).await
    }
}

/// Reads a SyncUsers stream to its end.
pub async fn read_sync(
    opened: Result<tonic::Response<tonic::Streaming<pb::SyncUsersResponse>>, Status>,
) -> SyncOutcome {
    let mut answers = Vec::new();
    let mut stream = match opened {
        Ok(response) => response.into_inner(),
        Err(status) => {
            return SyncOutcome {
                answers,
                ended: Err(status),
            };
        }
    };
    let ended = loop {
        match stream.message().await {
            Ok(Some(answer)) => answers.push(answer),
            Ok(None) => break Ok(()),
            Err(status) => break Err(status),
        }
    };
    SyncOutcome { answers, ended }
}

/// How often the gateway tries a read whose answer is 502, 503 or 504.
pub const READ_ATTEMPTS: usize = 3;

/// Where both products report their release.
pub const BUILD_PATH: &str = "/api/2.0/settings/version/build";

impl Gateway {
    /// Waits (bounded) until every write, also those whose callers left, has ended.
    pub async fn writes_settled(&self) {
        until("every write has ended", || self.writes.is_empty()).await;
    }

    /// After a caller left with items or writes held at the portal: waits
    /// until the gateway ended its streams and gave up what it had not sent,
    /// releases the portal, and checks that no write reached it and nothing
    /// more was asked of it.
    pub async fn nothing_more_is_sent_after_the_caller_left(&self) {
        until("the gateway ended the stream", || {
            sample(&self.metrics.render(), "people_gateway_sync_streams", &[]) == Some(0.0)
        })
        .await;
        until("the work at the portal is given up", || {
            self.writes.is_empty()
        })
        .await;
        let received = self.portal_requests().len();
        self.sim.release_requests();
        assert!(
            self.portal_requests_of("PUT").is_empty(),
            "a write reached the portal after its caller left"
        );
        assert_eq!(self.portal_requests().len(), received);
    }

    /// Write tasks still running, also those whose callers left.
    pub fn writes_running(&self) -> usize {
        self.writes.len()
    }

    /// Stops the portal (the simulator); returns its address, to start it there again.
    pub async fn stop_portal(&mut self) -> std::net::SocketAddr {
        let addr = self.sim.addr();
        let product = self.sim.product();
        // Another simulator takes the field; the old one stops when dropped.
        let elsewhere = Simulator::start(product).await.expect("simulator");
        drop(std::mem::replace(&mut self.sim, elsewhere));
        addr
    }

    /// Starts the portal again at `addr`, with fresh data.
    pub async fn restart_portal(&mut self, addr: std::net::SocketAddr) {
        let product = self.sim.product();
        let listener = TcpListener::bind(addr)
            .await
            .expect("rebind the portal's port");
        self.sim = Simulator::serve(listener, product).expect("simulator");
    }

    /// Requests other than the one-time question for the portal's release.
    pub fn people_requests(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|request| request.path != BUILD_PATH)
            .collect()
    }
}

/// Adds `count` users to the portal, copies of Mike with their own GUIDs; their ids.
pub fn add_users(gateway: &Gateway, count: u128) -> Vec<String> {
    let mike = gateway.sim.user(uuid(seed::USER_ID)).expect("Mike");
    (0..count)
        .map(|n| {
            let id = uuid::Uuid::from_u128(0x5a5a_0000_0000_4000_8000_0000_0000_0000 + n);
            let mut user = mike.clone();
            user.id = id;
            user.user_name = format!("sync.user{n}");
            user.email = format!("sync.user{n}@example.com");
            user.token = None;
            gateway.sim.upsert_user(user);
            id.to_string()
        })
        .collect()
}

/// The simulator's name for a product.
pub fn sim_product(product: Product) -> portal_sim::Product {
    match product {
        Product::Workspace => portal_sim::Product::Workspace,
        Product::Docspace => portal_sim::Product::Docspace,
    }
}

/// The simulator's name for a release.
pub fn sim_release(version: PortalVersion) -> portal_sim::Release {
    portal_sim::Release::new(version.major, version.minor, version.patch)
}

/// A TCP line between a client and the gateway that the test can cut, as a
/// caller's process that dies or a network that fails would: the gateway
/// sees the connection end, with every call on it.
pub struct Line {
    /// Connect here to reach the gateway through the line.
    pub addr: std::net::SocketAddr,
    cut: tokio_util::sync::CancellationToken,
}

impl Line {
    /// A line to `target`.
    pub async fn to(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cut = tokio_util::sync::CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    return;
                };
                let stop = stop.clone();
                tokio::spawn(async move {
                    let Ok(mut gateway) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut gateway) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    /// A client of the gateway over this line.
    pub async fn client(&self) -> PeopleServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        PeopleServiceClient::new(channel)
    }

    /// Cuts every connection over the line.
    pub fn cut(&self) {
        self.cut.cancel();
    }
}

/// A request carrying `authorization: <token>`.
pub fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.parse().expect("metadata"));
    request
}

/// The value of one sample line (`name{labels} value`) whose name and labels all match.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            let Some((head, _)) = line.rsplit_once(' ') else {
                return false;
            };
            let metric = head.split('{').next().unwrap_or(head);
            metric == name
                && labels
                    .iter()
                    .all(|(key, value)| head.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// `ErrorInfo.reason` of a status.
pub fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// `ErrorInfo.metadata[key]` of a status.
pub fn info_metadata(status: &Status, key: &str) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .and_then(|info| info.metadata.get(key).cloned())
}

/// The fields named by a status's BadRequest violations.
pub fn bad_fields(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts the code and the ErrorInfo reason.
#[track_caller]
pub fn assert_status(status: &Status, code: Code, expected_reason: &str) {
    assert_eq!(status.code(), code, "status: {status:?}");
    assert_eq!(reason(status), expected_reason, "status: {status:?}");
}

pub fn contact(kind: &str, value: &str) -> pb::Contact {
    pb::Contact {
        r#type: kind.into(),
        value: value.into(),
    }
}

/// The pairs of a stored flat contact list.
pub fn pairs(flat: &[String]) -> Vec<(String, String)> {
    flat.chunks(2)
        .map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default()))
        .collect()
}

/// The pairs of a user's contacts; fails when the list is unset.
#[track_caller]
pub fn pb_pairs(contacts: &Option<pb::ContactList>) -> Vec<(String, String)> {
    contacts
        .as_ref()
        .expect("contacts are unset")
        .contacts
        .iter()
        .map(|contact| (contact.r#type.clone(), contact.value.clone()))
        .collect()
}

pub fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(kind, value)| (kind.to_string(), value.to_string()))
        .collect()
}

pub fn uuid(text: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(text).expect("uuid")
}

/// How long [`until`] waits before it calls a test failed. Only a hang ends
/// there: a slow or busy machine must never fail a test that is right.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits (bounded by [`PATIENCE`]) until `condition` holds, checking it again
/// every millisecond, so that a busy machine only makes the wait longer.
pub async fn until(what: &str, condition: impl Fn() -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !condition() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

/// One gRPC message as it travels in an HTTP/2 DATA frame.
pub fn grpc_frame(message: &impl prost::Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + body.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(body.len()).unwrap());
    frame.put_slice(&body);
    frame.freeze()
}

/// A bare HTTP/2 client connected to the gateway.
pub async fn raw_client(gateway: &Gateway) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    client.ready().await.unwrap()
}

/// The head of a call to `method` of PeopleService, as the admin.
pub fn call_head(gateway: &Gateway, method: &str, timeout: Option<&str>) -> http::Request<()> {
    let mut head = http::Request::post(format!(
        "http://{}/onlyoffice.people.v1.PeopleService/{method}",
        gateway.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", seed::ADMIN_TOKEN);
    if let Some(timeout) = timeout {
        head = head.header("grpc-timeout", timeout);
    }
    head.body(()).unwrap()
}

/// The gRPC status of a response, from its headers or its trailers.
pub async fn grpc_status(response: h2::client::ResponseFuture) -> (Code, String) {
    let response = response.await.unwrap();
    let status_of = |headers: &http::HeaderMap| {
        let code = headers
            .get("grpc-status")?
            .to_str()
            .ok()?
            .parse::<i32>()
            .ok()?;
        let message = headers
            .get("grpc-message")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Some((Code::from(code), message))
    };
    if let Some(status) = status_of(response.headers()) {
        return status;
    }
    let mut body = response.into_body();
    while let Some(data) = body.data().await {
        let data = data.unwrap();
        let _ = body.flow_control().release_capacity(data.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    status_of(&trailers).expect("a grpc-status")
}

/// `VmHWM` (peak resident set) or `VmRSS` of this process, in KiB; read only
/// by the tests that run in a process of their own (load, directory).
#[allow(dead_code)]
pub fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
