//! Relay settings.

use std::time::Duration;

use bytestring::ByteString;

use crate::client::ClientConfig;
#[cfg(feature = "tls")]
use crate::client::TlsConfig;
use crate::frame::heartbeat::HeartBeat;
use crate::frame::Headers;

use super::headers::HeaderPolicy;

/// How client sessions share broker connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionMode {
    /// Each client session gets a broker connection of its own, opened when the session
    /// connects, with the client's credentials (or [`RelayConfig::client_login`]). Spring's
    /// model: broker-side permissions per user and full isolation, at one broker connection
    /// (and its memory and heart-beats) per browser.
    PerClient,
    /// Client sessions share a pool of `connections` broker connections (at least 1) for
    /// their `auto` topic subscriptions: subscription ids and ack ids are mapped both ways.
    /// Scales to many browsers per broker connection. Subscriptions that acknowledge, or
    /// could make the broker end the connection (queues, exchanges, broker-specific
    /// headers), get a connection of the session's own.
    Multiplexed {
        /// How many broker connections the sessions are spread over.
        connections: usize,
    },
}

impl Default for ConnectionMode {
    fn default() -> Self {
        ConnectionMode::Multiplexed { connections: 2 }
    }
}

/// Where the relay connects and how: broker hosts (tried in turn), virtual host,
/// credentials and heart-beats of both legs, relayed prefixes, connection mode, backoff.
///
/// ```
/// use std::time::Duration;
/// use stomp_core::relay::{ConnectionMode, RelayConfig};
///
/// let config = RelayConfig::new(["rabbit-1:61613", "rabbit-2:61613"])
///     .virtual_host("/")
///     .system_login("guest", "guest")
///     .client_login("guest", "guest")
///     .mode(ConnectionMode::PerClient)
///     .backoff(Duration::from_millis(100), Duration::from_secs(5));
/// assert!(config.relays("/topic/chat"));
/// assert!(!config.relays("/app/chat"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RelayConfig {
    pub(crate) hosts: Vec<String>,
    pub(crate) virtual_host: Option<ByteString>,
    pub(crate) system_login: Option<(ByteString, ByteString)>,
    pub(crate) client_login: Option<(ByteString, ByteString)>,
    pub(crate) system_heart_beat: HeartBeat,
    pub(crate) client_heart_beat: HeartBeat,
    pub(crate) prefixes: Vec<ByteString>,
    pub(crate) mode: ConnectionMode,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) receipt_timeout: Duration,
    pub(crate) publish_receipts: bool,
    pub(crate) instance_id: String,
    pub(crate) user_registry_topic: ByteString,
    pub(crate) user_registry_interval: Duration,
    pub(crate) header_policy: HeaderPolicy,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsConfig>,
}

