//! User destinations across instances: which users are connected where, shared through the
//! external broker.
//!
//! Every application instance behind one broker runs a relay. Each relay announces its own
//! users' sessions and user-destination subscriptions on a registry topic (over the system
//! connection) and feeds what the other instances announce into the local
//! [`UserRegistry`], as if those sessions were local. A send to `/user/{name}/queue/x` on any
//! instance then resolves to `/queue/x-user{session}` for every session of `{name}`, wherever
//! it is connected, and the broker carries it there.
//!
//! The protocol is the shared [cluster membership](crate::cluster), one entry per session
//! (its user and user-destination subscriptions), in JSON: `put`/`remove` with the
//! instance's version as sessions change, `hello` and a `snapshot` when the system
//! connection (re)connects, a `heartbeat` every interval, a `sync` request when a version
//! shows a gap (answered with a `snapshot`). An instance not heard from for three intervals
//! is forgotten with its sessions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::system::SystemState;
use super::{RelayConfig, USER_DESTINATION_HEADER};
use crate::client::Client;
use crate::cluster::{Announcement, Change, InstanceId, Membership, RemoteChange};
use crate::frame::{name, Command, Frame, Headers};
use crate::identity::{Attributes, Principal, SessionId, SessionInfo};
use crate::user::UserRegistry;
use crate::version::Version;

/// A change to this instance's users, reported by the relay.
#[derive(Debug, Clone)]
pub(crate) enum Local {
    Connected {
        session: SessionId,
        user: String,
    },
    Subscribed {
        session: SessionId,
        id: String,
        destination: String,
    },
    Unsubscribed {
        session: SessionId,
        id: String,
    },
    Closed {
        session: SessionId,
    },
}

/// What travels on the registry topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Wire {
    instance: String,
    #[serde(flatten)]
    event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Hello,
    Snapshot {
        version: u64,
        sessions: Vec<WireSession>,
    },
    Put {
        version: u64,
        session: WireSession,
    },
    Remove {
        version: u64,
        session: String,
    },
    Heartbeat {
        version: u64,
    },
    Sync {
        target: String,
    },
    Bye,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WireSession {
    session: String,
    user: String,
    subscriptions: Vec<(String, String)>,
}

/// One session with a user, as shared: the entry value of the membership.
#[derive(Debug, Clone, PartialEq)]
struct Session {
    user: String,
    /// Subscription id -> the user destination as the client sent it.
    subscriptions: BTreeMap<String, String>,
}

type SessionAnnouncement = Announcement<SessionId, Session>;

impl WireSession {
    fn new(id: &SessionId, session: Session) -> Self {
        WireSession {
            session: id.to_string(),
            user: session.user,
            subscriptions: session.subscriptions.into_iter().collect(),
        }
    }

    fn into_entry(self) -> (SessionId, Session) {
        let session = Session {
            user: self.user,
            subscriptions: self.subscriptions.into_iter().collect(),
        };
        (SessionId::from(self.session), session)
    }
}

impl From<SessionAnnouncement> for Event {
    fn from(announcement: SessionAnnouncement) -> Self {
        match announcement {
            Announcement::Hello => Event::Hello,
            Announcement::Snapshot { version, entries } => Event::Snapshot {
                version,
                sessions: entries
                    .into_iter()
                    .map(|(id, s)| WireSession::new(&id, s))
                    .collect(),
            },
            Announcement::Update { version, change } => match change {
                Change::Put(id, s) => Event::Put {
                    version,
                    session: WireSession::new(&id, s),
                },
                Change::Remove(id) => Event::Remove {
                    version,
                    session: id.to_string(),
                },
            },
            Announcement::Heartbeat { version } => Event::Heartbeat { version },
            Announcement::Sync { target } => Event::Sync {
                target: target.to_string(),
            },
            Announcement::Bye => Event::Bye,
        }
    }
}

