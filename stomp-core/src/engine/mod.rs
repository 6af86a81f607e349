//! The engine: configuration and state shared by every session, and the transport's entry
//! point ([`Engine::open_session`]).
//!
//! A transport feeds each connection's bytes to its [`Session`] (in order, from one reader
//! task) and writes what comes out of its [`OutboundReceiver`] (from one writer task):
//!
//! ```
//! use stomp_core::engine::{Engine, TransportInfo};
//! use stomp_core::outbound::{Next, Outbound};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let engine = Engine::builder().server_name("demo/1").build(); // embedded SimpleBroker
//! let (mut session, mut outbound) = engine.open_session(TransportInfo::default());
//!
//! // Reader side: bytes as they arrive (any split).
//! session.receive(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0").await?;
//! session.receive(b"SUBSCRIBE\ndestination:/topic/news\nid:0\nreceipt:r1\n\n\0").await?;
//!
//! // Writer side: CONNECTED, then the RECEIPT (the subscription is live by now).
//! for expected in ["CONNECTED", "RECEIPT"] {
//!     let Next::Item(Outbound::Frame(bytes)) = outbound.next().await else { panic!() };
//!     assert!(bytes.starts_with(expected.as_bytes()));
//! }
//! engine.template().send("/topic/news", "hello").await?;
//! let Next::Item(Outbound::Frame(bytes)) = outbound.next().await else { panic!() };
//! assert!(bytes.starts_with(b"MESSAGE"));
//!
//! // The transport went away without DISCONNECT:
//! session.transport_closed().await;
//! assert!(engine.sessions().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod builder;
mod heartbeat;
mod lifecycle;
pub mod session;
mod stats;

pub use builder::EngineBuilder;
pub use session::{Session, SessionEnded};
pub use stats::EngineStats;

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytestring::ByteString;
use tokio::sync::{broadcast, Notify};

use crate::app::AppDispatch;
use crate::broker::Broker;
use crate::channel::BrokerChannel;
use crate::events::SessionEvent;
use crate::identity::{Principal, SessionId};
use crate::interceptor::{Authenticator, InboundInterceptor};
use crate::memory::MemoryBudget;
use crate::outbound::OutboundInterceptor;
use crate::outbound::{self, CloseReason, OutboundReceiver};
use crate::template::MessagingTemplate;
use crate::version::Version;
use session::shared::{millis, CloseRequest, PendingClose, SessionShared};

use builder::Config;
use stats::Counters;

/// What the transport knows about a connection before any STOMP frame arrives.
#[derive(Debug, Clone, Default)]
pub struct TransportInfo {
    /// The user established by the transport (e.g. the HTTP handshake), if any.
    pub principal: Option<Principal>,
    /// The peer's address.
    pub remote_addr: Option<SocketAddr>,
    /// The STOMP version named by the negotiated WebSocket subprotocol, if any. It only
    /// sets how frames before CONNECT (an ERROR) are encoded: the session's version is
    /// negotiated from CONNECT's `accept-version` alone (none means 1.0), as the STOMP
    /// specification says.
    pub subprotocol: Option<Version>,
}

/// One session as [`Engine::sessions`] reports it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionSnapshot {
    /// The session id.
    pub id: SessionId,
    /// The authenticated user.
    pub principal: Option<Principal>,
    /// The negotiated version.
    pub version: Version,
    /// Broker subscriptions: (`id`, `destination`).
    pub subscriptions: Vec<(ByteString, ByteString)>,
    /// When CONNECT was accepted.
    pub connected_since: SystemTime,
    /// The peer's address, when known.
    pub remote_addr: Option<SocketAddr>,
}

/// The STOMP engine: shared by every session of a server. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

pub(crate) struct EngineInner {
    pub(crate) config: Config,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) channel: BrokerChannel,
    pub(crate) template: MessagingTemplate,
    pub(crate) app: Option<Arc<dyn AppDispatch>>,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) interceptors: Vec<Arc<dyn InboundInterceptor>>,
    /// `None` when no outbound interceptor is installed.
    pub(crate) outbound_interceptors: Option<Arc<[Arc<dyn OutboundInterceptor>]>>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    pub(crate) counters: Counters,
    /// Everything sessions and the broker hold, with a per-session share.
    pub(crate) memory: MemoryBudget,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: crate::telemetry::EngineMetrics,
    registry: Mutex<HashMap<SessionId, Arc<SessionShared>>>,
    registry_empty: Notify,
    start: tokio::time::Instant,
    id_prefix: String,
    next_id: AtomicU64,
    scheduler_started: AtomicBool,
    shutting_down: AtomicBool,
}

