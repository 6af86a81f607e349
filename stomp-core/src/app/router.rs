//! [`AppRouter`]: routes application destinations to handlers (implements
//! [`AppDispatch`]).

use std::sync::Arc;

use super::deliver::{deliver, handle_error, Exceptions};
use super::handler::BoxedHandler;
use super::panic::CatchUnwind;
use super::path::{parse_template, placeholders};
use super::reply::HandlerError;
use super::route::{
    Controller, ExceptionRoute, IntoExceptionRoute, MappedHandler, ReplyTarget, Route, RouteKind,
};
use super::{AppDispatch, AppError, AppErrorPolicy, AppRequest, AppRequestKind, MessageContext};
use futures_util::future::BoxFuture;
use tracing::Instrument;

/// Why a router could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// Two routes of the same kind match the same destinations.
    #[error("{kind} route {route:?} conflicts with {with:?}")]
    Conflict {
        /// SEND or SUBSCRIBE routes.
        kind: RouteKind,
        /// The route being added.
        route: String,
        /// The route already there.
        with: String,
    },
    /// The route template is malformed.
    #[error("invalid route {route:?}: {reason}")]
    InvalidTemplate {
        /// The template.
        route: String,
        /// What is wrong.
        reason: String,
    },
    /// A `send_to` / `send_to_user` destination names a `{var}` the route does not have.
    #[error("route {route:?}: reply destination {destination:?} uses {{{placeholder}}}, which the route does not capture")]
    UnknownPlaceholder {
        /// The route template.
        route: String,
        /// The reply destination.
        destination: String,
        /// The unknown variable.
        placeholder: String,
    },
}

/// A route waiting for `build`: its template, the route, its controller's exception
/// handlers.
type Pending<S> = (String, Route<S>, Arc<[ExceptionRoute<S>]>);

pub(crate) struct Entry<S> {
    pub(crate) pattern: Arc<str>,
    pub(crate) handler: BoxedHandler<S>,
    pub(crate) target: ReplyTarget,
    pub(crate) kind: RouteKind,
    /// Controller-scoped exception handlers.
    pub(crate) scoped: Arc<[ExceptionRoute<S>]>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: crate::telemetry::RouteMetrics,
}

/// Collects routes, exception handlers and controllers; [`build`](Self::build) checks them
/// and returns the [`AppRouter`].
///
/// ```
/// use stomp_core::app::{on_message, AppRouter, DestinationVar, Json};
///
/// async fn chat(DestinationVar(room): DestinationVar<String>, Json(text): Json<String>) -> String {
///     format!("{room}: {text}")
/// }
///
/// let router = AppRouter::builder()
///     .route("/chat/{room}", on_message(chat).send_to("/topic/chat/{room}"))
///     .build()
///     .expect("valid routes");
/// # let _ = router;
/// ```
pub struct AppRouterBuilder<S = ()> {
    routes: Vec<Pending<S>>,
    exception_handlers: Vec<ExceptionRoute<S>>,
    policy: AppErrorPolicy,
}

