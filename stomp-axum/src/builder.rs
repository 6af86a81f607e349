//! [`StompBuilder`]: everything a [`Stomp`] endpoint is configured with, in one builder:
//! engine settings (destination prefixes, broker, handlers, limits, timeouts), the
//! application state and transport settings.

mod engine_settings;
mod state;

use std::future::Future;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use stomp_core::app::{
    AppDispatch, AppErrorPolicy, AppRouterBuilder, Controller, IntoExceptionRoute, MappedHandler,
    RouteError,
};
use stomp_core::backplane::BackplaneBroker;
use stomp_core::broker::{Broker, SimpleBroker, SimpleBrokerConfig};
use stomp_core::codec::Limits;
use stomp_core::engine::EngineBuilder;
use stomp_core::identity::Principal;
use stomp_core::interceptor::{Authenticator, InboundInterceptor};
use stomp_core::outbound::{OutboundConfig, OutboundInterceptor};
use stomp_core::HeartBeat;

use crate::config::TransportConfig;
use crate::endpoint::Endpoint;
use crate::handshake::{HandshakeRejection, PrincipalResolver};
use crate::origin::{AllowedHosts, AllowedOrigins};
use crate::stomp::Stomp;

pub use state::{HasState, NoState, StateReady};

/// Builds a [`Stomp`]: every setting of the endpoint is a method here (destination
/// prefixes, broker, relay or backplane, handlers and their state, authentication,
/// interceptors, limits, timeouts, origins).
///
/// `S` is the application state handlers extract with `State<T>` (`T: FromRef<S>`);
/// `St` records whether it was given ([`NoState`] / [`HasState`]). Handlers and
/// [`with_state`](Self::with_state) come in either order; a builder whose handlers need a
/// state does not compile without one:
///
/// ```compile_fail,E0277
/// use stomp_axum::prelude::*;
///
/// #[derive(Clone)]
/// struct AppState { greeting: &'static str }
///
/// #[message_mapping("/greet")]
/// async fn greet(State(app): State<AppState>) -> String { app.greeting.to_owned() }
///
/// // No `.with_state(..)`: `build` is not available.
/// let stomp = Stomp::builder().handler(greet).build();
/// ```
#[must_use]
pub struct StompBuilder<S = (), St = NoState> {
    engine: EngineBuilder,
    config: TransportConfig,
    principal_resolver: Option<HandshakeAuth<S>>,
    routes: AppRouterBuilder<S>,
    has_routes: bool,
    state: St,
    custom_app: bool,
    /// The relay given to [`relay`](Self::relay): its user registry sync starts at build.
    #[cfg(feature = "relay")]
    relay: Option<stomp_core::relay::Relay>,
    /// The Redis backplane given to [`redis_backplane`](Self::redis_backplane), started at
    /// build.
    #[cfg(feature = "redis")]
    redis: Option<stomp_core::backplane::redis::RedisConfig>,
    /// `simple_broker`'s prefixes, turned into a `SimpleBroker` at build time.
    simple_prefixes: Option<Vec<String>>,
    queue_prefixes: Vec<String>,
    /// A durable [`SimpleBroker`] to open at build time (its store can fail to open).
    #[cfg(feature = "durable")]
    durable: Option<SimpleBrokerConfig>,
    /// `simple_broker_durable`'s data directory.
    #[cfg(feature = "durable")]
    simple_data_dir: Option<std::path::PathBuf>,
    error_policy: AppErrorPolicy,
}

/// How the handshake's principal is resolved: ready now, or from an extractor that runs
/// with the application state (known at build).
enum HandshakeAuth<S> {
    Ready(PrincipalResolver),
    WithAppState(fn(S) -> PrincipalResolver),
}

impl<S, St> std::fmt::Debug for StompBuilder<S, St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompBuilder")
            .field("config", &self.config)
            .field("has_routes", &self.has_routes)
            .finish_non_exhaustive()
    }
}

