//! Socket-free tests of `SimpleBroker` queues: round-robin, acks, redelivery, depth.

use stomp_core::broker::{AckMode, Broker, BrokerError, SimpleBroker, SimpleBrokerConfig};
use stomp_core::outbound::Outbound;
use stomp_core::Version;

use crate::support::{message, publish, subscribe, Client};

#[tokio::test]
async fn queue_round_robin_delivers_each_message_once() {
    let broker = SimpleBroker::default();
    let mut clients: Vec<Client> = (0..3).map(|i| Client::new(&format!("c{i}"))).collect();
    for c in &clients {
        subscribe(&broker, c, "q", "/queue/jobs", AckMode::Auto).await;
    }
    for n in 0..9 {
        publish(&broker, "/queue/jobs", &n.to_string()).await;
    }
    let mut all = Vec::new();
    for c in &mut clients {
        let got = c.bodies();
        assert_eq!(got.len(), 3, "{got:?}");
        // Round-robin: each consumer gets every third message.
        let first: usize = got[0].parse().unwrap();
        for (k, body) in got.iter().enumerate() {
            assert_eq!(body, &(first + 3 * k).to_string());
        }
        all.extend(got);
    }
    all.sort();
    assert_eq!(all, (0..9).map(|n| n.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn nack_redelivers_to_the_next_consumer_or_the_same_when_alone() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    let mut b = Client::new("b");
    subscribe(&broker, &a, "qa", "/queue/q", AckMode::ClientIndividual).await;
    subscribe(&broker, &b, "qb", "/queue/q", AckMode::ClientIndividual).await;
    publish(&broker, "/queue/q", "job").await;
    let first = a.drain();
    assert_eq!(first.len(), 1);
    assert!(b.drain().is_empty());
    broker.nack(&a.session, first[0].h("ack")).await.unwrap();
    let again = b.drain();
    assert_eq!(
        again.len(),
        1,
        "NACK hands the message to the next consumer"
    );
    assert_eq!(again[0].body(), "job");
    assert_eq!(again[0].h("message-id"), first[0].h("message-id"));
    assert_eq!(again[0].h("subscription"), "qb");
    // A redelivery says so (as RabbitMQ's do); the first delivery did not.
    assert_eq!(first[0].header("redelivered"), None);
    assert_eq!(again[0].header("redelivered"), Some("true"));
    assert!(a.drain().is_empty());

    // Alone: the same consumer gets it again, with a fresh ack id.
    broker.unsubscribe(&a.session, "qa").await.unwrap();
    broker.nack(&b.session, again[0].h("ack")).await.unwrap();
    let third = b.drain();
    assert_eq!(third.len(), 1);
    assert_ne!(third[0].h("ack"), again[0].h("ack"));
    broker.ack(&b.session, third[0].h("ack")).await.unwrap();
    broker.session_closed(&b.session).await;
    assert!(broker.is_empty(), "{:?}", broker.stats());
}

#[tokio::test]
async fn disconnect_and_unsubscribe_hand_unacked_messages_on_in_order() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::Client).await;
    for n in 0..3 {
        publish(&broker, "/queue/q", &format!("m{n}")).await;
    }
    let got = a.drain();
    assert_eq!(got.len(), 3);
    broker.ack(&a.session, got[0].h("ack")).await.unwrap();

    let mut b = Client::new("b");
    subscribe(&broker, &b, "1", "/queue/q", AckMode::Client).await;
    assert!(b.drain().is_empty(), "a still holds m1 and m2");
    broker.session_closed(&a.session).await;
    let moved = b.drain();
    assert_eq!(
        moved.iter().map(|m| m.body()).collect::<Vec<_>>(),
        ["m1", "m2"]
    );

    let mut c = Client::new("c");
    subscribe(&broker, &c, "1", "/queue/q", AckMode::Auto).await;
    broker.unsubscribe(&b.session, "1").await.unwrap();
    assert_eq!(c.bodies(), ["m1", "m2"]);
    broker.session_closed(&c.session).await;
    assert!(broker.is_empty(), "{:?}", broker.stats());
}

#[tokio::test]
async fn client_nack_is_cumulative_on_queues() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::Client).await;
    for n in 0..3 {
        publish(&broker, "/queue/q", &format!("m{n}")).await;
    }
    let got = a.drain();
    broker.nack(&a.session, got[1].h("ack")).await.unwrap();
    // m0 and m1 come back (to the only consumer), m2 stays pending.
    assert_eq!(a.bodies(), ["m0", "m1"]);
    assert_eq!(broker.stats().pending, 3);
}

#[tokio::test]
async fn unknown_ack_ids_are_refused() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    let b = Client::new("b");
    let auto = Client::new("auto");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::ClientIndividual).await;
    subscribe(&broker, &auto, "1", "/topic/t", AckMode::Auto).await;
    publish(&broker, "/queue/q", "x").await;
    let ack = a.drain()[0].h("ack").to_string();
    for (session, id) in [
        (&a.session, "nonsense"),
        (&a.session, ""),
        (&a.session, "999-0"),
        (&a.session, "1-999"),
        (&b.session, ack.as_str()),
        (&auto.session, "2-0"),
    ] {
        let err = broker.ack(session, id).await;
        assert!(
            matches!(err, Err(BrokerError::UnknownAckId(_))),
            "{session} {id}"
        );
        let err = broker.nack(session, id).await;
        assert!(
            matches!(err, Err(BrokerError::UnknownAckId(_))),
            "{session} {id}"
        );
    }
    broker.ack(&a.session, &ack).await.unwrap();
    let twice = broker.ack(&a.session, &ack).await;
    assert!(matches!(twice, Err(BrokerError::UnknownAckId(_))));
}

