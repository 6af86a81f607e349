//! Extractors: handler arguments built from the routed message.
//!
//! Every handler argument implements [`FromMessage`]. Extractors do not consume the
//! message (the body is a shared [`Bytes`](bytes::Bytes)), so their order is free.
//! A failed extraction is the extractor's `*Rejection`, an application error (see
//! [`AppErrorPolicy`](crate::app::AppErrorPolicy)): by default reported to the exception
//! handlers or the session's `/user/queue/errors`, the session stays open.
//! Wrap an extractor in `Option<_>` to get `None` instead of a rejection.

#[cfg(feature = "axum")]
mod axum;
mod body;
mod claims;
mod destination;
mod header;
mod rejection;
mod session;
#[cfg(feature = "validation")]
mod valid;

use std::convert::Infallible;
use std::future::Future;

pub use body::{Json, Payload};
pub use claims::{Claims, ClaimsRejection};
pub use destination::{DestinationVar, DestinationVarValue, DestinationVars, FromDestinationVars};
pub use header::{ContentType, CorrelationId, Header, NamedHeader};
pub use rejection::{
    BodyRejection, DestinationVarRejection, HeaderRejection, MissingPrincipal, PayloadRejection,
};
#[cfg(feature = "validation")]
pub use valid::{Valid, ValidationRejection};

use super::{AppError, MessageContext};

/// A handler argument built from a routed message and the application state `S`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a STOMP handler argument",
    label = "not an extractor for state `{S}`",
    note = "handler arguments implement `FromMessage<S>`: `Payload<T>`, `Json<T>`, `String`, `Bytes`, \
            `DestinationVar<T>`, `DestinationVars`, `Header<N>`, `Headers`, `Principal`, `Claims<T>`, \
            `SessionInfo`, `SessionId`, `Attributes`, `State<T>` (ours or axum's), `MessagingTemplate`, \
            `UserRegistry`, `Frame`, or an `Option` of one",
    note = "`State<T>` needs `T: FromRef<S>` (the router's state type is `{S}`)"
)]
pub trait FromMessage<S>: Sized {
    /// Why extraction failed: handed to the exception handler for its type (then the one
    /// for [`AppError`]), else reported on the session's `/user/queue/errors`, or an ERROR
    /// frame under [`AppErrorPolicy::Close`](crate::app::AppErrorPolicy::Close).
    type Rejection: Into<AppError> + std::fmt::Display + Send + 'static;

    /// Builds the argument.
    fn from_message(
        ctx: &MessageContext,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

impl<S, T> FromMessage<S> for Option<T>
where
    S: Sync,
    T: FromMessage<S>,
{
    type Rejection = Infallible;

    async fn from_message(ctx: &MessageContext, state: &S) -> Result<Self, Infallible> {
        Ok(T::from_message(ctx, state).await.ok())
    }
}

impl From<Infallible> for AppError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// Derives a part of the application state: lets `State<T>` extract a `T` from a router
/// whose state is `S`. This is axum's own `FromRef` (from `axum-core`, re-exported), so
/// axum's `#[derive(FromRef)]` and the impls an axum app already has serve STOMP handlers
/// too; every `T: Clone` is `FromRef<T>`.
pub use axum_core::extract::FromRef;

/// The shared application state (or a part of it, through [`FromRef`]). With the `axum`
/// feature (on in `stomp-axum`), axum's own `axum::extract::State<T>` is an extractor too,
/// and is the one `stomp_axum::prelude` exports.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<S: Sync, T: FromRef<S>> FromMessage<S> for State<T> {
    type Rejection = Infallible;

    async fn from_message(_ctx: &MessageContext, state: &S) -> Result<Self, Infallible> {
        Ok(State(T::from_ref(state)))
    }
}
