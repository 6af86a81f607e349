//! Who is connected where: this instance's users (counted by session) and every other
//! instance's users as their presence events report them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytestring::ByteString;
use tokio::time::Instant;

use super::wire::PresenceEvent;
use crate::identity::SessionId;

/// An instance's id on the backplane (random per start).
pub type InstanceId = ByteString;

/// A user connected somewhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUser {
    /// The user name.
    pub name: ByteString,
    /// The instances hosting at least one session of the user, sorted.
    pub instances: Vec<InstanceId>,
}

#[derive(Debug)]
struct Remote {
    users: HashSet<ByteString>,
    version: u64,
    last_seen: Instant,
}

/// What the presence logic asks the broker to publish after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    None,
    /// Publish this instance's snapshot.
    Snapshot,
    /// Ask `instance` for its snapshot (its version showed a gap).
    Sync(InstanceId),
}

#[derive(Debug)]
pub(crate) struct Presence {
    me: InstanceId,
    sessions: HashMap<SessionId, ByteString>,
    local: HashMap<ByteString, usize>,
    version: u64,
    remote: HashMap<InstanceId, Remote>,
}

impl Presence {
    pub(crate) fn new(me: InstanceId) -> Self {
        Presence {
            me,
            sessions: HashMap::new(),
            local: HashMap::new(),
            version: 0,
            remote: HashMap::new(),
        }
    }

    /// A local session of `user` opened; `Some(version)` when it is the user's first.
    pub(crate) fn session_opened(&mut self, session: SessionId, user: ByteString) -> Option<u64> {
        if let Some(previous) = self.sessions.insert(session, user.clone()) {
            // The same session id again: count it once.
            self.leave_local(&previous);
        }
        let count = self.local.entry(user).or_default();
        *count += 1;
        (*count == 1).then(|| {
            self.version += 1;
            self.version
        })
    }

    /// A local session ended; `Some((user, version))` when it was its user's last.
    pub(crate) fn session_closed(&mut self, session: &SessionId) -> Option<(ByteString, u64)> {
        let user = self.sessions.remove(session)?;
        self.leave_local(&user).map(|v| (user, v))
    }

