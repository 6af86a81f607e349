//! [`SimpleBroker`]: the embedded in-memory broker.
//!
//! What it does that Spring's `SimpleBroker` does not:
//!
//! - **Queues are queues.** A destination under a queue prefix (default `/queue`) delivers
//!   each message to *one* consumer, round-robin. With `ack: client` or
//!   `client-individual`, an un-acked message goes to the next consumer on NACK or when
//!   its consumer unsubscribes or disconnects, marked `redelivered:true`; a queue keeps
//!   messages up to [`SimpleBrokerConfig::max_queue_depth`], counting un-acked deliveries
//!   (past it a SEND fails with [`BrokerError::QueueFull`]) and hands them out in order when
//!   one subscribes. Topic prefixes (default `/topic`) broadcast.
//!   [`SimpleBrokerConfig::spring_compatible`] makes every prefix broadcast, as Spring does.
//! - **Queues use credit.** A queue hands a message to a consumer only while the consumer
//!   is under its prefetch (the SUBSCRIBE `prefetch-count` header, see
//!   [`SimpleBrokerConfig::default_prefetch`]) and its outbound queue has room; the
//!   session's writer wakes the queue when it has drained. A backlog of any size drains
//!   without loss, and no queue delivery closes a session as a slow consumer.
//! - **ACK and NACK are honoured**: `client` acks are cumulative, `client-individual` acks
//!   exactly one delivery, unknown ack ids are errors ([`BrokerError::UnknownAckId`]). On a
//!   topic, ACK and NACK only clear the pending delivery (a NACKed broadcast is dropped).
//!   STOMP 1.0 and 1.1 sessions acknowledge by `message-id`: their deliveries on acking
//!   subscriptions carry the ack id as `message-id` (see [`Acknowledgement`]).
//! - **Encode once.** A published message is encoded once ([`PreparedMessage`]); each
//!   delivery only writes `subscription`, `message-id` and `ack` in front of the shared part.
//! - **No global lock.** Exact destinations live in 32 shards chosen by the destination's
//!   hash, each behind its own lock; patterns live in one segment trie ([`PatternTrie`])
//!   behind a read-write lock that publishes take for reading, and only when a pattern
//!   subscription exists. Shard locks are held for the synchronous lookup and the
//!   non-blocking [`OutboundSender::send`](crate::outbound::OutboundSender::send) calls
//!   only: a slow subscriber costs its own session (its slow-consumer policy), never the
//!   others. The pattern lock is held for the match only (linear in the destination's
//!   segments, see [`PatternTrie`]): the matching subscriber lists are shared (`Arc`,
//!   copied on write by a concurrent SUBSCRIBE) and delivered to after it is released, and
//!   a pattern SUBSCRIBE holds the write lock for one trie insertion. So a SUBSCRIBE
//!   waiting for the write lock never makes other sessions' publishes wait longer than
//!   one match.
//!
//! Destinations outside every configured prefix are refused with
//! [`BrokerError::InvalidDestination`], so are wildcards in a SEND destination, malformed
//! patterns, and patterns on queue destinations (a queue consumer names one queue).
//!
//! Calls for one session are expected in order (as a session handles its frames), not
//! concurrently; calls for different sessions run in parallel.

mod config;
#[cfg(feature = "durable")]
pub mod durable;
mod queue;
mod subscription;

pub use config::{DestinationKind, SimpleBrokerConfig};
#[cfg(feature = "durable")]
pub use durable::{DurableError, DurableReport};

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::BytesMut;
use bytestring::ByteString;

use self::queue::{QueueLimits, QueueState, Queues};
use self::subscription::{parse_ack_id, QueuedMessage, SharedMessage, Sub, SubList};
use futures_util::future::BoxFuture;

use super::{Acknowledgement, Broker, BrokerError, Message, Subscription};
use crate::codec::PreparedMessage;
use crate::destination::{is_pattern, validate_destination, validate_pattern, PatternTrie};
use crate::frame::name;
use crate::identity::SessionId;
use crate::memory::Reservation;
use crate::sync::{lock, read, write};

/// The SEND header that asks for a durable message (the RabbitMQ / ActiveMQ convention).
#[cfg(feature = "durable")]
const PERSISTENT: &str = "persistent";

/// The SUBSCRIBE header bounding a `client` / `client-individual` consumer's un-acked
/// deliveries (RabbitMQ's name).
pub const PREFETCH_COUNT: &str = "prefetch-count";

/// Number of shards of each registry map (a power of two).
const SHARDS: usize = 32;

