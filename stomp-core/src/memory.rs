//! The memory budget: one per engine, for everything a client can make the server hold.
//!
//! Counted against it: frames buffered in open transactions, subscriptions (their
//! SUBSCRIBE headers, id and destination, plus a fixed per-subscription overhead), bytes
//! waiting in outbound queues, and whatever the broker reports it holds (queued and
//! un-acked messages, [`Broker::held_bytes`](crate::broker::Broker::held_bytes)).
//!
//! Each session may take at most its **share** of the total, so one client cannot starve
//! the others (the messages it SENT to the broker's queues count against its share too,
//! until they leave the queues: [`SessionMemory::reserve_share`]); the **total** bounds all sessions and the broker together. A reservation is
//! a [`Reservation`] value that gives its bytes back when dropped (COMMIT, ABORT,
//! UNSUBSCRIBE, session end), so nothing is released by hand and nothing leaks.
//!
//! ```
//! use stomp_core::memory::{MemoryBudget, MemoryBudgetError};
//!
//! let budget = MemoryBudget::new(1000, 600);
//! let alice = budget.session();
//! let bob = budget.session();
//! let held = alice.reserve(500)?;
//! assert_eq!(
//!     alice.reserve(200).unwrap_err(),
//!     MemoryBudgetError::SessionShare { limit: 600 }
//! );
//! let _bob = bob.reserve(400)?;
//! assert_eq!(
//!     bob.reserve(200).unwrap_err(),
//!     MemoryBudgetError::EngineTotal { limit: 1000 }
//! );
//! drop(held);
//! assert_eq!(alice.used(), 0);
//! assert_eq!(budget.used(), 400);
//! # Ok::<(), MemoryBudgetError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Why a reservation was refused; its text is the `message` of the ERROR frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryBudgetError {
    /// The session would hold more than its share.
    #[error("memory budget: session share of {limit} bytes exceeded")]
    SessionShare {
        /// The session share, in bytes.
        limit: usize,
    },
    /// The engine (all sessions and the broker) would hold more than its total.
    #[error("memory budget: engine total of {limit} bytes exceeded")]
    EngineTotal {
        /// The engine total, in bytes.
        limit: usize,
    },
}

/// Adds `bytes` to `counter` unless the sum would pass `limit` (never overshoots, even
/// for a moment, so concurrent readers see at most `limit`).
fn add_within(counter: &AtomicUsize, bytes: usize, limit: usize) -> Result<(), ()> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            now.checked_add(bytes).filter(|&sum| sum <= limit)
        })
        .map(drop)
        .map_err(drop)
}

type HeldElsewhere = Box<dyn Fn() -> usize + Send + Sync>;

struct Inner {
    total: usize,
    session_share: usize,
    /// Bytes reserved by sessions (state and outbound queues).
    reserved: AtomicUsize,
    /// Bytes held outside the sessions that are charged to a session's share (see
    /// [`SessionMemory::reserve_share`]): part of `held_elsewhere`, not of `reserved`.
    charged: AtomicUsize,
    /// Bytes held outside the sessions (the broker's queues), read when checking the total.
    held_elsewhere: Option<HeldElsewhere>,
}

impl Inner {
    fn elsewhere(&self) -> usize {
        self.held_elsewhere.as_ref().map_or(0, |f| f())
    }

    /// Adds `bytes` to the engine's reservations unless that passes the total.
    fn take(&self, bytes: usize) -> Result<(), MemoryBudgetError> {
        let room = self.total.saturating_sub(self.elsewhere());
        add_within(&self.reserved, bytes, room)
            .map_err(|()| MemoryBudgetError::EngineTotal { limit: self.total })
    }

    fn give_back(&self, bytes: usize) {
        self.reserved.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One engine's memory budget: a total, and the share of it one session may hold. Cheap
/// to clone (all clones count against the same budget).
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("total", &self.inner.total)
            .field("session_share", &self.inner.session_share)
            .field("used", &self.used())
            .finish()
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(Self::DEFAULT_TOTAL, Self::DEFAULT_SESSION_SHARE)
    }
}

impl MemoryBudget {
    /// Default engine total: 512 MiB, for a server with 1 GiB of memory. The other half
    /// is left for what the budget does not count: the allocator's overhead and
    /// fragmentation, each connection's fixed buffers (WebSocket read and write buffers,
    /// decoder buffer), the runtime, and the application's own state.
    pub const DEFAULT_TOTAL: usize = 512 * 1024 * 1024;

    /// Default share of one session: 32 MiB (a full transaction of 64 KiB frames needs
    /// at most 16, so legitimate clients never meet it; 16 sessions at their share
    /// reach the default total).
    pub const DEFAULT_SESSION_SHARE: usize = 32 * 1024 * 1024;

