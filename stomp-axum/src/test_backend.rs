//! A stand-in engine for transport tests: answers CONNECT with CONNECTED (naming the
//! principal and subprotocol), echoes every other frame, ends the session on DISCONNECT.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use stomp_core::outbound::{self, CloseReason, OutboundConfig, OutboundReceiver, OutboundSender};
use stomp_core::identity::SessionId;
use stomp_core::Version;

use crate::backend::{Backend, BackendSession, BoxFuture, Connection, Ended};

#[derive(Debug, Default)]
pub(crate) struct EchoBackend {
    sessions: Mutex<Vec<OutboundSender>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct EchoSession {
    id: SessionId,
    connection: Connection,
    out: OutboundSender,
    buf: BytesMut,
}

impl Backend for EchoBackend {
    fn open(&self, connection: Connection) -> (Box<dyn BackendSession>, OutboundReceiver) {
        let (out, rx) = outbound::channel(OutboundConfig::default());
        self.sessions.lock().unwrap().push(out.clone());
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = EchoSession {
            id: SessionId::new(format!("echo-{n}")),
            connection,
            out,
            buf: BytesMut::new(),
        };
        (Box::new(session), rx)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        let sessions = std::mem::take(&mut *self.sessions.lock().unwrap());
        Box::pin(async move {
            for out in sessions {
                let _ = out.send(Bytes::from_static(
                    b"ERROR\nmessage:server shutting down\n\n\0",
                ));
                out.close(CloseReason::ServerShutdown);
            }
        })
    }
}

impl BackendSession for EchoSession {
    fn id(&self) -> SessionId {
        self.id.clone()
    }

    fn receive<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), Ended>> {
        Box::pin(async move {
            self.buf.extend_from_slice(bytes);
            while let Some(end) = frame_end(&self.buf) {
                let frame = self.buf.split_to(end + 1).freeze();
                let trimmed: &[u8] = {
                    let start = frame
                        .iter()
                        .position(|&b| b != b'\n' && b != b'\r')
                        .unwrap_or(frame.len());
                    &frame[start..]
                };
                if trimmed.starts_with(b"CONNECT\n") {
                    let user = self
                        .connection
                        .principal
                        .as_ref()
                        .map(|p| p.name().to_owned())
                        .unwrap_or_default();
                    let proto = self
                        .connection
                        .subprotocol
                        .map(Version::subprotocol)
                        .unwrap_or("none");
                    let remote = self
                        .connection
                        .remote_addr
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default();
                    let reply = format!(
                        "CONNECTED\nversion:1.2\nuser-name:{user}\nsubprotocol:{proto}\nremote:{remote}\n\n\0"
                    );
                    let _ = self.out.send(Bytes::from(reply));
                } else if trimmed.starts_with(b"DISCONNECT\n") {
                    let _ = self
                        .out
                        .send(Bytes::from_static(b"RECEIPT\nreceipt-id:bye\n\n\0"));
                    self.out.close(CloseReason::ClientDisconnect);
                    return Err(Ended);
                } else if trimmed.starts_with(b"BAD\n") {
                    let _ = self
                        .out
                        .send(Bytes::from_static(b"ERROR\nmessage:bad frame\n\n\0"));
                    self.out.close(CloseReason::Error("bad frame".into()));
                    return Err(Ended);
                } else {
                    let _ = self.out.send(Bytes::copy_from_slice(trimmed));
                }
            }
            Ok(())
        })
    }

    fn transport_closed(self: Box<Self>) -> BoxFuture<'static, ()> {
        self.out.close(CloseReason::TransportClosed);
        Box::pin(async {})
    }
}

/// Where the complete frame at the start of `buf` ends (its NUL), honouring
/// `content-length`.
fn frame_end(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(2).position(|w| w == b"\n\n")? + 2;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(len) => (buf.len() > head_end + len).then_some(head_end + len),
        None => buf[head_end..]
            .iter()
            .position(|&b| b == 0)
            .map(|p| head_end + p),
    }
}

impl crate::StompBuilder {
    pub(crate) fn build_echo(self) -> crate::Stomp {
        self.build_with_backend(Arc::new(EchoBackend::default()))
    }
}
