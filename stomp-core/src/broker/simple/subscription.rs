//! One live subscription: where it delivers, and its un-acked deliveries.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::BytesMut;
use bytestring::ByteString;

use super::config::DestinationKind;
use crate::broker::{AckMode, Subscriber};
use crate::codec::PreparedMessage;
use crate::outbound::{RoomWaker, SendError};
use crate::version::Version;

/// Per-delivery buffers are cut from chunks of this size, so a fan-out allocates rarely.
pub(crate) const CHUNK: usize = 16 * 1024;

/// A message as the broker keeps it: encoded once, plus its `message-id`.
#[derive(Debug)]
pub(crate) struct SharedMessage {
    pub(crate) prepared: PreparedMessage,
    pub(crate) message_id: Box<str>,
    /// Its key in the durable store, for a persistent queue message kept on disk.
    #[cfg_attr(not(feature = "durable"), allow(dead_code))]
    pub(crate) durable: Option<u64>,
    /// The producer's share of the memory budget this message takes while the broker
    /// holds it (a client's SEND to a queue); released with the last reference.
    #[allow(dead_code)]
    pub(crate) charge: Option<crate::memory::Reservation>,
}

/// A queue message waiting in a backlog or pending at a consumer.
#[derive(Debug, Clone)]
pub(crate) struct QueuedMessage {
    pub(crate) message: Arc<SharedMessage>,
    /// How many times it has been handed to a consumer.
    pub(crate) deliveries: u32,
}

/// One un-acked delivery.
#[derive(Debug)]
pub(crate) struct PendingEntry {
    seq: u64,
    /// The message, for queue deliveries (to hand it on after NACK or a leaving consumer).
    pub(crate) queued: Option<QueuedMessage>,
}

#[derive(Debug, Default)]
struct Pending {
    next_seq: u64,
    /// Ordered by `seq`.
    entries: VecDeque<PendingEntry>,
}

/// A subscription's [`RoomWaker`], made on first need.
#[derive(Default)]
pub(crate) struct WakerSlot(OnceLock<RoomWaker>);

impl WakerSlot {
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> RoomWaker) -> &RoomWaker {
        self.0.get_or_init(make)
    }
}

impl std::fmt::Debug for WakerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "WakerSlot(set)"
        } else {
            "WakerSlot(empty)"
        })
    }
}

/// A subscription, shared by the session's table and the destination index.
#[derive(Debug)]
pub(crate) struct Sub {
    /// Broker-wide unique number (the first half of this subscription's ack ids).
    pub(crate) key: u64,
    pub(crate) id: ByteString,
    pub(crate) destination: ByteString,
    pub(crate) kind: DestinationKind,
    pub(crate) pattern: bool,
    pub(crate) ack: AckMode,
    pub(crate) subscriber: Subscriber,
    /// Most un-acked queue deliveries at once (`prefetch-count`; `client` and
    /// `client-individual` queue consumers only).
    pub(crate) prefetch: usize,
    /// `true` while a queue waits for room in this subscriber's outbound queue (one
    /// [`OutboundSender::when_room`](crate::outbound::OutboundSender::when_room) waker
    /// registered at a time).
    pub(crate) awaiting_room: AtomicBool,
    /// The waker a queue registers while waiting (made on first need; the outbound queue
    /// holds it weakly, so it goes with the subscription).
    pub(crate) room_waker: WakerSlot,
    /// Position in the [`SubList`] holding it (`usize::MAX` when in none).
    slot: AtomicUsize,
    pending: Mutex<Pending>,
    /// `true` once taken out of the pattern index. Pattern deliveries happen after the
    /// index lock is released; they check this flag under its lock, so none is sent once
    /// the subscription's removal returned.
    detached: Mutex<bool>,
}