/// A snapshot of what a [`SimpleBroker`] holds, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrokerStats {
    /// Sessions with at least one subscription.
    pub sessions: usize,
    /// Live subscriptions.
    pub subscriptions: usize,
    /// Deliveries waiting for ACK/NACK.
    pub pending: usize,
    /// Queue messages waiting for a consumer.
    pub queued: usize,
    /// Index entries: exact topic destinations, patterns and queues.
    pub destinations: usize,
    /// Persistent messages held in the durable store (feature `durable`; waiting, or
    /// delivered and not yet acknowledged).
    pub stored_messages: usize,
    /// Bytes of the encoded persistent messages held in the durable store.
    pub stored_bytes: usize,
}

impl BrokerStats {
    /// `true` when the broker holds nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == BrokerStats::default()
    }
}

/// The subscriptions of one session.
#[derive(Debug, Default)]
struct SessionSubs {
    by_id: HashMap<ByteString, Arc<Sub>>,
    by_key: HashMap<u64, Arc<Sub>>,
}

type TopicShard = RwLock<HashMap<Box<str>, SubList>>;
type SessionShard = Mutex<HashMap<SessionId, SessionSubs>>;

/// The embedded in-memory broker (see the [module docs](self)).
///
/// ```
/// use stomp_core::broker::{Broker, Message, SimpleBroker, SimpleBrokerConfig};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let broker = SimpleBroker::new(SimpleBrokerConfig::new());
/// let message = Message {
///     destination: "/topic/news".into(),
///     headers: [("destination", "/topic/news")].into_iter().collect(),
///     body: "hello".into(),
/// };
/// broker.publish(message).await.unwrap(); // nobody listens yet: dropped
/// assert!(broker.stats().is_empty());
/// # });
/// ```
#[derive(Debug)]
pub struct SimpleBroker {
    config: SimpleBrokerConfig,
    /// Random per broker: keys the cheap hash that picks a shard ([`shard`](Self::shard)).
    shard_seed: u64,
    topics: Box<[TopicShard]>,
    patterns: RwLock<PatternTrie<Arc<SubList>>>,
    pattern_subs: AtomicUsize,
    /// The queues, shared with the wakers that pump one again when its consumer has room.
    queues: Arc<Queues>,
    sessions: Box<[SessionShard]>,
    subscriptions: AtomicUsize,
    next_key: AtomicU64,
    next_message: AtomicU64,
    id_prefix: Box<str>,
    #[cfg(feature = "durable")]
    report: Option<DurableReport>,
}

impl Default for SimpleBroker {
    fn default() -> Self {
        SimpleBroker::new(SimpleBrokerConfig::default())
    }
}

fn invalid(destination: &str, reason: impl ToString) -> BrokerError {
    BrokerError::InvalidDestination {
        destination: destination.chars().take(256).collect(),
        reason: reason.to_string(),
    }
}

fn unknown_ack(id: &str) -> BrokerError {
    BrokerError::UnknownAckId(id.chars().take(64).collect())
}

/// Up to this many deliveries of one text message, each is written as a `String` of its own
/// ([`PreparedMessage::text_delivery`](crate::codec::PreparedMessage::text_delivery)),
/// which the WebSocket writer sends without checking it again; past it (fan-out) they are
/// split from one shared chunk, one allocation for all, and the writer checks each.
const TEXT_DELIVERIES: usize = 4;

/// Whether the `deliveries` deliveries of `message` are written as text of their own.
fn as_text(message: &SharedMessage, deliveries: usize) -> bool {
    deliveries <= TEXT_DELIVERIES && message.prepared.is_text()
}

/// Reserves room for `deliveries` frames of `message` (at most one chunk): every delivery
/// is split from `buf`, so a chunk sized for many would stay allocated, mostly unused,
/// while one small delivery waits in an outbound queue. Nothing when they are written
/// as text of their own.
fn reserve_for(buf: &mut BytesMut, message: &SharedMessage, deliveries: usize) {
    if as_text(message, deliveries) {
        return;
    }
    let per = message.prepared.len() + message.message_id.len() + 128;
    buf.reserve(per.saturating_mul(deliveries).min(subscription::CHUNK));
}

impl SimpleBroker {
    /// An in-memory broker with `config`.
    ///
    /// # Panics
    /// If `config` names a [data directory](SimpleBrokerConfig::data_dir) (feature
    /// `durable`): opening a store can fail, so such a broker comes from
    /// [`open`](Self::open), which returns the error.
    pub fn new(config: SimpleBrokerConfig) -> Self {
        #[cfg(feature = "durable")]
        assert!(
            config.data_dir.is_none(),
            "SimpleBroker::new cannot open a data directory: use SimpleBroker::open"
        );
        Self::in_memory(config)
    }

