//! The BROKER side: the [`Broker`] trait every message broker implements (the embedded
//! [`SimpleBroker`] by default, or a relay to an external broker).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use bytestring::ByteString;

use crate::frame::Headers;
use crate::identity::{SessionId, SessionInfo};
use crate::outbound::OutboundSender;
use crate::version::Version;

pub mod simple;

pub use simple::{BrokerStats, DestinationKind, SimpleBroker, SimpleBrokerConfig};
#[cfg(feature = "durable")]
pub use simple::{DurableError, DurableReport};

/// A boxed, sendable future (what [`Broker`] methods return, so brokers can be `dyn`).
pub use futures_util::future::BoxFuture;

/// How a subscription acknowledges messages (the SUBSCRIBE `ack` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AckMode {
    /// Delivered means acknowledged (the default).
    #[default]
    Auto,
    /// ACK is cumulative: it acknowledges the message and every earlier one of the
    /// subscription.
    Client,
    /// ACK and NACK concern exactly one message.
    ClientIndividual,
}

impl AckMode {
    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }
}

impl fmt::Display for AckMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `ack` header value that is not an ack mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ack mode {0:?}: expected auto, client or client-individual")]
pub struct InvalidAckMode(pub String);

impl FromStr for AckMode {
    type Err = InvalidAckMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(AckMode::Auto),
            "client" => Ok(AckMode::Client),
            "client-individual" => Ok(AckMode::ClientIndividual),
            other => Err(InvalidAckMode(other.chars().take(64).collect())),
        }
    }
}

/// Where and how a broker delivers to one session.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The session.
    pub session: SessionId,
    /// The session's protocol version (decides how MESSAGE headers are escaped).
    pub version: Version,
    /// The session's outbound queue.
    pub outbound: OutboundSender,
}

/// A SUBSCRIBE, as the broker sees it.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Who receives.
    pub subscriber: Subscriber,
    /// The SUBSCRIBE `id` (unique per session).
    pub id: ByteString,
    /// The destination or destination pattern.
    pub destination: ByteString,
    /// The ack mode.
    pub ack: AckMode,
    /// Every header of the SUBSCRIBE (for brokers that understand more, such as a relay).
    pub headers: Headers,
}

/// A message on its way to a broker: a client SEND, a handler reply or a template send.
#[derive(Debug, Clone)]
pub struct Message {
    /// Where it goes.
    pub destination: ByteString,
    /// `destination`, `content-type` and user headers, as they should reach subscribers.
    pub headers: Headers,
    /// The body, shared by every delivery.
    pub body: Bytes,
}

/// An ACK or NACK, naming the delivery the way the session's protocol version does.
///
/// | version | `id` | `subscription` |
/// |---|---|---|
/// | STOMP 1.2 | the MESSAGE's `ack` header | `None` |
/// | STOMP 1.1 | the MESSAGE's `message-id` | the ACK's `subscription` header |
/// | STOMP 1.0 | the MESSAGE's `message-id` | `None` |
///
/// So that one id works in every version, brokers write the delivery's ack id as the
/// `message-id` of a MESSAGE to a STOMP 1.0 / 1.1 session on a `client` or
/// `client-individual` subscription (unique per delivery, as RabbitMQ's message ids are),
/// and leave out the `ack` header, which only STOMP 1.2 has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledgement<'a> {
    /// NACK rather than ACK.
    pub nack: bool,
    /// The id naming the delivery (see the table).
    pub id: &'a str,
    /// A STOMP 1.1 ACK/NACK's `subscription`: the delivery must belong to the session's
    /// subscription with this id.
    pub subscription: Option<&'a str>,
    /// The client's ACK/NACK frame headers, when a client sent it: a relay forwards those
    /// its header policy allows (e.g. RabbitMQ's `requeue:false` on a NACK).
    pub headers: Option<&'a Headers>,
}

impl<'a> Acknowledgement<'a> {
    /// A STOMP 1.2 ACK (or NACK, when `nack`) of the delivery whose MESSAGE carried
    /// `ack: id`.
    pub const fn by_ack_id(id: &'a str, nack: bool) -> Self {
        Acknowledgement {
            nack,
            id,
            subscription: None,
            headers: None,
        }
    }

    /// The same acknowledgement, carrying the client frame's `headers`.
    #[must_use]
    pub const fn with_headers(mut self, headers: &'a Headers) -> Self {
        self.headers = Some(headers);
        self
    }
}

