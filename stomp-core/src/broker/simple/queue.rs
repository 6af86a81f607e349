//! Point-to-point queues: consumers served round-robin, a bounded backlog of messages no
//! consumer could take yet, and credit: a message leaves the backlog only when a consumer
//! has room for it.
//!
//! A consumer has room when it is under its prefetch (`client` / `client-individual`) *and*
//! its session's outbound queue can take the frame ([`OutboundSender::offer`]). When it has
//! not, the queue registers a waker with that outbound queue
//! ([`OutboundSender::when_room`]); the session's writer runs it once it has drained to its
//! low-water mark, and the queue is pumped again. So a backlog of any size drains at the
//! pace of its consumers, in every ack mode, and nothing is pushed into an outbound queue
//! that would evict its session.
//!
//! Budgets count what a queue *holds*: its backlog plus its deliveries waiting for ACK.
//! Handing a delivery back (NACK, a consumer leaving) moves it between the two and never
//! grows the total.
//!
//! [`OutboundSender::offer`]: crate::outbound::OutboundSender::offer
//! [`OutboundSender::when_room`]: crate::outbound::OutboundSender::when_room

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;

use super::subscription::{PendingEntry, QueuedMessage, SharedMessage, Sub, SubList};
use crate::broker::AckMode;
use crate::outbound::SendError;
use crate::sync::lock;

/// One shard of the queue index.
pub(crate) type QueueShard = Mutex<HashMap<Box<str>, QueueState>>;

/// Number of shards of the queue index (a power of two).
const SHARDS: usize = 32;

/// Every queue of a broker, shared (`Arc`) with the wakers that pump a queue again once a
/// consumer's outbound queue has room.
#[derive(Debug)]
pub(crate) struct Queues {
    hasher: RandomState,
    shards: Box<[QueueShard]>,
    /// Bytes of queue messages held, across all queues: waiting in a backlog, or delivered
    /// to a `client` / `client-individual` consumer and not yet acknowledged.
    held_bytes: AtomicUsize,
    max_unacked: usize,
    max_redeliveries: Option<u32>,
    /// The durable store, when the broker has one.
    #[cfg(feature = "durable")]
    pub(crate) store: Option<super::durable::Store>,
}

impl Queues {
    pub(crate) fn new(
        hasher: RandomState,
        max_unacked: usize,
        max_redeliveries: Option<u32>,
    ) -> Self {
        Queues {
            hasher,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            held_bytes: AtomicUsize::new(0),
            max_unacked,
            max_redeliveries,
            #[cfg(feature = "durable")]
            store: None,
        }
    }

    /// The shard holding `destination`.
    pub(crate) fn shard(&self, destination: &str) -> &QueueShard {
        &self.shards[(self.hasher.hash_one(destination) as usize) & (SHARDS - 1)]
    }

    /// Every shard (for statistics).
    pub(crate) fn shards(&self) -> impl Iterator<Item = &QueueShard> {
        self.shards.iter()
    }

    /// Bytes held by all queues (one atomic load).
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes.load(Ordering::Relaxed)
    }

    /// Pumps `destination` again (a consumer's outbound queue drained).
    fn pump_queue(self: &Arc<Self>, destination: &str) {
        let limits = QueueLimits { queues: self };
        let mut shard = lock(self.shard(destination));
        if let Some(queue) = shard.get_mut(destination) {
            queue.pump(limits, &mut BytesMut::new());
            if queue.is_unused() {
                shard.remove(destination);
            }
        }
    }
}

/// What a queue needs while pumping: the limits, the byte count it keeps up to date, the
/// durable store, and a way back to itself for the wakers it registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits<'a> {
    pub(crate) queues: &'a Arc<Queues>,
}

impl QueueLimits<'_> {
    fn held(&self, message: &SharedMessage) {
        self.queues
            .held_bytes
            .fetch_add(message.prepared.len(), Ordering::Relaxed);
    }

    fn released(&self, message: &SharedMessage) {
        self.queues
            .held_bytes
            .fetch_sub(message.prepared.len(), Ordering::Relaxed);
    }

    /// The message is done with (acknowledged, delivered to an `auto` consumer, or
    /// dropped): a persistent one leaves the durable store.
    pub(crate) fn forget(&self, message: &SharedMessage) {
        #[cfg(feature = "durable")]
        if let (Some(store), Some(key)) = (&self.queues.store, message.durable) {
            store.delete(key, message.prepared.len());
        }
        #[cfg(not(feature = "durable"))]
        let _ = message;
    }

    /// Releases the message's bytes and forgets it.
    fn done(&self, message: &SharedMessage) {
        self.released(message);
        self.forget(message);
    }
}

