//! Tracing: the spans the engine opens and the W3C trace context it carries.
//!
//! With a `tracing` subscriber installed, the engine opens, at `INFO` level:
//!
//! | span | when | fields |
//! |---|---|---|
//! | [`FRAME_SPAN`] (`stomp.frame`) | each frame a client sends, for as long as the session handles it | `command`, `destination`, `session`, `user`, `traceparent`, `tracestate` |
//! | [`HANDLER_SPAN`] (`stomp.handler`) | each application handler call, replies included | `route` (the template, e.g. `/chat/{room}`), `kind` (`message_mapping` or `subscribe_mapping`), `session`, `user`, `traceparent`, `tracestate` |
//!
//! The handler span is a child of the frame span when the handler runs inline. Both have
//! the target `stomp_core::trace`, so a filter can keep or drop them apart from the rest
//! (`stomp_core::trace=off` drops them, at the cost of one check per frame).
//!
//! The W3C trace context headers ([`TRACEPARENT`], [`TRACESTATE`]) of a SEND are
//! application headers: they travel with the message through the broker (the embedded
//! broker, the relay and the backplane) to every MESSAGE it becomes, and a handler's
//! replies carry the context of the message that caused them (unless the reply sets its
//! own). Both spans record them, so a subscriber that understands them (an
//! OpenTelemetry layer in the application, reading the `traceparent` field) can join
//! every hop of a message into one trace. The library itself depends on no
//! OpenTelemetry crate.

use crate::frame::Headers;

/// The W3C `traceparent` header: version, trace id, parent span id, flags.
pub const TRACEPARENT: &str = "traceparent";

/// The W3C `tracestate` header: vendor-specific trace data.
pub const TRACESTATE: &str = "tracestate";

/// The name of the span of one inbound frame.
pub const FRAME_SPAN: &str = "stomp.frame";

/// The name of the span of one application handler call.
pub const HANDLER_SPAN: &str = "stomp.handler";

/// Copies `traceparent` and `tracestate` from `from` to `to`, unless `to` has its own
/// `traceparent` (then its context stands as set).
pub(crate) fn propagate(from: &Headers, to: &mut Headers) {
    if to.contains(TRACEPARENT) {
        return;
    }
    if let Some(parent) = from.get(TRACEPARENT) {
        to.set(TRACEPARENT, parent.to_owned());
        if let Some(state) = from.get(TRACESTATE) {
            to.set(TRACESTATE, state.to_owned());
        }
    }
}
