//! The broker connections of client sessions: per-client links, the multiplexed pool,
//! connections of a session's own, and what happens when one of them ends.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

use bytestring::ByteString;

use super::delivery::Route;
use super::{system, users, ConnectionMode, Inner, CONNECTION_LOST, UNAVAILABLE};
use crate::broker::{BrokerError, Subscriber};
use crate::client::{Client, ClientError};
use crate::frame::Headers;
use crate::identity::SessionId;

/// What the relay keeps per client session.
pub(super) struct SessionEntry {
    /// The broker connection carrying the session's subscriptions.
    pub(super) link: Client,
    /// Multiplexed mode: a connection of the session's own for subscriptions that are not
    /// safe to share (see the module docs), opened with the first of them.
    pub(super) own_link: Option<Client>,
    /// Client subscription id → the broker subscription.
    pub(super) subscriptions: HashMap<ByteString, BrokerSubscription>,
    /// Learned from the first subscription: how to tell the session its link is gone.
    pub(super) subscriber: Option<Subscriber>,
    /// The session's user, if it has one.
    pub(super) user: Option<String>,
}

impl SessionEntry {
    pub(super) fn new(link: Client) -> Self {
        SessionEntry {
            link,
            own_link: None,
            subscriptions: HashMap::new(),
            subscriber: None,
            user: None,
        }
    }

    /// Whether `link` is one of the session's broker connections.
    pub(super) fn uses(&self, link: &Client) -> bool {
        self.uses_connection(link.connection_id())
    }

    /// Whether the connection with this id is one of the session's.
    pub(super) fn uses_connection(&self, id: u64) -> bool {
        self.link.connection_id() == id
            || self
                .own_link
                .as_ref()
                .is_some_and(|a| a.connection_id() == id)
    }
}

/// One client subscription as it exists in the broker.
pub(super) struct BrokerSubscription {
    /// The id on the broker connection.
    pub(super) id: ByteString,
    /// The broker connection it lives on.
    pub(super) link: Client,
    /// Where its messages go, and what of them is not settled yet.
    pub(super) route: Route,
}

impl Inner {
    /// The broker connection for a new session: its own (per-client) or a pooled one.
    pub(super) async fn open_link(
        self: &Arc<Self>,
        session: &SessionId,
        connect: &Headers,
    ) -> Result<Client, BrokerError> {
        self.system_client()?;
        match self.config.mode {
            ConnectionMode::PerClient => {
                let config = self.config.per_client(connect);
                let (client, _) =
                    system::connect_any(&self.config, self.system.preferred_host(), &config)
                        .await
                        .map_err(unavailable)?;
                self.watch_link(&client);
                Ok(client)
            }
            ConnectionMode::Multiplexed { .. } => self.pooled_link(session).await,
        }
    }

    async fn pooled_link(self: &Arc<Self>, session: &SessionId) -> Result<Client, BrokerError> {
        let slot = {
            let pool = self.pool();
            let mut hasher = DefaultHasher::new();
            session.hash(&mut hasher);
            let slot = (hasher.finish() % pool.len().max(1) as u64) as usize;
            if let Some(client) = pool.get(slot).and_then(Option::as_ref) {
                if !client.is_closed() {
                    return Ok(client.clone());
                }
            }
            slot
        };
        let config = self.config.system_client();
        let (client, _) = system::connect_any(&self.config, self.system.preferred_host(), &config)
            .await
            .map_err(unavailable)?;
        let chosen = {
            let mut pool = self.pool();
            match pool.get_mut(slot) {
                // Another session connected this slot meanwhile: use that connection.
                Some(Some(existing)) if !existing.is_closed() => existing.clone(),
                Some(entry) => {
                    *entry = Some(client.clone());
                    client
                }
                None => client,
            }
        };
        self.watch_link(&chosen);
        Ok(chosen)
    }

