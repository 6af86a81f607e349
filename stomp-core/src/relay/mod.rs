//! A [`Broker`] that relays to an external STOMP broker (RabbitMQ, ActiveMQ, Artemis).
//!
//! [`Relay`] sits where [`SimpleBroker`](crate::broker::SimpleBroker) would: the sessions, handlers and the
//! [`MessagingTemplate`](crate::template::MessagingTemplate) are unchanged. Destinations
//! under the relayed prefixes (`/topic`, `/queue`, `/exchange`, `/amq/queue`
//! by default) live in the external broker:
//!
//! - **Publishing** (client SENDs, handler replies, template sends: everything that reaches
//!   [`Broker::publish`]) goes over one shared **system connection**, kept up by a supervisor
//!   task that reconnects with jittered exponential backoff across the host list.
//!   Publishing never blocks a thread: it waits (asynchronously) only while the connection's
//!   bounded write queue is full, and fails with [`BrokerError::Unavailable`] at once while
//!   the broker is down.
//! - **Subscriptions** are forwarded to the broker on the session's broker connection. The
//!   broker's MESSAGE frames are re-encoded for the session (its own subscription id, an ack
//!   id leading back to the broker) and handed to its outbound queue without waiting.
//! - **ACK / NACK** go back to the broker on the connection that delivered the message, so
//!   queues redeliver what a client NACKs or leaves un-acked when it goes away. Ids are
//!   translated on both legs: a STOMP 1.0 / 1.1 client acknowledges by the `message-id` the
//!   relay wrote (its ack id), a 1.2 client by `ack`; the broker gets `id` (1.2) or
//!   `message-id` + `subscription` (1.1), whichever its connection speaks.
//!
//! # Connection modes
//!
//! | | [`ConnectionMode::PerClient`] | [`ConnectionMode::Multiplexed`] |
//! |---|---|---|
//! | broker connections | one per client session (+ system) | a fixed pool (+ system) |
//! | broker-side identity | the client's (forwarded or [`RelayConfig::client_login`]) | the system login |
//! | a broker ERROR (bad destination, permission) | ends that session only | ends that session only (risky subscriptions get a connection of their own) |
//! | cost per browser | a TCP connection, broker process and heart-beats | a few map entries |
//! | connect latency | a broker round trip per CONNECT | none once the pool is up |
//!
//! In multiplexed mode only `auto` subscriptions to `/topic/...` without broker-specific
//! headers (the usual fan-out to browsers, where sharing matters) use the pool. Every other
//! subscription of a session goes on a broker connection of the session's own, opened with
//! the first of them: a broker ERROR it provokes (an exchange that does not exist, a queue
//! declared with other arguments, a permission refused) then ends that session only, and
//! RabbitMQ, which keeps the un-acked messages of an ended subscription until the connection
//! closes, gets them back when the session goes.
//!
//! Spring's `StompBrokerRelay` only has the per-client model, which costs one broker
//! connection per browser. Multiplexed mode (the default) spreads sessions over a small
//! pool; use per-client mode when the broker must enforce per-user permissions.
//! Note that in both modes publishes go over the system connection (the [`Broker`] trait's
//! `publish` does not say which session sent a message), so broker-side permissions apply
//! to subscriptions only.
//!
//! # Faults
//!
//! - Broker down when a client connects: [`Broker::session_opened`] fails with
//!   `BrokerError::Unavailable("broker unavailable")`, which the session turns into an ERROR
//!   for CONNECT; publishes fail the same way.
//! - A broker connection lost: the sessions that had subscriptions on it are sent an ERROR
//!   (`broker connection lost`) and closed, so their clients reconnect (stompjs does so by
//!   itself) and subscribe again on a fresh connection. The system connection reconnects on
//!   its own; [`Relay::availability`] reports `Available` / `Unavailable` to the
//!   application.
//! - Reconnects back off exponentially with random jitter between the bounds of
//!   [`RelayConfig::backoff`], so that instances cut off together do not reconnect in
//!   lockstep. [`Relay::last_error`] tells why the system connection last failed (for
//!   health checks: a TLS certificate that is not trusted is not fixed by retrying).
//! - Over TLS (feature `tls`, `RelayConfig::tls`), every broker connection checks the
//!   broker's certificate and name; a failure is `ClientError::Tls`, naming the server and
//!   rustls' reason.
//! - Heart-beats on the broker leg ([`RelayConfig::system_heart_beat`],
//!   [`RelayConfig::client_heart_beat`]) are negotiated and checked by the relay's own
//!   client, independently of the browser leg, so a dead broker is noticed even while the
//!   browsers are idle.
//!
//! # User destinations across instances
//!
//! A resolved user destination (`/queue/reply-user{session}`) is a broker queue like any
//! other; the user-facing form travels with the message (in
//! [`USER_DESTINATION_HEADER`]) and is restored as the MESSAGE `destination`. To resolve
//! `/user/{name}/...` to sessions connected to *other* instances, call
//! [`Relay::sync_user_registry`] with the engine's user registry (`stomp-axum`'s
//! `StompBuilder::relay` does it at build): instances then announce their users' sessions
//! on a registry topic and learn each other's.
//!
//! # What clients can ask of the broker
//!
//! Browsers are not trusted with the broker's own objects. The client headers forwarded
//! on SUBSCRIBE, SEND, ACK and NACK follow [`RelayConfig::header_policy`] (an allow-list
//! per command; see [`HeaderPolicy`] for the default and the reasons): by default a client
//! cannot name a queue (`x-queue-name`), declare one (`durable`, `auto-delete`,
//! `exclusive`, RabbitMQ's `x-*` queue arguments, on SUBSCRIBE or SEND) or so attach to,
//! break or bind another session's queue, while its NACK `requeue:false` does reach
//! RabbitMQ. UNSUBSCRIBE and transaction frames forward nothing. A SUBSCRIBE to another
//! session's resolved user destination is refused by the session before it gets here, and
//! a user destination message reached through a broker-side route (a `/topic/#` or
//! `/topic/*` wildcard, an exchange binding) is never handed to another session (see
//! [`USER_DESTINATION_HEADER`]).
//!
//! # Embedded or relay?
//!
//! The embedded [`SimpleBroker`](crate::broker::SimpleBroker) needs nothing else, delivers in-process and is the fastest;
//! its state lives in one process. Choose the relay when several application instances must
//! share destinations (a message published on one instance reaches subscribers on all), or
//! when messages must survive restarts: a RabbitMQ `/queue/name` is a durable queue, and a
//! SEND with `persistent:true` is written to disk, so a message published while its consumer
//! is offline is delivered when the consumer subscribes again.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stomp_core::relay::{Relay, RelayConfig};
//!
//! # async fn demo() {
//! let relay = Relay::start(
//!     RelayConfig::new(["127.0.0.1:61613"])
//!         .virtual_host("/")
//!         .system_login("guest", "guest"),
//! );
//! let mut availability = relay.availability();
//! let broker: Arc<dyn stomp_core::broker::Broker> = Arc::new(relay);
//! # let _ = (broker, availability.changed().await);
//! # }
//! ```

