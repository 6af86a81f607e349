//! Cluster membership: what each application instance has (its users, its sessions) and
//! what every other instance announced, kept current over any transport.
//!
//! One state machine for both users of it: the backplane's presence (users per instance,
//! for [`ClusterView`](crate::backplane::ClusterView)) and the relay's user registry sync
//! (sessions per instance, so `/user/{name}/...` resolves across instances). Each adapter
//! keeps only its wire encoding and its transport; this module decides what an
//! [`Announcement`] means and what to publish in answer.
//!
//! # The protocol
//!
//! - Every instance owns a set of **entries** (key → value) and a **version** that goes up by
//!   one with every change. A change is announced as an [`Announcement::Update`] carrying
//!   the new version.
//! - On (re)connecting, an instance sends [`Announcement::Hello`] and its
//!   [`Announcement::Snapshot`]; every instance answers a hello with its own snapshot, so a
//!   new instance learns the cluster within one round trip.
//! - Every tick, an instance sends [`Announcement::Heartbeat`] with its version.
//! - **Gap detection**: an update whose version is not the next one, an update or heartbeat
//!   from an instance not known yet, or a heartbeat whose version differs from the one last
//!   applied, makes the receiver ask for a snapshot ([`Announcement::Sync`] naming the
//!   instance); the named instance answers with its snapshot, which replaces what the others
//!   knew of it. So lost events are repaired within one heartbeat.
//! - **Expiry**: an instance silent for longer than the time to live is dropped with its
//!   entries; [`Announcement::Bye`] drops it at once.
//!
//! The module knows no transport and no clock: time comes in as an argument.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use bytestring::ByteString;
use tokio::time::Instant;

/// An instance's id in a cluster (random per start unless configured).
pub type InstanceId = ByteString;

/// One change of an instance's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change<K, V> {
    /// The entry `K` is now `V` (added or replaced).
    Put(K, V),
    /// The entry `K` is gone.
    Remove(K),
}

/// What instances tell each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Announcement<K, V> {
    /// The sender (re)connected: everyone, publish your snapshot.
    Hello,
    /// Every entry of the sender, at `version`.
    Snapshot { version: u64, entries: Vec<(K, V)> },
    /// One change of the sender's entries, taking it to `version`.
    Update { version: u64, change: Change<K, V> },
    /// The sender is alive, at `version`.
    Heartbeat { version: u64 },
    /// The sender wants the snapshot of `target`.
    Sync { target: InstanceId },
    /// The sender leaves the cluster.
    Bye,
}

/// How another instance's entries changed, for adapters that mirror them elsewhere (the
/// relay's user registry).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RemoteChange<K, V> {
    /// A new entry.
    Added(K, V),
    /// An entry whose value changed.
    Replaced { key: K, old: V, new: V },
    /// An entry that is gone.
    Removed(K, V),
}

/// What an announcement from another instance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied<K, V> {
    /// What to publish in answer, if anything.
    pub(crate) reply: Option<Announcement<K, V>>,
    /// How the origin's entries changed.
    pub(crate) changes: Vec<RemoteChange<K, V>>,
}

impl<K, V> Applied<K, V> {
    fn nothing() -> Self {
        Applied {
            reply: None,
            changes: Vec::new(),
        }
    }
}

/// Another instance, as last heard.
#[derive(Debug)]
struct Remote<K, V> {
    entries: HashMap<K, V>,
    version: u64,
    last_seen: Instant,
}

/// The membership state of one instance: its own entries and version, and every other
/// live instance's entries as announced.
#[derive(Debug)]
pub(crate) struct Membership<K, V> {
    me: InstanceId,
    local: HashMap<K, V>,
    version: u64,
    remote: HashMap<InstanceId, Remote<K, V>>,
}

