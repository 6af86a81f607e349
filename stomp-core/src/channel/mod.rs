//! The BROKER channel: the one path by which messages reach the broker, whether they come
//! from a client SEND, a handler's reply or the messaging template.
//!
//! What every message goes through here:
//! 1. for a client SEND ([`BrokerChannel::send_from`]), the [`DestinationPolicy`];
//!    server-side publishes ([`BrokerChannel::publish`]) skip it;
//! 2. user destination resolution: a publish to `/user/ann/queue/x` becomes one publish per
//!    session of `ann` subscribed to `/user/queue/x`, routed to
//!    `/queue/x-user{session}` and carrying `destination: /user/queue/x`, handed to
//!    [`Broker::publish_to_session`] so that only that session receives it (never a
//!    pattern subscription, never another session);
//!    A publish to a user queue (`/user/ann/queue/inbox`, see
//!    [`UserDestinations::durable_queue`]) instead becomes one publish, with
//!    `persistent:true`, to the user's queue (`/queue/inbox-user.ann`), which waits for a
//!    session of `ann`;
//! 3. otherwise [`Broker::publish`].
//!
//! A client SEND straight to another session's resolved destination is refused.
//!
//! Sessions also subscribe through the channel ([`BrokerChannel::subscribe`]), which checks
//! the policy, resolves and guards user destinations, and keeps the [`UserRegistry`]
//! current; [`BrokerChannel::session_opened`], [`BrokerChannel::unsubscribe`] and
//! [`BrokerChannel::session_closed`] do the same for the other lifecycle steps.
//!
//! ```
//! use std::sync::Arc;
//! use stomp_core::authz::DestinationRules;
//! use stomp_core::broker::{SimpleBroker, Subscriber, Subscription};
//! use stomp_core::channel::BrokerChannel;
//! use stomp_core::outbound::{self, OutboundConfig};
//! use stomp_core::identity::{Attributes, Principal, SessionId, SessionInfo};
//! use stomp_core::template::MessagingTemplate;
//! use stomp_core::user::UserDestinations;
//! use stomp_core::{Headers, Version};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let channel = BrokerChannel::builder(Arc::new(SimpleBroker::default()))
//!     .user_destinations(UserDestinations::default())
//!     .policy(DestinationRules::new().send("/topic/**").deny_all())
//!     .build();
//! let template = MessagingTemplate::from_channel(channel.clone());
//!
//! // What a session does on CONNECT and SUBSCRIBE:
//! let (tx, mut rx) = outbound::channel(OutboundConfig::default());
//! let info = SessionInfo {
//!     id: SessionId::from("s1"),
//!     principal: Some(Principal::new("ann")),
//!     version: Version::V1_2,
//!     attributes: Attributes::default(),
//! };
//! channel.session_opened(&info, &Headers::new()).await?;
//! let subscription = Subscription {
//!     subscriber: Subscriber { session: info.id.clone(), version: info.version, outbound: tx },
//!     id: "0".into(),
//!     destination: "/user/queue/reply".into(), // as the client sent it
//!     ack: Default::default(),
//!     headers: Headers::new(),
//! };
//! channel.subscribe(&info, subscription).await?; // broker: /queue/reply-users1
//!
//! template.send_to_user("ann", "/queue/reply", "hello").await?;
//! assert!(rx.try_next().is_some());
//! assert_eq!(channel.user_registry().sessions_of("ann"), [info.id.clone()]);
//!
//! channel.session_closed(&info.id).await;
//! assert_eq!(channel.user_registry().user_count(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;

use bytestring::ByteString;

use crate::authz::{self, Access, AccessDenied, AccessRequest, AllowAll, DestinationPolicy};
use crate::broker::{Broker, BrokerError, Message, Subscription};
use crate::frame::{name, Frame, Headers};
use crate::identity::{SessionId, SessionInfo};
use crate::user::{UserDestinationError, UserDestinations, UserRegistry};

/// The header that asks a broker to keep a message (the RabbitMQ / ActiveMQ convention),
/// set on what goes to a user queue.
const PERSISTENT: &str = "persistent";