impl Engine {
    /// Starts configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    fn from_parts(
        config: Config,
        memory: MemoryBudget,
        channel: BrokerChannel,
        app: Option<Arc<dyn AppDispatch>>,
        authenticator: Arc<dyn Authenticator>,
        interceptors: Vec<Arc<dyn InboundInterceptor>>,
        outbound_interceptors: Vec<Arc<dyn OutboundInterceptor>>,
    ) -> Engine {
        let broker = channel.broker().clone();
        let memory = memory.with_held_elsewhere({
            let broker = broker.clone();
            move || broker.held_bytes()
        });
        let template = MessagingTemplate::from_channel(channel.clone());
        let (events, _) = broadcast::channel(config.event_capacity);
        let id_prefix = format!("{:08x}", RandomState::new().build_hasher().finish() as u32);
        Engine {
            inner: Arc::new(EngineInner {
                config,
                broker,
                channel,
                template,
                app,
                authenticator,
                interceptors,
                outbound_interceptors: (!outbound_interceptors.is_empty())
                    .then(|| outbound_interceptors.into()),
                events,
                counters: Counters::default(),
                memory,
                #[cfg(feature = "metrics")]
                metrics: crate::telemetry::EngineMetrics::new(),
                registry: Mutex::new(HashMap::new()),
                registry_empty: Notify::new(),
                start: tokio::time::Instant::now(),
                id_prefix,
                next_id: AtomicU64::new(1),
                scheduler_started: AtomicBool::new(false),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// Opens a session for a new transport connection. The session expects CONNECT (or
    /// STOMP) first; the receiver is the session's OUTBOUND queue, for the transport's
    /// writer task.
    pub fn open_session(&self, transport: TransportInfo) -> (Session, OutboundReceiver) {
        let inner = &self.inner;
        let n = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let id = SessionId::from(format!("{}-{n}", inner.id_prefix));
        let intercept = inner
            .outbound_interceptors
            .as_ref()
            .map(|all| Arc::new(outbound::Interception::new(all.clone(), id.clone())));
        let memory = inner.memory.session();
        let (tx, rx) =
            outbound::intercepted_channel(inner.config.outbound, intercept, Some(memory.clone()));
        let shared = Arc::new(SessionShared::new(
            id.clone(),
            tx,
            memory,
            transport.remote_addr,
            inner.now_ms(),
        ));
        if inner.shutting_down.load(Ordering::Acquire) {
            // Born finished: it accepts nothing and never reaches the broker.
            shared.outbound.close(CloseReason::ServerShutdown);
            shared.mark_finished();
        } else {
            inner.registry().insert(id, shared.clone());
            if tokio::runtime::Handle::try_current().is_ok() {
                inner.ensure_scheduler();
            }
        }
        (Session::new(inner.clone(), shared, transport), rx)
    }

    /// A messaging template publishing through the engine's broker channel.
    pub fn template(&self) -> MessagingTemplate {
        self.inner.template.clone()
    }

    /// The user registry (who is connected, with which subscriptions), kept by the
    /// engine's broker channel.
    pub fn user_registry(&self) -> crate::user::UserRegistry {
        self.inner.channel.user_registry().clone()
    }

    /// The engine's broker channel.
    pub fn broker_channel(&self) -> BrokerChannel {
        self.inner.channel.clone()
    }

    /// Subscribes to lifecycle events (a bounded broadcast: a listener that lags loses the
    /// oldest events).
    pub fn subscribe_events(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// The connected sessions.
    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        let mut list: Vec<SessionSnapshot> = self
            .inner
            .live_sessions()
            .into_iter()
            .filter(|s| !s.is_finished())
            .filter_map(|s| {
                let c = s.connected.get()?;
                Some(SessionSnapshot {
                    id: s.id.clone(),
                    principal: c.info.principal.clone(),
                    version: c.info.version,
                    subscriptions: s.subscriptions(),
                    connected_since: c.since,
                    remote_addr: s.remote_addr,
                })
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// Closes a session: the client gets an ERROR frame whose `message` is `reason`, then
    /// the connection closes (after the frame the session is handling, if any, and its
    /// receipt). `false` if there is no such session or it is already closing.
    pub fn close_session(&self, id: &SessionId, reason: impl Into<String>) -> bool {
        let Some(shared) = self.inner.registry().get(id).cloned() else {
            return false;
        };
        let reason = reason.into();
        let close = PendingClose {
            reason: CloseReason::Closed(reason.clone()),
            error: Some(reason),
        };
        match shared.request_close(close) {
            CloseRequest::Now(close) => {
                self.inner.spawn_close(shared, close);
                true
            }
            CloseRequest::Deferred => true,
            CloseRequest::AlreadyClosing => false,
        }
    }

    /// Closes every session: each gets ERROR "server shutting down" (after the receipt of
    /// the frame it is handling, if any), then its connection closes. Completes when every
    /// session is gone, or after the shutdown timeout (sessions still busy then are
    /// released anyway). Sessions opened afterwards are closed at once.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::Release);
        let mut now = Vec::new();
        for shared in inner.live_sessions() {
            let close = PendingClose {
                reason: CloseReason::ServerShutdown,
                error: Some(CloseReason::ServerShutdown.describe().to_owned()),
            };
            if let CloseRequest::Now(close) = shared.request_close(close) {
                now.push((shared, close));
            }
        }
        for (shared, close) in now {
            inner.close_now(&shared, close).await;
        }
        let wait = inner.wait_until_empty();
        if tokio::time::timeout(inner.config.drain_timeout, wait)
            .await
            .is_err()
        {
            for shared in inner.live_sessions() {
                tracing::warn!(session = %shared.id, "still busy at drain timeout; released");
                shared.outbound.close(CloseReason::ServerShutdown);
                inner.finish(&shared, CloseReason::ServerShutdown).await;
            }
        }
    }

    /// The protocol versions this engine accepts, oldest first
    /// ([`EngineBuilder::versions`]).
    pub fn versions(&self) -> &[Version] {
        &self.inner.config.versions
    }

    /// Publishes the engine's gauges and derived counters to the `metrics` recorder now
    /// (feature `metrics`; the engine also does it about once a second on its own). Call
    /// it from a `/metrics` handler before rendering for figures as of the scrape. See
    /// [`telemetry`](crate::telemetry).
    #[cfg(feature = "metrics")]
    pub fn record_metrics(&self) {
        self.inner.record_metrics();
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        let sessions = self.inner.live_sessions();
        let live = sessions.iter().filter(|s| !s.is_finished());
        let frames_in: u64 = live.clone().map(|s| s.frames_in()).sum();
        let frames: u64 = live.clone().map(|s| s.outbound.queued_frames()).sum();
        let subscriptions: usize = live.map(|s| s.subscription_count()).sum();
        let mut stats = self
            .inner
            .counters
            .snapshot(frames_in, frames, subscriptions);
        stats.registered_sessions = sessions.len();
        let memory = &self.inner.memory;
        stats.memory_sessions = memory.reserved();
        stats.memory_used = memory.used();
        stats.memory_total = memory.total();
        stats
    }

    /// The engine's memory budget ([`EngineBuilder::memory_budget`]).
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.inner.memory
    }
}

impl EngineInner {
    fn registry(&self) -> MutexGuard<'_, HashMap<SessionId, Arc<SessionShared>>> {
        crate::sync::lock(&self.registry)
    }

    pub(crate) fn live_sessions(&self) -> Vec<Arc<SessionShared>> {
        self.registry().values().cloned().collect()
    }

    /// Coarse milliseconds since the engine was built (follows tokio's clock, so paused
    /// time in tests drives it).
    pub(crate) fn now_ms(&self) -> u64 {
        millis(self.start.elapsed())
    }

    /// Reads the live sessions and publishes the engine's and the broker's figures.
    #[cfg(feature = "metrics")]
    pub(crate) fn record_metrics(&self) {
        let mut live = crate::telemetry::Live::default();
        for shared in self.live_sessions() {
            if shared.is_finished() {
                continue;
            }
            let outbound = &shared.outbound;
            live.frames += outbound.queued_frames();
            live.bytes += outbound.sent_bytes();
            live.queued_frames += outbound.pending_frames();
            let bytes = outbound.buffered_bytes();
            live.queued_bytes += bytes;
            live.queued_bytes_max = live.queued_bytes_max.max(bytes);
            if shared.connected.get().is_some() {
                live.sessions += 1;
                live.subscriptions += shared.subscription_count();
            }
        }
        live.memory_used = self.memory.used();
        live.memory_sessions = self.memory.reserved();
        live.memory_total = self.memory.total();
        self.metrics.publish(&live);
        self.broker.record_metrics();
    }

    async fn wait_until_empty(&self) {
        loop {
            let notified = self.registry_empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.registry().is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// The path under an application prefix, if `destination` is under one.
    pub(crate) fn app_path<'d>(&self, destination: &'d str) -> Option<&'d str> {
        self.config.app_prefixes.iter().find_map(|prefix| {
            let rest = destination.strip_prefix(&**prefix)?;
            if prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/') {
                Some(rest)
            } else {
                None
            }
        })
    }
}
