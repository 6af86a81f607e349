//! Who is online: the open sessions of each user name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use stomp_axum::core::backplane::ClusterView;
use stomp_axum::core::user::UserRegistry;

/// Where the names of users connected to *other* chat servers come from, when there are
/// other servers.
#[derive(Debug, Clone, Default)]
pub enum Elsewhere {
    /// A standalone server: nobody elsewhere.
    #[default]
    Nowhere,
    /// The Redis backplane's cluster-wide view.
    Backplane(ClusterView),
    /// The user registry, which the RabbitMQ relay keeps in sync across instances.
    Relay(UserRegistry),
}

impl Elsewhere {
    /// The names online anywhere: `local` plus whoever the cluster knows of, sorted, once.
    pub fn merge(&self, local: Vec<String>) -> Vec<String> {
        let mut names: BTreeSet<String> = local.into_iter().collect();
        match self {
            Elsewhere::Nowhere => {}
            Elsewhere::Backplane(cluster) => {
                names.extend(cluster.user_names().iter().map(|n| n.to_string()));
            }
            Elsewhere::Relay(registry) => {
                names.extend(registry.users().iter().map(|u| u.name.to_string()));
            }
        }
        names.into_iter().collect()
    }
}

/// Open sessions per user. A user is online while they have at least one session.
///
/// Keyed by session id because the engine's "disconnected" event names only the session.
#[derive(Debug, Default)]
pub struct Online {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// session id → user name
    sessions: HashMap<String, String>,
    /// user name → number of open sessions
    users: BTreeMap<String, usize>,
}

impl Online {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `session` of `user` opened; true if it is the user's first session (they
    /// came online). Opening a session id twice counts once.
    pub fn session_opened(&self, session: &str, user: &str) -> bool {
        let mut inner = self.lock();
        if inner.sessions.contains_key(session) {
            return false;
        }
        inner.sessions.insert(session.to_owned(), user.to_owned());
        let count = inner.users.entry(user.to_owned()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Records that `session` closed; returns its user if that was their last session (they
    /// went offline). Unknown sessions (anonymous ones, or closed twice) return `None`.
    pub fn session_closed(&self, session: &str) -> Option<String> {
        let mut inner = self.lock();
        let user = inner.sessions.remove(session)?;
        match inner.users.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                None
            }
            Some(_) => {
                inner.users.remove(&user);
                Some(user)
            }
            None => None,
        }
    }

    /// The names online now, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().users.keys().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the maps consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        /// session, user, came online?
        Open(&'static str, &'static str, bool),
        /// session, went offline?
        Close(&'static str, Option<&'static str>),
    }

    #[test]
    fn online_while_any_session_is_open() {
        use Step::{Close, Open};
        let steps = [
            Open("s1", "bob", true),
            Open("s2", "alice", true),
            Open("s3", "bob", false),
            Open("s3", "bob", false), // the same session again: no change
            Close("s1", None),
            Close("nope", None),
            Close("s3", Some("bob")),
            Close("s3", None), // closed twice
        ];
        let online = Online::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Open(s, user, first) => {
                    assert_eq!(online.session_opened(s, user), first, "step {i}");
                }
                Close(s, last) => {
                    assert_eq!(online.session_closed(s).as_deref(), last, "step {i}");
                }
            }
        }
        assert_eq!(online.names(), ["alice"]);
    }
}
