//! TLS on both sides, with certificates made in the test: the gateway serving
//! TLS and requiring client certificates, and a portal behind a private CA.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use people_gateway::domain::Product;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::pem::PemObject as _};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::harness::*;

/// A private CA and what it signed.
struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![usage];
        let certificate = params.signed_by(&key, &ca).unwrap();
        (certificate.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca.pem(),
        server: leaf(ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf(ExtendedKeyUsagePurpose::ClientAuth),
    }
}

async fn channel(
    gateway: &Gateway,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint =
        Channel::from_shared(format!("{scheme}://localhost:{}", gateway.addr.port())).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    endpoint.connect().await
}

fn get_mike() -> pb::GetUserRequest {
    pb::GetUserRequest {
        user_id: seed::USER_ID.into(),
    }
}

async fn call(channel: Channel) -> Result<pb::User, tonic::Status> {
    pb::people_service_client::PeopleServiceClient::new(channel)
        .get_user(as_user(seed::ADMIN_TOKEN, get_mike()))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn the_gateway_serves_tls_and_requires_client_certificates_when_told() {
    let pki = pki();
    let server_tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&pki.server.0, &pki.server.1))
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    let mut options = Options::new(Product::Workspace);
    options.serve.tls = Some(server_tls);
    let gateway = Gateway::start(options).await;

    let trusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    // With its certificate, a client is served.
    let with_identity = trusting
        .clone()
        .identity(Identity::from_pem(&pki.client.0, &pki.client.1));
    let user = call(channel(&gateway, Some(with_identity)).await.unwrap())
        .await
        .unwrap();
    assert_eq!(user.id, seed::USER_ID);

    // Without one, the handshake (or the first call) fails.
    let refused = match channel(&gateway, Some(trusting)).await {
        Ok(channel) => call(channel).await.map(|_| ()),
        Err(error) => Err(tonic::Status::unavailable(error.to_string())),
    };
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );

    // And plaintext gets nowhere.
    let plaintext = match channel(&gateway, None).await {
        Ok(channel) => call(channel).await.map(|_| ()),
        Err(error) => Err(tonic::Status::unavailable(error.to_string())),
    };
    assert!(plaintext.is_err(), "plaintext was served on a TLS port");
}

/// A TLS server with `pki.server`'s certificate, offering `alpn` (nothing
/// offered: HTTP/1.1).
fn server_config(pki: &Pki, alpn: &[&[u8]]) -> rustls::ServerConfig {
    let certificates: Vec<_> = rustls_pemfile_certs(&pki.server.0);
    let key = PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    config
}

/// Terminates TLS with `pki.server` and passes the bytes on to the simulator.
async fn tls_front(pki: &Pki, backend: std::net::SocketAddr) -> url::Url {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(pki, &[])));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://localhost:{port}/").parse().unwrap()
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn a_portal_behind_a_private_ca_is_reached_with_portal_ca() {
    let pki = pki();
    let sim = portal_sim::Simulator::start(portal_sim::Product::Workspace)
        .await
        .unwrap();
    let portal = tls_front(&pki, sim.addr()).await;

    let mut gateway = gateway_trusting(&pki, portal.clone()).await;
    let user = gateway
        .get_user(seed::ADMIN_TOKEN, get_mike())
        .await
        .unwrap();
    assert_eq!(user.id, seed::USER_ID);

    // Without the CA, the portal's certificate is not trusted.
    let mut options = Options::new(Product::Workspace);
    options.portal_url = Some(portal);
    let mut untrusting = Gateway::start(options).await;
    let status = untrusting
        .get_user(seed::ADMIN_TOKEN, get_mike())
        .await
        .unwrap_err();
    assert_status(&status, Code::Unavailable, "PORTAL_CERTIFICATE_REFUSED");
    assert!(
        status.message().contains("UnknownIssuer"),
        "{}",
        status.message()
    );
    assert!(
        !status.message().contains("localhost"),
        "{}",
        status.message()
    );
}

/// What the simulator at `backend` answers to a request a front received:
/// its status, headers (but those of one HTTP/1.1 connection) and body.
async fn ask_simulator(
    client: &reqwest::Client,
    backend: std::net::SocketAddr,
    asked: &http::request::Parts,
    body: bytes::Bytes,
) -> http::Response<bytes::Bytes> {
    let path = asked.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut forwarded = client
        .request(asked.method.clone(), format!("http://{backend}{path}"))
        .body(body);
    for (name, value) in &asked.headers {
        forwarded = forwarded.header(name, value);
    }
    let answer = forwarded.send().await.expect("the simulator answers");
    let mut response = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != http::header::CONNECTION && name != http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let body = answer.bytes().await.expect("the simulator's body");
    response.body(body).expect("a response")
}