#[tokio::test]
async fn queue_depth_is_bounded_and_kept_in_order_for_the_first_consumer() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_queue_depth(2));
    publish(&broker, "/queue/q", "m0").await;
    publish(&broker, "/queue/q", "m1").await;
    let err = broker.publish(message("/queue/q", "m2")).await;
    assert_eq!(err, Err(BrokerError::QueueFull("/queue/q".into())));
    assert_eq!(broker.stats().queued, 2);
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::Auto).await;
    assert_eq!(a.bodies(), ["m0", "m1"]);
    publish(&broker, "/queue/q", "m3").await;
    assert_eq!(a.bodies(), ["m3"]);
}

#[tokio::test]
async fn all_queues_together_are_bounded_in_bytes() {
    // Room for three messages in all; each fresh queue name takes from the same budget.
    let probe = SimpleBroker::default();
    publish(&probe, "/queue/q0", "x").await;
    let one = probe.queued_bytes();
    assert!(one > 0);
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_queued_bytes(3 * one));
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..100 {
        match broker.publish(message(&format!("/queue/q{i}"), "x")).await {
            Ok(()) => accepted += 1,
            Err(BrokerError::QueueFull(_)) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 3);
    assert_eq!(accepted + refused, 100);
    assert!(broker.queued_bytes() <= 3 * one);
    assert_eq!(broker.stats().queued, accepted);

    // A queue with a consumer still delivers at once while the budget is used up.
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/live", AckMode::Auto).await;
    publish(&broker, "/queue/live", "direct").await;
    assert_eq!(a.bodies(), ["direct"]);

    // Draining a queue gives its bytes back.
    let mut b = Client::new("b");
    subscribe(&broker, &b, "1", "/queue/q0", AckMode::Auto).await;
    assert_eq!(b.bodies(), ["x"]);
    assert!(broker.queued_bytes() < 3 * one);
    publish(&broker, "/queue/q9", "y").await;
}

#[tokio::test]
async fn unacked_limit_holds_messages_back_until_acked() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_unacked(1));
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::ClientIndividual).await;
    publish(&broker, "/queue/q", "m0").await;
    publish(&broker, "/queue/q", "m1").await;
    let first = a.drain();
    assert_eq!(first.len(), 1);
    assert_eq!(broker.stats().queued, 1);
    broker.ack(&a.session, first[0].h("ack")).await.unwrap();
    assert_eq!(a.bodies(), ["m1"]);
}

#[tokio::test]
async fn max_redeliveries_drops_a_poison_message() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().max_redeliveries(Some(1)));
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::ClientIndividual).await;
    publish(&broker, "/queue/q", "poison").await;
    let first = a.drain();
    broker.nack(&a.session, first[0].h("ack")).await.unwrap();
    let second = a.drain();
    assert_eq!(second.len(), 1, "one redelivery allowed");
    broker.nack(&a.session, second[0].h("ack")).await.unwrap();
    assert!(a.drain().is_empty(), "dropped after its last redelivery");
    assert_eq!(broker.stats().queued, 0);
}

#[tokio::test]
async fn a_dead_queue_consumer_is_skipped_and_its_messages_move_on() {
    let broker = SimpleBroker::default();
    let mut live = Client::new("live");
    let mut dead = Client::new("dead");
    subscribe(&broker, &dead, "1", "/queue/q", AckMode::Client).await;
    subscribe(&broker, &live, "1", "/queue/q", AckMode::Auto).await;
    publish(&broker, "/queue/q", "m0").await; // to `dead`, un-acked
    dead.rx.close();
    for n in 1..4 {
        publish(&broker, "/queue/q", &format!("m{n}")).await;
    }
    let got = live.bodies();
    assert_eq!(got, ["m1", "m0", "m2", "m3"]);
}

#[tokio::test]
async fn deliveries_decode_with_the_codec() {
    use bytes::BytesMut;
    use stomp_core::codec::{Decoded, Decoder, Limits};
    use stomp_core::Command;

    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    subscribe(&broker, &a, "s:1", "/queue/bin", AckMode::ClientIndividual).await;
    let mut m = message("/queue/bin", "");
    m.body = bytes::Bytes::from_static(b"bin\0ary\n");
    m.headers.append("x-multi", "line\nbreak");
    broker.publish(m).await.unwrap();
    let Some(Outbound::Frame(bytes)) = a.rx.try_next() else {
        panic!("no frame")
    };
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_version(Version::V1_2);
    let mut buf = BytesMut::from(&bytes[..]);
    let Ok(Some(Decoded::Frame(frame))) = decoder.decode(&mut buf) else {
        panic!("undecodable: {bytes:?}")
    };
    assert!(buf.is_empty(), "exactly one frame");
    assert_eq!(frame.command, Command::Message);
    assert_eq!(frame.headers.subscription(), Some("s:1"));
    assert_eq!(frame.headers.destination(), Some("/queue/bin"));
    assert_eq!(frame.headers.get("x-multi"), Some("line\nbreak"));
    assert!(frame.headers.message_id().is_some());
    assert_eq!(&frame.body[..], b"bin\0ary\n");
    let ack = frame.headers.ack().expect("ack header").to_string();
    broker.ack(&a.session, &ack).await.unwrap();
    assert_eq!(broker.stats().pending, 0);
}
