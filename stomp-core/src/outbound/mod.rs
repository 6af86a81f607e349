//! The OUTBOUND channel: a bounded per-session queue of encoded frames, drained by the
//! transport's writer task.
//!
//! Producers (the broker delivering a MESSAGE, the session answering with RECEIPT) never
//! wait on a slow client: [`OutboundSender::send`] either queues at once or applies the
//! session's [`SlowConsumerPolicy`].
//!
//! The queue is a `VecDeque` behind a mutex that is never held across an `.await`, with
//! one [`Notify`] to wake the writer. It allocates nothing until the first frame is
//! queued and gives its storage back whenever the writer finds it empty, so an idle
//! session pays for no slots (a bounded `tokio::sync::mpsc` channel costs about 1.5 KB
//! per session before the first frame).
//!
//! Memory-budget order: a frame's bytes are charged to the session's
//! [`SessionMemory`](crate::memory::SessionMemory) before the frame becomes visible to the
//! writer, and released by the writer when it takes the frame, or by the producer when the
//! push fails, so the budget's counter never goes below zero.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use tokio::sync::Notify;

mod interceptor;

pub(crate) use interceptor::Interception;
pub use interceptor::OutboundInterceptor;

/// What a session's writer task sends to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// One or more complete encoded frames.
    Frame(Bytes),
    /// A heart-beat (one EOL).
    HeartBeat,
    /// One or more complete encoded frames known to be UTF-8 with no NUL before the last
    /// byte (see [`OutboundSender::send_text`]), so a WebSocket writer can send them as a
    /// text message without checking them. Only a receiver that asked with
    /// [`OutboundReceiver::accept_text`] sees this; others get the same bytes as
    /// [`Frame`](Self::Frame).
    Text(Box<str>),
}

impl Outbound {
    /// The encoded bytes (empty for a heart-beat).
    fn len(&self) -> usize {
        match self {
            Outbound::Frame(bytes) => bytes.len(),
            Outbound::Text(text) => text.len(),
            Outbound::HeartBeat => 0,
        }
    }
}

/// Why a session ended, as seen by the transport and by lifecycle events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT.
    ClientDisconnect,
    /// The transport closed (socket gone, WebSocket close) without DISCONNECT.
    TransportClosed,
    /// Nothing was heard from the client within the negotiated heart-beat interval times
    /// the tolerance.
    HeartBeatTimeout,
    /// A protocol or application error; an ERROR frame carrying this text was sent.
    Error(String),
    /// The client could not keep up with its outbound queue.
    SlowConsumer,
    /// Application code closed the session with this reason.
    Closed(String),
    /// The server is shutting down.
    ServerShutdown,
}

impl CloseReason {
    /// A short text for logs and WebSocket close frames.
    pub fn describe(&self) -> &str {
        match self {
            CloseReason::ClientDisconnect => "client disconnected",
            CloseReason::TransportClosed => "transport closed",
            CloseReason::HeartBeatTimeout => "heart-beat timeout",
            CloseReason::Error(text) | CloseReason::Closed(text) => text,
            CloseReason::SlowConsumer => "slow consumer: outbound buffer full",
            CloseReason::ServerShutdown => "server shutting down",
        }
    }
}

/// What happens when a session's outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Close the session with [`CloseReason::SlowConsumer`] (Spring's behaviour past its
    /// send-buffer limit). The default.
    #[default]
    Close,
    /// Drop the frame that does not fit and keep the session open.
    DropNewest,
}

/// Limits of one session's outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Most bytes of encoded frames waiting for the client (default 512 KiB, as Spring's
    /// `sendBufferSizeLimit`).
    pub max_buffered_bytes: usize,
    /// Most frames waiting for the client (default 4096).
    pub max_buffered_frames: usize,
    /// What to do when either limit would be passed.
    pub policy: SlowConsumerPolicy,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            max_buffered_bytes: 512 * 1024,
            max_buffered_frames: 4096,
            policy: SlowConsumerPolicy::Close,
        }
    }
}

