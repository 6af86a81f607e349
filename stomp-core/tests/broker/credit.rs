//! Socket-free tests of queue credit (issue 14, item 2): a queue hands a message over only
//! when its consumer has room, un-acked deliveries count against the queue budgets,
//! `prefetch-count`, and `redelivered:true`.

use stomp_core::broker::{AckMode, Broker, BrokerError, SimpleBroker, SimpleBrokerConfig};
use stomp_core::outbound::{OutboundConfig, SlowConsumerPolicy};
use stomp_core::Headers;

use crate::support::{message, publish, subscribe, Client};

fn small_outbound(bytes: usize) -> OutboundConfig {
    OutboundConfig {
        max_buffered_bytes: bytes,
        max_buffered_frames: 4096,
        policy: SlowConsumerPolicy::Close,
    }
}

fn body(n: usize) -> String {
    format!("{n:04}{}", "x".repeat(1020))
}

/// 50 x 1 KiB wait; the consumer's outbound queue holds 4 KiB. Reading (the writer
/// draining) wakes the queue, which hands over more: every message arrives once, in order,
/// the outbound queue never passes its budget and the consumer is never closed.
#[tokio::test]
async fn a_backlog_drains_through_a_small_outbound_queue_in_every_ack_mode() {
    for ack in [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual] {
        let broker = SimpleBroker::default();
        for n in 0..50 {
            publish(&broker, "/queue/q", &body(n)).await;
        }
        let mut a = Client::with_config("a", small_outbound(4096));
        subscribe(&broker, &a, "1", "/queue/q", ack).await;
        // Credit fills at most three quarters of the outbound queue: a RECEIPT still fits.
        assert!(a.subscriber.outbound.buffered_bytes() <= 3072, "{ack}");
        a.subscriber
            .outbound
            .send(bytes::Bytes::from(vec![b'R'; 1000]))
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..1000 {
            assert!(a.subscriber.outbound.buffered_bytes() <= 4096);
            let Some(item) = a.rx.try_next() else { break };
            let stomp_core::outbound::Outbound::Frame(bytes) = item else {
                continue;
            };
            if bytes[0] == b'R' {
                continue;
            }
            let raw = String::from_utf8(bytes.to_vec()).unwrap();
            let received = crate::support::Received { raw };
            if ack != AckMode::Auto {
                broker.ack(&a.session, received.h("ack")).await.unwrap();
            }
            got.push(received.body()[..4].to_string());
        }
        let expected: Vec<String> = (0..50).map(|n| format!("{n:04}")).collect();
        assert_eq!(got, expected, "{ack}");
        assert!(!a.subscriber.outbound.is_closed(), "{ack}: not evicted");
        let stats = broker.stats();
        assert_eq!((stats.queued, stats.pending), (0, 0), "{ack}");
        assert_eq!(broker.queued_bytes(), 0, "{ack}");
    }
}

/// With one consumer's outbound queue full, the queue moves on to the next consumer with
/// room instead of closing the full one; the full one gets more once it has drained.
#[tokio::test]
async fn a_consumer_without_room_is_skipped_not_evicted() {
    let broker = SimpleBroker::default();
    let mut slow = Client::with_config("slow", small_outbound(2048));
    let mut fast = Client::new("fast");
    subscribe(&broker, &slow, "1", "/queue/q", AckMode::Auto).await;
    subscribe(&broker, &fast, "1", "/queue/q", AckMode::Auto).await;
    for n in 0..20 {
        publish(&broker, "/queue/q", &body(n)).await;
    }
    let slow_first = slow.bodies();
    let fast_got = fast.bodies();
    assert!(slow_first.len() < 10, "{}", slow_first.len());
    assert_eq!(slow_first.len() + fast_got.len(), 20);
    assert!(!slow.subscriber.outbound.is_closed());
    publish(&broker, "/queue/q", &body(20)).await;
    publish(&broker, "/queue/q", &body(21)).await;
    let later = slow.bodies().len() + fast.bodies().len();
    assert_eq!(later, 2);
    assert_eq!(broker.stats().queued, 0);
}

