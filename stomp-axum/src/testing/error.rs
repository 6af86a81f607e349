//! [`TestError`]: what a [`TestClient`](super::TestClient) expectation can fail with.

use std::time::Duration;

use stomp_core::frame::Frame;
use stomp_core::outbound::CloseReason;

/// Why a [`TestClient`](super::TestClient) call failed. Its `Display` names what the test
/// was waiting for and what came instead, so `.unwrap()` / `?` in a test reads well.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// Nothing matching arrived within the client's timeout.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the client was waiting for.
        waiting_for: String,
        /// The timeout in force.
        after: Duration,
    },
    /// The server answered with an ERROR frame while the client expected something else.
    #[error("ERROR frame while waiting for {waiting_for}: {}", describe_error(.frame))]
    ErrorFrame {
        /// What the client was waiting for.
        waiting_for: String,
        /// The ERROR frame.
        frame: Box<Frame>,
    },
    /// Another frame came first.
    #[error("expected {expected}, got {} frame {:?}", .frame.command, .frame.headers.entries())]
    Unexpected {
        /// What the client expected.
        expected: String,
        /// What came instead.
        frame: Box<Frame>,
    },
    /// The session is closed: nothing more will come.
    #[error("session closed ({}) while waiting for {waiting_for}", .reason.describe())]
    Closed {
        /// What the client was waiting for.
        waiting_for: String,
        /// Why the session closed.
        reason: CloseReason,
    },
    /// The server sent bytes that are not a STOMP frame.
    #[error("the server sent an undecodable frame: {0}")]
    Decode(#[from] stomp_core::codec::DecodeError),
    /// A JSON body could not be encoded or decoded.
    #[error("JSON body: {0}")]
    Json(#[from] serde_json::Error),
}

impl TestError {
    /// The frame behind an [`ErrorFrame`](Self::ErrorFrame) or
    /// [`Unexpected`](Self::Unexpected) failure.
    pub fn frame(&self) -> Option<&Frame> {
        match self {
            TestError::ErrorFrame { frame, .. } | TestError::Unexpected { frame, .. } => {
                Some(frame)
            }
            _ => None,
        }
    }

    /// `true` for a [`Timeout`](Self::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, TestError::Timeout { .. })
    }
}

fn describe_error(frame: &Frame) -> String {
    let message = frame.headers.message().unwrap_or("(no message header)");
    if frame.body.is_empty() {
        message.to_owned()
    } else {
        format!("{message}: {}", String::from_utf8_lossy(&frame.body))
    }
}