mod config;
mod delivery;
mod headers;
mod links;
mod system;
mod users;

pub use config::{ConnectionMode, RelayConfig};
pub use delivery::USER_DESTINATION_HEADER;
pub use headers::{HeaderPolicy, HeaderRule};
pub use system::BrokerAvailability;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use delivery::{split_ack_id, Route};
use headers::{forward, forward_send, names_other_session, ACK_RESERVED, SUBSCRIBE_RESERVED};
use links::{unavailable, BrokerSubscription, SessionEntry};
use system::SystemState;

use crate::broker::{AckMode, Acknowledgement, Broker, BrokerError, Message, Subscription};
use crate::client::Client;
use crate::frame::{name, Command, Frame, Headers};
use crate::identity::{SessionId, SessionInfo};
use crate::user::UserRegistry;
use crate::version::Version;
use futures_util::future::BoxFuture;

/// Text of the ERROR a session gets when its broker connection is lost.
pub const CONNECTION_LOST: &str = "broker connection lost";

/// Text of the error while the broker cannot be reached.
pub const UNAVAILABLE: &str = "broker unavailable";

/// A relay to an external STOMP broker; implements [`Broker`]. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<RelayConfig>,
    system: Arc<SystemState>,
    sessions: Mutex<HashMap<SessionId, SessionEntry>>,
    pool: Mutex<Vec<Option<Client>>>,
    supervisor: JoinHandle<()>,
    users: OnceLock<UserSync>,
}

