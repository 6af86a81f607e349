//! Catching a panicking handler: the panic becomes an [`AppError`], the server lives on.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::AppError;
use futures_util::future::BoxFuture;

/// Polls a boxed future, turning a panic inside `poll` into an error.
pub(crate) struct CatchUnwind<T> {
    inner: BoxFuture<'static, Result<T, AppError>>,
}

impl<T> CatchUnwind<T> {
    pub(crate) fn new(inner: BoxFuture<'static, Result<T, AppError>>) -> Self {
        CatchUnwind { inner }
    }
}

impl<T> Future for CatchUnwind<T> {
    type Output = Result<T, AppError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a handler panicked".to_owned());
                tracing::error!(panic = %text, "STOMP handler panicked");
                Poll::Ready(Err(AppError::new(
                    "handler failed",
                    "the handler panicked; see the server log",
                )))
            }
        }
    }
}
