//! Engine statistics: plain atomics, read without locks (like Spring's
//! `WebSocketMessageBrokerStats`).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Live counters, updated by sessions and the heart-beat task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sessions: AtomicUsize,
    pub(crate) sessions_total: AtomicU64,
    /// Frames received by sessions that are gone (live ones count their own, so no line
    /// is shared by every session's inbound frames).
    pub(crate) frames_in_retired: AtomicU64,
    /// Frames queued to sessions that are gone (live ones are read from their queues).
    pub(crate) frames_out_retired: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    pub(crate) slow_consumer_closes: AtomicU64,
    pub(crate) heartbeat_timeouts: AtomicU64,
}

impl Counters {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(
        &self,
        live_frames_in: u64,
        live_frames_out: u64,
        live_subscriptions: usize,
    ) -> EngineStats {
        EngineStats {
            sessions: self.sessions.load(Ordering::Relaxed),
            sessions_total: self.sessions_total.load(Ordering::Relaxed),
            subscriptions: live_subscriptions,
            frames_in: self.frames_in_retired.load(Ordering::Relaxed) + live_frames_in,
            frames_out: self.frames_out_retired.load(Ordering::Relaxed) + live_frames_out,
            errors_sent: self.errors_sent.load(Ordering::Relaxed),
            slow_consumer_closes: self.slow_consumer_closes.load(Ordering::Relaxed),
            heartbeat_timeouts: self.heartbeat_timeouts.load(Ordering::Relaxed),
            memory_sessions: 0,
            memory_used: 0,
            memory_total: 0,
            registered_sessions: 0,
        }
    }
}

/// A snapshot of an engine's counters ([`Engine::stats`](super::Engine::stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EngineStats {
    /// Sessions connected now.
    pub sessions: usize,
    /// Sessions ever connected.
    pub sessions_total: u64,
    /// Broker subscriptions held now.
    pub subscriptions: usize,
    /// Client frames received.
    pub frames_in: u64,
    /// Frames queued to clients (MESSAGE, RECEIPT, CONNECTED, ERROR; heart-beats excluded).
    pub frames_out: u64,
    /// ERROR frames sent.
    pub errors_sent: u64,
    /// Sessions closed because they could not keep up.
    pub slow_consumer_closes: u64,
    /// Sessions closed because the client fell silent.
    pub heartbeat_timeouts: u64,
    /// Bytes of the memory budget held by sessions now (transactions, subscriptions,
    /// outbound queues); back to 0 once every session is gone.
    pub memory_sessions: usize,
    /// Bytes counted against the memory budget now: `memory_sessions` plus what the
    /// broker holds (queued and un-acked messages).
    pub memory_used: usize,
    /// The memory budget's total ([`EngineBuilder::memory_budget`](super::EngineBuilder::memory_budget)).
    pub memory_total: usize,
    /// Sessions in the engine's registry now: connected, still awaiting CONNECT, or
    /// closing. 0 once every connection is gone (a leak shows here).
    pub registered_sessions: usize,
}

impl fmt::Display for EngineStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sessions {} (total {}), subscriptions {}, frames in {}, frames out {}, \
             errors {}, slow-consumer closes {}, heart-beat timeouts {}, \
             memory {} of {} bytes (sessions {})",
            self.sessions,
            self.sessions_total,
            self.subscriptions,
            self.frames_in,
            self.frames_out,
            self.errors_sent,
            self.slow_consumer_closes,
            self.heartbeat_timeouts,
            self.memory_used,
            self.memory_total,
            self.memory_sessions
        )
    }
}