impl From<Event> for SessionAnnouncement {
    fn from(event: Event) -> Self {
        match event {
            Event::Hello => Announcement::Hello,
            Event::Snapshot { version, sessions } => Announcement::Snapshot {
                version,
                entries: sessions.into_iter().map(WireSession::into_entry).collect(),
            },
            Event::Put { version, session } => {
                let (id, session) = session.into_entry();
                Announcement::Update {
                    version,
                    change: Change::Put(id, session),
                }
            }
            Event::Remove { version, session } => Announcement::Update {
                version,
                change: Change::Remove(SessionId::from(session)),
            },
            Event::Heartbeat { version } => Announcement::Heartbeat { version },
            Event::Sync { target } => Announcement::Sync {
                target: InstanceId::from(target),
            },
            Event::Bye => Announcement::Bye,
        }
    }
}

/// Settings of the registry sync.
pub(crate) struct SyncConfig {
    pub(crate) instance: String,
    pub(crate) topic: ByteString,
    pub(crate) interval: Duration,
}

impl SyncConfig {
    /// The sync settings of a relay.
    pub(crate) fn of(config: &RelayConfig) -> Self {
        SyncConfig {
            instance: config.instance_id.clone(),
            topic: config.user_registry_topic.clone(),
            interval: config.user_registry_interval,
        }
    }
}

struct Sync {
    config: SyncConfig,
    registry: UserRegistry,
    membership: Membership<SessionId, Session>,
    changes: watch::Sender<u64>,
}

/// Runs the sync until the relay goes away (its sender of local events is dropped).
pub(crate) async fn run(
    config: SyncConfig,
    registry: UserRegistry,
    system: Arc<SystemState>,
    mut local_rx: mpsc::Receiver<Local>,
    changes: watch::Sender<u64>,
) {
    let (remote_tx, mut remote_rx) = mpsc::channel::<Bytes>(1024);
    let mut clients = system.client.subscribe();
    clients.mark_changed();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sync = Sync::new(config, registry, changes);
    let mut current: Option<Client> = None;
    loop {
        tokio::select! {
            changed = clients.changed() => {
                if changed.is_err() {
                    break;
                }
                let client = clients.borrow_and_update().clone();
                current = None;
                if let Some(client) = client {
                    if sync.listen(&client, remote_tx.clone()).await {
                        for announcement in sync.membership.greeting() {
                            sync.send(&client, announcement).await;
                        }
                        current = Some(client);
                    }
                }
            }
            local = local_rx.recv() => {
                let Some(local) = local else { break };
                if let (Some(update), Some(client)) = (sync.apply_local(local), &current) {
                    sync.send(client, update).await;
                }
            }
            Some(bytes) = remote_rx.recv() => {
                if let (Some(reply), Some(client)) = (sync.apply_remote(&bytes), &current) {
                    sync.send(client, reply).await;
                }
            }
            _ = ticker.tick() => {
                sync.expire();
                if let Some(client) = &current {
                    sync.send(client, sync.membership.heartbeat()).await;
                }
            }
        }
    }
}

impl Sync {
    fn new(config: SyncConfig, registry: UserRegistry, changes: watch::Sender<u64>) -> Self {
        let membership = Membership::new(InstanceId::from(config.instance.as_str()));
        Sync {
            config,
            registry,
            membership,
            changes,
        }
    }

    /// Subscribes to the registry topic on a (new) system connection.
    async fn listen(&self, client: &Client, tx: mpsc::Sender<Bytes>) -> bool {
        let topic = self.config.topic.clone();
        let result = client
            .subscribe_handler(self.config.topic.clone(), Headers::new(), move |frame| {
                if !is_from_an_instance(&frame, &topic) {
                    tracing::debug!("user registry event without the instance marker ignored");
                    return;
                }
                // A full queue drops the event; the version gap it leaves asks for a snapshot.
                let _ = tx.try_send(frame.body);
            })
            .await;
        if let Err(error) = &result {
            tracing::warn!(%error, "user registry sync could not subscribe");
        }
        result.is_ok()
    }

    async fn send(&self, client: &Client, announcement: SessionAnnouncement) {
        publish(&self.config, client, announcement).await;
    }

