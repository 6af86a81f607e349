//! Return values: [`IntoReply`] and [`Reply`].
//!
//! A handler's return value becomes a [`Reply`]: a message (body, `content-type`, extra
//! headers), nothing, or an error for the exception handlers. Implemented for:
//!
//! | type | reply |
//! |---|---|
//! | `()` | nothing is sent |
//! | `Option<T>` | `None` sends nothing, `Some(t)` is `t`'s reply |
//! | `Result<T, E>` | `Ok(t)` is `t`'s reply; `Err(e)` goes to the exception handler for `E` |
//! | [`Json<T>`](super::Json) | `T` as JSON, `content-type: application/json` |
//! | `String`, `&'static str` | text, `content-type: text/plain;charset=UTF-8` |
//! | `Bytes`, `Vec<u8>` | bytes, `content-type: application/octet-stream` |
//! | [`Reply`] | itself (build one to add headers) |
//!
//! With the attribute macros, a handler may also return any `T: Serialize`: the macro sends
//! it as JSON (and looks through a top-level `Option` / `Result`).

use std::any::Any;
use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use serde::Serialize;

use super::AppError;
use crate::frame::{name, Headers};

/// `content-type` of JSON replies.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `content-type` of text replies.
pub const CONTENT_TYPE_TEXT: &str = "text/plain;charset=UTF-8";
/// `content-type` of byte replies.
pub const CONTENT_TYPE_BYTES: &str = "application/octet-stream";

/// What a handler produced, ready to be sent.
#[derive(Debug)]
pub struct Reply {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Empty,
    Message { headers: Headers, body: Bytes },
    Error(HandlerError),
}

impl Reply {
    /// Sends nothing.
    pub fn empty() -> Self {
        Reply {
            inner: Inner::Empty,
        }
    }

    /// A message with `content-type` and `body`.
    pub fn with_content_type(content_type: impl Into<ByteString>, body: impl Into<Bytes>) -> Self {
        let mut headers = Headers::with_capacity(2);
        headers.set(name::CONTENT_TYPE, content_type);
        Reply {
            inner: Inner::Message {
                headers,
                body: body.into(),
            },
        }
    }

    /// A text message (`text/plain;charset=UTF-8`).
    pub fn text(text: impl Into<String>) -> Self {
        Reply::with_content_type(CONTENT_TYPE_TEXT, text.into())
    }

    /// A binary message (`application/octet-stream`).
    pub fn bytes(body: impl Into<Bytes>) -> Self {
        Reply::with_content_type(CONTENT_TYPE_BYTES, body)
    }

    /// `value` as JSON (`application/json`); a serialization failure becomes an error
    /// reply (for the `serde_json::Error` exception handler).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::with_content_type(CONTENT_TYPE_JSON, body),
            Err(e) => Reply::error(e),
        }
    }

    /// An error, handed to the exception handler registered for `E`.
    pub fn error<E: fmt::Display + Send + 'static>(error: E) -> Self {
        Reply {
            inner: Inner::Error(HandlerError::new(error)),
        }
    }

    /// An extractor's rejection (what a handler whose argument could not be extracted
    /// replies): reported as the router's [`AppErrorPolicy`](super::AppErrorPolicy) says.
    pub fn rejection<R>(rejection: R) -> Self
    where
        R: Into<AppError> + fmt::Display + Send + 'static,
    {
        Reply {
            inner: Inner::Error(HandlerError::rejection(rejection)),
        }
    }

    /// Builder: adds a header to the message (no effect on an empty or error reply).
    #[must_use]
    pub fn header(mut self, name: impl Into<ByteString>, value: impl Into<ByteString>) -> Self {
        if let Inner::Message { headers, .. } = &mut self.inner {
            headers.set(name, value);
        }
        self
    }

    /// `true` when nothing is to be sent.
    pub fn is_empty(&self) -> bool {
        matches!(self.inner, Inner::Empty)
    }

    /// The message headers and body, if this is a message.
    pub fn message(&self) -> Option<(&Headers, &Bytes)> {
        match &self.inner {
            Inner::Message { headers, body } => Some((headers, body)),
            _ => None,
        }
    }

    /// The error, if this is an error reply.
    pub fn as_error(&self) -> Option<&HandlerError> {
        match &self.inner {
            Inner::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Whether this reply is a handler error.
    pub(crate) fn is_error(&self) -> bool {
        matches!(self.inner, Inner::Error(_))
    }

    pub(crate) fn into_parts(self) -> ReplyParts {
        match self.inner {
            Inner::Empty => ReplyParts::Empty,
            Inner::Message { headers, body } => ReplyParts::Message(headers, body),
            Inner::Error(e) => ReplyParts::Error(e),
        }
    }
}

pub(crate) enum ReplyParts {
    Empty,
    Message(Headers, Bytes),
    Error(HandlerError),
}

trait ErasedError: Any + fmt::Display + Send {}
impl<E: Any + fmt::Display + Send> ErasedError for E {}

/// An error on its way to the exception handler registered for its type: a handler's own
/// error (`Err(e)` of a `Result` return), or an application error the router found (an
/// extractor's rejection, a routing miss, a panic; see [`AppErrorPolicy`](super::AppErrorPolicy)).
pub struct HandlerError {
    error: Box<dyn ErasedError>,
    type_name: &'static str,
    /// Set for the router's own errors: turns the boxed error back into its [`AppError`].
    to_app_error: Option<fn(Box<dyn Any>) -> AppError>,
}

/// Converts a boxed `R` back into its [`AppError`] (the box always holds an `R`).
fn rejection_to_app_error<R: Into<AppError> + 'static>(error: Box<dyn Any>) -> AppError {
    match error.downcast::<R>() {
        Ok(r) => (*r).into(),
        Err(_) => AppError::new("application error", std::any::type_name::<R>()),
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("type", &self.type_name)
            .field("error", &self.error.to_string())
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.error, f)
    }
}

