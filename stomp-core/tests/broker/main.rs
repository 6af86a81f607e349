//! The embedded broker (topics, queues, acks) and the backplane broker, driven through the `Broker` trait.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

mod support;

mod backplane;
mod credit;
#[cfg(feature = "durable")]
mod durable;
mod isolation;
mod pattern_bounds;
mod queues;
mod topics;
