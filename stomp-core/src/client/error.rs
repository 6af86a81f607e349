//! What can go wrong on a client connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// Why a client operation failed, or why the connection ended.
///
/// Cheap to clone: one connection failure is reported to every waiting operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Reading from or writing to the transport failed.
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
    /// The server sent bytes that are not valid STOMP (or break the decoder's limits).
    #[error("invalid frame from the server: {0}")]
    Decode(String),
    /// The server sent an ERROR frame; the connection is closed after it.
    #[error("server error: {message}")]
    Server {
        /// The ERROR frame's `message` header.
        message: String,
        /// The ERROR frame's body (details, often text).
        body: Bytes,
    },
    /// The server answered something else than CONNECTED or ERROR to CONNECT, or broke
    /// the protocol afterwards.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Nothing was heard from the server within the negotiated heart-beat interval times
    /// the tolerance.
    #[error("no heart-beat from the server within {0:?}")]
    HeartBeatTimeout(Duration),
    /// The operation did not complete in time (CONNECTED or a RECEIPT did not come).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The TLS handshake failed: the server's certificate is not trusted, is not valid for
    /// `server_name`, or the server does not speak TLS.
    #[error("TLS handshake with {server_name} failed: {reason}")]
    Tls {
        /// The name the certificate was checked against.
        server_name: String,
        /// What rustls reported (e.g. `invalid peer certificate: UnknownIssuer`).
        reason: String,
    },
    /// The connection is closed (after DISCONNECT, or because the server went away).
    #[error("connection closed")]
    Closed,
}

impl ClientError {
    /// `true` if the server sent an ERROR frame.
    pub fn is_server_error(&self) -> bool {
        matches!(self, ClientError::Server { .. })
    }

    /// `true` if the operation timed out (including a missed heart-beat).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout(_) | ClientError::HeartBeatTimeout(_)
        )
    }

    /// `true` if the connection is gone (closed, i/o failure, missed heart-beat).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            ClientError::Closed | ClientError::Io(_) | ClientError::HeartBeatTimeout(_)
        )
    }

    /// `true` if the TLS handshake failed (untrusted certificate, wrong server name).
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientError::Tls { .. })
    }
}

impl From<std::io::Error> for ClientError {
    fn from(error: std::io::Error) -> Self {
        ClientError::Io(Arc::new(error))
    }
}
