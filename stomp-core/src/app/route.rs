//! Routes: a handler, what kind of frame it answers, and where its replies go.

use std::any::TypeId;
use std::sync::Arc;

use super::handler::{boxed, BoxedHandler, ExceptionHandler, Handler};
use super::reply::{HandlerError, Reply};
use super::{AppError, MessageContext};
use futures_util::future::BoxFuture;

/// Which frames a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteKind {
    /// SENDs (`message_mapping`).
    Message,
    /// SUBSCRIBEs (`subscribe_mapping`).
    Subscribe,
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteKind::Message => "message_mapping",
            RouteKind::Subscribe => "subscribe_mapping",
        })
    }
}

/// Where replies go (`send_to` / `send_to_user`); empty means the default.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTarget {
    pub(crate) send_to: Vec<Arc<str>>,
    pub(crate) send_to_user: Vec<Arc<str>>,
    pub(crate) broadcast: bool,
}

impl Default for ReplyTarget {
    fn default() -> Self {
        ReplyTarget {
            send_to: Vec::new(),
            send_to_user: Vec::new(),
            broadcast: true,
        }
    }
}

impl ReplyTarget {
    pub(crate) fn is_default(&self) -> bool {
        self.send_to.is_empty() && self.send_to_user.is_empty()
    }
}

macro_rules! target_builders {
    () => {
        /// Builder: also send replies to `destination` (a broker destination such as
        /// `/topic/chat/{room}`; `{var}` placeholders are filled from the destination
        /// variables). Replaces the default destination; may be given several times.
        #[must_use]
        pub fn send_to(mut self, destination: impl Into<Arc<str>>) -> Self {
            self.target.send_to.push(destination.into());
            self
        }

        /// Builder: also send replies to the calling user's `destination` (e.g.
        /// `/queue/reply`, received on `/user/queue/reply`): to every session of the user,
        /// or only the calling session after [`broadcast(false)`](Self::broadcast) or when
        /// the session has no principal. Placeholders as for `send_to`.
        #[must_use]
        pub fn send_to_user(mut self, destination: impl Into<Arc<str>>) -> Self {
            self.target.send_to_user.push(destination.into());
            self
        }

        /// Builder: whether `send_to_user` replies reach all the user's sessions (`true`,
        /// the default) or only the calling one.
        #[must_use]
        pub fn broadcast(mut self, broadcast: bool) -> Self {
            self.target.broadcast = broadcast;
            self
        }
    };
}

/// A handler ready to be mounted at a path with
/// [`AppRouterBuilder::route`](super::AppRouterBuilder::route).
pub struct Route<S> {
    pub(crate) kind: RouteKind,
    pub(crate) handler: BoxedHandler<S>,
    pub(crate) target: ReplyTarget,
}

impl<S> std::fmt::Debug for Route<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("kind", &self.kind)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl<S> Route<S> {
    /// Which frames the route answers.
    pub fn kind(&self) -> RouteKind {
        self.kind
    }

    target_builders!();
}

/// A route answering SENDs with `handler` (Spring's `@MessageMapping`). Replies go to
/// `/topic` + the destination (without the application prefix) unless `send_to` /
/// `send_to_user` say otherwise.
pub fn on_message<H, T, S>(handler: H) -> Route<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Send + Sync + 'static,
{
    Route {
        kind: RouteKind::Message,
        handler: boxed(handler),
        target: ReplyTarget::default(),
    }
}

/// A route answering SUBSCRIBEs with `handler` (Spring's `@SubscribeMapping`). The reply
/// goes straight back to the subscriber, as a MESSAGE on its subscription, unless
/// `send_to` / `send_to_user` say otherwise.
pub fn on_subscribe<H, T, S>(handler: H) -> Route<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Send + Sync + 'static,
{
    Route {
        kind: RouteKind::Subscribe,
        handler: boxed(handler),
        target: ReplyTarget::default(),
    }
}

type BoxedException<S> = Arc<
    dyn Fn(HandlerError, Arc<MessageContext>, S) -> BoxFuture<'static, Result<Reply, AppError>>
        + Send
        + Sync,
>;

/// An exception handler ready to be registered (globally, or in a controller).
pub struct ExceptionRoute<S> {
    pub(crate) error_type: TypeId,
    pub(crate) error_name: &'static str,
    pub(crate) handler: BoxedException<S>,
    pub(crate) target: ReplyTarget,
}