/// Why [`OutboundSender::send`] did not queue a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed or closing; nothing more is accepted.
    #[error("session closed")]
    Closed,
    /// The queue is full and the policy dropped this frame; the session stays open.
    #[error("outbound queue full, frame dropped")]
    Dropped,
    /// The queue is full and the policy closed the session.
    #[error("outbound queue full, session closed as a slow consumer")]
    SlowConsumer,
    /// [`OutboundSender::offer`] found no room: nothing was queued and the session stays
    /// open (no slow-consumer policy applies to an offer).
    #[error("outbound queue has no room for this frame")]
    Full,
}

/// A callback run once the writer has drained the queue to its low-water mark (see
/// [`OutboundSender::when_room`]). The queue holds it weakly: dropping it cancels it.
pub type RoomWaker = Arc<dyn Fn() + Send + Sync>;

/// Past this many registered wakers, dead ones are pruned on each registration.
const PRUNE_WAKERS: usize = 16;

/// Callbacks waiting for room (see [`OutboundSender::when_room`]).
#[derive(Default)]
struct RoomWakers(std::sync::Mutex<Vec<Weak<dyn Fn() + Send + Sync>>>);

impl std::fmt::Debug for RoomWakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = crate::sync::lock(&self.0).len();
        f.debug_struct("RoomWakers")
            .field("waiting", &waiting)
            .finish()
    }
}

#[derive(Debug)]
struct Shared {
    /// The queued items. Empty and without storage while the session is idle.
    queue: std::sync::Mutex<VecDeque<Outbound>>,
    /// Live [`OutboundSender`]s; the writer closes once the last one is gone.
    senders: AtomicUsize,
    buffered_bytes: AtomicUsize,
    queued_frames: AtomicU64,
    /// Bytes of every frame ever queued.
    #[cfg(feature = "metrics")]
    sent_bytes: AtomicU64,
    /// Set by a close from either end, and when the receiver is dropped.
    closed: AtomicBool,
    close_reason: std::sync::Mutex<Option<CloseReason>>,
    /// Wakes the writer: a frame reached an empty queue, a close, the last sender gone.
    notify: Notify,
    config: OutboundConfig,
    /// Set while a producer waits for room ([`OutboundSender::when_room`]); the writer
    /// checks it (one atomic load) after taking each frame.
    starved: AtomicBool,
    wakers: RoomWakers,
    /// The session's account in the engine's memory budget, charged for queued bytes.
    memory: Option<crate::memory::SessionMemory>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Frames still queued when both ends are gone leave with the queue.
        let left = *self.buffered_bytes.get_mut();
        if let (Some(memory), true) = (&self.memory, left > 0) {
            memory.release_outbound(left);
        }
    }
}

impl Shared {
    /// At or below half the byte budget and half the frame budget: room to refill.
    fn below_low_water(&self, queued_items: usize) -> bool {
        self.buffered_bytes.load(Ordering::SeqCst) <= self.config.max_buffered_bytes / 2
            && queued_items <= self.config.max_buffered_frames / 2
    }
}

/// The producing end of a session's outbound queue. Cheap to clone.
#[derive(Debug)]
pub struct OutboundSender {
    shared: Arc<Shared>,
    /// The session's outbound interceptors; `None` (the common case) costs one branch.
    intercept: Option<Arc<Interception>>,
}

/// The consuming end, owned by the transport's writer task.
#[derive(Debug)]
pub struct OutboundReceiver {
    shared: Arc<Shared>,
    /// Hand out [`Outbound::Text`] as it is (else as [`Outbound::Frame`]).
    text: bool,
}

impl Clone for OutboundSender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        OutboundSender {
            shared: self.shared.clone(),
            intercept: self.intercept.clone(),
        }
    }
}

