//! Application destinations: the seam between sessions and the application's handlers.
//!
//! A SEND or SUBSCRIBE whose destination starts with an application prefix (`/app` by
//! default) is not given to the broker; the session hands it, prefix stripped, to the
//! engine's [`AppDispatch`]. [`AppRouter`] is the implementation: Spring's
//! `@MessageMapping` controller model with axum's extractor model.
//!
//! # Handlers
//!
//! A handler is an `async fn` whose arguments are extractors ([`FromMessage`]) and whose
//! return value is a reply ([`IntoReply`]). Mount plain fns with [`on_message`] /
//! [`on_subscribe`]:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use stomp_core::app::{on_message, on_subscribe, AppRouterBuilder, DestinationVar, Json, Payload, State};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct ChatMessage { from: String, text: String }
//!
//! #[derive(Clone)]
//! struct AppState { rooms: Vec<String> }
//!
//! async fn chat(
//!     DestinationVar(room): DestinationVar<String>,
//!     Payload(msg): Payload<ChatMessage>,
//! ) -> Json<ChatMessage> {
//!     Json(ChatMessage { from: format!("{}@{room}", msg.from), text: msg.text })
//! }
//!
//! async fn rooms(State(app): State<AppState>) -> Json<Vec<String>> {
//!     Json(app.rooms)
//! }
//!
//! let router = AppRouterBuilder::new()
//!     .route("/chat/{room}", on_message(chat).send_to("/topic/chat/{room}"))
//!     .route("/rooms", on_subscribe(rooms))
//!     .build_with_state(AppState { rooms: vec!["lobby".into()] })
//!     .expect("routes are valid");
//! # let _ = router;
//! ```
//!
//! or annotate them (`stomp-macros`, re-exported by `stomp-axum`); the macros generate the
//! same calls, and also accept any `T: Serialize` return value (sent as JSON):
//!
//! ```text
//! #[message_mapping("/chat/{room}")]
//! #[send_to("/topic/chat/{room}")]
//! async fn chat(DestinationVar(room): DestinationVar<String>, Payload(msg): Payload<ChatMessage>) -> ChatMessage { .. }
//!
//! #[subscribe_mapping("/rooms")]
//! async fn rooms(State(app): State<AppState>) -> Json<Vec<String>> { .. }
//!
//! AppRouterBuilder::new().handler(chat).handler(rooms).build_with_state(state)
//! ```
//!
//! # Where replies go
//!
//! | handler | reply goes to |
//! |---|---|
//! | `message_mapping`, no target | `/topic` + the destination without the prefix (`/topic/chat/7`) |
//! | `send_to("/topic/chat/{room}")` | that destination, `{room}` filled in; several allowed |
//! | `send_to_user("/queue/reply")` | `/user/{name}/queue/reply`: every session of the calling user |
//! | `send_to_user(..)` + `broadcast(false)`, or no principal | only the calling session |
//! | `subscribe_mapping`, no target | straight to the subscriber, a MESSAGE on its subscription |
//! | `()` / `None` | nowhere |
//! | `Err(e)` | the exception handler for `e`'s type (controller's first, then global); none: the calling session's `/user/queue/errors`, and `tracing::error!` |
//!
//! Replies carry `content-type` (`application/json`, `text/plain;charset=UTF-8` or
//! `application/octet-stream`) and the request's [`CORRELATION_ID`] header when it has one.
//!
//! # Application errors keep the session
//!
//! A SEND to an unmapped destination, an argument that cannot be extracted (a body that is
//! not the expected JSON, a missing header, a `Principal` on an anonymous session) and a
//! panicking handler are *application* errors, as a handler's own `Err(e)` is. As in
//! Spring, they do not end the session ([`AppErrorPolicy::Report`], the default):
//!
//! 1. the exception handler for the error's type gets it (controller's first, then
//!    global): a rejection by its type ([`PayloadRejection`], [`MissingPrincipal`], ..),
//!    then the router's own errors as [`AppError`] (`on_exception(|e: AppError| ..)`
//!    catches them all);
//! 2. none: the calling session gets it on `/user/queue/errors` (anonymous sessions too: it
//!    goes to the session, not to a user), `content-type: text/plain;charset=UTF-8`, the
//!    error text as body, the short text in a `message` header (for the router's own
//!    errors), the failing frame's `correlation-id`, and its `receipt` as `receipt-id`;
//! 3. the frame's RECEIPT, if it asked for one, still follows: it confirms the frame was
//!    handled, not that the handler succeeded (so a client waiting for it is never stuck);
//!    the error report names it in `receipt-id` and comes first with the embedded broker
//!    and the backplane (through a relay the report travels via the external broker and
//!    may arrive after the RECEIPT).
//!
//! [`AppErrorPolicy::Close`] keeps the old behaviour: those errors (not a handler's own
//! `Err(e)`) are ERROR frames that end the session. Protocol errors (a malformed frame, a
//! missing `destination`, a denied destination) always end it, as the STOMP spec requires.
//! Handlers run inside the session's dispatch: one session's frames are handled in order,
//! sessions run concurrently. Opt in to concurrent handling within one session with
//! [`EngineBuilder::app_concurrency`](crate::engine::EngineBuilder::app_concurrency).

