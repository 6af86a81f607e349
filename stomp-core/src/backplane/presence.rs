//! Who is connected where: this instance's users (counted by session) and every other
//! instance's users, kept by the shared [cluster membership](crate::cluster) with one entry
//! per user name.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytestring::ByteString;
use tokio::time::Instant;

pub use crate::cluster::InstanceId;
use crate::cluster::{Announcement, Membership};
use crate::identity::SessionId;

/// A presence announcement: the entries are user names (no value).
pub(crate) type PresenceAnnouncement = Announcement<ByteString, ()>;

/// A user connected somewhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUser {
    /// The user name.
    pub name: ByteString,
    /// The instances hosting at least one session of the user, sorted.
    pub instances: Vec<InstanceId>,
}

/// The presence state: local sessions per user, over the membership of user names.
#[derive(Debug)]
pub(crate) struct Presence {
    sessions: HashMap<SessionId, ByteString>,
    counts: HashMap<ByteString, usize>,
    membership: Membership<ByteString, ()>,
}

impl Presence {
    pub(crate) fn new(me: InstanceId) -> Self {
        Presence {
            sessions: HashMap::new(),
            counts: HashMap::new(),
            membership: Membership::new(me),
        }
    }

    /// A local session of `user` opened; the `join` to announce when it is the user's first.
    pub(crate) fn session_opened(
        &mut self,
        session: SessionId,
        user: ByteString,
    ) -> Option<PresenceAnnouncement> {
        match self.sessions.insert(session, user.clone()) {
            // The same session again: counted once, nothing changes.
            Some(previous) if previous == user => return None,
            // The same session id under another user: `previous` loses it. Should that be
            // its last session, the leave is not announced here: the others see the
            // version gap at the next heartbeat and ask for the snapshot.
            Some(previous) => {
                let _ = self.leave_local(&previous);
            }
            None => {}
        }
        let count = self.counts.entry(user.clone()).or_default();
        *count += 1;
        if *count == 1 {
            self.membership.put_local(user, ())
        } else {
            None
        }
    }

    /// A local session ended; its user and the `leave` to announce when it was the user's
    /// last.
    pub(crate) fn session_closed(
        &mut self,
        session: &SessionId,
    ) -> Option<(ByteString, PresenceAnnouncement)> {
        let user = self.sessions.remove(session)?;
        self.leave_local(&user).map(|leave| (user, leave))
    }

    fn leave_local(&mut self, user: &ByteString) -> Option<PresenceAnnouncement> {
        let count = self.counts.get_mut(user)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        self.counts.remove(user);
        self.membership.remove_local(user)
    }

    /// What to publish on (re)connecting.
    pub(crate) fn greeting(&self) -> [PresenceAnnouncement; 2] {
        self.membership.greeting()
    }

    /// What to publish every tick.
    pub(crate) fn heartbeat(&self) -> PresenceAnnouncement {
        self.membership.heartbeat()
    }

    /// Applies another instance's announcement; what to publish in answer.
    pub(crate) fn apply(
        &mut self,
        origin: &InstanceId,
        announcement: PresenceAnnouncement,
        now: Instant,
    ) -> Option<PresenceAnnouncement> {
        // The view is computed from the membership on demand: the changes need no mirror.
        self.membership.apply(origin, announcement, now).reply
    }

    /// Drops instances silent for longer than `ttl`; returns them.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<InstanceId> {
        self.membership
            .expire(now, ttl)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    fn users(&self) -> Vec<ClusterUser> {
        let mut all: BTreeMap<&ByteString, Vec<InstanceId>> = BTreeMap::new();
        let me = self.membership.me();
        let local = std::iter::once((me, self.membership.local()));
        for (id, users) in local.chain(self.membership.remotes()) {
            for user in users.keys() {
                all.entry(user).or_default().push(id.clone());
            }
        }
        all.into_iter()
            .map(|(name, mut instances)| {
                instances.sort_unstable();
                ClusterUser {
                    name: name.clone(),
                    instances,
                }
            })
            .collect()
    }

