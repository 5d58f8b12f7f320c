//! A portal that misbehaves at the HTTP level, where the simulator (a real
//! HTTP server) cannot: endless and stalled bodies, unreadable heads, huge
//! headers, answers for the wrong user, redirects. Plain TCP on loopback; every
//! loop it runs is bounded in time, so it stops by itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// How the portal answers every request.
#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// 200, chunked, and chunks that never end.
    EndlessBody,
    /// 200 announcing a terabyte.
    HugeContentLength,
    /// 200 announcing 1000 bytes, then 10 of them and silence.
    StalledBody,
    /// A status line no HTTP client can read.
    GarbageHead,
    /// One header of 200 KiB.
    HugeHeader,
    /// 500 headers.
    ManyHeaders,
    /// A valid Workspace answer, for this user id.
    AnotherUser(&'static str),
    /// 302 to somewhere else.
    Redirect,
}

/// A running hostile portal.
pub struct HostilePortal {
    url: Url,
    requests: Arc<Mutex<Vec<String>>>,
}

/// No connection is served longer than this.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(20);

impl HostilePortal {
    pub async fn start(misbehaviour: Misbehaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"))
            .parse()
            .expect("url");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let misbehaviour = misbehaviour.clone();
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        CONNECTION_LIFETIME,
                        serve(stream, misbehaviour, recorded),
                    )
                    .await;
                });
            }
        });
        Self { url, requests }
    }

    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The request lines received (`GET /api/2.0/people/… HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    misbehaviour: Misbehaviour,
    recorded: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    loop {
        let Some(head) = read_head(&mut stream).await? else {
            return Ok(());
        };
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        recorded.lock().expect("requests").push(request_line);
        let body_length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        let mut body = vec![0; body_length.min(1 << 20)];
        stream.read_exact(&mut body).await?;
        answer(&mut stream, &misbehaviour).await?;
    }
}

/// Reads up to the blank line; `None` when the client closed.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || head.len() > 64 * 1024 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

async fn answer(stream: &mut TcpStream, misbehaviour: &Misbehaviour) -> std::io::Result<()> {
    match misbehaviour {
        Misbehaviour::EndlessBody => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            let chunk = format!("1000\r\n{}\r\n", " ".repeat(0x1000));
            let started = Instant::now();
            // Stops when the client goes away, or after a while in any case.
            while started.elapsed() < CONNECTION_LIFETIME {
                stream.write_all(chunk.as_bytes()).await?;
            }
            Ok(())
        }
        Misbehaviour::HugeContentLength => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{\"response\":")
                .await?;
            stall().await
        }
        Misbehaviour::StalledBody => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"status\":")
                .await?;
            stall().await
        }
        Misbehaviour::GarbageHead => {
            stream.write_all(b"HTTP/1.1 2OO K\x00\xff\r\nthis is: not http\r\n\r\n").await?;
            stall().await
        }
        Misbehaviour::HugeHeader => {
            let header = format!("X-Padding: {}\r\n", "a".repeat(200 * 1024));
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\n{header}Content-Length: 2\r\n\r\n{{}}").as_bytes())
                .await
        }
        Misbehaviour::ManyHeaders => {
            let headers: String = (0..500).map(|n| format!("X-Header-{n}: {n}\r\n")).collect();
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\n\r\n{{}}").as_bytes())
                .await
        }
        Misbehaviour::AnotherUser(id) => {
            let body = serde_json::json!({
                "count": 1, "status": 0, "statusCode": 200,
                "response": {
                    "id": id, "userName": "someone.else", "isVisitor": true,
                    "firstName": "Some", "lastName": "One", "email": "someone@example.com",
                    "contacts": [{"type": "mail", "value": "someone@example.com"}],
                    "department": "", "isAdmin": false, "isOwner": false,
                    "isLDAP": false, "isSSO": false,
                },
            })
            .to_string();
            stream
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await
        }
        Misbehaviour::Redirect => {
            stream
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: https://login.example.com/\r\nContent-Length: 0\r\n\r\n")
                .await
        }
    }
}

/// Keeps the connection open without a byte more, until the lifetime ends.
async fn stall() -> std::io::Result<()> {
    tokio::time::sleep(CONNECTION_LIFETIME).await;
    Ok(())
}
