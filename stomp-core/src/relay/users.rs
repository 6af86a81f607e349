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
//! Events (`connected`, `subscribed`, `unsubscribed`, `closed`) keep the registries current;
//! a full `snapshot` of each instance every interval (and in answer to a new instance's
//! `hello`) repairs anything lost while a connection was down, and an instance not heard from
//! for three intervals is forgotten with its sessions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::system::SystemState;
use crate::client::Client;
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
    Connected {
        session: String,
        user: String,
    },
    Subscribed {
        session: String,
        id: String,
        destination: String,
    },
    Unsubscribed {
        session: String,
        id: String,
    },
    Closed {
        session: String,
    },
    Hello,
    Snapshot {
        sessions: Vec<WireSession>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WireSession {
    session: String,
    user: String,
    subscriptions: Vec<(String, String)>,
}

/// One local session with a user.
#[derive(Debug, Default)]
struct LocalSession {
    user: String,
    subscriptions: HashMap<String, String>,
}

/// Another instance, as last heard.
struct Remote {
    seen: Instant,
    sessions: HashSet<SessionId>,
}

/// Settings of the registry sync.
pub(crate) struct SyncConfig {
    pub(crate) instance: String,
    pub(crate) topic: ByteString,
    pub(crate) interval: Duration,
}

struct Sync {
    config: SyncConfig,
    registry: UserRegistry,
    local: HashMap<SessionId, LocalSession>,
    remote: HashMap<String, Remote>,
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
    let mut sync = Sync {
        config,
        registry,
        local: HashMap::new(),
        remote: HashMap::new(),
        changes,
    };
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
                        sync.send(&client, Event::Hello).await;
                        sync.send(&client, sync.snapshot()).await;
                        current = Some(client);
                    }
                }
            }
            local = local_rx.recv() => {
                let Some(local) = local else { break };
                let event = sync.apply_local(local);
                if let Some(client) = &current {
                    sync.send(client, event).await;
                }
            }
            Some(bytes) = remote_rx.recv() => {
                if let Some(reply) = sync.apply_remote(&bytes) {
                    if let Some(client) = &current {
                        sync.send(client, reply).await;
                    }
                }
            }
            _ = ticker.tick() => {
                sync.expire();
                if let Some(client) = &current {
                    sync.send(client, sync.snapshot()).await;
                }
            }
        }
    }
}

impl Sync {
    /// Subscribes to the registry topic on a (new) system connection.
    async fn listen(&self, client: &Client, tx: mpsc::Sender<Bytes>) -> bool {
        let result = client
            .subscribe_handler(self.config.topic.clone(), Headers::new(), move |frame| {
                // A full queue drops the event; the next snapshot repairs it.
                let _ = tx.try_send(frame.body);
            })
            .await;
        if let Err(error) = &result {
            tracing::warn!(%error, "user registry sync could not subscribe");
        }
        result.is_ok()
    }

    async fn send(&self, client: &Client, event: Event) {
        let wire = Wire {
            instance: self.config.instance.clone(),
            event,
        };
        let Ok(body) = serde_json::to_vec(&wire) else {
            return;
        };
        let frame = Frame::new(Command::Send)
            .header(name::DESTINATION, self.config.topic.clone())
            .header(name::CONTENT_TYPE, "application/json")
            .body(body);
        if let Err(error) = client.send_frame(frame).await {
            tracing::debug!(%error, "user registry event not sent");
        }
    }

    fn snapshot(&self) -> Event {
        Event::Snapshot {
            sessions: self
                .local
                .iter()
                .map(|(id, s)| WireSession {
                    session: id.to_string(),
                    user: s.user.clone(),
                    subscriptions: s
                        .subscriptions
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                })
                .collect(),
        }
    }

    fn apply_local(&mut self, local: Local) -> Event {
        match local {
            Local::Connected { session, user } => {
                self.local.insert(
                    session.clone(),
                    LocalSession {
                        user: user.clone(),
                        subscriptions: HashMap::new(),
                    },
                );
                Event::Connected {
                    session: session.to_string(),
                    user,
                }
            }
            Local::Subscribed {
                session,
                id,
                destination,
            } => {
                if let Some(s) = self.local.get_mut(&session) {
                    s.subscriptions.insert(id.clone(), destination.clone());
                }
                Event::Subscribed {
                    session: session.to_string(),
                    id,
                    destination,
                }
            }
            Local::Unsubscribed { session, id } => {
                if let Some(s) = self.local.get_mut(&session) {
                    s.subscriptions.remove(&id);
                }
                Event::Unsubscribed {
                    session: session.to_string(),
                    id,
                }
            }
            Local::Closed { session } => {
                self.local.remove(&session);
                Event::Closed {
                    session: session.to_string(),
                }
            }
        }
    }

