//! The one STOMP codec: a sans-IO incremental decoder and an encoder, shared by the server,
//! the relay, the client and the tests.

mod encoder;

pub use encoder::{encode, encode_to_bytes, PreparedMessage};
