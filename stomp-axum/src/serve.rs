//! [`serve`] and [`bind`]: the production way to run an app (see [`serve`]).

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::Service;

/// The listen backlog of [`bind`]: room for a burst of 4,096 connections the server has not
/// accepted yet.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a TCP listener on `addr` (the first address that works) with a backlog of
/// [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (a restarted server can listen again at once).
pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match bind_one(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to")))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener`: `axum::serve` with the limits a public server needs before
/// the WebSocket upgrade. Await the returned [`Serve`] to run it; its setters change the
/// limits. `app` is an axum [`Router`](axum::Router) or any service like it.
///
/// `axum::serve` gives hyper no timer, so hyper's header-read timeout never fires: a peer
/// that opens TCP connections and sends nothing, or an HTTP head at one byte every few
/// seconds, holds a connection (and a file descriptor) forever. [`tokio::net::TcpListener::bind`]
/// listens with a backlog of 1,024, which a burst of connections overflows (the kernel then
/// drops SYNs and clients retry after a second). [`bind`] and `serve` fix both:
///
/// | limit | default | setter |
/// |---|---|---|
/// | listen backlog | 4,096 ([`LISTEN_BACKLOG`]; the kernel caps it at `net.core.somaxconn`) | — |
/// | time to receive a request head, from the connection's start or the previous response | 10 s | [`Serve::header_read_timeout`] |
/// | silence (no byte read or written) before the upgrade | 60 s | [`Serve::idle_timeout`] |
/// | open TCP connections, WebSocket sessions included | 16,384 | [`Serve::max_connections`] |
///
/// Every accepted socket gets `TCP_NODELAY` (small STOMP frames go out at once). At the
/// connection cap, `serve` stops accepting: new connections wait in the listen backlog
/// until one closes, and are never accepted and then dropped. Requests carry the peer
/// address as [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo). Once a connection is
/// upgraded to a WebSocket, the timeouts above no longer apply (STOMP heart-beats and the
/// engine's CONNECT timeout take over), but it still counts against the cap until it
/// closes.
///
/// ```no_run
/// use axum::Router;
/// use stomp_axum::Stomp;
///
/// # async fn run() -> std::io::Result<()> {
/// let stomp = Stomp::builder().simple_broker(["/topic"]).build();
/// let app = Router::new().layer(stomp.layer("/ws"));
/// let listener = stomp_axum::bind("127.0.0.1:8080").await?;
/// stomp_axum::serve(listener, app)
///     .with_graceful_shutdown(stomp.shutdown_signal(async {
///         let _ = tokio::signal::ctrl_c().await;
///     }))
///     .await
/// # }
/// ```
pub fn serve<S>(listener: TcpListener, app: S) -> Serve<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    Serve {
        listener,
        app,
        header_read_timeout: Serve::<S>::DEFAULT_HEADER_READ_TIMEOUT,
        idle_timeout: Serve::<S>::DEFAULT_IDLE_TIMEOUT,
        max_connections: Serve::<S>::DEFAULT_MAX_CONNECTIONS,
        signal: None,
    }
}

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server being configured; `.await` it to run (see [`serve`]).
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<S> {
    listener: TcpListener,
    app: S,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    signal: Option<Signal>,
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("graceful_shutdown", &self.signal.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Serve<S> {
    /// Default [`header_read_timeout`](Self::header_read_timeout): 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`idle_timeout`](Self::idle_timeout): 60 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default [`max_connections`](Self::max_connections): 16,384 (room for the 10,000
    /// idle sessions of the load generator's `conns` scenario; each needs a file
    /// descriptor, so raise `ulimit -n` to match).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

    /// How long a client may take to send a complete request head, counted from the
    /// connection's start (or the end of the previous response on a kept-alive
    /// connection), however slowly the bytes trickle in; the connection is closed after it.
    /// `Duration::ZERO` turns it off.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a connection that is not (yet) a WebSocket may go without a byte read or
    /// written before it is closed (a stalled request body, a slow handler). It is checked
    /// four times per period, so a silent connection closes between `timeout` and
    /// `1.25 x timeout`. `Duration::ZERO` turns it off.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Most TCP connections open at once, upgraded WebSocket connections included. At the
    /// cap, `serve` accepts nothing until one closes; waiting connections queue in the
    /// listen backlog. `0` counts as 1.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Stops accepting when `signal` completes, lets each connection that is not a
    /// WebSocket finish its current request, and resolves once they are closed (as
    /// `axum::serve(..).with_graceful_shutdown`). Pass
    /// [`Stomp::shutdown_signal`](crate::Stomp::shutdown_signal) to close the STOMP sessions
    /// too.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S> IntoFuture for Serve<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run<S>(serve: Serve<S>) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let Serve {
        listener,
        app,
        header_read_timeout,
        idle_timeout,
        max_connections,
        signal,
    } = serve;
    let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
    let permits = Arc::new(Semaphore::new(max_connections));
    // Dropped to tell the connections to shut down; each holds a receiver of `close` until
    // it is done, so `closed()` resolves when the last one is.
    let (shutdown_tx, shutdown_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).keep_alive(true);
    if !header_read_timeout.is_zero() {
        http.header_read_timeout(header_read_timeout);
    }
    let http = Arc::new(http);

    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            stream,
            peer,
            permit,
            app: app.clone(),
            http: http.clone(),
            idle_timeout,
            shutdown: shutdown_rx.clone(),
            close: close_rx.clone(),
        };
        // Boxed: the connection's future (hyper's whole HTTP/1 state) is large, and a task
        // moves its future on spawn and again when it finishes; boxed, it moves a pointer.
        tokio::spawn(Box::pin(connection.run()));
    }
    drop(listener);
    drop(shutdown_rx);
    drop(shutdown_tx);
    drop(close_rx);
    close_tx.closed().await;
    Ok(())
}

