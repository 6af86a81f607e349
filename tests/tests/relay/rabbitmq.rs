//! The relay against the real RabbitMQ STOMP plugin (127.0.0.1:61613, guest/guest), driven
//! directly through the `Broker` trait with outbound queues as subscribers.

use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use stomp_core::broker::{AckMode, Broker, BrokerError, Message};
use stomp_core::client::{Client, ClientConfig};
use stomp_core::frame::Headers;
use stomp_core::outbound::CloseReason;
use stomp_core::relay::{BrokerAvailability, ConnectionMode, Relay, RelayConfig};
use stomp_e2e::relay::{dead_addr, unique, Proxy, TestSession, RABBIT, WAIT};

const MODES: [ConnectionMode; 2] = [
    ConnectionMode::PerClient,
    ConnectionMode::Multiplexed { connections: 2 },
];

fn config(hosts: &[&str], mode: ConnectionMode) -> RelayConfig {
    RelayConfig::new(hosts.iter().copied())
        .virtual_host("/")
        .system_login("guest", "guest")
        .client_login("guest", "guest")
        .system_heart_beat(2_000, 2_000)
        .client_heart_beat(2_000, 2_000)
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .mode(mode)
}

async fn start(config: RelayConfig) -> Relay {
    let relay = Relay::start(config);
    relay
        .wait_available(WAIT)
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)");
    relay
}

async fn open(relay: &Relay, name: &str) -> TestSession {
    let session = TestSession::new(name);
    relay
        .session_opened(&session.info, &Headers::new())
        .await
        .unwrap();
    session
}

fn message(destination: &str, body: &'static str) -> Message {
    let mut headers = Headers::new();
    headers.append("destination", destination);
    headers.append("content-type", "text/plain");
    Message {
        destination: ByteString::from(destination),
        headers,
        body: Bytes::from_static(body.as_bytes()),
    }
}

fn persistent(destination: &str, body: &'static str) -> Message {
    let mut m = message(destination, body);
    m.headers.append("persistent", "true");
    m
}

#[tokio::test]
async fn publish_and_subscribe_in_both_modes() {
    for mode in MODES {
        let relay = start(config(&[RABBIT], mode)).await;
        let topic = format!("/topic/{}", unique("pubsub"));
        let mut ann = open(&relay, "ann").await;
        let mut bob = open(&relay, "bob").await;
        relay
            .subscribe(ann.subscription("a-1", &topic, AckMode::Auto))
            .await
            .unwrap();
        relay
            .subscribe(bob.subscription("b-9", &topic, AckMode::Auto))
            .await
            .unwrap();
        relay.publish(message(&topic, "hello")).await.unwrap();
        for (session, sub) in [(&mut ann, "a-1"), (&mut bob, "b-9")] {
            let frame = session.message().await;
            assert_eq!(frame.headers.subscription(), Some(sub), "{mode:?}");
            assert_eq!(frame.headers.destination(), Some(topic.as_str()));
            assert_eq!(frame.headers.content_type(), Some("text/plain"));
            assert_eq!(
                frame.headers.get("ack"),
                None,
                "auto subscriptions need no ack"
            );
            assert_eq!(frame.body.as_ref(), b"hello");
        }

        // After UNSUBSCRIBE only bob receives.
        relay.unsubscribe(ann.id(), "a-1").await.unwrap();
        relay.publish(message(&topic, "second")).await.unwrap();
        assert_eq!(bob.message().await.body.as_ref(), b"second");
        assert!(ann.rx.try_next().is_none(), "{mode:?}");

        assert!(matches!(
            relay.unsubscribe(ann.id(), "a-1").await,
            Err(BrokerError::UnknownSubscription(_))
        ));
        assert!(matches!(
            relay
                .subscribe(bob.subscription("b-9", &topic, AckMode::Auto))
                .await,
            Err(BrokerError::DuplicateSubscription(_))
        ));
        relay.session_closed(ann.id()).await;
        relay.session_closed(bob.id()).await;
        assert_eq!(relay.session_count(), 0);
    }
}