impl RelayConfig {
    /// Destination prefixes relayed by default (RabbitMQ's STOMP destinations).
    ///
    /// RabbitMQ's `/temp-queue/` is not among them: its replies come back on the connection
    /// that sent the request, which for the relay is the shared system connection. For
    /// ActiveMQ / Artemis use `["/topic", "/queue"]`.
    pub const DEFAULT_PREFIXES: [&'static str; 4] = ["/topic", "/queue", "/exchange", "/amq/queue"];

    /// A relay to the broker at `hosts` (`host:port`, tried in order on failover), with
    /// defaults: no virtual host, no credentials, heart-beats `10000,10000` on both legs,
    /// [`DEFAULT_PREFIXES`](Self::DEFAULT_PREFIXES), multiplexed over 2 connections,
    /// reconnect backoff from 100 ms, jittered, up to 5 s, 5 s connect and receipt timeouts, no
    /// publish receipts, the default [`HeaderPolicy`].
    pub fn new<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RelayConfig {
            hosts: hosts.into_iter().map(Into::into).collect(),
            virtual_host: None,
            system_login: None,
            client_login: None,
            system_heart_beat: HeartBeat::new(10_000, 10_000),
            client_heart_beat: HeartBeat::new(10_000, 10_000),
            prefixes: Self::DEFAULT_PREFIXES
                .into_iter()
                .map(ByteString::from_static)
                .collect(),
            mode: ConnectionMode::default(),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            receipt_timeout: Duration::from_secs(5),
            publish_receipts: false,
            instance_id: random_instance_id(),
            user_registry_topic: ByteString::from_static("/topic/stomp-user-registry"),
            user_registry_interval: Duration::from_secs(20),
            header_policy: HeaderPolicy::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// This application instance's name in the shared user registry (random by default).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }

    /// The broker topic on which instances share their users (default
    /// `/topic/stomp-user-registry`; it must be under a relayed prefix).
    pub fn user_registry_topic(mut self, topic: impl Into<ByteString>) -> Self {
        self.user_registry_topic = topic.into();
        self
    }

    /// How often each instance announces it is alive with its registry version (default
    /// 20 s): a version gap makes the others ask for its snapshot, and an instance not heard
    /// from for three intervals is forgotten.
    pub fn user_registry_interval(mut self, interval: Duration) -> Self {
        self.user_registry_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The `host` header (virtual host) of every broker CONNECT.
    pub fn virtual_host(mut self, host: impl Into<ByteString>) -> Self {
        self.virtual_host = Some(host.into());
        self
    }

    /// Credentials of the system connection (handler replies and template sends) and of
    /// the multiplexed connections.
    pub fn system_login(
        mut self,
        login: impl Into<ByteString>,
        passcode: impl Into<ByteString>,
    ) -> Self {
        self.system_login = Some((login.into(), passcode.into()));
        self
    }

    /// Credentials of per-client connections, replacing what the client sent in CONNECT.
    /// Unset, the client's `login` / `passcode` are forwarded.
    pub fn client_login(
        mut self,
        login: impl Into<ByteString>,
        passcode: impl Into<ByteString>,
    ) -> Self {
        self.client_login = Some((login.into(), passcode.into()));
        self
    }

    /// Heart-beats of the system (and multiplexed) connections, in ms.
    pub fn system_heart_beat(mut self, outgoing: u32, incoming: u32) -> Self {
        self.system_heart_beat = HeartBeat::new(outgoing, incoming);
        self
    }

    /// Heart-beats of per-client broker connections, in ms (independent of what the
    /// browser negotiated with us).
    pub fn client_heart_beat(mut self, outgoing: u32, incoming: u32) -> Self {
        self.client_heart_beat = HeartBeat::new(outgoing, incoming);
        self
    }

    /// The destination prefixes to relay (replacing the defaults).
    pub fn prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<ByteString>,
    {
        self.prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// The connection mode.
    pub fn mode(mut self, mode: ConnectionMode) -> Self {
        self.mode = mode;
        self
    }

    /// Connects to the broker over TLS (feature `tls`; RabbitMQ's STOMP TLS port is 61614):
    /// every broker connection (system, pooled, per-client) checks the broker's certificate
    /// against `tls`, and against [`TlsConfig::server_name`] or else each host's name.
    ///
    /// ```
    /// use stomp_core::client::TlsConfig;
    /// use stomp_core::relay::RelayConfig;
    ///
    /// # fn demo(private_ca_pem: &[u8]) -> Result<(), stomp_core::client::TlsError> {
    /// let config = RelayConfig::new(["10.0.0.7:61614"])
    ///     .system_login("relay", "secret")
    ///     .tls(TlsConfig::with_root_pem(private_ca_pem)?.server_name("rabbit.internal")?);
    /// # let _ = config;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Reconnect backoff: the first delay is between `initial` and twice that, and the
    /// delays grow exponentially with random jitter (so that instances cut off together do
    /// not reconnect together) up to at most `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// How long a broker connection may take to be CONNECTED.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long SUBSCRIBE / UNSUBSCRIBE (and receipted publishes) wait for the broker.
    pub fn receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// Whether `publish` waits for the broker's RECEIPT (so a completed publish is known to
    /// be taken by the broker, e.g. persisted with `persistent:true`), at one round trip per
    /// message. Off by default.
    pub fn publish_receipts(mut self, on: bool) -> Self {
        self.publish_receipts = on;
        self
    }

    /// Which client headers are forwarded to the broker on SUBSCRIBE, SEND, ACK and NACK
    /// (default [`HeaderPolicy::default`]: no client can name or declare broker queues).
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.header_policy = policy;
        self
    }

    /// The header policy.
    pub fn headers(&self) -> &HeaderPolicy {
        &self.header_policy
    }

    /// Whether `destination` is under a relayed prefix (at a `/` or `.` boundary, or
    /// exactly the prefix).
    pub fn relays(&self, destination: &str) -> bool {
        self.prefixes.iter().any(|prefix| {
            destination.strip_prefix(&**prefix).is_some_and(|rest| {
                rest.is_empty()
                    || rest.starts_with('/')
                    || rest.starts_with('.')
                    || prefix.ends_with('/')
            })
        })
    }

    /// The configured broker hosts.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The connection mode.
    pub fn connection_mode(&self) -> ConnectionMode {
        self.mode
    }

    pub(crate) fn system_client(&self) -> ClientConfig {
        self.client_config(self.system_login.clone(), self.system_heart_beat)
    }

    /// The configuration of a per-client connection for a session whose CONNECT carried
    /// `connect`.
    pub(crate) fn per_client(&self, connect: &Headers) -> ClientConfig {
        let login = self.client_login.clone().or_else(|| {
            let login = connect.get(crate::frame::name::LOGIN)?;
            let passcode = connect.get(crate::frame::name::PASSCODE).unwrap_or("");
            Some((login.into(), passcode.into()))
        });
        self.client_config(login, self.client_heart_beat)
    }

    fn client_config(
        &self,
        login: Option<(ByteString, ByteString)>,
        beat: HeartBeat,
    ) -> ClientConfig {
        let mut config = ClientConfig::new()
            .heart_beat(beat.outgoing, beat.incoming)
            .connect_timeout(self.connect_timeout)
            .receipt_timeout(self.receipt_timeout);
        if let Some(host) = &self.virtual_host {
            config = config.host(host.clone());
        }
        if let Some((login, passcode)) = login {
            config = config.login(login, passcode);
        }
        config
    }
}

fn random_instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_at_boundaries() {
        let config = RelayConfig::new(["h:1"]);
        let cases = [
            ("/topic/a", true),
            ("/topic", true),
            ("/topic.a", true),
            ("/topics/a", false),
            ("/queue/x", true),
            ("/amq/queue/q", true),
            ("/exchange/amq.direct/k", true),
            ("/app/x", false),
            ("/user/ann/queue/x", false),
            ("", false),
        ];
        for (destination, relayed) in cases {
            assert_eq!(config.relays(destination), relayed, "{destination:?}");
        }
        let custom = RelayConfig::new(["h:1"]).prefixes(["/topic/"]);
        assert!(custom.relays("/topic/a"));
        assert!(!custom.relays("/queue/a"));
    }

    #[test]
    fn per_client_credentials_are_forwarded_or_replaced() {
        let connect: Headers = [("login", "ann"), ("passcode", "pw")].into_iter().collect();
        let forwarded = RelayConfig::new(["h:1"])
            .per_client(&connect)
            .connect_frame();
        assert_eq!(forwarded.headers.get("login"), Some("ann"));
        assert_eq!(forwarded.headers.get("passcode"), Some("pw"));
        let replaced = RelayConfig::new(["h:1"])
            .client_login("relay", "secret")
            .virtual_host("/vh")
            .per_client(&connect)
            .connect_frame();
        assert_eq!(replaced.headers.get("login"), Some("relay"));
        assert_eq!(replaced.headers.get("passcode"), Some("secret"));
        assert_eq!(replaced.headers.get("host"), Some("/vh"));
    }
}
