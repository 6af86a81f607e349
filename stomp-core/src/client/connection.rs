//! The connection's tasks: the CONNECT handshake, one reader and one writer.
//!
//! The reader owns the decoder and routes what it decodes: MESSAGE frames to their
//! subscription's sink, RECEIPTs to the operation waiting for them, ERROR to every waiter.
//! The writer owns the write half, writes encoded frames in order and sends heart-beats when
//! the line has been idle. Both watch one `closed` signal so that either can end the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch};

use super::{ClientConfig, ClientError, Delivery};
use crate::codec::{encode_to_bytes, Decoded, Decoder};
use crate::frame::{Command, Frame};
use crate::version::Version;

/// Where a subscription's MESSAGE frames go.
#[derive(Clone)]
pub(crate) enum Sink {
    /// A bounded queue read by a [`Subscription`](super::Subscription).
    Queue(mpsc::Sender<Delivery>),
    /// A function called on the reader task (must not block).
    Handler(Arc<dyn Fn(Frame) + Send + Sync>),
}

/// What the reader routes to and what operations wait on.
#[derive(Default)]
pub(crate) struct Routes {
    pub(crate) subscriptions: HashMap<ByteString, Sink>,
    pub(crate) receipts: HashMap<ByteString, oneshot::Sender<Result<(), ClientError>>>,
}

/// State shared by the handles and the tasks of one connection.
pub(crate) struct Shared {
    routes: Mutex<Routes>,
    closed: watch::Sender<Option<ClientError>>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Shared {
            routes: Mutex::new(Routes::default()),
            closed: watch::channel(None).0,
        }
    }

    pub(crate) fn routes(&self) -> MutexGuard<'_, Routes> {
        crate::sync::lock(&self.routes)
    }

    /// Records why the connection ended (the first reason wins).
    pub(crate) fn close(&self, error: ClientError) {
        self.closed.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some(error);
                true
            } else {
                false
            }
        });
    }

    /// Why the connection ended, if it has.
    pub(crate) fn error(&self) -> Option<ClientError> {
        self.closed.borrow().clone()
    }

    pub(crate) fn subscribe_closed(&self) -> watch::Receiver<Option<ClientError>> {
        self.closed.subscribe()
    }

    /// Fails every pending receipt and drops every subscription sink.
    fn tear_down(&self, error: &ClientError) {
        let routes = std::mem::take(&mut *self.routes());
        for (_, waiter) in routes.receipts {
            let _ = waiter.send(Err(error.clone()));
        }
    }
}

/// What the CONNECT handshake settled.
pub(crate) struct Handshake {
    pub(crate) connected: Frame,
    pub(crate) version: Version,
    pub(crate) decoder: Decoder,
    pub(crate) leftover: BytesMut,
}

/// Sends CONNECT and reads up to CONNECTED (or ERROR).
pub(crate) async fn handshake<T>(
    io: &mut T,
    config: &ClientConfig,
) -> Result<Handshake, ClientError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let connect = encode_to_bytes(&config.connect_frame(), Version::V1_2);
    io.write_all(&connect).await?;
    io.flush().await?;
    let mut decoder = Decoder::new(config.limits);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        match decoder.decode(&mut buf) {
            Err(e) => return Err(ClientError::Decode(e.to_string())),
            Ok(Some(Decoded::HeartBeat)) => continue,
            Ok(Some(Decoded::Frame(frame))) => {
                return match frame.command {
                    Command::Connected => {
                        let version = match frame.headers.version() {
                            None => Version::V1_0,
                            Some(v) => v.parse().map_err(|_| {
                                ClientError::Protocol(format!("unknown version {v:?} in CONNECTED"))
                            })?,
                        };
                        decoder.set_version(version);
                        Ok(Handshake {
                            connected: frame,
                            version,
                            decoder,
                            leftover: buf,
                        })
                    }
                    Command::Error => Err(server_error(frame)),
                    other => Err(ClientError::Protocol(format!(
                        "expected CONNECTED, got {other}"
                    ))),
                };
            }
            Ok(None) => {
                if io.read_buf(&mut buf).await? == 0 {
                    return Err(ClientError::Closed);
                }
            }
        }
    }
}

pub(crate) fn server_error(frame: Frame) -> ClientError {
    ClientError::Server {
        message: frame.headers.message().unwrap_or("").to_owned(),
        body: frame.body,
    }
}

