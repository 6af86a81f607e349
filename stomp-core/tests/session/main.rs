//! Socket-free session tests: sessions opened on an `Engine` and driven with bytes, outbound queues read back.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

mod support;

mod app_concurrency;
mod basics;
mod e2e;
mod inbound;
mod lifecycle;
mod memory;
mod outbound_interceptor;
mod versions;
