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
//! # Errors and execution
//!
//! No matching route, a rejected argument and a panicking handler are [`AppError`]s: the
//! session answers with an ERROR frame. Handlers run inside the session's dispatch: one
//! session's frames are handled in order, sessions run concurrently. Opt in to concurrent
//! handling within one session with
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

/// An application failure that ends in an ERROR frame (routing miss, rejected argument,
/// handler panic, unhandled error).
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
