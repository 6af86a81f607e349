//! Transactions: frames of a transaction are buffered and take effect, in order, on COMMIT.

use std::collections::HashMap;

use bytestring::ByteString;

use crate::frame::Frame;
use crate::memory::{frame_cost, Reservation, SessionMemory};

use super::error::ProtocolError;

/// One open transaction: its frames, and the memory they are charged.
#[derive(Debug)]
struct Open {
    frames: Vec<Frame>,
    held: Reservation,
}

/// The open transactions of one session, bounded in number, in buffered frames, and in
/// bytes by the session's memory share.
#[derive(Debug)]
pub(crate) struct Transactions {
    open: HashMap<ByteString, Open>,
    buffered: usize,
    max_open: usize,
    max_frames: usize,
    memory: SessionMemory,
}

impl Transactions {
    pub(crate) fn new(max_open: usize, max_frames: usize, memory: SessionMemory) -> Self {
        Transactions {
            open: HashMap::new(),
            buffered: 0,
            max_open,
            max_frames,
            memory,
        }
    }

    /// Drops every open transaction (the session ended), releasing their memory.
    pub(crate) fn clear(&mut self) {
        self.open.clear();
        self.buffered = 0;
    }

    pub(crate) fn begin(&mut self, id: &str) -> Result<(), ProtocolError> {
        if self.open.contains_key(id) {
            return Err(ProtocolError::new(
                "transaction already started",
                format!("transaction {id:?} is already open"),
            ));
        }
        if self.open.len() >= self.max_open {
            return Err(ProtocolError::new(
                "too many open transactions",
                format!("at most {} transactions may be open at once", self.max_open),
            ));
        }
        let held = self.memory.reserve(id.len() + TRANSACTION_OVERHEAD)?;
        let open = Open {
            frames: Vec::new(),
            held,
        };
        self.open.insert(ByteString::from(id), open);
        Ok(())
    }

    pub(crate) fn add(&mut self, id: &str, frame: Frame) -> Result<(), ProtocolError> {
        let open = self.open.get_mut(id).ok_or_else(|| unknown(id))?;
        if self.buffered >= self.max_frames {
            return Err(ProtocolError::new(
                "transaction too large",
                format!(
                    "at most {} frames may be buffered in open transactions",
                    self.max_frames
                ),
            ));
        }
        open.held.grow(frame_cost(&frame))?;
        open.frames.push(frame);
        self.buffered += 1;
        Ok(())
    }

    /// Closes the transaction and hands back its frames, in the order they came (their
    /// memory is released here: from now on they are being applied).
    pub(crate) fn commit(&mut self, id: &str) -> Result<Vec<Frame>, ProtocolError> {
        let open = self.open.remove(id).ok_or_else(|| unknown(id))?;
        self.buffered -= open.frames.len();
        Ok(open.frames)
    }

    pub(crate) fn abort(&mut self, id: &str) -> Result<(), ProtocolError> {
        self.commit(id).map(drop)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

/// What an open transaction costs besides its frames (map entry, id, vector).
const TRANSACTION_OVERHEAD: usize = 128;

fn unknown(id: &str) -> ProtocolError {
    ProtocolError::new(
        "unknown transaction",
        format!(
            "transaction {:?} was not started",
            id.chars().take(64).collect::<String>()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Command;

    #[test]
    fn frames_come_back_in_order_and_limits_hold() {
        let budget = crate::memory::MemoryBudget::default();
        let mut tx = Transactions::new(2, 3, budget.session());
        tx.begin("a").unwrap();
        assert!(tx.begin("a").is_err(), "duplicate BEGIN");
        tx.begin("b").unwrap();
        assert!(tx.begin("c").is_err(), "too many open");
        for n in 0..3 {
            tx.add("a", Frame::new(Command::Send).header("n", n.to_string()))
                .unwrap();
        }
        assert!(
            tx.add("b", Frame::new(Command::Send)).is_err(),
            "too many frames"
        );
        assert!(tx.add("zz", Frame::new(Command::Send)).is_err(), "unknown");
        let frames = tx.commit("a").unwrap();
        let order: Vec<_> = frames.iter().map(|f| f.headers.get("n").unwrap()).collect();
        assert_eq!(order, ["0", "1", "2"]);
        tx.add("b", Frame::new(Command::Send)).unwrap();
        tx.abort("b").unwrap();
        assert!(tx.commit("b").is_err(), "aborted is gone");
        assert!(tx.abort("a").is_err(), "committed is gone");
        assert_eq!(tx.len(), 0);
        assert_eq!(
            budget.used(),
            0,
            "committed and aborted release their memory"
        );
    }

    #[test]
    fn buffered_bytes_are_bounded_by_the_session_share() {
        let budget = crate::memory::MemoryBudget::new(1 << 20, 10_000);
        let mut tx = Transactions::new(4, 1000, budget.session());
        tx.begin("t").unwrap();
        let frame = || Frame::new(Command::Send).body(vec![0u8; 1000]);
        let mut added = 0;
        let refused = loop {
            match tx.add("t", frame()) {
                Ok(()) => added += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(
            refused.message,
            "memory budget: session share of 10000 bytes exceeded"
        );
        assert!((8..10).contains(&added), "{added} frames of 1000 bytes");
        assert!(budget.used() <= 10_000);
        tx.clear();
        assert_eq!(budget.used(), 0);
    }
}