impl<S> std::fmt::Debug for AppRouterBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRouterBuilder")
            .field("routes", &self.routes.len())
            .field("exception_handlers", &self.exception_handlers.len())
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S> Default for AppRouterBuilder<S> {
    fn default() -> Self {
        AppRouterBuilder {
            routes: Vec::new(),
            exception_handlers: Vec::new(),
            policy: AppErrorPolicy::default(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> AppRouterBuilder<S> {
    /// An empty builder for state type `S`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: mounts `route` at the template `path` (`/chat/{room}`; matchit syntax:
    /// `{var}` is one segment, `{*rest}` the rest of the path).
    #[must_use]
    pub fn route(mut self, path: impl Into<String>, route: Route<S>) -> Self {
        self.routes.push((path.into(), route, Arc::from([])));
        self
    }

    /// Builder: mounts an annotated fn (`#[message_mapping]` / `#[subscribe_mapping]`) at
    /// its own path.
    #[must_use]
    pub fn handler<H: MappedHandler<S>>(self, handler: H) -> Self {
        let (path, route) = handler.into_route();
        self.route(path, route)
    }

    /// Builder: a global exception handler (`#[message_exception_handler]` fn or
    /// [`on_exception`](super::on_exception)); controller-scoped handlers are tried first.
    #[must_use]
    pub fn exception_handler<H: IntoExceptionRoute<S>>(mut self, handler: H) -> Self {
        self.exception_handlers.push(handler.into_exception_route());
        self
    }

    /// Builder: what happens to application errors (extractor rejections, unmapped
    /// destinations, panics): reported and the session kept ([`AppErrorPolicy::Report`],
    /// the default), or an ERROR frame that ends the session ([`AppErrorPolicy::Close`]).
    #[must_use]
    pub fn error_policy(mut self, policy: AppErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builder: mounts every route of a controller value (`#[controller]` impl).
    #[must_use]
    pub fn controller<C: Controller<S>>(mut self, controller: C) -> Self {
        let routes = Arc::new(controller).routes();
        let scoped: Arc<[ExceptionRoute<S>]> = routes.exception_handlers.into();
        for (path, route) in routes.routes {
            self.routes.push((path, route, scoped.clone()));
        }
        self
    }

    /// Checks the routes and builds the router with `state` for `State<T>` extractors.
    pub fn build_with_state(self, state: S) -> Result<AppRouter, RouteError> {
        let mut message = matchit::Router::new();
        let mut subscribe = matchit::Router::new();
        let mut entries = Vec::with_capacity(self.routes.len());
        for (path, route, scoped) in self.routes {
            let vars = parse_template(&path).map_err(|reason| RouteError::InvalidTemplate {
                route: path.clone(),
                reason,
            })?;
            for destination in route
                .target
                .send_to
                .iter()
                .chain(&route.target.send_to_user)
            {
                for placeholder in placeholders(destination) {
                    if !vars.iter().any(|v| v == placeholder) {
                        return Err(RouteError::UnknownPlaceholder {
                            route: path.clone(),
                            destination: destination.to_string(),
                            placeholder: placeholder.to_owned(),
                        });
                    }
                }
            }
            let table = match route.kind {
                RouteKind::Message => &mut message,
                RouteKind::Subscribe => &mut subscribe,
            };
            match table.insert(path.clone(), entries.len()) {
                Ok(()) => {}
                Err(matchit::InsertError::Conflict { with }) => {
                    return Err(RouteError::Conflict {
                        kind: route.kind,
                        route: path,
                        with,
                    })
                }
                Err(other) => {
                    return Err(RouteError::InvalidTemplate {
                        route: path,
                        reason: other.to_string(),
                    })
                }
            }
            entries.push(Entry {
                #[cfg(feature = "metrics")]
                metrics: crate::telemetry::RouteMetrics::new(&path, route_kind_label(route.kind)),
                pattern: path.into(),
                handler: route.handler,
                target: route.target,
                kind: route.kind,
                scoped,
            });
        }
        Ok(AppRouter {
            inner: Arc::new(Inner {
                message,
                subscribe,
                entries,
                global: self.exception_handlers.into(),
                state,
                policy: self.policy,
            }),
        })
    }
}

impl AppRouterBuilder<()> {
    /// Checks the routes and builds a router without state.
    pub fn build(self) -> Result<AppRouter, RouteError> {
        self.build_with_state(())
    }
}

struct Inner<S> {
    message: matchit::Router<usize>,
    subscribe: matchit::Router<usize>,
    entries: Vec<Entry<S>>,
    global: Arc<[ExceptionRoute<S>]>,
    state: S,
    policy: AppErrorPolicy,
}

trait Dispatcher: Send + Sync + 'static {
    fn dispatch(self: Arc<Self>, request: AppRequest) -> BoxFuture<'static, Result<(), AppError>>;
    fn routes(&self) -> Vec<(RouteKind, Arc<str>)>;
}

/// The application router: the [`AppDispatch`] the session calls for every SEND and
/// SUBSCRIBE under an application prefix. Cheap to clone.
///
/// * A SEND is routed among the `message_mapping` routes, a SUBSCRIBE among the
///   `subscribe_mapping` ones, by the destination without the application prefix.
/// * No matching route, a rejected argument and a panicking handler are application errors:
///   handed to the exception handlers, else reported on the calling session's
///   `/user/queue/errors`; the session stays open (Spring drops unmapped messages silently;
///   we tell the client). [`AppErrorPolicy::Close`] makes them ERROR frames instead.
/// * The handler runs inside the session's dispatch, so one session's frames are handled
///   one at a time, in order; different sessions run concurrently.
#[derive(Clone)]
pub struct AppRouter {
    inner: Arc<dyn Dispatcher>,
}

impl std::fmt::Debug for AppRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRouter")
            .field("routes", &self.inner.routes())
            .finish()
    }
}

impl AppRouter {
    /// A builder for a router without state (use [`AppRouterBuilder::new`] for state `S`).
    pub fn builder() -> AppRouterBuilder<()> {
        AppRouterBuilder::new()
    }

    /// The routes, in registration order.
    pub fn routes(&self) -> Vec<(RouteKind, Arc<str>)> {
        self.inner.routes()
    }
}

impl AppDispatch for AppRouter {
    fn dispatch(&self, request: AppRequest) -> BoxFuture<'static, Result<(), AppError>> {
        self.inner.clone().dispatch(request)
    }
}

impl<S> Inner<S> {
    fn exceptions<'a>(&'a self, scoped: &'a [ExceptionRoute<S>]) -> Exceptions<'a, S> {
        Exceptions {
            scoped,
            global: &self.global,
            state: &self.state,
            policy: self.policy,
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Dispatcher for Inner<S> {
    fn routes(&self) -> Vec<(RouteKind, Arc<str>)> {
        self.entries
            .iter()
            .map(|e| (e.kind, e.pattern.clone()))
            .collect()
    }

    fn dispatch(self: Arc<Self>, request: AppRequest) -> BoxFuture<'static, Result<(), AppError>> {
        Box::pin(async move {
            let (table, kind) = match request.kind {
                AppRequestKind::Send => (&self.message, RouteKind::Message),
                AppRequestKind::Subscribe { .. } => (&self.subscribe, RouteKind::Subscribe),
            };
            let found = table.at(&request.lookup_path).map(|m| {
                let vars = m
                    .params
                    .iter()
                    .map(|(n, v)| (Arc::<str>::from(n), v.to_owned()))
                    .collect::<Vec<_>>();
                (*m.value, vars)
            });
            let Some((entry, vars)) = found
                .ok()
                .and_then(|(index, vars)| Some((self.entries.get(index)?, vars)))
            else {
                let miss = AppError::new(
                    "no handler for destination",
                    format!(
                        "no {kind} matches {:?}",
                        request.lookup_path.chars().take(256).collect::<String>()
                    ),
                );
                let ctx = Arc::new(MessageContext::new(request, Arc::from(""), Vec::new()));
                let exceptions = self.exceptions(&[]);
                return handle_error(&ctx, HandlerError::rejection(miss), &exceptions).await;
            };
            let ctx = Arc::new(MessageContext::new(request, entry.pattern.clone(), vars));
            let span = handler_span(&ctx, kind);
            #[cfg(feature = "metrics")]
            let started = std::time::Instant::now();
            let exceptions = self.exceptions(&entry.scoped);
            let (result, failed) = async {
                let reply = match CatchUnwind::new((entry.handler)(ctx.clone(), self.state.clone()))
                    .await
                {
                    Ok(reply) => reply,
                    Err(panicked) => {
                        let handled =
                            handle_error(&ctx, HandlerError::rejection(panicked), &exceptions)
                                .await;
                        return (handled, true);
                    }
                };
                let failed = reply.is_error();
                (
                    deliver(&ctx, &entry.target, reply, &exceptions).await,
                    failed,
                )
            }
            .instrument(span)
            .await;
            #[cfg(feature = "metrics")]
            entry.metrics.call(started, !failed && result.is_ok());
            #[cfg(not(feature = "metrics"))]
            let _ = failed;
            result
        })
    }
}

/// The [`HANDLER_SPAN`](crate::trace::HANDLER_SPAN) of one handler call.
fn handler_span(ctx: &MessageContext, kind: RouteKind) -> tracing::Span {
    let headers = ctx.headers();
    let session = ctx.session();
    tracing::info_span!(
        target: "stomp_core::trace",
        "stomp.handler",
        route = ctx.pattern(),
        kind = %kind,
        session = %session.id,
        user = session.principal.as_ref().map(|p| p.name()),
        traceparent = headers.get(crate::trace::TRACEPARENT),
        tracestate = headers.get(crate::trace::TRACESTATE),
    )
}

/// The `kind` label of a route's metrics.
#[cfg(feature = "metrics")]
fn route_kind_label(kind: RouteKind) -> &'static str {
    match kind {
        RouteKind::Message => "message_mapping",
        RouteKind::Subscribe => "subscribe_mapping",
    }
}
