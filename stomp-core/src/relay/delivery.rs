//! Deliveries from the external broker, re-encoded for a client session, and the ack ids
//! that lead back to the broker.
//!
//! The id a client acknowledges with is `{broker subscription id}/{broker ack id}`: the relay
//! chooses the broker subscription ids (they never contain `/`), so it can tell from an ACK
//! alone which of the session's subscriptions, and so which broker connection, it belongs
//! to. Each subscription that acknowledges keeps the broker ack ids it has not settled
//! yet, in delivery order: an ACK must name one of them, so a session cannot settle another
//! session's messages on a shared connection.
//!
//! # Only the owner receives a user destination's messages
//!
//! Every message the relay publishes to a resolved user destination carries
//! [`USER_DESTINATION_HEADER`] (a client cannot set it: the relay strips it from what it
//! publishes). A delivery that carries it is handed to a session only if its `destination`
//! is one of that session's own resolved destinations (`...-user{session}`), whatever
//! broker-side route brought it: a wildcard subscription (`/topic/#`, `/topic/*`,
//! `/exchange/amq.topic/#`) gets copies of every session's `/topic/...-user{id}` messages
//! from RabbitMQ, and they stop here. A copy in the subscriber's own subscription queue is
//! dropped (and acknowledged to the broker, so it does not hold the prefetch window); a
//! message that came out of a named queue (`/queue/...`, `/amq/queue/...`) means the
//! subscription consumes another session's queue, so the session is closed with an ERROR
//! and, its broker connection going with it, the broker gets the message back for its
//! owner. The SUBSCRIBE-side guards (resolved names refused by the session, `x-queue-name`
//! never forwarded by default, see [`HeaderPolicy`](super::HeaderPolicy)) keep a session
//! from getting there in the first place.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use bytestring::ByteString;

use crate::broker::{AckMode, Subscriber};
use crate::client::WeakSender;
use crate::codec::encode;
use crate::frame::{name, Command, Frame, Headers};
use crate::outbound::CloseReason;
use crate::version::Version;

/// Where one broker subscription's messages go.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) subscriber: Subscriber,
    /// The subscription id the client chose.
    pub(crate) client_id: ByteString,
    pub(crate) ack: AckMode,
    /// Broker ack ids delivered and not yet settled, oldest first (empty for `auto`).
    pub(crate) pending: Arc<Mutex<VecDeque<ByteString>>>,
    /// The broker connection, for acknowledging deliveries the session must not see (set
    /// for subscriptions that acknowledge).
    pub(crate) broker: Option<WeakSender>,
}

/// Text of the ERROR a session gets when one of its subscriptions turns out to consume
/// another session's user destination queue.
pub(crate) const FOREIGN_QUEUE: &str =
    "subscription receives another session's user destination messages";

/// Header carrying a user destination's user-facing form (`/user/queue/reply`) through the
/// external broker, which only knows the session's resolved destination
/// (`/queue/reply-user{session}`). The relay sets it on publish and turns it back into the
/// MESSAGE `destination` on delivery. It also marks the message as private: a delivery
/// carrying it reaches a session only on that session's own resolved destination, so a
/// wildcard subscription (`/topic/#`) never shows another session's user messages.
pub const USER_DESTINATION_HEADER: &str = "x-user-destination";

/// Most un-acked messages a subscription may hold; a session past it is closed.
pub(crate) const MAX_PENDING: usize = 65_536;

impl Route {
    pub(crate) fn new(subscriber: Subscriber, client_id: ByteString, ack: AckMode) -> Self {
        Route {
            subscriber,
            client_id,
            ack,
            pending: Arc::default(),
            broker: None,
        }
    }

    /// Sets the broker connection on which deliveries the session must not see are
    /// acknowledged.
    pub(crate) fn with_broker(mut self, broker: WeakSender) -> Self {
        self.broker = Some(broker);
        self
    }