    /// Opens a broker with `config`: with a [data directory](SimpleBrokerConfig::data_dir),
    /// opens (or creates) its durable store and restores every persistent message to its
    /// queue, in order, with its `message-id`; its next delivery carries `redelivered:true`
    /// (it may have been delivered before the restart). Without one, the same as [`new`](Self::new).
    ///
    /// # Errors
    /// [`DurableError`] when the directory or the store cannot be used (it names the path
    /// and the reason: permissions, a full disk, a damaged file the storage engine cannot
    /// repair). A file not closed cleanly is repaired up to its last complete commit and
    /// damaged records are dropped; [`durable_report`](Self::durable_report) says so.
    #[cfg(feature = "durable")]
    pub fn open(config: SimpleBrokerConfig) -> Result<Self, DurableError> {
        let Some(dir) = config.data_dir.clone() else {
            return Ok(Self::in_memory(config));
        };
        let (store, messages, mut report) = durable::Store::open(&dir)?;
        let mut queues = Queues::new(
            RandomState::new(),
            config.max_unacked,
            config.max_redeliveries,
        );
        queues.store = Some(store);
        let mut broker = Self::with_queues(config, queues);
        let mut restored = 0;
        for stored in messages {
            if broker.restore(stored) {
                restored += 1;
            }
        }
        report.restored_messages = restored;
        if restored > 0 || report.damaged_records > 0 || report.recovered {
            tracing::info!("{report}");
        }
        broker.report = Some(report);
        Ok(broker)
    }

    /// What opening the durable store found (`None` without one).
    #[cfg(feature = "durable")]
    pub fn durable_report(&self) -> Option<&DurableReport> {
        self.report.as_ref()
    }

    /// Test hook: make the durable store's commits fail (`true`), as a full disk would, or
    /// work again (`false`).
    #[cfg(feature = "durable")]
    #[doc(hidden)]
    pub fn durable_fail_writes(&self, fail: bool) {
        if let Some(store) = &self.queues.store {
            store.fail_writes(fail);
        }
    }

    /// Puts a message read back from the store at the back of its queue; `false` if its
    /// destination is no longer a queue of this configuration (it stays on disk).
    #[cfg(feature = "durable")]
    fn restore(&self, stored: durable::StoredMessage) -> bool {
        let Some(store) = &self.queues.store else {
            return false;
        };
        if self.config.kind(&stored.queue) != Some(DestinationKind::Queue) {
            tracing::warn!(
                destination = stored.queue,
                "durable store: message kept on disk, its destination is not a queue here"
            );
            return false;
        }
        // Restored with one delivery counted: it may have been delivered before the
        // restart, so its next delivery is marked `redelivered:true`.
        let message = SharedMessage {
            prepared: PreparedMessage::new(&stored.headers, &stored.body),
            message_id: stored.message_id.into(),
            durable: Some(stored.key),
            charge: None,
        };
        store.count(message.prepared.len());
        let mut shard = lock(self.queues.shard(&stored.queue));
        let queue = shard.entry(stored.queue.into()).or_default();
        queue.push(
            QueuedMessage {
                message: Arc::new(message),
                deliveries: 1,
            },
            self.limits(),
        );
        true
    }

    fn in_memory(config: SimpleBrokerConfig) -> Self {
        let queues = Queues::new(
            RandomState::new(),
            config.max_unacked,
            config.max_redeliveries,
        );
        Self::with_queues(config, queues)
    }

    fn with_queues(config: SimpleBrokerConfig, queues: Queues) -> Self {
        let hasher = RandomState::new();
        // A per-broker random prefix keeps message ids unique across broker instances.
        let id_prefix = format!("{:08x}", hasher.hash_one(0xb70c_u32) as u32).into();
        SimpleBroker {
            patterns: RwLock::new(PatternTrie::new(config.separator)),
            config,
            shard_seed: hasher.hash_one(0x5eed_u32) | 1,
            topics: (0..SHARDS).map(|_| RwLock::default()).collect(),
            pattern_subs: AtomicUsize::new(0),
            queues: Arc::new(queues),
            sessions: (0..SHARDS).map(|_| Mutex::default()).collect(),
            subscriptions: AtomicUsize::new(0),
            next_key: AtomicU64::new(1),
            next_message: AtomicU64::new(1),
            id_prefix,
            #[cfg(feature = "durable")]
            report: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimpleBrokerConfig {
        &self.config
    }

    /// `true` if `destination` is under one of the configured prefixes.
    pub fn handles(&self, destination: &str) -> bool {
        self.config.handles(destination)
    }

    /// The shard of `key`. A multiply-fold over 8-byte words, keyed by a random seed:
    /// SipHash here cost a second full hash per publish (the shard's map hashes the key
    /// again). Only lock spreading depends on it; the maps inside keep SipHash, so chosen
    /// keys can crowd one shard but never degrade a lookup.
    fn shard(&self, key: &str) -> usize {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = self.shard_seed ^ key.len() as u64;
        let mut words = key.as_bytes().chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
            h ^= h >> 29;
        }
        for &b in words.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(K);
        }
        h ^= h >> 32;
        (h as usize) & (SHARDS - 1)
    }