    /// Applies a change of this instance's users; the update to announce, if any.
    fn apply_local(&mut self, local: Local) -> Option<SessionAnnouncement> {
        let membership = &mut self.membership;
        match local {
            Local::Connected { session, user } => {
                let entry = Session {
                    user,
                    subscriptions: BTreeMap::new(),
                };
                membership.put_local(session, entry)
            }
            Local::Subscribed {
                session,
                id,
                destination,
            } => {
                let mut entry = membership.local().get(&session)?.clone();
                entry.subscriptions.insert(id, destination);
                membership.put_local(session, entry)
            }
            Local::Unsubscribed { session, id } => {
                let mut entry = membership.local().get(&session)?.clone();
                entry.subscriptions.remove(&id);
                membership.put_local(session, entry)
            }
            Local::Closed { session } => membership.remove_local(&session),
        }
    }

    /// Applies another instance's announcement to the membership and mirrors its changes
    /// into the registry; returns what to answer (a snapshot, a sync request).
    fn apply_remote(&mut self, bytes: &[u8]) -> Option<SessionAnnouncement> {
        let wire: Wire = serde_json::from_slice(bytes).ok()?;
        let origin = InstanceId::from(wire.instance);
        if origin == *self.membership.me() {
            return None;
        }
        let applied = self
            .membership
            .apply(&origin, wire.event.into(), Instant::now());
        for change in applied.changes {
            self.mirror(change);
        }
        self.changes.send_modify(|n| *n += 1);
        applied.reply
    }

    /// Makes the registry follow one change of another instance's sessions.
    fn mirror(&self, change: RemoteChange<SessionId, Session>) {
        let registry = &self.registry;
        match change {
            RemoteChange::Added(id, session) => {
                registry.session_connected(&remote_session(&id, &session.user));
                for (sub, destination) in session.subscriptions {
                    registry.subscription_added(&id, sub, destination);
                }
            }
            RemoteChange::Replaced { key, old, new } if old.user != new.user => {
                self.mirror(RemoteChange::Added(key, new));
            }
            RemoteChange::Replaced { key, old, new } => {
                for sub in old.subscriptions.keys() {
                    if !new.subscriptions.contains_key(sub) {
                        registry.subscription_removed(&key, sub);
                    }
                }
                for (sub, destination) in new.subscriptions {
                    if old.subscriptions.get(&sub) != Some(&destination) {
                        registry.subscription_added(&key, sub, destination);
                    }
                }
            }
            RemoteChange::Removed(id, _) => registry.session_disconnected(&id),
        }
    }

