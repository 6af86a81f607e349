//! [`Valid`]: a payload validated with [`garde`] (feature `validation`).

use serde::de::DeserializeOwned;

use super::{FromMessage, Json, Payload, PayloadRejection};
use crate::app::{AppError, MessageContext};

/// A payload extractor whose value is also validated with [`garde`]: `Valid<Payload<T>>`
/// or `Valid<Json<T>>` for `T: garde::Validate` (with a `Default` context). Failures
/// are [`ValidationRejection`]s, reported like every application error (to the exception
/// handler for `ValidationRejection`, else on the session's `/user/queue/errors`).
///
/// ```
/// use garde::Validate;
/// use serde::Deserialize;
/// use stomp_core::app::{on_message, AppRouter, Payload, Valid};
///
/// #[derive(Deserialize, Validate)]
/// struct ChatInput {
///     #[garde(length(chars, min = 1, max = 500))]
///     text: String,
/// }
///
/// async fn chat(Valid(Payload(input)): Valid<Payload<ChatInput>>) -> String {
///     input.text
/// }
///
/// let router = AppRouter::builder()
///     .route("/chat", on_message(chat))
///     .build()
///     .expect("valid routes");
/// # let _ = router;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valid<E>(pub E);

/// Why a [`Valid`] payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationRejection {
    /// The body is not the expected JSON.
    #[error(transparent)]
    Payload(#[from] PayloadRejection),
    /// The value does not validate.
    #[error("the payload is invalid: {}", display(.errors))]
    Invalid {
        /// Each failed rule: the field's path (`text`, `items[0].name`, empty for the
        /// value itself) and garde's message.
        errors: Vec<(String, String)>,
    },
}

fn display(errors: &[(String, String)]) -> String {
    errors
        .iter()
        .map(|(path, message)| {
            if path.is_empty() {
                message.clone()
            } else {
                format!("{path}: {message}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<ValidationRejection> for AppError {
    fn from(r: ValidationRejection) -> Self {
        let message = match r {
            ValidationRejection::Payload(_) => "invalid payload",
            ValidationRejection::Invalid { .. } => "validation failed",
        };
        AppError::new(message, r.to_string())
    }
}

fn validate<T>(value: T) -> Result<T, ValidationRejection>
where
    T: garde::Validate,
    T::Context: Default,
{
    match value.validate() {
        Ok(()) => Ok(value),
        Err(report) => Err(ValidationRejection::Invalid {
            errors: report
                .iter()
                .map(|(path, error)| (path.to_string(), error.message().to_owned()))
                .collect(),
        }),
    }
}

impl<S, T> FromMessage<S> for Valid<Payload<T>>
where
    S: Sync,
    T: DeserializeOwned + garde::Validate + Send,
    T::Context: Default,
{
    type Rejection = ValidationRejection;

    async fn from_message(ctx: &MessageContext, state: &S) -> Result<Self, ValidationRejection> {
        let Payload(value) = Payload::<T>::from_message(ctx, state).await?;
        validate(value).map(|v| Valid(Payload(v)))
    }
}

impl<S, T> FromMessage<S> for Valid<Json<T>>
where
    S: Sync,
    T: DeserializeOwned + garde::Validate + Send,
    T::Context: Default,
{
    type Rejection = ValidationRejection;

    async fn from_message(ctx: &MessageContext, state: &S) -> Result<Self, ValidationRejection> {
        let Json(value) = Json::<T>::from_message(ctx, state).await?;
        validate(value).map(|v| Valid(Json(v)))
    }
}

/// axum's `Json<T>` validated, as [`Valid<Json<T>>`] (feature `axum`).
#[cfg(feature = "axum")]
impl<S, T> FromMessage<S> for Valid<axum::Json<T>>
where
    S: Sync,
    T: DeserializeOwned + garde::Validate + Send,
    T::Context: Default,
{
    type Rejection = ValidationRejection;

    async fn from_message(ctx: &MessageContext, state: &S) -> Result<Self, ValidationRejection> {
        let axum::Json(value) = axum::Json::<T>::from_message(ctx, state).await?;
        validate(value).map(|v| Valid(axum::Json(v)))
    }
}
