//! [`EngineBuilder`]: everything sessions of one engine share.

use std::sync::Arc;
use std::time::Duration;

use bytestring::ByteString;

use crate::app::AppDispatch;
use crate::authz::DestinationPolicy;
use crate::broker::simple::SimpleBroker;
use crate::broker::Broker;
use crate::channel::BrokerChannel;
use crate::codec::Limits;
use crate::frame::heartbeat::HeartBeat;
use crate::interceptor::{Authenticator, DefaultAuthenticator, InboundInterceptor};
use crate::memory::MemoryBudget;
use crate::outbound::OutboundConfig;
use crate::outbound::OutboundInterceptor;
use crate::user::UserDestinations;
use crate::version::Version;

use super::Engine;

/// The settings of an engine, fixed at [`EngineBuilder::build`].
pub(crate) struct Config {
    pub(crate) app_prefixes: Vec<ByteString>,
    pub(crate) heartbeat: HeartBeat,
    pub(crate) heartbeat_tolerance: f64,
    pub(crate) heartbeat_tick: Duration,
    pub(crate) limits: Limits,
    pub(crate) outbound: OutboundConfig,
    pub(crate) max_subscriptions: usize,
    pub(crate) max_transactions: usize,
    pub(crate) max_transaction_frames: usize,
    pub(crate) max_destination_len: usize,
    pub(crate) max_destination_segments: usize,
    pub(crate) server_name: ByteString,
    pub(crate) versions: Vec<Version>,
    pub(crate) event_capacity: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) app_concurrency: usize,
}

/// Builds an [`Engine`]; get one with [`Engine::builder`].
#[must_use]
pub struct EngineBuilder {
    broker: Option<Arc<dyn Broker>>,
    app: Option<Arc<dyn AppDispatch>>,
    policy: Option<Arc<dyn DestinationPolicy>>,
    users: Option<UserDestinations>,
    authenticator: Arc<dyn Authenticator>,
    interceptors: Vec<Arc<dyn InboundInterceptor>>,
    outbound_interceptors: Vec<Arc<dyn OutboundInterceptor>>,
    app_prefixes: Vec<ByteString>,
    user_prefix: Option<ByteString>,
    heartbeat: HeartBeat,
    heartbeat_tolerance: f64,
    heartbeat_tick: Option<Duration>,
    limits: Limits,
    outbound: OutboundConfig,
    max_subscriptions: usize,
    max_transactions: usize,
    max_transaction_frames: usize,
    max_destination_len: usize,
    max_destination_segments: usize,
    memory_total: usize,
    session_memory_share: usize,
    server_name: ByteString,
    versions: Vec<Version>,
    event_capacity: usize,
    drain_timeout: Duration,
    connect_timeout: Duration,
    app_concurrency: usize,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("app_prefixes", &self.app_prefixes)
            .field("heartbeat", &self.heartbeat)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            broker: None,
            app: None,
            policy: None,
            users: None,
            authenticator: Arc::new(DefaultAuthenticator),
            interceptors: Vec::new(),
            outbound_interceptors: Vec::new(),
            app_prefixes: Vec::new(),
            user_prefix: None,
            heartbeat: EngineBuilder::DEFAULT_HEARTBEAT,
            heartbeat_tolerance: EngineBuilder::DEFAULT_HEARTBEAT_TOLERANCE,
            heartbeat_tick: None,
            limits: Limits::default(),
            outbound: OutboundConfig::default(),
            max_subscriptions: 1024,
            max_transactions: 16,
            max_transaction_frames: 1024,
            max_destination_len: EngineBuilder::DEFAULT_MAX_DESTINATION_LEN,
            max_destination_segments: EngineBuilder::DEFAULT_MAX_DESTINATION_SEGMENTS,
            memory_total: MemoryBudget::DEFAULT_TOTAL,
            session_memory_share: MemoryBudget::DEFAULT_SESSION_SHARE,
            server_name: ByteString::from_static(concat!("stomp-core/", env!("CARGO_PKG_VERSION"))),
            versions: Version::ALL.to_vec(),
            event_capacity: 1024,
            drain_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            app_concurrency: 1,
        }
    }
}