impl Drop for OutboundSender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.notify.notify_one();
        }
    }
}

impl Drop for OutboundReceiver {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// Creates a session's outbound queue.
pub fn channel(config: OutboundConfig) -> (OutboundSender, OutboundReceiver) {
    intercepted_channel(config, None, None)
}

/// Creates a session's outbound queue whose frames pass through `intercept` and whose
/// queued bytes count against `memory`.
pub(crate) fn intercepted_channel(
    config: OutboundConfig,
    intercept: Option<Arc<Interception>>,
    memory: Option<crate::memory::SessionMemory>,
) -> (OutboundSender, OutboundReceiver) {
    let shared = Arc::new(Shared {
        queue: std::sync::Mutex::new(VecDeque::new()),
        senders: AtomicUsize::new(1),
        buffered_bytes: AtomicUsize::new(0),
        queued_frames: AtomicU64::new(0),
        #[cfg(feature = "metrics")]
        sent_bytes: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        close_reason: std::sync::Mutex::new(None),
        notify: Notify::new(),
        config,
        starved: AtomicBool::new(false),
        wakers: RoomWakers::default(),
        memory,
    });
    (
        OutboundSender {
            shared: shared.clone(),
            intercept,
        },
        OutboundReceiver {
            shared,
            text: false,
        },
    )
}

impl OutboundSender {
    /// Queues encoded frames without waiting; a full queue applies the slow-consumer policy.
    /// With [`OutboundInterceptor`]s installed they see the frames first; a frame they drop
    /// counts as sent.
    pub fn send(&self, frame: Bytes) -> Result<(), SendError> {
        let frame = match &self.intercept {
            None => frame,
            Some(intercept) => match intercept.apply(frame) {
                Some(frame) => frame,
                None => return Ok(()),
            },
        };
        let len = frame.len();
        self.push(Outbound::Frame(frame), len)
    }

    /// [`send`](Self::send) for frames known to be UTF-8 with no NUL before the last byte
    /// (what [`PreparedMessage::text_delivery`](crate::codec::PreparedMessage::text_delivery)
    /// makes): a receiver that [accepts text](OutboundReceiver::accept_text) gets them as
    /// [`Outbound::Text`]. [`OutboundInterceptor`]s see them as bytes, and what they return
    /// is queued as [`Outbound::Frame`].
    pub fn send_text(&self, frames: String) -> Result<(), SendError> {
        if self.intercept.is_some() {
            return self.send(Bytes::from(frames));
        }
        let len = frames.len();
        self.push(Outbound::Text(frames.into_boxed_str()), len)
    }

    /// [`offer`](Self::offer) for frames known to be UTF-8 with no NUL before the last byte
    /// (as [`send_text`](Self::send_text)).
    pub fn offer_text(&self, frames: String) -> Result<(), SendError> {
        if self.intercept.is_some() {
            return self.offer(Bytes::from(frames));
        }
        let len = frames.len();
        self.offer_item(Outbound::Text(frames.into_boxed_str()), len)
    }

    /// Queues encoded frames only if they fit now, without waiting and without applying the
    /// slow-consumer policy: [`SendError::Full`] leaves the session as it was. This is how a
    /// broker hands over a message it keeps until the client has room for it (credit);
    /// [`when_room`](Self::when_room) asks to be told when to offer again.
    ///
    /// Offers fill at most three quarters of either budget (bytes, frames): the rest stays
    /// free for frames that cannot wait (RECEIPT, ERROR, topic messages), so credit never
    /// makes a session a slow consumer. A frame larger than that fits into an empty queue.
    /// With [`OutboundInterceptor`]s installed they see the frame first (and see it again if
    /// it is offered again).
    pub fn offer(&self, frame: Bytes) -> Result<(), SendError> {
        let frame = match &self.intercept {
            None => frame,
            Some(intercept) => match intercept.apply(frame) {
                Some(frame) => frame,
                None => return Ok(()),
            },
        };
        let len = frame.len();
        self.offer_item(Outbound::Frame(frame), len)
    }

