//! A point-to-point queue: consumers served round-robin, and a bounded backlog of messages
//! no consumer could take yet.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;

use super::subscription::{PendingEntry, QueuedMessage, Sub, SubList};
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

/// Limits the queue applies while pumping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) max_unacked: usize,
    pub(crate) max_redeliveries: Option<u32>,
}

impl QueueState {
    /// No consumer and nothing waiting: the entry can go.
    pub(crate) fn is_unused(&self) -> bool {
        self.consumers.is_empty() && self.backlog.is_empty()
    }

    /// Puts un-acked messages back at the front of the backlog, in their original order,
    /// dropping those that used up their redeliveries.
    pub(crate) fn hand_back(
        &mut self,
        entries: impl DoubleEndedIterator<Item = PendingEntry>,
        limits: QueueLimits,
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
                continue;
            }
            self.backlog.push_front(queued);
        }
    }

    /// Delivers waiting messages, oldest first, each to the next consumer in round-robin
    /// order that has room, until the backlog is empty or no consumer can take more.
    ///
    /// A consumer whose session is gone (`Closed`, `SlowConsumer`) is removed and its
    /// un-acked messages go back to the front of the backlog; one whose queue dropped the
    /// frame (`DropNewest`) is skipped for this message.
    pub(crate) fn pump(&mut self, limits: QueueLimits, buf: &mut BytesMut) {
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
                        self.backlog.pop_front();
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
    pub(crate) fn remove_consumer(&mut self, sub: &Arc<Sub>, limits: QueueLimits) {
        self.consumers.remove(sub);
        let pending = sub.take_pending();
        self.hand_back(pending.into_iter(), limits);
    }
}
