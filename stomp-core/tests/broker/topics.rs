//! Socket-free tests of `SimpleBroker` topics, patterns, headers and cleanup.

use std::collections::HashSet;

use stomp_core::broker::{
    AckMode, Broker, BrokerError, BrokerStats, SimpleBroker, SimpleBrokerConfig, Subscriber,
    Subscription,
};
use stomp_core::destination::Separator;
use stomp_core::identity::SessionId;
use stomp_core::outbound::{
    channel, CloseReason, Next, Outbound, OutboundConfig, SlowConsumerPolicy,
};
use stomp_core::{Headers, Version};

use crate::support::{message, publish, subscribe, Client, Received};

#[tokio::test]
async fn fan_out_reaches_every_subscriber() {
    let broker = SimpleBroker::default();
    let mut clients: Vec<Client> = (0..500).map(|i| Client::new(&format!("s{i}"))).collect();
    for (i, c) in clients.iter().enumerate() {
        subscribe(
            &broker,
            c,
            &format!("sub-{i}"),
            "/topic/news",
            AckMode::Auto,
        )
        .await;
    }
    for n in 0..3 {
        publish(&broker, "/topic/news", &format!("m{n}")).await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let got = c.drain();
        assert_eq!(
            got.iter().map(|m| m.body()).collect::<Vec<_>>(),
            ["m0", "m1", "m2"]
        );
        for m in &got {
            assert_eq!(m.h("subscription"), format!("sub-{i}"));
            assert_eq!(m.h("destination"), "/topic/news");
            assert_eq!(m.header("ack"), None, "auto mode carries no ack header");
        }
    }
}

#[tokio::test]
async fn slash_patterns() {
    let broker = SimpleBroker::default();
    let mut one = Client::new("one");
    let mut any = Client::new("any");
    let mut exact = Client::new("exact");
    subscribe(&broker, &one, "1", "/topic/a/*", AckMode::Auto).await;
    subscribe(&broker, &any, "1", "/topic/**", AckMode::Auto).await;
    subscribe(&broker, &exact, "1", "/topic/a/b", AckMode::Auto).await;
    publish(&broker, "/topic/a/b", "ab").await;
    publish(&broker, "/topic/a/b/c", "abc").await;
    publish(&broker, "/topic/x", "x").await;
    publish(&broker, "/topic", "root").await;
    assert_eq!(one.bodies(), ["ab"]);
    assert_eq!(any.bodies(), ["ab", "abc", "x", "root"]);
    assert_eq!(exact.bodies(), ["ab"]);
}

#[tokio::test]
async fn dot_patterns() {
    let config = SimpleBrokerConfig::new()
        .topic_prefixes(["topic"])
        .queue_prefixes(["queue"])
        .separator(Separator::Dot);
    let broker = SimpleBroker::new(config);
    let mut star = Client::new("star");
    let mut globstar = Client::new("globstar");
    subscribe(&broker, &star, "1", "topic.a.*", AckMode::Auto).await;
    subscribe(&broker, &globstar, "1", "topic.**", AckMode::Auto).await;
    publish(&broker, "topic.a.b", "ab").await;
    publish(&broker, "topic.a.b.c", "abc").await;
    publish(&broker, "topic.z", "z").await;
    assert_eq!(star.bodies(), ["ab"]);
    assert_eq!(globstar.bodies(), ["ab", "abc", "z"]);
    let slash = broker.publish(message("/topic/a", "x")).await;
    assert!(matches!(slash, Err(BrokerError::InvalidDestination { .. })));
}

#[tokio::test]
async fn client_ack_is_cumulative_and_client_individual_is_not() {
    let broker = SimpleBroker::default();
    let mut cumulative = Client::new("cum");
    let mut individual = Client::new("ind");
    subscribe(&broker, &cumulative, "1", "/topic/t", AckMode::Client).await;
    subscribe(
        &broker,
        &individual,
        "1",
        "/topic/t",
        AckMode::ClientIndividual,
    )
    .await;
    for n in 0..3 {
        publish(&broker, "/topic/t", &n.to_string()).await;
    }
    assert_eq!(broker.stats().pending, 6);

    let cum = cumulative.drain();
    broker
        .ack(&cumulative.session, cum[1].h("ack"))
        .await
        .unwrap();
    assert_eq!(
        broker.stats().pending,
        4,
        "ACK of the second settles the first too"
    );
    let err = broker.ack(&cumulative.session, cum[0].h("ack")).await;
    assert!(matches!(err, Err(BrokerError::UnknownAckId(_))));

    let ind = individual.drain();
    broker
        .ack(&individual.session, ind[1].h("ack"))
        .await
        .unwrap();
    assert_eq!(broker.stats().pending, 3, "exactly one settled");
    broker
        .ack(&individual.session, ind[0].h("ack"))
        .await
        .unwrap();
    broker
        .nack(&individual.session, ind[2].h("ack"))
        .await
        .unwrap();
    assert_eq!(broker.stats().pending, 1);
    assert!(
        individual.drain().is_empty(),
        "a NACKed broadcast is dropped"
    );
}

