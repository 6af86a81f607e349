//! Rejections: why an extractor failed, each an application error ([`AppError`]).

use super::super::AppError;

/// The body is not valid UTF-8 (for `String` arguments).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyRejection {
    /// The body is not UTF-8.
    #[error("the message body is not valid UTF-8: {0}")]
    InvalidUtf8(String),
}

/// The body could not be deserialized (for `Payload<T>` / `Json<T>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadRejection {
    /// The body is not the expected JSON.
    #[error("could not read the JSON payload as {type_name}: {reason}")]
    InvalidJson {
        /// The target type.
        type_name: &'static str,
        /// serde's message.
        reason: String,
    },
}

/// A destination variable is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationVarRejection {
    /// The route captured a different number of variables than the extractor expects.
    #[error("expected {expected} destination variable(s), the route has {got}")]
    WrongCount {
        /// What the extractor wants.
        expected: usize,
        /// What the route captured.
        got: usize,
    },
    /// A value does not parse.
    #[error("destination variable `{name}` = {value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// Its value (truncated).
        value: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// A named header is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderRejection {
    /// The frame has no such header.
    #[error("missing header `{0}`")]
    Missing(&'static str),
    /// The value does not parse.
    #[error("invalid header `{name}`: {reason}")]
    Invalid {
        /// The header.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The session is not authenticated (for `Principal` arguments; use `Option<Principal>` to
/// allow anonymous sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this destination requires an authenticated user")]
pub struct MissingPrincipal;

macro_rules! into_app_error {
    ($($t:ty => $msg:literal),* $(,)?) => {$(
        impl From<$t> for AppError {
            fn from(r: $t) -> Self {
                AppError::new($msg, r.to_string())
            }
        }
    )*};
}

into_app_error! {
    BodyRejection => "invalid message body",
    PayloadRejection => "invalid payload",
    DestinationVarRejection => "invalid destination variable",
    HeaderRejection => "invalid header",
    MissingPrincipal => "not authenticated",
}
