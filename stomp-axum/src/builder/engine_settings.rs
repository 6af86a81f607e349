//! The engine settings of [`StompBuilder`] that have no transport counterpart: user
//! destinations, authorization, heart-beat tuning, per-session limits, timeouts and
//! concurrency. Each one sets the [`EngineBuilder`] setting of the same name.

use std::time::Duration;

use bytestring::ByteString;
use stomp_core::authz::DestinationPolicy;
#[cfg(doc)]
use stomp_core::engine::EngineBuilder;
use stomp_core::user::{UserDestinations, UserRegistry};
use stomp_core::Version;

use super::StompBuilder;

impl<S: Clone + Send + Sync + 'static, St> StompBuilder<S, St> {
    /// The user destinations (registry, broker prefixes, guard); their prefix is replaced
    /// by [`user_destination_prefix`](Self::user_destination_prefix) when that is set too.
    pub fn user_destinations(mut self, users: UserDestinations) -> Self {
        self.engine = self.engine.user_destinations(users);
        self
    }

    /// The registry of connected users the engine keeps, made by the application so its
    /// state can hold it (who is online, on which instance with a relay). Shorthand for
    /// [`user_destinations`](Self::user_destinations)`(UserDestinations::new(registry))`;
    /// without it the engine makes its own (`Stomp::engine().user_registry()`).
    pub fn user_registry(self, registry: UserRegistry) -> Self {
        self.user_destinations(UserDestinations::new(registry))
    }

    /// Who may SEND to and SUBSCRIBE to which destination (default: everything allowed;
    /// see `stomp_core::authz::DestinationRules`). Checked for every client SEND and
    /// SUBSCRIBE, application destinations included.
    pub fn destination_policy(mut self, policy: impl DestinationPolicy) -> Self {
        self.engine = self.engine.destination_policy(policy);
        self
    }

    /// How many negotiated client heart-beat intervals of silence close a session (default
    /// 3; values below 1 count as 1).
    pub fn heartbeat_tolerance(mut self, multiplier: f64) -> Self {
        self.engine = self.engine.heartbeat_tolerance(multiplier);
        self
    }

    /// How often the engine's heart-beat task checks its sessions (default: a quarter of
    /// the smallest non-zero value of the server's offer, between 10 ms and 1 s).
    pub fn heartbeat_tick(mut self, tick: Duration) -> Self {
        self.engine = self.engine.heartbeat_tick(tick);
        self
    }

    /// Most transactions one session may have open at once (default 16).
    pub fn max_transactions_per_session(mut self, max: usize) -> Self {
        self.engine = self.engine.max_transactions_per_session(max);
        self
    }

    /// Most frames one session may have buffered in its open transactions (default 1024).
    pub fn max_transaction_frames(mut self, max: usize) -> Self {
        self.engine = self.engine.max_transaction_frames(max);
        self
    }

    /// Longest `destination` header of a SEND or SUBSCRIBE, in bytes (default 1,024); a
    /// longer one ends the session with an ERROR naming this limit.
    pub fn max_destination_len(mut self, bytes: usize) -> Self {
        self.engine = self.engine.max_destination_len(bytes);
        self
    }

    /// Most segments (`/` or `.` separated) in the `destination` of a SEND or SUBSCRIBE
    /// (default 32); more end the session with an ERROR naming this limit.
    pub fn max_destination_segments(mut self, segments: usize) -> Self {
        self.engine = self.engine.max_destination_segments(segments);
        self
    }

    /// The CONNECTED `server` header (default `stomp-core/<version>`).
    pub fn server_name(mut self, name: impl Into<ByteString>) -> Self {
        self.engine = self.engine.server_name(name);
        self
    }

    /// The STOMP versions accepted (default 1.0, 1.1 and 1.2).
    pub fn versions(mut self, versions: &[Version]) -> Self {
        self.engine = self.engine.versions(versions);
        self
    }

    /// Capacity of the session event channel ([`Stomp::subscribe_events`](crate::Stomp::subscribe_events);
    /// default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.engine = self.engine.event_capacity(capacity);
        self
    }

    /// How long, at shutdown, sessions get to finish the frame they are handling (a
    /// handler running, a receipt pending) before they are released anyway (default
    /// 10 s). The wait for the connections to close that follows is
    /// [`shutdown_timeout`](Self::shutdown_timeout).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.engine = self.engine.drain_timeout(timeout);
        self
    }

    /// How long a new connection may take to send CONNECT before it is closed with an
    /// ERROR (default 30 s), so idle connections cannot pile up.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.engine = self.engine.connect_timeout(timeout);
        self
    }

    /// How many application dispatches of one session may run at once (default 1: one
    /// session's frames are handled strictly in order; sessions always run concurrently).
    /// See [`EngineBuilder::app_concurrency`] for ordering and receipts with `n > 1`.
    pub fn app_concurrency(mut self, n: usize) -> Self {
        self.engine = self.engine.app_concurrency(n);
        self
    }
}
