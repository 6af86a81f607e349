//! Sessions: one connected client each, from CONNECT to close.

mod info;

pub use info::{Attributes, Principal, SessionId, SessionInfo};