/// Why the channel refused or failed a SEND or SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The destination policy refused it.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// A SUBSCRIBE to another session's (or user's) destination.
    #[error(transparent)]
    UserDestination(#[from] UserDestinationError),
    /// The broker refused it.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl ChannelError {
    /// The ERROR frame a session sends for this error (its `message` names the destination
    /// for refusals).
    pub fn to_error_frame(&self) -> Frame {
        match self {
            ChannelError::Denied(e) => e.to_error_frame(),
            ChannelError::UserDestination(e) => e.to_error_frame(),
            ChannelError::Broker(e) => Frame::error(e.to_string(), ""),
        }
    }

    /// Whether this is an authorization refusal (policy or user-destination guard).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ChannelError::Denied(_) | ChannelError::UserDestination(_)
        )
    }
}

/// A cheap, clonable handle that hands messages to the broker.
///
/// User destinations (`/user/{name}/...`) are resolved here, so every producer gets the
/// same behaviour.
#[derive(Clone)]
pub struct BrokerChannel {
    broker: Arc<dyn Broker>,
    users: UserDestinations,
    policy: Arc<dyn DestinationPolicy>,
    /// The policy is the default [`AllowAll`] (none was set): [`authorize`](Self::authorize)
    /// answers without the dynamic call.
    allow_all: bool,
    /// `stomp_messages_published_total`.
    #[cfg(feature = "metrics")]
    published: metrics::Counter,
}

impl std::fmt::Debug for BrokerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerChannel")
            .field("user_prefix", &self.users.prefix())
            .finish_non_exhaustive()
    }
}

/// Builds a [`BrokerChannel`] (see [`BrokerChannel::builder`]).
#[must_use]
pub struct BrokerChannelBuilder {
    broker: Arc<dyn Broker>,
    users: UserDestinations,
    policy: Arc<dyn DestinationPolicy>,
    allow_all: bool,
}

impl std::fmt::Debug for BrokerChannelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerChannelBuilder")
            .finish_non_exhaustive()
    }
}

impl BrokerChannelBuilder {
    /// The user destinations (prefix and registry); default: `/user` with a fresh registry.
    pub fn user_destinations(mut self, users: UserDestinations) -> Self {
        self.users = users;
        self
    }

    /// The destination policy for client SENDs and SUBSCRIBEs; default: [`AllowAll`].
    pub fn policy(mut self, policy: impl DestinationPolicy) -> Self {
        self.policy = Arc::new(policy);
        self.allow_all = false;
        self
    }

    /// The channel.
    pub fn build(self) -> BrokerChannel {
        BrokerChannel {
            broker: self.broker,
            users: self.users,
            policy: self.policy,
            allow_all: self.allow_all,
            #[cfg(feature = "metrics")]
            published: crate::telemetry::published(),
        }
    }
}