#[tokio::test]
async fn destinations_outside_the_relayed_prefixes_are_refused() {
    let relay = start(config(&[RABBIT], ConnectionMode::default())).await;
    let session = open(&relay, "ann").await;
    let refused = relay
        .subscribe(session.subscription("1", "/app/chat", AckMode::Auto))
        .await;
    assert!(matches!(
        refused,
        Err(BrokerError::InvalidDestination { .. })
    ));
    let refused = relay.publish(message("/nonsense/x", "x")).await;
    assert!(matches!(
        refused,
        Err(BrokerError::InvalidDestination { .. })
    ));
}

#[tokio::test]
async fn ack_and_nack_reach_rabbitmq_queues() {
    for mode in MODES {
        let relay = start(config(&[RABBIT], mode)).await;
        let queue = format!("/queue/{}", unique("acks"));
        let mut ann = open(&relay, "ann").await;
        relay
            .subscribe(ann.subscription("q", &queue, AckMode::ClientIndividual))
            .await
            .unwrap();
        relay.publish(message(&queue, "one")).await.unwrap();
        relay.publish(message(&queue, "two")).await.unwrap();
        let one = ann.message().await;
        let two = ann.message().await;
        assert_eq!(one.body.as_ref(), b"one");
        assert_eq!(two.body.as_ref(), b"two");
        assert_eq!(one.headers.subscription(), Some("q"));
        let one_ack = one.headers.get("ack").unwrap().to_owned();
        let two_ack = two.headers.get("ack").unwrap().to_owned();

        // A session cannot ack what is not its own.
        let eve = open(&relay, "eve").await;
        assert!(matches!(
            relay.ack(eve.id(), &one_ack).await,
            Err(BrokerError::UnknownAckId(_))
        ));
        assert!(matches!(
            relay.ack(ann.id(), "garbage").await,
            Err(BrokerError::UnknownAckId(_))
        ));

        relay.ack(ann.id(), &one_ack).await.unwrap();
        relay.nack(ann.id(), &two_ack).await.unwrap();
        // RabbitMQ requeues the NACKed message and redelivers it.
        let again = ann.message().await;
        assert_eq!(again.body.as_ref(), b"two", "{mode:?}");
        assert_eq!(again.headers.get("redelivered"), Some("true"));
        relay
            .ack(ann.id(), again.headers.get("ack").unwrap())
            .await
            .unwrap();

        // An un-acked message goes back to the queue when the session goes away.
        relay.publish(message(&queue, "three")).await.unwrap();
        assert_eq!(ann.message().await.body.as_ref(), b"three");
        relay.session_closed(ann.id()).await;
        let mut bob = open(&relay, "bob").await;
        relay
            .subscribe(bob.subscription("q2", &queue, AckMode::Auto))
            .await
            .unwrap();
        let redelivered = bob.message().await;
        assert_eq!(redelivered.body.as_ref(), b"three", "{mode:?}");
        relay.session_closed(bob.id()).await;
        relay.session_closed(eve.id()).await;
    }
}

#[tokio::test]
async fn durable_queue_delivers_after_the_consumer_comes_back() {
    let relay = start(config(&[RABBIT], ConnectionMode::PerClient).publish_receipts(true)).await;
    let queue = format!("/queue/{}", unique("durable"));
    // The consumer subscribes once (RabbitMQ declares the durable queue), then goes away.
    let first = open(&relay, "consumer").await;
    relay
        .subscribe(first.subscription("s", &queue, AckMode::Client))
        .await
        .unwrap();
    relay.session_closed(first.id()).await;

    // Published while nobody consumes, with a broker receipt.
    relay
        .publish(persistent(&queue, "while-away"))
        .await
        .unwrap();

    let mut back = open(&relay, "consumer").await;
    relay
        .subscribe(back.subscription("s", &queue, AckMode::Client))
        .await
        .unwrap();
    let frame = back.message().await;
    assert_eq!(frame.body.as_ref(), b"while-away");
    assert_eq!(frame.headers.get("persistent"), Some("true"));
    relay
        .ack(back.id(), frame.headers.get("ack").unwrap())
        .await
        .unwrap();
    relay.session_closed(back.id()).await;
}

