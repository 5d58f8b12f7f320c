//! Client connections, accepted with bounds: at most `max_connections` open at
//! once (further clients wait in the listen backlog, and accepting resumes as
//! connections close), each closed once it has neither sent nor taken a byte
//! for `idle_timeout` (HTTP/2 keepalive pings keep a live but quiet client
//! busy enough), and accept failures such as exhausted file descriptors
//! answered with a growing pause instead of a hot loop.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_io_timeout::TimeoutStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::warn;

/// First pause after a failed accept; it doubles per failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause after failed accepts.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How many connections, and how quiet they may be.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at once.
    pub max_connections: usize,
    /// Time without a byte in either direction before a connection is closed.
    pub idle_timeout: Duration,
}

/// One accepted client connection; its slot is freed when it is dropped.
pub struct Connection {
    io: Pin<Box<TimeoutStream<TcpStream>>>,
    info: TcpConnectInfo,
    _slot: OwnedSemaphorePermit,
}

/// Accepts connections within `limits` until the returned stream is dropped.
pub fn accept(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> ReceiverStream<io::Result<Connection>> {
    let (sender, receiver) = mpsc::channel(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::spawn(async move {
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = accept_one(&listener, &slots) => accepted,
            };
            let (stream, slot) = match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    accepted
                }
                Err(error) => {
                    warn!(%error, pause = ?backoff, "accepting a connection failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            if sender
                .send(Ok(Connection::new(stream, slot, limits.idle_timeout)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// Waits for a free slot, then for a client.
async fn accept_one(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, _) = listener.accept().await?;
    Ok((stream, slot))
}

impl Connection {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, idle_timeout: Duration) -> Self {
        // Small gRPC frames must not wait for Nagle's algorithm (40 ms stalls).
        let _ = stream.set_nodelay(true);
        let info = TcpConnectInfo {
            local_addr: stream.local_addr().ok(),
            remote_addr: stream.peer_addr().ok(),
        };
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(idle_timeout));
        io.set_write_timeout(Some(idle_timeout));
        Self {
            io: Box::pin(io),
            info,
            _slot: slot,
        }
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
