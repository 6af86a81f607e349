//! The messaging template: ordered delivery, JSON, headers, per-session sends, and errors
//! instead of hangs (broker too slow, queue full).

use std::time::Duration;

use crate::support::{PublishMode, TestBroker, TestSession};
use stomp_core::broker::BrokerError;
use stomp_core::channel::BrokerChannel;
use stomp_core::frame::Headers;
use stomp_core::template::{MessagingTemplate, TemplateError};

async fn setup() -> (TestBroker, BrokerChannel, MessagingTemplate) {
    let broker = TestBroker::new();
    let channel = BrokerChannel::new(broker.arc());
    let template = MessagingTemplate::from_channel(channel.clone());
    (broker, channel, template)
}

async fn connect(channel: &BrokerChannel, id: &str, user: &str, dest: &str) -> TestSession {
    let s = TestSession::new(id, Some(user));
    channel
        .session_opened(&s.info, &Headers::new())
        .await
        .unwrap();
    channel
        .subscribe(&s.info, s.subscription("0", dest))
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn messages_reach_subscribers_in_order() {
    let (_, channel, template) = setup().await;
    let mut a = connect(&channel, "s1", "ann", "/topic/feed").await;
    let mut b = connect(&channel, "s2", "bob", "/topic/feed").await;
    for i in 0..200 {
        template.send("/topic/feed", format!("m{i}")).await.unwrap();
    }
    let want: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    for s in [&mut a, &mut b] {
        let got: Vec<String> = s
            .messages()
            .iter()
            .map(|m| m.body_str().to_owned())
            .collect();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn user_messages_reach_each_session_in_order() {
    let (_, channel, template) = setup().await;
    let mut a1 = connect(&channel, "s1", "ann", "/user/queue/r").await;
    let mut a2 = connect(&channel, "s2", "ann", "/user/queue/r").await;
    for i in 0..50 {
        template
            .send_to_user("ann", "/queue/r", format!("m{i}"))
            .await
            .unwrap();
    }
    let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    for s in [&mut a1, &mut a2] {
        let got: Vec<String> = s
            .messages()
            .iter()
            .map(|m| m.body_str().to_owned())
            .collect();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn json_and_headers() {
    let (_, channel, template) = setup().await;
    let mut a = connect(&channel, "s1", "ann", "/topic/t").await;
    let mut u = connect(&channel, "s2", "bob", "/user/queue/j").await;
    template
        .send_json("/topic/t", &serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let mut headers = Headers::new();
    headers.append("x-trace", "42");
    template
        .send_with_headers("/topic/t", headers.clone(), "h")
        .await
        .unwrap();
    template
        .send_json_to_user("bob", "/queue/j", &[1, 2])
        .await
        .unwrap();
    template
        .send_to_user_with_headers("bob", "/queue/j", headers, "uh")
        .await
        .unwrap();

    let got = a.messages();
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].body_str(), r#"{"n":1}"#);
    assert_eq!(got[1].header("x-trace"), Some("42"));
    assert_eq!(got[1].destination(), "/topic/t");
    let got = u.messages();
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].body_str(), "[1,2]");
    assert_eq!(got[0].destination(), "/user/queue/j");
    assert_eq!(got[1].header("x-trace"), Some("42"));
}

#[tokio::test]
async fn send_to_session_reaches_one_session_with_the_user_facing_destination() {
    let (_, channel, template) = setup().await;
    let mut a1 = connect(&channel, "s1", "ann", "/user/queue/r").await;
    let mut a2 = connect(&channel, "s2", "ann", "/user/queue/r").await;
    template
        .send_to_session(&a2.info.id, "/queue/r", Headers::new(), "only you")
        .await
        .unwrap();
    assert!(a1.messages().is_empty());
    let got = a2.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].destination(), "/user/queue/r");
    assert_eq!(got[0].body_str(), "only you");
}

#[tokio::test(start_paused = true)]
async fn a_broker_that_does_not_take_the_message_gives_a_timeout_not_a_hang() {
    let (broker, channel, template) = setup().await;
    let _a = connect(&channel, "s1", "ann", "/user/queue/r").await;
    broker.set_mode(PublishMode::Stall);
    let template = template.with_send_timeout(Duration::from_secs(2));
    let sends = [
        tokio::spawn({
            let t = template.clone();
            async move { t.send("/topic/x", "x").await }
        }),
        tokio::spawn({
            let t = template.clone();
            async move { t.send_to_user("ann", "/queue/r", "x").await }
        }),
        tokio::spawn({
            let t = template.clone();
            async move { t.send_json("/topic/x", &1).await }
        }),
    ];
    tokio::time::advance(Duration::from_millis(1999)).await;
    tokio::task::yield_now().await;
    assert!(
        sends.iter().all(|s| !s.is_finished()),
        "not before the timeout"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    for send in sends {
        match send.await.unwrap() {
            Err(TemplateError::Timeout(d)) => assert_eq!(d, Duration::from_secs(2)),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_default_timeout_is_bounded() {
    let (broker, _, template) = setup().await;
    broker.set_mode(PublishMode::Stall);
    let start = tokio::time::Instant::now();
    let err = template.send("/topic/x", "x").await.unwrap_err();
    assert!(matches!(err, TemplateError::Timeout(_)));
    assert_eq!(start.elapsed(), MessagingTemplate::DEFAULT_SEND_TIMEOUT);
}

#[tokio::test]
async fn a_full_queue_is_an_error() {
    let (broker, channel, template) = setup().await;
    broker.fill_queue("/queue/work");
    let err = template.send("/queue/work", "x").await.unwrap_err();
    assert!(matches!(
        err,
        TemplateError::Broker(BrokerError::QueueFull(ref q)) if q == "/queue/work"
    ));

    // One full session queue fails the user send, the other session still gets it.
    let mut a1 = connect(&channel, "s1", "ann", "/user/queue/r").await;
    let mut a2 = connect(&channel, "s2", "ann", "/user/queue/r").await;
    broker.fill_queue("/queue/r-users1");
    let err = template
        .send_to_user("ann", "/queue/r", "x")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TemplateError::Broker(BrokerError::QueueFull(_))
    ));
    assert!(a1.messages().is_empty());
    assert_eq!(a2.messages().len(), 1);
}

#[tokio::test]
async fn json_errors_are_reported() {
    let (broker, _, template) = setup().await;
    let mut bad = std::collections::HashMap::new();
    bad.insert((1, 2), 3); // tuple keys are not JSON object keys
    let err = template.send_json("/topic/x", &bad).await.unwrap_err();
    assert!(matches!(err, TemplateError::Json(_)));
    assert!(broker.published().is_empty());
}
