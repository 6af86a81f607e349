//! Transport-agnostic STOMP 1.2 engine.

pub mod app;
pub mod authz;
pub mod backplane;
pub mod broker;
pub mod channel;
#[cfg(feature = "client")]
pub mod client;
pub mod codec;
pub mod destination;
pub mod engine;
pub mod events;
pub mod frame;
pub mod identity;
pub mod interceptor;
pub mod outbound;
#[cfg(feature = "relay")]
pub mod relay;
pub mod template;
pub mod user;
pub mod version;

pub use frame::{Command, Frame, Headers};
pub use frame::HeartBeat;
pub use version::Version;
