//! Test support for the application router: a recording broker and request builders.

use std::sync::{Arc, Mutex};

use bytestring::ByteString;
use stomp_core::app::{AppRequest, AppRequestKind};
use stomp_core::broker::{BoxFuture, Broker, BrokerError, Message, Subscriber, Subscription};
use stomp_core::channel::BrokerChannel;
use stomp_core::identity::{Attributes, Principal, SessionId, SessionInfo};
use stomp_core::outbound::{self, OutboundConfig, OutboundReceiver};
use stomp_core::template::MessagingTemplate;
use stomp_core::{Command, Frame, Version};

/// A broker that records what is published.
#[derive(Default)]
pub(crate) struct Recording {
    pub(crate) published: Mutex<Vec<Message>>,
}

impl Recording {
    pub(crate) fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *self.published.lock().unwrap())
    }
}

impl Broker for Recording {
    fn subscribe(&self, _: Subscription) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }
    fn unsubscribe<'a>(
        &'a self,
        _: &'a SessionId,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>> {
        self.published.lock().unwrap().push(message);
        Box::pin(async { Ok(()) })
    }
    fn ack<'a>(&'a self, _: &'a SessionId, _: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }
    fn nack<'a>(&'a self, _: &'a SessionId, _: &'a str) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }
    fn session_closed<'a>(&'a self, _: &'a SessionId) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// A broker, a template on it, and a session.
pub(crate) struct Harness {
    pub(crate) broker: Arc<Recording>,
    pub(crate) template: MessagingTemplate,
    pub(crate) session: SessionInfo,
}

impl Harness {
    pub(crate) fn new(user: Option<&str>) -> Self {
        let broker = Arc::new(Recording::default());
        let template = MessagingTemplate::new(BrokerChannel::new(broker.clone()), "/user");
        let session = SessionInfo {
            id: SessionId::from("s1"),
            principal: user.map(Principal::new),
            version: Version::V1_2,
            attributes: Attributes::default(),
        };
        Harness {
            broker,
            template,
            session,
        }
    }

    /// Registers a session `id` of `user` (this harness's own session when `id` is its
    /// id) subscribed to the user destination `/user{destination}`.
    pub(crate) fn user_session(&self, id: &str, user: &str, destination: &str) {
        let registry = self.template.channel().user_registry();
        let mut info = self.session.clone();
        info.id = SessionId::from(id);
        info.principal = Some(Principal::new(user));
        registry.session_connected(&info);
        registry.subscription_added(&info.id, "u-0", format!("/user{destination}"));
    }

    /// A SEND to `/app{path}`.
    pub(crate) fn send(&self, path: &str, headers: &[(&str, &str)], body: &str) -> AppRequest {
        let mut frame = Frame::new(Command::Send).header("destination", format!("/app{path}"));
        for (n, v) in headers {
            frame = frame.header(*n, *v);
        }
        AppRequest {
            kind: AppRequestKind::Send,
            frame: frame.body(body.to_owned()),
            lookup_path: ByteString::from(path),
            session: self.session.clone(),
            template: self.template.clone(),
        }
    }

    /// A SUBSCRIBE to `/app{path}` with id `sub-0`, and the subscriber's outbound queue.
    pub(crate) fn subscribe(&self, path: &str) -> (AppRequest, OutboundReceiver) {
        let (tx, rx) = outbound::channel(OutboundConfig::default());
        let frame = Frame::new(Command::Subscribe)
            .header("destination", format!("/app{path}"))
            .header("id", "sub-0");
        let request = AppRequest {
            kind: AppRequestKind::Subscribe {
                subscriber: Subscriber {
                    session: self.session.id.clone(),
                    version: Version::V1_2,
                    outbound: tx,
                },
                subscription_id: "sub-0".into(),
            },
            frame,
            lookup_path: ByteString::from(path),
            session: self.session.clone(),
            template: self.template.clone(),
        };
        (request, rx)
    }
}

/// The body of a message as text.
pub(crate) fn body(m: &Message) -> &str {
    std::str::from_utf8(&m.body).unwrap()
}
