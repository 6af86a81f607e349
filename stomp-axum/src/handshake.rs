//! Taking the principal from the WebSocket upgrade request.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stomp_core::identity::Principal;

/// A refused handshake: the HTTP status (usually 401 or 403) and a short text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRejection {
    status: StatusCode,
    message: Cow<'static, str>,
}

impl HandshakeRejection {
    /// A rejection with any status.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        HandshakeRejection {
            status,
            message: message.into(),
        }
    }

    /// HTTP 401: no or bad credentials.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// HTTP 403: known but not allowed.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// The HTTP status sent.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The text sent as the body.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for HandshakeRejection {
    fn into_response(self) -> Response {
        (self.status, self.message.into_owned()).into_response()
    }
}

type PrincipalFuture = Pin<Box<dyn Future<Output = Result<Option<Principal>, Response>> + Send>>;

/// Resolves the principal of an upgrade request (a clone of its head).
#[derive(Clone)]
pub(crate) struct PrincipalResolver(Arc<dyn Fn(Parts) -> PrincipalFuture + Send + Sync>);

impl std::fmt::Debug for PrincipalResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrincipalResolver")
    }
}

impl PrincipalResolver {
    /// From an async function of the request head.
    pub(crate) fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn(Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Principal>, HandshakeRejection>> + Send + 'static,
    {
        PrincipalResolver(Arc::new(move |parts| {
            let fut = f(parts);
            Box::pin(async move { fut.await.map_err(IntoResponse::into_response) })
        }))
    }

    /// From an axum extractor whose value converts to an optional principal (its rejection
    /// is the refused handshake's response), running with `state` (as
    /// axum runs a handler's extractors with the router's state: `State<T>` and `FromRef`
    /// parts of it, a session store, a key).
    pub(crate) fn from_extractor_with_state<E, T>(state: T) -> Self
    where
        E: FromRequestParts<T> + Into<Option<Principal>> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let state = Arc::new(state);
        PrincipalResolver(Arc::new(move |mut parts: Parts| {
            let state = Arc::clone(&state);
            Box::pin(async move {
                E::from_request_parts(&mut parts, &state)
                    .await
                    .map(Into::into)
                    .map_err(IntoResponse::into_response)
            })
        }))
    }

    pub(crate) async fn resolve(&self, parts: Parts) -> Result<Option<Principal>, Response> {
        (self.0)(parts).await
    }
}