    /// Applies another instance's event; returns what to answer (a snapshot to a hello).
    fn apply_remote(&mut self, bytes: &[u8]) -> Option<Event> {
        let wire: Wire = serde_json::from_slice(bytes).ok()?;
        if wire.instance == self.config.instance {
            return None;
        }
        let remote = self
            .remote
            .entry(wire.instance.clone())
            .or_insert_with(|| Remote {
                seen: Instant::now(),
                sessions: HashSet::new(),
            });
        remote.seen = Instant::now();
        let registry = &self.registry;
        let mut reply = None;
        match wire.event {
            Event::Hello => reply = Some(self.snapshot()),
            Event::Connected { session, user } => {
                let id = SessionId::from(session);
                registry.session_connected(&remote_session(&id, &user));
                remote.sessions.insert(id);
            }
            Event::Subscribed {
                session,
                id,
                destination,
            } => {
                let session = SessionId::from(session);
                if remote.sessions.contains(&session) {
                    registry.subscription_added(&session, id, destination);
                }
            }
            Event::Unsubscribed { session, id } => {
                let session = SessionId::from(session);
                if remote.sessions.contains(&session) {
                    registry.subscription_removed(&session, &id);
                }
            }
            Event::Closed { session } => {
                let session = SessionId::from(session);
                if remote.sessions.remove(&session) {
                    registry.session_disconnected(&session);
                }
            }
            Event::Snapshot { sessions } => {
                let now: HashSet<SessionId> = sessions
                    .iter()
                    .map(|s| SessionId::from(s.session.as_str()))
                    .collect();
                for gone in remote.sessions.difference(&now) {
                    registry.session_disconnected(gone);
                }
                for s in sessions {
                    let id = SessionId::from(s.session);
                    registry.session_connected(&remote_session(&id, &s.user));
                    for (sub, destination) in s.subscriptions {
                        registry.subscription_added(&id, sub, destination);
                    }
                }
                remote.sessions = now;
            }
        }
        self.changes.send_modify(|n| *n += 1);
        reply
    }

    /// Forgets instances not heard from for three intervals, with their sessions.
    fn expire(&mut self) {
        let limit = self.config.interval * 3;
        let registry = &self.registry;
        let before = self.remote.len();
        self.remote.retain(|_, remote| {
            let alive = remote.seen.elapsed() < limit;
            if !alive {
                for session in &remote.sessions {
                    registry.session_disconnected(session);
                }
            }
            alive
        });
        if self.remote.len() != before {
            self.changes.send_modify(|n| *n += 1);
        }
    }
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
        let sync = Sync {
            config: SyncConfig {
                instance: instance.to_owned(),
                topic: ByteString::from_static("/topic/registry"),
                interval: Duration::from_secs(10),
            },
            registry: registry.clone(),
            local: HashMap::new(),
            remote: HashMap::new(),
            changes: watch::channel(0).0,
        };
        (sync, registry)
    }

    fn wire(instance: &str, event: Event) -> Vec<u8> {
        serde_json::to_vec(&Wire {
            instance: instance.to_owned(),
            event,
        })
        .unwrap_or_default()
    }

    #[test]
    fn events_from_other_instances_update_the_registry() {
        let (mut a, registry) = sync("a");
        let connected = Event::Connected {
            session: "b-1".into(),
            user: "ann".into(),
        };
        assert_eq!(a.apply_remote(&wire("b", connected)), None);
        let subscribed = Event::Subscribed {
            session: "b-1".into(),
            id: "0".into(),
            destination: "/user/queue/reply".into(),
        };
        a.apply_remote(&wire("b", subscribed));
        assert_eq!(registry.sessions_of("ann"), [SessionId::from("b-1")]);
        assert!(registry.is_subscribed_to(&SessionId::from("b-1"), &["/user/queue/reply"]));

        a.apply_remote(&wire(
            "b",
            Event::Closed {
                session: "b-1".into(),
            },
        ));
        assert!(registry.sessions_of("ann").is_empty());
    }

    #[test]
    fn own_events_and_garbage_are_ignored() {
        let (mut a, registry) = sync("a");
        let own = Event::Connected {
            session: "a-1".into(),
            user: "ann".into(),
        };
        a.apply_remote(&wire("a", own));
        a.apply_remote(b"not json");
        assert_eq!(registry.session_count(), 0);
    }

    #[test]
    fn snapshots_replace_an_instances_sessions_and_hello_is_answered() {
        let (mut a, registry) = sync("a");
        a.apply_local(Local::Connected {
            session: SessionId::from("a-1"),
            user: "zoe".into(),
        });
        for session in ["b-1", "b-2"] {
            a.apply_remote(&wire(
                "b",
                Event::Connected {
                    session: session.into(),
                    user: "ann".into(),
                },
            ));
        }
        let snapshot = Event::Snapshot {
            sessions: vec![WireSession {
                session: "b-2".into(),
                user: "ann".into(),
                subscriptions: vec![("s".into(), "/user/queue/x".into())],
            }],
        };
        a.apply_remote(&wire("b", snapshot));
        assert_eq!(registry.sessions_of("ann"), [SessionId::from("b-2")]);
        assert!(registry.is_subscribed_to(&SessionId::from("b-2"), &["/user/queue/x"]));

        let reply = a.apply_remote(&wire("c", Event::Hello));
        let Some(Event::Snapshot { sessions }) = reply else {
            panic!("a hello is answered with a snapshot");
        };
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].user, "zoe");
    }

    #[tokio::test(start_paused = true)]
    async fn silent_instances_expire() {
        let (mut a, registry) = sync("a");
        a.apply_remote(&wire(
            "b",
            Event::Connected {
                session: "b-1".into(),
                user: "ann".into(),
            },
        ));
        tokio::time::advance(Duration::from_secs(29)).await;
        a.expire();
        assert_eq!(registry.session_count(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        a.expire();
        assert_eq!(registry.session_count(), 0);
    }
}
