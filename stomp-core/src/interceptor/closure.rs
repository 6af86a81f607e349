//! Closures as an [`Authenticator`] or an [`InboundInterceptor`]: [`authenticator_fn`] and
//! [`inbound_fn`] wrap an async closure, as tower's `service_fn` wraps one as a `Service`.

use std::fmt;
use std::future::Future;

use futures_util::future::BoxFuture;

use super::{Authenticator, ConnectRequest, InboundInterceptor, Rejection};
use crate::frame::Frame;
use crate::identity::{Principal, SessionInfo};

/// An [`Authenticator`] made of an async closure; see [`authenticator_fn`].
#[derive(Clone, Copy)]
pub struct AuthenticatorFn<F> {
    f: F,
}

impl<F> fmt::Debug for AuthenticatorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorFn")
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}

/// An [`Authenticator`] from an async closure of the [`ConnectRequest`].
///
/// The closure's future answers `Ok(principal)` (a [`Principal`], or an
/// `Option<Principal>` where `None` keeps the session anonymous) or `Err(Rejection)`, which
/// the client receives as an ERROR frame before the connection closes. The future must own
/// what it uses (`async move`), so take what it needs out of the request first.
///
/// ```
/// use stomp_core::engine::Engine;
/// use stomp_core::identity::Principal;
/// use stomp_core::interceptor::{authenticator_fn, ConnectRequest, Rejection};
///
/// let engine = Engine::builder()
///     .authenticator(authenticator_fn(|connect: ConnectRequest| async move {
///         match (connect.login(), connect.passcode()) {
///             (Some("ann"), Some("secret")) => Ok(Principal::new("ann").with_roles(["admin"])),
///             _ => Err(Rejection::new("bad credentials")),
///         }
///     }))
///     .build();
/// # let _ = engine;
/// ```
pub fn authenticator_fn<F, Fut, P>(f: F) -> AuthenticatorFn<F>
where
    F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<P, Rejection>> + Send + 'static,
    P: Into<Option<Principal>>,
{
    AuthenticatorFn { f }
}

impl<F, Fut, P> Authenticator for AuthenticatorFn<F>
where
    F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<P, Rejection>> + Send + 'static,
    P: Into<Option<Principal>>,
{
    fn authenticate(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Option<Principal>, Rejection>> {
        let fut = (self.f)(request);
        Box::pin(async move { fut.await.map(Into::into) })
    }
}

/// An [`InboundInterceptor`] made of an async closure; see [`inbound_fn`].
#[derive(Clone, Copy)]
pub struct InboundFn<F> {
    f: F,
}

impl<F> fmt::Debug for InboundFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundFn")
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}

/// An [`InboundInterceptor`] from an async closure of the frame and the session.
///
/// The closure gets the frame and a clone of the session's [`SessionInfo`] (cheap: shared
/// handles) so its future can own both; it answers the frame to pass on (as is or
/// modified) or a [`Rejection`], which ends the session with an ERROR frame.
///
/// ```
/// use stomp_core::engine::Engine;
/// use stomp_core::identity::SessionInfo;
/// use stomp_core::interceptor::{inbound_fn, Rejection};
/// use stomp_core::{Command, Frame};
///
/// let engine = Engine::builder()
///     // Only authenticated users may SEND; every SEND is tagged with its author.
///     .inbound_interceptor(inbound_fn(|frame: Frame, session: SessionInfo| async move {
///         if frame.command != Command::Send {
///             return Ok(frame);
///         }
///         match &session.principal {
///             Some(user) => Ok(frame.header("x-author", user.name())),
///             None => Err(Rejection::new("log in to send")),
///         }
///     }))
///     .build();
/// # let _ = engine;
/// ```
pub fn inbound_fn<F, Fut>(f: F) -> InboundFn<F>
where
    F: Fn(Frame, SessionInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Frame, Rejection>> + Send + 'static,
{
    InboundFn { f }
}

impl<F, Fut> InboundInterceptor for InboundFn<F>
where
    F: Fn(Frame, SessionInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Frame, Rejection>> + Send + 'static,
{
    fn intercept<'a>(
        &'a self,
        frame: Frame,
        session: &'a SessionInfo,
    ) -> BoxFuture<'a, Result<Frame, Rejection>> {
        Box::pin((self.f)(frame, session.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Command, Headers};
    use crate::identity::{Attributes, SessionId};
    use crate::version::Version;

    fn connect(login: Option<&str>) -> ConnectRequest {
        let mut headers = Headers::new();
        if let Some(login) = login {
            headers.append("login", login);
        }
        ConnectRequest {
            session: SessionId::from("s"),
            headers,
            transport_principal: None,
            remote_addr: None,
        }
    }

    #[tokio::test]
    async fn authenticator_fn_maps_principal_option_and_rejection() {
        let auth = authenticator_fn(|c: ConnectRequest| async move {
            match c.login() {
                Some("ann") => Ok(Some(Principal::new("ann"))),
                Some(_) => Err(Rejection::new("who?")),
                None => Ok(None),
            }
        });
        let ann = auth.authenticate(connect(Some("ann"))).await;
        assert_eq!(
            ann.unwrap().map(|p| p.name().to_owned()).as_deref(),
            Some("ann")
        );
        assert_eq!(auth.authenticate(connect(None)).await, Ok(None));
        assert_eq!(
            auth.authenticate(connect(Some("eve"))).await,
            Err(Rejection::new("who?"))
        );

        let always = authenticator_fn(|_| async { Ok(Principal::new("bob")) });
        let bob = always.authenticate(connect(None)).await.unwrap();
        assert_eq!(bob.map(|p| p.name().to_owned()).as_deref(), Some("bob"));
    }

    #[tokio::test]
    async fn inbound_fn_passes_modifies_or_rejects() {
        let interceptor = inbound_fn(|frame: Frame, session: SessionInfo| async move {
            match frame.command {
                Command::Send => Ok(frame.header("x-session", session.id.as_str())),
                Command::Subscribe => Err(Rejection::new("no subscriptions")),
                _ => Ok(frame),
            }
        });
        let session = SessionInfo {
            id: SessionId::from("s-1"),
            principal: None,
            version: Version::V1_2,
            attributes: Attributes::default(),
        };
        let sent = interceptor
            .intercept(Frame::new(Command::Send), &session)
            .await
            .unwrap();
        assert_eq!(sent.headers.get("x-session"), Some("s-1"));
        let refused = interceptor
            .intercept(Frame::new(Command::Subscribe), &session)
            .await;
        assert_eq!(refused, Err(Rejection::new("no subscriptions")));
        let ack = interceptor
            .intercept(Frame::new(Command::Ack), &session)
            .await
            .unwrap();
        assert_eq!(ack.command, Command::Ack);
    }
}