impl Sub {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        key: u64,
        id: ByteString,
        destination: ByteString,
        kind: DestinationKind,
        pattern: bool,
        ack: AckMode,
        subscriber: Subscriber,
        prefetch: usize,
    ) -> Self {
        Sub {
            key,
            id,
            destination,
            kind,
            pattern,
            ack,
            subscriber,
            prefetch,
            awaiting_room: AtomicBool::new(false),
            room_waker: WakerSlot::default(),
            slot: AtomicUsize::new(usize::MAX),
            pending: Mutex::new(Pending::default()),
            detached: Mutex::new(false),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        crate::sync::lock(&self.pending)
    }

    /// Marks the subscription as out of the index: [`Sub::deliver_if_attached`] sends
    /// nothing from now on (and waits for one in progress to finish).
    pub(crate) fn mark_detached(&self) {
        *self.detached.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }

    /// [`Sub::deliver`], unless [`Sub::mark_detached`] was called.
    pub(crate) fn deliver_if_attached(
        &self,
        message: &SharedMessage,
        max_unacked: usize,
        buf: &mut BytesMut,
        text: bool,
    ) -> Result<(), SendError> {
        let detached = self.detached.lock().unwrap_or_else(|p| p.into_inner());
        if *detached {
            return Ok(());
        }
        self.deliver(message, None, max_unacked, buf, text)
    }

    /// Whether a queue may hand this consumer another message as far as acknowledgements
    /// go (its prefetch); room in its outbound queue is checked when delivering.
    pub(crate) fn has_credit(&self) -> bool {
        self.ack == AckMode::Auto || self.pending().entries.len() < self.prefetch
    }

    /// Number of un-acked deliveries.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending().entries.len()
    }

    /// Takes every un-acked delivery, oldest first.
    pub(crate) fn take_pending(&self) -> VecDeque<PendingEntry> {
        std::mem::take(&mut self.pending().entries)
    }

    /// Encodes one MESSAGE for this subscription and queues it without waiting.
    ///
    /// For `client` / `client-individual` subscriptions the delivery is recorded as pending
    /// (with `queued`, for queues) before it is sent, and forgotten again if sending fails.
    ///
    /// A queue delivery (`queued` is `Some`) is only *offered*: if the subscriber's
    /// outbound queue has no room it fails with [`SendError::Full`] and nothing changes
    /// (the queue keeps the message); it carries `redelivered:true` when the message was
    /// handed out before. A topic delivery is sent, and a full outbound queue applies the
    /// session's slow-consumer policy. With `text` (and a text message) the frame is written
    /// as a `String` of its own instead of being split from `buf`.
    pub(crate) fn deliver(
        &self,
        message: &SharedMessage,
        queued: Option<QueuedMessage>,
        max_unacked: usize,
        buf: &mut BytesMut,
        text: bool,
    ) -> Result<(), SendError> {
        let version = self.subscriber.version;
        let credit = queued.is_some();
        let redelivered = queued.as_ref().is_some_and(|q| q.deliveries > 1);
        if credit {
            let estimate = message.prepared.shared(version).len() + self.id.len() + 128;
            let outbound = &self.subscriber.outbound;
            if !outbound.has_room(estimate) {
                return Err(if outbound.is_closed() {
                    SendError::Closed
                } else {
                    SendError::Full
                });
            }
        }
        let seq = (self.ack != AckMode::Auto).then(|| {
            let mut pending = self.pending();
            let seq = pending.next_seq;
            pending.next_seq += 1;
            if pending.entries.len() >= max_unacked && queued.is_none() {
                // A topic subscriber that never acks must not grow without bound.
                pending.entries.pop_front();
            }
            pending.entries.push_back(PendingEntry { seq, queued });
            seq
        });
        let mut ack_id = AckId::default();
        let ack = seq.map(|seq| ack_id.format(self.key, seq));
        // STOMP 1.0 / 1.1 clients acknowledge by `message-id` and know no `ack` header: the
        // delivery's ack id is their message id.
        let (message_id, ack) = match ack {
            Some(ack) if version < Version::V1_2 => (ack, None),
            ack => (&*message.message_id, ack),
        };
        let outbound = &self.subscriber.outbound;
        let text = text
            .then(|| {
                message
                    .prepared
                    .text_delivery(version, &self.id, message_id, ack, redelivered)
            })
            .flatten();
        let result = if let Some(text) = text {
            // A text message: a buffer of its own, which the writer sends unchecked.
            if credit {
                outbound.offer_text(text)
            } else {
                outbound.send_text(text)
            }
        } else {
            let need = message.prepared.shared(version).len()
                + self.id.len()
                + message_id.len()
                + ack.map_or(0, str::len)
                + 82;
            if buf.capacity() < need {
                buf.reserve(need.max(CHUNK));
            }
            message.prepared.write_delivery_marked(
                version,
                &self.id,
                message_id,
                ack,
                redelivered,
                buf,
            );
            let frame = buf.split().freeze();
            if credit {
                outbound.offer(frame)
            } else {
                outbound.send(frame)
            }
        };
        if let (Err(_), Some(seq)) = (&result, seq) {
            let mut pending = self.pending();
            if let Some(at) = pending.entries.iter().rposition(|e| e.seq == seq) {
                pending.entries.remove(at);
            }
        }
        result
    }

    /// Settles the delivery `seq` (ACK or NACK): `client` subscriptions settle it and every
    /// earlier one, `client-individual` exactly it. `None` if `seq` is not pending.
    pub(crate) fn settle(&self, seq: u64) -> Option<Vec<PendingEntry>> {
        let mut pending = self.pending();
        let at = pending.entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        match self.ack {
            AckMode::Auto => None,
            AckMode::Client => Some(pending.entries.drain(..=at).collect()),
            AckMode::ClientIndividual => pending.entries.remove(at).map(|e| vec![e]),
        }
    }
}

