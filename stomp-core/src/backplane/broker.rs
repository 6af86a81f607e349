//! [`BackplaneBroker`]: the local [`SimpleBroker`] plus forwarding over a [`Backplane`].

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::{mpsc, watch};

use super::presence::{ClusterView, InstanceId, Presence, PresenceAnnouncement};
use super::wire::{self, Envelope, Route};
use super::{Backplane, Channel, LinkState};
use crate::broker::{
    Acknowledgement, BoxFuture, Broker, BrokerError, DestinationKind, Message, SimpleBroker,
    Subscription,
};
use crate::channel::BrokerChannel;
use crate::cluster::Announcement;
use crate::destination::is_pattern;
use crate::frame::Headers;
use crate::identity::{SessionId, SessionInfo};
use crate::sync::lock;
use crate::user::UserDestinations;

/// Timing of the presence protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackplaneConfig {
    heartbeat_interval: Duration,
    instance_ttl: Duration,
}

impl Default for BackplaneConfig {
    fn default() -> Self {
        BackplaneConfig {
            heartbeat_interval: Duration::from_secs(2),
            instance_ttl: Duration::from_secs(6),
        }
    }
}

impl BackplaneConfig {
    /// The defaults: a heartbeat every 2 s, instances silent for 6 s are dropped.
    pub fn new() -> Self {
        BackplaneConfig::default()
    }

    /// How often this instance announces it is alive (default 2 s).
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long another instance may stay silent before it and its users are dropped
    /// (default 6 s; keep it a few heartbeat intervals).
    #[must_use]
    pub fn instance_ttl(mut self, ttl: Duration) -> Self {
        self.instance_ttl = ttl;
        self
    }
}

/// Counters of a [`BackplaneBroker`] (since it started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackplaneStats {
    /// Messages handed to the backplane.
    pub forwarded: u64,
    /// Messages delivered locally but not forwarded (link down, queue full): the gap.
    pub not_forwarded: u64,
    /// Messages from other instances delivered locally.
    pub received: u64,
    /// Second copies of a message dropped (destination and pattern subscriptions).
    pub duplicates: u64,
    /// Payloads that could not be decoded.
    pub invalid: u64,
    /// The link state now.
    pub link: LinkState,
}

#[derive(Debug, Default)]
struct Interests {
    counts: HashMap<Channel, usize>,
    by_session: HashMap<SessionId, HashMap<ByteString, Channel>>,
}

#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    not_forwarded: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    invalid: AtomicU64,
}

struct Shared {
    local: Arc<SimpleBroker>,
    local_channel: BrokerChannel,
    users: UserDestinations,
    transport: Arc<dyn Backplane>,
    me: InstanceId,
    config: BackplaneConfig,
    /// Held while a sequence number is taken and its payload queued, so the transport
    /// sees payloads in sequence order.
    order: Mutex<u64>,
    interests: Mutex<Interests>,
    presence: ClusterView,
    last_seq: Mutex<HashMap<InstanceId, u64>>,
    counters: Counters,
    link: watch::Receiver<LinkState>,
    stop: watch::Sender<bool>,
}

/// A [`Broker`] for one instance of a scaled-out app: subscriptions live in the local
/// [`SimpleBroker`]; topic messages and user-destination messages also go over a
/// [`Backplane`] to the other instances (see the [module docs](super) for routing and
/// guarantees). Cheap to clone; clones share everything.
///
/// Give the engine the same [`UserDestinations`] (see
/// [`user_destinations`](Self::user_destinations)): the broker resolves user destinations
/// that arrive from other instances against its registry.
///
/// [`new`](Self::new) spawns the presence task, so it must run inside a Tokio runtime.
#[derive(Clone)]
pub struct BackplaneBroker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BackplaneBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackplaneBroker")
            .field("instance", &self.shared.me)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn new_instance_id() -> InstanceId {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let hash = RandomState::new().hash_one((nanos, std::process::id()));
    ByteString::from(format!("{hash:016x}"))
}

