//! [`Stomp`]: one STOMP endpoint (an engine plus its WebSocket transport) and its builder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::any;
use axum::Router;
use stomp_core::session::Principal;

use crate::backend::Backend;
use crate::config::TransportConfig;
use crate::endpoint;
use crate::handshake::{HandshakeRejection, PrincipalResolver};
use crate::layer::StompLayer;
use crate::origin::AllowedOrigins;
use crate::stats::{Tracker, TransportStats};

/// A STOMP endpoint: the engine (sessions, broker, handlers) and its WebSocket transport.
/// Cheap to clone; clones share everything.
///
/// Mount it with [`Stomp::layer`] (a tower layer on any app) or [`Stomp::router`] (an
/// axum `Router` to merge or nest). Several `Stomp`s in one app are independent.
#[derive(Clone)]
pub struct Stomp {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) principal_resolver: Option<PrincipalResolver>,
    pub(crate) tracker: Tracker,
}

impl std::fmt::Debug for Stomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stomp")
            .field("config", &self.inner.config)
            .field("stats", &self.transport_stats())
            .finish_non_exhaustive()
    }
}

impl Stomp {
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// A tower layer that serves the endpoint at `path` and passes every other request on:
    /// `Router::new().route("/", get(index)).layer(stomp.layer("/ws"))`.
    pub fn layer(&self, path: &str) -> StompLayer {
        StompLayer::new(self.clone(), path)
    }

    /// An axum router with the endpoint at `path`, to `merge` or `nest` into an app.
    pub fn router<S>(&self, path: &str) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let stomp = self.clone();
        Router::new().route(
            path,
            any(move |request: Request| endpoint::handle(stomp.clone(), request)),
        )
    }

    /// The transport counters: connections, refused handshakes, limit breaches.
    pub fn transport_stats(&self) -> TransportStats {
        self.inner.tracker.snapshot()
    }

    /// The transport settings in force.
    pub fn transport_config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Shuts the endpoint down: refuses new connections, ends every session (ERROR
    /// "server shutting down" after pending receipts, then WebSocket close 1001) and waits,
    /// at most [`TransportConfig::shutdown_timeout`], for the connections to close.
    /// Returns whether they all did.
    pub async fn shutdown(&self) -> bool {
        self.inner.tracker.start_shutdown();
        self.inner.backend.shutdown().await;
        let closed = self
            .inner
            .tracker
            .wait_idle(self.inner.config.shutdown_timeout)
            .await;
        if !closed {
            tracing::warn!(
                open = self.transport_stats().connections_current,
                "connections still open after the shutdown timeout"
            );
        }
        closed
    }

    /// Wraps a shutdown signal for `axum::serve(..).with_graceful_shutdown(..)`: when
    /// `signal` completes, the endpoint shuts down ([`Stomp::shutdown`]) and only then does
    /// the returned future complete, so `serve` stops accepting and returns promptly (the
    /// upgraded connections are already closed; axum does not wait for them itself).
    pub fn shutdown_signal<F>(&self, signal: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stomp = self.clone();
        async move {
            signal.await;
            tracing::info!("shutdown signal: closing STOMP sessions");
            stomp.shutdown().await;
        }
    }
}

/// Builds a [`Stomp`]: engine settings (destination prefixes, broker, handlers) and
/// transport settings (origins, handshake principal, limits).
#[derive(Default)]
#[must_use]
pub struct StompBuilder {
    pub(crate) config: TransportConfig,
    pub(crate) principal_resolver: Option<PrincipalResolver>,
}

impl std::fmt::Debug for StompBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StompBuilder {
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
    pub fn allow_origins<I, S>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins(AllowedOrigins::list(origins))
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
    /// use stomp_axum::{HandshakeRejection, Stomp};
    /// use stomp_axum::core::session::Principal;
    ///
    /// let builder = Stomp::builder().handshake_principal(|parts: axum::http::request::Parts| async move {
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

    pub(crate) fn build_with_backend(self, backend: Arc<dyn Backend>) -> Stomp {
        Stomp {
            inner: Arc::new(Inner {
                backend,
                config: Arc::new(self.config),
                principal_resolver: self.principal_resolver,
                tracker: Tracker::default(),
            }),
        }
    }
}

impl Stomp {
    /// Starts building an endpoint.
    pub fn builder() -> StompBuilder {
        StompBuilder::default()
    }
}
