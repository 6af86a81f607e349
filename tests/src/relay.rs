//! Shared helpers of the relay and client tests (`tests/relay`, `tests/relay_restart.rs`): unique names, sessions driven
//! through the `Broker` trait, frame reading from outbound queues, and a TCP proxy that can
//! cut connections.

#![allow(clippy::unwrap_used)] // test support code panics on purpose

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use bytestring::ByteString;
use stomp_core::broker::{AckMode, Subscriber, Subscription};
use stomp_core::codec::{Decoded, Decoder, Limits};
use stomp_core::frame::{Frame, Headers};
use stomp_core::identity::{Attributes, SessionId, SessionInfo};
use stomp_core::outbound::{self, CloseReason, Next, Outbound, OutboundConfig, OutboundReceiver};
use stomp_core::Version;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The real RabbitMQ STOMP listener the tests use (guest/guest).
pub const RABBIT: &str = "127.0.0.1:61613";
/// The longest any wait on RabbitMQ lasts before a test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// A client session as the broker sees it: its info and its outbound queue.
pub struct TestSession {
    /// What the broker knows of the session.
    pub info: SessionInfo,
    /// Where the broker delivers to (the sending half of `rx`).
    pub subscriber: Subscriber,
    /// The session's outbound queue, read by the test.
    pub rx: OutboundReceiver,
    decoder: Decoder,
    buf: BytesMut,
}

impl TestSession {
    /// A session with a fresh id and an outbound queue; `name` is its user.
    pub fn new(name: &str) -> Self {
        let (tx, rx) = outbound::channel(OutboundConfig::default());
        let id = SessionId::from(unique(name));
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_version(Version::V1_2);
        TestSession {
            info: SessionInfo {
                id: id.clone(),
                principal: None,
                version: Version::V1_2,
                attributes: Attributes::default(),
            },
            subscriber: Subscriber {
                session: id,
                version: Version::V1_2,
                outbound: tx,
            },
            rx,
            decoder,
            buf: BytesMut::new(),
        }
    }

    /// The session id.
    pub fn id(&self) -> &SessionId {
        &self.info.id
    }

    /// A subscription of this session with SUBSCRIBE id `id`.
    pub fn subscription(&self, id: &str, destination: &str, ack: AckMode) -> Subscription {
        Subscription {
            subscriber: self.subscriber.clone(),
            id: ByteString::from(id),
            destination: ByteString::from(destination),
            ack,
            headers: Headers::new(),
        }
    }

    /// The next frame queued for the session, or the close.
    pub async fn next(&mut self) -> Result<Frame, CloseReason> {
        loop {
            if let Ok(Some(Decoded::Frame(frame))) = self.decoder.decode(&mut self.buf) {
                return Ok(frame);
            }
            let next = tokio::time::timeout(WAIT, self.rx.next())
                .await
                .expect("something for the session within the timeout");
            match next {
                Next::Item(Outbound::Frame(bytes)) => self.buf.extend_from_slice(&bytes),
                Next::Item(Outbound::Text(text)) => self.buf.extend_from_slice(text.as_bytes()),
                Next::Item(Outbound::HeartBeat) => {}
                Next::Close(reason) => return Err(reason),
            }
        }
    }

    /// The next frame, which must be a MESSAGE.
    pub async fn message(&mut self) -> Frame {
        let frame = self.next().await.expect("session open");
        assert_eq!(frame.command, stomp_core::Command::Message, "{frame:?}");
        frame
    }
}

/// A loopback TCP proxy in front of `target` that can cut every connection and refuse new
/// ones, to simulate a broker going away.
pub struct Proxy {
    /// Where the proxy listens.
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
    frozen: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

/// Copies `from` to `to`, holding the bytes while the proxy is frozen.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    /// Starts a proxy on a loopback port in front of `target`.
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let frozen = watch::channel(false).0;
        let target = target.to_owned();
        let accept = tokio::spawn({
            let conns = conns.clone();
            let refusing = refusing.clone();
            let frozen = frozen.clone();
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if refusing.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let up = frozen.subscribe();
                    let down = frozen.subscribe();
                    let task = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(&target).await {
                            let (in_read, in_write) = inbound.into_split();
                            let (out_read, out_write) = outbound.into_split();
                            tokio::join!(
                                pipe(in_read, out_write, up),
                                pipe(out_read, in_write, down)
                            );
                        }
                    });
                    conns.lock().unwrap().push(task);
                }
            }
        });
        Proxy {
            addr,
            conns,
            refusing,
            frozen,
            accept,
        }
    }

    /// Where the proxy listens, as `host:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Drops every proxied connection (both sides see the socket close).
    pub fn cut(&self) {
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Holds every byte in both directions without closing anything (`true`), as a broker
    /// that hangs or a network path that silently drops, or lets them flow again.
    pub fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }

    /// New connections are accepted and closed at once (`true`) or proxied (`false`).
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A loopback address nothing listens on.
pub async fn dead_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

/// Serves `engine` over plain TCP on a loopback port (a minimal STOMP-over-TCP transport:
/// one reader feeding the session, one writer draining its outbound queue).
pub async fn serve_tcp(engine: stomp_core::engine::Engine) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(bridge(engine.clone(), stream));
        }
    });
    addr.to_string()
}

async fn bridge(engine: stomp_core::engine::Engine, stream: TcpStream) {
    let (mut session, mut outbound) =
        engine.open_session(stomp_core::engine::TransportInfo::default());
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        loop {
            let bytes: &[u8] = match outbound.next().await {
                Next::Item(Outbound::Frame(ref frame)) => {
                    if write.write_all(frame).await.is_err() {
                        return;
                    }
                    continue;
                }
                Next::Item(Outbound::Text(ref text)) => {
                    if write.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                    continue;
                }
                Next::Item(Outbound::HeartBeat) => b"\n",
                Next::Close(_) => {
                    let _ = write.shutdown().await;
                    return;
                }
            };
            if write.write_all(bytes).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => {
                session.transport_closed().await;
                break;
            }
            Ok(n) => {
                if session.receive(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = writer.await;
}