impl EngineBuilder {
    /// The server's default heart-beat offer: `10000,10000` (send and expect every 10 s).
    pub const DEFAULT_HEARTBEAT: HeartBeat = HeartBeat::new(10_000, 10_000);

    /// How many negotiated client intervals may pass in silence before a session is closed
    /// (3: a client is given three missed beats, enough for a browser tab whose timers are
    /// throttled in the background; stompjs uses 2 on its side, Spring 3 in its
    /// SimpleBroker).
    pub const DEFAULT_HEARTBEAT_TOLERANCE: f64 = 3.0;

    /// Default longest `destination` of a SEND or SUBSCRIBE: 1,024 bytes.
    pub const DEFAULT_MAX_DESTINATION_LEN: usize = 1024;

    /// Default most segments in a `destination` of a SEND or SUBSCRIBE: 32.
    pub const DEFAULT_MAX_DESTINATION_SEGMENTS: usize = 32;

    /// The broker behind the engine (default: [`SimpleBroker::default()`]).
    pub fn broker(self, broker: impl Broker) -> Self {
        self.broker_arc(Arc::new(broker))
    }

    /// The broker behind the engine, already shared.
    pub fn broker_arc(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Adds an application destination prefix (repeatable; `/app` when none is given).
    /// SEND and SUBSCRIBE under it go to the [`app`](Self::app) dispatcher, prefix stripped.
    pub fn app_destination_prefix(mut self, prefix: impl Into<ByteString>) -> Self {
        self.app_prefixes.push(prefix.into());
        self
    }

    /// The application's dispatcher (the handler router).
    pub fn app(mut self, app: impl AppDispatch) -> Self {
        self.app = Some(Arc::new(app));
        self
    }

    /// The user destination prefix (default `/user`).
    pub fn user_destination_prefix(mut self, prefix: impl Into<ByteString>) -> Self {
        self.user_prefix = Some(prefix.into());
        self
    }

    /// The user destinations (registry, broker prefixes, guard); their prefix is replaced by
    /// [`user_destination_prefix`](Self::user_destination_prefix) when that is set too.
    pub fn user_destinations(mut self, users: UserDestinations) -> Self {
        self.users = Some(users);
        self
    }

    /// Who may SEND to and SUBSCRIBE to which destination (default: everything allowed).
    /// Checked for every client SEND and SUBSCRIBE, application destinations included.
    pub fn destination_policy(mut self, policy: impl DestinationPolicy) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// The server's heart-beat offer (default [`Self::DEFAULT_HEARTBEAT`]); `HeartBeat::NONE`
    /// turns heart-beats off.
    pub fn heartbeat(mut self, heartbeat: HeartBeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// How many negotiated client intervals of silence close a session (default
    /// [`Self::DEFAULT_HEARTBEAT_TOLERANCE`]; values below 1 count as 1).
    pub fn heartbeat_tolerance(mut self, multiplier: f64) -> Self {
        self.heartbeat_tolerance = multiplier;
        self
    }

    /// How often the engine's one heart-beat task checks its sessions (default: a quarter
    /// of the smallest non-zero value of the server's offer, between 10 ms and 1 s). Beats
    /// go out at most this much early, and silence is noticed at most this much late.
    pub fn heartbeat_tick(mut self, tick: Duration) -> Self {
        self.heartbeat_tick = Some(tick);
        self
    }

    /// Decoder limits (frame size, header count, ...).
    pub fn codec_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Per-session outbound queue limits and slow-consumer policy.
    pub fn outbound(mut self, config: OutboundConfig) -> Self {
        self.outbound = config;
        self
    }

    /// Most broker subscriptions one session may hold (default 1024).
    pub fn max_subscriptions_per_session(mut self, max: usize) -> Self {
        self.max_subscriptions = max;
        self
    }

    /// Most transactions one session may have open at once (default 16).
    pub fn max_transactions_per_session(mut self, max: usize) -> Self {
        self.max_transactions = max;
        self
    }

    /// Most frames one session may have buffered in its open transactions (default 1024).
    pub fn max_transaction_frames(mut self, max: usize) -> Self {
        self.max_transaction_frames = max;
        self
    }

    /// Longest `destination` header of a SEND or SUBSCRIBE, in bytes (default
    /// [`DEFAULT_MAX_DESTINATION_LEN`](Self::DEFAULT_MAX_DESTINATION_LEN), 1,024). A longer
    /// one ends the session with an ERROR naming this limit, before any routing work.
    pub fn max_destination_len(mut self, bytes: usize) -> Self {
        self.max_destination_len = bytes;
        self
    }

    /// Most segments in the `destination` header of a SEND or SUBSCRIBE (default
    /// [`DEFAULT_MAX_DESTINATION_SEGMENTS`](Self::DEFAULT_MAX_DESTINATION_SEGMENTS), 32).
    /// Both `/` and `.` count as separators, whichever the broker splits on, so
    /// `/topic/a.b` has 4 segments. A destination with more ends the session with an ERROR
    /// naming this limit, before any routing work: pattern matching costs up to
    /// segments x matching subscription states per published frame, so this bounds the
    /// CPU one frame can take.
    pub fn max_destination_segments(mut self, segments: usize) -> Self {
        self.max_destination_segments = segments;
        self
    }

    /// The engine's memory budget, in bytes (default
    /// [`MemoryBudget::DEFAULT_TOTAL`], 512 MiB, for a 1 GiB server): everything clients
    /// can make the server hold (frames buffered in transactions, subscriptions, outbound
    /// queues, and the broker's queued and un-acked messages) counts against it. A frame
    /// that would pass it ends its session with the ERROR
    /// `memory budget: engine total of {bytes} bytes exceeded`; other sessions go on.
    /// Read the usage with [`Engine::stats`] (`memory_used`).
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_total = bytes;
        self
    }

    /// The most one session may hold of the [`memory_budget`](Self::memory_budget), in
    /// bytes (default [`MemoryBudget::DEFAULT_SESSION_SHARE`], 32 MiB): its transactions'
    /// frames, its subscriptions and its outbound queue. A frame that would pass it ends
    /// the session with the ERROR `memory budget: session share of {bytes} bytes
    /// exceeded`, so one client cannot take the budget from the others.
    pub fn session_memory_share(mut self, bytes: usize) -> Self {
        self.session_memory_share = bytes;
        self
    }

    /// Decides who connects (default: [`DefaultAuthenticator`]: the transport's principal,
    /// never the CONNECT `login`; for demos only, see
    /// [`InsecureLoginAuthenticator`](crate::interceptor::InsecureLoginAuthenticator)).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Arc::new(authenticator);
        self
    }