impl HandlerError {
    /// Wraps `error`.
    pub fn new<E: fmt::Display + Send + 'static>(error: E) -> Self {
        HandlerError {
            error: Box::new(error),
            type_name: std::any::type_name::<E>(),
            to_app_error: None,
        }
    }

    /// Wraps an application error the router found: an extractor's rejection, or an
    /// [`AppError`] (routing miss, panic). Exception handlers for `R`, then for
    /// [`AppError`], see it.
    pub fn rejection<R>(rejection: R) -> Self
    where
        R: Into<AppError> + fmt::Display + Send + 'static,
    {
        HandlerError {
            error: Box::new(rejection),
            type_name: std::any::type_name::<R>(),
            to_app_error: Some(rejection_to_app_error::<R>),
        }
    }

    /// `true` for the router's own errors ([`rejection`](Self::rejection)), `false` for
    /// errors handlers returned.
    pub fn is_rejection(&self) -> bool {
        self.to_app_error.is_some()
    }

    /// The router's own error as its [`AppError`], or itself back for a handler's error.
    pub fn into_app_error(self) -> Result<AppError, Self> {
        match self.to_app_error {
            Some(convert) => {
                let any: Box<dyn Any> = self.error;
                Ok(convert(any))
            }
            None => Err(self),
        }
    }

    /// The name of the error's type.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The `TypeId` of the error's type (what exception handlers are matched by).
    pub fn type_id(&self) -> std::any::TypeId {
        let any: &dyn Any = &*self.error;
        any.type_id()
    }

    /// `true` if the error is an `E`.
    pub fn is<E: Any>(&self) -> bool {
        self.type_id() == std::any::TypeId::of::<E>()
    }

    /// The error as an `E`, or itself back.
    pub fn downcast<E: Any>(self) -> Result<E, Self> {
        if !self.is::<E>() {
            return Err(self);
        }
        let any: Box<dyn Any> = self.error;
        any.downcast::<E>().map(|b| *b).map_err(|_| HandlerError {
            error: Box::new("downcast failed"),
            type_name: "&str",
            to_app_error: None,
        })
    }
}

/// Turns a handler's return value into a [`Reply`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a STOMP handler's return value",
    label = "not a reply",
    note = "return `()`, `String`, `Bytes`, `Json<T>`, `Reply`, or an `Option`/`Result` of those",
    note = "with #[message_mapping] / #[subscribe_mapping], any `T: serde::Serialize` is sent as CONTENT_TYPE_JSON"
)]
pub trait IntoReply {
    /// The reply.
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::empty()
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Reply {
        self.map_or_else(Reply::empty, IntoReply::into_reply)
    }
}

impl<T: IntoReply, E: fmt::Display + Send + 'static> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(t) => t.into_reply(),
            Err(e) => Reply::error(e),
        }
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Reply {
        Reply::text(self)
    }
}

impl IntoReply for &'static str {
    fn into_reply(self) -> Reply {
        Reply::with_content_type(CONTENT_TYPE_TEXT, Bytes::from_static(self.as_bytes()))
    }
}

impl IntoReply for Bytes {
    fn into_reply(self) -> Reply {
        Reply::bytes(self)
    }
}

impl IntoReply for Vec<u8> {
    fn into_reply(self) -> Reply {
        Reply::bytes(self)
    }
}

impl<T: Serialize> IntoReply for super::Json<T> {
    fn into_reply(self) -> Reply {
        Reply::json(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(r: &Reply) -> Option<&str> {
        r.message().and_then(|(h, _)| h.content_type())
    }

    #[test]
    fn content_types_per_return_type() {
        assert_eq!(ct(&String::from("a").into_reply()), Some(CONTENT_TYPE_TEXT));
        assert_eq!(ct(&"a".into_reply()), Some(CONTENT_TYPE_TEXT));
        assert_eq!(
            ct(&Bytes::from_static(b"a").into_reply()),
            Some(CONTENT_TYPE_BYTES)
        );
        assert_eq!(
            ct(&super::super::Json(1).into_reply()),
            Some(CONTENT_TYPE_JSON)
        );
        assert!(().into_reply().is_empty());
        assert!(None::<String>.into_reply().is_empty());
        let err: Result<String, String> = Err("boom".into());
        let r = err.into_reply();
        assert_eq!(r.as_error().map(|e| e.to_string()), Some("boom".into()));
        assert!(r.as_error().is_some_and(HandlerError::is::<String>));
    }

    #[test]
    fn downcast_returns_the_value() {
        let e = HandlerError::new(7u8);
        assert!(!e.is::<u16>());
        assert_eq!(e.downcast::<u8>().ok(), Some(7));
    }
}
