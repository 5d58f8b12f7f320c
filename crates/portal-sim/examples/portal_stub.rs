//! A portal stub for benchmarks: answers the People routes with canned
//! Workspace envelopes at next to no cost, in a process of its own, so the
//! gateway's CPU can be measured apart from the portal's. Counts the
//! connections it accepts (`GET /__stats`).
//!
//! Run: `cargo run --release --example portal_stub -- 127.0.0.1:0` (prints its address);
//! `-- 127.0.0.1:0 --tls CERT_PEM KEY_PEM --alpn h2,http/1.1` serves TLS,
//! offering HTTP/2 as a portal behind an nginx with `http2 on` does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;

/// Mike's id, replaced by the id asked for.
const MIKE: &str = "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302";
/// Mike, as Workspace answers an administrator.
const USER: &str = r#"{"count":1,"status":0,"statusCode":200,"response":{"id":"1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302","userName":"mike.zanyatski","isVisitor":false,"displayName":"Mike Zanyatski","firstName":"Mike","lastName":"Zanyatski","email":"mike@example.com","birthday":"1985-04-10T03:00:00.0000000+03:00","sex":"male","status":1,"activationStatus":1,"terminated":null,"department":"Marketing","workFrom":"2015-09-01T03:00:00.0000000+03:00","location":"Palo Alto","notes":"Prefers mail","lead":"0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01","title":"Manager","mobilePhone":"+16505550100","contacts":[{"type":"mail","value":"mike@example.com"},{"type":"skype","value":"mike.z"},{"type":"phone","value":"+1 650 555 0100"}],"avatarSmall":"http:\/\/portal.example.com\/skins\/default\/images\/default_user_photo_size_32-32.png","groups":[{"id":"6174c082-e4a5-4091-b2b3-c4d5e6f70807","name":"Marketing","manager":"jane.doe"}],"avatarMedium":"\/skins\/default\/images\/default_user_photo_size_48-48.png","avatar":"\/skins\/default\/images\/default_user_photo_size_82-82.png","isAdmin":false,"isLDAP":false,"isOwner":false,"cultureName":"en-US","isSSO":false,"profileUrl":"http:\/\/portal.example.com\/Products\/People\/Profile.aspx?user=mike.zanyatski","quotaLimit":0,"usedSpace":0,"docsSpace":0,"mailSpace":0,"talkSpace":0}}"#;
/// Jane, the owner, as `GET @self` answers her.
const OWNER: &str = r#"{"count":1,"status":0,"statusCode":200,"response":{"id":"0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01","userName":"jane.doe","isVisitor":false,"displayName":"Jane Doe","firstName":"Jane","lastName":"Doe","email":"jane@example.com","status":1,"activationStatus":1,"terminated":null,"department":"","isAdmin":true,"isLDAP":false,"isOwner":true,"isSSO":false,"quotaLimit":0,"usedSpace":0,"docsSpace":0,"mailSpace":0,"talkSpace":0}}"#;
const BUILD: &str =
    r#"{"count":1,"status":0,"statusCode":200,"response":{"communityServer":"12.7.1.1912"}}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address: SocketAddr = args
        .first()
        .map_or("127.0.0.1:0", String::as_str)
        .parse()
        .map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("{}", listener.local_addr()?);
    let connections = Arc::new(AtomicUsize::new(0));
    let app = {
        let connections = Arc::clone(&connections);
        Router::new().fallback(move |method: Method, uri: axum::http::Uri, body: Bytes| {
            let connections = Arc::clone(&connections);
            async move { answer(&method, uri.path(), uri.query(), &body, &connections) }
        })
    };
    match args.iter().position(|arg| arg == "--tls") {
        Some(at) => {
            let (Some(cert), Some(key)) = (args.get(at + 1), args.get(at + 2)) else {
                return Err(std::io::Error::other(
                    "--tls CERT_PEM KEY_PEM [--alpn h2,http/1.1]",
                ));
            };
            let alpn = args
                .iter()
                .position(|arg| arg == "--alpn")
                .and_then(|at| args.get(at + 1))
                .map_or("http/1.1", String::as_str);
            serve_tls(listener, app, connections, cert, key, alpn).await
        }
        None => {
            let counted = Arc::clone(&connections);
            let listener = listener.tap_io(move |stream| {
                let _ = stream.set_nodelay(true);
                counted.fetch_add(1, Ordering::Relaxed);
            });
            axum::serve(listener, app).await
        }
    }
}

