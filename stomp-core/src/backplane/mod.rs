//! Scaling the embedded broker out: a **backplane** links several app instances, each with
//! its own [`SimpleBroker`](crate::broker::SimpleBroker), through a pub/sub service (Redis in
//! `backplane::redis` behind the `redis` feature; NATS would be a second implementation of the same trait).
//!
//! The parts:
//! - [`Backplane`]: the transport seam. It publishes opaque payloads on [`Channel`]s,
//!   subscribes to channels on demand, hands received payloads to one bounded inbound queue
//!   and reports its [`LinkState`]. It knows nothing about STOMP.
//! - [`BackplaneBroker`]: a [`Broker`](crate::broker::Broker) that keeps every subscription
//!   in the local `SimpleBroker` and forwards what other instances need: one backplane publish
//!   per message, on the channel of its destination. It also tracks which users are connected
//!   to which instance ([`ClusterView`]).
//!
//! # Routing
//!
//! - **Topics** (broadcast destinations): a channel per destination. An instance subscribes
//!   to `Topic(d)` when its first local subscriber to `d` appears and unsubscribes when the
//!   last one leaves; a pattern subscription (`/topic/chat.*`) subscribes to
//!   `TopicPattern(p)` (Redis `PSUBSCRIBE`), and the local broker filters exactly. So a
//!   destination nobody listens to costs one publish to the service and no fan-out traffic.
//!   A catch-all subscription would have sent every message to every instance.
//! - **Queues** stay local: a queue hands each message to one consumer, which is what an
//!   external broker (the RabbitMQ relay) is for.
//! - **User destinations** (`/user/{name}/...`): every instance hosting a session of `name`
//!   subscribes to `User(name)`; a send to `/user/{name}/...` is published once there, and
//!   each receiving instance resolves it against its own [`UserRegistry`](crate::user::UserRegistry)
//!   (the sending instance resolves locally at once, as without a backplane). The service
//!   does the forwarding, so no instance needs an up-to-date map to route.
//! - **Presence** (the cluster-wide user list) travels on `Presence`: `join`/`leave` when a
//!   user's first/last local session comes/goes, a `heartbeat` per instance every
//!   [`BackplaneConfig::heartbeat_interval`] carrying a presence version, `snapshot`s on
//!   request (`hello` on (re)connect, `sync` when a version shows a gap) and `bye` on
//!   shutdown. An instance silent for [`BackplaneConfig::instance_ttl`] is dropped with its
//!   users: a crashed instance's users disappear from the other instances' view.
//!
//! # Guarantees
//!
//! - **At most once across instances.** A message is delivered locally at once and forwarded
//!   once; while the link is down it is *not* forwarded (counted in
//!   [`BackplaneStats::not_forwarded`]), never buffered for later, and there is no replay.
//!   Local delivery never depends on the backplane.
//! - **Order per publisher.** Messages published on one instance reach each other instance
//!   in publish order (one ordered queue and connection per instance); no order between
//!   publishers on different instances.
//! - **No duplicates.** An instance drops its own messages coming back, and every message
//!   carries the publishing instance's sequence number, so a message matching both a
//!   destination and a pattern subscription of an instance is delivered there once.
//! - **Bounded.** The transport's outgoing queue and the inbound queue are bounded; past
//!   them messages are dropped and counted.

mod broker;
mod presence;
#[cfg(feature = "redis")]
pub mod redis;
mod wire;

pub use broker::{BackplaneBroker, BackplaneConfig, BackplaneStats};
pub use presence::{ClusterUser, ClusterView, InstanceId};

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::{mpsc, watch};

use futures_util::future::BoxFuture;

/// A backplane channel: what a payload is published on and what an instance subscribes to.
/// Transports map it to their own names (the Redis backplane: `{prefix}:t:{destination}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// Messages to one broadcast destination.
    Topic(ByteString),
    /// Messages to every destination a destination pattern (`*`, `**`) matches; transports
    /// may over-approximate (the local broker matches exactly), never under-approximate.
    /// Only subscribed to, never published on.
    TopicPattern(ByteString),
    /// Messages to one user's destinations (`/user/{name}/...`).
    User(ByteString),
    /// Presence events between instances.
    Presence,
}

/// Whether the backplane is linked to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkState {
    /// Not (yet, or no longer) connected: messages are delivered locally only.
    Disconnected,
    /// Connected and subscribed: messages are forwarded.
    Connected,
}

/// Why a payload was not handed to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The link is down; nothing is buffered for later.
    #[error("backplane disconnected")]
    Disconnected,
    /// The bounded outgoing queue is full.
    #[error("backplane outgoing queue full")]
    QueueFull,
    /// The backplane was shut down.
    #[error("backplane shut down")]
    Closed,
}

/// The transport seam under a [`BackplaneBroker`]: a pub/sub service (Redis, NATS...).
///
/// Contract:
/// - [`publish`](Self::publish) never waits: it queues the payload (bounded) or fails at
///   once. Payloads published from one instance reach subscribers in publish order.
/// - [`subscribe`](Self::subscribe) completes once the service acknowledged the
///   subscription (or at once while disconnected); the transport re-subscribes every
///   channel after a reconnect. [`unsubscribe`](Self::unsubscribe) never waits.
/// - Received payloads (including the instance's own, which the broker filters) go to the
///   one receiver [`take_inbound`](Self::take_inbound) returns, bounded: when it is full
///   the transport drops and counts.
/// - The transport reconnects by itself with backoff and reports it through
///   [`link`](Self::link).
pub trait Backplane: Send + Sync + 'static {
    /// Queues `payload` for publishing on `channel` (never [`Channel::TopicPattern`]).
    fn publish(&self, channel: &Channel, payload: Bytes) -> Result<(), PublishError>;

    /// Starts receiving `channel`; idempotent per channel.
    fn subscribe(&self, channel: Channel) -> BoxFuture<'_, ()>;

    /// Stops receiving `channel`.
    fn unsubscribe(&self, channel: Channel);

    /// The link state, current and future.
    fn link(&self) -> watch::Receiver<LinkState>;

    /// The receiver of inbound payloads; `Some` once, `None` afterwards.
    fn take_inbound(&self) -> Option<mpsc::Receiver<Bytes>>;

    /// Flushes what is queued (bounded in time) and closes the connections.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// Publishes the transport's own figures (reconnects, drops) to the `metrics`
    /// recorder; the broker calls it when the engine publishes (feature `metrics`).
    /// Default: nothing.
    fn record_metrics(&self) {}
}