impl<S> Clone for ExceptionRoute<S> {
    fn clone(&self) -> Self {
        ExceptionRoute {
            error_type: self.error_type,
            error_name: self.error_name,
            handler: self.handler.clone(),
            target: self.target.clone(),
        }
    }
}

impl<S> std::fmt::Debug for ExceptionRoute<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionRoute")
            .field("error", &self.error_name)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl<S> ExceptionRoute<S> {
    /// The name of the error type handled.
    pub fn error_type_name(&self) -> &'static str {
        self.error_name
    }

    target_builders!();
}

/// An exception handler for the errors of type `E` (the fn's first argument) that
/// handlers return as `Err(E)` (Spring's `@MessageExceptionHandler`), and for the
/// router's application errors of that type (an extractor's rejection such as
/// `PayloadRejection`, or [`AppError`] for all of them; see
/// [`AppErrorPolicy`](super::AppErrorPolicy)). Its reply goes to `/topic` + the
/// destination unless `send_to` / `send_to_user` say otherwise; for a destination no
/// route matched, to the calling session's `/user/queue/errors` instead.
pub fn on_exception<H, T, S>(handler: H) -> ExceptionRoute<S>
where
    H: ExceptionHandler<T, S>,
    T: 'static,
    S: Send + Sync + 'static,
{
    let run: BoxedException<S> = Arc::new(move |error: HandlerError, ctx, state| {
        let handler = handler.clone();
        match error.downcast::<H::Error>() {
            Ok(error) => Box::pin(handler.call(error, ctx, state)),
            Err(other) => {
                let text = other.to_string();
                Box::pin(async move { Err(AppError::new("unhandled error", text)) })
            }
        }
    });
    ExceptionRoute {
        error_type: TypeId::of::<H::Error>(),
        error_name: std::any::type_name::<H::Error>(),
        handler: run,
        target: ReplyTarget::default(),
    }
}

/// A handler that knows its own path: what the attribute macros generate for an annotated
/// fn, so `.handler(chat)` mounts it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an annotated STOMP handler",
    note = "annotate the fn with #[message_mapping(\"/path\")] or #[subscribe_mapping(\"/path\")], \
            or mount a plain fn with `.route(\"/path\", on_message(f))`"
)]
pub trait MappedHandler<S> {
    /// The route template and the route.
    fn into_route(self) -> (&'static str, Route<S>);
}

/// An exception handler that the attribute macros generated (`#[message_exception_handler]`),
/// or an [`ExceptionRoute`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a STOMP exception handler",
    note = "annotate the fn with #[message_exception_handler], or register `on_exception(f)`"
)]
pub trait IntoExceptionRoute<S> {
    /// The exception route.
    fn into_exception_route(self) -> ExceptionRoute<S>;
}

impl<S> IntoExceptionRoute<S> for ExceptionRoute<S> {
    fn into_exception_route(self) -> ExceptionRoute<S> {
        self
    }
}

/// The routes of a controller (see [`Controller`]).
pub struct ControllerRoutes<S> {
    pub(crate) routes: Vec<(String, Route<S>)>,
    pub(crate) exception_handlers: Vec<ExceptionRoute<S>>,
}

impl<S> std::fmt::Debug for ControllerRoutes<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerRoutes")
            .field("routes", &self.routes)
            .field("exception_handlers", &self.exception_handlers)
            .finish()
    }
}

impl<S> Default for ControllerRoutes<S> {
    fn default() -> Self {
        ControllerRoutes {
            routes: Vec::new(),
            exception_handlers: Vec::new(),
        }
    }
}

impl<S> ControllerRoutes<S> {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: a route at `path` (already joined with the controller's prefix).
    #[must_use]
    pub fn route(mut self, path: impl Into<String>, route: Route<S>) -> Self {
        self.routes.push((path.into(), route));
        self
    }

    /// Builder: an exception handler for this controller's routes only (tried before the
    /// global ones).
    #[must_use]
    pub fn exception_handler(mut self, handler: ExceptionRoute<S>) -> Self {
        self.exception_handlers.push(handler);
        self
    }
}

/// A group of handlers sharing a value (Spring's `@Controller`): `#[controller("/prefix")]`
/// on an `impl` block implements it; methods taking `&self` see the registered value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a STOMP controller",
    note = "put #[controller] (or #[controller(\"/prefix\")]) on an `impl {Self}` block"
)]
pub trait Controller<S>: Send + Sync + 'static {
    /// The controller's routes; handlers hold the `Arc` to call methods on it.
    fn routes(self: Arc<Self>) -> ControllerRoutes<S>;
}