/// `--tls`: the same answers over TLS, offering the protocols in `alpn`
/// (`h2,http/1.1` as an nginx with `http2 on` does, or `http/1.1` only).
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    connections: Arc<AtomicUsize>,
    cert: &str,
    key: &str,
    alpn: &str,
) -> std::io::Result<()> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(std::io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(std::io::Error::other)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(std::io::Error::other)?;
    config.alpn_protocols = alpn
        .split(',')
        .map(|protocol| protocol.as_bytes().to_vec())
        .collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let service = hyper_util::service::TowerToHyperService::new(app);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        connections.fetch_add(1, Ordering::Relaxed);
        let acceptor = acceptor.clone();
        let service = service.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}

/// Users the filter route says the directory holds.
const DIRECTORY: usize = 100_000;

/// A page of the filter route: `count` copies of Mike with their own ids
/// (at most 1,000, as Workspace serves), starting at `startIndex`.
fn page(query: Option<&str>) -> String {
    let number = |name: &str| {
        query
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse::<usize>().ok())
    };
    let start = number("startIndex").unwrap_or(0);
    let count = number("count").unwrap_or(1000).min(1000);
    let users = (start..(start + count).min(DIRECTORY)).map(|n| {
        let id = format!("00000000-0000-4000-8000-{n:012}");
        let mike = &USER[USER.find("\"response\":").unwrap_or(0) + 11..USER.len() - 1];
        mike.replacen(MIKE, &id, 1)
    });
    let users: Vec<String> = users.collect();
    format!(
        r#"{{"count":{},"startIndex":{start},"total":{DIRECTORY},"status":0,"statusCode":200,"response":[{}]}}"#,
        users.len(),
        users.join(",")
    )
}

/// Mike with the changes of a write applied: its `contacts` and `title`
/// (what the benchmark's writes change; the rest of a write resends what
/// Mike holds), so that the gateway's check of the answer passes.
fn written(id: &str, body: &[u8]) -> String {
    let mut envelope: serde_json::Value =
        serde_json::from_str(&USER.replacen(MIKE, id, 1)).unwrap_or_default();
    let changes: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(user) = envelope.get_mut("response") {
        for field in ["contacts", "title"] {
            if let Some(value) = changes.get(field) {
                user[field] = value.clone();
            }
        }
    }
    envelope.to_string()
}

fn answer(
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    connections: &AtomicUsize,
) -> Response {
    let json = |body: &'static str| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            Bytes::from_static(body.as_bytes()),
        )
            .into_response()
    };
    match (method, path) {
        (&Method::GET, "/__stats") => connections
            .load(Ordering::Relaxed)
            .to_string()
            .into_response(),
        (&Method::GET, "/api/2.0/settings/version/build") => json(BUILD),
        (&Method::GET, "/api/2.0/people/@self") => json(OWNER),
        (&Method::GET, "/api/2.0/people/filter") => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            page(query),
        )
            .into_response(),
        (_, path) if path.starts_with("/api/2.0/people/") => {
            // Answers for the user asked about, so that calls for many users can run at once.
            let asked = path
                .trim_start_matches("/api/2.0/people/")
                .trim_end_matches("/contacts");
            if asked.len() == 36 && asked.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                let body = if method == Method::PUT {
                    written(asked, body)
                } else {
                    USER.replacen(MIKE, asked, 1)
                };
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
                    body,
                )
                    .into_response()
            } else {
                json(USER)
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