/// The running user registry sync (see [`Relay::sync_user_registry`]).
struct UserSync {
    events: mpsc::Sender<users::Local>,
    changes: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.supervisor.abort();
        if let Some(users) = self.users.get() {
            users.task.abort();
        }
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("hosts", &self.inner.config.hosts)
            .field("mode", &self.inner.config.mode)
            .field("availability", &*self.inner.system.availability.borrow())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Starts the relay: spawns the supervisor of the system connection on the current tokio
    /// runtime and returns at once (the broker may not be reachable yet; watch
    /// [`availability`](Self::availability) or await [`wait_available`](Self::wait_available)).
    pub fn start(config: RelayConfig) -> Relay {
        let config = Arc::new(config);
        let system = SystemState::new();
        let supervisor = tokio::spawn(system::supervise(config.clone(), system.clone()));
        let pool_size = match config.mode {
            ConnectionMode::Multiplexed { connections } => connections.max(1),
            ConnectionMode::PerClient => 0,
        };
        Relay {
            inner: Arc::new(Inner {
                config,
                system,
                sessions: Mutex::new(HashMap::new()),
                pool: Mutex::new(vec![None; pool_size]),
                supervisor,
                users: OnceLock::new(),
            }),
        }
    }

    /// Shares `registry` (the engine's user registry) with the other application instances
    /// behind the same broker, so `/user/{name}/...` reaches `{name}`'s sessions on every
    /// instance: this instance's users are announced on the registry topic, and the other
    /// instances' users are added to `registry` as they announce theirs. Call it once, after
    /// building the engine and before serving: sessions opened before the call are never
    /// announced. Later calls do nothing.
    pub fn sync_user_registry(&self, registry: UserRegistry) {
        self.inner.users.get_or_init(|| {
            let (events, rx) = mpsc::channel(4096);
            let (changes_tx, changes) = watch::channel(0);
            let task = tokio::spawn(users::run(
                users::SyncConfig::of(&self.inner.config),
                registry,
                self.inner.system.clone(),
                rx,
                changes_tx,
            ));
            UserSync {
                events,
                changes,
                task,
            }
        });
    }

    /// Counts updates of the shared user registry from other instances (`None` before
    /// [`sync_user_registry`](Self::sync_user_registry)).
    pub fn user_registry_changes(&self) -> Option<watch::Receiver<u64>> {
        self.inner.users.get().map(|u| u.changes.clone())
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.config
    }

    /// Broker availability events: `Unavailable` at start, `Available` once the system
    /// connection is up, and every change after that.
    pub fn availability(&self) -> watch::Receiver<BrokerAvailability> {
        self.inner.system.availability.subscribe()
    }

    /// Whether the system connection is up now.
    pub fn is_available(&self) -> bool {
        *self.inner.system.availability.borrow() == BrokerAvailability::Available
    }

    /// Why the system connection last failed to connect, or ended (`None` before any
    /// failure): e.g. [`ClientError::Tls`](crate::client::ClientError::Tls) for a broker
    /// certificate that is not trusted or not valid for the broker's name. For health
    /// checks and logs; the relay keeps reconnecting.
    pub fn last_error(&self) -> Option<crate::client::ClientError> {
        self.inner.system.last_error()
    }

    /// Waits until the system connection is up, at most `timeout`.
    pub async fn wait_available(&self, timeout: Duration) -> Result<(), BrokerError> {
        let mut rx = self.availability();
        let wait = async {
            rx.wait_for(|a| *a == BrokerAvailability::Available)
                .await
                .is_ok()
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(true) => Ok(()),
            _ => Err(BrokerError::Unavailable(UNAVAILABLE.to_owned())),
        }
    }

    /// Stops the relay: no more reconnects; every broker connection is closed with
    /// DISCONNECT (each waiting at most the receipt timeout). Sessions still open are not
    /// told; close them first (the engine's shutdown does). With
    /// [`sync_user_registry`](Self::sync_user_registry), the other instances are told this
    /// one leaves, and forget its sessions at once.
    pub async fn shutdown(&self) {
        self.inner.supervisor.abort();
        if let Some(users) = self.inner.users.get() {
            users.task.abort();
            let system = self.inner.system.client.borrow().clone();
            if let Some(system) = system {
                let config = users::SyncConfig::of(&self.inner.config);
                let leave = users::leave(&config, &system);
                let _ = tokio::time::timeout(self.inner.config.receipt_timeout, leave).await;
            }
        }
        let mut links: Vec<Client> = self.inner.pool().drain(..).flatten().collect();
        links.extend(self.inner.system.client.send_replace(None));
        links.extend(self.inner.sessions().drain().flat_map(|(_, e)| {
            let own = e.own_link;
            std::iter::once(e.link).chain(own)
        }));
        self.inner
            .system
            .availability
            .send_replace(BrokerAvailability::Unavailable);
        let timeout = self.inner.config.receipt_timeout;
        for link in links {
            if !link.is_closed() {
                let _ = tokio::time::timeout(timeout, link.disconnect()).await;
            }
        }
    }

