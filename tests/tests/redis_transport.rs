//! The Redis transport against the real Redis at 127.0.0.1:6379.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use bytes::Bytes;
use stomp_core::backplane::redis::{RedisBackplane, RedisConfig};
use stomp_core::backplane::{Backplane, Channel, LinkState};

const WAIT: Duration = Duration::from_secs(5);

fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bp-transport-{test}-{}-{nanos}", std::process::id())
}

async fn linked(prefix: &str) -> RedisBackplane {
    let t =
        RedisBackplane::start(RedisConfig::new("redis://127.0.0.1:6379").prefix(prefix)).unwrap();
    let mut link = t.link();
    tokio::time::timeout(WAIT, link.wait_for(|l| *l == LinkState::Connected))
        .await
        .unwrap()
        .unwrap();
    t
}

#[tokio::test]
async fn exact_and_pattern_subscriptions_receive_in_publish_order() {
    let p = prefix("order");
    let publisher = linked(&p).await;
    let receiver = linked(&p).await;
    let mut inbound = receiver.take_inbound().unwrap();
    assert!(receiver.take_inbound().is_none());
    receiver.subscribe(Channel::Topic("/topic/a".into())).await;
    receiver
        .subscribe(Channel::TopicPattern("/topic/p.*".into()))
        .await;

    for i in 0..100u32 {
        let channel = if i % 2 == 0 { "/topic/a" } else { "/topic/p.x" };
        publisher
            .publish(&Channel::Topic(channel.into()), Bytes::from(i.to_string()))
            .unwrap();
    }
    // Not subscribed: never arrives.
    publisher
        .publish(&Channel::Topic("/topic/other".into()), Bytes::from("no"))
        .unwrap();
    publisher
        .publish(&Channel::Topic("/topic/a".into()), Bytes::from("end"))
        .unwrap();
    for i in 0..100u32 {
        let got = tokio::time::timeout(WAIT, inbound.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Bytes::from(i.to_string()));
    }
    let got = tokio::time::timeout(WAIT, inbound.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Bytes::from("end"));

    // After UNSUBSCRIBE nothing more comes from that channel.
    receiver.unsubscribe(Channel::Topic("/topic/a".into()));
    receiver.subscribe(Channel::Topic("/topic/b".into())).await;
    publisher
        .publish(&Channel::Topic("/topic/a".into()), Bytes::from("gone"))
        .unwrap();
    publisher
        .publish(&Channel::Topic("/topic/b".into()), Bytes::from("b"))
        .unwrap();
    let got = tokio::time::timeout(WAIT, inbound.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Bytes::from("b"));
    // `published` counts a batch once Redis has answered the PUBLISH, which can come after
    // the subscriber already has the message: wait for it, bounded.
    let deadline = tokio::time::Instant::now() + WAIT;
    while publisher.stats().published < 104 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(publisher.stats().published, 104);
    publisher.shutdown().await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn publishing_while_disconnected_fails_at_once_and_counts() {
    // Nothing listens on port 1: the link never comes up.
    let t = RedisBackplane::start(
        RedisConfig::new("redis://127.0.0.1:1")
            .backoff(Duration::from_millis(10), Duration::from_millis(40)),
    )
    .unwrap();
    let err = t
        .publish(&Channel::Topic("/topic/a".into()), Bytes::from("x"))
        .unwrap_err();
    assert_eq!(err, stomp_core::backplane::PublishError::Disconnected);
    // subscribe does not wait while disconnected.
    tokio::time::timeout(Duration::from_millis(500), t.subscribe(Channel::Presence))
        .await
        .unwrap();
    let stats = t.stats();
    assert_eq!(stats.disconnected, 1);
    assert_eq!(stats.link, LinkState::Disconnected);
    t.shutdown().await;
}