    fn offer_item(&self, item: Outbound, len: usize) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        if !self.has_room(len) {
            return Err(SendError::Full);
        }
        match self.try_push(item, len) {
            Ok(()) => Ok(()),
            Err(()) if self.is_closed() => Err(SendError::Closed),
            Err(()) => Err(SendError::Full),
        }
    }

    /// Whether [`offer`](Self::offer) would take a frame of `len` bytes now: it fits within
    /// three quarters of the byte budget (or the queue is empty) and of the frame budget.
    pub fn has_room(&self, len: usize) -> bool {
        let config = &self.shared.config;
        let buffered = self.shared.buffered_bytes.load(Ordering::SeqCst);
        let queued_items = self.pending_frames();
        (buffered == 0 || buffered + len <= config.max_buffered_bytes / 4 * 3)
            && queued_items < (config.max_buffered_frames / 4 * 3).max(1)
    }

    /// Runs `waker` once the writer has drained the queue to its low-water mark (half the
    /// byte and frame budgets), from the writer's task; never if the session ends first or
    /// every clone of `waker` was dropped (the queue holds it weakly).
    ///
    /// Returns `true` if a frame of `len` bytes fits already (the caller should offer it
    /// now; `waker` may still run later). Registering before this check means a drain
    /// between a failed [`offer`](Self::offer) and this call is never missed.
    pub fn when_room(&self, len: usize, waker: &RoomWaker) -> bool {
        {
            let mut wakers = crate::sync::lock(&self.shared.wakers.0);
            if wakers.len() >= PRUNE_WAKERS {
                wakers.retain(|w| w.strong_count() > 0);
            }
            wakers.push(Arc::downgrade(waker));
        }
        self.shared.starved.store(true, Ordering::SeqCst);
        self.has_room(len)
    }

