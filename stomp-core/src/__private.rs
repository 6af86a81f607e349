//! Support for the attribute macros: a return value that implements [`IntoReply`](crate::app::IntoReply) is
//! converted by it, any other `T: Serialize` is sent as JSON. Chosen at the call site by
//! auto-ref method resolution: `(&&Wrap::new(value)).__stomp_reply()`.
//!
//! Not for use by hand (call [`IntoReply::into_reply`](crate::app::IntoReply::into_reply) or [`Reply::json`](crate::app::Reply::json)); public so
//! generated code can reach it.

use std::cell::Cell;

use serde::Serialize;

use crate::app::{IntoReply, Reply};

/// Holds a return value until it is converted.
pub struct Wrap<T>(Cell<Option<T>>);

impl<T> std::fmt::Debug for Wrap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wrap")
    }
}

impl<T> Wrap<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Wrap(Cell::new(Some(value)))
    }
}

/// Picked first: the value implements [`IntoReply`].
pub trait ViaIntoReply {
    /// Converts the value.
    fn __stomp_reply(&self) -> Reply;
}

impl<T: IntoReply> ViaIntoReply for &Wrap<T> {
    fn __stomp_reply(&self) -> Reply {
        self.0
            .take()
            .map_or_else(Reply::empty, IntoReply::into_reply)
    }
}

/// Picked otherwise: the value is serialized as JSON.
pub trait ViaSerialize {
    /// Converts the value.
    fn __stomp_reply(&self) -> Reply;
}

impl<T: Serialize> ViaSerialize for Wrap<T> {
    fn __stomp_reply(&self) -> Reply {
        self.0
            .take()
            .map_or_else(Reply::empty, |value| Reply::json(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Plain {
        a: u8,
    }

    #[test]
    #[allow(clippy::needless_borrow)]
    fn into_reply_wins_and_serialize_is_the_fallback() {
        let text = (&&Wrap::new(String::from("{x"))).__stomp_reply();
        assert_eq!(
            text.message().and_then(|(h, _)| h.content_type()),
            Some(crate::app::CONTENT_TYPE_TEXT)
        );
        let json = (&&Wrap::new(Plain { a: 1 })).__stomp_reply();
        assert_eq!(
            json.message().map(|(_, b)| &b[..]),
            Some(&br#"{"a":1}"#[..])
        );
        assert!((&&Wrap::new(())).__stomp_reply().is_empty());
    }
}