/// After a failed `accept`: per-connection errors (the peer reset before we took it) are
/// retried at once; others (out of file descriptors) after a pause, as axum does.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept failed: {error}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection until it closes or is upgraded.
struct Connection<S> {
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    app: S,
    http: Arc<hyper::server::conn::http1::Builder>,
    idle_timeout: Duration,
    shutdown: watch::Receiver<()>,
    close: watch::Receiver<()>,
}

impl<S> Connection<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    async fn run(self) {
        let Connection {
            stream,
            peer,
            permit,
            app,
            http,
            idle_timeout,
            mut shutdown,
            close,
        } = self;
        let active = Arc::new(AtomicBool::new(true));
        let io = TokioIo::new(ServedStream {
            stream,
            active: active.clone(),
            _permit: permit,
        });
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut app = app.clone();
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            async move {
                std::future::poll_fn(|cx| app.poll_ready(cx)).await?;
                app.call(request).await
            }
        });
        let conn = http.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        // Without an idle timeout the ticks are disabled below; any period will do.
        let check = if idle_timeout.is_zero() {
            Duration::from_secs(3600)
        } else {
            (idle_timeout / 4).max(Duration::from_millis(1))
        };
        let mut quiet_checks = 0u32;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + check, check);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutting_down = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!("connection from {peer}: {e}");
                    }
                    break;
                }
                _ = ticks.tick(), if !idle_timeout.is_zero() => {
                    if active.swap(false, Ordering::Relaxed) {
                        quiet_checks = 0;
                    } else {
                        quiet_checks += 1;
                        if quiet_checks >= 4 {
                            tracing::debug!("connection from {peer} idle: closed");
                            break;
                        }
                    }
                }
                _ = shutdown.changed(), if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        drop(close);
    }
}

/// The TCP stream as the connection sees it: records activity for the idle timeout and
/// holds the connection's place under the cap for as long as the socket lives (an upgraded
/// WebSocket keeps it).
struct ServedStream {
    stream: TcpStream,
    active: Arc<AtomicBool>,
    _permit: OwnedSemaphorePermit,
}

impl ServedStream {
    fn mark<T>(&self, poll: &Poll<io::Result<T>>) {
        if let Poll::Ready(Ok(_)) = poll {
            self.active.store(true, Ordering::Relaxed);
        }
    }
}

impl AsyncRead for ServedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.mark(&poll);
        poll
    }
}

impl AsyncWrite for ServedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.mark(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.mark(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
