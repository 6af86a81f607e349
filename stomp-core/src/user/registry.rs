//! The user registry: which users are connected, with which sessions, and what each session
//! subscribed to (Spring's `SimpUserRegistry`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytestring::ByteString;

use crate::identity::{SessionId, SessionInfo};

/// One subscription of a connected session, as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSubscription {
    /// The session that subscribed.
    pub session: SessionId,
    /// The session's user, if it is authenticated.
    pub user: Option<Arc<str>>,
    /// The SUBSCRIBE `id`.
    pub id: ByteString,
    /// The destination as the client sent it (e.g. `/user/queue/reply`).
    pub destination: ByteString,
}

/// One connected session of a user, with its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSession {
    /// The session id.
    pub id: SessionId,
    /// Its subscriptions, in no particular order.
    pub subscriptions: Vec<RegisteredSubscription>,
}

/// A connected user and its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredUser {
    /// The user name (the principal's name).
    pub name: Arc<str>,
    /// The user's sessions, oldest first.
    pub sessions: Vec<RegisteredSession>,
}

#[derive(Debug, Default)]
struct SessionEntry {
    user: Option<Arc<str>>,
    /// Subscription id and destination as sent by the client, ids unique (a `Vec`, not a
    /// map: empty it allocates nothing, and a session has few subscriptions).
    subscriptions: Vec<(ByteString, ByteString)>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Every live session, authenticated or not.
    sessions: HashMap<SessionId, SessionEntry>,
    /// User name → that user's sessions, oldest first.
    users: HashMap<Arc<str>, Vec<SessionId>>,
}

/// Which users are connected, with which sessions and subscriptions. Cheap to clone; clones
/// share the same registry.
///
/// The session keeps it up to date through four hooks:
/// [`session_connected`](Self::session_connected) when CONNECT is accepted,
/// [`subscription_added`](Self::subscription_added) /
/// [`subscription_removed`](Self::subscription_removed) when a subscription is created or
/// removed, and [`session_disconnected`](Self::session_disconnected) when the session ends
/// (however it ends). Every call takes a short, synchronous lock; nothing is held across an
/// `.await`.
///
/// Unauthenticated sessions are tracked too (their user destinations still resolve), but only
/// sessions with a principal appear under a user.
#[derive(Debug, Clone, Default)]
pub struct UserRegistry {
    inner: Arc<RwLock<Inner>>,
}

