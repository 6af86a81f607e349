//! Transport settings of a STOMP WebSocket endpoint.

use std::time::Duration;

use crate::origin::{AllowedHosts, AllowedOrigins};

/// Transport limits and WebSocket settings of an endpoint. Defaults follow Spring's
/// (64 KiB messages, 10 s send time limit, 60 s to the first message) and keep an idle
/// session small (4 KiB reads through a per-thread buffer and a 4 KiB write buffer instead
/// of tungstenite's 128 KiB each).
///
/// The STOMP frame limits (`codec::Limits`) and the outbound queue (`OutboundConfig`) are
/// engine settings, separate from these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Largest WebSocket message (and WebSocket frame) accepted from a client. A larger one
    /// gets an ERROR frame and close code 1009. Default 64 KiB.
    pub max_message_size: usize,
    /// Most bytes asked of the socket per read. The buffer is the worker thread's, not the
    /// connection's: an idle connection holds none of it. Default 4 KiB.
    pub read_buffer_size: usize,
    /// Bytes the writer gathers before writing to the socket (it always flushes after a
    /// batch). Default 4 KiB.
    pub write_buffer_size: usize,
    /// Longest a write to the socket may take; past it the session is closed as
    /// unreliable (close code 4500). Default 10 s.
    pub send_time_limit: Duration,
    /// Longest wait for the first WebSocket message after the upgrade; past it the
    /// connection is closed with code 1008. Default 60 s.
    pub time_to_first_message: Duration,
    /// Most WebSocket connections open at once; upgrades past it are refused with HTTP 503.
    /// Default: no limit.
    pub max_connections: Option<usize>,
    /// Most frames the writer hands to the socket before one flush. Default 64.
    pub max_write_batch: usize,
    /// Which browser origins may connect. Default: same origin.
    pub allowed_origins: AllowedOrigins,
    /// The `Host` names a same-origin request may use (DNS-rebinding defence). Default:
    /// `localhost`, `*.localhost` and IP addresses.
    pub allowed_hosts: AllowedHosts,
    /// How long [`Stomp::shutdown`](crate::Stomp::shutdown) waits for the WebSocket
    /// connections to close after it ended their sessions. Default 10 s. (The sessions'
    /// own wind-down is [`StompBuilder::drain_timeout`](crate::StompBuilder::drain_timeout).)
    pub shutdown_timeout: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_message_size: 64 * 1024,
            read_buffer_size: 4 * 1024,
            write_buffer_size: 4 * 1024,
            send_time_limit: Duration::from_secs(10),
            time_to_first_message: Duration::from_secs(60),
            max_connections: None,
            max_write_batch: 64,
            allowed_origins: AllowedOrigins::SameOrigin,
            allowed_hosts: AllowedHosts::Local,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}
