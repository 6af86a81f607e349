//! [`Handler`]: async fns of extractors, and [`ExceptionHandler`]: async fns of an error
//! and extractors.

use std::future::Future;
use std::sync::Arc;

use super::extract::FromMessage;
use super::reply::{IntoReply, Reply};
use super::{AppError, MessageContext};
use futures_util::future::BoxFuture;

/// An async fn that handles routed messages: every argument implements
/// [`FromMessage<S>`](FromMessage), the output [`IntoReply`]. Implemented for fns and
/// closures of 0 to 16 arguments; `T` is the tuple of argument types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a STOMP message handler",
    label = "not a handler for state `{S}`",
    note = "a handler is an `async fn` (or a closure returning a `Send` future) whose arguments all \
            implement `FromMessage<{S}>` and whose output implements `IntoReply`",
    note = "at most 16 arguments; the future must be `Send` (hold no `Rc` or `std::sync::MutexGuard` across `.await`)"
)]
pub trait Handler<T, S>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments, runs the fn and converts its output.
    fn call(
        self,
        ctx: Arc<MessageContext>,
        state: S,
    ) -> impl Future<Output = Result<Reply, AppError>> + Send;
}

macro_rules! handler_tuple {
    ($($t:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, S, Res, $($t,)*> Handler<($($t,)*), S> for F
        where
            F: FnOnce($($t),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send,
            Res: IntoReply,
            S: Send + Sync + 'static,
            $($t: FromMessage<S> + Send,)*
        {
            fn call(
                self,
                ctx: Arc<MessageContext>,
                state: S,
            ) -> impl Future<Output = Result<Reply, AppError>> + Send {
                async move {
                    $(
                        let $t = match $t::from_message(&ctx, &state).await {
                            Ok(v) => v,
                            Err(rejection) => return Ok(Reply::rejection(rejection)),
                        };
                    )*
                    Ok(self($($t),*).await.into_reply())
                }
            }
        }
    };
}

macro_rules! all_tuples {
    ($m:ident) => {
        $m!();
        $m!(T1);
        $m!(T1, T2);
        $m!(T1, T2, T3);
        $m!(T1, T2, T3, T4);
        $m!(T1, T2, T3, T4, T5);
        $m!(T1, T2, T3, T4, T5, T6);
        $m!(T1, T2, T3, T4, T5, T6, T7);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14);
        $m!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15);
    };
}

all_tuples!(handler_tuple);
handler_tuple!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16);

/// An async fn that handles errors of type `E` returned by handlers (Spring's
/// `@MessageExceptionHandler`): the first argument is the error, the others are
/// extractors; the output is a reply. `T` is `(E, extractor types...)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a STOMP exception handler",
    label = "not an exception handler for state `{S}`",
    note = "an exception handler is an `async fn(error: E, extractors...) -> impl IntoReply` with \
            `E: 'static + Send` and at most 15 extractors implementing `FromMessage<{S}>`"
)]
pub trait ExceptionHandler<T, S>: Clone + Send + Sync + Sized + 'static {
    /// The error type handled.
    type Error: Send + 'static;

    /// Runs the fn for `error`.
    fn call(
        self,
        error: Self::Error,
        ctx: Arc<MessageContext>,
        state: S,
    ) -> impl Future<Output = Result<Reply, AppError>> + Send;
}

macro_rules! exception_tuple {
    ($($t:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, S, Res, E, $($t,)*> ExceptionHandler<(E, $($t,)*), S> for F
        where
            F: FnOnce(E, $($t),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send,
            Res: IntoReply,
            E: Send + 'static,
            S: Send + Sync + 'static,
            $($t: FromMessage<S> + Send,)*
        {
            type Error = E;

            fn call(
                self,
                error: E,
                ctx: Arc<MessageContext>,
                state: S,
            ) -> impl Future<Output = Result<Reply, AppError>> + Send {
                async move {
                    $(
                        let $t = match $t::from_message(&ctx, &state).await {
                            Ok(v) => v,
                            Err(rejection) => return Err(rejection.into()),
                        };
                    )*
                    Ok(self(error, $($t),*).await.into_reply())
                }
            }
        }
    };
}

all_tuples!(exception_tuple);

/// A handler with its state type fixed and its type erased.
pub(crate) type BoxedHandler<S> = Arc<
    dyn Fn(Arc<MessageContext>, S) -> BoxFuture<'static, Result<Reply, AppError>> + Send + Sync,
>;

pub(crate) fn boxed<H, T, S>(handler: H) -> BoxedHandler<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Send + Sync + 'static,
{
    Arc::new(move |ctx, state| Box::pin(handler.clone().call(ctx, state)))
}