    /// Queues a heart-beat without waiting (a full queue already keeps the line busy, so a
    /// beat that does not fit is simply skipped).
    pub fn send_heartbeat(&self) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        // A beat that finds the queue full or closing is simply not queued.
        let _ = self.enqueue(Outbound::HeartBeat);
        Ok(())
    }

    /// Appends `item` if the frame budget has a slot and the queue is open; wakes the
    /// writer if the queue was empty (it only ever waits after finding it empty).
    fn enqueue(&self, item: Outbound) -> Result<(), ()> {
        let shared = &self.shared;
        let mut queue = crate::sync::lock(&shared.queue);
        if queue.len() >= shared.config.max_buffered_frames.max(1)
            || shared.closed.load(Ordering::Acquire)
        {
            return Err(());
        }
        let was_empty = queue.is_empty();
        queue.push_back(item);
        drop(queue);
        if was_empty {
            shared.notify.notify_one();
        }
        Ok(())
    }

    fn push(&self, item: Outbound, len: usize) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let shared = &self.shared;
        match self.try_push(item, len) {
            Ok(()) => Ok(()),
            Err(()) => {
                if self.is_closed() {
                    return Err(SendError::Closed);
                }
                match shared.config.policy {
                    SlowConsumerPolicy::DropNewest => Err(SendError::Dropped),
                    SlowConsumerPolicy::Close => {
                        self.close(CloseReason::SlowConsumer);
                        Err(SendError::SlowConsumer)
                    }
                }
            }
        }
    }

    /// Queues `item` if it fits in both budgets; `Err` leaves the counters as they were.
    fn try_push(&self, item: Outbound, len: usize) -> Result<(), ()> {
        let shared = &self.shared;
        let before = shared.buffered_bytes.fetch_add(len, Ordering::SeqCst);
        // One frame larger than the whole budget is still let through into an empty queue.
        let over = before > 0 && before + len > shared.config.max_buffered_bytes;
        let result = if over {
            Err(())
        } else {
            // Charged before the frame is visible to the writer, which releases it.
            if let Some(memory) = &shared.memory {
                memory.charge_outbound(len);
            }
            self.enqueue(item).inspect_err(|()| {
                if let Some(memory) = &shared.memory {
                    memory.release_outbound(len);
                }
            })
        };
        match result {
            Ok(()) => {
                shared.queued_frames.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                shared.sent_bytes.fetch_add(len as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(()) => {
                shared.buffered_bytes.fetch_sub(len, Ordering::SeqCst);
                Err(())
            }
        }
    }

    /// Asks the writer to close the session for `reason` after what is already queued.
    /// The first reason given wins; later calls do nothing.
    pub fn close(&self, reason: CloseReason) {
        let mut slot = crate::sync::lock(&self.shared.close_reason);
        if slot.is_none() {
            *slot = Some(reason);
            self.shared.closed.store(true, Ordering::Release);
            self.shared.notify.notify_one();
        }
    }

    /// Whether the session is closed or closing.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Why the session was asked to close, once it was (the first reason given).
    pub fn close_reason(&self) -> Option<CloseReason> {
        crate::sync::lock(&self.shared.close_reason).clone()
    }

    /// How many frames were ever queued (heart-beats excluded): a cheap activity counter
    /// for heart-beat scheduling and statistics.
    pub fn queued_frames(&self) -> u64 {
        self.shared.queued_frames.load(Ordering::Relaxed)
    }

    /// Bytes of every frame ever queued (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub fn sent_bytes(&self) -> u64 {
        self.shared.sent_bytes.load(Ordering::Relaxed)
    }

    /// Items (frames and heart-beats) queued now and not yet taken by the writer.
    pub fn pending_frames(&self) -> usize {
        crate::sync::lock(&self.shared.queue).len()
    }

    /// Bytes currently queued and not yet taken by the writer.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.buffered_bytes.load(Ordering::Acquire)
    }

    /// The session connected: its outbound interceptors see `info` from now on.
    pub(crate) fn connected(&self, info: &crate::identity::SessionInfo) {
        if let Some(intercept) = &self.intercept {
            intercept.connected(info.clone());
        }
    }

    /// `true` if both senders feed the same queue.
    pub fn same_channel(&self, other: &OutboundSender) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// What the writer task gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Something to write.
    Item(Outbound),
    /// Close the connection for this reason (everything queued before has been handed out,
    /// except for a slow-consumer close, which does not wait for the backlog).
    Close(CloseReason),
}

