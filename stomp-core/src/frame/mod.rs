//! The frame model: a [`Command`], ordered [`Headers`] and a shared [`Bytes`] body.

mod command;
mod headers;
pub mod heartbeat;

pub use command::Command;
pub(crate) use headers::parse_decimal;
pub use headers::{name, Headers, InvalidHeader};
pub use heartbeat::HeartBeat;

use bytes::Bytes;
use bytestring::ByteString;

/// One STOMP frame.
///
/// The body is a [`Bytes`], so one body can be shared by every delivery of a message
/// without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame asks for or reports.
    pub command: Command,
    /// Headers in wire order (repeats kept, first wins on lookup).
    pub headers: Headers,
    /// The body; empty for commands that carry none.
    pub body: Bytes,
}

impl Frame {
    /// A frame with no header and an empty body.
    pub fn new(command: Command) -> Self {
        Frame {
            command,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Builder: appends a header line.
    #[must_use]
    pub fn header(mut self, name: impl Into<ByteString>, value: impl Into<ByteString>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Builder: sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// An ERROR frame with the short `message` header and a longer `detail` body.
    pub fn error(message: impl Into<ByteString>, detail: impl Into<Bytes>) -> Self {
        let detail = detail.into();
        let mut frame = Frame::new(Command::Error).header(name::MESSAGE, message);
        if !detail.is_empty() {
            frame = frame.header(name::CONTENT_TYPE, "text/plain");
        }
        frame.body(detail)
    }

    /// A RECEIPT frame answering `receipt`.
    pub fn receipt(receipt: impl Into<ByteString>) -> Self {
        Frame::new(Command::Receipt).header(name::RECEIPT_ID, receipt)
    }
}
