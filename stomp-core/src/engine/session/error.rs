//! Protocol errors: everything that ends a session with an ERROR frame.

use bytestring::ByteString;

use crate::app::AppError;
use crate::authz::AccessDenied;
use crate::broker::BrokerError;
use crate::channel::ChannelError;
use crate::frame::{name, Command, Frame};
use crate::interceptor::Rejection;
use crate::memory::MemoryBudgetError;
use crate::version::NoCommonVersion;

/// Why the session answers with ERROR and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtocolError {
    pub(crate) message: String,
    pub(crate) detail: String,
    /// Extra headers for the ERROR frame (e.g. `version` when no version is common).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl ProtocolError {
    pub(crate) fn new(message: impl Into<String>, detail: impl Into<String>) -> Self {
        ProtocolError {
            message: message.into(),
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn missing_header(command: Command, header: &str) -> Self {
        ProtocolError::new(
            format!("missing {header} header"),
            format!("{command} frames require a non-empty `{header}` header"),
        )
    }

    /// A `destination` header longer than the engine allows.
    pub(crate) fn destination_too_long(len: usize, max: usize) -> Self {
        ProtocolError::new(
            "destination too long",
            format!(
                "the destination has {len} bytes; the limit is {max} \
                 (max_destination_len)"
            ),
        )
    }

    /// A `destination` header with more segments than the engine allows.
    pub(crate) fn too_many_segments(segments: usize, max: usize) -> Self {
        ProtocolError::new(
            "destination has too many segments",
            format!(
                "the destination has {segments} segments (split on `/` and `.`); the \
                 limit is {max} (max_destination_segments)"
            ),
        )
    }

    pub(crate) fn no_common_version(err: &NoCommonVersion) -> Self {
        let mut e = ProtocolError::new(
            "unsupported protocol version",
            format!(
                "the client accepts {:?}; {err}",
                err.offered.chars().take(64).collect::<String>()
            ),
        );
        e.headers.push((name::VERSION, err.supported_header()));
        e
    }

    /// The ERROR frame, answering `receipt` when the offending frame asked for one.
    pub(crate) fn to_frame(&self, receipt: Option<&ByteString>) -> Frame {
        let mut frame = Frame::error(self.message.clone(), self.detail.clone());
        for (name, value) in &self.headers {
            frame.headers.append(*name, value.as_str());
        }
        if let Some(receipt) = receipt {
            frame.headers.append(name::RECEIPT_ID, receipt.clone());
        }
        frame
    }
}

impl From<MemoryBudgetError> for ProtocolError {
    fn from(err: MemoryBudgetError) -> Self {
        let detail = match err {
            MemoryBudgetError::SessionShare { .. } => {
                "this frame would make the session hold more than its share of the server's \
                 memory (transactions, subscriptions, outbound queue; \
                 EngineBuilder::session_memory_share)"
            }
            _ => {
                "this frame would make the server hold more than its memory budget \
                 (EngineBuilder::memory_budget)"
            }
        };
        ProtocolError::new(err.to_string(), detail)
    }
}

impl From<BrokerError> for ProtocolError {
    fn from(err: BrokerError) -> Self {
        ProtocolError::new(err.to_string(), "")
    }
}

impl From<ChannelError> for ProtocolError {
    fn from(err: ChannelError) -> Self {
        let frame = err.to_error_frame();
        ProtocolError::new(
            frame.headers.message().unwrap_or("refused").to_owned(),
            String::from_utf8_lossy(&frame.body).into_owned(),
        )
    }
}

impl From<AccessDenied> for ProtocolError {
    fn from(err: AccessDenied) -> Self {
        ChannelError::from(err).into()
    }
}

impl From<AppError> for ProtocolError {
    fn from(err: AppError) -> Self {
        ProtocolError::new(err.message, err.detail)
    }
}

impl From<Rejection> for ProtocolError {
    fn from(err: Rejection) -> Self {
        ProtocolError::new(err.message, err.detail)
    }
}