/// The subscriptions of one destination or pattern, with O(1) removal.
#[derive(Debug, Default, Clone)]
pub(crate) struct SubList {
    subs: Vec<Arc<Sub>>,
}

impl SubList {
    pub(crate) fn push(&mut self, sub: Arc<Sub>) {
        sub.slot.store(self.subs.len(), Ordering::Relaxed);
        self.subs.push(sub);
    }

    /// Removes `sub`; `false` if it is not in this list.
    pub(crate) fn remove(&mut self, sub: &Arc<Sub>) -> bool {
        let at = sub.slot.load(Ordering::Relaxed);
        if self.subs.get(at).is_none_or(|s| !Arc::ptr_eq(s, sub)) {
            return false;
        }
        self.subs.swap_remove(at);
        if let Some(moved) = self.subs.get(at) {
            moved.slot.store(at, Ordering::Relaxed);
        }
        sub.slot.store(usize::MAX, Ordering::Relaxed);
        true
    }

    pub(crate) fn get(&self, at: usize) -> Option<&Arc<Sub>> {
        self.subs.get(at)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Sub>> {
        self.subs.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.subs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }
}

/// An ack id, `{subscription key}-{delivery number}`, formatted on the stack.
#[derive(Debug)]
struct AckId {
    buf: [u8; 41],
    len: usize,
}

impl Default for AckId {
    fn default() -> Self {
        AckId {
            buf: [0; 41],
            len: 0,
        }
    }
}

impl AckId {
    fn format(&mut self, key: u64, seq: u64) -> &str {
        let mut cursor = &mut self.buf[..];
        // Two u64s and a dash always fit in 41 bytes.
        let _ = write!(cursor, "{key}-{seq}");
        let left = cursor.len();
        self.len = self.buf.len() - left;
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Splits an ack id a client sent back into `(subscription key, delivery number)`.
pub(crate) fn parse_ack_id(id: &str) -> Option<(u64, u64)> {
    let (key, seq) = id.split_once('-')?;
    Some((key.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_ids_round_trip() {
        let mut id = AckId::default();
        assert_eq!(
            id.format(u64::MAX, u64::MAX),
            "18446744073709551615-18446744073709551615"
        );
        assert_eq!(parse_ack_id(id.format(3, 17)), Some((3, 17)));
        for bad in [
            "",
            "3",
            "3-",
            "-1",
            "a-1",
            "1-2-3",
            "99999999999999999999-1",
        ] {
            assert_eq!(parse_ack_id(bad), None, "{bad}");
        }
    }
}