    fn pending(&self) -> MutexGuard<'_, VecDeque<ByteString>> {
        crate::sync::lock(&self.pending)
    }

    /// Settles broker ack id `ack` (and, for cumulative `client` subscriptions, every
    /// earlier one). `false` if it is not pending.
    pub(crate) fn settle(&self, ack: &str) -> bool {
        let mut pending = self.pending();
        let Some(position) = pending.iter().position(|id| id == ack) else {
            return false;
        };
        match self.ack {
            AckMode::Client => {
                pending.drain(..=position);
            }
            _ => {
                pending.remove(position);
            }
        }
        true
    }

    /// Takes every unsettled broker ack id, oldest first.
    #[cfg(test)]
    pub(crate) fn take_pending(&self) -> Vec<ByteString> {
        self.pending().drain(..).collect()
    }

    /// Re-encodes a MESSAGE from the broker for the client session and queues it without
    /// waiting.
    pub(crate) fn deliver(&self, frame: &Frame) {
        if self.is_foreign(frame) {
            self.refuse(frame);
            return;
        }
        if self.ack != AckMode::Auto {
            if let Some(ack) = frame
                .headers
                .get(name::ACK)
                .or_else(|| frame.headers.message_id())
            {
                let mut pending = self.pending();
                if pending.len() >= MAX_PENDING {
                    drop(pending);
                    Route::close_session(&self.subscriber, "too many unacknowledged messages");
                    return;
                }
                pending.push_back(ByteString::from(ack));
            }
        }
        let message = self.rewrite(frame);
        let mut dst = BytesMut::new();
        encode(&message, self.subscriber.version, &mut dst);
        // A full queue applies the session's slow-consumer policy; a closed one means the
        // session is going away. Either way there is nothing to wait for.
        let _ = self.subscriber.outbound.send(dst.freeze());
    }

    /// The MESSAGE as the client sees it: its own subscription id, and an ack id that
    /// leads back to the broker when the subscription acknowledges.
    pub(crate) fn rewrite(&self, frame: &Frame) -> Frame {
        let broker_sub = frame.headers.subscription().unwrap_or("");
        let broker_ack = frame
            .headers
            .get(name::ACK)
            .or_else(|| frame.headers.message_id());
        let client_ack = match (self.ack, broker_ack) {
            (AckMode::Auto, _) | (_, None) => None,
            (_, Some(ack)) => Some(client_ack_id(broker_sub, ack)),
        };
        let mut headers = Headers::with_capacity(frame.headers.len() + 1);
        headers.append(name::SUBSCRIPTION, self.client_id.clone());
        let user_facing = frame
            .headers
            .get(USER_DESTINATION_HEADER)
            .filter(|_| self.is_own_user_destination(frame.headers.destination()));
        for (n, v) in frame.headers.entries() {
            match &**n {
                name::SUBSCRIPTION | name::ACK | name::CONTENT_LENGTH | USER_DESTINATION_HEADER => {
                }
                name::DESTINATION if user_facing.is_some() => {
                    headers.append(n.clone(), user_facing.unwrap_or_default());
                }
                name::MESSAGE_ID if self.subscriber.version < Version::V1_2 => {
                    // STOMP 1.0/1.1 clients acknowledge by message-id.
                    match &client_ack {
                        Some(ack) => headers.append(n.clone(), ack.clone()),
                        None => headers.append(n.clone(), v.clone()),
                    }
                }
                _ => headers.append(n.clone(), v.clone()),
            }
        }
        if let Some(ack) = client_ack {
            if self.subscriber.version >= Version::V1_2 {
                headers.append(name::ACK, ack);
            }
        }
        Frame {
            command: Command::Message,
            headers,
            body: frame.body.clone(),
        }
    }

    /// Whether `frame` is a user destination message for another session (see the module
    /// docs).
    pub(crate) fn is_foreign(&self, frame: &Frame) -> bool {
        frame.headers.contains(USER_DESTINATION_HEADER)
            && !self.is_own_user_destination(frame.headers.destination())
    }

    /// Keeps a foreign delivery from the session: a copy in the session's own subscription
    /// queue is dropped (and acknowledged, if the subscription acknowledges); one from a
    /// named queue ends the session, whose broker connection then gives it back.
    fn refuse(&self, frame: &Frame) {
        let destination = frame.headers.destination().unwrap_or("");
        let from_queue = destination.starts_with("/queue/") || destination.starts_with("/amq/");
        tracing::warn!(
            session = %self.subscriber.session,
            destination,
            "dropped another session's user destination message"
        );
        if from_queue {
            Route::close_session(&self.subscriber, FOREIGN_QUEUE);
            return;
        }
        let Some(ack) = frame
            .headers
            .get(name::ACK)
            .or_else(|| frame.headers.message_id())
        else {
            return;
        };
        match self.ack {
            AckMode::Auto => return,
            AckMode::Client => {
                // Acknowledgements are cumulative: settling this one now would settle the
                // session's earlier deliveries too. Its ack id waits, unseen, among the
                // pending ones, and the session's next ACK of a later message settles it.
                let mut pending = self.pending();
                if pending.len() >= MAX_PENDING {
                    drop(pending);
                    Route::close_session(&self.subscriber, "too many unacknowledged messages");
                } else {
                    pending.push_back(ByteString::from(ack));
                }
                return;
            }
            AckMode::ClientIndividual => {}
        }
        let Some(broker) = &self.broker else {
            return;
        };
        let broker_sub = frame.headers.subscription().unwrap_or("");
        let mut settle = Frame::new(Command::Ack);
        if broker.version() >= Version::V1_2 {
            settle.headers.append(name::ID, ack);
        } else {
            settle.headers.append(name::MESSAGE_ID, ack);
            settle.headers.append(name::SUBSCRIPTION, broker_sub);
        }
        if !broker.try_send(&settle) {
            // The write queue is full or the connection is gone: the message stays
            // un-acked in the session's own subscription queue until the session ends.
            tracing::debug!(session = %self.subscriber.session, "could not settle a dropped delivery");
        }
    }

    /// Whether `destination` is one of this session's resolved user destinations
    /// (`...-user{session}`): only then may the broker's MESSAGE name its user-facing form.
    fn is_own_user_destination(&self, destination: Option<&str>) -> bool {
        let session = self.subscriber.session.as_str();
        destination
            .and_then(|d| d.strip_suffix(session))
            .is_some_and(|d| d.ends_with("-user"))
    }

    /// Tells the session its broker connection is gone: an ERROR frame, then close.
    pub(crate) fn close_session(subscriber: &Subscriber, reason: &str) {
        let error = Frame::error(reason.to_owned(), reason.to_owned());
        let mut dst = BytesMut::new();
        encode(&error, subscriber.version, &mut dst);
        let _ = subscriber.outbound.send(dst.freeze());
        subscriber
            .outbound
            .close(CloseReason::Error(reason.to_owned()));
    }
}

