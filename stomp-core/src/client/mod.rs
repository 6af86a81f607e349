//! An async STOMP 1.2 client on the crate's one codec.
//!
//! [`Client`] speaks STOMP over any `AsyncRead + AsyncWrite` byte stream (TCP with
//! [`Client::connect_tcp`]; a WebSocket or TLS stream adapted to those traits works the
//! same). It is what the [relay](crate::relay) uses to talk to RabbitMQ or ActiveMQ, and a
//! client for Rust programs and tests.
//!
//! One connection runs two tasks: a reader that decodes and routes frames from the server
//! (MESSAGE to its [`Subscription`], RECEIPT to the operation waiting for it, ERROR to every
//! waiter) and a writer that writes frames in order and heart-beats when the line is idle.
//! Queues are bounded: a full [`Subscription`] stops the reader (TCP pushes back on the
//! broker), a full write queue makes senders wait (asynchronously). No lock is held across
//! an `.await`.
//!
//! ```no_run
//! use stomp_core::broker::AckMode;
//! use stomp_core::client::{Client, ClientConfig};
//!
//! # async fn demo() -> Result<(), stomp_core::client::ClientError> {
//! let config = ClientConfig::new().login("guest", "guest").host("/");
//! let client = Client::connect_tcp("127.0.0.1:61613", config).await?;
//! let mut orders = client.subscribe("/queue/orders", AckMode::ClientIndividual).await?;
//! client.send_with_receipt("/queue/orders", "one order").await?;
//! if let Some(message) = orders.next().await {
//!     println!("{:?}", message.body());
//!     client.ack(&message).await?;
//! }
//! client.disconnect().await?;
//! # Ok(()) }
//! ```

mod config;
mod connection;
mod error;
mod subscription;
#[cfg(feature = "tls")]
mod tls;
mod transaction;

pub use config::ClientConfig;
pub use error::ClientError;
pub use subscription::{Delivery, Subscription};
#[cfg(feature = "tls")]
pub use tls::{rustls, TlsConfig, TlsError};
pub use transaction::Transaction;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};

use connection::{Shared, Sink, Write};

use crate::broker::AckMode;
use crate::codec::encode_to_bytes;
use crate::frame::heartbeat::{negotiate_heartbeat, HeartBeat, Negotiated};
use crate::frame::{name, Command, Frame, Headers};
use crate::version::Version;

/// A connected STOMP client. Cheap to clone; clones share the connection.
///
/// The connection closes when [`disconnect`](Client::disconnect) is called, when the server
/// closes it or sends ERROR, when a heart-beat is missed, or when the last handle (clients
/// and subscriptions) is dropped.
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

struct Handle {
    /// Unique per connection (for identity checks that must not keep it alive).
    id: u64,
    writer: mpsc::Sender<Write>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    version: Version,
    session: Option<ByteString>,
    server: Option<ByteString>,
    heart_beat: Negotiated,
    receipt_timeout: Duration,
    subscription_capacity: usize,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: close the connection (the writer shuts the socket down).
        let _ = self.writer.try_send(Write::Shutdown);
    }
}

/// Queues frames on a connection it does not keep open (see [`Client::weak_sender`]).
#[derive(Debug, Clone)]
pub(crate) struct WeakSender {
    writer: mpsc::WeakSender<Write>,
    version: Version,
}

impl WeakSender {
    /// The connection's STOMP version.
    pub(crate) fn version(&self) -> Version {
        self.version
    }

    /// Queues `frame` without waiting; `false` if the connection is gone or its write
    /// queue is full.
    pub(crate) fn try_send(&self, frame: &Frame) -> bool {
        let Some(writer) = self.writer.upgrade() else {
            return false;
        };
        let bytes = encode_to_bytes(frame, self.version);
        writer.try_send(Write::Frame(bytes)).is_ok()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("version", &self.handle.version)
            .field("session", &self.handle.session)
            .field("closed", &self.handle.shared.error())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens a TCP connection to `addr` and connects.
    pub async fn connect_tcp(
        addr: impl ToSocketAddrs,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let timeout = config.connect_timeout;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        stream.set_nodelay(true)?;
        Client::connect(stream, config).await
    }

    /// Opens a TCP connection to `addr` (`host:port`), runs the TLS handshake and connects
    /// (feature `tls`). The server's certificate must be trusted by `tls` and carry
    /// [`TlsConfig::server_name`], or else the host of `addr`; otherwise this fails with
    /// [`ClientError::Tls`]. The connect timeout covers TCP, TLS and CONNECT each.
    ///
    /// ```no_run
    /// use stomp_core::client::{Client, ClientConfig, TlsConfig};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = TlsConfig::native_roots()?;
    /// let config = ClientConfig::new().login("guest", "guest").host("/");
    /// let client = Client::connect_tls("rabbit.example.com:61614", &tls, config).await?;
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        addr: &str,
        tls: &TlsConfig,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let timeout = config.connect_timeout;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        stream.set_nodelay(true)?;
        let stream = tokio::time::timeout(timeout, tls.handshake(addr, stream))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        Client::connect(stream, config).await
    }