#[tokio::test]
async fn multiplexed_sessions_share_a_small_pool() {
    let relay = start(config(
        &[RABBIT],
        ConnectionMode::Multiplexed { connections: 2 },
    ))
    .await;
    let topic = format!("/topic/{}", unique("pool"));
    let mut sessions = Vec::new();
    for i in 0..20 {
        let session = open(&relay, &format!("s{i}")).await;
        relay
            .subscribe(session.subscription("same-id", &topic, AckMode::Auto))
            .await
            .unwrap();
        sessions.push(session);
    }
    assert!(
        relay.broker_connection_count() <= 3,
        "{}",
        relay.broker_connection_count()
    );
    relay.publish(message(&topic, "fan-out")).await.unwrap();
    for session in &mut sessions {
        let frame = session.message().await;
        assert_eq!(frame.headers.subscription(), Some("same-id"));
        assert_eq!(frame.body.as_ref(), b"fan-out");
    }

    let per_client = start(config(&[RABBIT], ConnectionMode::PerClient)).await;
    let a = open(&per_client, "a").await;
    let b = open(&per_client, "b").await;
    assert_eq!(per_client.broker_connection_count(), 3);
    per_client.session_closed(a.id()).await;
    per_client.session_closed(b.id()).await;
}

#[tokio::test]
async fn template_style_publish_reaches_a_plain_broker_client() {
    // A message published through the relay's system connection reaches any consumer of
    // the external broker, not only relay sessions.
    let relay = start(config(&[RABBIT], ConnectionMode::default())).await;
    let client = Client::connect_tcp(
        RABBIT,
        ClientConfig::new().login("guest", "guest").host("/"),
    )
    .await
    .unwrap();
    let topic = format!("/topic/{}", unique("template"));
    let mut sub = client
        .subscribe(topic.clone(), AckMode::Auto)
        .await
        .unwrap();
    relay.publish(message(&topic, "from-app")).await.unwrap();
    let delivery = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.body().as_ref(), b"from-app");
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn broker_down_at_start_refuses_connects_and_publishes() {
    for mode in MODES {
        let relay = Relay::start(config(&[&dead_addr().await], mode));
        assert!(!relay.is_available());
        assert_eq!(
            *relay.availability().borrow(),
            BrokerAvailability::Unavailable
        );
        let session = TestSession::new("early");
        let refused = relay.session_opened(&session.info, &Headers::new()).await;
        assert_eq!(
            refused,
            Err(BrokerError::Unavailable("broker unavailable".into()))
        );
        let refused = relay.publish(message("/topic/x", "x")).await;
        assert!(matches!(refused, Err(BrokerError::Unavailable(_))));
    }
}

#[tokio::test]
async fn failover_skips_a_dead_host() {
    let dead = dead_addr().await;
    let relay = start(config(&[&dead, RABBIT], ConnectionMode::PerClient)).await;
    let topic = format!("/topic/{}", unique("failover"));
    let mut ann = open(&relay, "ann").await;
    relay
        .subscribe(ann.subscription("1", &topic, AckMode::Auto))
        .await
        .unwrap();
    relay
        .publish(message(&topic, "via-second-host"))
        .await
        .unwrap();
    assert_eq!(ann.message().await.body.as_ref(), b"via-second-host");
}

#[tokio::test]
async fn per_client_credentials_are_checked_by_the_broker() {
    let relay = start(
        RelayConfig::new([RABBIT])
            .virtual_host("/")
            .system_login("guest", "guest")
            .mode(ConnectionMode::PerClient),
    )
    .await;
    let session = TestSession::new("mallory");
    let connect: Headers = [("login", "guest"), ("passcode", "wrong")]
        .into_iter()
        .collect();
    let refused = relay.session_opened(&session.info, &connect).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unavailable(m)) if m.starts_with("broker refused")),
        "{refused:?}"
    );
    let connect: Headers = [("login", "guest"), ("passcode", "guest")]
        .into_iter()
        .collect();
    relay.session_opened(&session.info, &connect).await.unwrap();
}

