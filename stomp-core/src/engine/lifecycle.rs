//! Ending sessions: every path (DISCONNECT, ERROR, transport gone, heart-beat timeout,
//! slow consumer, `close_session`, `shutdown`) ends in [`EngineInner::finish`], which runs
//! once per session.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::codec::encode_to_bytes;
use crate::engine::session::shared::{PendingClose, SessionShared};
use crate::events::SessionEvent;
use crate::frame::Frame;
use crate::outbound::CloseReason;
use crate::version::Version;

use super::stats::Counters;
use super::EngineInner;

impl EngineInner {
    /// Encodes and queues a frame for the session (in its negotiated version).
    pub(crate) fn send_frame(&self, shared: &SessionShared, frame: &Frame) -> bool {
        let version = shared
            .connected
            .get()
            .map_or(Version::V1_2, |c| c.info.version);
        if frame.command == crate::frame::Command::Error {
            Counters::inc(&self.counters.errors_sent);
        }
        let sent = shared
            .outbound
            .send(encode_to_bytes(frame, version))
            .is_ok();
        #[cfg(feature = "metrics")]
        if sent {
            self.metrics.session_frame(frame.command);
        }
        sent
    }

    /// Performs a close requested from outside the session: the ERROR frame if any, the
    /// order to close, then [`finish`](Self::finish).
    pub(crate) async fn close_now(
        self: &Arc<Self>,
        shared: &Arc<SessionShared>,
        close: PendingClose,
    ) {
        if let Some(message) = &close.error {
            self.send_frame(shared, &Frame::error(message.clone(), ""));
        }
        shared.outbound.close(close.reason.clone());
        self.finish(shared, close.reason).await;
    }

    /// [`close_now`](Self::close_now) on a task of its own (from synchronous callers).
    pub(crate) fn spawn_close(self: &Arc<Self>, shared: Arc<SessionShared>, close: PendingClose) {
        let inner = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { inner.close_now(&shared, close).await });
            }
            Err(_) => {
                // No runtime: release what can be released synchronously.
                shared.outbound.close(close.reason);
                inner.forget(&shared);
            }
        }
    }

    /// [`finish`](Self::finish) on a task of its own.
    pub(crate) fn spawn_finish(self: &Arc<Self>, shared: Arc<SessionShared>, reason: CloseReason) {
        let inner = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { inner.finish(&shared, reason).await });
            }
            Err(_) => {
                shared.outbound.close(reason);
                inner.forget(&shared);
            }
        }
    }

    /// Removes the session from the registry.
    fn forget(&self, shared: &SessionShared) {
        let empty = {
            let mut registry = self.registry();
            if registry
                .get(&shared.id)
                .is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), shared))
            {
                registry.remove(&shared.id);
            }
            registry.is_empty()
        };
        if empty {
            self.registry_empty.notify_waiters();
        }
    }

    /// Ends the session, once: closes its queue, removes it from the registry, releases
    /// its broker state and publishes `Disconnected` (for connected sessions). The reason
    /// reported is the first one the session's queue was closed with.
    pub(crate) async fn finish(self: &Arc<Self>, shared: &Arc<SessionShared>, reason: CloseReason) {
        if !shared.mark_finished() {
            return;
        }
        shared.outbound.close(reason.clone());
        let reason = shared.outbound.close_reason().unwrap_or(reason);
        self.counters
            .frames_out_retired
            .fetch_add(shared.outbound.queued_frames(), Ordering::Relaxed);
        self.counters
            .frames_in_retired
            .fetch_add(shared.frames_in(), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics.retire(
            shared.outbound.queued_frames(),
            shared.outbound.sent_bytes(),
        );
        let connected = shared.connected.get();
        if connected.is_some() {
            self.channel.session_closed(&shared.id).await;
            shared.clear_subscriptions();
            self.counters.sessions.fetch_sub(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.metrics.disconnect(&reason);
        }
        match reason {
            CloseReason::SlowConsumer => Counters::inc(&self.counters.slow_consumer_closes),
            CloseReason::HeartBeatTimeout => Counters::inc(&self.counters.heartbeat_timeouts),
            _ => {}
        }
        tracing::debug!(session = %shared.id, reason = reason.describe(), "session closed");
        // Registry last, so `shutdown` completes only once broker state is released.
        self.forget(shared);
        if connected.is_some() {
            let _ = self.events.send(SessionEvent::Disconnected {
                session: shared.id.clone(),
                reason,
            });
        }
    }
}
