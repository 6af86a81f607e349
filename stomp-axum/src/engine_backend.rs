//! The session engine behind the transport seam.

use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::outbound::OutboundReceiver;
use stomp_core::identity::SessionId;
use stomp_core::engine::Session;

use crate::backend::{Backend, BackendSession, BoxFuture, Connection, Ended};

impl Backend for Engine {
    fn open(&self, connection: Connection) -> (Box<dyn BackendSession>, OutboundReceiver) {
        let (session, outbound) = self.open_session(TransportInfo {
            principal: connection.principal,
            remote_addr: connection.remote_addr,
            subprotocol: connection.subprotocol,
        });
        (Box::new(session), outbound)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Engine::shutdown(self))
    }
}

impl BackendSession for Session {
    fn id(&self) -> SessionId {
        Session::id(self).clone()
    }

    fn receive<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), Ended>> {
        Box::pin(async move { Session::receive(self, bytes).await.map_err(|_| Ended) })
    }

    fn transport_closed(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(Session::transport_closed(*self))
    }
}