    /// A budget of `total` bytes, of which one session may hold at most `session_share`.
    pub fn new(total: usize, session_share: usize) -> Self {
        MemoryBudget {
            inner: Arc::new(Inner {
                total,
                session_share,
                reserved: AtomicUsize::new(0),
                charged: AtomicUsize::new(0),
                held_elsewhere: None,
            }),
        }
    }

    /// The same limits, with bytes held outside the sessions (read by `held` on every
    /// check, so it must be cheap: an atomic load) counted against the total.
    pub(crate) fn with_held_elsewhere(
        self,
        held: impl Fn() -> usize + Send + Sync + 'static,
    ) -> Self {
        MemoryBudget {
            inner: Arc::new(Inner {
                total: self.inner.total,
                session_share: self.inner.session_share,
                reserved: AtomicUsize::new(self.inner.reserved.load(Ordering::Acquire)),
                charged: AtomicUsize::new(self.inner.charged.load(Ordering::Acquire)),
                held_elsewhere: Some(Box::new(held)),
            }),
        }
    }

    /// The engine total, in bytes.
    pub fn total(&self) -> usize {
        self.inner.total
    }

    /// The most one session may hold, in bytes.
    pub fn session_share(&self) -> usize {
        self.inner.session_share
    }

    /// Bytes counted against the budget now: every session's reservations and outbound
    /// queues, plus what the broker holds.
    pub fn used(&self) -> usize {
        self.reserved() + self.inner.elsewhere()
    }

    /// Bytes reserved by sessions now (without the broker's). `0` once every session is
    /// gone.
    pub fn reserved(&self) -> usize {
        self.inner.reserved.load(Ordering::Acquire)
    }

    /// Bytes the broker holds on sessions' behalf now (messages they sent to its queues,
    /// charged to their shares until the messages leave the queues). Part of what the
    /// broker reports, not of [`reserved`](Self::reserved).
    pub fn charged_to_shares(&self) -> usize {
        self.inner.charged.load(Ordering::Acquire)
    }

    /// A new session's account: its reservations count against both its share and the
    /// total.
    pub fn session(&self) -> SessionMemory {
        SessionMemory {
            inner: Arc::new(SessionInner {
                budget: self.inner.clone(),
                used: AtomicUsize::new(0),
                outbound: AtomicUsize::new(0),
            }),
        }
    }
}

struct SessionInner {
    budget: Arc<Inner>,
    /// Bytes charged to this session: reservations, and its outbound queue in whole
    /// quanta.
    used: AtomicUsize,
    /// Exact bytes in the session's outbound queue.
    outbound: AtomicUsize,
}

/// One session's account in a [`MemoryBudget`]. Cheap to clone.
#[derive(Clone)]
pub struct SessionMemory {
    inner: Arc<SessionInner>,
}

impl fmt::Debug for SessionMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMemory")
            .field("used", &self.used())
            .finish_non_exhaustive()
    }
}