impl<K, V> Membership<K, V>
where
    K: Clone + Eq + Hash,
    V: Clone + PartialEq,
{
    /// No entries yet, version 0.
    pub(crate) fn new(me: InstanceId) -> Self {
        Membership {
            me,
            local: HashMap::new(),
            version: 0,
            remote: HashMap::new(),
        }
    }

    /// This instance's id.
    pub(crate) fn me(&self) -> &InstanceId {
        &self.me
    }

    /// This instance's entries.
    pub(crate) fn local(&self) -> &HashMap<K, V> {
        &self.local
    }

    /// Sets a local entry; the update to announce, or `None` when nothing changed.
    pub(crate) fn put_local(&mut self, key: K, value: V) -> Option<Announcement<K, V>> {
        if self.local.get(&key) == Some(&value) {
            return None;
        }
        self.local.insert(key.clone(), value.clone());
        Some(self.bump(Change::Put(key, value)))
    }

    /// Removes a local entry; the update to announce, or `None` when there was none.
    pub(crate) fn remove_local(&mut self, key: &K) -> Option<Announcement<K, V>> {
        let (key, _) = self.local.remove_entry(key)?;
        Some(self.bump(Change::Remove(key)))
    }

    fn bump(&mut self, change: Change<K, V>) -> Announcement<K, V> {
        self.version += 1;
        Announcement::Update {
            version: self.version,
            change,
        }
    }

    /// This instance's snapshot.
    pub(crate) fn snapshot(&self) -> Announcement<K, V> {
        Announcement::Snapshot {
            version: self.version,
            entries: self
                .local
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// What to publish on (re)connecting: a hello, then the snapshot.
    pub(crate) fn greeting(&self) -> [Announcement<K, V>; 2] {
        [Announcement::Hello, self.snapshot()]
    }

    /// What to publish every tick.
    pub(crate) fn heartbeat(&self) -> Announcement<K, V> {
        Announcement::Heartbeat {
            version: self.version,
        }
    }

    /// Every other live instance with its entries.
    pub(crate) fn remotes(&self) -> impl Iterator<Item = (&InstanceId, &HashMap<K, V>)> {
        self.remote.iter().map(|(id, r)| (id, &r.entries))
    }

    /// Applies what `origin` announced at `now` (its own announcements are ignored).
    pub(crate) fn apply(
        &mut self,
        origin: &InstanceId,
        announcement: Announcement<K, V>,
        now: Instant,
    ) -> Applied<K, V> {
        if *origin == self.me {
            return Applied::nothing();
        }
        if let Announcement::Bye = announcement {
            let changes = self
                .remote
                .remove(origin)
                .map(|r| removed(r.entries))
                .unwrap_or_default();
            return Applied {
                reply: None,
                changes,
            };
        }
        let known = self.remote.contains_key(origin);
        let remote = self.remote.entry(origin.clone()).or_insert_with(|| Remote {
            entries: HashMap::new(),
            version: 0,
            last_seen: now,
        });
        remote.last_seen = now;
        let sync = || {
            Some(Announcement::Sync {
                target: origin.clone(),
            })
        };
        match announcement {
            Announcement::Hello => Applied {
                reply: Some(self.snapshot()),
                changes: Vec::new(),
            },
            Announcement::Snapshot { version, entries } => {
                let new: HashMap<K, V> = entries.into_iter().collect();
                let old = std::mem::take(&mut remote.entries);
                let changes = diff(old, &new);
                remote.entries = new;
                remote.version = version;
                Applied {
                    reply: None,
                    changes,
                }
            }
            Announcement::Update { version, change } => {
                let in_order = known && remote.version.checked_add(1) == Some(version);
                remote.version = version;
                let changes = apply_change(&mut remote.entries, change)
                    .into_iter()
                    .collect();
                Applied {
                    reply: if in_order { None } else { sync() },
                    changes,
                }
            }
            Announcement::Heartbeat { version } => Applied {
                reply: if known && remote.version == version {
                    None
                } else {
                    sync()
                },
                changes: Vec::new(),
            },
            Announcement::Sync { target } => Applied {
                reply: (target == self.me).then(|| self.snapshot()),
                changes: Vec::new(),
            },
            Announcement::Bye => Applied::nothing(),
        }
    }

    /// Drops the instances silent for longer than `ttl`; returns them with their entries.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<(InstanceId, Vec<(K, V)>)> {
        let dead: Vec<InstanceId> = self
            .remote
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.last_seen) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        dead.into_iter()
            .filter_map(|id| {
                let remote = self.remote.remove(&id)?;
                Some((id, remote.entries.into_iter().collect()))
            })
            .collect()
    }
}

fn removed<K, V>(entries: HashMap<K, V>) -> Vec<RemoteChange<K, V>> {
    entries
        .into_iter()
        .map(|(k, v)| RemoteChange::Removed(k, v))
        .collect()
}

/// What turning `old` into `new` changes.
fn diff<K, V>(mut old: HashMap<K, V>, new: &HashMap<K, V>) -> Vec<RemoteChange<K, V>>
where
    K: Clone + Eq + Hash,
    V: Clone + PartialEq,
{
    let mut changes = Vec::new();
    for (key, value) in new {
        match old.remove(key) {
            None => changes.push(RemoteChange::Added(key.clone(), value.clone())),
            Some(previous) if previous != *value => changes.push(RemoteChange::Replaced {
                key: key.clone(),
                old: previous,
                new: value.clone(),
            }),
            Some(_) => {}
        }
    }
    changes.extend(removed(old));
    changes
}