/// Why a broker refused an operation; it becomes the ERROR frame's `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The session already has a subscription with this id.
    #[error("subscription id {0:?} is already in use on this session")]
    DuplicateSubscription(String),
    /// UNSUBSCRIBE named an id the session does not have.
    #[error("no subscription with id {0:?}")]
    UnknownSubscription(String),
    /// ACK/NACK named an id that is not pending for this session.
    #[error("no message pending with ack id {0:?}")]
    UnknownAckId(String),
    /// The destination is not valid for this broker.
    #[error("invalid destination {destination:?}: {reason}")]
    InvalidDestination {
        /// The destination.
        destination: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header of the frame has a value the broker does not accept.
    #[error("invalid {header} header: {reason}")]
    InvalidHeader {
        /// The header's name.
        header: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A queue is at its configured depth and takes no more messages.
    #[error("queue {0:?} is full")]
    QueueFull(String),
    /// The durable store refused a persistent message (a write error such as a full disk,
    /// or the store's bounds); the broker keeps serving everything else.
    #[error("durable store: {0}")]
    Storage(String),
    /// The broker (or the external broker behind a relay) cannot be reached.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

/// A message broker: keeps subscriptions and delivers published messages to them.
///
/// Implementations must never wait on a slow subscriber while delivering: they hand encoded
/// frames to each [`Subscriber::outbound`] with [`OutboundSender::send`], which queues or
/// applies the session's slow-consumer policy at once. A call's future completes when the
/// operation has taken effect (a completed `subscribe` means the subscription is live), so a
/// session can send its RECEIPT afterwards.
pub trait Broker: Send + Sync + 'static {
    /// A session has connected (CONNECT accepted); `connect` holds its CONNECT headers.
    /// Brokers that hold per-session resources (a relay's broker connection) set them up
    /// here; an error refuses the CONNECT.
    fn session_opened<'a>(
        &'a self,
        session: &'a SessionInfo,
        connect: &'a Headers,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let _ = (session, connect);
        Box::pin(async { Ok(()) })
    }

    /// Registers a subscription.
    fn subscribe(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), BrokerError>>;

    /// Removes the session's subscription `id`; its un-acked messages are handled as on
    /// NACK (queues redeliver them).
    fn unsubscribe<'a>(
        &'a self,
        session: &'a SessionId,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Publishes a message to its destination's subscribers.
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>>;

    /// Whether this broker itself holds messages published to `destination` until they
    /// are consumed (a queue of the embedded broker): a client's SEND there is charged to
    /// its session's memory share ([`publish_charged`](Self::publish_charged)). Must be
    /// cheap; the default (a broker that holds nothing in this process) is `false`.
    fn holds(&self, destination: &str) -> bool {
        let _ = destination;
        false
    }

    /// [`publish`](Self::publish), with `charge` (the producer's share, see
    /// [`SessionMemory::reserve_share`](crate::memory::SessionMemory::reserve_share)) kept
    /// for as long as the broker holds the message: released when it leaves the queue
    /// (acknowledged, delivered in `auto` mode, dropped, refused). The default releases it
    /// at once and publishes.
    fn publish_charged(
        &self,
        message: Message,
        charge: crate::memory::Reservation,
    ) -> BoxFuture<'_, Result<(), BrokerError>> {
        drop(charge);
        self.publish(message)
    }

    /// A publish to the user destination `message.destination` (`/user/{user}/...`) is
    /// about to be resolved against this instance's sessions. A broker spanning several
    /// instances (a backplane) forwards it so the instances hosting `user` resolve it
    /// against theirs. Must not wait; the default does nothing.
    fn user_message(&self, user: &str, message: &Message) {
        let _ = (user, message);
    }

    /// Publishes `message` to `session`'s resolved user destination `message.destination`
    /// (e.g. `/queue/reply-user{session}`): only `session`'s own subscriptions to exactly that
    /// destination may receive it; pattern subscriptions and other sessions never do, even
    /// if their subscription would match the name.
    /// [`BrokerChannel::publish`](crate::channel::BrokerChannel::publish) resolves user
    /// destinations and calls this once per target session.
    ///
    /// The default calls [`publish`](Self::publish): right only for a broker that keeps
    /// each session's user destinations private by itself. Brokers that support pattern
    /// subscriptions override it ([`SimpleBroker`] and the backplane do).
    fn publish_to_session<'a>(
        &'a self,
        session: &'a SessionId,
        message: Message,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let _ = session;
        self.publish(message)
    }

    /// Acknowledges the delivery whose MESSAGE carried `ack: ack_id` (STOMP 1.2 terms; see
    /// [`acknowledge`](Self::acknowledge) for every version).
    fn ack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Rejects the delivery whose MESSAGE carried `ack: ack_id` (STOMP 1.2 terms; see
    /// [`acknowledge`](Self::acknowledge) for every version).
    fn nack<'a>(
        &'a self,
        session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Settles a delivery named as a client of any version names it (see
    /// [`Acknowledgement`]); sessions call this for every ACK and NACK. The default calls
    /// [`ack`](Self::ack) or [`nack`](Self::nack) with `ack.id` and does not check
    /// `ack.subscription`; brokers that know which subscription a delivery belongs to
    /// override it and refuse a delivery of another subscription (the in-tree brokers do).
    fn acknowledge<'a>(
        &'a self,
        session: &'a SessionId,
        ack: Acknowledgement<'a>,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        if ack.nack {
            self.nack(session, ack.id)
        } else {
            self.ack(session, ack.id)
        }
    }

    /// The session is gone: drop its subscriptions and hand its un-acked messages on.
    fn session_closed<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, ()>;

    /// Bytes of messages the broker holds in this process (queued and un-acked), counted
    /// against the engine's [`MemoryBudget`](crate::memory::MemoryBudget) total. Read on
    /// every budget check: must be cheap (an atomic load). Default: 0 (nothing held
    /// locally, e.g. a relay).
    fn held_bytes(&self) -> usize {
        0
    }

    /// Publishes the broker's own figures (queue depths, pending ACKs, link state) to the
    /// `metrics` recorder; the engine calls it when it publishes its own (feature
    /// `metrics`, see [`telemetry`](crate::telemetry)). Default: nothing.
    fn record_metrics(&self) {}
}