    /// Sends CONNECT over `io`, waits for CONNECTED and starts the connection's tasks
    /// (on the current tokio runtime).
    pub async fn connect<T>(mut io: T, config: ClientConfig) -> Result<Client, ClientError>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
        T: Unpin,
    {
        let timeout = config.connect_timeout;
        let handshake = tokio::time::timeout(timeout, connection::handshake(&mut io, &config))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        let headers = &handshake.connected.headers;
        let server_beat = headers
            .heart_beat()
            .ok()
            .flatten()
            .unwrap_or(HeartBeat::NONE);
        // `negotiate_heartbeat` takes the server's view; swap the roles for the client's.
        let heart_beat = negotiate_heartbeat(server_beat, config.heart_beat);
        let session = headers.get(name::SESSION).map(ByteString::from);
        let server = headers.get(name::SERVER).map(ByteString::from);

        let shared = Arc::new(Shared::new());
        let (writer_tx, writer_rx) = mpsc::channel(config.write_queue);
        let (read_half, write_half) = tokio::io::split(io);
        let read_timeout = heart_beat
            .expect_every
            .map(|every| every * config.heart_beat_tolerance);
        tokio::spawn(connection::reader(
            read_half,
            handshake.decoder,
            handshake.leftover,
            shared.clone(),
            read_timeout,
        ));
        tokio::spawn(connection::writer(
            write_half,
            writer_rx,
            shared.clone(),
            heart_beat.send_every,
        ));
        Ok(Client {
            handle: Arc::new(Handle {
                id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
                writer: writer_tx,
                shared,
                next_id: AtomicU64::new(0),
                version: handshake.version,
                session,
                server,
                heart_beat,
                receipt_timeout: config.receipt_timeout,
                subscription_capacity: config.subscription_capacity,
            }),
        })
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Version {
        self.handle.version
    }

    /// The `session` header of CONNECTED.
    pub fn session(&self) -> Option<&str> {
        self.handle.session.as_deref()
    }

    /// The `server` header of CONNECTED.
    pub fn server(&self) -> Option<&str> {
        self.handle.server.as_deref()
    }

    /// The negotiated heart-beats, from the client's side: `send_every` is how often this
    /// client beats, `expect_every` how often it hears from the server.
    pub fn heart_beat(&self) -> Negotiated {
        self.handle.heart_beat
    }

    /// Why the connection ended, or `None` while it is open.
    pub fn error(&self) -> Option<ClientError> {
        self.handle.shared.error()
    }

    /// `true` if both handles share one connection.
    pub fn same_connection(&self, other: &Client) -> bool {
        self.handle.id == other.handle.id
    }

    /// A number that identifies this connection among all of the process.
    pub fn connection_id(&self) -> u64 {
        self.handle.id
    }

    /// A future that completes when the connection ends, without keeping it open (the
    /// connection still closes when every handle is dropped).
    pub fn closed_owned(&self) -> impl std::future::Future<Output = ClientError> + Send + 'static {
        let mut rx = self.handle.shared.subscribe_closed();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(value) => value.clone().unwrap_or(ClientError::Closed),
                Err(_) => ClientError::Closed,
            }
        }
    }

    /// `true` once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.error().is_some()
    }

    /// Waits until the connection ends and tells why.
    pub async fn closed(&self) -> ClientError {
        let mut rx = self.handle.shared.subscribe_closed();
        let result = match rx.wait_for(Option::is_some).await {
            Ok(value) => value.clone().unwrap_or(ClientError::Closed),
            Err(_) => ClientError::Closed,
        };
        result
    }

    /// A fresh id for a subscription, receipt or transaction of this connection.
    fn next_id(&self, prefix: &str) -> ByteString {
        let n = self.handle.next_id.fetch_add(1, Ordering::Relaxed);
        ByteString::from(format!("{prefix}{n}"))
    }

    /// Encodes `frame` and queues it for the writer; waits only while the write queue is
    /// full.
    pub async fn send_frame(&self, frame: Frame) -> Result<(), ClientError> {
        if let Some(error) = self.error() {
            return Err(error);
        }
        let bytes = encode_to_bytes(&frame, self.handle.version);
        self.write(bytes).await
    }

    /// A sender that queues frames on this connection without keeping it open (for
    /// callbacks the connection itself holds, which must not wait).
    pub(crate) fn weak_sender(&self) -> WeakSender {
        WeakSender {
            writer: self.handle.writer.downgrade(),
            version: self.handle.version,
        }
    }

    async fn write(&self, bytes: Bytes) -> Result<(), ClientError> {
        self.handle
            .writer
            .send(Write::Frame(bytes))
            .await
            .map_err(|_| self.error().unwrap_or(ClientError::Closed))
    }

    /// Sends `frame` with a fresh `receipt` header and waits for the server's RECEIPT
    /// (at most the configured receipt timeout).
    pub async fn request(&self, mut frame: Frame) -> Result<(), ClientError> {
        let receipt = self.next_id("r-");
        frame.headers.set(name::RECEIPT, receipt.clone());
        let (tx, rx) = oneshot::channel();
        self.handle
            .shared
            .routes()
            .receipts
            .insert(receipt.clone(), tx);
        if let Err(error) = self.send_frame(frame).await {
            self.handle.shared.routes().receipts.remove(&receipt);
            return Err(error);
        }
        let timeout = self.handle.receipt_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.error().unwrap_or(ClientError::Closed)),
            Err(_) => {
                self.handle.shared.routes().receipts.remove(&receipt);
                Err(ClientError::Timeout(timeout))
            }
        }
    }

    /// Sends `body` to `destination` without waiting for the broker to confirm it.
    pub async fn send(
        &self,
        destination: impl Into<ByteString>,
        body: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        self.send_frame(send_frame(destination.into(), Headers::new(), body.into()))
            .await
    }

    /// Sends `body` to `destination` and waits for the broker's receipt.
    pub async fn send_with_receipt(
        &self,
        destination: impl Into<ByteString>,
        body: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        self.request(send_frame(destination.into(), Headers::new(), body.into()))
            .await
    }

    /// Sends `body` to `destination` with extra headers (`content-type`, `persistent`,
    /// user headers); `receipt: true` waits for the broker's receipt.
    pub async fn send_with_headers(
        &self,
        destination: impl Into<ByteString>,
        headers: Headers,
        body: impl Into<Bytes>,
        receipt: bool,
    ) -> Result<(), ClientError> {
        let frame = send_frame(destination.into(), headers, body.into());
        if receipt {
            self.request(frame).await
        } else {
            self.send_frame(frame).await
        }
    }

    /// Subscribes to `destination` and waits for the receipt, so the subscription is live
    /// when this returns.
    pub async fn subscribe(
        &self,
        destination: impl Into<ByteString>,
        ack: AckMode,
    ) -> Result<Subscription, ClientError> {
        let mut headers = Headers::new();
        headers.append(name::ACK, ack.as_str());
        self.subscribe_with(destination, headers).await
    }

    /// Subscribes with extra SUBSCRIBE headers (`ack`, `durable`, `prefetch-count`,
    /// selectors...). The `id` is chosen by the client.
    pub async fn subscribe_with(
        &self,
        destination: impl Into<ByteString>,
        headers: Headers,
    ) -> Result<Subscription, ClientError> {
        let destination = destination.into();
        let (tx, rx) = mpsc::channel(self.handle.subscription_capacity);
        let id = self
            .subscribe_sink(destination.clone(), headers, Sink::Queue(tx))
            .await?;
        Ok(Subscription::new(id, destination, rx, self.clone()))
    }

    /// Subscribes and calls `handler` with every MESSAGE frame, on the connection's reader
    /// task: the handler must not block (hand the frame on with a non-waiting send).
    /// Returns the subscription id. This is what the relay uses.
    pub async fn subscribe_handler<F>(
        &self,
        destination: impl Into<ByteString>,
        headers: Headers,
        handler: F,
    ) -> Result<ByteString, ClientError>
    where
        F: Fn(Frame) + Send + Sync + 'static,
    {
        self.subscribe_sink(
            destination.into(),
            headers,
            Sink::Handler(Arc::new(handler)),
        )
        .await
    }

    async fn subscribe_sink(
        &self,
        destination: ByteString,
        headers: Headers,
        sink: Sink,
    ) -> Result<ByteString, ClientError> {
        let id = self.next_id("sub-");
        let mut frame = Frame::new(Command::Subscribe)
            .header(name::ID, id.clone())
            .header(name::DESTINATION, destination);
        for (n, v) in headers.entries() {
            if !matches!(&**n, name::ID | name::DESTINATION | name::RECEIPT) {
                frame.headers.append(n.clone(), v.clone());
            }
        }
        if !frame.headers.contains(name::ACK) {
            frame.headers.append(name::ACK, AckMode::Auto.as_str());
        }
        self.handle
            .shared
            .routes()
            .subscriptions
            .insert(id.clone(), sink);
        if let Err(error) = self.request(frame).await {
            self.handle.shared.routes().subscriptions.remove(&id);
            return Err(error);
        }
        Ok(id)
    }

    /// Sends UNSUBSCRIBE for subscription `id` and waits for the receipt.
    pub async fn unsubscribe(&self, id: &str) -> Result<(), ClientError> {
        let result = self
            .request(Frame::new(Command::Unsubscribe).header(name::ID, id))
            .await;
        self.handle.shared.routes().subscriptions.remove(id);
        result
    }

    /// Acknowledges `message` (without waiting for a receipt).
    pub async fn ack(&self, message: &Delivery) -> Result<(), ClientError> {
        self.send_frame(self.ack_frame(Command::Ack, message, None)?)
            .await
    }

    /// Rejects `message` (without waiting for a receipt).
    pub async fn nack(&self, message: &Delivery) -> Result<(), ClientError> {
        self.send_frame(self.ack_frame(Command::Nack, message, None)?)
            .await
    }

    /// The ACK or NACK frame for `message` in this connection's version.
    fn ack_frame(
        &self,
        command: Command,
        message: &Delivery,
        transaction: Option<&str>,
    ) -> Result<Frame, ClientError> {
        let missing = |what: &str| ClientError::Protocol(format!("MESSAGE without {what}"));
        let mut frame = Frame::new(command);
        if self.handle.version >= Version::V1_2 {
            let id = message.ack_id().ok_or_else(|| missing("ack"))?;
            frame.headers.append(name::ID, id);
        } else {
            let id = message.message_id().ok_or_else(|| missing("message-id"))?;
            let sub = message
                .subscription()
                .ok_or_else(|| missing("subscription"))?;
            frame.headers.append(name::MESSAGE_ID, id);
            frame.headers.append(name::SUBSCRIPTION, sub);
        }
        if let Some(transaction) = transaction {
            frame.headers.append(name::TRANSACTION, transaction);
        }
        Ok(frame)
    }

    /// Begins a transaction (BEGIN, confirmed by a receipt).
    pub async fn begin(&self) -> Result<Transaction, ClientError> {
        let id = self.next_id("tx-");
        self.request(Frame::new(Command::Begin).header(name::TRANSACTION, id.clone()))
            .await?;
        Ok(Transaction::new(self.clone(), id))
    }

    /// Sends DISCONNECT, waits for its receipt (so everything sent before has been
    /// processed) and closes the connection.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        let result = self.request(Frame::new(Command::Disconnect)).await;
        let _ = self.handle.writer.send(Write::Shutdown).await;
        self.handle.shared.close(ClientError::Closed);
        result
    }
}

/// Source of [`Client::connection_id`]s.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(0);

fn send_frame(destination: ByteString, headers: Headers, body: Bytes) -> Frame {
    let mut frame = Frame::new(Command::Send).header(name::DESTINATION, destination);
    for (n, v) in headers.entries() {
        if &**n != name::DESTINATION {
            frame.headers.append(n.clone(), v.clone());
        }
    }
    frame.body(body)
}