/// A Workspace gateway in front of `portal`, trusting `pki`'s CA.
async fn gateway_trusting(pki: &Pki, portal: url::Url) -> Gateway {
    let mut options = Options::new(Product::Workspace);
    options.portal_url = Some(portal);
    options.portal_ca = Some(pki.ca_pem.clone().into_bytes());
    Gateway::start(options).await
}

/// A portal behind a front that offers HTTP/2 by ALPN, as an nginx with
/// `http2 on` does: the front answers each HTTP/2 request by asking the
/// simulator over HTTP/1.1, and counts the requests that came over HTTP/2.
async fn h2_front(pki: &Pki, backend: std::net::SocketAddr) -> (url::Url, Arc<AtomicUsize>) {
    use http_body_util::BodyExt as _;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let acceptor = TlsAcceptor::from(Arc::new(server_config(pki, &[b"h2", b"http/1.1"])));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let over_h2 = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&over_h2);
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let client = client.clone();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let client = client.clone();
                        let counted = Arc::clone(&counted);
                        async move {
                            if request.version() == hyper::Version::HTTP_2 {
                                counted.fetch_add(1, Ordering::SeqCst);
                            }
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let answer = ask_simulator(&client, backend, &parts, body).await;
                            Ok::<_, hyper::Error>(answer.map(http_body_util::Full::new))
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (
        format!("https://localhost:{port}/").parse().unwrap(),
        over_h2,
    )
}

#[tokio::test]
async fn a_portal_that_offers_http2_is_spoken_to_over_http2() {
    let pki = pki();
    let sim = portal_sim::Simulator::start(portal_sim::Product::Workspace)
        .await
        .unwrap();
    let (portal, over_h2) = h2_front(&pki, sim.addr()).await;
    let mut gateway = gateway_trusting(&pki, portal).await;
    for _ in 0..3 {
        let user = gateway
            .get_user(seed::ADMIN_TOKEN, get_mike())
            .await
            .unwrap();
        assert_eq!(user.id, seed::USER_ID);
    }
    assert!(
        over_h2.load(Ordering::SeqCst) >= 3,
        "the portal's GETs came over HTTP/1.1"
    );
}

/// A portal behind an HTTP/2 front that refuses the first request of each
/// method unprocessed (`REFUSED_STREAM`, as a server shedding streams or
/// closing does) and passes the others on to the simulator; counts the
/// refusals.
async fn refusing_h2_front(
    pki: &Pki,
    backend: std::net::SocketAddr,
) -> (url::Url, Arc<AtomicUsize>) {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(pki, &[b"h2"])));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&refused);
    let methods_seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let (client, counted, methods_seen) = (
                client.clone(),
                Arc::clone(&counted),
                Arc::clone(&methods_seen),
            );
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut connection) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    let first = methods_seen
                        .lock()
                        .unwrap()
                        .insert(request.method().clone());
                    if first {
                        counted.fetch_add(1, Ordering::SeqCst);
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    let client = client.clone();
                    tokio::spawn(async move {
                        let (parts, mut body) = request.into_parts();
                        let mut received = Vec::new();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                            received.extend_from_slice(&chunk);
                        }
                        let answer = ask_simulator(&client, backend, &parts, received.into()).await;
                        let (head, body) = answer.into_parts();
                        let Ok(mut sending) =
                            respond.send_response(http::Response::from_parts(head, ()), false)
                        else {
                            return;
                        };
                        let _ = sending.send_data(body, true);
                    });
                }
            });
        }
    });
    (
        format!("https://localhost:{port}/").parse().unwrap(),
        refused,
    )
}

#[tokio::test]
async fn a_request_an_http2_portal_refused_unprocessed_is_sent_again_even_a_write() {
    let pki = pki();
    let sim = portal_sim::Simulator::start(portal_sim::Product::Workspace)
        .await
        .unwrap();
    let (portal, refused) = refusing_h2_front(&pki, sim.addr()).await;
    let mut gateway = gateway_trusting(&pki, portal).await;
    let user = gateway
        .get_user(seed::ADMIN_TOKEN, get_mike())
        .await
        .unwrap();
    assert_eq!(user.id, seed::USER_ID);
    sim.clear_requests();
    let updated = gateway
        .update_contacts(
            seed::ADMIN_TOKEN,
            pb::UpdateContactsRequest {
                user_id: seed::USER_ID.into(),
                contacts: vec![contact("skype", "mike.h2")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        pb_pairs(&updated.contacts).contains(&("skype".to_owned(), "mike.h2".to_owned())),
        "{:?}",
        updated.contacts
    );
    assert_eq!(
        refused.load(Ordering::SeqCst),
        2,
        "a GET and a PUT were refused"
    );
    let puts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|request| request.method == "PUT")
        .collect();
    assert_eq!(
        puts.len(),
        1,
        "the refused write reached the portal once: {puts:?}"
    );
}
