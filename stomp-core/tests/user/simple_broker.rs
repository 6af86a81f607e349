//! User destinations through the broker channel in front of the real `SimpleBroker`.

use std::sync::Arc;

use crate::support::TestSession;
use stomp_core::broker::{SimpleBroker, SimpleBrokerConfig};
use stomp_core::channel::BrokerChannel;
use stomp_core::frame::Headers;
use stomp_core::template::MessagingTemplate;

struct World {
    broker: Arc<SimpleBroker>,
    channel: BrokerChannel,
    template: MessagingTemplate,
}

fn world(config: SimpleBrokerConfig) -> World {
    let broker = Arc::new(SimpleBroker::new(config));
    let channel = BrokerChannel::new(broker.clone());
    let template = MessagingTemplate::from_channel(channel.clone());
    World {
        broker,
        channel,
        template,
    }
}

impl World {
    async fn connect(&self, id: &str, user: &str, destination: &str) -> TestSession {
        let s = TestSession::new(id, Some(user));
        self.channel
            .session_opened(&s.info, &Headers::new())
            .await
            .unwrap();
        self.channel
            .subscribe(&s.info, s.subscription("0", destination))
            .await
            .unwrap();
        s
    }
}

#[tokio::test]
async fn both_sessions_of_a_user_get_user_messages_and_another_user_does_not() {
    let w = world(SimpleBrokerConfig::new());
    let mut ann1 = w.connect("s1", "ann", "/user/queue/reply").await;
    let mut ann2 = w.connect("s2", "ann", "/user/queue/reply").await;
    let mut bob = w.connect("s3", "bob", "/user/queue/reply").await;
    assert_eq!(w.broker.subscription_count(), 3);
    for i in 0..10 {
        w.template
            .send_to_user("ann", "/queue/reply", format!("m{i}"))
            .await
            .unwrap();
    }
    let want: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    for s in [&mut ann1, &mut ann2] {
        let got: Vec<String> = s
            .messages()
            .iter()
            .map(|m| m.body_str().to_owned())
            .collect();
        assert_eq!(got, want, "{}", s.info.id);
    }
    assert!(bob.messages().is_empty());
}

#[tokio::test]
async fn a_foreign_resolved_destination_is_refused_before_the_broker_sees_it() {
    let w = world(SimpleBrokerConfig::new());
    let mut ann = w.connect("s1", "ann", "/user/queue/reply").await;
    let mut eve = TestSession::new("s2", Some("eve"));
    w.channel
        .session_opened(&eve.info, &Headers::new())
        .await
        .unwrap();
    let err = w
        .channel
        .subscribe(&eve.info, eve.subscription("0", "/queue/reply-users1"))
        .await
        .unwrap_err();
    assert!(err.is_refusal());
    assert_eq!(w.broker.subscription_count(), 1);
    w.template
        .send_to_user("ann", "/queue/reply", "secret")
        .await
        .unwrap();
    assert_eq!(ann.messages().len(), 1);
    assert!(eve.messages().is_empty());
}

#[tokio::test]
async fn disconnects_empty_the_registry_and_the_broker() {
    let w = world(SimpleBrokerConfig::new());
    let ann1 = w.connect("s1", "ann", "/user/queue/reply").await;
    let ann2 = w.connect("s2", "ann", "/topic/news").await;
    let bob = w.connect("s3", "bob", "/user/topic/alerts").await;
    assert_eq!(w.channel.user_registry().user_count(), 2);
    for s in [&ann1, &ann2, &bob] {
        w.channel.session_closed(&s.info.id).await;
    }
    assert_eq!(w.channel.user_registry().user_count(), 0);
    assert_eq!(w.channel.user_registry().session_count(), 0);
    assert!(w.broker.is_empty());
}

/// The subscriber sees the user-facing destination (`/user/queue/reply`), as in Spring,
/// while the broker routes on the resolved one.
#[tokio::test]
async fn simple_broker_deliveries_show_the_user_facing_destination() {
    let w = world(SimpleBrokerConfig::new());
    let mut ann = w.connect("s1", "ann", "/user/queue/reply").await;
    w.template
        .send_to_user("ann", "/queue/reply", "x")
        .await
        .unwrap();
    assert_eq!(ann.messages()[0].destination(), "/user/queue/reply");
}