impl UserRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        UserRegistry::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        crate::sync::read(&self.inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        crate::sync::write(&self.inner)
    }

    /// Hook: a session's CONNECT was accepted. Calling it again for the same id replaces the
    /// earlier entry (and its subscriptions).
    pub fn session_connected(&self, session: &SessionInfo) {
        let user: Option<Arc<str>> = session.principal.as_ref().map(|p| Arc::from(p.name()));
        let mut inner = self.write();
        remove_session(&mut inner, &session.id);
        if let Some(name) = &user {
            inner
                .users
                .entry(name.clone())
                .or_default()
                .push(session.id.clone());
        }
        inner.sessions.insert(
            session.id.clone(),
            SessionEntry {
                user,
                subscriptions: Vec::new(),
            },
        );
    }

    /// Hook: the session ended (DISCONNECT, transport closed, error, heart-beat timeout...).
    /// Its subscriptions go with it; a user without sessions is no longer listed.
    pub fn session_disconnected(&self, session: &SessionId) {
        remove_session(&mut self.write(), session);
    }

    /// Hook: the session subscribed `destination` (as the client sent it) with id `id`.
    /// Ignored for a session that is not connected.
    pub fn subscription_added(
        &self,
        session: &SessionId,
        id: impl Into<ByteString>,
        destination: impl Into<ByteString>,
    ) {
        if let Some(entry) = self.write().sessions.get_mut(session) {
            let (id, destination) = (id.into(), destination.into());
            match entry.subscriptions.iter_mut().find(|(s, _)| *s == id) {
                Some(existing) => existing.1 = destination,
                None => entry.subscriptions.push((id, destination)),
            }
        }
    }

    /// Hook: the session's subscription `id` was removed.
    pub fn subscription_removed(&self, session: &SessionId, id: &str) {
        if let Some(entry) = self.write().sessions.get_mut(session) {
            entry.subscriptions.retain(|(s, _)| s != id);
        }
    }

    /// The connected users, with their sessions and subscriptions (sorted by name).
    pub fn users(&self) -> Vec<RegisteredUser> {
        let inner = self.read();
        let mut users: Vec<RegisteredUser> = inner
            .users
            .iter()
            .map(|(name, ids)| user_view(&inner, name, ids))
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users
    }

    /// One connected user, if it has at least one session.
    pub fn user(&self, name: &str) -> Option<RegisteredUser> {
        let inner = self.read();
        let (name, ids) = inner.users.get_key_value(name)?;
        Some(user_view(&inner, name, ids))
    }

    /// The sessions of `user`, oldest first (empty for a user who is not connected).
    pub fn sessions_of(&self, user: &str) -> Vec<SessionId> {
        self.read().users.get(user).cloned().unwrap_or_default()
    }

    /// How many users have at least one session.
    pub fn user_count(&self) -> usize {
        self.read().users.len()
    }

    /// How many sessions are connected (authenticated or not).
    pub fn session_count(&self) -> usize {
        self.read().sessions.len()
    }

    /// Whether `session` is connected.
    pub fn is_connected(&self, session: &SessionId) -> bool {
        self.read().sessions.contains_key(session)
    }

    /// The user of a connected session (`None` if unknown or unauthenticated).
    pub fn user_of(&self, session: &SessionId) -> Option<Arc<str>> {
        self.read().sessions.get(session)?.user.clone()
    }

    /// Whether the connected session `session` has a subscription to one of `destinations`
    /// (compared exactly with what the client sent).
    pub fn is_subscribed_to(&self, session: &SessionId, destinations: &[&str]) -> bool {
        self.read().sessions.get(session).is_some_and(|entry| {
            entry
                .subscriptions
                .iter()
                .any(|(_, d)| destinations.contains(&&**d))
        })
    }

    /// Every subscription of every connected session that `filter` accepts.
    pub fn find_subscriptions(
        &self,
        mut filter: impl FnMut(&RegisteredSubscription) -> bool,
    ) -> Vec<RegisteredSubscription> {
        let inner = self.read();
        let mut found = Vec::new();
        for (session, entry) in &inner.sessions {
            for (id, destination) in &entry.subscriptions {
                let sub = RegisteredSubscription {
                    session: session.clone(),
                    user: entry.user.clone(),
                    id: id.clone(),
                    destination: destination.clone(),
                };
                if filter(&sub) {
                    found.push(sub);
                }
            }
        }
        found
    }

    /// Every subscription whose destination is exactly `destination`.
    pub fn subscriptions_to(&self, destination: &str) -> Vec<RegisteredSubscription> {
        self.find_subscriptions(|s| s.destination == destination)
    }
}

fn remove_session(inner: &mut Inner, session: &SessionId) {
    let Some(entry) = inner.sessions.remove(session) else {
        return;
    };
    if let Some(name) = entry.user {
        if let Some(ids) = inner.users.get_mut(&name) {
            ids.retain(|id| id != session);
            if ids.is_empty() {
                inner.users.remove(&name);
            }
        }
    }
}

fn user_view(inner: &Inner, name: &Arc<str>, ids: &[SessionId]) -> RegisteredUser {
    let sessions = ids
        .iter()
        .filter_map(|id| {
            let entry = inner.sessions.get(id)?;
            let subscriptions = entry
                .subscriptions
                .iter()
                .map(|(sub, destination)| RegisteredSubscription {
                    session: id.clone(),
                    user: Some(name.clone()),
                    id: sub.clone(),
                    destination: destination.clone(),
                })
                .collect();
            Some(RegisteredSession {
                id: id.clone(),
                subscriptions,
            })
        })
        .collect();
    RegisteredUser {
        name: name.clone(),
        sessions,
    }
}

