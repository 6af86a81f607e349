//! Transactions: frames of a transaction are buffered and take effect, in order, on COMMIT.

use std::collections::HashMap;

use bytestring::ByteString;

use crate::frame::Frame;

use super::error::ProtocolError;

/// The open transactions of one session, bounded in number and in buffered frames.
#[derive(Debug)]
pub(crate) struct Transactions {
    open: HashMap<ByteString, Vec<Frame>>,
    buffered: usize,
    max_open: usize,
    max_frames: usize,
}

impl Transactions {
    pub(crate) fn new(max_open: usize, max_frames: usize) -> Self {
        Transactions {
            open: HashMap::new(),
            buffered: 0,
            max_open,
            max_frames,
        }
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
        self.open.insert(ByteString::from(id), Vec::new());
        Ok(())
    }

    pub(crate) fn add(&mut self, id: &str, frame: Frame) -> Result<(), ProtocolError> {
        let frames = self.open.get_mut(id).ok_or_else(|| unknown(id))?;
        if self.buffered >= self.max_frames {
            return Err(ProtocolError::new(
                "transaction too large",
                format!(
                    "at most {} frames may be buffered in open transactions",
                    self.max_frames
                ),
            ));
        }
        frames.push(frame);
        self.buffered += 1;
        Ok(())
    }

    /// Closes the transaction and hands back its frames, in the order they came.
    pub(crate) fn commit(&mut self, id: &str) -> Result<Vec<Frame>, ProtocolError> {
        let frames = self.open.remove(id).ok_or_else(|| unknown(id))?;
        self.buffered -= frames.len();
        Ok(frames)
    }

    pub(crate) fn abort(&mut self, id: &str) -> Result<(), ProtocolError> {
        self.commit(id).map(drop)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

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
        let mut tx = Transactions::new(2, 3);
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
    }
}
