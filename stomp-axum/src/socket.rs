//! One WebSocket connection: the reader feeding the session and the writer draining its
//! outbound queue, run concurrently in the connection's task.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use stomp_core::codec::encode_to_bytes;
use stomp_core::outbound::{CloseReason, Next, Outbound, OutboundReceiver};
use stomp_core::{Frame, Version};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::backend::BackendSession;
use crate::close;
use crate::config::TransportConfig;
use crate::stats::Tracker;

/// What the reader asks of the writer when it stops.
#[derive(Debug)]
enum Stop {
    /// The connection is gone: write nothing more.
    Gone,
    /// Send `frame` (if any), then close with `code` and `reason`.
    Close {
        frame: Option<Bytes>,
        code: u16,
        reason: String,
    },
}

/// Per-connection context.
#[derive(Debug, Clone)]
pub(crate) struct SocketContext {
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) tracker: Tracker,
}

/// Runs a connection until both its reader and writer are done, then tells the session
/// its transport is gone.
pub(crate) async fn run(
    socket: WebSocket,
    mut session: Box<dyn BackendSession>,
    outbound: OutboundReceiver,
    ctx: SocketContext,
) {
    let (sink, stream) = socket.split();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (writer_done_tx, writer_done_rx) = oneshot::channel::<()>();
    let reader = read_loop(stream, session.as_mut(), &ctx, stop_tx, writer_done_rx);
    let writer = async {
        write_loop(sink, outbound, stop_rx, &ctx).await;
        drop(writer_done_tx);
    };
    tokio::join!(reader, writer);
    session.transport_closed().await;
    tracing::debug!("connection closed");
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    session: &mut dyn BackendSession,
    ctx: &SocketContext,
    stop: oneshot::Sender<Stop>,
    mut writer_done: oneshot::Receiver<()>,
) {
    let first_deadline = Instant::now() + ctx.config.time_to_first_message;
    let mut got_first = false;
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut writer_done => return,
            () = tokio::time::sleep_until(first_deadline), if !got_first => {
                ctx.tracker.first_message_timeout();
                let limit = ctx.config.time_to_first_message;
                tracing::warn!(session = %session.id(), ?limit, "no message within the time to the first message");
                let _ = stop.send(Stop::Close {
                    frame: None,
                    code: close::POLICY_VIOLATION,
                    reason: format!("no STOMP frame within {}s", limit.as_secs()),
                });
                return;
            }
            next = stream.next() => next,
        };
        let data: Bytes = match next {
            Some(Ok(Message::Text(text))) => text.into(),
            Some(Ok(Message::Binary(data))) => data,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None => {
                let _ = stop.send(Stop::Gone);
                return;
            }
            Some(Err(error)) => {
                let _ = stop.send(read_error(error, session, ctx));
                return;
            }
        };
        got_first = true;
        if session.receive(&data).await.is_err() {
            // The session ended itself; the writer drains what it queued and closes.
            return;
        }
    }
}

/// What to do about a failed read: a message over the limit gets an ERROR frame and 1009.
fn read_error(error: axum::Error, session: &dyn BackendSession, ctx: &SocketContext) -> Stop {
    let too_large = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if !too_large {
        return Stop::Gone;
    }
    ctx.tracker.too_large();
    let limit = ctx.config.max_message_size;
    tracing::warn!(session = %session.id(), limit, "WebSocket message over the size limit");
    let reason = format!("message too large (limit {limit} bytes)");
    let error = Frame::error(reason.clone(), Bytes::new());
    Stop::Close {
        frame: Some(encode_to_bytes(&error, Version::V1_2)),
        code: close::MESSAGE_TOO_BIG,
        reason,
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// A text message when the frames are UTF-8 with no NUL before the last byte (no body
/// carries a NUL); a binary message otherwise, so binary bodies arrive intact.
pub(crate) fn to_message(item: Outbound) -> Message {
    match item {
        Outbound::HeartBeat => Message::Text(Utf8Bytes::from_static("\n")),
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

async fn write_loop(
    mut sink: Sink,
    mut outbound: OutboundReceiver,
    mut stop: oneshot::Receiver<Stop>,
    ctx: &SocketContext,
) {
    let mut reader_running = true;
    loop {
        let next = tokio::select! {
            biased;
            stop = &mut stop, if reader_running => match stop {
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
            Err(Stop::Gone) => return outbound.close(),
            Err(Stop::Close {
                frame,
                code,
                reason,
            }) => {
                outbound.close();
                if let Some(frame) = frame {
                    if send_batch(&mut sink, vec![to_message(Outbound::Frame(frame))], ctx)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                return send_close(&mut sink, code, &reason, ctx).await;
            }
            Ok(Next::Item(item)) => {
                let mut batch = Vec::with_capacity(4);
                batch.push(to_message(item));
                while batch.len() < ctx.config.max_write_batch.max(1) {
                    match outbound.try_next() {
                        Some(item) => batch.push(to_message(item)),
                        None => break,
                    }
                }
                if send_batch(&mut sink, batch, ctx).await.is_err() {
                    return outbound.close();
                }
            }
            Ok(Next::Close(reason)) => {
                outbound.close();
                if reason == CloseReason::TransportClosed && reader_running {
                    return;
                }
                let code = close::code_for(&reason);
                if code == close::NORMAL {
                    tracing::debug!(reason = reason.describe(), "closing session");
                } else {
                    tracing::info!(code, reason = reason.describe(), "closing session");
                }
                return send_close(&mut sink, code, reason.describe(), ctx).await;
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

async fn send_close(sink: &mut Sink, code: u16, reason: &str, ctx: &SocketContext) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(close::truncate_reason(reason)),
    };
    let _ = tokio::time::timeout(
        ctx.config.send_time_limit,
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
