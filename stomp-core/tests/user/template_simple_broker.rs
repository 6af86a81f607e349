//! The messaging template in front of the real `SimpleBroker`: order, and a full queue is an
//! error, not a hang.

use std::sync::Arc;

use crate::support::TestSession;
use stomp_core::broker::{BrokerError, SimpleBroker, SimpleBrokerConfig};
use stomp_core::channel::BrokerChannel;
use stomp_core::frame::Headers;
use stomp_core::template::{MessagingTemplate, TemplateError};

fn setup(config: SimpleBrokerConfig) -> (BrokerChannel, MessagingTemplate) {
    let channel = BrokerChannel::new(Arc::new(SimpleBroker::new(config)));
    let template = MessagingTemplate::from_channel(channel.clone());
    (channel, template)
}

async fn connect(channel: &BrokerChannel, id: &str, destination: &str) -> TestSession {
    let s = TestSession::new(id, Some(id));
    channel
        .session_opened(&s.info, &Headers::new())
        .await
        .unwrap();
    channel
        .subscribe(&s.info, s.subscription("0", destination))
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn topic_messages_reach_every_subscriber_in_order() {
    let (channel, template) = setup(SimpleBrokerConfig::new());
    let mut a = connect(&channel, "a", "/topic/feed").await;
    let mut b = connect(&channel, "b", "/topic/**").await;
    for i in 0..100 {
        template.send("/topic/feed", format!("m{i}")).await.unwrap();
    }
    let want: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    for s in [&mut a, &mut b] {
        let got = s.messages();
        assert!(got.iter().all(|m| m.destination() == "/topic/feed"));
        let bodies: Vec<String> = got.iter().map(|m| m.body_str().to_owned()).collect();
        assert_eq!(bodies, want);
    }
}

#[tokio::test]
async fn a_full_queue_is_an_error_not_a_hang() {
    let (channel, template) = setup(SimpleBrokerConfig::new().max_queue_depth(2));
    template.send("/queue/jobs", "1").await.unwrap();
    template.send("/queue/jobs", "2").await.unwrap();
    let err = template.send("/queue/jobs", "3").await.unwrap_err();
    assert!(
        matches!(err, TemplateError::Broker(BrokerError::QueueFull(ref q)) if q == "/queue/jobs"),
        "{err:?}"
    );
    // A consumer gets the two that fit, in order.
    let mut worker = connect(&channel, "w", "/queue/jobs").await;
    let bodies: Vec<String> = worker
        .messages()
        .iter()
        .map(|m| m.body_str().to_owned())
        .collect();
    assert_eq!(bodies, ["1", "2"]);
}

#[tokio::test]
async fn destinations_the_broker_does_not_serve_are_errors() {
    let (_, template) = setup(SimpleBrokerConfig::new());
    let err = template.send("/elsewhere/x", "1").await.unwrap_err();
    assert!(matches!(
        err,
        TemplateError::Broker(BrokerError::InvalidDestination { .. })
    ));
}
