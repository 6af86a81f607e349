//! Transport counters and the connection tracker behind max-connections and graceful
//! shutdown.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// A snapshot of an endpoint's transport counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// WebSocket connections open now.
    pub connections_current: usize,
    /// WebSocket connections accepted since start.
    pub connections_total: u64,
    /// Upgrades refused (origin, handshake principal, max connections, shutting down).
    pub handshakes_refused: u64,
    /// Messages over the size limit.
    pub messages_too_large: u64,
    /// Connections closed for sending nothing within the time to the first message.
    pub first_message_timeouts: u64,
    /// Sessions closed because a send took longer than the send time limit.
    pub send_timeouts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    current: AtomicUsize,
    total: AtomicU64,
    refused: AtomicU64,
    too_large: AtomicU64,
    first_message_timeouts: AtomicU64,
    send_timeouts: AtomicU64,
    shutting_down: AtomicBool,
    idle: Notify,
}

/// Shared by every connection of one endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker(Arc<Counters>);

/// Why a connection could not be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdmitError {
    TooMany,
    ShuttingDown,
}

/// Holds one connection slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Tracker);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let left = self.0 .0.current.fetch_sub(1, Ordering::AcqRel) - 1;
        if left == 0 {
            self.0 .0.idle.notify_waiters();
        }
    }
}

impl Tracker {
    /// Takes a connection slot, unless `max` are taken or the endpoint is shutting down.
    pub(crate) fn admit(&self, max: Option<usize>) -> Result<ConnectionGuard, AdmitError> {
        let c = &self.0;
        if c.shutting_down.load(Ordering::Acquire) {
            return Err(AdmitError::ShuttingDown);
        }
        let before = c.current.fetch_add(1, Ordering::AcqRel);
        let guard = ConnectionGuard(self.clone());
        if max.is_some_and(|max| before >= max) {
            drop(guard);
            return Err(AdmitError::TooMany);
        }
        Ok(guard)
    }

    pub(crate) fn connection_opened(&self) {
        self.0.total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.0.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn too_large(&self) {
        self.0.too_large.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn first_message_timeout(&self) {
        self.0
            .first_message_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn send_timeout(&self) {
        self.0.send_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Refuses new connections from now on.
    pub(crate) fn start_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::Release);
    }

    /// Waits until no connection is open, at most `timeout`; `true` if none is.
    pub(crate) async fn wait_idle(&self, timeout: Duration) -> bool {
        let wait = async {
            // Bounded by the timeout around it; each turn waits for a drop to zero.
            loop {
                let idle = self.0.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.0.current.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    pub(crate) fn snapshot(&self) -> TransportStats {
        let c = &self.0;
        TransportStats {
            connections_current: c.current.load(Ordering::Acquire),
            connections_total: c.total.load(Ordering::Relaxed),
            handshakes_refused: c.refused.load(Ordering::Relaxed),
            messages_too_large: c.too_large.load(Ordering::Relaxed),
            first_message_timeouts: c.first_message_timeouts.load(Ordering::Relaxed),
            send_timeouts: c.send_timeouts.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_up_to_max_and_frees_slots_on_drop() {
        let t = Tracker::default();
        let a = t.admit(Some(2)).unwrap();
        let b = t.admit(Some(2)).unwrap();
        assert_eq!(t.admit(Some(2)).unwrap_err(), AdmitError::TooMany);
        assert_eq!(t.snapshot().connections_current, 2);
        drop(a);
        let c = t.admit(Some(2)).unwrap();
        drop((b, c));
        assert_eq!(t.snapshot().connections_current, 0);
        t.start_shutdown();
        assert_eq!(t.admit(None).unwrap_err(), AdmitError::ShuttingDown);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_idle_returns_when_the_last_connection_goes() {
        let t = Tracker::default();
        let guard = t.admit(None).unwrap();
        assert!(!t.wait_idle(Duration::from_secs(1)).await);
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.wait_idle(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        drop(guard);
        assert!(waiter.await.unwrap());
    }
}
