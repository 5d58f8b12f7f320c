//! The floor: what any gateway on this stack must pay for one translated
//! call. A server on exactly the gateway's transport (the same tonic server
//! settings and accept loop, the same portal HTTP client and pool, the same
//! runtime) that answers one unary RPC by sending the same portal GET with
//! the caller's credential and returning the answer's body as bytes: no
//! JSON, no mapping, no logging, no metrics, as a byte-forwarding bridge
//! does. It runs as its own process (this benchmark started again with
//! `--floor`), so its CPU and memory are measured as the gateway's are.
//!
//! A second method ([`TRANSLATE`]) adds the translation itself and nothing
//! else: the answer decoded and mapped to a `User` by the gateway's own
//! decoder and mapping, encoded by prost. What the gateway costs above it
//! is everything but the translation: checks, bounds, retries, logs and
//! metrics.
//!
//! `BENCH_FLOOR_CLIENT=calling-task` moves the floor itself, to measure what
//! another portal client would save: it sends the GET through hyper's
//! HTTP/1.1 connections driven by the calling task ([`CallingTask`]). It
//! speaks plain HTTP/1.1 only; it is not the gateway's client.

use std::convert::Infallible;
use std::future::Future as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use people_gateway::portal::envelope;
use people_gateway::portal::{HttpClient, PortalSettings, http_client};
use people_gateway::server::{ServeSettings, transport};
use people_gateway::{mapping, pb};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};
use url::Url;

/// The floor's method: the portal's answer forwarded as bytes.
pub const PATH: &str = "/bench.floor.v1.Floor/Forward";

/// The translating floor's method: the portal's answer as a `User`.
pub const TRANSLATE: &str = "/bench.floor.v1.Floor/Translate";

/// Serves the floor on `listen` in front of the portal at `portal` (trusting
/// the PEM roots `extra_roots_pem` as `--portal-ca` does), until SIGTERM.
pub fn run(listen: SocketAddr, portal: Url, extra_roots_pem: Option<Vec<u8>>) {
    // The gateway's runtime: `#[tokio::main]`'s multi-threaded default.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let settings = ServeSettings::default();
        // The command line's defaults, as the gateway in this benchmark runs.
        let portal = PortalSettings {
            base_url: portal,
            timeout: std::time::Duration::from_secs(10),
            connect_timeout: std::time::Duration::from_secs(3),
            max_body: 4 * 1024 * 1024,
            extra_roots_pem,
            max_connections: 64,
        };
        // BENCH_FLOOR_CLIENT=calling-task: plain HTTP/1.1 connections
        // driven by the call that uses them (see `CallingTask`).
        let client = std::env::var("BENCH_FLOOR_CLIENT").unwrap_or_default();
        assert!(
            client.is_empty() || portal.base_url.scheme() == "http",
            "BENCH_FLOOR_CLIENT speaks plain HTTP/1.1 only (BENCH_PORTAL=http)"
        );
        let floor = Floor(Arc::new(Forwarder {
            http: http_client(&portal).expect("portal client"),
            calling_task: (client == "calling-task").then(CallingTask::default),
            people: portal.base_url.join("api/2.0/people/").expect("people URL"),
            connections: tokio::sync::Semaphore::new(portal.max_connections),
        }));
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        println!("{}", listener.local_addr().expect("address"));
        let incoming = people_gateway::connections::accept(listener, settings.connections);
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            served = transport(&settings).add_service(floor).serve_with_incoming(incoming) => {
                served.expect("floor server");
            }
            // An exit rather than death by the signal, so that what runs at
            // exit runs: an instrumented build writes its profile then.
            _ = terminate.recv() => std::process::exit(0),
        }
    });
}

struct Forwarder {
    http: HttpClient,
    /// Instead of `http`: the experiment of an HTTP client whose connection
    /// is driven by the calling task.
    calling_task: Option<CallingTask>,
    people: Url,
    /// As the gateway: one permit per portal connection.
    connections: tokio::sync::Semaphore,
}

impl Forwarder {
    async fn forward(&self, request: Request<pb::GetUserRequest>) -> Result<Vec<u8>, Status> {
        Ok(self.exchange(request).await?.1.to_vec())
    }

    async fn translate(&self, request: Request<pb::GetUserRequest>) -> Result<pb::User, Status> {
        let (status, body) = self.exchange(request).await?;
        let user = envelope::read_user(status, &body, None)
            .map_err(|error| Status::internal(error.to_string()))?;
        Ok(mapping::user_to_pb(user))
    }

    /// The portal GET for the caller: the answer's status and body.
    async fn exchange(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<(u16, bytes::Bytes), Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let id = request.into_inner().user_id;
        let url = self
            .people
            .join(&id)
            .map_err(|_| Status::invalid_argument("user_id"))?;
        let _permit = self.connections.acquire().await;
        if let Some(client) = &self.calling_task {
            return client.get(&url, &authorization).await;
        }
        use http_body_util::BodyExt as _;
        let failed = |error: &dyn std::fmt::Display| Status::unavailable(error.to_string());
        let request = http::Request::get(url.as_str())
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::ACCEPT, "application/json")
            .body(http_body_util::Full::default())
            .map_err(|error| failed(&error))?;
        let response = self
            .http
            .send(request)
            .await
            .map_err(|error| failed(&error))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| failed(&error))?;
        Ok((status, body.to_bytes()))
    }
}

