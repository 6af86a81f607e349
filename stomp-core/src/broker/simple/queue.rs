//! A point-to-point queue: consumers served round-robin, and a bounded backlog of messages
//! no consumer could take yet.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;

use super::subscription::{PendingEntry, QueuedMessage, SharedMessage, Sub, SubList};
use crate::broker::AckMode;
use crate::outbound::SendError;

/// One queue destination.
#[derive(Debug, Default)]
pub(crate) struct QueueState {
    pub(crate) consumers: SubList,
    /// Round-robin position in `consumers`.
    next: usize,
    /// Messages waiting for a consumer, oldest first.
    pub(crate) backlog: VecDeque<QueuedMessage>,
}

/// Limits the queue applies while pumping, and the broker-wide count of backlog bytes it
/// keeps up to date.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits<'a> {
    pub(crate) max_unacked: usize,
    pub(crate) max_redeliveries: Option<u32>,
    pub(crate) backlog_bytes: &'a AtomicUsize,
    /// The durable store, when the broker has one.
    #[cfg(feature = "durable")]
    pub(crate) store: Option<&'a super::durable::Store>,
}

impl QueueLimits<'_> {
    fn backlog_added(&self, queued: &QueuedMessage) {
        self.backlog_bytes
            .fetch_add(queued.message.prepared.len(), Ordering::Relaxed);
    }

    /// The message is done with (acknowledged, delivered to an `auto` consumer, or
    /// dropped): a persistent one leaves the durable store.
    pub(crate) fn forget(&self, message: &SharedMessage) {
        #[cfg(feature = "durable")]
        if let (Some(store), Some(key)) = (self.store, message.durable) {
            store.delete(key, message.prepared.len());
        }
        #[cfg(not(feature = "durable"))]
        let _ = message;
    }

    fn backlog_removed(&self, queued: &QueuedMessage) {
        self.backlog_bytes
            .fetch_sub(queued.message.prepared.len(), Ordering::Relaxed);
    }
}

impl QueueState {
    /// Queues a new message at the back of the backlog.
    pub(crate) fn push(&mut self, queued: QueuedMessage, limits: QueueLimits<'_>) {
        limits.backlog_added(&queued);
        self.backlog.push_back(queued);
    }

    /// Takes `message` back out if it is still the last one waiting; `true` if it was.
    pub(crate) fn retract_last(
        &mut self,
        message: &Arc<SharedMessage>,
        limits: QueueLimits<'_>,
    ) -> bool {
        if !self
            .backlog
            .back()
            .is_some_and(|last| Arc::ptr_eq(&last.message, message))
        {
            return false;
        }
        if let Some(last) = self.backlog.pop_back() {
            limits.backlog_removed(&last);
        }
        true
    }

    /// No consumer and nothing waiting: the entry can go.
    pub(crate) fn is_unused(&self) -> bool {
        self.consumers.is_empty() && self.backlog.is_empty()
    }

    /// Puts un-acked messages back at the front of the backlog, in their original order,
    /// dropping those that used up their redeliveries.
    pub(crate) fn hand_back(
        &mut self,
        entries: impl DoubleEndedIterator<Item = PendingEntry>,
        limits: QueueLimits<'_>,
    ) {
        for entry in entries.rev() {
            let Some(queued) = entry.queued else { continue };
            if limits
                .max_redeliveries
                .is_some_and(|max| queued.deliveries > max)
            {
                tracing::debug!(
                    message_id = &*queued.message.message_id,
                    deliveries = queued.deliveries,
                    "queue message dropped after its last redelivery"
                );
                limits.forget(&queued.message);
                continue;
            }
            limits.backlog_added(&queued);
            self.backlog.push_front(queued);
        }
    }

    /// Delivers waiting messages, oldest first, each to the next consumer in round-robin
    /// order that has room, until the backlog is empty or no consumer can take more.
    ///
    /// A consumer whose session is gone (`Closed`, `SlowConsumer`) is removed and its
    /// un-acked messages go back to the front of the backlog; one whose queue dropped the
    /// frame (`DropNewest`) is skipped for this message.
    pub(crate) fn pump(&mut self, limits: QueueLimits<'_>, buf: &mut BytesMut) {
        'messages: while let Some(front) = self.backlog.front() {
            let message = front.message.clone();
            let deliveries = front.deliveries + 1;
            let n = self.consumers.len();
            for _ in 0..n {
                let at = self.next % n;
                self.next = (at + 1) % n;
                let Some(sub) = self.consumers.get(at).map(Arc::clone) else {
                    break;
                };
                if !sub.has_room(limits.max_unacked) {
                    continue;
                }
                let queued = QueuedMessage {
                    message: message.clone(),
                    deliveries,
                };
                match sub.deliver(&message, Some(queued), limits.max_unacked, buf) {
                    Ok(()) => {
                        if let Some(sent) = self.backlog.pop_front() {
                            limits.backlog_removed(&sent);
                        }
                        if sub.ack == AckMode::Auto {
                            // Delivered means acknowledged.
                            limits.forget(&message);
                        }
                        continue 'messages;
                    }
                    Err(SendError::Dropped) => continue,
                    Err(_) => {
                        self.remove_consumer(&sub, limits);
                        continue 'messages;
                    }
                }
            }
            break;
        }
    }

    /// Removes a consumer and hands its un-acked messages back (without pumping).
    pub(crate) fn remove_consumer(&mut self, sub: &Arc<Sub>, limits: QueueLimits<'_>) {
        self.consumers.remove(sub);
        let pending = sub.take_pending();
        self.hand_back(pending.into_iter(), limits);
    }
}