    /// Adds an outbound interceptor (Spring's `clientOutboundChannel` interceptors): it
    /// sees, may change or drop every MESSAGE, RECEIPT and ERROR a session is sent; they
    /// run in the order added. None installed (the default) costs nothing on the delivery
    /// path; installed, each of those frames is decoded and re-encoded per session. See
    /// [`OutboundInterceptor`].
    pub fn outbound_interceptor(mut self, interceptor: impl OutboundInterceptor) -> Self {
        self.outbound_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds an inbound interceptor; interceptors run in the order added.
    pub fn inbound_interceptor(mut self, interceptor: impl InboundInterceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// The CONNECTED `server` header.
    pub fn server_name(mut self, name: impl Into<ByteString>) -> Self {
        self.server_name = name.into();
        self
    }

    /// The protocol versions the engine accepts (default: 1.0, 1.1 and 1.2).
    pub fn versions(mut self, versions: &[Version]) -> Self {
        self.versions = versions.to_vec();
        self
    }

    /// Capacity of the lifecycle event channel (default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// How long [`Engine::shutdown`] waits for sessions to finish the frame they are
    /// handling (a handler running, a receipt pending) before it releases them anyway
    /// (default 10 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long a new connection may take to send CONNECT before it is closed with an
    /// ERROR (default 30 s), so idle connections cannot pile up.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many application dispatches of ONE session may run at once (default 1).
    ///
    /// - `1` (the default): a session awaits each SEND/SUBSCRIBE to an application
    ///   destination before it takes its next frame, so one session's frames are handled
    ///   strictly in order (what Spring needs `setPreserveReceiveOrder` for). Different
    ///   sessions always run concurrently.
    /// - `n > 1`: up to `n` such dispatches of one session run concurrently, driven by one
    ///   worker task per session, while the session goes on reading frames; with `n` in
    ///   flight the session waits for one to complete before it takes the next frame
    ///   (backpressure). Replies of one session may then come out of order.
    ///
    /// Either way a frame's RECEIPT is sent only after its dispatch completed, and a
    /// failed dispatch ends the session with ERROR (with `receipt-id` when asked for;
    /// `AppRouter` fails a dispatch only under `AppErrorPolicy::Close`, by default it
    /// reports application errors and the dispatch completes).
    /// Every other frame (broker SUBSCRIBE/SEND, UNSUBSCRIBE, ACK, transactions,
    /// DISCONNECT), a protocol ERROR of the session's own, and closing the session first
    /// wait until the session's in-flight dispatches are done, so nothing overtakes them.
    /// SENDs inside a transaction are dispatched in order at COMMIT. A close from outside
    /// the session (`close_session`, shutdown, heart-beat timeout) does not wait for
    /// in-flight dispatches: they run to completion, their receipts dropped. `0` counts
    /// as 1.
    pub fn app_concurrency(mut self, n: usize) -> Self {
        self.app_concurrency = n.max(1);
        self
    }

    /// Builds the engine (with an embedded [`SimpleBroker`] when no broker was given).
    pub fn build(self) -> Engine {
        let broker = self
            .broker
            .unwrap_or_else(|| Arc::new(SimpleBroker::default()));
        let app_prefixes = if self.app_prefixes.is_empty() {
            vec![ByteString::from_static("/app")]
        } else {
            self.app_prefixes
        };
        let heartbeat_tick = self.heartbeat_tick.unwrap_or_else(|| {
            let smallest = [self.heartbeat.outgoing, self.heartbeat.incoming]
                .into_iter()
                .filter(|&ms| ms != 0)
                .min()
                .unwrap_or(1000);
            Duration::from_millis(u64::from(smallest / 4).clamp(10, 1000))
        });
        let mut versions = self.versions;
        versions.sort();
        versions.dedup();
        let config = Config {
            app_prefixes,
            heartbeat: self.heartbeat,
            heartbeat_tolerance: self.heartbeat_tolerance.max(1.0),
            heartbeat_tick: heartbeat_tick.max(Duration::from_millis(1)),
            limits: self.limits,
            outbound: self.outbound,
            max_subscriptions: self.max_subscriptions,
            max_transactions: self.max_transactions,
            max_transaction_frames: self.max_transaction_frames,
            max_destination_len: self.max_destination_len,
            max_destination_segments: self.max_destination_segments,
            server_name: self.server_name,
            versions,
            event_capacity: self.event_capacity.max(1),
            drain_timeout: self.drain_timeout,
            connect_timeout: self.connect_timeout,
            app_concurrency: self.app_concurrency,
        };
        let mut users = self.users.unwrap_or_default();
        if let Some(prefix) = self.user_prefix {
            users = users.with_prefix(prefix);
        }
        let mut channel = BrokerChannel::builder(broker).user_destinations(users);
        if let Some(policy) = self.policy {
            channel = channel.policy(policy);
        }
        Engine::from_parts(
            config,
            MemoryBudget::new(self.memory_total, self.session_memory_share),
            channel.build(),
            self.app,
            self.authenticator,
            self.interceptors,
            self.outbound_interceptors,
        )
    }
}
