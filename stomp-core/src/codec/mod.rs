//! The one STOMP codec: a sans-IO incremental decoder and an encoder, shared by the server,
//! the relay, the client and the tests.
//!
//! ```
//! use bytes::BytesMut;
//! use stomp_core::codec::{Decoded, Decoder, Limits};
//! use stomp_core::Command;
//!
//! let mut decoder = Decoder::new(Limits::default());
//! let mut buf = BytesMut::from(&b"\nSEND\ndestination:/a\n\nhi\0"[..]);
//! assert!(matches!(decoder.decode(&mut buf), Ok(Some(Decoded::HeartBeat))));
//! let Ok(Some(Decoded::Frame(frame))) = decoder.decode(&mut buf) else { panic!() };
//! assert_eq!(frame.command, Command::Send);
//! assert_eq!(frame.headers.destination(), Some("/a"));
//! assert_eq!(&frame.body[..], b"hi");
//! assert!(matches!(decoder.decode(&mut buf), Ok(None))); // needs more bytes
//! ```

mod decoder;
mod encoder;
mod error;
mod limits;
mod unescape;

pub(crate) use decoder::Input;
pub use decoder::{Decoded, Decoder};
pub use encoder::{encode, encode_to_bytes, PreparedMessage};
pub use error::DecodeError;
pub use limits::Limits;