impl BrokerChannel {
    /// A channel in front of `broker`, with user destinations under `/user` (fresh
    /// registry) and the allow-all policy.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        BrokerChannel::builder(broker).build()
    }

    /// A builder for a channel in front of `broker`.
    pub fn builder(broker: Arc<dyn Broker>) -> BrokerChannelBuilder {
        BrokerChannelBuilder {
            broker,
            users: UserDestinations::default(),
            policy: Arc::new(AllowAll),
            allow_all: true,
        }
    }

    /// The broker behind the channel.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// The user destinations (prefix and registry).
    pub fn user_destinations(&self) -> &UserDestinations {
        &self.users
    }

    /// The user registry (shortcut for `user_destinations().registry()`).
    pub fn user_registry(&self) -> &UserRegistry {
        self.users.registry()
    }

    /// The destination policy.
    pub fn policy(&self) -> &Arc<dyn DestinationPolicy> {
        &self.policy
    }

    /// Asks the policy whether `session` may `access` `destination` (as the client sent it).
    pub fn authorize(
        &self,
        access: Access,
        session: &SessionInfo,
        destination: &str,
    ) -> Result<(), AccessDenied> {
        if self.allow_all {
            // `AllowAll` allows everything (the common case: no policy configured).
            return Ok(());
        }
        authz::check(
            &*self.policy,
            &AccessRequest {
                access,
                session,
                destination,
            },
        )
    }

    /// Publishes a server-side `message` (handler reply, template): resolves user
    /// destinations, skips the policy. Completes when the broker has taken every resulting
    /// publish; on failures the others are still attempted and the first error is returned.
    pub async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        #[cfg(feature = "metrics")]
        self.published.increment(1);
        let Some(send) = self.users.resolve_send(&message.destination) else {
            return self.broker.publish(message).await;
        };
        if let Some(queue) = send.queue {
            // A user queue: one message, to the user's queue, kept for them (on disk when
            // the broker keeps persistent messages). Not forwarded as a user message: the
            // queue is where the user's sessions find it.
            let mut headers = message.headers;
            headers.set(name::DESTINATION, send.user_destination);
            headers.set(PERSISTENT, "true");
            return self
                .broker
                .publish(Message {
                    destination: queue,
                    headers,
                    body: message.body,
                })
                .await;
        }
        self.broker.user_message(&send.user, &message);
        let mut headers = message.headers;
        headers.set(name::DESTINATION, send.user_destination.clone());
        let mut first_error = None;
        for target in send.targets {
            let routed = Message {
                destination: target.destination,
                headers: headers.clone(),
                body: message.body.clone(),
            };
            if let Err(e) = self
                .broker
                .publish_to_session(&target.session, routed)
                .await
            {
                tracing::debug!(session = %target.session, error = %e, "user destination publish failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Publishes a server-side `message` to `session`'s resolved user destination
    /// `message.destination` (e.g. `/queue/reply-user{session}`): only that session
    /// receives it ([`Broker::publish_to_session`]). The policy is skipped, as for
    /// [`publish`](Self::publish).
    pub async fn publish_to_session(
        &self,
        session: &SessionId,
        message: Message,
    ) -> Result<(), BrokerError> {
        #[cfg(feature = "metrics")]
        self.published.increment(1);
        self.broker.publish_to_session(session, message).await
    }

    /// Publishes a client's SEND: the policy decides first (on the destination as sent), a
    /// SEND straight to another session's resolved user destination is refused
    /// ([`UserDestinations::check_send`]), then as [`publish`](Self::publish).
    pub async fn send_from(
        &self,
        session: &SessionInfo,
        message: Message,
    ) -> Result<(), ChannelError> {
        self.authorize(Access::Send, session, &message.destination)?;
        // One prefix test for both steps: a user destination passes `check_send` and is
        // resolved by `publish`; any other is guarded, and `publish` would resolve nothing.
        if self.users.is_user_destination(&message.destination) {
            return Ok(self.publish(message).await?);
        }
        self.users
            .check_send_outside_prefix(&message.destination, session)?;
        #[cfg(feature = "metrics")]
        self.published.increment(1);
        Ok(self.broker.publish(message).await?)
    }

    /// [`send_from`](Self::send_from), with `charge` kept by the broker for as long as it
    /// holds the message ([`Broker::publish_charged`]); a user destination (resolved here)
    /// is published as by `send_from` and the charge released.
    pub async fn send_charged(
        &self,
        session: &SessionInfo,
        message: Message,
        charge: crate::memory::Reservation,
    ) -> Result<(), ChannelError> {
        self.authorize(Access::Send, session, &message.destination)?;
        self.users.check_send(&message.destination, session)?;
        if self.users.resolve_send(&message.destination).is_some() {
            drop(charge);
            return Ok(self.publish(message).await?);
        }
        #[cfg(feature = "metrics")]
        self.published.increment(1);
        Ok(self.broker.publish_charged(message, charge).await?)
    }

    /// The broker destination for a client's SUBSCRIBE to `destination`: the policy decides
    /// (on the destination as sent), another session's user destination is refused, and a
    /// user destination is resolved to the session's own.
    pub fn prepare_subscribe(
        &self,
        session: &SessionInfo,
        destination: &str,
    ) -> Result<ByteString, ChannelError> {
        self.authorize(Access::Subscribe, session, destination)?;
        Ok(self
            .users
            .resolve_subscribe(destination, session)?
            .unwrap_or_else(|| ByteString::from(destination)))
    }

    /// Hook for the session: CONNECT accepted. Records the session in the user registry and
    /// tells the broker; a broker error refuses the CONNECT (and the session is forgotten).
    pub async fn session_opened(
        &self,
        session: &SessionInfo,
        connect: &Headers,
    ) -> Result<(), BrokerError> {
        self.users.registry().session_connected(session);
        let result = self.broker.session_opened(session, connect).await;
        if result.is_err() {
            self.users.registry().session_disconnected(&session.id);
        }
        result
    }

    /// Hook for the session: SUBSCRIBE. `subscription.destination` is the destination as the
    /// client sent it; it is authorized, guarded and resolved
    /// ([`prepare_subscribe`](Self::prepare_subscribe)), subscribed in the broker, and
    /// recorded in the user registry. On `Err` nothing was subscribed.
    pub async fn subscribe(
        &self,
        session: &SessionInfo,
        mut subscription: Subscription,
    ) -> Result<(), ChannelError> {
        let requested = subscription.destination.clone();
        subscription.destination = self.prepare_subscribe(session, &requested)?;
        let id = subscription.id.clone();
        self.broker.subscribe(subscription).await?;
        self.users
            .registry()
            .subscription_added(&session.id, id, requested);
        Ok(())
    }

    /// Hook for the session: UNSUBSCRIBE.
    pub async fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        self.users.registry().subscription_removed(session, id);
        self.broker.unsubscribe(session, id).await
    }

    /// Hook for the session: it ended, however it ended. Forgets it in the user registry and
    /// tells the broker.
    pub async fn session_closed(&self, session: &SessionId) {
        self.users.registry().session_disconnected(session);
        self.broker.session_closed(session).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::policy_fn;
    use crate::broker::SimpleBroker;
    use crate::identity::Attributes;
    use crate::version::Version;

    #[test]
    fn authorize_skips_only_the_default_policy() {
        let broker: Arc<dyn Broker> = Arc::new(SimpleBroker::default());
        let session = SessionInfo {
            id: SessionId::from("s1"),
            principal: None,
            version: Version::V1_2,
            attributes: Attributes::default(),
        };
        let default = BrokerChannel::new(broker.clone());
        let explicit = BrokerChannel::builder(broker.clone())
            .policy(AllowAll)
            .build();
        let deny = BrokerChannel::builder(broker)
            .policy(policy_fn(|r: &AccessRequest<'_>| {
                !r.destination.starts_with("/topic/secret")
            }))
            .build();
        for destination in ["/topic/a", "/topic/secret", "/user/queue/x", "", "/topic/*"] {
            for access in [Access::Send, Access::Subscribe] {
                assert!(default.authorize(access, &session, destination).is_ok());
                assert!(explicit.authorize(access, &session, destination).is_ok());
                assert_eq!(
                    deny.authorize(access, &session, destination).is_err(),
                    destination.starts_with("/topic/secret"),
                    "{destination:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn send_from_guards_every_destination_outside_the_user_prefix() {
        let broker: Arc<dyn Broker> = Arc::new(SimpleBroker::default());
        let channel = BrokerChannel::new(broker);
        let me = SessionInfo {
            id: SessionId::from("s1"),
            principal: None,
            version: Version::V1_2,
            attributes: Attributes::default(),
        };
        let send = |destination: &'static str| {
            let channel = channel.clone();
            let me = me.clone();
            async move {
                let message = Message {
                    headers: Headers::new(),
                    destination: ByteString::from_static(destination),
                    body: bytes::Bytes::new(),
                };
                channel.send_from(&me, message).await
            }
        };
        for destination in ["/queue/x-users2", "/topic/a-users9", "/topic/power-users"] {
            assert!(
                matches!(
                    send(destination).await,
                    Err(ChannelError::UserDestination(_))
                ),
                "{destination}"
            );
        }
        for destination in [
            "/topic/a",
            "/topic/pair-17",
            "/queue/x-users1",
            "/user/bob/queue/x",
            "/user/bob/queue/x-users2",
        ] {
            assert!(send(destination).await.is_ok(), "{destination}");
        }
        // Wildcards stay refused by the broker.
        assert!(matches!(
            send("/topic/*").await,
            Err(ChannelError::Broker(_))
        ));
    }
}