fn apply_change<K, V>(
    entries: &mut HashMap<K, V>,
    change: Change<K, V>,
) -> Option<RemoteChange<K, V>>
where
    K: Clone + Eq + Hash,
    V: Clone + PartialEq,
{
    match change {
        Change::Put(key, value) => match entries.insert(key.clone(), value.clone()) {
            None => Some(RemoteChange::Added(key, value)),
            Some(old) if old != value => Some(RemoteChange::Replaced {
                key,
                old,
                new: value,
            }),
            Some(_) => None,
        },
        Change::Remove(key) => entries
            .remove_entry(&key)
            .map(|(k, v)| RemoteChange::Removed(k, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type M = Membership<ByteString, u32>;
    type A = Announcement<ByteString, u32>;
    type R = RemoteChange<ByteString, u32>;

    fn s(x: &str) -> ByteString {
        ByteString::from(x)
    }

    fn put(version: u64, key: &str, value: u32) -> A {
        Announcement::Update {
            version,
            change: Change::Put(s(key), value),
        }
    }

    fn remove(version: u64, key: &str) -> A {
        Announcement::Update {
            version,
            change: Change::Remove(s(key)),
        }
    }

    fn snapshot(version: u64, entries: &[(&str, u32)]) -> A {
        Announcement::Snapshot {
            version,
            entries: entries.iter().map(|&(k, v)| (s(k), v)).collect(),
        }
    }

    fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort();
        v
    }

    fn entries_of(m: &M, id: &str) -> Vec<(ByteString, u32)> {
        let entries = m
            .remotes()
            .find(|(i, _)| **i == id)
            .map(|(_, e)| e.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        sorted(entries)
    }

    #[test]
    fn local_changes_bump_the_version_once_each() {
        let mut m = M::new(s("me"));
        // (operation, expected announcement)
        type Step = (fn(&mut M) -> Option<A>, Option<A>);
        let steps: [Step; 6] = [
            (|m| m.put_local(s("ann"), 1), Some(put(1, "ann", 1))),
            (|m| m.put_local(s("ann"), 1), None),
            (|m| m.put_local(s("ann"), 2), Some(put(2, "ann", 2))),
            (|m| m.remove_local(&s("bob")), None),
            (|m| m.put_local(s("bob"), 7), Some(put(3, "bob", 7))),
            (|m| m.remove_local(&s("ann")), Some(remove(4, "ann"))),
        ];
        for (i, (op, expected)) in steps.into_iter().enumerate() {
            assert_eq!(op(&mut m), expected, "step {i}");
        }
        assert_eq!(m.heartbeat(), Announcement::Heartbeat { version: 4 });
        assert_eq!(
            m.greeting(),
            [Announcement::Hello, snapshot(4, &[("bob", 7)])]
        );
    }

    #[test]
    fn announcements_update_the_view_and_gaps_ask_for_sync() {
        let now = Instant::now();
        let b = s("b");
        let sync_b = Some(Announcement::Sync { target: b.clone() });
        let mut m = M::new(s("a"));
        m.put_local(s("zoe"), 9);
        let mine = Some(snapshot(1, &[("zoe", 9)]));
        // (announcement from b, expected reply, expected changes, b's entries afterwards)
        type Step<'a> = (A, Option<A>, Vec<R>, &'a [(&'a str, u32)]);
        let steps: Vec<Step> = vec![
            (Announcement::Hello, mine.clone(), vec![], &[]),
            (
                snapshot(3, &[("x", 1), ("y", 1)]),
                None,
                vec![R::Added(s("x"), 1), R::Added(s("y"), 1)],
                &[("x", 1), ("y", 1)],
            ),
            (
                put(4, "z", 1),
                None,
                vec![R::Added(s("z"), 1)],
                &[("x", 1), ("y", 1), ("z", 1)],
            ),
            (
                remove(5, "x"),
                None,
                vec![R::Removed(s("x"), 1)],
                &[("y", 1), ("z", 1)],
            ),
            (
                put(6, "y", 2),
                None,
                vec![R::Replaced {
                    key: s("y"),
                    old: 1,
                    new: 2,
                }],
                &[("y", 2), ("z", 1)],
            ),
            (
                Announcement::Heartbeat { version: 6 },
                None,
                vec![],
                &[("y", 2), ("z", 1)],
            ),
            // Versions 7 and 8 were lost.
            (
                put(9, "w", 1),
                sync_b.clone(),
                vec![R::Added(s("w"), 1)],
                &[("w", 1), ("y", 2), ("z", 1)],
            ),
            (
                Announcement::Heartbeat { version: 10 },
                sync_b.clone(),
                vec![],
                &[("w", 1), ("y", 2), ("z", 1)],
            ),
            // The snapshot repairs it.
            (
                snapshot(10, &[("w", 1), ("y", 3), ("v", 1)]),
                None,
                vec![
                    R::Added(s("v"), 1),
                    R::Removed(s("z"), 1),
                    R::Replaced {
                        key: s("y"),
                        old: 2,
                        new: 3,
                    },
                ],
                &[("v", 1), ("w", 1), ("y", 3)],
            ),
            (
                Announcement::Sync { target: s("a") },
                mine.clone(),
                vec![],
                &[("v", 1), ("w", 1), ("y", 3)],
            ),
            (
                Announcement::Sync { target: s("c") },
                None,
                vec![],
                &[("v", 1), ("w", 1), ("y", 3)],
            ),
            (
                Announcement::Bye,
                None,
                vec![
                    R::Removed(s("v"), 1),
                    R::Removed(s("w"), 1),
                    R::Removed(s("y"), 3),
                ],
                &[],
            ),
            // Unknown again after the bye: its next update shows a gap.
            (
                put(11, "u", 1),
                sync_b.clone(),
                vec![R::Added(s("u"), 1)],
                &[("u", 1)],
            ),
        ];
        for (i, (announcement, reply, changes, after)) in steps.into_iter().enumerate() {
            let applied = m.apply(&b, announcement, now);
            assert_eq!(applied.reply, reply, "step {i}");
            assert_eq!(sorted(applied.changes), sorted(changes), "step {i}");
            let after: Vec<_> = after.iter().map(|&(k, v)| (s(k), v)).collect();
            assert_eq!(entries_of(&m, "b"), after, "step {i}");
        }
    }

    #[test]
    fn first_words_from_an_unknown_instance_ask_for_its_snapshot() {
        let now = Instant::now();
        // (first announcement, whether it asks b for a sync)
        let cases: [(A, bool); 5] = [
            (put(1, "x", 1), true),
            (Announcement::Heartbeat { version: 0 }, true),
            (Announcement::Hello, false),
            (snapshot(4, &[]), false),
            (Announcement::Bye, false),
        ];
        for (announcement, asks) in cases {
            let mut m = M::new(s("a"));
            let reply = m.apply(&s("b"), announcement.clone(), now).reply;
            let sync = reply == Some(Announcement::Sync { target: s("b") });
            assert_eq!(sync, asks, "{announcement:?}");
        }
    }

    #[test]
    fn own_announcements_are_ignored() {
        let mut m = M::new(s("a"));
        let applied = m.apply(&s("a"), put(1, "x", 1), Instant::now());
        assert_eq!(applied, Applied::nothing());
        assert_eq!(m.remotes().count(), 0);
        // Even a hello: an instance does not answer itself.
        assert_eq!(m.apply(&s("a"), A::Hello, Instant::now()).reply, None);
    }

    #[test]
    fn versions_near_the_top_do_not_overflow() {
        let now = Instant::now();
        let mut m = M::new(s("a"));
        m.apply(&s("b"), snapshot(u64::MAX, &[]), now);
        let reply = m.apply(&s("b"), put(0, "x", 1), now).reply;
        assert_eq!(reply, Some(Announcement::Sync { target: s("b") }));
    }

    #[test]
    fn silent_instances_expire_with_their_entries() {
        let start = Instant::now();
        let mut m = M::new(s("a"));
        m.put_local(s("ann"), 1);
        m.apply(&s("b"), snapshot(1, &[("bob", 1), ("ann", 2)]), start);
        m.apply(&s("c"), snapshot(1, &[("cid", 1)]), start);
        let later = start + Duration::from_secs(5);
        m.apply(&s("c"), A::Heartbeat { version: 1 }, later);
        assert!(m.expire(later, Duration::from_secs(5)).is_empty());
        let expired = m.expire(later, Duration::from_secs(3));
        assert_eq!(expired.len(), 1);
        let (id, entries) = &expired[0];
        assert_eq!(id, "b");
        assert_eq!(sorted(entries.clone()), [(s("ann"), 2), (s("bob"), 1)]);
        let ids: Vec<&InstanceId> = m.remotes().map(|(id, _)| id).collect();
        assert_eq!(ids, [&s("c")]);
        assert_eq!(m.local().len(), 1);
    }
}
