//! STOMP over WebSocket for axum.
//!
//! [`Stomp`] is one STOMP endpoint: build it with [`Stomp::builder`], mount it with
//! [`Stomp::layer`] or [`Stomp::router`], and pass [`Stomp::shutdown_signal`] to
//! `axum::serve(..).with_graceful_shutdown(..)`.
//!
//! The transport accepts text and binary WebSocket messages (frames may be split across
//! messages or several may share one), negotiates `v12.stomp` / `v11.stomp` / `v10.stomp`
//! (or none), sends each frame as a text message when it is valid UTF-8 and as a binary
//! message otherwise, and closes with the codes listed in [`close`].

mod backend;
pub mod close;
mod config;
mod endpoint;
mod handshake;
mod layer;
mod origin;
mod socket;
mod stats;
mod stomp;

#[cfg(test)]
mod test_backend;
#[cfg(test)]
mod transport_tests;

pub use config::TransportConfig;
pub use handshake::HandshakeRejection;
pub use layer::{StompLayer, StompService};
pub use origin::AllowedOrigins;
pub use stats::TransportStats;
pub use stomp::{Stomp, StompBuilder};

/// The transport-agnostic engine, re-exported so one dependency is enough.
pub use stomp_core as core;

/// What handler authors and app builders need, in one import.
pub mod prelude {
    pub use crate::{AllowedOrigins, HandshakeRejection, Stomp};
    pub use stomp_core::session::{Principal, SessionId, SessionInfo};
    pub use stomp_core::template::MessagingTemplate;
}
