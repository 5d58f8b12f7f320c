//! Client connections, accepted with bounds: at most `max_connections` open at
//! once, each closed once it has neither sent nor taken a byte for
//! `idle_timeout` (HTTP/2 keepalive pings keep a live but quiet client busy
//! enough), and accept failures such as exhausted file descriptors answered
//! with a growing pause instead of a hot loop. When every place is taken, a
//! new client does not wait out the idle timeout: the connection quiet the
//! longest (for at least [`EVICTABLE_AFTER`]) with no call open is closed to
//! make room, so idle connections cannot shut out new callers or a health
//! probe. Calls are counted through [`ConnectionInfo`], which every request
//! carries in its extensions.

use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_io_timeout::TimeoutStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::warn;

/// First pause after a failed accept; it doubles per failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause after failed accepts.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long a connection must have been quiet to be closed for a newcomer.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

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
    activity: Arc<Activity>,
    /// Resolves when the connection is closed to make room.
    evicted: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    open: Registered,
    _slot: OwnedSemaphorePermit,
}

/// When a connection last sent or took a byte, how many calls it has open,
/// and how to close it.
#[derive(Debug)]
struct Activity {
    /// Milliseconds since `Open::started`.
    last: AtomicU64,
    calls: AtomicUsize,
    evict: CancellationToken,
}

/// What every request on a connection carries in its extensions (under TLS
/// inside tonic's `TlsConnectInfo`): the client's address, and the count of
/// the connection's open calls.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Addresses of the TCP connection.
    pub tcp: TcpConnectInfo,
    activity: Arc<Activity>,
}

impl ConnectionInfo {
    /// The info a request carries, with or without TLS.
    pub fn of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
        extensions.get::<ConnectionInfo>().or_else(|| {
            extensions
                .get::<tonic::transport::server::TlsConnectInfo<ConnectionInfo>>()
                .map(tonic::transport::server::TlsConnectInfo::get_ref)
        })
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.tcp.remote_addr
    }

    /// Counts one call open on the connection until the guard is dropped;
    /// a connection with a call open is never closed to make room.
    pub fn call_open(&self) -> CallOpen {
        self.activity.calls.fetch_add(1, Ordering::Relaxed);
        CallOpen(Arc::clone(&self.activity))
    }
}

/// One call open on a connection; see [`ConnectionInfo::call_open`].
#[derive(Debug)]
pub struct CallOpen(Arc<Activity>);

impl Drop for CallOpen {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The open connections, to find the one quiet the longest.
#[derive(Debug)]
struct Open {
    started: Instant,
    next: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Open {
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn register(self: &Arc<Self>) -> (Arc<Activity>, Registered) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            last: AtomicU64::new(self.now()),
            calls: AtomicUsize::new(0),
            evict: CancellationToken::new(),
        });
        self.lock().insert(id, Arc::clone(&activity));
        (
            activity,
            Registered {
                open: Arc::clone(self),
                id,
            },
        )
    }

    /// Closes the connection quiet the longest with no call open, if one has
    /// been quiet for [`EVICTABLE_AFTER`]; whether one was.
    fn evict_quietest(&self) -> bool {
        let now = self.now();
        let threshold = u64::try_from(EVICTABLE_AFTER.as_millis()).unwrap_or(u64::MAX);
        let open = self.lock();
        let quietest = open
            .values()
            .filter(|activity| {
                !activity.evict.is_cancelled() && activity.calls.load(Ordering::Relaxed) == 0
            })
            .min_by_key(|activity| activity.last.load(Ordering::Relaxed));
        match quietest {
            Some(activity)
                if now.saturating_sub(activity.last.load(Ordering::Relaxed)) >= threshold =>
            {
                activity.evict.cancel();
                true
            }
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.connections
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// A connection's entry among the open ones, removed when it closes.
struct Registered {
    open: Arc<Open>,
    id: u64,
}

impl Registered {
    /// The clock of the open connections.
    fn clock(&self) -> &Open {
        &self.open
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open.lock().remove(&self.id);
    }
}

/// Accepts connections within `limits` until the returned stream is dropped.
pub fn accept(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> ReceiverStream<io::Result<Connection>> {
    let (sender, receiver) = mpsc::channel(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(Open {
        started: Instant::now(),
        next: AtomicU64::new(0),
        connections: Mutex::default(),
    });
    tokio::spawn(async move {
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    stream
                }
                Err(error) => {
                    warn!(%error, pause = ?backoff, "accepting a connection failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            let slot = tokio::select! {
                () = sender.closed() => return,
                slot = place_for(&slots, &open) => slot,
            };
            let connection = Connection::new(stream, slot, &open, limits.idle_timeout);
            if sender.send(Ok(connection)).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// A free place, made by closing the quietest idle connection when none is
/// free: one at a time, looking again only when none could be closed or the
/// one closed has not freed its place within [`EVICTABLE_AFTER`].
async fn place_for(slots: &Arc<Semaphore>, open: &Arc<Open>) -> OwnedSemaphorePermit {
    loop {
        if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
            return slot;
        }
        open.evict_quietest();
        tokio::select! {
            slot = Arc::clone(slots).acquire_owned() => match slot {
                Ok(slot) => return slot,
                // Never closed.
                Err(_) => return std::future::pending().await,
            },
            () = tokio::time::sleep(EVICTABLE_AFTER) => {}
        }
    }
}

impl Connection {
    fn new(
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        open: &Arc<Open>,
        idle_timeout: Duration,
    ) -> Self {
        // Small gRPC frames must not wait for Nagle's algorithm (40 ms stalls).
        let _ = stream.set_nodelay(true);
        let info = TcpConnectInfo {
            local_addr: stream.local_addr().ok(),
            remote_addr: stream.peer_addr().ok(),
        };
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(idle_timeout));
        io.set_write_timeout(Some(idle_timeout));
        let (activity, registered) = open.register();
        let evicted = Box::pin(activity.evict.clone().cancelled_owned());
        Self {
            io: Box::pin(io),
            info,
            activity,
            evicted,
            open: registered,
            _slot: slot,
        }
    }

    /// The error a connection closed to make room answers every read and write with.
    fn evicted(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.evicted.as_mut().poll(cx).is_ready().then(|| {
            io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new connection",
            )
        })
    }

    /// Notes that a byte was sent or taken.
    fn active(&self) {
        let now = self.open.clock().now();
        self.activity.last.store(now, Ordering::Relaxed);
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo {
            tcp: self.info.clone(),
            activity: Arc::clone(&self.activity),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.evicted(cx) {
            return Poll::Ready(Err(error));
        }
        let before = buf.filled().len();
        let read = ready!(self.io.as_mut().poll_read(cx, buf));
        if buf.filled().len() > before {
            self.active();
        }
        Poll::Ready(read)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.evicted(cx) {
            return Poll::Ready(Err(error));
        }
        let written = ready!(self.io.as_mut().poll_write(cx, buf));
        if written.as_ref().is_ok_and(|written| *written > 0) {
            self.active();
        }
        Poll::Ready(written)
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
        if let Some(error) = self.evicted(cx) {
            return Poll::Ready(Err(error));
        }
        let written = ready!(self.io.as_mut().poll_write_vectored(cx, bufs));
        if written.as_ref().is_ok_and(|written| *written > 0) {
            self.active();
        }
        Poll::Ready(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
