//! One WebSocket connection: the reader feeding the session and the writer draining its
//! outbound queue, run concurrently in the connection's task.

use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use stomp_core::codec::encode_to_bytes;
use stomp_core::outbound::{CloseReason, Next, Outbound, OutboundReceiver};
use stomp_core::{Frame, Version};
use tokio::time::Instant;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use stomp_core::engine::Session;

use crate::close;
use crate::config::TransportConfig;
use crate::stats::{ConnectionGuard, Tracker};
use crate::upgrade::WebSocket;

/// What the reader asks of the writer when it stops.
#[derive(Debug)]
enum Stop {
    /// The connection is gone: write nothing more.
    Gone,
    /// Send `frame` (if any), then close with `code` and `reason` (boxed: rare, and the
    /// signal carrying it is part of every connection's future).
    Close(Box<CloseWith>),
}

/// The close a [`Stop::Close`] asks for.
#[derive(Debug)]
struct CloseWith {
    frame: Option<Bytes>,
    code: u16,
    reason: String,
}

/// A one-shot signal between the reader and the writer of one connection, both futures of
/// the same task: unlike `tokio::sync::oneshot`, it lives inside the connection's future
/// (no allocation per connection).
#[derive(Debug)]
struct Signal<T>(Mutex<SignalState<T>>);

#[derive(Debug)]
struct SignalState<T> {
    value: Slot<T>,
    waker: Option<Waker>,
}

#[derive(Debug)]
enum Slot<T> {
    Empty,
    Sent(T),
    /// The sender is gone without sending, or the value was taken.
    Closed,
}