#[derive(Clone)]
struct Floor(Arc<Forwarder>);

impl NamedService for Floor {
    const NAME: &'static str = "bench.floor.v1.Floor";
}

struct ForwardCall(Arc<Forwarder>);

struct TranslateCall(Arc<Forwarder>);

impl UnaryService<pb::GetUserRequest> for TranslateCall {
    type Response = pb::User;
    type Future = BoxFuture<'static, Result<Response<pb::User>, Status>>;

    fn call(&mut self, request: Request<pb::GetUserRequest>) -> Self::Future {
        let forwarder = Arc::clone(&self.0);
        Box::pin(async move { forwarder.translate(request).await.map(Response::new) })
    }
}

impl UnaryService<pb::GetUserRequest> for ForwardCall {
    type Response = Vec<u8>;
    type Future = BoxFuture<'static, Result<Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: Request<pb::GetUserRequest>) -> Self::Future {
        let forwarder = Arc::clone(&self.0);
        Box::pin(async move { forwarder.forward(request).await.map(Response::new) })
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Floor {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let forwarder = Arc::clone(&self.0);
        Box::pin(async move {
            match request.uri().path() {
                PATH => {
                    let codec = tonic_prost::ProstCodec::<Vec<u8>, pb::GetUserRequest>::default();
                    let mut grpc = tonic::server::Grpc::new(codec);
                    Ok(grpc.unary(ForwardCall(forwarder), request).await)
                }
                TRANSLATE => {
                    let codec = tonic_prost::ProstCodec::<pb::User, pb::GetUserRequest>::default();
                    let mut grpc = tonic::server::Grpc::new(codec);
                    Ok(grpc.unary(TranslateCall(forwarder), request).await)
                }
                _ => Ok(Status::unimplemented("").into_http()),
            }
        })
    }
}

/// One call of the floor's method, as the benchmark's client makes it.
pub async fn call(
    channel: tonic::transport::Channel,
    request: Request<pb::GetUserRequest>,
) -> Result<Vec<u8>, Status> {
    unary(channel, request, PATH).await
}

/// One call of the translating floor's method.
pub async fn translate(
    channel: tonic::transport::Channel,
    request: Request<pb::GetUserRequest>,
) -> Result<pb::User, Status> {
    unary(channel, request, TRANSLATE).await
}

async fn unary<M: prost::Message + Default + Send + 'static>(
    channel: tonic::transport::Channel,
    request: Request<pb::GetUserRequest>,
    path: &'static str,
) -> Result<M, Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let codec = tonic_prost::ProstCodec::<pb::GetUserRequest, M>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    Ok(client.unary(request, path, codec).await?.into_inner())
}

/// The experiment of an HTTP client that writes and reads on the calling
/// task: plain HTTP/1.1 connections (hyper's own), each driven by the call
/// that has it out of the pool rather than by a task of its own, so that an
/// exchange wakes no other task. Only what the floor needs: GET, plain TCP,
/// keep-alive; a connection that fails is dropped.
#[derive(Default)]
struct CallingTask {
    idle: std::sync::Mutex<Vec<Connection>>,
}

type Body = http_body_util::Empty<bytes::Bytes>;

/// A connection and its sender; idle ones are not polled.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Body>,
    driver: std::pin::Pin<
        Box<
            hyper::client::conn::http1::Connection<
                hyper_util::rt::TokioIo<tokio::net::TcpStream>,
                Body,
            >,
        >,
    >,
}

impl CallingTask {
    async fn get(&self, url: &Url, authorization: &str) -> Result<(u16, bytes::Bytes), Status> {
        let failed = |error: &dyn std::fmt::Display| Status::unavailable(error.to_string());
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop();
        let mut connection = match taken {
            Some(connection) => connection,
            None => {
                let address = (
                    url.host_str().unwrap_or_default(),
                    url.port_or_known_default().unwrap_or(80),
                );
                let stream = tokio::net::TcpStream::connect(address)
                    .await
                    .map_err(|error| failed(&error))?;
                stream.set_nodelay(true).map_err(|error| failed(&error))?;
                let (sender, driver) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .map_err(|error| failed(&error))?;
                Connection {
                    sender,
                    driver: Box::pin(driver),
                }
            }
        };
        let request = http::Request::get(&url[url::Position::BeforePath..])
            .header(http::header::HOST, url.host_str().unwrap_or_default())
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::ACCEPT, "application/json")
            .body(Body::new())
            .map_err(|error| failed(&error))?;
        let exchange = async {
            use http_body_util::BodyExt as _;
            let response = connection.sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        // The connection is polled here, with the exchange, until the answer
        // is whole; then it waits unpolled in the pool for its next call.
        let answer = {
            let mut exchange = std::pin::pin!(exchange);
            let driver = &mut connection.driver;
            std::future::poll_fn(|context| {
                if let Poll::Ready(answer) = exchange.as_mut().poll(context) {
                    return Poll::Ready(answer.map_err(|error| failed(&error)));
                }
                match driver.as_mut().poll(context) {
                    Poll::Ready(Ok(())) => {
                        Poll::Ready(Err(Status::unavailable("the portal closed the connection")))
                    }
                    Poll::Ready(Err(error)) => Poll::Ready(Err(failed(&error))),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
        }?;
        self.idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(connection);
        Ok(answer)
    }
}
