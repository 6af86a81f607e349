//! [`StompBuilder`]: engine settings, application handlers and transport settings of a
//! [`Stomp`] endpoint.

use std::future::Future;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use stomp_core::app::{
    AppDispatch, AppErrorPolicy, AppRouter, AppRouterBuilder, Controller, IntoExceptionRoute,
    MappedHandler, RouteError,
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

/// Builds a [`Stomp`]: engine settings (destination prefixes, broker, handlers) and
/// transport settings (origins, handshake principal, limits).
///
/// `S` is the application state handlers extract with `State<T>`; it is fixed by
/// [`with_state`](Self::with_state), after which the builder is a `StompBuilder<()>`.
#[must_use]
pub struct StompBuilder<S = ()> {
    engine: EngineBuilder,
    config: TransportConfig,
    principal_resolver: Option<PrincipalResolver>,
    routes: AppRouterBuilder<S>,
    has_routes: bool,
    stated: Option<Result<StatedRoutes, BuildError>>,
    custom_app: bool,
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

/// The handlers and their state after `with_state`, built into the router at `build` (so
/// settings given after `with_state`, such as the error policy, still apply).
type StatedRoutes = Box<dyn FnOnce(AppErrorPolicy) -> Result<AppRouter, RouteError> + Send>;

impl<S> std::fmt::Debug for StompBuilder<S> {
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
    /// Handlers were added both before and after `with_state`, or next to a custom
    /// [`app`](StompBuilder::app) dispatcher.
    #[error("handlers were given in two places (before and after with_state, or beside app())")]
    TwoApplications,
}

impl<S: Clone + Send + Sync + 'static> StompBuilder<S> {
    pub(crate) fn new() -> Self {
        StompBuilder {
            engine: EngineBuilder::default(),
            config: TransportConfig::default(),
            principal_resolver: None,
            routes: AppRouterBuilder::new(),
            has_routes: false,
            stated: None,
            custom_app: false,
            simple_prefixes: None,
            queue_prefixes: vec!["/queue".to_owned()],
            #[cfg(feature = "durable")]
            durable: None,
            #[cfg(feature = "durable")]
            simple_data_dir: None,
            error_policy: AppErrorPolicy::default(),
        }
    }

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

    /// Gives the handlers their state (what `State<T>` extracts, `T: FromRef<S>`).
    pub fn with_state(self, state: S) -> StompBuilder<()> {
        let stated = if self.stated.is_some() {
            Some(Err(BuildError::TwoApplications))
        } else {
            let routes = self.routes;
            let deferred: StatedRoutes =
                Box::new(move |policy| routes.error_policy(policy).build_with_state(state));
            Some(Ok(deferred))
        };
        StompBuilder {
            engine: self.engine,
            config: self.config,
            principal_resolver: self.principal_resolver,
            routes: AppRouterBuilder::new(),
            has_routes: false,
            stated,
            custom_app: self.custom_app,
            simple_prefixes: self.simple_prefixes,
            queue_prefixes: self.queue_prefixes,
            #[cfg(feature = "durable")]
            durable: self.durable,
            #[cfg(feature = "durable")]
            simple_data_dir: self.simple_data_dir,
            error_policy: self.error_policy,
        }
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
        self.simple_prefixes = Some(prefixes.into_iter().map(Into::into).collect());
        #[cfg(feature = "durable")]
        {
            self.simple_data_dir = None;
            self.durable = None;
        }
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

    /// Uses a [`SimpleBroker`] with this configuration. With a
    /// [data directory](SimpleBrokerConfig::data_dir) (feature `durable`) the broker keeps
    /// persistent queue messages on disk; its store is opened by
    /// [`try_build`](StompBuilder::try_build), which returns [`BuildError::Durable`] when it
    /// cannot be.
    pub fn simple_broker_config(mut self, config: SimpleBrokerConfig) -> Self {
        self.simple_prefixes = None;
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

    /// Uses this broker (a relay, a backplane, a custom one).
    pub fn broker(mut self, broker: impl Broker) -> Self {
        self.simple_prefixes = None;
        #[cfg(feature = "durable")]
        {
            self.durable = None;
        }
        self.engine = self.engine.broker(broker);
        self
    }

    /// Scales out over a backplane: uses `broker` and shares its user destinations with
    /// the engine (so user destinations sent on another instance resolve here). A custom
    /// user destination prefix belongs on the `UserDestinations` given to
    /// `BackplaneBroker::new`, which resolves forwarded messages with it.
    pub fn backplane(mut self, broker: BackplaneBroker) -> Self {
        let users = broker.user_destinations().clone();
        self.simple_prefixes = None;
        self.engine = self.engine.user_destinations(users).broker(broker);
        self
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

    /// Any other engine setting: `builder.engine(|e| e.server_name("chat/1.0"))`.
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

    /// WebSocket read buffer per connection (default 4 KiB).
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

    /// How long a graceful shutdown waits for connections to close (default 10 s).
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
        self.principal_resolver = Some(PrincipalResolver::from_fn(resolve));
        self
    }

    /// Takes the session's principal with an axum extractor: `E` runs on the upgrade
    /// request, its value converts into `Option<Principal>`, and its rejection is the
    /// refused handshake's response.
    pub fn handshake_extractor<E>(mut self) -> Self
    where
        E: FromRequestParts<()> + Into<Option<Principal>> + Send + 'static,
    {
        self.principal_resolver = Some(PrincipalResolver::from_extractor::<E>());
        self
    }

    /// As [`handshake_extractor`](Self::handshake_extractor), with the application's
    /// state: `E: FromRequestParts<T>` runs with `state` as axum runs a handler's
    /// extractors, so it can use `State<_>` parts of it (`FromRef`), e.g. a session
    /// store. See [`crate::auth`].
    pub fn handshake_extractor_with_state<E, T>(mut self, state: T) -> Self
    where
        E: FromRequestParts<T> + Into<Option<Principal>> + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.principal_resolver = Some(PrincipalResolver::from_extractor_with_state::<E, T>(state));
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

impl StompBuilder<()> {
    /// Builds the endpoint.
    ///
    /// # Panics
    /// If the handlers' routes are invalid (a configuration mistake found at startup, as
    /// axum does for conflicting routes); [`try_build`](Self::try_build) returns it instead.
    pub fn build(self) -> Stomp {
        match self.try_build() {
            Ok(stomp) => stomp,
            Err(error) => panic!("{error}"),
        }
    }

    /// Builds the endpoint, or says why the handlers' routes are invalid.
    pub fn try_build(self) -> Result<Stomp, BuildError> {
        let (engine, config, resolver) = self.into_engine()?;
        Ok(Stomp::from_endpoint(Endpoint::new(
            engine.build(),
            config,
            resolver,
        )))
    }

    fn into_engine(
        self,
    ) -> Result<(EngineBuilder, TransportConfig, Option<PrincipalResolver>), BuildError> {
        let policy = self.error_policy;
        let router = match (self.stated, self.has_routes) {
            (Some(_), true) => return Err(BuildError::TwoApplications),
            (Some(stated), false) => Some(stated?(policy)?),
            (None, true) => Some(self.routes.error_policy(policy).build()?),
            (None, false) => None,
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
        if let Some(router) = router {
            if self.custom_app {
                return Err(BuildError::TwoApplications);
            }
            engine = engine.app(router);
        }
        Ok((engine, self.config, self.principal_resolver))
    }
}

impl Stomp {
    /// Starts building an endpoint. The application state type `S` is inferred from
    /// [`StompBuilder::with_state`] (`()` when there is none).
    pub fn builder<S>() -> StompBuilder<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        StompBuilder::new()
    }
}