#[tokio::test]
async fn broker_loss_closes_sessions_and_the_relay_recovers() {
    for mode in MODES {
        let proxy = Proxy::start(RABBIT).await;
        let relay = start(config(&[&proxy.addr()], mode)).await;
        let mut availability = relay.availability();
        availability.borrow_and_update();
        let topic = format!("/topic/{}", unique("loss"));
        let mut ann = open(&relay, "ann").await;
        relay
            .subscribe(ann.subscription("1", &topic, AckMode::Auto))
            .await
            .unwrap();

        // The broker goes away and stays away for a while.
        proxy.refuse(true);
        proxy.cut();
        let error = ann.next().await.expect("an ERROR before the close");
        assert_eq!(error.command, stomp_core::Command::Error, "{mode:?}");
        assert_eq!(error.headers.message(), Some("broker connection lost"));
        assert_eq!(
            ann.next().await,
            Err(CloseReason::Error("broker connection lost".into()))
        );
        tokio::time::timeout(
            WAIT,
            availability.wait_for(|a| *a == BrokerAvailability::Unavailable),
        )
        .await
        .unwrap()
        .unwrap();
        relay.session_closed(ann.id()).await;
        let refused = relay
            .session_opened(&TestSession::new("during").info, &Headers::new())
            .await;
        assert!(
            matches!(refused, Err(BrokerError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(relay.publish(message(&topic, "lost")).await.is_err());

        // It comes back: the relay reconnects by itself, clients reconnect and carry on.
        proxy.refuse(false);
        relay.wait_available(WAIT).await.unwrap();
        let mut again = open(&relay, "ann-again").await;
        relay
            .subscribe(again.subscription("1", &topic, AckMode::Auto))
            .await
            .unwrap();
        relay.publish(message(&topic, "back")).await.unwrap();
        assert_eq!(again.message().await.body.as_ref(), b"back", "{mode:?}");
    }
}

#[tokio::test]
async fn a_silent_broker_is_noticed_by_heart_beats_on_the_broker_leg() {
    // The proxy holds every byte without closing: only heart-beats can tell.
    let proxy = Proxy::start(RABBIT).await;
    let relay = start(
        config(&[&proxy.addr()], ConnectionMode::PerClient)
            .system_heart_beat(300, 300)
            .client_heart_beat(300, 300),
    )
    .await;
    let mut availability = relay.availability();
    availability.borrow_and_update();
    let topic = format!("/topic/{}", unique("silent"));
    let mut ann = open(&relay, "ann").await;
    relay
        .subscribe(ann.subscription("1", &topic, AckMode::Auto))
        .await
        .unwrap();

    proxy.freeze(true);
    let error = ann.next().await.expect("an ERROR before the close");
    assert_eq!(error.headers.message(), Some("broker connection lost"));
    assert_eq!(
        ann.next().await,
        Err(CloseReason::Error("broker connection lost".into()))
    );
    tokio::time::timeout(
        WAIT,
        availability.wait_for(|a| *a == BrokerAvailability::Unavailable),
    )
    .await
    .unwrap()
    .unwrap();

    proxy.cut();
    proxy.freeze(false);
    relay.wait_available(WAIT).await.unwrap();
    let mut again = open(&relay, "ann-again").await;
    relay
        .subscribe(again.subscription("1", &topic, AckMode::Auto))
        .await
        .unwrap();
    relay.publish(message(&topic, "alive")).await.unwrap();
    assert_eq!(again.message().await.body.as_ref(), b"alive");
}

#[tokio::test]
async fn a_session_provoking_a_broker_error_does_not_take_others_down() {
    let relay = start(config(
        &[RABBIT],
        ConnectionMode::Multiplexed { connections: 1 },
    ))
    .await;
    let topic = format!("/topic/{}", unique("isolation"));
    let mut bob = open(&relay, "bob").await;
    relay
        .subscribe(bob.subscription("1", &topic, AckMode::Auto))
        .await
        .unwrap();
    let mut mallory = open(&relay, "mallory").await;
    relay
        .subscribe(mallory.subscription("t", &topic, AckMode::Auto))
        .await
        .unwrap();

    // RabbitMQ answers a SUBSCRIBE to a missing exchange with ERROR and closes that
    // connection: it must be Mallory's own, not the one Bob shares.
    let missing = format!("/exchange/{}/key", unique("missing"));
    let refused = relay
        .subscribe(mallory.subscription("x", &missing, AckMode::Auto))
        .await;
    assert!(
        matches!(&refused, Err(BrokerError::Unavailable(m)) if m.starts_with("broker refused")),
        "{refused:?}"
    );
    relay.publish(message(&topic, "still here")).await.unwrap();
    assert_eq!(bob.message().await.body.as_ref(), b"still here");
    // Mallory's session is told and closed (her shared subscription goes with it).
    let mut closed = false;
    for _ in 0..3 {
        match mallory.next().await {
            Ok(frame) if frame.command == stomp_core::Command::Error => {}
            Ok(_) => {}
            Err(reason) => {
                assert_eq!(reason, CloseReason::Error("broker connection lost".into()));
                closed = true;
                break;
            }
        }
    }
    assert!(closed);
    assert!(
        relay.broker_connection_count() >= 2,
        "system + the shared link"
    );
}

#[tokio::test]
async fn shutdown_closes_every_broker_connection() {
    let relay = start(config(&[RABBIT], ConnectionMode::PerClient)).await;
    let session = open(&relay, "ann").await;
    assert_eq!(relay.broker_connection_count(), 2);
    relay.shutdown().await;
    assert_eq!(relay.broker_connection_count(), 0);
    assert!(!relay.is_available());
    let refused = relay.session_opened(&session.info, &Headers::new()).await;
    assert!(matches!(refused, Err(BrokerError::Unavailable(_))));
}

/// Prints numbers; run with
/// `cargo test -p stomp-core --release --test relay_rabbitmq -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, prints numbers"]
async fn measure_sessions_and_throughput() {
    for mode in MODES {
        let relay = start(config(&[RABBIT], mode)).await;
        let topic = format!("/topic/{}", unique("measure"));
        let started = std::time::Instant::now();
        let mut sessions = Vec::new();
        for i in 0..200 {
            let session = open(&relay, &format!("m{i}")).await;
            relay
                .subscribe(session.subscription("1", &topic, AckMode::Auto))
                .await
                .unwrap();
            sessions.push(session);
        }
        let connect = started.elapsed();
        println!(
            "{mode:?}: 200 sessions connected+subscribed in {connect:?}, {} broker connections",
            relay.broker_connection_count()
        );
        for session in &sessions {
            relay.session_closed(session.id()).await;
        }
        drop(sessions);

        let mut sink = open(&relay, "sink").await;
        relay
            .subscribe(sink.subscription("1", &topic, AckMode::Auto))
            .await
            .unwrap();
        let n = 20_000;
        let started = std::time::Instant::now();
        let publisher = {
            let relay = relay.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    relay
                        .publish(message(&topic, "0123456789abcdef"))
                        .await
                        .unwrap();
                }
            })
        };
        for _ in 0..n {
            sink.message().await;
        }
        publisher.await.unwrap();
        let elapsed = started.elapsed();
        println!(
            "{mode:?}: {n} messages of 16 B published and delivered in {elapsed:?} ({:.0} msg/s)",
            f64::from(n) / elapsed.as_secs_f64()
        );
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn the_system_connection_fails_over_to_the_next_host_at_runtime() {
    let first = Proxy::start(RABBIT).await;
    let second = Proxy::start(RABBIT).await;
    for mode in MODES {
        first.refuse(false);
        let relay = start(config(&[&first.addr(), &second.addr()], mode)).await;
        let mut availability = relay.availability();
        availability.borrow_and_update();

        // The first host dies for good. The loss and the reconnection to the second host
        // may follow each other too fast to observe `Unavailable`: wait for a change, then
        // for `Available`.
        first.refuse(true);
        first.cut();
        tokio::time::timeout(WAIT, async {
            availability.changed().await.unwrap();
            availability
                .wait_for(|a| *a == BrokerAvailability::Available)
                .await
                .unwrap();
        })
        .await
        .unwrap();

        let topic = format!("/topic/{}", unique("runtime-failover"));
        let mut ann = open(&relay, "ann").await;
        relay
            .subscribe(ann.subscription("1", &topic, AckMode::Auto))
            .await
            .unwrap();
        relay.publish(message(&topic, "via second")).await.unwrap();
        assert_eq!(ann.message().await.body.as_ref(), b"via second", "{mode:?}");
        relay.shutdown().await;
    }
}