#[tokio::test]
async fn duplicate_subscription_ids_are_refused_without_leaking() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/topic/t", AckMode::Auto).await;
    let before = broker.stats();
    let err = broker
        .subscribe(a.sub("1", "/topic/other", AckMode::Auto))
        .await;
    assert_eq!(err, Err(BrokerError::DuplicateSubscription("1".into())));
    assert_eq!(broker.stats(), before);
    publish(&broker, "/topic/other", "nobody").await;
    publish(&broker, "/topic/t", "once").await;
    assert_eq!(a.bodies(), ["once"]);
    let err = broker.unsubscribe(&a.session, "2").await;
    assert_eq!(err, Err(BrokerError::UnknownSubscription("2".into())));
    broker.unsubscribe(&a.session, "1").await.unwrap();
    assert!(broker.is_empty(), "{:?}", broker.stats());
}

#[tokio::test]
async fn a_slow_consumer_is_closed_and_never_slows_the_others() {
    let broker = SimpleBroker::default();
    let mut fast = Client::new("fast");
    let tiny = OutboundConfig {
        max_buffered_bytes: 64 * 1024,
        max_buffered_frames: 4,
        policy: SlowConsumerPolicy::Close,
    };
    let mut slow = Client::with_config("slow", tiny);
    subscribe(&broker, &fast, "1", "/topic/t", AckMode::Auto).await;
    subscribe(&broker, &slow, "1", "/topic/t", AckMode::Auto).await;
    for n in 0..100 {
        publish(&broker, "/topic/t", &n.to_string()).await;
    }
    assert_eq!(fast.drain().len(), 100);
    assert_eq!(slow.rx.next().await, Next::Close(CloseReason::SlowConsumer));
    broker.session_closed(&slow.session).await;
    publish(&broker, "/topic/t", "after").await;
    assert_eq!(fast.bodies(), ["after"]);
    assert_eq!(broker.stats().subscriptions, 1);
}

#[tokio::test]
async fn drop_newest_keeps_a_slow_consumer_while_the_fast_one_gets_everything() {
    let broker = SimpleBroker::default();
    let mut fast = Client::new("fast");
    let tiny = OutboundConfig {
        max_buffered_bytes: 64 * 1024,
        max_buffered_frames: 2,
        policy: SlowConsumerPolicy::DropNewest,
    };
    let mut slow = Client::with_config("slow", tiny);
    subscribe(&broker, &fast, "1", "/topic/t", AckMode::Client).await;
    subscribe(&broker, &slow, "1", "/topic/t", AckMode::Client).await;
    for n in 0..50 {
        publish(&broker, "/topic/t", &n.to_string()).await;
    }
    assert_eq!(fast.drain().len(), 50);
    assert_eq!(slow.bodies(), ["0", "1"]);
    assert!(!slow.subscriber.outbound.is_closed());
    // Dropped deliveries are not left pending.
    assert_eq!(broker.stats().pending, 52);
}

#[tokio::test]
async fn the_registry_is_empty_after_every_session_closes() {
    let broker = SimpleBroker::default();
    let clients: Vec<Client> = (0..50).map(|i| Client::new(&format!("s{i}"))).collect();
    for (i, c) in clients.iter().enumerate() {
        let ack = [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual][i % 3];
        subscribe(&broker, c, "t", &format!("/topic/room{}", i % 5), ack).await;
        subscribe(&broker, c, "p", "/topic/**", ack).await;
        subscribe(&broker, c, "q", "/queue/work", ack).await;
    }
    for n in 0..20 {
        publish(&broker, &format!("/topic/room{}", n % 5), "t").await;
        publish(&broker, "/queue/work", "q").await;
    }
    let stats = broker.stats();
    assert_eq!(stats.sessions, 50);
    assert_eq!(stats.subscriptions, 150);
    assert!(stats.pending > 0);
    for c in &clients {
        broker.session_closed(&c.session).await;
    }
    let stats = broker.stats();
    // Un-acked queue messages wait for the next consumer; nothing else is left.
    assert_eq!(
        BrokerStats {
            queued: 0,
            destinations: 0,
            ..stats
        },
        BrokerStats::default(),
        "{stats:?}"
    );
    assert!(stats.queued > 0);
    let mut last = Client::new("last");
    subscribe(&broker, &last, "q", "/queue/work", AckMode::Auto).await;
    assert_eq!(last.drain().len(), stats.queued);
    broker.session_closed(&last.session).await;
    assert!(broker.is_empty(), "{:?}", broker.stats());
}

#[tokio::test]
async fn message_ids_are_unique_across_topics_queues_and_brokers() {
    let mut ids = HashSet::new();
    for _ in 0..2 {
        let broker = SimpleBroker::default();
        let mut a = Client::new("a");
        subscribe(&broker, &a, "t", "/topic/t", AckMode::Auto).await;
        subscribe(&broker, &a, "q", "/queue/q", AckMode::Auto).await;
        for _ in 0..500 {
            publish(&broker, "/topic/t", "x").await;
            publish(&broker, "/queue/q", "y").await;
        }
        for m in a.drain() {
            assert!(ids.insert(m.h("message-id").to_string()));
        }
    }
    assert_eq!(ids.len(), 2000);
}

