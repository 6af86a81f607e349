//! Session lifecycle events, published by the engine on a bounded broadcast channel
//! (see [`Engine::subscribe_events`](crate::engine::Engine::subscribe_events)).
//!
//! Every session that completed CONNECT produces exactly one [`SessionEvent::Connected`]
//! and exactly one [`SessionEvent::Disconnected`], whatever ends it (DISCONNECT, an ERROR,
//! the transport going away, a heart-beat timeout, a slow-consumer close,
//! `close_session` or `shutdown`). A listener that lags more than the channel's capacity
//! behind loses the oldest events (`RecvError::Lagged`), never slows sessions down.

use bytestring::ByteString;

use crate::identity::{SessionId, SessionInfo};
use crate::outbound::CloseReason;

/// Something that happened to a session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// CONNECT was accepted and CONNECTED queued.
    Connected {
        /// The session as the application sees it.
        info: SessionInfo,
    },
    /// A broker subscription is live: a message published from a listener of this event
    /// reaches it.
    Subscribed {
        /// The session.
        session: SessionId,
        /// The SUBSCRIBE `id`.
        id: ByteString,
        /// The SUBSCRIBE `destination`, as the client sent it.
        destination: ByteString,
    },
    /// A broker subscription was removed by UNSUBSCRIBE.
    Unsubscribed {
        /// The session.
        session: SessionId,
        /// The UNSUBSCRIBE `id`.
        id: ByteString,
    },
    /// The session is gone and its broker state has been released.
    Disconnected {
        /// The session.
        session: SessionId,
        /// Why it ended.
        reason: CloseReason,
    },
}

impl SessionEvent {
    /// The session the event is about.
    pub fn session_id(&self) -> &SessionId {
        match self {
            SessionEvent::Connected { info } => &info.id,
            SessionEvent::Subscribed { session, .. }
            | SessionEvent::Unsubscribed { session, .. }
            | SessionEvent::Disconnected { session, .. } => session,
        }
    }
}
