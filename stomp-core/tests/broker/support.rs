//! Shared helpers of the broker tests: outbound channels stand in for sessions.

use stomp_core::broker::{AckMode, Broker, Message, SimpleBroker, Subscriber, Subscription};
use stomp_core::identity::SessionId;
use stomp_core::outbound::{channel, Outbound, OutboundConfig, OutboundReceiver};
use stomp_core::{Headers, Version};

/// A received MESSAGE frame, parsed with plain string handling.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) raw: String,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let head = self.raw.split("\n\n").next()?;
        head.lines()
            .skip(1)
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
    }

    pub(crate) fn h(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.raw))
    }

    pub(crate) fn body(&self) -> &str {
        let (_, body) = self.raw.split_once("\n\n").expect("blank line");
        body.strip_suffix('\0').expect("NUL")
    }
}

pub(crate) struct Client {
    pub(crate) session: SessionId,
    pub(crate) subscriber: Subscriber,
    pub(crate) rx: OutboundReceiver,
}

impl Client {
    pub(crate) fn new(session: &str) -> Self {
        Self::with_config(session, OutboundConfig::default())
    }

    pub(crate) fn with_config(session: &str, config: OutboundConfig) -> Self {
        let (tx, rx) = channel(config);
        let session = SessionId::from(session);
        Client {
            subscriber: Subscriber {
                session: session.clone(),
                version: Version::V1_2,
                outbound: tx,
            },
            session,
            rx,
        }
    }

    pub(crate) fn sub(&self, id: &str, destination: &str, ack: AckMode) -> Subscription {
        Subscription {
            subscriber: self.subscriber.clone(),
            id: id.into(),
            destination: destination.into(),
            ack,
            headers: Headers::new(),
        }
    }

    /// Everything queued so far.
    pub(crate) fn drain(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        while let Some(item) = self.rx.try_next() {
            if let Outbound::Frame(bytes) = item {
                let raw = String::from_utf8(bytes.to_vec()).expect("utf-8");
                assert!(raw.starts_with("MESSAGE\n"), "{raw:?}");
                out.push(Received { raw });
            }
        }
        out
    }

    pub(crate) fn bodies(&mut self) -> Vec<String> {
        self.drain().iter().map(|m| m.body().to_string()).collect()
    }
}

pub(crate) fn message(destination: &str, body: &str) -> Message {
    Message {
        destination: destination.into(),
        headers: [("destination", destination), ("content-type", "text/plain")]
            .into_iter()
            .collect(),
        body: body.to_string().into(),
    }
}

pub(crate) async fn publish(broker: &SimpleBroker, destination: &str, body: &str) {
    broker
        .publish(message(destination, body))
        .await
        .expect("publish");
}

/// Subscribes `client` (the subscription must be accepted).
pub(crate) async fn subscribe(
    broker: &SimpleBroker,
    client: &Client,
    id: &str,
    destination: &str,
    ack: AckMode,
) {
    broker
        .subscribe(client.sub(id, destination, ack))
        .await
        .expect("subscribe");
}
