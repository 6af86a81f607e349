//! Application routing: handlers, extractors, replies, exception handlers and controllers.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

mod support;

mod auth;
mod errors;
mod routing;
mod session;
mod simple_broker;
#[cfg(feature = "validation")]
mod validation;
