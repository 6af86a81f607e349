//! The builder's typestate for the application state: given ([`HasState`]) or not
//! ([`NoState`]), checked when the endpoint is built.

/// The state of a [`StompBuilder`](crate::StompBuilder) before
/// [`with_state`](crate::StompBuilder::with_state): fine for handlers that need none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoState;

/// The state of a [`StompBuilder`](crate::StompBuilder) after
/// [`with_state`](crate::StompBuilder::with_state).
#[derive(Debug, Clone, Copy, Default)]
pub struct HasState<S>(pub(crate) S);

/// A builder state from which handlers with state `S` can be built: [`HasState<S>`], or
/// [`NoState`] when `S` is `()`. Implemented by those two only.
#[diagnostic::on_unimplemented(
    message = "the STOMP handlers need the application state `{S}`, and none was given",
    label = "`build` needs the state here",
    note = "call `.with_state(state)` on the builder (before or after the handlers) before `.build()`"
)]
pub trait StateReady<S>: sealed::Sealed {
    /// The state the handlers get.
    #[doc(hidden)]
    fn into_state(self) -> S;
}

impl StateReady<()> for NoState {
    fn into_state(self) {}
}

impl<S> StateReady<S> for HasState<S> {
    fn into_state(self) -> S {
        self.0
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoState {}
    impl<S> Sealed for super::HasState<S> {}
}
