//! One endpoint's shared state ([`Endpoint`]) and its upgrade request: origin check,
//! connection limit, handshake principal, subprotocol negotiation, then the connection's
//! task. [`Stomp`](crate::Stomp), its layer and its router all hold the same `Endpoint`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use stomp_core::Version;
use tracing::Instrument;

use stomp_core::engine::{Engine, TransportInfo};

use crate::config::TransportConfig;
use crate::handshake::PrincipalResolver;
use crate::socket::{self, SocketContext};
use crate::stats::{AdmitError, Tracker};
use crate::upgrade::{self, Upgrade};

/// Everything one endpoint shares: the engine, the transport settings, the handshake's
/// principal resolver and the connection tracker.
pub(crate) struct Endpoint {
    pub(crate) engine: Engine,
    /// The WebSocket subprotocols offered: those of the engine's versions, newest first.
    subprotocols: Vec<&'static str>,
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) principal_resolver: Option<PrincipalResolver>,
    pub(crate) tracker: Tracker,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("config", &self.config)
            .field("stats", &self.tracker.snapshot())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub(crate) fn new(
        engine: Engine,
        config: TransportConfig,
        principal_resolver: Option<PrincipalResolver>,
    ) -> Arc<Endpoint> {
        let subprotocols = engine
            .versions()
            .iter()
            .rev()
            .map(|v| v.subprotocol())
            .collect();
        Arc::new(Endpoint {
            engine,
            subprotocols,
            config: Arc::new(config),
            principal_resolver,
            tracker: Tracker::default(),
        })
    }
}

/// Answers one upgrade request to this endpoint's path.
pub(crate) async fn handle(endpoint: Arc<Endpoint>, request: Request) -> Response {
    let inner = &*endpoint;
    let config = &inner.config;
    let (mut parts, _body) = request.into_parts();

    let origin = parts.headers.get(header::ORIGIN);
    if !config.allowed_origins.allows(
        origin,
        parts.headers.get(header::HOST),
        &config.allowed_hosts,
    ) {
        inner.tracker.refused();
        let host = parts.headers.get(header::HOST);
        tracing::warn!(
            ?origin,
            ?host,
            "WebSocket handshake refused: origin not allowed"
        );
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }

    let upgrade = match Upgrade::from_parts(&mut parts) {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };

    let guard = match inner.tracker.admit(config.max_connections) {
        Ok(guard) => guard,
        Err(error) => {
            inner.tracker.refused();
            let why = match error {
                AdmitError::TooMany => "too many connections",
                AdmitError::ShuttingDown => "server shutting down",
            };
            tracing::warn!(reason = why, "WebSocket handshake refused");
            return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
        }
    };

    let principal = match &inner.principal_resolver {
        None => None,
        Some(resolver) => match resolver.resolve(parts.clone()).await {
            Ok(principal) => principal,
            Err(response) => {
                inner.tracker.refused();
                tracing::info!(status = %response.status(), "WebSocket handshake refused by the principal resolver");
                return response;
            }
        },
    };
    let remote_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);

    let protocol = upgrade::select_protocol(&parts.headers, &inner.subprotocols);
    let subprotocol = protocol.and_then(Version::from_subprotocol);

    let ctx = SocketContext {
        config: inner.config.clone(),
        tracker: inner.tracker.clone(),
    };
    let engine = inner.engine.clone();
    upgrade.on_upgrade(protocol, config, move |ws| {
        ctx.tracker.connection_opened();
        let span_principal = principal.as_ref().map(|p| p.name().to_owned());
        let (session, outbound) = engine.open_session(TransportInfo {
            principal,
            remote_addr,
            subprotocol,
        });
        let span = tracing::info_span!(
            "stomp_session",
            session = %session.id(),
            principal = span_principal.as_deref().unwrap_or(""),
            remote = ?remote_addr,
            subprotocol = subprotocol.map(Version::subprotocol).unwrap_or(""),
        );
        // The connection's future is returned without an `async` block around it (so
        // the session and the socket are stored once) and boxed, for the same reason as
        // the connection's task in `serve`: the upgrade's task holds a pointer, not
        // the whole session's state, and spawning does not copy it.
        Box::pin(socket::run(ws.split(), session, outbound, ctx, guard).instrument(span))
    })
}