/// Reads and routes frames until the connection ends.
pub(crate) async fn reader<T>(
    mut io: ReadHalf<T>,
    mut decoder: Decoder,
    mut buf: BytesMut,
    shared: Arc<Shared>,
    read_timeout: Option<Duration>,
) where
    T: AsyncRead + AsyncWrite,
{
    let mut closed = shared.subscribe_closed();
    let error = loop {
        // Route everything already buffered before reading more.
        match decoder.decode(&mut buf) {
            Err(e) => break ClientError::Decode(e.to_string()),
            Ok(Some(Decoded::HeartBeat)) => continue,
            Ok(Some(Decoded::Frame(frame))) => {
                if let Err(error) = route(&shared, frame).await {
                    break error;
                }
                continue;
            }
            Ok(None) => {}
        }
        let read = async {
            match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, io.read_buf(&mut buf)).await {
                    Ok(result) => result.map_err(ClientError::from),
                    Err(_) => Err(ClientError::HeartBeatTimeout(limit)),
                },
                None => io.read_buf(&mut buf).await.map_err(ClientError::from),
            }
        };
        tokio::select! {
            result = read => match result {
                Ok(0) => break ClientError::Closed,
                Ok(_) => {}
                Err(error) => break error,
            },
            () = closed_signal(&mut closed) => break ClientError::Closed,
        }
    };
    shared.close(error);
    let error = shared.error().unwrap_or(ClientError::Closed);
    shared.tear_down(&error);
}

/// Hands one frame from the server to whoever waits for it.
async fn route(shared: &Shared, frame: Frame) -> Result<(), ClientError> {
    match frame.command {
        Command::Message => {
            let Some(id) = frame.headers.subscription() else {
                return Ok(());
            };
            let sink = shared.routes().subscriptions.get(id).cloned();
            match sink {
                Some(Sink::Handler(handler)) => handler(frame),
                Some(Sink::Queue(tx)) => {
                    let id = ByteString::from(id);
                    // Wait for room (TCP then pushes back on the broker), unless the
                    // connection is being closed meanwhile.
                    let mut closed = shared.subscribe_closed();
                    tokio::select! {
                        biased;
                        () = closed_signal(&mut closed) => return Err(ClientError::Closed),
                        sent = tx.send(Delivery::new(frame)) => {
                            if sent.is_err() {
                                // The Subscription was dropped: discard its messages.
                                shared.routes().subscriptions.remove(&id);
                            }
                        }
                    }
                }
                None => {}
            }
            Ok(())
        }
        Command::Receipt => {
            if let Some(id) = frame.headers.receipt_id() {
                let waiter = shared.routes().receipts.remove(id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Ok(()));
                }
            }
            Ok(())
        }
        Command::Error => {
            let receipt = frame.headers.receipt_id().map(ByteString::from);
            let error = server_error(frame);
            if let Some(receipt) = receipt {
                let waiter = shared.routes().receipts.remove(&receipt);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Err(error.clone()));
                }
            }
            Err(error)
        }
        other => Err(ClientError::Protocol(format!(
            "unexpected {other} frame from the server"
        ))),
    }
}

/// What the writer task is told.
#[derive(Debug)]
pub(crate) enum Write {
    /// Encoded frames to write.
    Frame(Bytes),
    /// Flush, close the write side and stop.
    Shutdown,
}

/// Most bytes the writer gathers into one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Writes frames in order and heart-beats when idle, until shut down or closed.
pub(crate) async fn writer<T>(
    mut io: WriteHalf<T>,
    mut rx: mpsc::Receiver<Write>,
    shared: Arc<Shared>,
    beat_every: Option<Duration>,
) where
    T: AsyncRead + AsyncWrite,
{
    let mut closed = shared.subscribe_closed();
    let period = beat_every.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut wrote = false;
    let result: Result<(), ClientError> = loop {
        tokio::select! {
            item = rx.recv() => match item {
                Some(Write::Frame(bytes)) => {
                    // Gather what is queued behind it (up to a batch) into one write.
                    let mut batch = BytesMut::from(&bytes[..]);
                    let mut shutdown = false;
                    while batch.len() < WRITE_BATCH {
                        match rx.try_recv() {
                            Ok(Write::Frame(more)) => batch.extend_from_slice(&more),
                            Ok(Write::Shutdown) => {
                                shutdown = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = io.write_all(&batch).await {
                        break Err(e.into());
                    }
                    if let Err(e) = io.flush().await {
                        break Err(e.into());
                    }
                    if shutdown {
                        let _ = io.shutdown().await;
                        break Ok(());
                    }
                    wrote = true;
                }
                Some(Write::Shutdown) | None => {
                    let _ = io.shutdown().await;
                    break Ok(());
                }
            },
            _ = ticker.tick(), if beat_every.is_some() => {
                if !wrote {
                    if let Err(e) = io.write_all(b"\n").await {
                        break Err(e.into());
                    }
                    if let Err(e) = io.flush().await {
                        break Err(e.into());
                    }
                }
                wrote = false;
            }
            () = closed_signal(&mut closed) => {
                let _ = io.shutdown().await;
                break Ok(());
            }
        }
    };
    match result {
        Err(error) => shared.close(error),
        Ok(()) => shared.close(ClientError::Closed),
    }
}

/// Completes once the connection is marked closed (without holding the watch borrow).
async fn closed_signal(closed: &mut watch::Receiver<Option<ClientError>>) {
    let _ = closed.wait_for(Option::is_some).await;
}
