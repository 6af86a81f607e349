//! Test support for the user-destination, template and authorization tests: a recording
//! broker double that delivers by exact destination, sessions with real outbound queues,
//! and a tiny MESSAGE reader.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use stomp_core::broker::{BoxFuture, Broker, BrokerError, Message, Subscriber, Subscription};
use stomp_core::codec::PreparedMessage;
use stomp_core::identity::{Attributes, Principal, SessionId, SessionInfo};
use stomp_core::outbound::{self, OutboundConfig, OutboundReceiver};
use stomp_core::Version;

/// How the double's `publish` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum PublishMode {
    /// Deliver at once.
    #[default]
    Deliver,
    /// Never complete (a broker that does not take the message).
    Stall,
}

#[derive(Default)]
struct State {
    subscriptions: Vec<Subscription>,
    published: Vec<Message>,
    full_queues: HashSet<String>,
    mode: PublishMode,
    next_id: u64,
}

/// A broker double: records every call, delivers each publish to the subscriptions whose
/// destination equals the message's routing destination.
#[derive(Clone, Default)]
pub(crate) struct TestBroker {
    state: Arc<Mutex<State>>,
}

impl TestBroker {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn set_mode(&self, mode: PublishMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Publishes to `destination` fail with `QueueFull`.
    pub(crate) fn fill_queue(&self, destination: &str) {
        self.state
            .lock()
            .unwrap()
            .full_queues
            .insert(destination.to_owned());
    }

    pub(crate) fn published(&self) -> Vec<Message> {
        self.state.lock().unwrap().published.clone()
    }

    pub(crate) fn subscribed_destinations(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .iter()
            .map(|s| s.destination.to_string())
            .collect()
    }

    pub(crate) fn arc(&self) -> Arc<dyn Broker> {
        Arc::new(self.clone())
    }
}

impl Broker for TestBroker {
    fn subscribe(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), BrokerError>> {
        let mut st = self.state.lock().unwrap();
        let dup = st.subscriptions.iter().any(|s| {
            s.subscriber.session == subscription.subscriber.session && s.id == subscription.id
        });
        let result = if dup {
            Err(BrokerError::DuplicateSubscription(
                subscription.id.to_string(),
            ))
        } else {
            st.subscriptions.push(subscription);
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn unsubscribe<'a>(
        &'a self,
        session: &'a SessionId,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let mut st = self.state.lock().unwrap();
        let before = st.subscriptions.len();
        st.subscriptions
            .retain(|s| !(&s.subscriber.session == session && s.id == id));
        let result = if st.subscriptions.len() < before {
            Ok(())
        } else {
            Err(BrokerError::UnknownSubscription(id.to_owned()))
        };
        Box::pin(async move { result })
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>> {
        let mut st = self.state.lock().unwrap();
        if st.mode == PublishMode::Stall {
            return Box::pin(std::future::pending());
        }
        if st.full_queues.contains(&*message.destination) {
            let d = message.destination.to_string();
            return Box::pin(async move { Err(BrokerError::QueueFull(d)) });
        }
        let prepared = PreparedMessage::new(&message.headers, &message.body);
        let targets: Vec<Subscription> = st
            .subscriptions
            .iter()
            .filter(|s| s.destination == message.destination)
            .cloned()
            .collect();
        for sub in targets {
            st.next_id += 1;
            let mut dst = BytesMut::new();
            prepared.write_delivery(
                sub.subscriber.version,
                &sub.id,
                &st.next_id.to_string(),
                None,
                &mut dst,
            );
            let _ = sub.subscriber.outbound.send(dst.freeze());
        }
        st.published.push(message);
        Box::pin(async { Ok(()) })
    }

    fn ack<'a>(&'a self, _: &'a SessionId, _: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }

    fn nack<'a>(&'a self, _: &'a SessionId, _: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }

    fn session_closed<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, ()> {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .retain(|s| &s.subscriber.session != session);
        Box::pin(async {})
    }
}

/// A connected client as the tests see it.
pub(crate) struct TestSession {
    pub(crate) info: SessionInfo,
    pub(crate) subscriber: Subscriber,
    pub(crate) outbound: OutboundReceiver,
}

impl TestSession {
    pub(crate) fn new(id: &str, user: Option<&str>) -> Self {
        Self::with_principal(id, user.map(Principal::new))
    }

    pub(crate) fn with_principal(id: &str, principal: Option<Principal>) -> Self {
        let (tx, rx) = outbound::channel(OutboundConfig::default());
        let info = SessionInfo {
            id: SessionId::from(id),
            principal,
            version: Version::V1_2,
            attributes: Attributes::default(),
        };
        let subscriber = Subscriber {
            session: info.id.clone(),
            version: Version::V1_2,
            outbound: tx,
        };
        TestSession {
            info,
            subscriber,
            outbound: rx,
        }
    }

    /// A SUBSCRIBE as the session would hand it to the channel (destination as sent).
    pub(crate) fn subscription(&self, id: &str, destination: &str) -> Subscription {
        Subscription {
            subscriber: self.subscriber.clone(),
            id: id.into(),
            destination: destination.into(),
            ack: Default::default(),
            headers: Default::default(),
        }
    }

    /// Every MESSAGE queued for this session so far.
    pub(crate) fn messages(&mut self) -> Vec<ReceivedMessage> {
        let mut out = Vec::new();
        while let Some(item) = self.outbound.try_next() {
            if let outbound::Outbound::Frame(bytes) = item {
                out.push(ReceivedMessage::parse(&bytes));
            }
        }
        out
    }
}

/// A MESSAGE frame read back from an outbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceivedMessage {
    pub(crate) command: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl ReceivedMessage {
    /// Reads one frame (no escapes in the test values).
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        let text = std::str::from_utf8(bytes).expect("utf-8 frame");
        let (head, body) = text.split_once("\n\n").expect("blank line");
        let mut lines = head.lines();
        let command = lines.next().expect("command").to_owned();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let body = body.strip_suffix('\0').expect("NUL");
        ReceivedMessage {
            command,
            headers,
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn destination(&self) -> &str {
        self.header("destination").expect("destination header")
    }

    pub(crate) fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}