    /// Forgets instances not heard from for three intervals, with their sessions.
    fn expire(&mut self) {
        let expired = self
            .membership
            .expire(Instant::now(), self.config.interval * 3);
        if expired.is_empty() {
            return;
        }
        for (_, sessions) in expired {
            for (id, _) in sessions {
                self.registry.session_disconnected(&id);
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }
}

/// Publishes one announcement on the registry topic.
async fn publish(config: &SyncConfig, client: &Client, announcement: SessionAnnouncement) {
    let wire = Wire {
        instance: config.instance.clone(),
        event: Event::from(announcement),
    };
    let Ok(body) = serde_json::to_vec(&wire) else {
        return;
    };
    let frame = Frame::new(Command::Send)
        .header(name::DESTINATION, config.topic.clone())
        .header(name::CONTENT_TYPE, "application/json")
        .header(USER_DESTINATION_HEADER, config.topic.clone())
        .body(body);
    if let Err(error) = client.send_frame(frame).await {
        tracing::debug!(%error, "user registry event not sent");
    }
}

/// Tells the other instances that this one leaves: they forget its sessions at once
/// rather than after three silent intervals. Queued on `client` (the system connection)
/// ahead of its DISCONNECT.
pub(crate) async fn leave(config: &SyncConfig, client: &Client) {
    publish(config, client, Announcement::Bye).await;
}

/// Whether a frame on the registry topic was published by a relay's registry sync: it
/// carries [`USER_DESTINATION_HEADER`] naming the topic. The relay strips that header from
/// everything clients publish, so a client that SENDs to the registry topic (it is under a
/// relayed prefix) cannot inject sessions into the instances' registries; and a delivery
/// carrying it reaches no client session (it is not one of their own user destinations),
/// so a client subscribed to the topic or to `/topic/#` cannot read the events either.
fn is_from_an_instance(frame: &Frame, topic: &str) -> bool {
    frame.headers.get(USER_DESTINATION_HEADER) == Some(topic)
}

fn remote_session(id: &SessionId, user: &str) -> SessionInfo {
    SessionInfo {
        id: id.clone(),
        principal: Some(Principal::new(user)),
        version: Version::V1_2,
        attributes: Attributes::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(instance: &str) -> (Sync, UserRegistry) {
        let registry = UserRegistry::new();
        let config = SyncConfig {
            instance: instance.to_owned(),
            topic: ByteString::from_static("/topic/registry"),
            interval: Duration::from_secs(10),
        };
        let sync = Sync::new(config, registry.clone(), watch::channel(0).0);
        (sync, registry)
    }

    fn wire(instance: &str, event: Event) -> Vec<u8> {
        serde_json::to_vec(&Wire {
            instance: instance.to_owned(),
            event,
        })
        .unwrap_or_default()
    }

    fn session(id: &str, user: &str, subscriptions: &[(&str, &str)]) -> WireSession {
        WireSession {
            session: id.into(),
            user: user.into(),
            subscriptions: subscriptions
                .iter()
                .map(|&(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    fn put(version: u64, session: WireSession) -> Event {
        Event::Put { version, session }
    }

    #[test]
    fn the_wire_format_is_json_tagged_by_op() {
        let json = |event| {
            serde_json::to_value(Wire {
                instance: "a".into(),
                event,
            })
            .unwrap_or_default()
        };
        assert_eq!(
            json(put(2, session("a-1", "ann", &[("0", "/user/queue/x")]))),
            serde_json::json!({
                "instance": "a", "op": "put", "version": 2,
                "session": {"session": "a-1", "user": "ann", "subscriptions": [["0", "/user/queue/x"]]}
            })
        );
        assert_eq!(
            json(Event::Sync { target: "b".into() }),
            serde_json::json!({"instance": "a", "op": "sync", "target": "b"})
        );
    }

    #[test]
    fn local_changes_become_versioned_updates_with_the_whole_session() {
        let (mut a, _) = sync("a");
        let id = SessionId::from("a-1");
        let steps = [
            (
                Local::Connected {
                    session: id.clone(),
                    user: "ann".into(),
                },
                Some(put(1, session("a-1", "ann", &[]))),
            ),
            (
                Local::Subscribed {
                    session: id.clone(),
                    id: "0".into(),
                    destination: "/user/queue/x".into(),
                },
                Some(put(2, session("a-1", "ann", &[("0", "/user/queue/x")]))),
            ),
            // Another session's subscription (no user): nothing to share.
            (
                Local::Subscribed {
                    session: SessionId::from("a-2"),
                    id: "0".into(),
                    destination: "/user/queue/x".into(),
                },
                None,
            ),
            (
                Local::Unsubscribed {
                    session: id.clone(),
                    id: "0".into(),
                },
                Some(put(3, session("a-1", "ann", &[]))),
            ),
            (
                Local::Closed {
                    session: id.clone(),
                },
                Some(Event::Remove {
                    version: 4,
                    session: "a-1".into(),
                }),
            ),
        ];
        for (i, (local, expected)) in steps.into_iter().enumerate() {
            assert_eq!(a.apply_local(local).map(Event::from), expected, "step {i}");
        }
    }

    #[test]
    fn events_from_other_instances_update_the_registry() {
        let (mut a, registry) = sync("a");
        let b1 = SessionId::from("b-1");
        a.apply_remote(&wire("b", Event::Hello));
        assert_eq!(
            a.apply_remote(&wire("b", put(1, session("b-1", "ann", &[])))),
            None
        );
        let subscribed = put(2, session("b-1", "ann", &[("0", "/user/queue/reply")]));
        assert_eq!(a.apply_remote(&wire("b", subscribed)), None);
        assert_eq!(registry.sessions_of("ann"), [SessionId::from("b-1")]);
        assert!(registry.is_subscribed_to(&b1, &["/user/queue/reply"]));

        let moved = put(3, session("b-1", "ann", &[("1", "/user/queue/other")]));
        a.apply_remote(&wire("b", moved));
        assert!(!registry.is_subscribed_to(&b1, &["/user/queue/reply"]));
        assert!(registry.is_subscribed_to(&b1, &["/user/queue/other"]));

        let closed = Event::Remove {
            version: 4,
            session: "b-1".into(),
        };
        a.apply_remote(&wire("b", closed));
        assert!(registry.sessions_of("ann").is_empty());
    }

    #[test]
    fn own_events_and_garbage_are_ignored() {
        let (mut a, registry) = sync("a");
        a.apply_remote(&wire("a", put(1, session("a-1", "ann", &[]))));
        for garbage in [&b"not json"[..], b"{}", br#"{"instance":"b","op":"dance"}"#] {
            assert_eq!(a.apply_remote(garbage), None);
        }
        assert_eq!(registry.session_count(), 0);
    }

    #[test]
    fn snapshots_replace_an_instances_sessions_and_hello_is_answered() {
        let (mut a, registry) = sync("a");
        a.apply_local(Local::Connected {
            session: SessionId::from("a-1"),
            user: "zoe".into(),
        });
        a.apply_remote(&wire("b", Event::Hello));
        for (version, id) in [(1, "b-1"), (2, "b-2")] {
            a.apply_remote(&wire("b", put(version, session(id, "ann", &[]))));
        }
        let snapshot = Event::Snapshot {
            version: 5,
            sessions: vec![session("b-2", "ann", &[("s", "/user/queue/x")])],
        };
        a.apply_remote(&wire("b", snapshot));
        assert_eq!(registry.sessions_of("ann"), [SessionId::from("b-2")]);
        assert!(registry.is_subscribed_to(&SessionId::from("b-2"), &["/user/queue/x"]));

        let reply = a.apply_remote(&wire("c", Event::Hello)).map(Event::from);
        let Some(Event::Snapshot { version, sessions }) = reply else {
            panic!("a hello is answered with a snapshot");
        };
        assert_eq!(version, 1);
        assert_eq!(sessions, [session("a-1", "zoe", &[])]);
    }

    #[test]
    fn a_lost_event_is_repaired_through_a_sync() {
        let (mut a, registry) = sync("a");
        a.apply_remote(&wire(
            "b",
            Event::Snapshot {
                version: 0,
                sessions: vec![],
            },
        ));
        // Version 1 (b-1 connected) was lost: version 2 shows the gap.
        let reply = a.apply_remote(&wire("b", put(2, session("b-2", "bob", &[]))));
        assert_eq!(
            reply.map(Event::from),
            Some(Event::Sync { target: "b".into() })
        );
        // B answers the sync with its snapshot.
        let (mut b, _) = sync("b");
        for id in ["b-1", "b-2"] {
            b.apply_local(Local::Connected {
                session: SessionId::from(id),
                user: id.into(),
            });
        }
        let sync_b = wire("a", Event::Sync { target: "b".into() });
        let Some(snapshot) = b.apply_remote(&sync_b) else {
            panic!("a sync naming b is answered by b");
        };
        a.apply_remote(&wire("b", snapshot.into()));
        assert_eq!(registry.session_count(), 2);
        // And the heartbeat then matches.
        let heartbeat = Event::Heartbeat { version: 2 };
        assert_eq!(a.apply_remote(&wire("b", heartbeat)), None);
    }

    #[test]
    fn only_events_with_the_instance_marker_count() {
        let topic = "/topic/registry";
        let event = |marker: Option<&str>| {
            let frame = Frame::new(Command::Message).header(name::DESTINATION, topic);
            match marker {
                Some(value) => frame.header(USER_DESTINATION_HEADER, value),
                None => frame,
            }
        };
        assert!(is_from_an_instance(&event(Some(topic)), topic));
        assert!(!is_from_an_instance(&event(None), topic));
        assert!(!is_from_an_instance(&event(Some("/user/queue/x")), topic));
    }

    #[tokio::test(start_paused = true)]
    async fn silent_instances_expire() {
        let (mut a, registry) = sync("a");
        a.apply_remote(&wire("b", put(1, session("b-1", "ann", &[]))));
        tokio::time::advance(Duration::from_secs(29)).await;
        a.expire();
        assert_eq!(registry.session_count(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        a.expire();
        assert_eq!(registry.session_count(), 0);
    }
}