impl BackplaneBroker {
    /// An instance over `transport`, keeping subscriptions in `local` and resolving user
    /// destinations with `users`. Spawns the presence task.
    pub fn new(
        local: SimpleBroker,
        users: UserDestinations,
        transport: impl Backplane,
        config: BackplaneConfig,
    ) -> Self {
        let transport: Arc<dyn Backplane> = Arc::new(transport);
        let local = Arc::new(local);
        let me = new_instance_id();
        let local_channel = BrokerChannel::builder(local.clone())
            .user_destinations(users.clone())
            .build();
        let (stop, stopped) = watch::channel(false);
        let inbound = transport.take_inbound();
        // Registered now (the transport applies it when linked); nothing to wait for.
        drop(transport.subscribe(Channel::Presence));
        let shared = Arc::new(Shared {
            local,
            local_channel,
            users,
            link: transport.link(),
            transport,
            presence: ClusterView {
                inner: Arc::new(Mutex::new(Presence::new(me.clone()))),
            },
            me,
            config,
            order: Mutex::new(0),
            interests: Mutex::default(),
            last_seq: Mutex::default(),
            counters: Counters::default(),
            stop,
        });
        tokio::spawn(run(shared.clone(), inbound, stopped));
        BackplaneBroker { shared }
    }

    /// This instance's id on the backplane.
    pub fn instance_id(&self) -> &InstanceId {
        &self.shared.me
    }

    /// The cluster-wide user view.
    pub fn cluster(&self) -> ClusterView {
        self.shared.presence.clone()
    }

    /// The user destinations the engine must share with this broker.
    pub fn user_destinations(&self) -> &UserDestinations {
        &self.shared.users
    }

    /// The local broker.
    pub fn local(&self) -> &Arc<SimpleBroker> {
        &self.shared.local
    }

    /// The link state, current and future (a gap starts at `Disconnected`).
    pub fn link(&self) -> watch::Receiver<LinkState> {
        self.shared.link.clone()
    }

    /// The counters.
    pub fn stats(&self) -> BackplaneStats {
        let c = &self.shared.counters;
        BackplaneStats {
            forwarded: c.forwarded.load(Ordering::Relaxed),
            not_forwarded: c.not_forwarded.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            link: *self.shared.link.borrow(),
        }
    }

    /// Leaves the cluster: announces `bye` (the others drop this instance's users at once),
    /// stops the presence task and shuts the transport down. Local delivery keeps working.
    pub async fn shutdown(&self) {
        self.shared.announce(&Announcement::Bye);
        self.shared.stop.send_replace(true);
        self.shared.transport.shutdown().await;
    }
}

impl Shared {
    /// Queues `message` for the other instances (one payload, whatever the fan-out).
    fn forward(&self, channel: &Channel, route: Route, message: &Message) {
        let result = {
            let mut seq = lock(&self.order);
            *seq += 1;
            let payload = wire::encode_message(&self.me, *seq, route, message);
            self.transport.publish(channel, payload)
        };
        match result {
            Ok(()) => self.counters.forwarded.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::trace!(error = %e, destination = %message.destination, "not forwarded");
                self.counters.not_forwarded.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    fn announce(&self, announcement: &PresenceAnnouncement) {
        let payload = wire::encode_presence(&self.me, announcement);
        if let Err(e) = self.transport.publish(&Channel::Presence, payload) {
            tracing::debug!(error = %e, ?announcement, "presence event not published");
        }
    }

    /// Whether a message published here goes to other instances: broadcast destinations
    /// whose `destination` header is the routing destination (a resolved user destination
    /// shows `/user/...` and was already routed by the sender's instance).
    fn forwards(&self, message: &Message) -> bool {
        self.local.config().kind(&message.destination) == Some(DestinationKind::Topic)
            && message
                .headers
                .destination()
                .is_none_or(|d| d == &*message.destination)
    }

    /// The channel a subscription needs, if any (topics only; not resolved user
    /// destinations, whose messages arrive on the user's channel).
    fn interest(&self, subscription: &Subscription) -> Option<Channel> {
        let destination = &subscription.destination;
        if self.local.config().kind(destination) != Some(DestinationKind::Topic) {
            return None;
        }
        if let Some(requested) = subscription.headers.destination() {
            if requested != &**destination {
                return None;
            }
        }
        Some(if is_pattern(destination) {
            Channel::TopicPattern(destination.clone())
        } else {
            Channel::Topic(destination.clone())
        })
    }

    fn release(&self, channels: impl IntoIterator<Item = Channel>) {
        let mut interests = lock(&self.interests);
        for channel in channels {
            if let Some(count) = interests.counts.get_mut(&channel) {
                *count -= 1;
                if *count == 0 {
                    interests.counts.remove(&channel);
                    self.transport.unsubscribe(channel);
                }
            }
        }
    }

    async fn handle(&self, payload: Bytes) {
        let envelope = match wire::decode(&payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "invalid backplane payload");
                return;
            }
        };
        match envelope {
            Envelope::Message {
                origin,
                seq,
                route,
                message,
            } => {
                if origin == self.me {
                    return;
                }
                {
                    let mut last = lock(&self.last_seq);
                    let last = last.entry(origin).or_default();
                    if seq <= *last {
                        self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    *last = seq;
                }
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                let message = Message::from(message);
                let result = match route {
                    Route::Topic => self.local.publish_now(message),
                    Route::User => self.local_channel.publish(message).await,
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "forwarded message refused locally");
                }
            }
            Envelope::Presence {
                origin,
                announcement,
            } => {
                if origin == self.me {
                    return;
                }
                if let Announcement::Bye = announcement {
                    lock(&self.last_seq).remove(&origin);
                }
                let now = tokio::time::Instant::now();
                let reply = self.presence.lock().apply(&origin, announcement, now);
                if let Some(reply) = reply {
                    self.announce(&reply);
                }
            }
        }
    }

