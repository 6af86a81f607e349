//! The seam between the WebSocket transport and the session engine.
//!
//! The transport only needs: open a session for a connection, feed it bytes, tell it the
//! transport went away, and shut everything down. Keeping that behind a small trait lets
//! the transport be tested against a stand-in engine.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use stomp_core::outbound::OutboundReceiver;
use stomp_core::identity::{Principal, SessionId};
use stomp_core::Version;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the transport knows about a connection when it opens a session.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) principal: Option<Principal>,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) subprotocol: Option<Version>,
}

/// The session ended (DISCONNECT, protocol error, closed by the server): read no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended;

/// One open session, driven by its connection's reader.
pub(crate) trait BackendSession: Send {
    /// The session id (for logs).
    fn id(&self) -> SessionId;
    /// Feeds one WebSocket message's bytes, in order.
    fn receive<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), Ended>>;
    /// The connection is gone.
    fn transport_closed(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Opens sessions and shuts them all down.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Opens a session; its outbound queue is drained by the connection's writer.
    fn open(&self, connection: Connection) -> (Box<dyn BackendSession>, OutboundReceiver);
    /// Ends every session (ERROR "server shutting down", close 1001).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}