#[tokio::test]
async fn user_headers_reach_the_subscriber() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    subscribe(&broker, &a, "1", "/topic/t", AckMode::Auto).await;
    let mut m = message("/topic/t", "{}");
    m.headers.set("content-type", "application/json");
    m.headers.append("x-trace", "abc:1");
    m.headers.append("priority", "9");
    broker.publish(m).await.unwrap();
    let got = a.drain();
    assert_eq!(got[0].h("content-type"), "application/json");
    assert_eq!(
        got[0].h("x-trace"),
        "abc\\c1",
        "escaped as STOMP 1.2 requires"
    );
    assert_eq!(got[0].h("priority"), "9");
    assert_eq!(got[0].h("content-length"), "2");
    assert_eq!(got[0].body(), "{}");
}

#[tokio::test]
async fn deliveries_differ_only_in_their_per_delivery_headers() {
    let broker = SimpleBroker::default();
    let mut a = Client::new("a");
    let mut b = Client::new("b");
    subscribe(&broker, &a, "sa", "/topic/t", AckMode::Client).await;
    subscribe(&broker, &b, "sb", "/topic/t", AckMode::Auto).await;
    publish(&broker, "/topic/t", "shared body").await;
    let (ma, mb) = (a.drain().remove(0), b.drain().remove(0));
    assert_eq!(
        ma.h("message-id"),
        mb.h("message-id"),
        "one message, one id"
    );
    let strip = |m: &Received| {
        m.raw
            .lines()
            .filter(|l| {
                !["subscription:", "message-id:", "ack:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&ma), strip(&mb));
    assert!(ma.raw.starts_with("MESSAGE\nsubscription:sa\nmessage-id:"));
}

#[tokio::test]
async fn invalid_destinations_are_refused() {
    let broker = SimpleBroker::default();
    let a = Client::new("a");
    for destination in [
        "/app/x",
        "/topics/x",
        "/queue/*",
        "/queue/**",
        "/topic/a*",
        "",
    ] {
        let err = broker
            .subscribe(a.sub("1", destination, AckMode::Auto))
            .await;
        assert!(
            matches!(err, Err(BrokerError::InvalidDestination { .. })),
            "{destination}: {err:?}"
        );
    }
    for destination in ["/app/x", "/topic/*", "/queue/**"] {
        let err = broker.publish(message(destination, "x")).await;
        assert!(
            matches!(err, Err(BrokerError::InvalidDestination { .. })),
            "{destination}: {err:?}"
        );
    }
    assert!(broker.is_empty());
    assert!(broker.handles("/topic/x") && broker.handles("/queue/x"));
    assert!(!broker.handles("/app/x"));
}

#[tokio::test]
async fn spring_compatible_mode_broadcasts_queues() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().spring_compatible(true));
    let mut a = Client::new("a");
    let mut b = Client::new("b");
    subscribe(&broker, &a, "1", "/queue/q", AckMode::Auto).await;
    subscribe(&broker, &b, "1", "/queue/q", AckMode::Auto).await;
    publish(&broker, "/queue/q", "both").await;
    assert_eq!(a.bodies(), ["both"]);
    assert_eq!(b.bodies(), ["both"]);
}

#[tokio::test]
async fn lists_a_sessions_subscriptions() {
    let broker = SimpleBroker::default();
    let a = Client::new("a");
    subscribe(&broker, &a, "x", "/topic/a", AckMode::Auto).await;
    subscribe(&broker, &a, "y", "/queue/b", AckMode::Auto).await;
    let list = broker.subscriptions_of(&a.session);
    let list: Vec<(&str, &str)> = list.iter().map(|(i, d)| (&**i, &**d)).collect();
    assert_eq!(list, [("x", "/topic/a"), ("y", "/queue/b")]);
    assert!(broker
        .subscriptions_of(&SessionId::from("nobody"))
        .is_empty());
}

#[tokio::test]
async fn older_versions_get_their_own_escaping() {
    let broker = SimpleBroker::default();
    let (tx, mut rx) = channel(OutboundConfig::default());
    let subscriber = Subscriber {
        session: "old".into(),
        version: Version::V1_0,
        outbound: tx,
    };
    broker
        .subscribe(Subscription {
            subscriber,
            id: "1".into(),
            destination: "/topic/t".into(),
            ack: AckMode::Auto,
            headers: Headers::new(),
        })
        .await
        .unwrap();
    let mut m = message("/topic/t", "b");
    m.headers.append("k", "a:b");
    broker.publish(m).await.unwrap();
    let Some(Outbound::Frame(bytes)) = rx.try_next() else {
        panic!("no frame")
    };
    assert!(String::from_utf8_lossy(&bytes).contains("\nk:a:b\n"));
}
