//! axum's `State<T>` and `Json<T>` as STOMP handler arguments (feature `axum`), so an axum
//! application uses the same two types in its HTTP and its STOMP handlers.

use std::convert::Infallible;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::body::from_json;
use super::{FromMessage, FromRef, PayloadRejection};
use crate::app::{IntoReply, MessageContext, Reply};

/// axum's `State<T>`: the application state, or a part of it through [`FromRef`] (axum's
/// `#[derive(FromRef)]` applies), exactly as in an HTTP handler.
impl<S: Sync, T: FromRef<S>> FromMessage<S> for axum::extract::State<T> {
    type Rejection = Infallible;

    async fn from_message(_ctx: &MessageContext, state: &S) -> Result<Self, Infallible> {
        Ok(axum::extract::State(T::from_ref(state)))
    }
}

/// axum's `Json<T>`: the body deserialized from JSON, as [`Payload<T>`](super::Payload);
/// a body that is not a `T` is a [`PayloadRejection`].
impl<S: Sync, T: DeserializeOwned> FromMessage<S> for axum::Json<T> {
    type Rejection = PayloadRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, PayloadRejection> {
        from_json(ctx.body()).map(axum::Json)
    }
}

/// axum's `Json<T>` as a reply: sent as `content-type: application/json`.
impl<T: Serialize> IntoReply for axum::Json<T> {
    fn into_reply(self) -> Reply {
        Reply::json(&self.0)
    }
}