#[cfg(test)]
mod tests {
    /// One entry per connected session, for the session's whole life: an empty
    /// subscription list costs no allocation and no hasher (it was a `HashMap`, 64 bytes
    /// with the user; issue 18).
    #[test]
    fn session_entry_stays_small() {
        let size = std::mem::size_of::<SessionEntry>();
        assert!(size <= 40, "SessionEntry is {size} bytes");
    }

    #[test]
    fn resubscribing_an_id_replaces_its_destination() {
        let reg = UserRegistry::new();
        let id = SessionId::from("s1");
        reg.session_connected(&SessionInfo {
            id: id.clone(),
            principal: None,
            version: crate::version::Version::V1_2,
            attributes: Default::default(),
        });
        reg.subscription_added(&id, "sub-0", "/topic/a");
        reg.subscription_added(&id, "sub-0", "/topic/b");
        let subs = reg.find_subscriptions(|_| true);
        assert_eq!(subs.len(), 1);
        assert_eq!(&*subs[0].destination, "/topic/b");
        assert!(reg.is_subscribed_to(&id, &["/topic/b"]));
        assert!(!reg.is_subscribed_to(&id, &["/topic/a"]));
        reg.subscription_removed(&id, "sub-0");
        assert!(reg.find_subscriptions(|_| true).is_empty());
    }

    use super::*;
    use crate::identity::{Attributes, Principal};
    use crate::version::Version;

    fn info(id: &str, user: Option<&str>) -> SessionInfo {
        SessionInfo {
            id: SessionId::from(id),
            principal: user.map(Principal::new),
            version: Version::V1_2,
            attributes: Attributes::default(),
        }
    }

    #[test]
    fn tracks_users_sessions_and_subscriptions() {
        let reg = UserRegistry::new();
        reg.session_connected(&info("s1", Some("ann")));
        reg.session_connected(&info("s2", Some("ann")));
        reg.session_connected(&info("s3", None));
        reg.subscription_added(&SessionId::from("s1"), "0", "/user/queue/reply");
        reg.subscription_added(&SessionId::from("s3"), "0", "/topic/a");
        assert_eq!(reg.user_count(), 1);
        assert_eq!(reg.session_count(), 3);
        assert_eq!(
            reg.sessions_of("ann"),
            vec![SessionId::from("s1"), SessionId::from("s2")]
        );
        let ann = reg.user("ann").unwrap();
        assert_eq!(ann.sessions.len(), 2);
        assert_eq!(ann.sessions[0].subscriptions.len(), 1);
        assert_eq!(reg.subscriptions_to("/topic/a")[0].session, "s3".into());
        assert!(reg.is_subscribed_to(&"s1".into(), &["/x", "/user/queue/reply"]));
        reg.subscription_removed(&SessionId::from("s1"), "0");
        assert!(!reg.is_subscribed_to(&"s1".into(), &["/user/queue/reply"]));
        assert_eq!(reg.user_of(&"s2".into()).as_deref(), Some("ann"));
        assert_eq!(reg.user_of(&"s3".into()), None);
    }

    #[test]
    fn reconnecting_the_same_id_does_not_duplicate() {
        let reg = UserRegistry::new();
        reg.session_connected(&info("s1", Some("ann")));
        reg.session_connected(&info("s1", Some("bob")));
        assert_eq!(reg.sessions_of("ann"), Vec::<SessionId>::new());
        assert_eq!(reg.sessions_of("bob"), vec![SessionId::from("s1")]);
        assert_eq!(reg.session_count(), 1);
    }

    #[test]
    fn subscriptions_of_unknown_sessions_are_ignored() {
        let reg = UserRegistry::new();
        reg.subscription_added(&SessionId::from("ghost"), "0", "/topic/a");
        assert!(reg.find_subscriptions(|_| true).is_empty());
    }
}