use bytestring::ByteString;

use crate::broker::Subscriber;
use crate::frame::Frame;
use crate::identity::SessionInfo;
use crate::template::MessagingTemplate;
use futures_util::future::BoxFuture;

/// What kind of frame reached an application destination.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AppRequestKind {
    /// A SEND (for `message_mapping` handlers).
    Send,
    /// A SUBSCRIBE (for `subscribe_mapping` handlers); replies go straight to `subscriber`
    /// as MESSAGEs on subscription `subscription_id`, not through the broker.
    Subscribe {
        /// The subscribing session's delivery handle.
        subscriber: Subscriber,
        /// The SUBSCRIBE `id`.
        subscription_id: ByteString,
    },
}

/// A frame addressed to an application destination.
#[derive(Debug, Clone)]
pub struct AppRequest {
    /// SEND or SUBSCRIBE.
    pub kind: AppRequestKind,
    /// The whole frame as received.
    pub frame: Frame,
    /// The destination with the application prefix stripped (`/app/chat/1` → `/chat/1`).
    pub lookup_path: ByteString,
    /// The session that sent it.
    pub session: SessionInfo,
    /// Publishes replies to the broker channel.
    pub template: MessagingTemplate,
}

/// An application failure: a routing miss, a rejected argument (every rejection converts
/// into one), a handler panic, or a reply the broker refused. Reported as
/// [`AppErrorPolicy`] says; an [`AppDispatch`] that returns it ends the session with an
/// ERROR frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// The short text for the ERROR frame's `message` header.
    pub message: String,
    /// The longer detail for the ERROR body.
    pub detail: String,
}

impl AppError {
    /// An error with a message and a detail.
    pub fn new(message: impl Into<String>, detail: impl Into<String>) -> Self {
        AppError {
            message: message.into(),
            detail: detail.into(),
        }
    }
}

/// What the router does with application errors: extractor rejections, SENDs and
/// SUBSCRIBEs to unmapped application destinations, and panicking handlers (see the
/// [module docs](self#application-errors-keep-the-session)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppErrorPolicy {
    /// Hand the error to the exception handlers, else report it on the calling session's
    /// `/user/queue/errors`; the session stays open, the frame's RECEIPT still follows
    /// (Spring's behaviour).
    #[default]
    Report,
    /// Answer with an ERROR frame (with `receipt-id` when the frame asked for a receipt)
    /// and end the session.
    Close,
}

/// Handles frames sent to application destinations. The handler router implements it;
/// anything else may too.
///
/// The returned future completes when the frame has been handled and its replies have been
/// handed to the broker channel (so a receipt sent afterwards is truthful).
pub trait AppDispatch: Send + Sync + 'static {
    /// Handles one request.
    fn dispatch(&self, request: AppRequest) -> BoxFuture<'static, Result<(), AppError>>;
}

mod context;
mod deliver;
mod extract;
mod handler;
mod panic;
mod path;
mod reply;
mod route;
mod router;

pub use context::MessageContext;
pub use extract::{
    BodyRejection, ContentType, CorrelationId, DestinationVar, DestinationVarRejection,
    DestinationVarValue, DestinationVars, FromDestinationVars, FromMessage, FromRef, Header,
    HeaderRejection, Json, MissingPrincipal, NamedHeader, Payload, PayloadRejection, State,
};
pub use extract::{Claims, ClaimsRejection};
#[cfg(feature = "validation")]
pub use extract::{Valid, ValidationRejection};
pub use handler::{ExceptionHandler, Handler};
pub use reply::{
    HandlerError, IntoReply, Reply, CONTENT_TYPE_BYTES, CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT,
};
pub use route::{
    on_exception, on_message, on_subscribe, Controller, ControllerRoutes, ExceptionRoute,
    IntoExceptionRoute, MappedHandler, Route, RouteKind,
};
pub use router::{AppRouter, AppRouterBuilder, RouteError};

/// The header copied from a request onto its replies (and error replies), so a client can
/// match answers to questions.
pub const CORRELATION_ID: &str = "correlation-id";

/// Where unhandled handler errors are sent, as a user destination of the calling session
/// (the client subscribes to `/user/queue/errors`).
pub const ERROR_DESTINATION: &str = "/queue/errors";
