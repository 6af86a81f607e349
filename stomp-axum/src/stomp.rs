//! [`Stomp`]: one STOMP endpoint (an engine plus its WebSocket transport) and its builder.

use std::future::Future;
use std::sync::Arc;

use axum::extract::Request;
use axum::routing::any;
use axum::Router;
use stomp_core::engine::{Engine, EngineStats, SessionSnapshot};
use stomp_core::events::SessionEvent;
use stomp_core::identity::SessionId;
use stomp_core::template::MessagingTemplate;
use tokio::sync::broadcast;

use crate::config::TransportConfig;
use crate::endpoint::{self, Endpoint};
use crate::layer::StompLayer;
use crate::stats::TransportStats;

/// A STOMP endpoint: the engine (sessions, broker, handlers) and its WebSocket transport.
/// Cheap to clone; clones share everything.
///
/// Mount it with [`Stomp::layer`] (a tower layer on any app) or [`Stomp::router`] (an
/// axum `Router` to merge or nest). Several `Stomp`s in one app are independent.
#[derive(Debug, Clone)]
pub struct Stomp {
    inner: Arc<Endpoint>,
}

impl Stomp {
    /// A `Stomp` serving `endpoint` (made by the builder).
    pub(crate) fn from_endpoint(endpoint: Arc<Endpoint>) -> Stomp {
        Stomp { inner: endpoint }
    }

    /// A tower layer that serves the endpoint at `path` and passes every other request on:
    /// `Router::new().route("/", get(index)).layer(stomp.layer("/ws"))`.
    pub fn layer(&self, path: &str) -> StompLayer {
        StompLayer::new(self.inner.clone(), path)
    }

    /// An axum router with the endpoint at `path`, to `merge` or `nest` into an app.
    pub fn router<S>(&self, path: &str) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let endpoint = self.inner.clone();
        Router::new().route(
            path,
            any(move |request: Request| endpoint::handle(endpoint.clone(), request)),
        )
    }

    /// The engine behind the endpoint (sessions, broker, application).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// A messaging template publishing through this endpoint's broker channel.
    pub fn template(&self) -> MessagingTemplate {
        self.engine().template()
    }

    /// Engine and transport counters.
    pub fn stats(&self) -> StompStats {
        StompStats {
            engine: self.engine().stats(),
            transport: self.transport_stats(),
        }
    }

    /// Session lifecycle events (connected, disconnected, subscribed, ...).
    pub fn subscribe_events(&self) -> broadcast::Receiver<SessionEvent> {
        self.engine().subscribe_events()
    }

    /// The sessions open now.
    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        self.engine().sessions()
    }

    /// Closes one session with `reason` (ERROR frame, then WebSocket close 1000); `false`
    /// if no such session is open.
    pub fn close_session(&self, id: &SessionId, reason: impl Into<String>) -> bool {
        self.engine().close_session(id, reason)
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
    /// "server shutting down" after pending receipts, then WebSocket close 1001; sessions
    /// busy with a frame get at most [`StompBuilder::drain_timeout`](crate::StompBuilder::drain_timeout)) and waits, at most
    /// [`TransportConfig::shutdown_timeout`], for the connections to close.
    /// Returns whether they all did.
    pub async fn shutdown(&self) -> bool {
        self.inner.tracker.start_shutdown();
        self.inner.engine.shutdown().await;
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

/// Engine and transport counters of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StompStats {
    /// Sessions, subscriptions, frames, errors, and the memory budget's usage
    /// (`memory_used`, `memory_sessions`, `memory_total`).
    pub engine: EngineStats,
    /// Connections, refused handshakes, limit breaches.
    pub transport: TransportStats,
}