impl OutboundReceiver {
    /// Waits for the next thing to write, or the order to close.
    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(reason) = self.take_close_if_urgent() {
                return Next::Close(reason);
            }
            // Read before looking at the queue: a close or a last sender gone after this
            // point leaves a permit in `notify`, so the wait below returns at once.
            let closing = self.shared.closed.load(Ordering::Acquire)
                || self.shared.senders.load(Ordering::Acquire) == 0;
            if let Some(mut item) = self.pop() {
                self.hand_out(&mut item);
                return Next::Item(item);
            }
            if closing {
                // Everything queued before the close was handed out.
                return Next::Close(self.reason());
            }
            // A push into the empty queue, a close or the last sender's drop stores a
            // permit here if the writer is not waiting yet, so no wake-up is lost.
            self.shared.notify.notified().await;
        }
    }

    /// Takes the next queued item without waiting, for writers that batch several frames
    /// into one transport message. `None` when nothing is queued or a close is pending.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if self.take_close_if_urgent().is_some() {
            // Put nothing back: the next `next()` reports the close again.
            return None;
        }
        let mut item = self.pop()?;
        self.hand_out(&mut item);
        Some(item)
    }

    /// From now on, hand out frames queued with [`OutboundSender::send_text`] or
    /// [`offer_text`](OutboundSender::offer_text) as [`Outbound::Text`] (for a writer that
    /// sends text without checking it again) instead of [`Outbound::Frame`].
    pub fn accept_text(&mut self) {
        self.text = true;
    }

    /// Turns [`Outbound::Text`] into [`Outbound::Frame`] for a receiver that did not
    /// [accept text](Self::accept_text) (in place: the item is not moved on the usual path).
    fn hand_out(&self, item: &mut Outbound) {
        if self.text {
            return;
        }
        if let Outbound::Text(text) = item {
            *item = Outbound::Frame(Bytes::from(String::from(std::mem::take(text))));
        }
    }

    /// Takes the oldest item and gives back its budget. Finding the queue empty frees
    /// its storage, so an idle session holds none.
    fn pop(&self) -> Option<Outbound> {
        let mut queue = crate::sync::lock(&self.shared.queue);
        let Some(item) = queue.pop_front() else {
            if queue.capacity() > 0 {
                *queue = VecDeque::new();
            }
            return None;
        };
        let left = queue.len();
        drop(queue);
        self.taken(&item, left);
        Some(item)
    }

    /// Gives back the budget of an item the writer took (`left` items stay queued), and
    /// wakes producers waiting for room once the queue is at its low-water mark. A session
    /// nobody waits on pays one atomic load.
    fn taken(&self, item: &Outbound, left: usize) {
        let shared = &self.shared;
        let len = item.len();
        if len > 0 {
            shared.buffered_bytes.fetch_sub(len, Ordering::SeqCst);
            if let Some(memory) = &shared.memory {
                memory.release_outbound(len);
            }
        }
        if shared.starved.load(Ordering::SeqCst)
            && shared.below_low_water(left)
            && shared.starved.swap(false, Ordering::SeqCst)
        {
            let wakers = std::mem::take(&mut *crate::sync::lock(&shared.wakers.0));
            for waker in wakers.iter().filter_map(Weak::upgrade) {
                waker();
            }
        }
    }

    fn take_close_if_urgent(&self) -> Option<CloseReason> {
        if !self.shared.closed.load(Ordering::Acquire) {
            return None;
        }
        let reason = self.reason();
        (reason == CloseReason::SlowConsumer).then_some(reason)
    }

    fn reason(&self) -> CloseReason {
        let slot = crate::sync::lock(&self.shared.close_reason);
        slot.clone().unwrap_or(CloseReason::TransportClosed)
    }

    /// Closes the queue: every later send fails with [`SendError::Closed`].
    pub fn close(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(bytes: usize, frames: usize, policy: SlowConsumerPolicy) -> OutboundConfig {
        OutboundConfig {
            max_buffered_bytes: bytes,
            max_buffered_frames: frames,
            policy,
        }
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_release_their_bytes() {
        let (tx, mut rx) = channel(OutboundConfig::default());
        tx.send(Bytes::from_static(b"a")).unwrap();
        tx.send(Bytes::from_static(b"bb")).unwrap();
        assert_eq!(tx.buffered_bytes(), 3);
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("a".into())));
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("bb".into())));
        assert_eq!(tx.buffered_bytes(), 0);
    }

    #[tokio::test]
    async fn text_frames_stay_text_only_for_a_receiver_that_accepts_them() {
        for accept in [false, true] {
            let (tx, mut rx) = channel(OutboundConfig::default());
            if accept {
                rx.accept_text();
            }
            tx.send_text("MESSAGE\n\na\0".to_owned()).unwrap();
            tx.offer_text("MESSAGE\n\nb\0".to_owned()).unwrap();
            assert_eq!(tx.buffered_bytes(), 22);
            let expect = |text: &'static str| match accept {
                true => Outbound::Text(text.into()),
                false => Outbound::Frame(Bytes::from_static(text.as_bytes())),
            };
            assert_eq!(rx.next().await, Next::Item(expect("MESSAGE\n\na\0")));
            assert_eq!(rx.try_next(), Some(expect("MESSAGE\n\nb\0")));
            assert_eq!(tx.buffered_bytes(), 0);
        }
    }

    #[tokio::test]
    async fn byte_budget_closes_a_slow_consumer_without_waiting_for_the_backlog() {
        let (tx, mut rx) = channel(cfg(10, 100, SlowConsumerPolicy::Close));
        tx.send(Bytes::from(vec![0; 8])).unwrap();
        assert_eq!(
            tx.send(Bytes::from(vec![0; 8])),
            Err(SendError::SlowConsumer)
        );
        assert!(tx.is_closed());
        assert_eq!(tx.send(Bytes::from_static(b"x")), Err(SendError::Closed));
        assert_eq!(rx.next().await, Next::Close(CloseReason::SlowConsumer));
    }

    #[tokio::test]
    async fn drop_newest_keeps_the_session_open() {
        let (tx, mut rx) = channel(cfg(1024, 1, SlowConsumerPolicy::DropNewest));
        tx.send(Bytes::from_static(b"1")).unwrap();
        assert_eq!(tx.send(Bytes::from_static(b"2")), Err(SendError::Dropped));
        assert!(!tx.is_closed());
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("1".into())));
        tx.send(Bytes::from_static(b"3")).unwrap();
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("3".into())));
    }

    #[tokio::test]
    async fn a_requested_close_comes_after_what_is_queued() {
        let (tx, mut rx) = channel(OutboundConfig::default());
        tx.send(Bytes::from_static(b"ERROR")).unwrap();
        tx.close(CloseReason::Error("bad".into()));
        tx.close(CloseReason::ServerShutdown);
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("ERROR".into())));
        assert_eq!(
            rx.next().await,
            Next::Close(CloseReason::Error("bad".into()))
        );
    }

    #[tokio::test]
    async fn offer_never_closes_and_room_wakes_at_the_low_water_mark() {
        use std::sync::atomic::AtomicUsize;

        // Offers fill at most three quarters of the budget (9 of 12 bytes) ...
        let (tx, mut rx) = channel(cfg(12, 100, SlowConsumerPolicy::Close));
        tx.offer(Bytes::from(vec![0; 4])).unwrap();
        tx.offer(Bytes::from(vec![0; 4])).unwrap();
        assert_eq!(tx.offer(Bytes::from(vec![0; 4])), Err(SendError::Full));
        assert!(!tx.is_closed(), "an offer applies no slow-consumer policy");
        // ... and the rest is there for frames that cannot wait.
        tx.send(Bytes::from(vec![0; 4])).unwrap();

        let woken = Arc::new(AtomicUsize::new(0));
        let counter = woken.clone();
        let waker: RoomWaker = Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert!(!tx.when_room(4, &waker), "no room yet");
        // 12 -> 8 bytes: above the low-water mark (6), nothing happens.
        assert!(matches!(rx.next().await, Next::Item(_)));
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        // 8 -> 4 bytes: the waker runs, once.
        assert!(matches!(rx.next().await, Next::Item(_)));
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(matches!(rx.next().await, Next::Item(_)));
        assert_eq!(woken.load(Ordering::SeqCst), 1);

        // Room already there: `when_room` says so.
        assert!(tx.when_room(4, &waker));
        // A dropped waker never runs.
        tx.offer(Bytes::from(vec![0; 8])).unwrap();
        assert!(!tx.when_room(8, &waker));
        drop(waker);
        assert!(matches!(rx.next().await, Next::Item(_)));
        assert_eq!(woken.load(Ordering::SeqCst), 1);

        // One frame larger than the whole budget fits into an empty queue.
        tx.offer(Bytes::from(vec![0; 64])).unwrap();
        rx.close();
        assert_eq!(tx.offer(Bytes::from_static(b"x")), Err(SendError::Closed));
    }

    #[tokio::test]
    async fn dropping_every_sender_closes_the_receiver() {
        let (tx, mut rx) = channel(OutboundConfig::default());
        let other = tx.clone();
        drop(tx);
        other.send(Bytes::from_static(b"last")).unwrap();
        drop(other);
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("last".into())));
        assert_eq!(rx.next().await, Next::Close(CloseReason::TransportClosed));
    }

    #[tokio::test]
    async fn the_last_sender_dropping_wakes_a_waiting_receiver() {
        let (tx, mut rx) = channel(OutboundConfig::default());
        let writer = tokio::spawn(async move { rx.next().await });
        tokio::task::yield_now().await;
        drop(tx);
        assert_eq!(
            writer.await.unwrap(),
            Next::Close(CloseReason::TransportClosed)
        );
    }

    #[tokio::test]
    async fn a_frame_wakes_a_waiting_receiver() {
        let (tx, mut rx) = channel(OutboundConfig::default());
        let writer = tokio::spawn(async move { rx.next().await });
        tokio::task::yield_now().await;
        tx.send(Bytes::from_static(b"hi")).unwrap();
        assert_eq!(
            writer.await.unwrap(),
            Next::Item(Outbound::Frame("hi".into()))
        );
    }

    #[tokio::test]
    async fn dropping_the_receiver_closes_every_sender() {
        let (tx, rx) = channel(OutboundConfig::default());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(Bytes::from_static(b"x")), Err(SendError::Closed));
        assert_eq!(tx.offer(Bytes::from_static(b"x")), Err(SendError::Closed));
        assert_eq!(tx.send_heartbeat(), Err(SendError::Closed));
        assert_eq!(tx.buffered_bytes(), 0);
    }

    #[tokio::test]
    async fn an_idle_queue_holds_no_storage() {
        let (tx, mut rx) = channel(OutboundConfig::default());
        let storage = |rx: &OutboundReceiver| crate::sync::lock(&rx.shared.queue).capacity();
        assert_eq!(storage(&rx), 0, "nothing allocated before the first frame");

        for _ in 0..100 {
            tx.send(Bytes::from_static(b"frame")).unwrap();
        }
        assert!(storage(&rx) >= 100);
        assert_eq!(tx.pending_frames(), 100);
        assert!(matches!(rx.next().await, Next::Item(_)));
        while rx.try_next().is_some() {}
        assert_eq!(tx.pending_frames(), 0);
        assert_eq!(tx.buffered_bytes(), 0);
        assert_eq!(storage(&rx), 0, "storage given back once drained");
    }

    #[tokio::test]
    async fn the_frame_budget_counts_heartbeats_and_drops_beats_that_do_not_fit() {
        let (tx, mut rx) = channel(cfg(1024, 2, SlowConsumerPolicy::DropNewest));
        tx.send_heartbeat().unwrap();
        tx.send(Bytes::from_static(b"1")).unwrap();
        assert_eq!(tx.pending_frames(), 2);
        // Full: a beat is skipped, a frame meets the policy, an offer finds no room.
        assert_eq!(tx.send_heartbeat(), Ok(()));
        assert_eq!(tx.send(Bytes::from_static(b"2")), Err(SendError::Dropped));
        assert!(!tx.has_room(1));
        assert_eq!(tx.offer(Bytes::from_static(b"3")), Err(SendError::Full));
        assert_eq!(tx.pending_frames(), 2);
        assert_eq!(tx.queued_frames(), 1, "heart-beats are not counted");
        assert_eq!(rx.next().await, Next::Item(Outbound::HeartBeat));
        assert_eq!(rx.next().await, Next::Item(Outbound::Frame("1".into())));
        assert!(tx.has_room(1));
        tx.close(CloseReason::ServerShutdown);
        assert_eq!(tx.send_heartbeat(), Err(SendError::Closed));
        assert_eq!(rx.next().await, Next::Close(CloseReason::ServerShutdown));
    }
}
