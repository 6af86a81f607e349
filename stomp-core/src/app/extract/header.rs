//! Header extractors: `Headers` (all of them) and `Header<N>` (one named header).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::str::FromStr;

use super::{FromMessage, HeaderRejection};
use crate::app::MessageContext;
use crate::frame::Headers;

/// Names a header and its value type for [`Header<N>`].
///
/// ```
/// use stomp_core::app::{Header, NamedHeader};
/// struct Priority;
/// impl NamedHeader for Priority {
///     const NAME: &'static str = "priority";
///     type Value = u8;
/// }
/// async fn handler(Header(priority, ..): Header<Priority>) { let _: u8 = priority; }
/// ```
pub trait NamedHeader {
    /// The header name.
    const NAME: &'static str;
    /// The parsed value.
    type Value: FromStr;
}

/// The first value of the header named by `N`, parsed (Spring's `@Header("name")`).
/// A missing header is a rejection; use `Option<Header<N>>` when it is optional.
pub struct Header<N: NamedHeader>(pub N::Value, pub PhantomData<N>);

impl<N: NamedHeader> std::fmt::Debug for Header<N>
where
    N::Value: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Header")
            .field(&N::NAME)
            .field(&self.0)
            .finish()
    }
}

impl<N: NamedHeader> Header<N> {
    /// The value.
    pub fn into_inner(self) -> N::Value {
        self.0
    }
}

impl<S: Sync, N> FromMessage<S> for Header<N>
where
    N: NamedHeader,
    N::Value: Send,
    <N::Value as FromStr>::Err: std::fmt::Display,
{
    type Rejection = HeaderRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, HeaderRejection> {
        let raw = ctx
            .headers()
            .get(N::NAME)
            .ok_or(HeaderRejection::Missing(N::NAME))?;
        raw.parse()
            .map(|v| Header(v, PhantomData))
            .map_err(|e: <N::Value as FromStr>::Err| HeaderRejection::Invalid {
                name: N::NAME,
                reason: e.to_string(),
            })
    }
}

/// The `content-type` header.
#[derive(Debug)]
pub struct ContentType;

impl NamedHeader for ContentType {
    const NAME: &'static str = crate::frame::name::CONTENT_TYPE;
    type Value = String;
}

/// The `correlation-id` header (copied onto replies).
#[derive(Debug)]
pub struct CorrelationId;

impl NamedHeader for CorrelationId {
    const NAME: &'static str = crate::app::CORRELATION_ID;
    type Value = String;
}

impl<S: Sync> FromMessage<S> for Headers {
    type Rejection = Infallible;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, Infallible> {
        Ok(ctx.headers().clone())
    }
}
