//! [`Claims`]: the typed claims of the calling session's principal.

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

use super::FromMessage;
use crate::app::{AppError, MessageContext};

/// The typed claims the authenticator (or the handshake) attached to the session's
/// principal with [`Principal::with_claims`](crate::identity::Principal::with_claims), e.g.
/// a decoded JWT. Shared, not cloned: `Claims<T>` derefs to `T`.
///
/// An anonymous session, or a principal without claims of type `T`, is a
/// [`ClaimsRejection`], reported like every extractor rejection (to the exception handler
/// for `ClaimsRejection`, else on the session's `/user/queue/errors`). Take
/// `Option<Claims<T>>` to accept both.
///
/// ```
/// use stomp_core::app::{on_message, AppRouter, Claims};
///
/// struct Tenant {
///     id: String,
/// }
///
/// async fn whoami(claims: Claims<Tenant>) -> String {
///     format!("tenant {}", claims.id)
/// }
///
/// let router = AppRouter::builder()
///     .route("/whoami", on_message(whoami))
///     .build()
///     .expect("valid routes");
/// # let _ = router;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims<T>(pub Arc<T>);

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why a [`Claims`] argument could not be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// The session is anonymous.
    #[error("this destination requires an authenticated user")]
    Unauthenticated,
    /// The principal carries no claims of the expected type.
    #[error("the principal has no claims of type {type_name}")]
    Missing {
        /// The expected claims type.
        type_name: &'static str,
    },
}

impl From<ClaimsRejection> for AppError {
    fn from(r: ClaimsRejection) -> Self {
        let message = match r {
            ClaimsRejection::Unauthenticated => "not authenticated",
            ClaimsRejection::Missing { .. } => "missing claims",
        };
        AppError::new(message, r.to_string())
    }
}

impl<S, T> FromMessage<S> for Claims<T>
where
    S: Sync,
    T: Any + Send + Sync,
{
    type Rejection = ClaimsRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, ClaimsRejection> {
        let principal = ctx
            .session()
            .principal
            .as_ref()
            .ok_or(ClaimsRejection::Unauthenticated)?;
        principal
            .claims_arc::<T>()
            .map(Claims)
            .ok_or(ClaimsRejection::Missing {
                type_name: std::any::type_name::<T>(),
            })
    }
}
