//! The INBOUND channel's extension points: the CONNECT [`Authenticator`] and the
//! [`InboundInterceptor`] chain that sees every client frame before the session acts on it.
//! An async closure is either one through [`authenticator_fn`] / [`inbound_fn`].

mod closure;

use std::net::SocketAddr;

use crate::frame::{Frame, Headers};
use crate::identity::{Principal, SessionId, SessionInfo};
use futures_util::future::BoxFuture;

pub use closure::{authenticator_fn, inbound_fn, AuthenticatorFn, InboundFn};

/// Why an interceptor or the authenticator refused a frame; it becomes the ERROR frame
/// (`message` header, `detail` body) and the session closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The short text for the ERROR frame's `message` header.
    pub message: String,
    /// The longer detail for the ERROR body (may be empty).
    pub detail: String,
}

impl Rejection {
    /// A rejection with a message and no detail.
    pub fn new(message: impl Into<String>) -> Self {
        Rejection {
            message: message.into(),
            detail: String::new(),
        }
    }

    /// Builder: the detail text.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// What an [`Authenticator`] sees of a CONNECT.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The session being opened.
    pub session: SessionId,
    /// Every header of the CONNECT (or STOMP) frame, after the interceptors ran.
    pub headers: Headers,
    /// The principal the transport established (e.g. from the WebSocket handshake).
    pub transport_principal: Option<Principal>,
    /// The peer's address, when the transport knows it.
    pub remote_addr: Option<SocketAddr>,
}

impl ConnectRequest {
    /// The CONNECT `login` header.
    pub fn login(&self) -> Option<&str> {
        self.headers.get(crate::frame::name::LOGIN)
    }

    /// The CONNECT `passcode` header.
    pub fn passcode(&self) -> Option<&str> {
        self.headers.get(crate::frame::name::PASSCODE)
    }
}

/// Decides who a connecting client is.
///
/// Returns the session's principal (`None`: anonymous) or a [`Rejection`], which the client
/// receives as an ERROR frame before the connection closes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `Authenticator`",
    note = "implement `fn authenticate(&self, ConnectRequest) -> BoxFuture<'static, Result<Option<Principal>, Rejection>>`",
    note = "return `Box::pin(async move {{ .. }})`; move what the future needs out of the request first",
    note = "or wrap an async closure: `authenticator_fn(|connect: ConnectRequest| async move {{ .. }})`"
)]
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticates one CONNECT.
    fn authenticate(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Option<Principal>, Rejection>>;
}

/// The default authenticator: the session's principal is the one the transport
/// established (e.g. from the WebSocket handshake), if any; otherwise the session is
/// anonymous. It never refuses, and never takes an identity from the CONNECT `login` /
/// `passcode` headers (as Spring): install an [`Authenticator`] that checks credentials, or,
/// for demos only, [`InsecureLoginAuthenticator`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultAuthenticator;

impl Authenticator for DefaultAuthenticator {
    fn authenticate(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Option<Principal>, Rejection>> {
        let principal = request.transport_principal;
        Box::pin(async move { Ok(principal) })
    }
}

/// **For demos and tests only: anyone can log in as anyone.** Keeps the transport's
/// principal; without one, takes the CONNECT `login` (when present and not empty) as the
/// principal's name *without checking anything* (`passcode` is ignored), so a client that
/// sends `login:admin` is `admin` and receives `/user/admin/...`. Otherwise the session is
/// anonymous.
///
/// Install it explicitly (`EngineBuilder::authenticator(InsecureLoginAuthenticator)`) when
/// generic STOMP clients need a user name and nothing is at stake, as in the chat example.
/// Real applications authenticate in the WebSocket handshake or check credentials in their
/// own [`Authenticator`].
#[derive(Debug, Clone, Copy, Default)]
pub struct InsecureLoginAuthenticator;

impl Authenticator for InsecureLoginAuthenticator {
    fn authenticate(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Option<Principal>, Rejection>> {
        let principal = request.transport_principal.clone().or_else(|| {
            request
                .login()
                .filter(|login| !login.is_empty())
                .map(Principal::new)
        });
        Box::pin(async move { Ok(principal) })
    }
}

/// Sees every client frame, in order, before the session acts on it; interceptors run in
/// the order they were added to the engine.
///
/// Return the frame (as is, or modified) to pass it on, or a [`Rejection`] to refuse it:
/// the client then gets an ERROR frame and the session closes (a refused CONNECT is a
/// refused connection). Before CONNECT completes, `session.principal` is the transport's
/// principal and `session.version` the highest version the engine could negotiate.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `InboundInterceptor`",
    note = "implement `fn intercept<'a>(&'a self, Frame, &'a SessionInfo) -> BoxFuture<'a, Result<Frame, Rejection>>`",
    note = "or wrap an async closure: `inbound_fn(|frame: Frame, session: SessionInfo| async move {{ .. }})`"
)]
pub trait InboundInterceptor: Send + Sync + 'static {
    /// Inspects, modifies or rejects one frame.
    fn intercept<'a>(
        &'a self,
        frame: Frame,
        session: &'a SessionInfo,
    ) -> BoxFuture<'a, Result<Frame, Rejection>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(principal: Option<&str>, login: Option<&str>) -> ConnectRequest {
        let mut headers = Headers::new();
        if let Some(login) = login {
            headers.append("login", login);
        }
        ConnectRequest {
            session: SessionId::from("s"),
            headers,
            transport_principal: principal.map(Principal::new),
            remote_addr: None,
        }
    }

    async fn name(
        auth: &dyn Authenticator,
        transport: Option<&str>,
        login: Option<&str>,
    ) -> Option<String> {
        auth.authenticate(request(transport, login))
            .await
            .unwrap()
            .map(|p| p.name().to_owned())
    }

    #[tokio::test]
    async fn default_authenticator_never_takes_identity_from_login() {
        let cases = [
            (Some("web"), Some("bob"), Some("web")),
            (None, Some("admin"), None),
            (None, Some(""), None),
            (None, None, None),
        ];
        for (transport, login, expected) in cases {
            let got = name(&DefaultAuthenticator, transport, login).await;
            assert_eq!(got.as_deref(), expected, "{transport:?} {login:?}");
        }
    }

    #[tokio::test]
    async fn insecure_login_authenticator_prefers_transport_then_login_then_anonymous() {
        let cases = [
            (Some("web"), Some("bob"), Some("web")),
            (None, Some("bob"), Some("bob")),
            (None, Some(""), None),
            (None, None, None),
        ];
        for (transport, login, expected) in cases {
            let got = name(&InsecureLoginAuthenticator, transport, login).await;
            assert_eq!(got.as_deref(), expected, "{transport:?} {login:?}");
        }
    }
}
