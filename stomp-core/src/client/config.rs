//! Client connection settings.

use std::time::Duration;

use bytestring::ByteString;

use crate::codec::Limits;
use crate::frame::heartbeat::HeartBeat;
use crate::frame::{name, Command, Frame, Headers};

/// How a [`Client`](super::Client) connects: credentials, virtual host, heart-beats,
/// timeouts and queue sizes.
///
/// ```
/// use std::time::Duration;
/// use stomp_core::client::ClientConfig;
///
/// let config = ClientConfig::new()
///     .login("guest", "guest")
///     .host("/")
///     .heart_beat(10_000, 10_000)
///     .receipt_timeout(Duration::from_secs(5));
/// assert_eq!(config.heart_beat_offer().outgoing, 10_000);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientConfig {
    pub(crate) login: Option<ByteString>,
    pub(crate) passcode: Option<ByteString>,
    pub(crate) host: Option<ByteString>,
    pub(crate) heart_beat: HeartBeat,
    pub(crate) heart_beat_tolerance: u32,
    pub(crate) extra_headers: Headers,
    pub(crate) connect_timeout: Duration,
    pub(crate) receipt_timeout: Duration,
    pub(crate) subscription_capacity: usize,
    pub(crate) write_queue: usize,
    pub(crate) limits: Limits,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            login: None,
            passcode: None,
            host: None,
            heart_beat: HeartBeat::new(10_000, 10_000),
            heart_beat_tolerance: 3,
            extra_headers: Headers::new(),
            connect_timeout: Duration::from_secs(10),
            receipt_timeout: Duration::from_secs(10),
            subscription_capacity: 1024,
            write_queue: 1024,
            limits: Limits::default(),
        }
    }
}

impl ClientConfig {
    /// Defaults: no credentials, no `host`, heart-beats `10000,10000`, tolerance 3,
    /// 10 s connect and receipt timeouts, 1024 queued messages per subscription and 1024
    /// frames queued for writing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `login` and `passcode` of CONNECT.
    pub fn login(mut self, login: impl Into<ByteString>, passcode: impl Into<ByteString>) -> Self {
        self.login = Some(login.into());
        self.passcode = Some(passcode.into());
        self
    }

    /// The `host` (virtual host) of CONNECT.
    pub fn host(mut self, host: impl Into<ByteString>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The heart-beat offer: send every `outgoing` ms, expect something every `incoming`
    /// ms (0 = never).
    pub fn heart_beat(mut self, outgoing: u32, incoming: u32) -> Self {
        self.heart_beat = HeartBeat::new(outgoing, incoming);
        self
    }

    /// The server may be silent for this many negotiated intervals before the connection
    /// counts as lost (default 3; at least 1).
    pub fn heart_beat_tolerance(mut self, factor: u32) -> Self {
        self.heart_beat_tolerance = factor.max(1);
        self
    }

    /// An extra header for CONNECT (e.g. RabbitMQ's `prefetch-count`).
    pub fn connect_header(
        mut self,
        name: impl Into<ByteString>,
        value: impl Into<ByteString>,
    ) -> Self {
        self.extra_headers.append(name, value);
        self
    }

    /// How long CONNECT may wait for CONNECTED.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an operation that asked for a receipt waits for it.
    pub fn receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// How many MESSAGE frames a [`Subscription`](super::Subscription) buffers before the
    /// reader stops reading from the server (TCP then pushes back on the broker).
    pub fn subscription_capacity(mut self, capacity: usize) -> Self {
        self.subscription_capacity = capacity.max(1);
        self
    }

    /// How many frames may wait for the writer before senders wait.
    pub fn write_queue(mut self, capacity: usize) -> Self {
        self.write_queue = capacity.max(1);
        self
    }

    /// Decoder limits for frames from the server.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The heart-beat offer sent with CONNECT.
    pub fn heart_beat_offer(&self) -> HeartBeat {
        self.heart_beat
    }

    /// The CONNECT frame this configuration sends.
    pub fn connect_frame(&self) -> Frame {
        let mut frame = Frame::new(Command::Connect)
            .header(name::ACCEPT_VERSION, "1.2,1.1")
            .header(name::HEART_BEAT, self.heart_beat.to_string());
        if let Some(host) = &self.host {
            frame = frame.header(name::HOST, host.clone());
        }
        if let Some(login) = &self.login {
            frame = frame.header(name::LOGIN, login.clone());
        }
        if let Some(passcode) = &self.passcode {
            frame = frame.header(name::PASSCODE, passcode.clone());
        }
        for (n, v) in self.extra_headers.entries() {
            frame = frame.header(n.clone(), v.clone());
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_frame_carries_the_configuration() {
        let frame = ClientConfig::new()
            .login("ann", "secret")
            .host("/vh")
            .heart_beat(1_000, 2_000)
            .connect_header("prefetch-count", "5")
            .connect_frame();
        let expected = [
            ("accept-version", "1.2,1.1"),
            ("heart-beat", "1000,2000"),
            ("host", "/vh"),
            ("login", "ann"),
            ("passcode", "secret"),
            ("prefetch-count", "5"),
        ];
        assert_eq!(frame.command, Command::Connect);
        assert_eq!(frame.headers.iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn anonymous_connect_has_no_credentials() {
        let frame = ClientConfig::new().connect_frame();
        assert!(!frame.headers.contains("login"));
        assert!(!frame.headers.contains("passcode"));
        assert!(!frame.headers.contains("host"));
    }
}
