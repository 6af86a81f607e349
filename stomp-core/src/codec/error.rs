//! Why a byte stream is not valid STOMP.

use crate::frame::Frame;

/// A fatal decoding error: the peer broke the framing rules or a [`Limits`] value.
///
/// The connection cannot be resumed after one; answer with [`to_error_frame`] and close.
/// "Not enough bytes yet" is never an error (the decoder returns `Ok(None)`).
///
/// [`Limits`]: super::Limits
/// [`to_error_frame`]: DecodeError::to_error_frame
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is longer than [`Limits::max_frame_size`](super::Limits::max_frame_size).
    #[error("frame larger than {limit} bytes")]
    FrameTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// More header lines than [`Limits::max_headers`](super::Limits::max_headers).
    #[error("more than {limit} headers")]
    TooManyHeaders {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A header line longer than [`Limits::max_header_line`](super::Limits::max_header_line).
    #[error("header line longer than {limit} bytes")]
    HeaderLineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A body longer than [`Limits::max_body`](super::Limits::max_body).
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The first line is not a STOMP command (commands are upper case and exact).
    #[error("unknown command")]
    UnknownCommand,
    /// A header line without a `:` or with an empty name.
    #[error("malformed header line")]
    MalformedHeader,
    /// A backslash not followed by an escape the negotiated version defines.
    #[error("invalid escape sequence in a header")]
    InvalidEscape,
    /// The command and header lines are not valid UTF-8.
    #[error("headers are not valid UTF-8")]
    InvalidUtf8,
    /// A `content-length` that is not a plain decimal number of octets.
    #[error("invalid content-length")]
    InvalidContentLength,
    /// The octet after a `content-length` body is not NUL.
    #[error("missing NUL after the body")]
    MissingNul,
}

impl DecodeError {
    /// The ERROR frame that tells the peer what went wrong: a short `message` header and a
    /// plain-text body with the detail. The server closes the connection after sending it.
    pub fn to_error_frame(&self) -> Frame {
        let detail = match *self {
            DecodeError::FrameTooLarge { limit } => {
                format!("The frame is larger than the limit of {limit} bytes.")
            }
            DecodeError::TooManyHeaders { limit } => {
                format!("The frame has more than the limit of {limit} header lines.")
            }
            DecodeError::HeaderLineTooLong { limit } => {
                format!("A header line is longer than the limit of {limit} bytes.")
            }
            DecodeError::BodyTooLarge { limit } => {
                format!("The body is larger than the limit of {limit} bytes.")
            }
            DecodeError::UnknownCommand => {
                "The first line of the frame is not a STOMP command.".to_owned()
            }
            DecodeError::MalformedHeader => {
                "A header line must be of the form name:value with a non-empty name.".to_owned()
            }
            DecodeError::InvalidEscape => {
                "A header contains a backslash that does not start a valid escape sequence."
                    .to_owned()
            }
            DecodeError::InvalidUtf8 => "The frame's headers are not valid UTF-8.".to_owned(),
            DecodeError::InvalidContentLength => {
                "The content-length header must be a decimal number of octets.".to_owned()
            }
            DecodeError::MissingNul => {
                "The octet after the content-length bytes of the body must be NUL.".to_owned()
            }
        };
        Frame::error(self.to_string(), detail)
    }
}