/// The ack id a client sees for broker subscription `broker_sub` and broker ack id `ack`.
pub(crate) fn client_ack_id(broker_sub: &str, ack: &str) -> ByteString {
    let mut id = String::with_capacity(broker_sub.len() + ack.len() + 1);
    id.push_str(broker_sub);
    id.push('/');
    id.push_str(ack);
    id.into()
}

/// Splits a client's ack id into the broker subscription id and the broker's ack id.
pub(crate) fn split_ack_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(sub, ack)| !sub.is_empty() && !ack.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SessionId;
    use crate::outbound::{self, OutboundConfig};

    fn route(ack: AckMode, version: Version) -> (Route, outbound::OutboundReceiver) {
        let (tx, rx) = outbound::channel(OutboundConfig::default());
        let subscriber = Subscriber {
            session: SessionId::from("s1"),
            version,
            outbound: tx,
        };
        let route = Route::new(subscriber, ByteString::from("client-sub"), ack);
        (route, rx)
    }

    fn broker_message() -> Frame {
        Frame::new(Command::Message)
            .header("subscription", "sub-7")
            .header("destination", "/queue/q")
            .header("message-id", "T_sub-7@@1")
            .header("ack", "T_sub-7@@1")
            .header("redelivered", "false")
            .header("content-length", "2")
            .body("hi")
    }

    #[test]
    fn rewrites_subscription_and_ack_ids() {
        let cases = [
            (AckMode::Auto, Version::V1_2, None, "T_sub-7@@1"),
            (
                AckMode::ClientIndividual,
                Version::V1_2,
                Some("sub-7/T_sub-7@@1"),
                "T_sub-7@@1",
            ),
            (
                AckMode::Client,
                Version::V1_2,
                Some("sub-7/T_sub-7@@1"),
                "T_sub-7@@1",
            ),
            (AckMode::Client, Version::V1_1, None, "sub-7/T_sub-7@@1"),
            (AckMode::Auto, Version::V1_1, None, "T_sub-7@@1"),
        ];
        for (ack, version, ack_header, message_id) in cases {
            let (route, _rx) = route(ack, version);
            let frame = route.rewrite(&broker_message());
            assert_eq!(frame.headers.subscription(), Some("client-sub"), "{ack:?}");
            assert_eq!(frame.headers.get("ack"), ack_header, "{ack:?} {version:?}");
            assert_eq!(frame.headers.message_id(), Some(message_id), "{ack:?}");
            assert_eq!(frame.headers.get("redelivered"), Some("false"));
            assert_eq!(frame.headers.get_all("subscription").count(), 1);
            assert_eq!(frame.body.as_ref(), b"hi");
        }
    }

    #[test]
    fn user_facing_destinations_come_back_only_for_the_own_session() {
        let cases = [
            (
                "/queue/reply-users1",
                Some("/user/queue/reply"),
                "/user/queue/reply",
            ),
            (
                "/queue/reply-users2",
                Some("/user/queue/reply"),
                "/queue/reply-users2",
            ),
            ("/topic/news", Some("/user/queue/reply"), "/topic/news"),
            ("/queue/reply-users1", None, "/queue/reply-users1"),
        ];
        for (destination, facing, expected) in cases {
            let (route, _rx) = route(AckMode::Auto, Version::V1_2);
            let mut frame = Frame::new(Command::Message)
                .header("subscription", "sub-1")
                .header("destination", destination);
            if let Some(facing) = facing {
                frame = frame.header(USER_DESTINATION_HEADER, facing);
            }
            let out = route.rewrite(&frame);
            assert_eq!(out.headers.destination(), Some(expected), "{destination}");
            assert!(!out.headers.contains(USER_DESTINATION_HEADER));
        }
    }

    #[tokio::test]
    async fn other_sessions_user_messages_are_not_delivered() {
        let private = |destination: &str| {
            Frame::new(Command::Message)
                .header("subscription", "sub-1")
                .header("destination", destination)
                .header("message-id", "m1")
                .header("ack", "m1")
                .header(USER_DESTINATION_HEADER, "/user/topic/notes")
                .body("secret")
        };
        // A pattern subscription's copy of another session's message: dropped. A cumulative
        // (`client`) subscription keeps its ack id, unseen, for the next ACK to settle.
        for mode in [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual] {
            let (route, mut rx) = route(mode, Version::V1_2);
            route.deliver(&private("/topic/notes-users2"));
            route.deliver(&broker_message());
            match rx.next().await {
                outbound::Next::Item(outbound::Outbound::Frame(bytes)) => {
                    assert!(bytes.ends_with(b"\n\nhi\0"), "{mode:?}");
                }
                other => panic!("expected the public message, got {other:?}"),
            }
            let pending = route.take_pending();
            match mode {
                AckMode::Client => assert_eq!(pending, ["m1", "T_sub-7@@1"]),
                AckMode::ClientIndividual => assert_eq!(pending, ["T_sub-7@@1"]),
                _ => assert!(pending.is_empty()),
            }
        }
        // The session's own: delivered under its user-facing name.
        let (own, mut rx) = route(AckMode::Auto, Version::V1_2);
        own.deliver(&private("/topic/notes-users1"));
        match rx.next().await {
            outbound::Next::Item(outbound::Outbound::Frame(bytes)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                assert!(text.contains("destination:/user/topic/notes\n"), "{text}");
            }
            other => panic!("expected the own message, got {other:?}"),
        }
        // Out of another session's named queue: the subscription consumes that queue, so
        // the session ends.
        let (consumer, mut rx) = route(AckMode::Auto, Version::V1_2);
        consumer.deliver(&private("/queue/private-users2"));
        match rx.next().await {
            outbound::Next::Item(outbound::Outbound::Frame(bytes)) => {
                assert!(bytes.starts_with(b"ERROR\n"));
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
        assert_eq!(
            rx.next().await,
            outbound::Next::Close(CloseReason::Error(FOREIGN_QUEUE.into()))
        );
    }

    #[test]
    fn settling_is_individual_or_cumulative() {
        let cases = [
            (AckMode::ClientIndividual, "b", true, vec!["a", "c"]),
            (AckMode::Client, "b", true, vec!["c"]),
            (AckMode::Client, "x", false, vec!["a", "b", "c"]),
        ];
        for (mode, ack, settled, left) in cases {
            let (route, _rx) = route(mode, Version::V1_2);
            route
                .pending()
                .extend(["a", "b", "c"].map(ByteString::from_static));
            assert_eq!(route.settle(ack), settled, "{mode:?} {ack}");
            assert_eq!(route.take_pending(), left, "{mode:?} {ack}");
        }
    }

    #[test]
    fn ack_ids_split_back() {
        let id = client_ack_id("sub-7", "T_sub-7@@session/x@@1");
        assert_eq!(split_ack_id(&id), Some(("sub-7", "T_sub-7@@session/x@@1")));
        for bad in ["", "/", "sub-7", "/ack", "sub-7/"] {
            assert_eq!(split_ack_id(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn delivery_queues_an_encoded_message_for_the_session() {
        let (route, mut rx) = route(AckMode::Auto, Version::V1_2);
        route.deliver(&broker_message());
        match rx.next().await {
            outbound::Next::Item(outbound::Outbound::Frame(bytes)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                assert!(
                    text.starts_with("MESSAGE\nsubscription:client-sub\n"),
                    "{text}"
                );
                assert!(text.ends_with("\n\nhi\0"), "{text}");
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn closing_a_session_sends_error_then_closes() {
        let (route, mut rx) = route(AckMode::Auto, Version::V1_2);
        Route::close_session(&route.subscriber, "broker connection lost");
        match rx.next().await {
            outbound::Next::Item(outbound::Outbound::Frame(bytes)) => {
                assert!(bytes.starts_with(b"ERROR\nmessage:broker connection lost\n"));
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
        assert_eq!(
            rx.next().await,
            outbound::Next::Close(CloseReason::Error("broker connection lost".into()))
        );
    }
}