impl<T> Signal<T> {
    fn new() -> Self {
        Signal(Mutex::new(SignalState {
            value: Slot::Empty,
            waker: None,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SignalState<T>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `value` (the first send or close wins) and wakes the receiver.
    fn send(&self, value: T) {
        self.settle(Slot::Sent(value));
    }

    /// Tells the receiver that nothing will be sent (unless something was already).
    fn close(&self) {
        self.settle(Slot::Closed);
    }

    fn settle(&self, to: Slot<T>) {
        let waker = {
            let mut state = self.state();
            if !matches!(state.value, Slot::Empty) {
                return;
            }
            state.value = to;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits for the value: `Err` if the sender closed without one (or it was taken).
    async fn recv(&self) -> Result<T, ()> {
        std::future::poll_fn(|cx| {
            let mut state = self.state();
            match std::mem::replace(&mut state.value, Slot::Closed) {
                Slot::Sent(value) => Poll::Ready(Ok(value)),
                Slot::Closed => Poll::Ready(Err(())),
                Slot::Empty => {
                    state.value = Slot::Empty;
                    match &mut state.waker {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        waker => *waker = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// The reader's end of the stop signal: dropping it unsent tells the writer the reader is
/// done without asking for a close (the session ended itself; the writer drains).
struct StopSender<'a>(&'a Signal<Stop>);

impl StopSender<'_> {
    fn send(self, stop: Stop) {
        self.0.send(stop);
    }
}

impl Drop for StopSender<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Per-connection context.
#[derive(Debug, Clone)]
pub(crate) struct SocketContext {
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) tracker: Tracker,
}

/// Runs a connection until both its reader and writer are done, then tells the session
/// its transport is gone; `_slot` (the connection's place under the connection limit) is
/// released once all of that is done.
///
/// Everything this future holds stays allocated for as long as the connection lives, so
/// it takes the socket already split (not the `WebSocket`, whose moved-out copy would keep
/// its place in the future) and boxes its large, short-lived states: handling a message
/// and the final clean-up.
pub(crate) async fn run(
    (sink, stream): (Sink, SplitStream<WebSocket>),
    mut session: Session,
    outbound: OutboundReceiver,
    ctx: SocketContext,
    _slot: ConnectionGuard,
) {
    let stop = Signal::new();
    let writer_done = Signal::new();
    let reader = read_loop(stream, &mut session, &ctx, StopSender(&stop), &writer_done);
    let writer = async {
        let closed_cleanly = write_loop(sink, outbound, &stop, &ctx).await;
        writer_done.send(closed_cleanly);
    };
    tokio::join!(reader, writer);
    Box::pin(session.transport_closed()).await;
    tracing::debug!("connection closed");
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    session: &mut Session,
    ctx: &SocketContext,
    stop: StopSender<'_>,
    writer_done: &Signal<bool>,
) {
    let first_deadline = Instant::now() + ctx.config.time_to_first_message;
    let mut got_first = false;
    // Whether the stream can still be read after the loop (not after a read error).
    let mut readable = true;
    loop {
        let next = tokio::select! {
            biased;
            clean = writer_done.recv() => {
                // The writer closed on its own (shutdown, heart-beat timeout, ...).
                if clean.unwrap_or(false) {
                    drain(&mut stream).await;
                }
                return;
            }
            () = tokio::time::sleep_until(first_deadline), if !got_first => {
                ctx.tracker.first_message_timeout();
                let limit = ctx.config.time_to_first_message;
                tracing::warn!(session = %session.id(), ?limit, "no message within the time to the first message");
                stop.send(Stop::Close(Box::new(CloseWith {
                    frame: None,
                    code: close::POLICY_VIOLATION,
                    reason: format!("no STOMP frame within {}s", limit.as_secs()),
                })));
                break;
            }
            next = stream.next() => next,
        };
        let data: Bytes = match next {
            Some(Ok(Message::Text(text))) => text.into(),
            Some(Ok(Message::Binary(data))) => data,
            // Pings are answered by tungstenite; raw frames are never read.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_))) | None => {
                stop.send(Stop::Gone);
                return;
            }
            Some(Err(error)) => {
                if !is_capacity_error(error) {
                    stop.send(Stop::Gone);
                    return;
                }
                stop.send(too_large(session, ctx));
                readable = false;
                break;
            }
        };
        got_first = true;
        if data.len() > ctx.config.max_message_size {
            stop.send(too_large(session, ctx));
            break;
        }
        // Boxed: handling a frame (CONNECT, SUBSCRIBE, SEND, app dispatch) is the largest
        // state of this task, ~3 KB; inline it would stay allocated for as long as the
        // connection lives, idle or not.
        if Box::pin(session.receive_bytes(data)).await.is_err() {
            // The session ended itself; the writer drains what it queued and closes.
            drop(stop);
            break;
        }
    }
    // The writer is closing the connection: keep reading (and discarding) until the
    // client answers the close, so that unread input does not turn the TCP close into a
    // reset that loses the close frame. Bounded in time and turns.
    // A writer that failed (send error, send time limit) sent no close: nothing to wait for.
    if !writer_done.recv().await.unwrap_or(false) {
        return;
    }
    if !readable {
        // The rest of an oversized message is still unread and cannot be skipped: hold the
        // connection briefly so the client reads the close frame before the reset.
        tokio::time::sleep(CLOSE_GRACE).await;
        return;
    }
    drain(&mut stream).await;
}

/// Reads and discards until the client's close frame (or the end), bounded in time and
/// turns.
async fn drain(stream: &mut SplitStream<WebSocket>) {
    let drain = async {
        for _ in 0..DRAIN_TURNS {
            match stream.next().await {
                None | Some(Ok(Message::Close(_))) => return,
                Some(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

/// How long a closing connection waits for the client's close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// Most messages (or read errors) discarded while waiting for it.
const DRAIN_TURNS: usize = 1024;

/// Whether a read failed on tungstenite's hard size limit.
fn is_capacity_error(error: tungstenite::Error) -> bool {
    matches!(error, tungstenite::Error::Capacity(_))
}

/// The answer to a message over the limit: an ERROR frame, then close 1009.
fn too_large(session: &Session, ctx: &SocketContext) -> Stop {
    ctx.tracker.too_large();
    let limit = ctx.config.max_message_size;
    tracing::warn!(session = %session.id(), limit, "WebSocket message over the size limit");
    let reason = format!("message too large (limit {limit} bytes)");
    let error = Frame::error(reason.clone(), Bytes::new());
    Stop::Close(Box::new(CloseWith {
        frame: Some(encode_to_bytes(&error, Version::V1_2)),
        code: close::MESSAGE_TOO_BIG,
        reason,
    }))
}

type Sink = SplitSink<WebSocket, Message>;

/// A text message when the frames are UTF-8 with no NUL before the last byte (no body
/// carries a NUL); a binary message otherwise, so binary bodies arrive intact.
pub(crate) fn to_message(item: Outbound) -> Message {
    match item {
        Outbound::HeartBeat => Message::Text(Utf8Bytes::from_static("\n")),
        // Checked once when the message was prepared; a `String` becomes the message's
        // bytes without a copy.
        Outbound::Text(text) => Message::Text(Utf8Bytes::from(String::from(text))),
        Outbound::Frame(bytes) => {
            let interior_nul = bytes
                .len()
                .checked_sub(1)
                .is_some_and(|last| memchr::memchr(0, &bytes[..last]).is_some());
            if interior_nul {
                return Message::Binary(bytes);
            }
            match Utf8Bytes::try_from(bytes.clone()) {
                Ok(text) => Message::Text(text),
                Err(_) => Message::Binary(bytes),
            }
        }
    }
}

/// Several queued frames as few WebSocket messages: consecutive text frames share one
/// text message up to `limit` bytes (STOMP allows several frames per message, and
/// stompjs splits them); a frame that must go binary, or is larger than the limit, goes
/// alone.
struct Coalesced {
    messages: Vec<Message>,
    /// Text frames gathered for the next message.
    text: String,
    /// The first gathered frame, kept uncopied while it is the only one.
    single: Option<Utf8Bytes>,
    limit: usize,
}

impl Coalesced {
    fn new(limit: usize) -> Self {
        Coalesced {
            messages: Vec::with_capacity(4),
            text: String::new(),
            single: None,
            limit,
        }
    }

    fn push(&mut self, item: Outbound) {
        let text = match to_message(item) {
            Message::Text(text) => text,
            binary => {
                self.end_text();
                self.messages.push(binary);
                return;
            }
        };
        let gathered = self
            .single
            .as_ref()
            .map_or(self.text.len(), |one| one.len());
        if gathered > 0 && gathered + text.len() > self.limit {
            self.end_text();
        }
        match self.single.take() {
            None if self.text.is_empty() => self.single = Some(text),
            None => self.text.push_str(text.as_str()),
            Some(first) => {
                self.text.reserve(self.limit.max(first.len() + text.len()));
                self.text.push_str(first.as_str());
                self.text.push_str(text.as_str());
            }
        }
    }

    /// Closes the text message being gathered.
    fn end_text(&mut self) {
        if let Some(one) = self.single.take() {
            self.messages.push(Message::Text(one));
        } else if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.messages.push(Message::Text(Utf8Bytes::from(text)));
        }
    }

    fn finish(mut self) -> Vec<Message> {
        self.end_text();
        self.messages
    }
}

async fn write_loop(
    mut sink: Sink,
    mut outbound: OutboundReceiver,
    stop: &Signal<Stop>,
    ctx: &SocketContext,
) -> bool {
    outbound.accept_text();
    let mut reader_running = true;
    loop {
        let next = tokio::select! {
            biased;
            stop = stop.recv(), if reader_running => match stop {
                Ok(stop) => Err(stop),
                Err(_) => {
                    // The reader stopped because the session ended: keep draining.
                    reader_running = false;
                    continue;
                }
            },
            next = outbound.next() => Ok(next),
        };
        match next {
            Err(Stop::Gone) => {
                outbound.close();
                return false;
            }
            Err(Stop::Close(close)) => {
                let CloseWith {
                    frame,
                    code,
                    reason,
                } = *close;
                outbound.close();
                if let Some(frame) = frame {
                    if Box::pin(send_batch(
                        &mut sink,
                        vec![to_message(Outbound::Frame(frame))],
                        ctx,
                    ))
                    .await
                    .is_err()
                    {
                        return false;
                    }
                }
                return Box::pin(send_close(&mut sink, code, &reason, ctx)).await;
            }
            Ok(Next::Item(item)) => {
                let mut batch = Coalesced::new(ctx.config.write_buffer_size);
                batch.push(item);
                for _ in 1..ctx.config.max_write_batch.max(1) {
                    match outbound.try_next() {
                        Some(item) => batch.push(item),
                        None => break,
                    }
                }
                // Boxed, as the reader's message handling: a write in progress is only
                // allocated while it lasts, not for the life of an idle connection.
                if Box::pin(send_batch(&mut sink, batch.finish(), ctx))
                    .await
                    .is_err()
                {
                    outbound.close();
                    return false;
                }
            }
            Ok(Next::Close(reason)) => {
                outbound.close();
                if reason == CloseReason::TransportClosed && reader_running {
                    return false;
                }
                let code = close::code_for(&reason);
                if code == close::NORMAL {
                    tracing::debug!(reason = reason.describe(), "closing session");
                } else {
                    tracing::info!(code, reason = reason.describe(), "closing session");
                }
                return Box::pin(send_close(&mut sink, code, reason.describe(), ctx)).await;
            }
        }
    }
}

/// Feeds every message, then flushes once, all within the send time limit.
async fn send_batch(sink: &mut Sink, batch: Vec<Message>, ctx: &SocketContext) -> Result<(), ()> {
    let write = async {
        for message in batch {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(ctx.config.send_time_limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "WebSocket write failed");
            Err(())
        }
        Err(_) => {
            ctx.tracker.send_timeout();
            tracing::warn!(
                limit = ?ctx.config.send_time_limit,
                "WebSocket send over the time limit: closing the session as not reliable"
            );
            Err(())
        }
    }
}

/// Sends the close frame; `true` if it went out.
async fn send_close(sink: &mut Sink, code: u16, reason: &str, ctx: &SocketContext) -> bool {
    let frame = CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from(close::truncate_reason(reason)),
    };
    matches!(
        tokio::time::timeout(
            ctx.config.send_time_limit,
            sink.send(Message::Close(Some(frame))),
        )
        .await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    /// The connection's future is allocated for as long as the connection lives, idle or
    /// not: its size is most of what an idle session costs beyond the WebSocket buffers.
    /// Handling a message and writing a batch are boxed, so it stays small (it was ~6 KB
    /// with them inline).
    #[tokio::test]
    async fn connection_future_stays_small() {
        use crate::upgrade::Upgrade;
        use axum::extract::Request;
        use axum::response::IntoResponse;
        use axum::routing::get;
        use stomp_core::engine::{Engine, TransportInfo};

        let engine = Engine::builder().build();
        let (size_tx, size_rx) = oneshot::channel::<usize>();
        let size_tx = Arc::new(std::sync::Mutex::new(Some(size_tx)));
        let route = get(move |request: Request| async move {
            let (mut parts, _body) = request.into_parts();
            let upgrade = match Upgrade::from_parts(&mut parts) {
                Ok(upgrade) => upgrade,
                Err(rejection) => return rejection.into_response(),
            };
            let config = Arc::new(TransportConfig::default());
            upgrade.on_upgrade(None, &config.clone(), move |ws| {
                let (session, outbound) = engine.open_session(TransportInfo {
                    principal: None,
                    remote_addr: None,
                    subprotocol: None,
                });
                let tracker = Tracker::default();
                let ctx = SocketContext {
                    config,
                    tracker: tracker.clone(),
                };
                let guard = tracker.admit(None).unwrap_or_else(|_| unreachable!());
                let connection = run(ws.split(), session, outbound, ctx, guard);
                if let Some(tx) = size_tx.lock().ok().and_then(|mut tx| tx.take()) {
                    let _ = tx.send(std::mem::size_of_val(&connection));
                }
                connection
            })
        });
        let server = stomp_e2e::spawn_server(axum::Router::new().route("/ws", route)).await;
        let mut client = stomp_e2e::WsClient::connect(&server.ws_url("/ws")).await;
        client.stomp_connect().await;
        let size = tokio::time::timeout(std::time::Duration::from_secs(5), size_rx)
            .await
            .ok()
            .and_then(Result::ok);
        let size = size.unwrap_or_else(|| panic!("the connection was not upgraded"));
        println!("connection future: {size} bytes");
        assert!(size <= 2560, "connection future of {size} bytes");
    }

    #[test]
    fn coalescing() {
        let frame = |b: &'static [u8]| Outbound::Frame(Bytes::from_static(b));
        let text = |t: &str| Message::Text(Utf8Bytes::from(t.to_owned()));
        let cases: Vec<(usize, Vec<Outbound>, Vec<Message>)> = vec![
            (100, vec![frame(b"A\n\n\0")], vec![text("A\n\n\0")]),
            (
                100,
                vec![frame(b"A\n\n\0"), Outbound::HeartBeat, frame(b"B\n\n\0")],
                vec![text("A\n\n\0\nB\n\n\0")],
            ),
            (
                8,
                vec![frame(b"A\n\n\0"), frame(b"B\n\n\0"), frame(b"C\n\n\0")],
                vec![text("A\n\n\0B\n\n\0"), text("C\n\n\0")],
            ),
            (
                100,
                vec![frame(b"A\n\n\0"), frame(b"B\n\n\xff\0"), frame(b"C\n\n\0")],
                vec![
                    text("A\n\n\0"),
                    Message::Binary(Bytes::from_static(b"B\n\n\xff\0")),
                    text("C\n\n\0"),
                ],
            ),
            (
                2,
                vec![frame(b"A\n\n\0"), frame(b"B\n\n\0")],
                vec![text("A\n\n\0"), text("B\n\n\0")],
            ),
        ];
        for (limit, items, expected) in cases {
            let mut batch = Coalesced::new(limit);
            for item in items {
                batch.push(item);
            }
            assert_eq!(batch.finish(), expected, "limit {limit}");
        }
    }

    #[test]
    fn text_or_binary() {
        let cases: &[(&[u8], bool)] = &[
            (b"MESSAGE\n\nhello\0", true),
            (b"MESSAGE\ncontent-length:3\n\na\0b\0", false),
            (b"MESSAGE\n\n\xff\xfe\0", false),
            (b"A\n\n\0B\n\n\0", false),
            (b"", true),
        ];
        for (bytes, text) in cases {
            let message = to_message(Outbound::Frame(Bytes::copy_from_slice(bytes)));
            assert_eq!(matches!(message, Message::Text(_)), *text, "{bytes:?}");
        }
        assert_eq!(
            to_message(Outbound::HeartBeat),
            Message::Text(Utf8Bytes::from_static("\n"))
        );
        assert_eq!(
            to_message(Outbound::Text("MESSAGE\n\nhello\0".into())),
            Message::Text(Utf8Bytes::from_static("MESSAGE\n\nhello\0"))
        );
    }
}