    fn leave_local(&mut self, user: &ByteString) -> Option<u64> {
        let count = self.local.get_mut(user)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        self.local.remove(user);
        self.version += 1;
        Some(self.version)
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn local_users(&self) -> Vec<ByteString> {
        let mut users: Vec<ByteString> = self.local.keys().cloned().collect();
        users.sort_unstable();
        users
    }

    /// Applies another instance's event.
    pub(crate) fn apply(
        &mut self,
        origin: &InstanceId,
        event: PresenceEvent,
        version: u64,
        users: Vec<ByteString>,
        now: Instant,
    ) -> Reply {
        if event == PresenceEvent::Bye {
            self.remote.remove(origin);
            return Reply::None;
        }
        let known = self.remote.contains_key(origin);
        let remote = self.remote.entry(origin.clone()).or_insert_with(|| Remote {
            users: HashSet::new(),
            version: 0,
            last_seen: now,
        });
        remote.last_seen = now;
        match event {
            PresenceEvent::Join | PresenceEvent::Leave => {
                let in_order = known && remote.version + 1 == version;
                for user in users {
                    if event == PresenceEvent::Join {
                        remote.users.insert(user);
                    } else {
                        remote.users.remove(&user);
                    }
                }
                remote.version = version;
                if in_order {
                    Reply::None
                } else {
                    Reply::Sync(origin.clone())
                }
            }
            PresenceEvent::Heartbeat => {
                if known && remote.version == version {
                    Reply::None
                } else {
                    Reply::Sync(origin.clone())
                }
            }
            PresenceEvent::Snapshot => {
                remote.users = users.into_iter().collect();
                remote.version = version;
                Reply::None
            }
            PresenceEvent::Hello => Reply::Snapshot,
            PresenceEvent::Sync => {
                if users.first() == Some(&self.me) {
                    Reply::Snapshot
                } else {
                    Reply::None
                }
            }
            PresenceEvent::Bye => Reply::None,
        }
    }

    /// Drops instances silent for longer than `ttl`; returns them.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<InstanceId> {
        let dead: Vec<InstanceId> = self
            .remote
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.last_seen) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dead {
            self.remote.remove(id);
        }
        dead
    }

    fn users(&self) -> Vec<ClusterUser> {
        let mut all: BTreeMap<&ByteString, Vec<InstanceId>> = BTreeMap::new();
        for user in self.local.keys() {
            all.entry(user).or_default().push(self.me.clone());
        }
        for (id, remote) in &self.remote {
            for user in &remote.users {
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
        let mut ids: Vec<InstanceId> = self.remote.keys().cloned().collect();
        ids.push(self.me.clone());
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
        self.lock().me.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> ByteString {
        ByteString::from(x)
    }

    #[test]
    fn local_users_count_sessions() {
        let mut p = Presence::new(s("me"));
        assert_eq!(p.session_opened(SessionId::from("1"), s("ann")), Some(1));
        assert_eq!(p.session_opened(SessionId::from("2"), s("ann")), None);
        assert_eq!(p.session_closed(&SessionId::from("1")), None);
        assert_eq!(p.session_closed(&SessionId::from("9")), None);
        assert_eq!(p.session_closed(&SessionId::from("2")), Some((s("ann"), 2)));
        assert!(p.local_users().is_empty());
    }

    #[test]
    fn remote_events_update_the_view_and_gaps_ask_for_sync() {
        let now = Instant::now();
        let b = s("b");
        let mut p = Presence::new(s("a"));
        // (event, version, users, expected reply, expected users afterwards)
        type Step<'a> = (PresenceEvent, u64, Vec<&'a str>, Reply, Vec<&'a str>);
        let steps: Vec<Step> = vec![
            (PresenceEvent::Hello, 0, vec![], Reply::Snapshot, vec![]),
            (
                PresenceEvent::Snapshot,
                3,
                vec!["x", "y"],
                Reply::None,
                vec!["x", "y"],
            ),
            (
                PresenceEvent::Join,
                4,
                vec!["z"],
                Reply::None,
                vec!["x", "y", "z"],
            ),
            (
                PresenceEvent::Leave,
                5,
                vec!["x"],
                Reply::None,
                vec!["y", "z"],
            ),
            (
                PresenceEvent::Heartbeat,
                5,
                vec![],
                Reply::None,
                vec!["y", "z"],
            ),
            (
                PresenceEvent::Join,
                9,
                vec!["w"],
                Reply::Sync(b.clone()),
                vec!["w", "y", "z"],
            ),
            (
                PresenceEvent::Heartbeat,
                10,
                vec![],
                Reply::Sync(b.clone()),
                vec!["w", "y", "z"],
            ),
            (
                PresenceEvent::Sync,
                0,
                vec!["a"],
                Reply::Snapshot,
                vec!["w", "y", "z"],
            ),
            (
                PresenceEvent::Sync,
                0,
                vec!["c"],
                Reply::None,
                vec!["w", "y", "z"],
            ),
            (PresenceEvent::Bye, 0, vec![], Reply::None, vec![]),
        ];
        for (event, version, users, reply, after) in steps {
            let users = users.into_iter().map(s).collect();
            assert_eq!(p.apply(&b, event, version, users, now), reply, "{event:?}");
            let names: Vec<ByteString> = p.users().into_iter().map(|u| u.name).collect();
            assert_eq!(
                names,
                after.into_iter().map(s).collect::<Vec<_>>(),
                "{event:?}"
            );
        }
    }

    #[test]
    fn silent_instances_expire_with_their_users() {
        let start = Instant::now();
        let mut p = Presence::new(s("a"));
        p.session_opened(SessionId::from("1"), s("ann"));
        p.apply(
            &s("b"),
            PresenceEvent::Snapshot,
            1,
            vec![s("bob"), s("ann")],
            start,
        );
        p.apply(&s("c"), PresenceEvent::Snapshot, 1, vec![s("cid")], start);
        let later = start + Duration::from_secs(5);
        p.apply(&s("c"), PresenceEvent::Heartbeat, 1, vec![], later);
        assert_eq!(p.expire(later, Duration::from_secs(3)), vec![s("b")]);
        let users = p.users();
        assert_eq!(
            users,
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
