//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! With the feature on, the engine reports to whatever recorder the application installs
//! (e.g. `metrics-exporter-prometheus`); with it off, none of this code is compiled. The
//! engine takes its metric handles when it is built, so **install the recorder before
//! building the engine** (and the application router); an engine built before sees no
//! recorder and reports nothing.
//!
//! Labels have bounded values: commands, close reasons, route templates and their kind,
//! never a destination or a session id. The names carry no per-engine label: with several
//! engines in one process, their gauges overwrite one another and their counters mix
//! (keep one engine per recorder, or give each process its own `instance` label when
//! scraping).
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `stomp_sessions` | gauge | | connected sessions |
//! | `stomp_subscriptions` | gauge | | broker subscriptions held by connected sessions |
//! | `stomp_connects_total` | counter | `outcome` (`accepted`, `refused`) | CONNECT frames handled |
//! | `stomp_disconnects_total` | counter | `reason` ([`close_reason_label`]) | connected sessions that ended |
//! | `stomp_frames_received_total` | counter | `command` | client frames |
//! | `stomp_frames_sent_total` | counter | `command` (`CONNECTED`, `MESSAGE`, `RECEIPT`, `ERROR`) | frames queued to clients |
//! | `stomp_bytes_received_total` | counter | | bytes fed to sessions by the transport |
//! | `stomp_bytes_sent_total` | counter | | bytes of frames queued to clients |
//! | `stomp_messages_published_total` | counter | | messages into the broker channel (SENDs, replies, template sends) |
//! | `stomp_messages_delivered_total` | counter | | MESSAGE frames queued to subscribers |
//! | `stomp_outbound_queued_frames` | gauge | | frames waiting in the outbound queues |
//! | `stomp_outbound_queued_bytes` | gauge | | bytes waiting in the outbound queues |
//! | `stomp_outbound_queued_bytes_max` | gauge | | bytes waiting in the fullest outbound queue |
//! | `stomp_memory_budget_used_bytes` | gauge | | bytes counted against the engine's memory budget (sessions and broker) |
//! | `stomp_memory_budget_sessions_bytes` | gauge | | of which sessions hold (transactions, subscriptions, outbound queues) |
//! | `stomp_memory_budget_total_bytes` | gauge | | the memory budget's total |
//! | `stomp_handler_calls_total` | counter | `route`, `kind` | application handler calls |
//! | `stomp_handler_errors_total` | counter | `route`, `kind` | calls that failed (error reply, panic, failed delivery) |
//! | `stomp_handler_duration_seconds` | histogram | `route`, `kind` | handler call time, reply delivery included |
//! | `stomp_broker_pending_acks` | gauge | | embedded broker: deliveries waiting for ACK/NACK |
//! | `stomp_broker_queued_messages` | gauge | | embedded broker: queue messages waiting for a consumer |
//! | `stomp_broker_destinations` | gauge | | embedded broker: destinations, patterns and queues indexed |
//! | `stomp_relay_link_up` | gauge | | relay: 1 while the system connection to the external broker is up |
//! | `stomp_relay_broker_connections` | gauge | | relay: open connections to the external broker |
//! | `stomp_backplane_link_up` | gauge | | backplane: 1 while the link is up |
//! | `stomp_backplane_reconnects_total` | counter | | Redis backplane: successful connections after the first |
//! | `stomp_backplane_connect_failures_total` | counter | | Redis backplane: failed connection attempts |
//! | `stomp_backplane_dropped_total` | counter | `reason` (`queue_full`, `disconnected`, `inbound_queue_full`) | Redis backplane: payloads dropped |
//! | `stomp_backplane_messages_total` | counter | `outcome` (`forwarded`, `not_forwarded`, `received`, `duplicate`, `invalid`) | backplane traffic |
//!
//! Per-delivery cost: one relaxed atomic add on the session's own queue counters (bytes);
//! the frame counts, gauges and broker figures are read from state the engine keeps anyway
//! and published by the engine's scheduler about once a second, or at once by
//! `Engine::record_metrics` (call it from a `/metrics` handler before rendering for
//! figures as of the scrape).

use crate::outbound::CloseReason;