    /// When `link` ends, closes the sessions it served (ERROR + close) so their clients
    /// reconnect.
    fn watch_link(self: &Arc<Self>, link: &Client) {
        let weak: Weak<Inner> = Arc::downgrade(self);
        // Hold no handle: a link nobody uses any more must still close when dropped.
        let id = link.connection_id();
        let closed = link.closed_owned();
        tokio::spawn(async move {
            let error = closed.await;
            let Some(inner) = weak.upgrade() else { return };
            let lost: Vec<SessionEntry> = {
                let mut sessions = inner.sessions();
                let ids: Vec<SessionId> = sessions
                    .iter()
                    .filter(|(_, e)| e.uses_connection(id))
                    .map(|(id, _)| id.clone())
                    .collect();
                ids.iter().filter_map(|id| sessions.remove(id)).collect()
            };
            if !lost.is_empty() {
                tracing::warn!(%error, sessions = lost.len(), "relay broker connection lost");
            }
            for entry in lost {
                if let Some(subscriber) = &entry.subscriber {
                    Route::close_session(subscriber, CONNECTION_LOST);
                    if entry.user.is_some() {
                        inner.user_event(users::Local::Closed {
                            session: subscriber.session.clone(),
                        });
                    }
                }
            }
            let mut pool = inner.pool();
            for slot in pool.iter_mut() {
                if slot.as_ref().is_some_and(|c| c.connection_id() == id) {
                    *slot = None;
                }
            }
        });
    }

    /// The broker connection for a subscription of `session`, opening the session's
    /// connection if it was never announced by `session_opened`, and (in multiplexed mode,
    /// `private` subscriptions) the connection of the session's own.
    pub(super) async fn link_for(
        self: &Arc<Self>,
        session: &SessionId,
        private: bool,
    ) -> Result<Client, BrokerError> {
        let lost = || BrokerError::Unavailable(CONNECTION_LOST.to_owned());
        let existing = self
            .sessions()
            .get(session)
            .map(|e| (e.link.clone(), e.own_link.clone()));
        let link = match existing {
            Some((link, _)) if link.is_closed() => return Err(lost()),
            Some((link, own_link)) => {
                let own = matches!(self.config.mode, ConnectionMode::Multiplexed { .. }) && private;
                match own_link {
                    _ if !own => return Ok(link),
                    Some(own_link) if own_link.is_closed() => return Err(lost()),
                    Some(own_link) => return Ok(own_link),
                    None => link,
                }
            }
            None => {
                let link = self.open_link(session, &Headers::new()).await?;
                self.sessions()
                    .entry(session.clone())
                    .or_insert_with(|| SessionEntry::new(link.clone()));
                if !private || matches!(self.config.mode, ConnectionMode::PerClient) {
                    return Ok(link);
                }
                link
            }
        };
        drop(link);
        let config = self.config.system_client();
        let (own_link, _) =
            system::connect_any(&self.config, self.system.preferred_host(), &config)
                .await
                .map_err(unavailable)?;
        let stored = match self.sessions().get_mut(session) {
            Some(entry) if entry.own_link.is_none() => {
                entry.own_link = Some(own_link.clone());
                true
            }
            _ => false,
        };
        if !stored {
            let _ = own_link.disconnect().await;
            return Err(lost());
        }
        self.watch_link(&own_link);
        Ok(own_link)
    }
}

/// A broker connection failure as the session sees it.
pub(super) fn unavailable(error: ClientError) -> BrokerError {
    match error {
        ClientError::Server { message, .. } => {
            BrokerError::Unavailable(format!("broker refused: {message}"))
        }
        ClientError::Timeout(_) => BrokerError::Unavailable("broker did not answer in time".into()),
        // TLS failures are logged by the system connection; clients are not told the details.
        _ if error.is_connection_lost() || error.is_tls() => {
            BrokerError::Unavailable(UNAVAILABLE.to_owned())
        }
        other => BrokerError::Unavailable(other.to_string()),
    }
}