    fn tick(&self) {
        let (heartbeat, dead) = {
            let mut p = self.presence.lock();
            let dead = p.expire(tokio::time::Instant::now(), self.config.instance_ttl);
            (p.heartbeat(), dead)
        };
        if !dead.is_empty() {
            tracing::info!(instances = ?dead, "backplane instances silent past the TTL: dropped with their users");
            let mut last = lock(&self.last_seq);
            for id in &dead {
                last.remove(id);
            }
        }
        if *self.link.borrow() == LinkState::Connected {
            self.announce(&heartbeat);
        }
    }
}

async fn run(
    shared: Arc<Shared>,
    inbound: Option<mpsc::Receiver<Bytes>>,
    mut stopped: watch::Receiver<bool>,
) {
    let Some(mut inbound) = inbound else {
        tracing::error!("backplane transport gave no inbound receiver: receiving nothing");
        return;
    };
    let mut link = shared.link.clone();
    let mut ticker = tokio::time::interval(shared.config.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was = LinkState::Disconnected;
    let mut gap_start = shared.counters.not_forwarded.load(Ordering::Relaxed);
    loop {
        let state = *link.borrow_and_update();
        if state != was {
            let not_forwarded = shared.counters.not_forwarded.load(Ordering::Relaxed);
            match state {
                LinkState::Connected => {
                    tracing::info!(
                        not_forwarded_during_gap = not_forwarded - gap_start,
                        "backplane linked"
                    );
                    let greeting = shared.presence.lock().greeting();
                    for announcement in &greeting {
                        shared.announce(announcement);
                    }
                }
                LinkState::Disconnected => {
                    gap_start = not_forwarded;
                    tracing::warn!("backplane link down: delivering locally only");
                }
            }
            was = state;
        }
        tokio::select! {
            payload = inbound.recv() => match payload {
                Some(payload) => shared.handle(payload).await,
                None => break,
            },
            changed = link.changed() => if changed.is_err() { break },
            _ = ticker.tick() => shared.tick(),
            _ = stopped.changed() => break,
        }
    }
}

impl Broker for BackplaneBroker {
    fn session_opened<'a>(
        &'a self,
        session: &'a SessionInfo,
        connect: &'a Headers,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            self.shared.local.session_opened(session, connect).await?;
            let Some(principal) = &session.principal else {
                return Ok(());
            };
            let user = ByteString::from(principal.name());
            let subscribed = {
                let mut presence = self.shared.presence.lock();
                presence
                    .session_opened(session.id.clone(), user.clone())
                    .map(|join| {
                        let subscribed =
                            self.shared.transport.subscribe(Channel::User(user.clone()));
                        (join, subscribed)
                    })
            };
            if let Some((join, subscribed)) = subscribed {
                self.shared.announce(&join);
                subscribed.await;
            }
            Ok(())
        })
    }

    fn subscribe(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async move {
            let interest = self.shared.interest(&subscription);
            let session = subscription.subscriber.session.clone();
            let id = subscription.id.clone();
            self.shared.local.subscribe_now(subscription)?;
            let Some(channel) = interest else {
                return Ok(());
            };
            let subscribed = {
                let mut interests = lock(&self.shared.interests);
                interests
                    .by_session
                    .entry(session)
                    .or_default()
                    .insert(id, channel.clone());
                let count = interests.counts.entry(channel.clone()).or_default();
                *count += 1;
                (*count == 1).then(|| self.shared.transport.subscribe(channel))
            };
            if let Some(subscribed) = subscribed {
                subscribed.await;
            }
            Ok(())
        })
    }

    fn unsubscribe<'a>(
        &'a self,
        session: &'a SessionId,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            self.shared.local.unsubscribe_now(session, id)?;
            let channel = {
                let mut interests = lock(&self.shared.interests);
                let subs = interests.by_session.get_mut(session);
                let channel = subs.and_then(|subs| subs.remove(id));
                if interests
                    .by_session
                    .get(session)
                    .is_some_and(|s| s.is_empty())
                {
                    interests.by_session.remove(session);
                }
                channel
            };
            self.shared.release(channel);
            Ok(())
        })
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async move {
            if !self.shared.forwards(&message) {
                return self.shared.local.publish_now(message);
            }
            let channel = Channel::Topic(message.destination.clone());
            let forwarded = message.clone();
            self.shared.local.publish_now(message)?;
            self.shared.forward(&channel, Route::Topic, &forwarded);
            Ok(())
        })
    }

    fn holds(&self, destination: &str) -> bool {
        self.shared.local.holds(destination)
    }

    fn publish_charged(
        &self,
        message: Message,
        charge: crate::memory::Reservation,
    ) -> BoxFuture<'_, Result<(), BrokerError>> {
        // Queues are local: a queue message is held here, with the producer's charge.
        if self.shared.forwards(&message) {
            drop(charge);
            return self.publish(message);
        }
        Box::pin(async move { self.shared.local.publish_charged_now(message, Some(charge)) })
    }

    fn publish_to_session<'a>(
        &'a self,
        session: &'a SessionId,
        message: Message,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        // A resolved user destination is local to the session's instance: never forwarded
        // (the unresolved message already went to the user's channel).
        Box::pin(async move { self.shared.local.publish_to_session_now(session, message) })
    }

    fn user_message(&self, user: &str, message: &Message) {
        let channel = Channel::User(ByteString::from(user));
        self.shared.forward(&channel, Route::User, message);
    }

    fn ack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.shared.local.ack_now(session, ack_id) })
    }

    fn nack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.shared.local.nack_now(session, ack_id) })
    }

    fn acknowledge<'a>(
        &'a self,
        session: &'a SessionId,
        ack: Acknowledgement<'a>,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move { self.shared.local.acknowledge_now(session, ack) })
    }

    #[cfg(feature = "metrics")]
    fn record_metrics(&self) {
        self.shared.local.record_metrics();
        self.shared.transport.record_metrics();
        let stats = self.stats();
        let up = matches!(stats.link, LinkState::Connected);
        metrics::gauge!("stomp_backplane_link_up").set(if up { 1.0 } else { 0.0 });
        for (outcome, value) in [
            ("forwarded", stats.forwarded),
            ("not_forwarded", stats.not_forwarded),
            ("received", stats.received),
            ("duplicate", stats.duplicates),
            ("invalid", stats.invalid),
        ] {
            metrics::counter!("stomp_backplane_messages_total", "outcome" => outcome)
                .absolute(value);
        }
    }

    fn held_bytes(&self) -> usize {
        self.shared.local.queued_bytes()
    }

    fn session_closed<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.shared.local.close_session_now(session);
            let channels = lock(&self.shared.interests).by_session.remove(session);
            self.shared
                .release(channels.into_iter().flat_map(|c| c.into_values()));
            let left = {
                let mut presence = self.shared.presence.lock();
                let left = presence.session_closed(session);
                if let Some((user, _)) = &left {
                    // Under the lock, so a concurrent first session of the same user
                    // subscribes after this.
                    self.shared
                        .transport
                        .unsubscribe(Channel::User(user.clone()));
                }
                left
            };
            if let Some((_, leave)) = left {
                self.shared.announce(&leave);
            }
        })
    }
}