impl SessionMemory {
    /// Bytes this session holds now (reservations and its outbound queue).
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes` for as long as the returned [`Reservation`] lives; refused when
    /// the session would pass its share or the engine its total.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, MemoryBudgetError> {
        self.take(bytes)?;
        Ok(Reservation {
            session: self.clone(),
            bytes,
            share_only: false,
        })
    }

    /// Reserves `bytes` against this session's share only, for as long as the returned
    /// [`Reservation`] lives: for bytes the session makes another part of the server hold
    /// (a message it sent to a broker queue) that are already counted against the engine
    /// total there. Refused when the session would pass its share. The reservation keeps
    /// the account alive, so it may outlive the session.
    pub fn reserve_share(&self, bytes: usize) -> Result<Reservation, MemoryBudgetError> {
        let share = self.inner.budget.session_share;
        add_within(&self.inner.used, bytes, share)
            .map_err(|()| MemoryBudgetError::SessionShare { limit: share })?;
        self.inner.budget.charged.fetch_add(bytes, Ordering::AcqRel);
        Ok(Reservation {
            session: self.clone(),
            bytes,
            share_only: true,
        })
    }

    /// Whether `bytes` more would fit in the engine total now, without reserving them:
    /// for bytes another part of the server (the broker) will hold and count, which are
    /// not the session's to hold (so its share is not checked).
    pub fn check_total(&self, bytes: usize) -> Result<(), MemoryBudgetError> {
        let budget = &self.inner.budget;
        let used = budget.reserved.load(Ordering::Acquire) + budget.elsewhere();
        if used.saturating_add(bytes) > budget.total {
            return Err(MemoryBudgetError::EngineTotal {
                limit: budget.total,
            });
        }
        Ok(())
    }

    /// An empty reservation, to [`grow`](Reservation::grow) later.
    pub fn empty(&self) -> Reservation {
        Reservation {
            session: self.clone(),
            bytes: 0,
            share_only: false,
        }
    }

    fn take(&self, bytes: usize) -> Result<(), MemoryBudgetError> {
        let inner = &self.inner;
        let share = inner.budget.session_share;
        add_within(&inner.used, bytes, share)
            .map_err(|()| MemoryBudgetError::SessionShare { limit: share })?;
        if let Err(e) = inner.budget.take(bytes) {
            inner.used.fetch_sub(bytes, Ordering::AcqRel);
            return Err(e);
        }
        Ok(())
    }

    fn give_back(&self, bytes: usize) {
        self.inner.used.fetch_sub(bytes, Ordering::AcqRel);
        self.inner.budget.give_back(bytes);
    }

    /// Counts `bytes` of a frame entering the session's outbound queue. Never refused:
    /// each queue has its own byte limit (far below the share; past it the slow-consumer
    /// policy applies), and refusing deliveries when the total is reached would evict
    /// exactly the consumers draining the broker's backlog. Counted, these bytes make
    /// new reservations (transactions, subscriptions, SENDs the broker would hold) wait
    /// for room instead.
    pub(crate) fn charge_outbound(&self, bytes: usize) {
        let before = self.inner.outbound.fetch_add(bytes, Ordering::AcqRel);
        let grow = quanta(before + bytes) - quanta(before);
        if grow > 0 {
            let inner = &self.inner;
            inner.budget.reserved.fetch_add(grow, Ordering::AcqRel);
            inner.used.fetch_add(grow, Ordering::AcqRel);
        }
    }

    /// Gives back bytes charged with [`charge_outbound`](Self::charge_outbound).
    pub(crate) fn release_outbound(&self, bytes: usize) {
        let before = self.inner.outbound.fetch_sub(bytes, Ordering::AcqRel);
        let shrink = quanta(before) - quanta(before - bytes);
        if shrink > 0 {
            self.give_back(shrink);
        }
    }
}

/// Outbound bytes are charged to the budget in whole quanta, so a delivery touches the
/// engine-wide counter only when its session's queue crosses a quantum boundary (about
/// once per 64 KiB delivered), not once per frame: the fan-out path stays free of a
/// counter shared by every core.
pub(crate) const OUTBOUND_QUANTUM: usize = 64 * 1024;

/// `bytes` rounded up to whole [`OUTBOUND_QUANTUM`]s, in bytes.
fn quanta(bytes: usize) -> usize {
    bytes.div_ceil(OUTBOUND_QUANTUM) * OUTBOUND_QUANTUM
}

/// Bytes reserved in a [`MemoryBudget`]; dropping it gives them back.
#[must_use = "dropping a reservation releases it at once"]
pub struct Reservation {
    session: SessionMemory,
    bytes: usize,
    /// Counted against the session's share only (see [`SessionMemory::reserve_share`]).
    share_only: bool,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    /// Bytes held by this reservation.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reserves `bytes` more under the same terms as [`SessionMemory::reserve`]; on
    /// refusal the reservation is unchanged.
    pub fn grow(&mut self, bytes: usize) -> Result<(), MemoryBudgetError> {
        if self.share_only {
            let share = self.session.inner.budget.session_share;
            add_within(&self.session.inner.used, bytes, share)
                .map_err(|()| MemoryBudgetError::SessionShare { limit: share })?;
            let budget = &self.session.inner.budget;
            budget.charged.fetch_add(bytes, Ordering::AcqRel);
            self.bytes += bytes;
            return Ok(());
        }
        self.session.take(bytes)?;
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            if self.share_only {
                let inner = &self.session.inner;
                inner.used.fetch_sub(self.bytes, Ordering::AcqRel);
                inner.budget.charged.fetch_sub(self.bytes, Ordering::AcqRel);
            } else {
                self.session.give_back(self.bytes);
            }
        }
    }
}

/// What a buffered frame is charged: its body and header text, plus a fixed overhead for
/// the structures around them.
pub(crate) fn frame_cost(frame: &crate::frame::Frame) -> usize {
    const FRAME_OVERHEAD: usize = 128;
    FRAME_OVERHEAD + frame.body.len() + headers_cost(&frame.headers)
}

/// What a frame's headers are charged: their text plus a fixed overhead per entry.
pub(crate) fn headers_cost(headers: &crate::frame::Headers) -> usize {
    const HEADER_OVERHEAD: usize = 32;
    headers
        .entries()
        .iter()
        .map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn reserve_and_release() {
        let budget = MemoryBudget::new(1000, 400);
        let s = budget.session();
        let a = s.reserve(100).unwrap();
        let mut b = s.reserve(200).unwrap();
        assert_eq!((s.used(), budget.used()), (300, 300));
        b.grow(100).unwrap();
        assert_eq!(b.bytes(), 300);
        assert_eq!(
            b.grow(1).unwrap_err(),
            MemoryBudgetError::SessionShare { limit: 400 }
        );
        assert_eq!(b.bytes(), 300, "a refused grow changes nothing");
        drop(a);
        assert_eq!(s.used(), 300);
        drop(b);
        assert_eq!((s.used(), budget.used()), (0, 0));
        let empty = s.empty();
        drop(empty);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn share_and_total_are_both_enforced() {
        let budget = MemoryBudget::new(1000, 400);
        let sessions: Vec<_> = (0..3).map(|_| budget.session()).collect();
        let held: Vec<_> = sessions[..2]
            .iter()
            .map(|s| s.reserve(400).unwrap())
            .collect();
        assert_eq!(
            sessions[2].reserve(300).unwrap_err(),
            MemoryBudgetError::EngineTotal { limit: 1000 }
        );
        assert_eq!(sessions[2].used(), 0, "a refusal holds nothing");
        assert_eq!(budget.used(), 800);
        let ok = sessions[2].reserve(200).unwrap();
        assert_eq!(budget.used(), 1000);
        drop(held);
        drop(ok);
        assert_eq!(budget.used(), 0);
        assert_eq!(
            MemoryBudgetError::SessionShare { limit: 33554432 }.to_string(),
            "memory budget: session share of 33554432 bytes exceeded"
        );
    }

    #[test]
    fn bytes_held_elsewhere_count_against_the_total_only() {
        let held = Arc::new(AtomicUsize::new(0));
        let budget = MemoryBudget::new(1000, 600).with_held_elsewhere({
            let held = held.clone();
            move || held.load(Ordering::Relaxed)
        });
        let s = budget.session();
        held.store(700, Ordering::Relaxed);
        assert_eq!(budget.used(), 700);
        assert_eq!(
            s.reserve(400).unwrap_err(),
            MemoryBudgetError::EngineTotal { limit: 1000 }
        );
        let r = s.reserve(300).unwrap();
        assert_eq!((budget.used(), budget.reserved()), (1000, 300));
        assert_eq!(
            s.check_total(1).unwrap_err(),
            MemoryBudgetError::EngineTotal { limit: 1000 }
        );
        held.store(0, Ordering::Relaxed);
        assert_eq!(s.check_total(700), Ok(()));
        drop(r);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn outbound_bytes_are_counted_and_leave_less_room_for_reservations() {
        const Q: usize = OUTBOUND_QUANTUM;
        let budget = MemoryBudget::new(3 * Q, 3 * Q);
        let s = budget.session();
        let r = s.reserve(Q).unwrap();
        s.charge_outbound(30);
        assert_eq!(
            (budget.used(), s.used()),
            (2 * Q, 2 * Q),
            "one whole quantum"
        );
        s.charge_outbound(Q - 30);
        assert_eq!(budget.used(), 2 * Q, "still within the first quantum");
        assert_eq!(
            s.reserve(Q + 1).unwrap_err(),
            MemoryBudgetError::SessionShare { limit: 3 * Q }
        );
        s.charge_outbound(2 * Q);
        assert_eq!(budget.used(), 4 * Q, "deliveries are never refused");
        s.release_outbound(Q);
        assert_eq!(budget.used(), 3 * Q);
        s.release_outbound(2 * Q - 1);
        assert_eq!(budget.used(), 2 * Q, "one byte left keeps one quantum");
        s.release_outbound(1);
        drop(r);
        assert_eq!((budget.used(), s.used()), (0, 0));
    }

    #[test]
    fn concurrent_reservations_never_pass_the_total_and_all_come_back() {
        let budget = MemoryBudget::new(10_000, 2_000);
        let peak = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let session = budget.session();
                let budget = budget.clone();
                let peak = peak.clone();
                scope.spawn(move || {
                    let mut held = Vec::new();
                    for round in 0..2_000 {
                        match session.reserve(64 + round % 200) {
                            Ok(r) => held.push(r),
                            Err(_) => {
                                held.clear();
                            }
                        }
                        assert!(session.used() <= 2_000);
                        peak.fetch_max(budget.used(), Ordering::Relaxed);
                        if round % 7 == 0 {
                            held.pop();
                        }
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 10_000);
        assert!(peak.load(Ordering::Relaxed) > 0);
        assert_eq!(budget.used(), 0);
    }
}