    fn instances(&self) -> Vec<InstanceId> {
        let mut ids: Vec<InstanceId> = self
            .membership
            .remotes()
            .map(|(id, _)| id.clone())
            .collect();
        ids.push(self.membership.me().clone());
        ids.sort_unstable();
        ids
    }
}

/// The cluster-wide view of connected users, as this instance knows it (local sessions at
/// once, other instances within a presence round trip). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub(crate) inner: Arc<Mutex<Presence>>,
}

impl ClusterView {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Presence> {
        crate::sync::lock(&self.inner)
    }

    /// Every user connected to any live instance, sorted by name.
    pub fn users(&self) -> Vec<ClusterUser> {
        self.lock().users()
    }

    /// The names of every user connected to any live instance, sorted.
    pub fn user_names(&self) -> Vec<ByteString> {
        self.users().into_iter().map(|u| u.name).collect()
    }

    /// The instances hosting `user`, sorted (empty when it is not connected).
    pub fn instances_of(&self, user: &str) -> Vec<InstanceId> {
        self.users()
            .into_iter()
            .find(|u| u.name == user)
            .map(|u| u.instances)
            .unwrap_or_default()
    }

    /// The live instances this one knows of, itself included, sorted.
    pub fn instances(&self) -> Vec<InstanceId> {
        self.lock().instances()
    }

    /// This instance's id.
    pub fn instance_id(&self) -> InstanceId {
        self.lock().membership.me().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Change;

    fn s(x: &str) -> ByteString {
        ByteString::from(x)
    }

    fn update(version: u64, change: Change<ByteString, ()>) -> PresenceAnnouncement {
        Announcement::Update { version, change }
    }

    #[test]
    fn local_users_count_sessions() {
        let mut p = Presence::new(s("me"));
        // (opened or closed, session, user, what is announced)
        let steps = [
            (true, "1", "ann", Some(update(1, Change::Put(s("ann"), ())))),
            (true, "2", "ann", None),
            (false, "1", "", None),
            (false, "9", "", None),
            (false, "2", "", Some(update(2, Change::Remove(s("ann"))))),
            (true, "3", "bob", Some(update(3, Change::Put(s("bob"), ())))),
            // The same session id again counts once.
            (true, "3", "bob", None),
            (false, "3", "", Some(update(4, Change::Remove(s("bob"))))),
            // A session id reused by another user moves it (the leave shows as a gap).
            (true, "4", "cid", Some(update(5, Change::Put(s("cid"), ())))),
            (true, "4", "dan", Some(update(7, Change::Put(s("dan"), ())))),
        ];
        for (i, (open, session, user, expected)) in steps.into_iter().enumerate() {
            let announced = if open {
                p.session_opened(SessionId::from(session), s(user))
            } else {
                p.session_closed(&SessionId::from(session)).map(|(_, a)| a)
            };
            assert_eq!(announced, expected, "step {i}");
        }
        let names: Vec<ByteString> = p.users().into_iter().map(|u| u.name).collect();
        assert_eq!(names, [s("dan")]);
    }

    #[test]
    fn the_view_lists_local_and_remote_users_and_drops_expired_instances() {
        let start = Instant::now();
        let mut p = Presence::new(s("a"));
        p.session_opened(SessionId::from("1"), s("ann"));
        let snapshot = |users: &[&str]| Announcement::Snapshot {
            version: 1,
            entries: users.iter().map(|u| (s(u), ())).collect(),
        };
        p.apply(&s("b"), snapshot(&["bob", "ann"]), start);
        p.apply(&s("c"), snapshot(&["cid"]), start);
        assert_eq!(p.users()[0].instances, [s("a"), s("b")]);
        let later = start + Duration::from_secs(5);
        p.apply(&s("c"), Announcement::Heartbeat { version: 1 }, later);
        assert_eq!(p.expire(later, Duration::from_secs(3)), vec![s("b")]);
        assert_eq!(
            p.users(),
            vec![
                ClusterUser {
                    name: s("ann"),
                    instances: vec![s("a")]
                },
                ClusterUser {
                    name: s("cid"),
                    instances: vec![s("c")]
                },
            ]
        );
        assert_eq!(p.instances(), vec![s("a"), s("c")]);
    }
}