    /// How many client sessions the relay currently serves.
    pub fn session_count(&self) -> usize {
        self.inner.sessions().len()
    }

    /// How many broker connections are open (system connection included).
    pub fn broker_connection_count(&self) -> usize {
        let system = usize::from(
            self.inner
                .system
                .client
                .borrow()
                .as_ref()
                .is_some_and(|c| !c.is_closed()),
        );
        let pooled = self
            .inner
            .pool()
            .iter()
            .flatten()
            .filter(|c| !c.is_closed())
            .count();
        let per_client = match self.inner.config.mode {
            ConnectionMode::PerClient => self
                .inner
                .sessions()
                .values()
                .filter(|e| !e.link.is_closed())
                .count(),
            ConnectionMode::Multiplexed { .. } => self
                .inner
                .sessions()
                .values()
                .filter(|e| e.own_link.as_ref().is_some_and(|a| !a.is_closed()))
                .count(),
        };
        system + pooled + per_client
    }
}

impl Inner {
    /// Reports a change of this instance's users to the registry sync, if it runs (never
    /// waits: a full queue drops the event and the next snapshot repairs it).
    fn user_event(&self, event: users::Local) {
        if let Some(users) = self.users.get() {
            let _ = users.events.try_send(event);
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<SessionId, SessionEntry>> {
        crate::sync::lock(&self.sessions)
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Option<Client>>> {
        crate::sync::lock(&self.pool)
    }

    fn system_client(&self) -> Result<Client, BrokerError> {
        self.system
            .client
            .borrow()
            .as_ref()
            .filter(|c| !c.is_closed())
            .cloned()
            .ok_or_else(|| BrokerError::Unavailable(UNAVAILABLE.to_owned()))
    }

    fn check_destination(&self, destination: &str) -> Result<(), BrokerError> {
        if self.config.relays(destination) {
            Ok(())
        } else {
            Err(BrokerError::InvalidDestination {
                destination: destination.chars().take(128).collect(),
                reason: "not under a relayed prefix".to_owned(),
            })
        }
    }

    async fn subscribe(self: &Arc<Self>, subscription: Subscription) -> Result<(), BrokerError> {
        self.check_destination(&subscription.destination)?;
        let session = subscription.subscriber.session.clone();
        if let Some(entry) = self.sessions().get(&session) {
            if entry.subscriptions.contains_key(&subscription.id) {
                return Err(BrokerError::DuplicateSubscription(
                    subscription.id.to_string(),
                ));
            }
        }
        let mut headers = Headers::new();
        forward(
            self.config.header_policy.subscribe_rule(),
            &subscription.headers,
            &SUBSCRIBE_RESERVED,
            &mut headers,
        );
        if let Some(queue) = headers
            .get_all(X_QUEUE_NAME)
            .find(|queue| names_other_session(queue, &session))
        {
            return Err(BrokerError::InvalidDestination {
                destination: queue.chars().take(128).collect(),
                reason: "x-queue-name names another session's user destination".to_owned(),
            });
        }
        let link = self
            .link_for(&session, !shareable(&subscription, &headers))
            .await?;
        headers.append(name::ACK, subscription.ack.as_str());
        let mut route = Route::new(
            subscription.subscriber.clone(),
            subscription.id.clone(),
            subscription.ack,
        );
        if subscription.ack != AckMode::Auto {
            route = route.with_broker(link.weak_sender());
        }
        let delivering = route.clone();
        let broker_id = link
            .subscribe_handler(subscription.destination.clone(), headers, move |frame| {
                delivering.deliver(&frame)
            })
            .await
            .map_err(unavailable)?;
        let stale = {
            let mut sessions = self.sessions();
            match sessions.get_mut(&session) {
                Some(entry) if entry.uses(&link) => {
                    entry.subscriptions.insert(
                        subscription.id.clone(),
                        BrokerSubscription {
                            id: broker_id.clone(),
                            link: link.clone(),
                            route,
                        },
                    );
                    if entry.subscriber.is_none() {
                        entry.subscriber = Some(subscription.subscriber.clone());
                    }
                    false
                }
                // The session closed (or lost its link) while we subscribed.
                _ => true,
            }
        };
        if stale {
            let _ = link.unsubscribe(&broker_id).await;
            return Err(BrokerError::Unavailable(CONNECTION_LOST.to_owned()));
        }
        let user_destination = subscription
            .headers
            .destination()
            .filter(|requested| *requested != &*subscription.destination);
        let has_user = self
            .sessions()
            .get(&session)
            .is_some_and(|e| e.user.is_some());
        if let (Some(requested), true) = (user_destination, has_user) {
            self.user_event(users::Local::Subscribed {
                session: session.clone(),
                id: subscription.id.to_string(),
                destination: requested.to_owned(),
            });
        }
        if link.is_closed() {
            // The link died between subscribing and registering: its watcher may have
            // missed this session, so tell it here.
            Route::close_session(&subscription.subscriber, CONNECTION_LOST);
            return Err(BrokerError::Unavailable(CONNECTION_LOST.to_owned()));
        }
        Ok(())
    }

    async fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        let (subscription, has_user) = self
            .sessions()
            .get_mut(session)
            .and_then(|entry| {
                let has_user = entry.user.is_some();
                entry.subscriptions.remove(id).map(|s| (s, has_user))
            })
            .ok_or_else(|| BrokerError::UnknownSubscription(id.to_owned()))?;
        if has_user {
            self.user_event(users::Local::Unsubscribed {
                session: session.clone(),
                id: id.to_owned(),
            });
        }
        subscription
            .link
            .unsubscribe(&subscription.id)
            .await
            .map_err(unavailable)
    }

    /// ACK/NACK of a client ack id (the MESSAGE's `ack` in STOMP 1.2, its `message-id`
    /// before: see `delivery`), searched among the session's own subscriptions only; a
    /// STOMP 1.1 `subscription` must name the one the delivery belongs to. It goes to the
    /// broker in the broker connection's version.
    async fn acknowledge(
        &self,
        session: &SessionId,
        ack: Acknowledgement<'_>,
    ) -> Result<(), BrokerError> {
        let ack_id = ack.id;
        let command = if ack.nack {
            Command::Nack
        } else {
            Command::Ack
        };
        let unknown = || BrokerError::UnknownAckId(ack_id.chars().take(128).collect());
        let (broker_sub, broker_ack) = split_ack_id(ack_id).ok_or_else(unknown)?;
        let link = {
            let sessions = self.sessions();
            let entry = sessions.get(session).ok_or_else(unknown)?;
            let settles =
                |s: &&BrokerSubscription| s.id == broker_sub && s.route.settle(broker_ack);
            let subscription = match ack.subscription {
                Some(client_id) => entry.subscriptions.get(client_id).filter(settles),
                None => entry.subscriptions.values().find(settles),
            }
            .ok_or_else(unknown)?;
            subscription.link.clone()
        };
        let mut frame = ack_frame(&link, command, broker_sub, broker_ack);
        if let Some(client_headers) = ack.headers {
            let policy = &self.config.header_policy;
            let rule = match command {
                Command::Nack => policy.nack_rule(),
                _ => policy.ack_rule(),
            };
            forward(rule, client_headers, &ACK_RESERVED, &mut frame.headers);
        }
        link.send_frame(frame).await.map_err(unavailable)
    }

    async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        self.check_destination(&message.destination)?;
        let client = self.system_client()?;
        let mut frame =
            Frame::new(Command::Send).header(name::DESTINATION, message.destination.clone());
        // A resolved user destination: carry the user-facing form through the broker.
        if let Some(facing) = message.headers.destination() {
            if facing != &*message.destination {
                frame.headers.append(USER_DESTINATION_HEADER, facing);
            }
        }
        forward_send(
            self.config.header_policy.send_rule(),
            &message.headers,
            &[
                name::DESTINATION,
                USER_DESTINATION_HEADER,
                name::RECEIPT,
                name::TRANSACTION,
                name::CONTENT_LENGTH,
                name::SUBSCRIPTION,
                name::MESSAGE_ID,
                name::ACK,
            ],
            &mut frame.headers,
        );
        let frame = frame.body(message.body);
        let result = if self.config.publish_receipts {
            client.request(frame).await
        } else {
            client.send_frame(frame).await
        };
        result.map_err(unavailable)
    }

    async fn session_closed(&self, session: &SessionId) {
        let Some(entry) = self.sessions().remove(session) else {
            return;
        };
        if entry.user.is_some() {
            self.user_event(users::Local::Closed {
                session: session.clone(),
            });
        }
        let timeout = self.config.receipt_timeout;
        // Connections of the session's own end: the broker requeues their un-acked
        // messages.
        let own = match self.config.mode {
            ConnectionMode::PerClient => Some(&entry.link),
            ConnectionMode::Multiplexed { .. } => entry.own_link.as_ref(),
        };
        if let Some(link) = own {
            let _ = tokio::time::timeout(timeout, link.disconnect()).await;
        }
        // On the shared connection, only the session's subscriptions end.
        for subscription in entry.subscriptions.values() {
            if own.is_some_and(|own| own.same_connection(&subscription.link)) {
                continue;
            }
            let frame = Frame::new(Command::Unsubscribe).header(name::ID, subscription.id.clone());
            if subscription.link.send_frame(frame).await.is_err() {
                break;
            }
        }
    }
}

/// RabbitMQ's SUBSCRIBE header naming the subscription's queue.
const X_QUEUE_NAME: &str = "x-queue-name";

/// Whether a subscription may live on a connection shared with other sessions: only if
/// nothing it does can make the broker end that connection, and it leaves no un-acked
/// messages behind (RabbitMQ holds those until the connection closes). That is an `auto`
/// subscription to a `/topic/` destination with no broker-specific header among those
/// `forwarded` to the broker: the browser fan-out case, where sharing matters. Everything
/// else (queues, exchanges, acks, durable topic subscriptions, selectors) goes on a
/// connection of the session's own, so a broker ERROR it provokes ends that session only.
fn shareable(subscription: &Subscription, forwarded: &Headers) -> bool {
    subscription.ack == AckMode::Auto
        && subscription.destination.starts_with("/topic/")
        && forwarded
            .iter()
            .all(|(n, _)| matches!(n, name::CONTENT_TYPE))
}

/// ACK or NACK of broker ack id `ack` on subscription `broker_sub`, in the link's version.
fn ack_frame(link: &Client, command: Command, broker_sub: &str, ack: &str) -> Frame {
    let mut frame = Frame::new(command);
    if link.version() >= Version::V1_2 {
        frame.headers.append(name::ID, ack);
    } else {
        frame.headers.append(name::MESSAGE_ID, ack);
        frame.headers.append(name::SUBSCRIPTION, broker_sub);
    }
    frame
}

impl Broker for Relay {
    fn session_opened<'a>(
        &'a self,
        session: &'a SessionInfo,
        connect: &'a Headers,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let link = self.inner.open_link(&session.id, connect).await?;
            let mut entry = SessionEntry::new(link);
            entry.user = session.principal.as_ref().map(|p| p.name().to_owned());
            if let Some(user) = &entry.user {
                self.inner.user_event(users::Local::Connected {
                    session: session.id.clone(),
                    user: user.clone(),
                });
            }
            self.inner.sessions().insert(session.id.clone(), entry);
            Ok(())
        })
    }

    fn subscribe(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(self.inner.subscribe(subscription))
    }

    fn unsubscribe<'a>(
        &'a self,
        session: &'a SessionId,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.inner.unsubscribe(session, id))
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(self.inner.publish(message))
    }

    fn ack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(
            self.inner
                .acknowledge(session, Acknowledgement::by_ack_id(ack_id, false)),
        )
    }

    fn nack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(
            self.inner
                .acknowledge(session, Acknowledgement::by_ack_id(ack_id, true)),
        )
    }

    fn acknowledge<'a>(
        &'a self,
        session: &'a SessionId,
        ack: Acknowledgement<'a>,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.inner.acknowledge(session, ack))
    }

    #[cfg(feature = "metrics")]
    fn record_metrics(&self) {
        let system_up = self
            .inner
            .system
            .client
            .borrow()
            .as_ref()
            .is_some_and(|c| !c.is_closed());
        metrics::gauge!("stomp_relay_link_up").set(if system_up { 1.0 } else { 0.0 });
        metrics::gauge!("stomp_relay_broker_connections")
            .set(self.broker_connection_count() as f64);
    }

    fn session_closed<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, ()> {
        Box::pin(self.inner.session_closed(session))
    }
}
