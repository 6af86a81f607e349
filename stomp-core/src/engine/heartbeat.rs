//! Heart-beats for every session of an engine from ONE task.
//!
//! The task wakes once per tick (see [`EngineBuilder::heartbeat_tick`]), whatever the
//! number of sessions, and reads a few atomics per session: when the client was last
//! heard from (set by the session on every read) and whether anything was queued to it
//! since the last tick (the outbound queue's frame counter). Idle sessions cost no
//! wake-up of their own.
//!
//! - Sending: a beat is queued once the session has been quiet for `send_every - tick`
//!   (a frame seen queued is dated to the previous tick, so beats are never late).
//! - Receiving: a session silent for longer than `expect_every × tolerance` is closed
//!   with [`CloseReason::HeartBeatTimeout`].
//!
//! The same pass notices sessions whose queue was closed behind the session's back (a
//! slow-consumer close by the broker, a writer gone) and finishes them, and closes
//! connections that did not send CONNECT within the connect timeout.
//!
//! [`EngineBuilder::heartbeat_tick`]: super::EngineBuilder::heartbeat_tick

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::MissedTickBehavior;

use crate::engine::session::shared::{millis, CloseRequest, PendingClose};
use crate::outbound::CloseReason;

use super::EngineInner;

impl EngineInner {
    /// Starts the engine's heart-beat task, once (it stops when the engine is dropped).
    pub(crate) fn ensure_scheduler(self: &Arc<Self>) {
        if self.scheduler_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let tick = self.config.heartbeat_tick;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                inner.heartbeat_pass();
                #[cfg(feature = "metrics")]
                if inner.metrics.due(std::time::Instant::now()) {
                    inner.record_metrics();
                }
            }
        });
    }

    /// One pass over every session.
    fn heartbeat_pass(self: &Arc<Self>) {
        let now = self.now_ms();
        let tick = millis(self.config.heartbeat_tick);
        let connect_timeout = millis(self.config.connect_timeout);
        for shared in self.live_sessions() {
            if shared.is_finished() {
                continue;
            }
            if shared.outbound.is_closed() {
                // Through `request_close`, so a session busy with a frame finishes it first.
                let reason = shared
                    .outbound
                    .close_reason()
                    .unwrap_or(CloseReason::TransportClosed);
                let close = PendingClose {
                    reason,
                    error: None,
                };
                if let CloseRequest::Now(close) = shared.request_close(close) {
                    self.spawn_close(shared, close);
                }
                continue;
            }
            let Some(hb) = shared.heartbeat() else {
                if now.saturating_sub(shared.opened_ms) > connect_timeout {
                    let close = PendingClose {
                        reason: CloseReason::Error("no CONNECT in time".into()),
                        error: Some("no CONNECT in time".into()),
                    };
                    if let CloseRequest::Now(close) = shared.request_close(close) {
                        self.spawn_close(shared, close);
                    }
                }
                continue;
            };
            let queued = shared.outbound.queued_frames();
            if shared.seen_frames.swap(queued, Ordering::Relaxed) != queued {
                shared
                    .last_write_ms
                    .store(now.saturating_sub(tick), Ordering::Relaxed);
            }
            if let Some(every) = hb.send_every {
                let idle = now.saturating_sub(shared.last_write_ms.load(Ordering::Relaxed));
                if idle >= millis(every).saturating_sub(tick) {
                    let _ = shared.outbound.send_heartbeat();
                    shared.last_write_ms.store(now, Ordering::Relaxed);
                }
            }
            if let Some(expect) = hb.expect_every {
                let silent = now.saturating_sub(shared.last_read_ms.load(Ordering::Relaxed));
                let limit = (millis(expect) as f64 * self.config.heartbeat_tolerance) as u64;
                if silent > limit {
                    let close = PendingClose {
                        reason: CloseReason::HeartBeatTimeout,
                        error: None,
                    };
                    if let CloseRequest::Now(close) = shared.request_close(close) {
                        self.spawn_close(shared, close);
                    }
                }
            }
        }
    }
}
