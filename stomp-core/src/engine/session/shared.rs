//! The part of a session the engine reaches from outside the session's own task: the
//! registry entry used by `close_session`, `shutdown`, snapshots and heart-beats.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytestring::ByteString;

use crate::frame::heartbeat::Negotiated;
use crate::identity::{SessionId, SessionInfo};
use crate::memory::{Reservation, SessionMemory};
use crate::outbound::{CloseReason, OutboundSender};
use crate::sync::lock;

/// Set once, when CONNECT is accepted.
#[derive(Debug)]
pub(crate) struct Connected {
    pub(crate) info: SessionInfo,
    pub(crate) since: SystemTime,
    pub(crate) heartbeat: Negotiated,
}

/// A close asked for from outside the session (close_session, shutdown, heart-beat).
#[derive(Debug, Clone)]
pub(crate) struct PendingClose {
    pub(crate) reason: CloseReason,
    /// The `message` of the ERROR frame to send first, if any.
    pub(crate) error: Option<String>,
}

#[derive(Debug, Default)]
struct Activity {
    /// The session's task is handling a frame.
    busy: bool,
    close: Option<PendingClose>,
}

/// A session's count of inbound frames moves to the engine's counters at this many, so
/// that 32 bits never wrap.
const FRAMES_IN_FLUSH: u32 = 1 << 31;

/// What happened when a close was requested.
#[derive(Debug)]
pub(crate) enum CloseRequest {
    /// The session is idle: the caller performs the close now.
    Now(PendingClose),
    /// The session is handling a frame; it performs the close when that frame is done.
    Deferred,
    /// A close was already requested or done.
    AlreadyClosing,
}

#[derive(Debug)]
pub(crate) struct SessionShared {
    pub(crate) id: SessionId,
    pub(crate) outbound: OutboundSender,
    /// The session's account in the engine's memory budget.
    pub(crate) memory: SessionMemory,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) connected: OnceLock<Connected>,
    /// When the session was opened (ms since the engine started).
    pub(crate) opened_ms: u64,
    /// Broker subscriptions: `id`, `destination`, and the memory they are charged.
    subscriptions: Mutex<Vec<(ByteString, ByteString, Reservation)>>,
    /// Coarse milliseconds since the engine started.
    pub(crate) last_read_ms: AtomicU64,
    pub(crate) last_write_ms: AtomicU64,
    /// `outbound.queued_frames()` when the heart-beat task last looked.
    pub(crate) seen_frames: AtomicU64,
    /// Client frames received (summed by [`Engine::stats`](crate::engine::Engine::stats),
    /// retired into the engine's counters when the session ends or the count reaches
    /// [`FRAMES_IN_FLUSH`]). 32 bits: it fits the struct's padding.
    frames_in: AtomicU32,
    finished: AtomicBool,
    activity: Mutex<Activity>,
}

impl SessionShared {
    pub(crate) fn new(
        id: SessionId,
        outbound: OutboundSender,
        memory: SessionMemory,
        remote_addr: Option<SocketAddr>,
        now_ms: u64,
    ) -> Self {
        SessionShared {
            id,
            outbound,
            memory,
            remote_addr,
            connected: OnceLock::new(),
            opened_ms: now_ms,
            subscriptions: Mutex::new(Vec::new()),
            last_read_ms: AtomicU64::new(now_ms),
            last_write_ms: AtomicU64::new(now_ms),
            seen_frames: AtomicU64::new(0),
            frames_in: AtomicU32::new(0),
            finished: AtomicBool::new(false),
            activity: Mutex::new(Activity::default()),
        }
    }

    /// Counts one client frame (written by the session's reader only, read by `stats()`);
    /// at [`FRAMES_IN_FLUSH`] the count starts over and is returned, for the engine's
    /// counters.
    pub(crate) fn count_frame_in(&self) -> Option<u64> {
        let n = self.frames_in.load(Ordering::Relaxed) + 1;
        if n == FRAMES_IN_FLUSH {
            self.frames_in.store(0, Ordering::Relaxed);
            return Some(u64::from(n));
        }
        self.frames_in.store(n, Ordering::Relaxed);
        None
    }

    pub(crate) fn frames_in(&self) -> u64 {
        u64::from(self.frames_in.load(Ordering::Relaxed))
    }