/// Why [`StompBuilder::try_build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The durable store of the embedded broker cannot be opened (feature `durable`; the
    /// error names the path and the reason).
    #[cfg(feature = "durable")]
    #[error(transparent)]
    Durable(#[from] stomp_core::broker::DurableError),
    /// The handlers' routes are invalid (bad template, conflict).
    #[error("invalid STOMP handler routes: {0}")]
    Routes(#[from] RouteError),
    /// The Redis backplane cannot start with its configuration (feature `redis`).
    #[cfg(feature = "redis")]
    #[error("the Redis backplane cannot start: {0}")]
    Backplane(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Handlers were added next to a custom [`app`](StompBuilder::app) dispatcher.
    #[error("handlers were given beside a custom app() dispatcher")]
    TwoApplications,
}

impl<S: Clone + Send + Sync + 'static> StompBuilder<S, NoState> {
    pub(crate) fn new() -> Self {
        StompBuilder {
            engine: EngineBuilder::default(),
            config: TransportConfig::default(),
            principal_resolver: None,
            routes: AppRouterBuilder::new(),
            has_routes: false,
            state: NoState,
            custom_app: false,
            #[cfg(feature = "relay")]
            relay: None,
            #[cfg(feature = "redis")]
            redis: None,
            simple_prefixes: None,
            queue_prefixes: vec!["/queue".to_owned()],
            #[cfg(feature = "durable")]
            durable: None,
            #[cfg(feature = "durable")]
            simple_data_dir: None,
            error_policy: AppErrorPolicy::default(),
        }
    }

    /// Gives the handlers their state (what `State<T>` extracts, `T: FromRef<S>`; axum's
    /// `#[derive(FromRef)]` applies). Before or after the handlers, in any order; once.
    pub fn with_state(self, state: S) -> StompBuilder<S, HasState<S>> {
        StompBuilder {
            engine: self.engine,
            config: self.config,
            principal_resolver: self.principal_resolver,
            routes: self.routes,
            has_routes: self.has_routes,
            state: HasState(state),
            custom_app: self.custom_app,
            #[cfg(feature = "relay")]
            relay: self.relay,
            #[cfg(feature = "redis")]
            redis: self.redis,
            simple_prefixes: self.simple_prefixes,
            queue_prefixes: self.queue_prefixes,
            #[cfg(feature = "durable")]
            durable: self.durable,
            #[cfg(feature = "durable")]
            simple_data_dir: self.simple_data_dir,
            error_policy: self.error_policy,
        }
    }
}

impl<S: Clone + Send + Sync + 'static, St> StompBuilder<S, St> {
    /// Adds a handler (a fn annotated with `#[message_mapping]` or `#[subscribe_mapping]`).
    pub fn handler<H: MappedHandler<S>>(mut self, handler: H) -> Self {
        self.routes = self.routes.handler(handler);
        self.has_routes = true;
        self
    }

    /// Adds every handler of a `#[controller]` value.
    pub fn controller<C: Controller<S>>(mut self, controller: C) -> Self {
        self.routes = self.routes.controller(controller);
        self.has_routes = true;
        self
    }

    /// Adds a global exception handler (`#[message_exception_handler]`).
    pub fn exception_handler<H: IntoExceptionRoute<S>>(mut self, handler: H) -> Self {
        self.routes = self.routes.exception_handler(handler);
        self.has_routes = true;
        self
    }

    /// What the handlers' router does with application errors (extractor rejections,
    /// unmapped `/app` destinations, panicking handlers): report them to the exception
    /// handlers or the session's `/user/queue/errors` and keep the session
    /// ([`AppErrorPolicy::Report`], the default, as Spring does), or answer with an ERROR
    /// frame and close ([`AppErrorPolicy::Close`]). Protocol errors always close.
    pub fn app_error_policy(mut self, policy: AppErrorPolicy) -> Self {
        self.error_policy = policy;
        self
    }

    /// Adds an application destination prefix (repeatable; `/app` when none is given):
    /// SEND and SUBSCRIBE under it go to the handlers, prefix stripped.
    pub fn app_destination_prefix(mut self, prefix: &str) -> Self {
        self.engine = self.engine.app_destination_prefix(prefix);
        self
    }

    /// The user destination prefix (default `/user`).
    pub fn user_destination_prefix(mut self, prefix: &str) -> Self {
        self.engine = self.engine.user_destination_prefix(prefix);
        self
    }

    /// Uses the in-memory [`SimpleBroker`] for these destination prefixes. Those also named
    /// by [`queue_prefixes`](Self::queue_prefixes) (default `["/queue"]`, compared exactly)
    /// are point-to-point queues, the others broadcast topics; use
    /// [`simple_broker_config`](Self::simple_broker_config) for Spring's all-broadcast
    /// behaviour or other settings.
    pub fn simple_broker<I, P>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.forget_broker();
        self.simple_prefixes = Some(prefixes.into_iter().map(Into::into).collect());
        self
    }

    /// Which of the [`simple_broker`](Self::simple_broker) prefixes are point-to-point
    /// queues (default `["/queue"]`); the others are topics. `queue_prefixes([] as [&str; 0])`
    /// makes every prefix a topic.
    pub fn queue_prefixes<I, P>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.queue_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// Uses a [`SimpleBroker`] with this configuration. With a data directory
    /// (`SimpleBrokerConfig::data_dir`, feature `durable`) the broker keeps persistent queue
    /// messages on disk; its store is opened by [`try_build`](StompBuilder::try_build), which
    /// returns `BuildError::Durable` when it cannot be. (Plain names: both exist only with
    /// the feature, and the docs build without it too.)
    pub fn simple_broker_config(mut self, config: SimpleBrokerConfig) -> Self {
        self.forget_broker();
        #[cfg(feature = "durable")]
        if config.data_dir_value().is_some() {
            self.durable = Some(config);
            return self;
        }
        self.engine = self.engine.broker(SimpleBroker::new(config));
        self
    }

    /// Uses the embedded broker for these prefixes (as
    /// [`simple_broker`](Self::simple_broker)) with durable queues in `dir` (feature
    /// `durable`): a SEND with `persistent:true` to a queue is on disk before its RECEIPT and
    /// survives a crash. See [`SimpleBrokerConfig::data_dir`].
    #[cfg(feature = "durable")]
    pub fn simple_broker_durable<I, P>(
        self,
        prefixes: I,
        dir: impl Into<std::path::PathBuf>,
    ) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let mut builder = self.simple_broker(prefixes);
        builder.simple_data_dir = Some(dir.into());
        builder
    }

    /// Uses this broker (a custom one; for a relay use `relay` (feature `relay`), for a
    /// backplane [`backplane`](Self::backplane), which also wire user destinations). A
    /// `Relay` given here serves this instance only (its user registry is not shared with
    /// the others), and a warning is logged.
    pub fn broker<B: Broker>(mut self, broker: B) -> Self {
        self.forget_broker();
        #[cfg(feature = "relay")]
        if (&broker as &dyn std::any::Any).is::<stomp_core::relay::Relay>() {
            tracing::warn!(
                "a Relay given to StompBuilder::broker: /user/ destinations will not reach \
                 other instances; use StompBuilder::relay to share the user registry"
            );
        }
        self.engine = self.engine.broker(broker);
        self
    }

    /// Relays to an external STOMP broker (RabbitMQ, ActiveMQ, Artemis), in one call:
    /// `relay` becomes the broker, and at [`build`](Self::build) the engine's user
    /// registry is shared with the other instances behind the same broker
    /// ([`Relay::sync_user_registry`](stomp_core::relay::Relay::sync_user_registry)), so
    /// `/user/{name}/...` reaches `{name}`'s sessions on every instance. Keep a clone of
    /// `relay` for its availability and its shutdown (feature `relay`).
    ///
    /// ```no_run
    /// use stomp_axum::core::relay::{Relay, RelayConfig};
    /// use stomp_axum::Stomp;
    ///
    /// # async fn demo() {
    /// let relay = Relay::start(RelayConfig::new(["127.0.0.1:61613"]).system_login("guest", "guest"));
    /// let stomp = Stomp::builder().relay(relay.clone()).build();
    /// # let _ = stomp;
    /// # }
    /// ```
    #[cfg(feature = "relay")]
    pub fn relay(mut self, relay: stomp_core::relay::Relay) -> Self {
        self.forget_broker();
        self.engine = self.engine.broker(relay.clone());
        self.relay = Some(relay);
        self
    }

    /// Scales out over a backplane (`stomp_core::backplane`, e.g. Redis pub/sub through
    /// `backplane::redis::broker(url)`), in one call: uses `broker` and shares its user
    /// destinations with the engine (so user destinations sent on another instance
    /// resolve here). A custom user destination prefix belongs on the `UserDestinations`
    /// given to `BackplaneBroker::new`, which resolves forwarded messages with it.
    pub fn backplane(mut self, broker: BackplaneBroker) -> Self {
        let users = broker.user_destinations().clone();
        self.forget_broker();
        self.engine = self.engine.user_destinations(users).broker(broker);
        self
    }

    /// Scales out over Redis pub/sub, in one call: at [`build`](Self::build) the Redis
    /// backplane starts (`stomp_core::backplane::redis::broker`: an embedded broker per
    /// instance, linked through Redis, reconnecting by itself) and is used as
    /// [`backplane`](Self::backplane) would. A configuration it refuses is
    /// [`BuildError::Backplane`]. User destinations keep the default `/user` prefix; for
    /// another one, or to keep the backplane's cluster view, build the
    /// `BackplaneBroker` yourself and give it to `backplane` (feature `redis`).
    ///
    /// ```no_run
    /// use stomp_axum::core::backplane::redis::RedisConfig;
    /// use stomp_axum::Stomp;
    ///
    /// # async fn demo() -> Result<(), stomp_axum::BuildError> {
    /// let stomp = Stomp::builder()
    ///     .redis_backplane(RedisConfig::new("redis://127.0.0.1:6379").prefix("chat"))
    ///     .try_build()?;
    /// # let _ = stomp;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_backplane(mut self, config: stomp_core::backplane::redis::RedisConfig) -> Self {
        self.forget_broker();
        self.redis = Some(config);
        self
    }

    /// Drops the broker chosen so far (the last broker setting wins).
    fn forget_broker(&mut self) {
        self.simple_prefixes = None;
        #[cfg(feature = "durable")]
        {
            self.durable = None;
            self.simple_data_dir = None;
        }
        #[cfg(feature = "relay")]
        {
            self.relay = None;
        }
        #[cfg(feature = "redis")]
        {
            self.redis = None;
        }
    }

    /// A custom application dispatcher instead of annotated handlers.
    pub fn app(mut self, app: impl AppDispatch) -> Self {
        self.engine = self.engine.app(app);
        self.custom_app = true;
        self
    }

    /// The server's heart-beat offer (default `10000,10000`).
    pub fn heartbeat(mut self, heartbeat: HeartBeat) -> Self {
        self.engine = self.engine.heartbeat(heartbeat);
        self
    }

    /// STOMP frame limits (separate from the WebSocket message limit).
    pub fn codec_limits(mut self, limits: Limits) -> Self {
        self.engine = self.engine.codec_limits(limits);
        self
    }

    /// The per-session outbound queue: buffer limits (default 512 KiB) and slow-consumer
    /// policy.
    pub fn outbound(mut self, config: OutboundConfig) -> Self {
        self.engine = self.engine.outbound(config);
        self
    }

    /// Most subscriptions one session may hold.
    pub fn max_subscriptions_per_session(mut self, max: usize) -> Self {
        self.engine = self.engine.max_subscriptions_per_session(max);
        self
    }

    /// The engine's memory budget in bytes (default 512 MiB, for a 1 GiB server): what
    /// all sessions and the broker may hold together (transactions, subscriptions,
    /// outbound queues, queued messages). See
    /// [`EngineBuilder::memory_budget`](stomp_core::engine::EngineBuilder::memory_budget).
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.engine = self.engine.memory_budget(bytes);
        self
    }

    /// The most one session may hold of the memory budget, in bytes (default 32 MiB);
    /// past it the session gets an ERROR naming the limit. See
    /// [`EngineBuilder::session_memory_share`](stomp_core::engine::EngineBuilder::session_memory_share).
    pub fn session_memory_share(mut self, bytes: usize) -> Self {
        self.engine = self.engine.session_memory_share(bytes);
        self
    }

    /// Authenticates CONNECT frames (login/passcode or headers). Default: the handshake
    /// principal, if any, else anonymous; never the CONNECT `login` (for demos,
    /// `stomp_core::interceptor::InsecureLoginAuthenticator` takes it unchecked).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.engine = self.engine.authenticator(authenticator);
        self
    }

    /// Adds an outbound interceptor: sees, changes or drops every MESSAGE, RECEIPT and
    /// ERROR a session is sent (Spring's `clientOutboundChannel`); a closure
    /// `Fn(&SessionInfo, Frame) -> Option<Frame>` will do. Free when none is installed.
    pub fn outbound_interceptor(mut self, interceptor: impl OutboundInterceptor) -> Self {
        self.engine = self.engine.outbound_interceptor(interceptor);
        self
    }

    /// Adds an inbound interceptor (inspect, modify or reject client frames).
    pub fn inbound_interceptor(mut self, interceptor: impl InboundInterceptor) -> Self {
        self.engine = self.engine.inbound_interceptor(interceptor);
        self
    }

    /// An escape hatch to the underlying [`EngineBuilder`]. Every engine setting has a
    /// method of its own on this builder (prefer those); this is for code that already
    /// configures an `EngineBuilder`.
    pub fn engine(mut self, configure: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Self {
        self.engine = configure(self.engine);
        self
    }

    /// Replaces every transport setting at once.
    pub fn transport(mut self, config: TransportConfig) -> Self {
        self.config = config;
        self
    }

    /// Which browser origins may connect (default [`AllowedOrigins::SameOrigin`]).
    pub fn allowed_origins(mut self, origins: AllowedOrigins) -> Self {
        self.config.allowed_origins = origins;
        self
    }

    /// Allows these origins besides the same origin (`"*"` allows any).
    pub fn allow_origins<I, O>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        self.allowed_origins(AllowedOrigins::list(origins))
    }

    /// The `Host` names under which a same-origin browser request is accepted (default
    /// [`AllowedHosts::Local`]: `localhost`, `*.localhost` and IP addresses). A page on a
    /// name not allowed here is refused even when its `Origin` matches its `Host`, which is
    /// what a DNS-rebinding page's request looks like.
    pub fn allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.config.allowed_hosts = hosts;
        self
    }

    /// Accepts same-origin requests addressed to these host names (no port; `*.example.com`
    /// for any name under `example.com`; `"*"` for any host), besides the local ones: the
    /// names the server is reached by, e.g. `["chat.example.com"]`.
    pub fn allow_hosts<I, H>(self, hosts: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: Into<String>,
    {
        self.allowed_hosts(AllowedHosts::list(hosts))
    }

    /// Largest WebSocket message accepted (default 64 KiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// Most bytes asked of the socket per read (default 4 KiB), through a buffer of the
    /// worker thread: an idle connection holds none of it.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.read_buffer_size = bytes;
        self
    }

    /// WebSocket write buffer per connection (default 4 KiB).
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.config.write_buffer_size = bytes;
        self
    }

    /// Longest a write may take before the session is closed (default 10 s).
    pub fn send_time_limit(mut self, limit: Duration) -> Self {
        self.config.send_time_limit = limit;
        self
    }

    /// Longest wait for the first message after the upgrade (default 60 s).
    pub fn time_to_first_message(mut self, limit: Duration) -> Self {
        self.config.time_to_first_message = limit;
        self
    }

    /// Most connections open at once; more are refused with HTTP 503 (default: no limit).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = Some(max);
        self
    }

    /// How long [`Stomp::shutdown`] (and so a graceful shutdown through
    /// [`Stomp::shutdown_signal`]) waits for the WebSocket connections to close after it
    /// ended their sessions (default 10 s); it then returns `false` and leaves the rest to
    /// the server. The sessions' own wind-down is [`drain_timeout`](Self::drain_timeout).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Takes the session's principal from the upgrade request (cookie, session, bearer
    /// token) with an async function of the request head. `Ok(None)` admits an anonymous
    /// connection (CONNECT may still authenticate); `Err` refuses the handshake with the
    /// rejection's status.
    ///
    /// ```
    /// use stomp_axum::{HandshakeRejection, Stomp, StompBuilder};
    /// use stomp_axum::core::identity::Principal;
    ///
    /// let builder: StompBuilder = Stomp::builder().handshake_principal(|parts: axum::http::request::Parts| async move {
    ///     match parts.headers.get("authorization").and_then(|v| v.to_str().ok()) {
    ///         Some(token) if token.starts_with("Bearer ") => Ok(Some(Principal::new(&token[7..]))),
    ///         Some(_) => Err(HandshakeRejection::unauthorized("bad token")),
    ///         None => Ok(None),
    ///     }
    /// });
    /// # let _ = builder;
    /// ```
    pub fn handshake_principal<F, Fut>(mut self, resolve: F) -> Self
    where
        F: Fn(Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Principal>, HandshakeRejection>> + Send + 'static,
    {
        self.principal_resolver = Some(HandshakeAuth::Ready(PrincipalResolver::from_fn(resolve)));
        self
    }

    /// Takes the session's principal with an axum extractor: `E` runs on the upgrade
    /// request with the application state `S` (the one given to
    /// [`with_state`](Self::with_state), `()` without one), as axum runs a handler's
    /// extractors, so it may take `State<_>` parts of it (`FromRef`); its value converts
    /// into `Option<Principal>`, and its rejection is the refused handshake's response.
    /// See [`crate::auth`].
    pub fn handshake_extractor<E>(mut self) -> Self
    where
        E: FromRequestParts<S> + Into<Option<Principal>> + Send + 'static,
    {
        self.principal_resolver = Some(HandshakeAuth::WithAppState(
            PrincipalResolver::from_extractor_with_state::<E, S>,
        ));
        self
    }

    /// As [`handshake_extractor`](Self::handshake_extractor), with a state of its own:
    /// `E: FromRequestParts<T>` runs with `state` (e.g. a session store that is not part
    /// of the handlers' state). See [`crate::auth`].
    pub fn handshake_extractor_with_state<E, T>(mut self, state: T) -> Self
    where
        E: FromRequestParts<T> + Into<Option<Principal>> + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.principal_resolver = Some(HandshakeAuth::Ready(
            PrincipalResolver::from_extractor_with_state::<E, T>(state),
        ));
        self
    }

    /// Authenticates CONNECT frames with an async closure of the
    /// [`ConnectRequest`](stomp_core::interceptor::ConnectRequest): `Ok(Principal)` (or
    /// `Ok(Option<Principal>)`) admits the session, `Err(Rejection)` refuses it with an
    /// ERROR frame. Shorthand for `.authenticator(authenticator_fn(f))`; see
    /// [`crate::auth`].
    pub fn authenticate<F, Fut, P>(self, f: F) -> Self
    where
        F: Fn(stomp_core::interceptor::ConnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<P, stomp_core::interceptor::Rejection>> + Send + 'static,
        P: Into<Option<Principal>>,
    {
        self.authenticator(stomp_core::interceptor::authenticator_fn(f))
    }

    /// Adds an inbound interceptor made of an async closure of the frame and (a clone of)
    /// the session: the frame to pass on, or a `Rejection` that ends the session.
    /// Shorthand for `.inbound_interceptor(inbound_fn(f))`.
    pub fn intercept_inbound<F, Fut>(self, f: F) -> Self
    where
        F: Fn(stomp_core::frame::Frame, stomp_core::identity::SessionInfo) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = Result<stomp_core::frame::Frame, stomp_core::interceptor::Rejection>>
            + Send
            + 'static,
    {
        self.inbound_interceptor(stomp_core::interceptor::inbound_fn(f))
    }
}