/// Un-acked deliveries count against the queue depth and the byte budget until acked, and
/// handing them back when the consumer leaves keeps the totals.
#[tokio::test]
async fn unacked_deliveries_count_against_the_queue_budgets() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_queue_depth(3));
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::ClientIndividual).await;
    for n in 0..3 {
        publish(&broker, "/queue/q", &n.to_string()).await;
    }
    let delivered = a.drain();
    assert_eq!(delivered.len(), 3);
    let held = broker.queued_bytes();
    assert!(held > 0, "un-acked bytes are held");
    let refused = broker.publish(message("/queue/q", "3")).await;
    assert_eq!(refused, Err(BrokerError::QueueFull("/queue/q".into())));
    broker.ack(&a.session, delivered[0].h("ack")).await.unwrap();
    assert!(broker.queued_bytes() < held);
    publish(&broker, "/queue/q", "3").await;
    assert_eq!(a.bodies(), ["3"]);

    // Leaving hands three back: the queue holds them, within its depth.
    let held = broker.queued_bytes();
    broker.session_closed(&a.session).await;
    assert_eq!(broker.stats().queued, 3);
    assert_eq!(broker.queued_bytes(), held);
    let refused = broker.publish(message("/queue/q", "4")).await;
    assert_eq!(refused, Err(BrokerError::QueueFull("/queue/q".into())));

    // Byte budget: room for two held messages in all.
    let probe = SimpleBroker::default();
    publish(&probe, "/queue/p", "x").await;
    let one = probe.queued_bytes();
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_queued_bytes(2 * one));
    let mut b = Client::new("b");
    subscribe(&broker, &b, "1", "/queue/p", AckMode::Client).await;
    publish(&broker, "/queue/p", "x").await;
    publish(&broker, "/queue/p", "x").await;
    let refused = broker.publish(message("/queue/other", "x")).await;
    assert_eq!(refused, Err(BrokerError::QueueFull("/queue/other".into())));
    let got = b.drain();
    assert_eq!(got.len(), 2);
    broker.ack(&b.session, got[1].h("ack")).await.unwrap();
    assert_eq!(broker.queued_bytes(), 0);
    publish(&broker, "/queue/other", "x").await;
}

fn with_prefetch(
    client: &Client,
    destination: &str,
    prefetch: &str,
) -> stomp_core::broker::Subscription {
    let mut sub = client.sub("1", destination, AckMode::ClientIndividual);
    let mut headers = Headers::new();
    headers.append("prefetch-count", prefetch);
    sub.headers = headers;
    sub
}

/// `prefetch-count` bounds the un-acked deliveries of a consumer; above `max_unacked` it
/// is lowered to it; `0` and non-numbers are refused. Without it, `default_prefetch`.
#[tokio::test]
async fn prefetch_count_bounds_deliveries_in_flight() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_unacked(4));
    for n in 0..10 {
        publish(&broker, "/queue/q", &n.to_string()).await;
    }
    let mut a = Client::new("a");
    broker
        .subscribe(with_prefetch(&a, "/queue/q", "2"))
        .await
        .unwrap();
    let first = a.drain();
    assert_eq!(first.len(), 2);
    broker.ack(&a.session, first[0].h("ack")).await.unwrap();
    assert_eq!(a.bodies(), ["2"]);

    let mut b = Client::new("b");
    broker
        .subscribe(with_prefetch(&b, "/queue/q", "99999999999999999999"))
        .await
        .unwrap();
    assert_eq!(b.drain().len(), 4, "clamped to max_unacked");

    for bad in ["0", "ten", "-1", ""] {
        let c = Client::new("c");
        let err = broker.subscribe(with_prefetch(&c, "/queue/q", bad)).await;
        let Err(BrokerError::InvalidHeader { header, reason }) = err else {
            panic!("{bad:?}: {err:?}")
        };
        assert_eq!(header, "prefetch-count");
        assert!(reason.contains("from 1 to 4"), "{reason}");
        assert!(broker.subscriptions_of(&c.session).is_empty());
    }

    let broker = SimpleBroker::new(SimpleBrokerConfig::new().default_prefetch(3));
    for n in 0..10 {
        publish(&broker, "/queue/q", &n.to_string()).await;
    }
    let mut d = Client::new("d");
    subscribe(&broker, &d, "1", "/queue/q", AckMode::Client).await;
    assert_eq!(d.drain().len(), 3);
}

/// A message handed out again (after NACK, or after its consumer left) carries
/// `redelivered:true`; a first delivery does not.
#[tokio::test]
async fn redelivered_messages_are_marked() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::ClientIndividual).await;
    publish(&broker, "/queue/q", "m0").await;
    publish(&broker, "/queue/q", "m1").await;
    let first = a.drain();
    assert!(first.iter().all(|m| m.header("redelivered").is_none()));
    broker.nack(&a.session, first[0].h("ack")).await.unwrap();
    let again = a.drain();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body(), "m0");
    assert_eq!(again[0].header("redelivered"), Some("true"));

    broker.session_closed(&a.session).await;
    let mut b = Client::new("b");
    subscribe(&broker, &b, "1", "/queue/q", AckMode::Auto).await;
    publish(&broker, "/queue/q", "m2").await;
    let got = b.drain();
    let marks: Vec<(&str, Option<&str>)> = got
        .iter()
        .map(|m| (m.body(), m.header("redelivered")))
        .collect();
    // Handed back in the order they were last delivered: m1, then m0 (after its NACK).
    assert_eq!(
        marks,
        [("m1", Some("true")), ("m0", Some("true")), ("m2", None)]
    );
}
