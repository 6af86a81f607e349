//! The system connection: one shared broker connection for handler replies and template
//! sends, kept up by a supervisor task that reconnects with backoff across the host list
//! and reports broker availability.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::RelayConfig;
use crate::backoff::Backoff;
use crate::client::{Client, ClientConfig, ClientError};

/// Whether the external broker can be reached (as seen by the system connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerAvailability {
    /// The system connection is up.
    Available,
    /// The system connection is down; the relay is reconnecting.
    Unavailable,
}

/// What the supervisor publishes.
pub(crate) struct SystemState {
    pub(crate) client: watch::Sender<Option<Client>>,
    pub(crate) availability: watch::Sender<BrokerAvailability>,
    /// Index of the host the system connection last reached: other connections try it
    /// first, so a dead host in front of the list costs nothing once failed over.
    host: AtomicUsize,
    /// Why the system connection last failed to connect or ended.
    last_error: Mutex<Option<ClientError>>,
}

impl SystemState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(SystemState {
            client: watch::channel(None).0,
            availability: watch::channel(BrokerAvailability::Unavailable).0,
            host: AtomicUsize::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The host index new broker connections start from.
    pub(crate) fn preferred_host(&self) -> usize {
        self.host.load(Ordering::Relaxed)
    }

    /// Why the system connection last failed to connect or ended.
    pub(crate) fn last_error(&self) -> Option<ClientError> {
        crate::sync::lock(&self.last_error).clone()
    }

    fn failed(&self, error: ClientError) {
        *crate::sync::lock(&self.last_error) = Some(error);
    }

    fn set(&self, client: Option<Client>) {
        let availability = if client.is_some() {
            BrokerAvailability::Available
        } else {
            BrokerAvailability::Unavailable
        };
        self.client.send_replace(client);
        self.availability.send_if_modified(|current| {
            let changed = *current != availability;
            *current = availability;
            changed
        });
    }
}

/// Connects to the first of the relay's hosts that answers (over TLS if configured),
/// starting at `start` and going round the list once. Returns the client and the index of
/// its host.
pub(crate) async fn connect_any(
    relay: &RelayConfig,
    start: usize,
    config: &ClientConfig,
) -> Result<(Client, usize), ClientError> {
    let hosts = &relay.hosts;
    let mut last = ClientError::Closed;
    for offset in 0..hosts.len() {
        let index = (start + offset) % hosts.len();
        let host = hosts[index].as_str();
        #[cfg(feature = "tls")]
        let attempt = match &relay.tls {
            Some(tls) => Client::connect_tls(host, tls, config.clone()).await,
            None => Client::connect_tcp(host, config.clone()).await,
        };
        #[cfg(not(feature = "tls"))]
        let attempt = Client::connect_tcp(host, config.clone()).await;
        match attempt {
            Ok(client) => return Ok((client, index)),
            Err(error) => {
                tracing::debug!(host, %error, "broker connection failed");
                last = error;
            }
        }
    }
    Err(last)
}

/// Keeps the system connection up until the relay is dropped (the task is aborted then).
pub(crate) async fn supervise(config: Arc<RelayConfig>, state: Arc<SystemState>) {
    let client_config = config.system_client();
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    let mut host = 0;
    loop {
        match connect_any(&config, host, &client_config).await {
            Ok((client, index)) => {
                host = index;
                state.host.store(index, Ordering::Relaxed);
                backoff = Backoff::new(config.backoff_initial, config.backoff_max);
                tracing::info!(host = %config.hosts[index], "relay system connection up");
                state.set(Some(client.clone()));
                let error = client.closed().await;
                tracing::warn!(%error, "relay system connection lost");
                state.failed(error);
                state.set(None);
                // Try the same host again at once; the next failure moves on and backs off.
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, retry_in = ?delay, "broker unavailable");
                state.failed(error);
                host = host.wrapping_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn availability_changes_are_reported_once() {
        let state = SystemState::new();
        let mut rx = state.availability.subscribe();
        assert_eq!(*rx.borrow_and_update(), BrokerAvailability::Unavailable);
        state.set(None);
        assert!(!rx.has_changed().unwrap_or(true));
    }
}