// `St: StateReady<S>` is on each method, not on the impl, so a missing state is reported
// with `StateReady`'s message (and `S` is inferred as `()` for handlers that need none).
impl<S: Clone + Send + Sync + 'static, St> StompBuilder<S, St> {
    /// Builds the endpoint (inside a Tokio runtime: a relay's user registry sync starts
    /// here). Available once the handlers' state is given, or when they need none.
    ///
    /// # Panics
    /// If the handlers' routes are invalid (a configuration mistake found at startup, as
    /// axum does for conflicting routes); [`try_build`](Self::try_build) returns it instead.
    pub fn build(self) -> Stomp
    where
        St: StateReady<S>,
    {
        match self.try_build() {
            Ok(stomp) => stomp,
            Err(error) => panic!("{error}"),
        }
    }

    /// Builds the endpoint, or says why it cannot be: invalid handler routes, handlers
    /// beside a custom [`app`](Self::app), a durable store that cannot be opened.
    pub fn try_build(self) -> Result<Stomp, BuildError>
    where
        St: StateReady<S>,
    {
        #[cfg(feature = "relay")]
        let relay = self.relay.clone();
        let (engine, config, resolver) = self.into_engine()?;
        let engine = engine.build();
        #[cfg(feature = "relay")]
        if let Some(relay) = relay {
            // Before the endpoint exists, so no session can open unannounced.
            relay.sync_user_registry(engine.user_registry());
        }
        Ok(Stomp::from_endpoint(Endpoint::new(
            engine, config, resolver,
        )))
    }

    fn into_engine(
        self,
    ) -> Result<(EngineBuilder, TransportConfig, Option<PrincipalResolver>), BuildError>
    where
        St: StateReady<S>,
    {
        let state = self.state.into_state();
        let resolver = self.principal_resolver.map(|auth| match auth {
            HandshakeAuth::Ready(resolver) => resolver,
            HandshakeAuth::WithAppState(with_state) => with_state(state.clone()),
        });
        let router = if self.has_routes {
            if self.custom_app {
                return Err(BuildError::TwoApplications);
            }
            Some(
                self.routes
                    .error_policy(self.error_policy)
                    .build_with_state(state)?,
            )
        } else {
            None
        };
        let mut engine = self.engine;
        if let Some(prefixes) = self.simple_prefixes {
            let (queues, topics): (Vec<String>, Vec<String>) = prefixes
                .into_iter()
                .partition(|p| self.queue_prefixes.contains(p));
            let config = SimpleBrokerConfig::new()
                .topic_prefixes(topics)
                .queue_prefixes(queues);
            #[cfg(feature = "durable")]
            let broker = match self.simple_data_dir {
                Some(dir) => SimpleBroker::open(config.data_dir(dir))?,
                None => SimpleBroker::new(config),
            };
            #[cfg(not(feature = "durable"))]
            let broker = SimpleBroker::new(config);
            engine = engine.broker(broker);
        }
        #[cfg(feature = "durable")]
        if let Some(config) = self.durable {
            engine = engine.broker(SimpleBroker::open(config)?);
        }
        #[cfg(feature = "redis")]
        if let Some(config) = self.redis {
            let broker = stomp_core::backplane::redis::broker(config)
                .map_err(|e| BuildError::Backplane(Box::new(e)))?;
            let users = broker.user_destinations().clone();
            engine = engine.user_destinations(users).broker(broker);
        }
        if let Some(router) = router {
            engine = engine.app(router);
        }
        Ok((engine, self.config, resolver))
    }
}

impl Stomp {
    /// Starts building an endpoint. The application state type `S` is inferred from
    /// [`StompBuilder::with_state`] and the handlers (`()` when they need none).
    pub fn builder<S>() -> StompBuilder<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        StompBuilder::new()
    }
}