    fn session_shard(&self, session: &SessionId) -> &SessionShard {
        &self.sessions[self.shard(session.as_str())]
    }

    fn limits(&self) -> QueueLimits<'_> {
        QueueLimits {
            queues: &self.queues,
        }
    }

    /// Bytes of queue messages held, across all queues (one atomic load): waiting for a
    /// consumer, or delivered to a `client` / `client-individual` consumer and not yet
    /// acknowledged. [`SimpleBrokerConfig::max_queued_bytes`] bounds it.
    pub fn queued_bytes(&self) -> usize {
        self.queues.held_bytes()
    }

    /// Number of live subscriptions (one atomic load).
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.load(Ordering::Acquire)
    }

    /// Counts everything the broker holds (walks every shard; for tests and metrics, not
    /// for hot paths).
    pub fn stats(&self) -> BrokerStats {
        let mut stats = BrokerStats {
            subscriptions: self.subscription_count(),
            ..BrokerStats::default()
        };
        for shard in self.sessions.iter() {
            let shard = lock(shard);
            stats.sessions += shard.len();
            stats.pending += shard
                .values()
                .flat_map(|s| s.by_key.values())
                .map(|sub| sub.pending_len())
                .sum::<usize>();
        }
        for shard in self.topics.iter() {
            stats.destinations += read(shard).len();
        }
        stats.destinations += read(&self.patterns).len();
        for shard in self.queues.shards() {
            let shard = lock(shard);
            stats.destinations += shard.len();
            stats.queued += shard.values().map(|q| q.backlog.len()).sum::<usize>();
        }
        #[cfg(feature = "durable")]
        if let Some(store) = &self.queues.store {
            (stats.stored_messages, stats.stored_bytes) = store.figures();
        }
        stats
    }

    /// `true` when the broker holds no session, subscription, pending delivery, queued
    /// message or index entry.
    pub fn is_empty(&self) -> bool {
        self.stats().is_empty()
    }

    /// The session's subscriptions as `(id, destination)`, in subscription order.
    pub fn subscriptions_of(&self, session: &SessionId) -> Vec<(ByteString, ByteString)> {
        let shard = lock(self.session_shard(session));
        let Some(subs) = shard.get(session) else {
            return Vec::new();
        };
        let mut list: Vec<&Arc<Sub>> = subs.by_key.values().collect();
        list.sort_unstable_by_key(|s| s.key);
        list.into_iter()
            .map(|s| (s.id.clone(), s.destination.clone()))
            .collect()
    }

    /// Registers a subscription at once (what [`Broker::subscribe`] does).
    pub fn subscribe_now(&self, subscription: Subscription) -> Result<(), BrokerError> {
        let prefetch = self.prefetch(&subscription)?;
        let destination = subscription.destination;
        let kind = self
            .config
            .kind(&destination)
            .ok_or_else(|| invalid(&destination, "not under a broker prefix"))?;
        let pattern = is_pattern(&destination);
        if pattern {
            if kind == DestinationKind::Queue {
                return Err(invalid(
                    &destination,
                    "patterns are not supported on queue destinations",
                ));
            }
            validate_pattern(&destination, self.config.separator)
                .map_err(|e| invalid(&destination, e))?;
        }
        let session = subscription.subscriber.session.clone();
        let sub = Arc::new(Sub::new(
            self.next_key.fetch_add(1, Ordering::Relaxed),
            subscription.id,
            destination,
            kind,
            pattern,
            subscription.ack,
            subscription.subscriber,
            prefetch,
        ));
        {
            let mut shard = lock(self.session_shard(&session));
            let subs = shard.entry(session).or_default();
            if subs.by_id.contains_key(&sub.id) {
                return Err(BrokerError::DuplicateSubscription(
                    sub.id.chars().take(64).collect(),
                ));
            }
            subs.by_id.insert(sub.id.clone(), sub.clone());
            subs.by_key.insert(sub.key, sub.clone());
        }
        self.subscriptions.fetch_add(1, Ordering::AcqRel);
        self.attach(sub);
        Ok(())
    }

    /// The subscription's prefetch: its `prefetch-count` header, at most
    /// [`SimpleBrokerConfig::max_unacked`], or the configured default.
    fn prefetch(&self, subscription: &Subscription) -> Result<usize, BrokerError> {
        let cap = self.config.max_unacked;
        let Some(value) = subscription.headers.get(PREFETCH_COUNT) else {
            return Ok(self.config.default_prefetch.min(cap));
        };
        // A number past `u64` is just a large number: lowered to the cap like any other.
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match digits.then(|| value.parse::<u64>().unwrap_or(u64::MAX)) {
            Some(0) | None => Err(BrokerError::InvalidHeader {
                header: PREFETCH_COUNT.into(),
                reason: format!(
                    "{:?} is not a number of messages from 1 to {cap}",
                    value.chars().take(32).collect::<String>()
                ),
            }),
            Some(n) => Ok(usize::try_from(n).map_or(cap, |n| n.min(cap))),
        }
    }

    fn attach(&self, sub: Arc<Sub>) {
        let destination = &*sub.destination;
        match (sub.kind, sub.pattern) {
            (DestinationKind::Topic, false) => {
                let mut shard = write(&self.topics[self.shard(destination)]);
                match shard.get_mut(destination) {
                    Some(list) => list.push(sub),
                    None => {
                        let mut list = SubList::default();
                        let key = destination.into();
                        list.push(sub);
                        shard.insert(key, list);
                    }
                }
            }
            (DestinationKind::Topic, true) => {
                let mut trie = write(&self.patterns);
                // Validated in `subscribe_now`, so `entry` cannot refuse it.
                if let Ok(list) = trie.entry(destination) {
                    // Copies the list only while a publish still delivers to it.
                    Arc::make_mut(list).push(sub.clone());
                    self.pattern_subs.fetch_add(1, Ordering::AcqRel);
                }
            }
            (DestinationKind::Queue, _) => {
                let mut shard = lock(self.queues.shard(destination));
                let queue = match shard.get_mut(destination) {
                    Some(queue) => queue,
                    None => shard.entry(destination.into()).or_default(),
                };
                queue.consumers.push(sub.clone());
                queue.pump(self.limits(), &mut BytesMut::new());
                if queue.is_unused() {
                    shard.remove(destination);
                }
            }
        }
    }

    /// Takes a subscription out of the index; queue messages it had not acked go to the
    /// next consumer (or back to the queue).
    fn detach(&self, sub: &Arc<Sub>) {
        self.subscriptions.fetch_sub(1, Ordering::AcqRel);
        let destination = &*sub.destination;
        match (sub.kind, sub.pattern) {
            (DestinationKind::Topic, false) => {
                let mut shard = write(&self.topics[self.shard(destination)]);
                if let Some(list) = shard.get_mut(destination) {
                    list.remove(sub);
                    if list.is_empty() {
                        shard.remove(destination);
                    }
                }
                drop(shard);
                sub.take_pending();
            }
            (DestinationKind::Topic, true) => {
                let mut trie = write(&self.patterns);
                if let Some(list) = trie.get_mut(destination) {
                    if Arc::make_mut(list).remove(sub) {
                        self.pattern_subs.fetch_sub(1, Ordering::AcqRel);
                    }
                    if list.is_empty() {
                        trie.remove(destination);
                    }
                }
                drop(trie);
                // A publish that matched before the removal may still be delivering.
                sub.mark_detached();
                sub.take_pending();
            }
            (DestinationKind::Queue, _) => {
                let limits = self.limits();
                let mut shard = lock(self.queues.shard(destination));
                match shard.get_mut(destination) {
                    Some(queue) => {
                        queue.remove_consumer(sub, limits);
                        queue.pump(limits, &mut BytesMut::new());
                        if queue.is_unused() {
                            shard.remove(destination);
                        }
                    }
                    None => {
                        sub.take_pending();
                    }
                }
            }
        }
    }

    /// Removes a subscription at once (what [`Broker::unsubscribe`] does).
    pub fn unsubscribe_now(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        let sub = {
            let mut shard = lock(self.session_shard(session));
            let removed = shard.get_mut(session).and_then(|subs| {
                let sub = subs.by_id.remove(id)?;
                subs.by_key.remove(&sub.key);
                Some((sub, subs.by_id.is_empty()))
            });
            let Some((sub, now_empty)) = removed else {
                return Err(BrokerError::UnknownSubscription(
                    id.chars().take(64).collect(),
                ));
            };
            if now_empty {
                shard.remove(session);
            }
            sub
        };
        self.detach(&sub);
        Ok(())
    }

    /// `<prefix>-<n>`, built in one exact allocation (`format!` grew its buffer twice and
    /// shrank it into the box: three allocator calls per publish).
    fn next_message_id(&self) -> Box<str> {
        let mut n = self.next_message.fetch_add(1, Ordering::Relaxed);
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = &digits[start..];
        let mut id = String::with_capacity(self.id_prefix.len() + 1 + digits.len());
        id.push_str(&self.id_prefix);
        id.push('-');
        // ASCII digits.
        id.extend(digits.iter().map(|&d| char::from(d)));
        id.into_boxed_str()
    }

    /// Publishes at once (what [`Broker::publish`] does).
    pub fn publish_now(&self, message: Message) -> Result<(), BrokerError> {
        self.publish_charged_now(message, None)
    }

    /// [`publish_now`](Self::publish_now), with the producer's `charge` kept while the
    /// message is held.
    pub(crate) fn publish_charged_now(
        &self,
        message: Message,
        charge: Option<Reservation>,
    ) -> Result<(), BrokerError> {
        let (kind, shared) = self.prepare(&message, charge)?;
        let destination = &*message.destination;
        let mut buf = BytesMut::new();
        match kind {
            DestinationKind::Topic => {
                self.broadcast(destination, &shared, &mut buf);
                Ok(())
            }
            DestinationKind::Queue => self.enqueue(destination, shared, &mut buf),
        }
    }

    /// Publishes a `persistent:true` message: to a queue, it is written to the durable
    /// store and committed (fsync'd, together with what other producers queued meanwhile)
    /// before it is queued and delivered; to a topic, it is broadcast as usual.
    #[cfg(feature = "durable")]
    async fn publish_persistent(
        &self,
        store: &durable::Store,
        message: Message,
        charge: Option<Reservation>,
    ) -> Result<(), BrokerError> {
        let (kind, mut shared) = self.prepare(&message, charge)?;
        let destination = &*message.destination;
        let mut buf = BytesMut::new();
        if kind == DestinationKind::Topic {
            self.broadcast(destination, &shared, &mut buf);
            return Ok(());
        }
        let full = || BrokerError::QueueFull(destination.chars().take(256).collect());
        // A full queue costs no write.
        let depth = lock(self.queues.shard(destination))
            .get(destination)
            .map_or(0, QueueState::depth);
        if depth >= self.config.max_queue_depth {
            return Err(full());
        }
        let size = shared.prepared.len();
        if !store.reserve(
            size,
            self.config.max_stored_messages,
            self.config.max_stored_bytes,
        ) {
            return Err(BrokerError::Storage(format!(
                "the durable store is full (at most {} messages, {} bytes)",
                self.config.max_stored_messages, self.config.max_stored_bytes
            )));
        }
        let record = if message.headers.contains(name::DESTINATION) {
            durable::encode(
                destination,
                &shared.message_id,
                &message.headers,
                &message.body,
            )
        } else {
            let mut headers = message.headers.clone();
            headers.set(name::DESTINATION, message.destination.clone());
            durable::encode(destination, &shared.message_id, &headers, &message.body)
        };
        let key = store.put(record, size).await.map_err(|e| {
            BrokerError::Storage(format!("cannot write to {}: {e}", store.path().display()))
        })?;
        shared.durable = Some(key);
        self.enqueue(destination, shared, &mut buf)
    }

    /// What [`Broker::publish`] and [`Broker::publish_charged`] do.
    async fn publish_with(
        &self,
        message: Message,
        charge: Option<Reservation>,
    ) -> Result<(), BrokerError> {
        #[cfg(feature = "durable")]
        if let Some(store) = self
            .queues
            .store
            .as_ref()
            .filter(|_| message.headers.get(PERSISTENT) == Some("true"))
        {
            return self.publish_persistent(store, message, charge).await;
        }
        self.publish_charged_now(message, charge)
    }

    /// Publishes to `session`'s resolved user destination at once (what
    /// [`Broker::publish_to_session`] does): on a broadcast destination only `session`'s
    /// exact subscriptions to `message.destination` receive it, and the pattern index is
    /// not consulted at all; on a queue destination the message is queued as usual (only
    /// the owner can consume a resolved queue: patterns are refused on queues, and the
    /// user-destination guard refuses other sessions' SUBSCRIBEs to it).
    pub fn publish_to_session_now(
        &self,
        session: &SessionId,
        message: Message,
    ) -> Result<(), BrokerError> {
        let (kind, shared) = self.prepare(&message, None)?;
        let destination = &*message.destination;
        let mut buf = BytesMut::new();
        match kind {
            DestinationKind::Topic => {
                let shard = read(&self.topics[self.shard(destination)]);
                if let Some(list) = shard.get(destination) {
                    reserve_for(&mut buf, &shared, 1);
                    let text = as_text(&shared, 1);
                    let max_unacked = self.config.max_unacked;
                    for sub in list.iter() {
                        if sub.subscriber.session == *session {
                            let _ = sub.deliver(&shared, None, max_unacked, &mut buf, text);
                        }
                    }
                }
                Ok(())
            }
            DestinationKind::Queue => self.enqueue(destination, shared, &mut buf),
        }
    }

    /// Checks a published message and encodes its shared part once.
    fn prepare(
        &self,
        message: &Message,
        charge: Option<Reservation>,
    ) -> Result<(DestinationKind, SharedMessage), BrokerError> {
        let destination = &*message.destination;
        validate_destination(destination).map_err(|e| invalid(destination, e))?;
        let kind = self
            .config
            .kind(destination)
            .ok_or_else(|| invalid(destination, "not under a broker prefix"))?;
        // The `destination` header is what subscribers see; it may differ from the routing
        // destination (user destinations show `/user/queue/..`). Only a missing one is filled.
        let prepared = if message.headers.contains(name::DESTINATION) {
            PreparedMessage::new(&message.headers, &message.body)
        } else {
            let mut headers = message.headers.clone();
            headers.set(name::DESTINATION, message.destination.clone());
            PreparedMessage::new(&headers, &message.body)
        };
        let shared = SharedMessage {
            prepared,
            message_id: self.next_message_id(),
            durable: None,
            charge,
        };
        Ok((kind, shared))
    }

    fn broadcast(&self, destination: &str, message: &SharedMessage, buf: &mut BytesMut) {
        let max_unacked = self.config.max_unacked;
        {
            let shard = read(&self.topics[self.shard(destination)]);
            if let Some(list) = shard.get(destination) {
                reserve_for(buf, message, list.len());
                let text = as_text(message, list.len());
                for sub in list.iter() {
                    // A failed send is that session's business: its slow-consumer policy
                    // already applied, and `session_closed` cleans up after it.
                    let _ = sub.deliver(message, None, max_unacked, buf, text);
                }
            }
        }
        if self.pattern_subs.load(Ordering::Acquire) > 0 {
            // Match under the read lock, deliver after releasing it.
            let mut lists: Vec<Arc<SubList>> = Vec::new();
            read(&self.patterns).for_each_match(destination, |list| lists.push(list.clone()));
            for list in &lists {
                let text = as_text(message, list.len());
                for sub in list.iter() {
                    let _ = sub.deliver_if_attached(message, max_unacked, buf, text);
                }
            }
        }
    }

    fn enqueue(
        &self,
        destination: &str,
        message: SharedMessage,
        buf: &mut BytesMut,
    ) -> Result<(), BrokerError> {
        let mut shard = lock(self.queues.shard(destination));
        // What the queue holds counts un-acked deliveries too: handing them back later
        // never takes it past its budgets.
        let depth = shard.get(destination).map_or(0, QueueState::depth);
        let full = || BrokerError::QueueFull(destination.chars().take(256).collect());
        if depth >= self.config.max_queue_depth {
            self.limits().forget(&message);
            return Err(full());
        }
        // Past the byte budget a message may only pass straight through to an `auto`
        // consumer with room (behind no backlog): it must not stay held.
        let over_budget = self.queued_bytes().saturating_add(message.prepared.len())
            > self.config.max_queued_bytes;
        if over_budget && shard.get(destination).is_none_or(|q| !q.backlog.is_empty()) {
            self.limits().forget(&message);
            return Err(full());
        }
        let queue = match shard.get_mut(destination) {
            Some(queue) => queue,
            None => shard.entry(destination.into()).or_default(),
        };
        let limits = self.limits();
        reserve_for(buf, &message, 1);
        let message = Arc::new(message);
        queue.push(
            QueuedMessage {
                message: message.clone(),
                deliveries: 0,
            },
            limits,
        );
        queue.pump_to(limits, buf, over_budget);
        let refused = over_budget && queue.retract_last(&message, limits);
        if queue.is_unused() {
            shard.remove(destination);
        }
        if refused {
            limits.forget(&message);
            return Err(full());
        }
        Ok(())
    }

    /// Settles a delivery of `session`: only the session's own subscriptions are searched,
    /// and with `ack.subscription` (STOMP 1.1) only the one with that id.
    fn settle(&self, session: &SessionId, ack: Acknowledgement<'_>) -> Result<(), BrokerError> {
        let (ack_id, nack) = (ack.id, ack.nack);
        let (key, seq) = parse_ack_id(ack_id).ok_or_else(|| unknown_ack(ack_id))?;
        let sub = lock(self.session_shard(session))
            .get(session)
            .and_then(|subs| subs.by_key.get(&key).cloned())
            .filter(|sub| ack.subscription.is_none_or(|id| *sub.id == *id))
            .ok_or_else(|| unknown_ack(ack_id))?;
        let settled = sub.settle(seq).ok_or_else(|| unknown_ack(ack_id))?;
        if sub.kind == DestinationKind::Queue {
            let limits = self.limits();
            let destination = &*sub.destination;
            let mut shard = lock(self.queues.shard(destination));
            // The queue holds its un-acked deliveries, so it is there.
            if let Some(queue) = shard.get_mut(destination) {
                queue.settled(settled, nack, limits);
                // An ACK made room at this consumer; a NACK put messages back.
                queue.pump(limits, &mut BytesMut::new());
                if queue.is_unused() {
                    shard.remove(destination);
                }
            }
        }
        Ok(())
    }

    /// Acknowledges at once (what [`Broker::ack`] does).
    pub fn ack_now(&self, session: &SessionId, ack_id: &str) -> Result<(), BrokerError> {
        self.settle(session, Acknowledgement::by_ack_id(ack_id, false))
    }

    /// Rejects at once (what [`Broker::nack`] does): queue messages go to the next
    /// consumer, topic messages are dropped.
    pub fn nack_now(&self, session: &SessionId, ack_id: &str) -> Result<(), BrokerError> {
        self.settle(session, Acknowledgement::by_ack_id(ack_id, true))
    }

    /// ACK or NACK in the terms of any protocol version, at once (what
    /// [`Broker::acknowledge`] does): a STOMP 1.1 `subscription` must name the
    /// subscription the delivery belongs to.
    pub fn acknowledge_now(
        &self,
        session: &SessionId,
        ack: Acknowledgement<'_>,
    ) -> Result<(), BrokerError> {
        self.settle(session, ack)
    }

    /// Drops every subscription of `session` at once (what [`Broker::session_closed`]
    /// does); its un-acked queue messages go to other consumers or back to their queues.
    pub fn close_session_now(&self, session: &SessionId) {
        let removed = lock(self.session_shard(session)).remove(session);
        let Some(subs) = removed else { return };
        let mut subs: Vec<Arc<Sub>> = subs.by_key.into_values().collect();
        subs.sort_unstable_by_key(|s| s.key);
        for sub in &subs {
            self.detach(sub);
        }
    }
}

