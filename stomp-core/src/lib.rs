//! Transport-agnostic STOMP 1.2 engine.

pub mod app;
pub mod authz;
pub mod backplane;
pub mod broker;
pub mod channel;
pub mod client;
pub mod codec;
pub mod destination;
pub mod engine;
pub mod events;
pub mod frame;
pub mod heartbeat;
pub mod interceptor;
pub mod outbound;
pub mod relay;
pub mod session;
pub mod template;
pub mod user;
pub mod version;

pub use frame::{Command, Frame, Headers};
pub use heartbeat::HeartBeat;
pub use version::Version;