    pub(crate) fn touch_read(&self, now_ms: u64) {
        self.last_read_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Marks the session finished; `true` for the one caller that did it first.
    pub(crate) fn mark_finished(&self) -> bool {
        !self.finished.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    pub(crate) fn subscriptions(&self) -> Vec<(ByteString, ByteString)> {
        lock(&self.subscriptions)
            .iter()
            .map(|(id, destination, _)| (id.clone(), destination.clone()))
            .collect()
    }

    pub(crate) fn subscription_count(&self) -> usize {
        lock(&self.subscriptions).len()
    }

    pub(crate) fn has_subscription(&self, id: &str) -> bool {
        lock(&self.subscriptions).iter().any(|(s, _, _)| s == id)
    }

    pub(crate) fn add_subscription(
        &self,
        id: ByteString,
        destination: ByteString,
        held: Reservation,
    ) {
        lock(&self.subscriptions).push((id, destination, held));
    }

    /// Removes subscription `id`, releasing its memory.
    pub(crate) fn remove_subscription(&self, id: &str) -> bool {
        let mut subs = lock(&self.subscriptions);
        let before = subs.len();
        subs.retain(|(s, _, _)| s != id);
        subs.len() != before
    }

    /// Forgets every subscription (the session ended), releasing their memory.
    pub(crate) fn clear_subscriptions(&self) {
        let gone = std::mem::take(&mut *lock(&self.subscriptions));
        drop(gone);
    }

    /// Called by the session before it handles a frame: `Err` with the pending close if
    /// one was requested (the session must perform it and stop).
    pub(crate) fn begin_frame(&self) -> Result<(), Option<PendingClose>> {
        let mut activity = lock(&self.activity);
        if self.is_finished() {
            return Err(None);
        }
        if let Some(close) = activity.close.clone() {
            return Err(Some(close));
        }
        activity.busy = true;
        Ok(())
    }

    /// Called by the session after a frame: a close requested meanwhile, for it to perform.
    pub(crate) fn end_frame(&self) -> Option<PendingClose> {
        let mut activity = lock(&self.activity);
        activity.busy = false;
        activity.close.clone()
    }

    /// Asks for the session to be closed (see [`CloseRequest`]).
    pub(crate) fn request_close(&self, close: PendingClose) -> CloseRequest {
        let mut activity = lock(&self.activity);
        if activity.close.is_some() || self.is_finished() {
            return CloseRequest::AlreadyClosing;
        }
        activity.close = Some(close.clone());
        if activity.busy {
            CloseRequest::Deferred
        } else {
            CloseRequest::Now(close)
        }
    }

    /// The negotiated heart-beats, once connected.
    pub(crate) fn heartbeat(&self) -> Option<Negotiated> {
        self.connected.get().map(|c| c.heartbeat)
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Session;

    /// What every idle session holds for its whole life: the `Session` (inside the
    /// transport's connection future) and its registry entry. Pinned so that they do not
    /// grow back unnoticed (issue 18: per-session memory).
    #[test]
    fn per_session_structs_stay_small() {
        let session = std::mem::size_of::<Session>();
        let shared = std::mem::size_of::<SessionShared>();
        println!("Session: {session} bytes, SessionShared: {shared} bytes");
        assert!(session <= 456, "Session is {session} bytes");
        assert!(shared <= 376, "SessionShared is {shared} bytes");
    }

    /// An idle session keeps no input buffer: the storage the CONNECT was decoded from is
    /// let go once nothing is left over (it used to stay for the session's life).
    #[tokio::test]
    async fn an_idle_session_keeps_no_input_buffer() {
        let engine = crate::engine::Engine::builder().build();
        let (mut session, _outbound) = engine.open_session(crate::engine::TransportInfo {
            principal: None,
            remote_addr: None,
            subprotocol: None,
        });
        let connect = b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0";
        assert!(session.receive(connect).await.is_ok());
        assert_eq!(session.buffer.capacity(), 0, "input buffer kept while idle");
        // A frame split over two messages keeps its first part until the rest arrives.
        assert!(session.receive(b"SEND\ndestination:/queue/a").await.is_ok());
        assert!(session.buffer.capacity() > 0);
        assert!(session.receive(b"\n\nhi\0").await.is_ok());
        assert_eq!(session.buffer.capacity(), 0);
    }

    /// `receive_bytes` decodes from the chunk itself and keeps only an incomplete rest,
    /// which later chunks (in any split) complete through the buffer.
    #[tokio::test]
    async fn receive_bytes_keeps_only_an_incomplete_rest() {
        use bytes::Bytes;
        let engine = crate::engine::Engine::builder().build();
        let (mut session, mut outbound) = engine.open_session(crate::engine::TransportInfo {
            principal: None,
            remote_addr: None,
            subprotocol: None,
        });
        let chunk = |b: &'static [u8]| Bytes::from_static(b);
        let connect = chunk(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0\n");
        assert!(session.receive_bytes(connect).await.is_ok());
        assert_eq!(session.buffer.capacity(), 0, "input buffer kept while idle");
        let two = chunk(b"SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0SEND\ndestination:/to");
        assert!(session.receive_bytes(two).await.is_ok());
        assert_eq!(&session.buffer[..], b"SEND\ndestination:/to");
        assert!(session
            .receive_bytes(chunk(b"pic/a\nreceipt:r\n"))
            .await
            .is_ok());
        assert!(session.receive_bytes(chunk(b"\nhi\0\n")).await.is_ok());
        assert_eq!(session.buffer.capacity(), 0);
        let mut received = Vec::new();
        while let Some(item) = outbound.try_next() {
            received.push(format!("{item:?}"));
        }
        let all = received.join("|");
        assert!(all.contains("CONNECTED"), "{all}");
        assert!(all.contains("MESSAGE"), "{all}");
        assert!(all.contains("RECEIPT"), "{all}");
    }
}