/// The `reason` label of `stomp_disconnects_total` for a close reason.
pub fn close_reason_label(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::ClientDisconnect => "client_disconnect",
        CloseReason::TransportClosed => "transport_closed",
        CloseReason::HeartBeatTimeout => "heartbeat_timeout",
        CloseReason::Error(_) => "error",
        CloseReason::SlowConsumer => "slow_consumer",
        CloseReason::Closed(_) => "closed",
        CloseReason::ServerShutdown => "server_shutdown",
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::{EngineMetrics, RouteMetrics};

#[cfg(feature = "metrics")]
mod on {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

    use super::close_reason_label;
    use crate::frame::Command;
    use crate::outbound::CloseReason;

    const REASONS: [CloseReason; 7] = [
        CloseReason::ClientDisconnect,
        CloseReason::TransportClosed,
        CloseReason::HeartBeatTimeout,
        CloseReason::Error(String::new()),
        CloseReason::SlowConsumer,
        CloseReason::Closed(String::new()),
        CloseReason::ServerShutdown,
    ];

    fn reason_index(reason: &CloseReason) -> usize {
        match reason {
            CloseReason::ClientDisconnect => 0,
            CloseReason::TransportClosed => 1,
            CloseReason::HeartBeatTimeout => 2,
            CloseReason::Error(_) => 3,
            CloseReason::SlowConsumer => 4,
            CloseReason::Closed(_) => 5,
            CloseReason::ServerShutdown => 6,
        }
    }

    /// The server frames the session itself sends; every other queued frame is a MESSAGE.
    const SESSION_FRAMES: [Command; 3] = [Command::Connected, Command::Receipt, Command::Error];

    /// An engine's metric handles, taken from the recorder when the engine is built.
    pub(crate) struct EngineMetrics {
        sessions: Gauge,
        subscriptions: Gauge,
        connects_accepted: Counter,
        connects_refused: Counter,
        disconnects: [Counter; 7],
        frames_received: [Counter; Command::ALL.len()],
        bytes_received: Counter,
        /// `SESSION_FRAMES` then MESSAGE.
        frames_sent: [Counter; 4],
        session_frames: [AtomicU64; 3],
        bytes_sent: Counter,
        delivered: Counter,
        queued_frames: Gauge,
        queued_bytes: Gauge,
        queued_bytes_max: Gauge,
        memory_used: Gauge,
        memory_sessions: Gauge,
        memory_total: Gauge,
        /// Frames and bytes queued to sessions that are gone.
        retired_frames: AtomicU64,
        retired_bytes: AtomicU64,
        last_recorded: std::sync::Mutex<Option<Instant>>,
    }

    impl std::fmt::Debug for EngineMetrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("EngineMetrics").finish_non_exhaustive()
        }
    }

    /// What the collector read from the live sessions.
    #[derive(Debug, Default)]
    pub(crate) struct Live {
        pub(crate) sessions: usize,
        pub(crate) subscriptions: usize,
        pub(crate) frames: u64,
        pub(crate) bytes: u64,
        pub(crate) queued_frames: usize,
        pub(crate) queued_bytes: usize,
        pub(crate) queued_bytes_max: usize,
        pub(crate) memory_used: usize,
        pub(crate) memory_sessions: usize,
        pub(crate) memory_total: usize,
    }

    impl EngineMetrics {
        pub(crate) fn new() -> Self {
            EngineMetrics {
                sessions: gauge!("stomp_sessions"),
                subscriptions: gauge!("stomp_subscriptions"),
                connects_accepted: counter!("stomp_connects_total", "outcome" => "accepted"),
                connects_refused: counter!("stomp_connects_total", "outcome" => "refused"),
                disconnects: REASONS.map(
                    |r| counter!("stomp_disconnects_total", "reason" => close_reason_label(&r)),
                ),
                frames_received: Command::ALL
                    .map(|c| counter!("stomp_frames_received_total", "command" => c.as_str())),
                bytes_received: counter!("stomp_bytes_received_total"),
                frames_sent: [
                    SESSION_FRAMES[0],
                    SESSION_FRAMES[1],
                    SESSION_FRAMES[2],
                    Command::Message,
                ]
                .map(|c| counter!("stomp_frames_sent_total", "command" => c.as_str())),
                session_frames: Default::default(),
                bytes_sent: counter!("stomp_bytes_sent_total"),
                delivered: counter!("stomp_messages_delivered_total"),
                queued_frames: gauge!("stomp_outbound_queued_frames"),
                queued_bytes: gauge!("stomp_outbound_queued_bytes"),
                queued_bytes_max: gauge!("stomp_outbound_queued_bytes_max"),
                memory_used: gauge!("stomp_memory_budget_used_bytes"),
                memory_sessions: gauge!("stomp_memory_budget_sessions_bytes"),
                memory_total: gauge!("stomp_memory_budget_total_bytes"),
                retired_frames: AtomicU64::new(0),
                retired_bytes: AtomicU64::new(0),
                last_recorded: std::sync::Mutex::new(None),
            }
        }

        pub(crate) fn frame_received(&self, command: Command) {
            if let Some(counter) = self.frames_received.get(command as usize) {
                counter.increment(1);
            }
        }

        pub(crate) fn bytes_received(&self, n: usize) {
            self.bytes_received.increment(n as u64);
        }

        /// A frame the session itself queued (CONNECTED, RECEIPT, ERROR).
        pub(crate) fn session_frame(&self, command: Command) {
            if let Some(at) = SESSION_FRAMES.iter().position(|c| *c == command) {
                self.session_frames[at].fetch_add(1, Ordering::Relaxed);
            }
        }

        pub(crate) fn connect(&self, accepted: bool) {
            if accepted {
                self.connects_accepted.increment(1);
                self.sessions.increment(1.0);
            } else {
                self.connects_refused.increment(1);
            }
        }

        /// A connected session ended.
        pub(crate) fn disconnect(&self, reason: &CloseReason) {
            self.disconnects[reason_index(reason)].increment(1);
            self.sessions.decrement(1.0);
        }

        /// A session ended: keeps what it queued in the totals.
        pub(crate) fn retire(&self, frames: u64, bytes: u64) {
            self.retired_frames.fetch_add(frames, Ordering::Relaxed);
            self.retired_bytes.fetch_add(bytes, Ordering::Relaxed);
        }

        /// Whether a second has passed since the last publication (and marks now).
        pub(crate) fn due(&self, now: Instant) -> bool {
            let mut last = crate::sync::lock(&self.last_recorded);
            match *last {
                Some(at) if now.duration_since(at).as_millis() < 1000 => false,
                _ => {
                    *last = Some(now);
                    true
                }
            }
        }

        /// Publishes the gauges and derived counters.
        pub(crate) fn publish(&self, live: &Live) {
            self.sessions.set(live.sessions as f64);
            self.subscriptions.set(live.subscriptions as f64);
            self.queued_frames.set(live.queued_frames as f64);
            self.queued_bytes.set(live.queued_bytes as f64);
            self.queued_bytes_max.set(live.queued_bytes_max as f64);
            self.memory_used.set(live.memory_used as f64);
            self.memory_sessions.set(live.memory_sessions as f64);
            self.memory_total.set(live.memory_total as f64);
            let frames = self.retired_frames.load(Ordering::Relaxed) + live.frames;
            let mut session_frames = 0;
            for (at, count) in self.session_frames.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                session_frames += count;
                self.frames_sent[at].absolute(count);
            }
            let messages = frames.saturating_sub(session_frames);
            self.frames_sent[3].absolute(messages);
            self.delivered.absolute(messages);
            self.bytes_sent
                .absolute(self.retired_bytes.load(Ordering::Relaxed) + live.bytes);
        }
    }

    /// One route's handles, taken when the router is built.
    pub(crate) struct RouteMetrics {
        calls: Counter,
        errors: Counter,
        duration: Histogram,
    }

    impl RouteMetrics {
        pub(crate) fn new(route: &str, kind: &'static str) -> Self {
            let labels = [("route", route.to_owned()), ("kind", kind.to_owned())];
            RouteMetrics {
                calls: counter!("stomp_handler_calls_total", &labels),
                errors: counter!("stomp_handler_errors_total", &labels),
                duration: histogram!("stomp_handler_duration_seconds", &labels),
            }
        }

        /// One call that took `started.elapsed()`; `ok` whether it succeeded.
        pub(crate) fn call(&self, started: Instant, ok: bool) {
            self.calls.increment(1);
            if !ok {
                self.errors.increment(1);
            }
            self.duration.record(started.elapsed().as_secs_f64());
        }
    }

    impl std::fmt::Debug for RouteMetrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RouteMetrics").finish_non_exhaustive()
        }
    }

    /// A counter of messages published into the broker channel.
    pub(crate) fn published() -> Counter {
        counter!("stomp_messages_published_total")
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::{published, Live};