/// One queue destination.
#[derive(Debug, Default)]
pub(crate) struct QueueState {
    pub(crate) consumers: SubList,
    /// Round-robin position in `consumers`.
    next: usize,
    /// Messages waiting for a consumer, oldest first.
    pub(crate) backlog: VecDeque<QueuedMessage>,
    /// Deliveries to `client` / `client-individual` consumers not yet acknowledged.
    unacked: usize,
}

impl QueueState {
    /// Messages the queue holds: waiting, plus delivered and not yet acknowledged (what
    /// [`SimpleBrokerConfig::max_queue_depth`](super::SimpleBrokerConfig::max_queue_depth)
    /// bounds).
    pub(crate) fn depth(&self) -> usize {
        self.backlog.len() + self.unacked
    }

    /// Queues a new message at the back of the backlog.
    pub(crate) fn push(&mut self, queued: QueuedMessage, limits: QueueLimits<'_>) {
        limits.held(&queued.message);
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
            limits.released(&last.message);
        }
        true
    }

    /// No consumer, nothing waiting and nothing un-acked: the entry can go.
    pub(crate) fn is_unused(&self) -> bool {
        self.consumers.is_empty() && self.backlog.is_empty() && self.unacked == 0
    }

    /// Settles deliveries a consumer acknowledged (`nack == false`: they are done) or
    /// rejected (they go back to the front of the backlog).
    pub(crate) fn settled(
        &mut self,
        entries: Vec<PendingEntry>,
        nack: bool,
        limits: QueueLimits<'_>,
    ) {
        if nack {
            self.hand_back(entries.into_iter(), limits);
            return;
        }
        for queued in entries.into_iter().filter_map(|e| e.queued) {
            self.unacked = self.unacked.saturating_sub(1);
            limits.done(&queued.message);
        }
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
            self.unacked = self.unacked.saturating_sub(1);
            if limits
                .queues
                .max_redeliveries
                .is_some_and(|max| queued.deliveries > max)
            {
                tracing::debug!(
                    message_id = &*queued.message.message_id,
                    deliveries = queued.deliveries,
                    "queue message dropped after its last redelivery"
                );
                limits.done(&queued.message);
                continue;
            }
            // Still held: it moves from un-acked back to waiting.
            self.backlog.push_front(queued);
        }
    }

    /// Delivers waiting messages, oldest first, each to the next consumer in round-robin
    /// order that has credit, until the backlog is empty or no consumer can take more.
    pub(crate) fn pump(&mut self, limits: QueueLimits<'_>, buf: &mut BytesMut) {
        self.pump_to(limits, buf, false);
    }

    /// [`pump`](Self::pump); with `auto_only`, only `auto` consumers are considered (a
    /// message over the byte budget may pass through to one, but must not stay held).
    ///
    /// A consumer under its prefetch whose outbound queue is full is skipped and woken
    /// when it has drained; one whose session is gone (`Closed`) is removed and its
    /// un-acked messages go back to the front of the backlog.
    pub(crate) fn pump_to(&mut self, limits: QueueLimits<'_>, buf: &mut BytesMut, auto_only: bool) {
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
                if (auto_only && sub.ack != AckMode::Auto) || !sub.has_credit() {
                    continue;
                }
                let queued = QueuedMessage {
                    message: message.clone(),
                    deliveries,
                };
                let max_unacked = limits.queues.max_unacked;
                // One delivery of this message.
                let text = message.prepared.is_text();
                let mut sent = sub.deliver(&message, Some(queued.clone()), max_unacked, buf, text);
                if sent == Err(SendError::Full) && wait_for_room(&sub, &message, limits) {
                    // The writer drained meanwhile: offer once more.
                    sent = sub.deliver(&message, Some(queued), max_unacked, buf, text);
                }
                match sent {
                    Ok(()) => {
                        self.backlog.pop_front();
                        if sub.ack == AckMode::Auto {
                            // Delivered means acknowledged.
                            limits.done(&message);
                        } else {
                            self.unacked += 1;
                        }
                        continue 'messages;
                    }
                    Err(SendError::Full | SendError::Dropped) => continue,
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

/// Asks `sub`'s outbound queue to wake this queue once it has drained (one waker per
/// subscription at a time). `true` if there is room already, so the caller offers again.
fn wait_for_room(sub: &Arc<Sub>, message: &SharedMessage, limits: QueueLimits<'_>) -> bool {
    if sub.awaiting_room.swap(true, Ordering::SeqCst) {
        // A waker is registered and will pump this queue.
        return false;
    }
    let waker = sub.room_waker.get_or_init(|| {
        let queues = Arc::downgrade(limits.queues);
        let weak = Arc::downgrade(sub);
        Arc::new(move || {
            let Some(sub) = weak.upgrade() else { return };
            sub.awaiting_room.store(false, Ordering::SeqCst);
            if let Some(queues) = queues.upgrade() {
                queues.pump_queue(&sub.destination);
            }
        })
    });
    let len = message.prepared.len() + sub.id.len() + 128;
    sub.subscriber.outbound.when_room(len, waker)
}
