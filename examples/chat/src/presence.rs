//! Who is online: a count of open sessions per user name.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Open sessions per user. A user is online while they have at least one session.
#[derive(Debug, Default)]
pub struct Online {
    sessions: Mutex<BTreeMap<String, usize>>,
}

impl Online {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a new session of `user`; true if it is the user's first (they came online).
    pub fn session_opened(&self, user: &str) -> bool {
        let mut sessions = self.lock();
        let count = sessions.entry(user.to_owned()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Records that a session of `user` closed; true if it was the last (they went offline).
    pub fn session_closed(&self, user: &str) -> bool {
        let mut sessions = self.lock();
        match sessions.get_mut(user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                sessions.remove(user);
                true
            }
            None => false,
        }
    }

    /// The names online now, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, usize>> {
        // The map stays consistent even if a holder panicked: every update is one step.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        Open(&'static str, bool),
        Close(&'static str, bool),
    }

    #[test]
    fn online_while_any_session_is_open() {
        use Step::{Close, Open};
        let steps = [
            Open("bob", true),
            Open("alice", true),
            Open("bob", false),
            Close("bob", false),
            Close("carol", false),
            Close("bob", true),
            Close("bob", false),
        ];
        let online = Online::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Open(user, first) => assert_eq!(online.session_opened(user), first, "step {i}"),
                Close(user, last) => assert_eq!(online.session_closed(user), last, "step {i}"),
            }
        }
        assert_eq!(online.names(), ["alice"]);
    }
}