impl Broker for SimpleBroker {
    fn subscribe(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async move { self.subscribe_now(subscription) })
    }

    fn unsubscribe<'a>(
        &'a self,
        session: &'a SessionId,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.unsubscribe_now(session, id) })
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(self.publish_with(message, None))
    }

    fn holds(&self, destination: &str) -> bool {
        self.config.kind(destination) == Some(DestinationKind::Queue)
    }

    fn publish_charged(
        &self,
        message: Message,
        charge: Reservation,
    ) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(self.publish_with(message, Some(charge)))
    }

    fn publish_to_session<'a>(
        &'a self,
        session: &'a SessionId,
        message: Message,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.publish_to_session_now(session, message) })
    }

    fn ack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.ack_now(session, ack_id) })
    }

    fn nack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.nack_now(session, ack_id) })
    }

    fn acknowledge<'a>(
        &'a self,
        session: &'a SessionId,
        ack: Acknowledgement<'a>,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.acknowledge_now(session, ack) })
    }

    fn session_closed<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.close_session_now(session) })
    }

    fn held_bytes(&self) -> usize {
        self.queued_bytes()
    }

    #[cfg(feature = "metrics")]
    fn record_metrics(&self) {
        let stats = self.stats();
        metrics::gauge!("stomp_broker_pending_acks").set(stats.pending as f64);
        metrics::gauge!("stomp_broker_queued_messages").set(stats.queued as f64);
        metrics::gauge!("stomp_broker_destinations").set(stats.destinations as f64);
    }
}
