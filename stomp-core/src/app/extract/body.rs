//! Body extractors: `Payload<T>` / `Json<T>` (JSON), `String`, `Bytes`.

use std::convert::Infallible;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{BodyRejection, FromMessage, PayloadRejection};
use crate::app::MessageContext;

/// The body deserialized from JSON (Spring's `@Payload`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Payload<T>(pub T);

/// The body as JSON: an extractor like [`Payload`], and a return type sent as
/// `content-type: application/json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

pub(super) fn from_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, PayloadRejection> {
    serde_json::from_slice(body).map_err(|e| PayloadRejection::InvalidJson {
        type_name: std::any::type_name::<T>(),
        reason: e.to_string(),
    })
}

impl<S: Sync, T: DeserializeOwned> FromMessage<S> for Payload<T> {
    type Rejection = PayloadRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, PayloadRejection> {
        from_json(ctx.body()).map(Payload)
    }
}

impl<S: Sync, T: DeserializeOwned> FromMessage<S> for Json<T> {
    type Rejection = PayloadRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, PayloadRejection> {
        from_json(ctx.body()).map(Json)
    }
}

impl<S: Sync> FromMessage<S> for String {
    type Rejection = BodyRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, BodyRejection> {
        std::str::from_utf8(ctx.body())
            .map(str::to_owned)
            .map_err(|e| BodyRejection::InvalidUtf8(e.to_string()))
    }
}

impl<S: Sync> FromMessage<S> for Bytes {
    type Rejection = Infallible;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, Infallible> {
        Ok(ctx.body().clone())
    }
}
