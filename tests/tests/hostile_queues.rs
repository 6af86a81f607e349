//! Hostile clients against the queues of a real server on `127.0.0.1:0` (issue 14, item 2):
//! a backlog larger than a session's outbound queue drains without loss or eviction in
//! every ack mode, un-acked deliveries stay within the queue budget when their consumers
//! leave, and `prefetch-count` is checked. Raw STOMP over WebSocket; every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

use axum::Router;
use stomp_axum::core::broker::SimpleBrokerConfig;
use stomp_axum::Stomp;
use stomp_e2e::{frame, spawn_server, TestServer, WireFrame, WsClient};

async fn server(config: SimpleBrokerConfig) -> (Stomp, TestServer) {
    let stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker_config(config)
        .build();
    let server = spawn_server(Router::new().layer(stomp.layer("/ws"))).await;
    (stomp, server)
}

async fn connected(server: &TestServer) -> WsClient {
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    c
}

fn send_frame(destination: &str, body: &[u8], receipt: Option<&str>) -> Vec<u8> {
    let mut f = frame("SEND").header("destination", destination);
    if let Some(receipt) = receipt {
        f = f.header("receipt", receipt);
    }
    f.body_with_length(body).bytes()
}

async fn send(c: &mut WsClient, destination: &str, body: &[u8], receipt: Option<&str>) {
    let text = String::from_utf8(send_frame(destination, body, receipt)).unwrap();
    c.send_text(&text).await;
}

/// A body of `len` bytes that names its index.
fn body(index: usize, len: usize) -> Vec<u8> {
    let mut body = format!("m{index:05}:").into_bytes();
    body.resize(len, b'x');
    body
}

fn index_of(message: &WireFrame) -> usize {
    let text = message.body_text();
    text.get(1..6)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "not a numbered body: {:?}",
                text.chars().take(16).collect::<String>()
            )
        })
}

/// Sends a frame with a receipt and expects the RECEIPT: the session is alive and was not
/// closed as a slow consumer.
async fn expect_alive(c: &mut WsClient, marker: &str) {
    let send = frame("SEND")
        .header("destination", "/topic/void")
        .header("receipt", marker)
        .text();
    c.send_text(&send).await;
    let f = c.next_frame().await;
    assert_eq!(f.command, "RECEIPT", "expected RECEIPT {marker}: {f:?}");
    assert_eq!(f.header("receipt-id"), Some(marker));
}

/// 96 x 16 KiB wait on a queue with no consumer (1.5 MiB, three times the 512 KiB outbound
/// queue). A consumer in each ack mode receives all 96, in order, and stays connected: the
/// queue hands messages over as the consumer's writer makes room. On the old code the whole
/// backlog was pushed at SUBSCRIBE, the consumer was closed as a slow consumer and, with
/// `ack:auto`, 93 messages were lost.
#[tokio::test]
async fn a_backlog_larger_than_the_outbound_queue_drains_in_every_ack_mode() {
    const COUNT: usize = 96;
    const SIZE: usize = 16 * 1024;
    let (_stomp, server) = server(SimpleBrokerConfig::new()).await;
    for mode in ["auto", "client", "client-individual"] {
        let queue = format!("/queue/backlog-{mode}");
        let mut producer = connected(&server).await;
        for i in 0..COUNT {
            let receipt = (i == COUNT - 1).then_some("all-sent");
            send(&mut producer, &queue, &body(i, SIZE), receipt).await;
        }
        let receipt = producer.expect_frame("RECEIPT").await;
        assert_eq!(receipt.header("receipt-id"), Some("all-sent"));

        let mut consumer = connected(&server).await;
        consumer
            .send_text(
                &frame("SUBSCRIBE")
                    .header("id", "0")
                    .header("destination", &queue)
                    .header("ack", mode)
                    .header("receipt", "subscribed")
                    .text(),
            )
            .await;
        let mut next = 0;
        let mut last_ack = None;
        while next < COUNT {
            let f = consumer.next_frame().await;
            match f.command.as_str() {
                "RECEIPT" => continue,
                "MESSAGE" => {}
                other => panic!("{mode}: expected MESSAGE {next}, got {other}: {f:?}"),
            }
            assert_eq!(index_of(&f), next, "{mode}: in order, none lost");
            assert_eq!(f.body.len(), SIZE);
            assert_eq!(f.header("redelivered"), None, "{mode}: first delivery");
            let ack = f.header("ack").map(str::to_owned);
            match mode {
                "client-individual" => {
                    consumer
                        .send_text(&frame("ACK").header("id", &ack.unwrap()).text())
                        .await;
                }
                // Cumulative, every 10 (the default prefetch is 100).
                "client" if next % 10 == 9 => {
                    consumer
                        .send_text(&frame("ACK").header("id", &ack.unwrap()).text())
                        .await;
                    last_ack = None;
                }
                "client" => last_ack = ack,
                _ => assert!(ack.is_none()),
            }
            next += 1;
        }
        if let Some(ack) = last_ack {
            consumer
                .send_text(&frame("ACK").header("id", &ack).text())
                .await;
        }
        expect_alive(&mut consumer, &format!("alive-{mode}")).await;
        // Nothing was left behind: the next message on the queue comes next.
        send(&mut producer, &queue, &body(COUNT, 10), None).await;
        let f = consumer.expect_frame("MESSAGE").await;
        assert_eq!(index_of(&f), COUNT, "{mode}: nothing else was waiting");
    }
}

/// Four sessions consume queues with `client-individual` and never ACK; the queue budget
/// (here 2 MiB) counts what they hold, so the producer is refused once the queues hold the
/// budget, handing the deliveries back when they leave keeps it there, and others can send
/// again once the queues are consumed. On the old code un-acked deliveries counted for
/// nothing: every SEND was accepted (24 MB for a 2 MiB budget) and all of it went back into
/// the queues.
#[tokio::test]
async fn unacked_deliveries_count_against_the_queue_budget() {
    const BUDGET: usize = 2 * 1024 * 1024;
    const SIZE: usize = 60 * 1024;
    const PER_QUEUE: usize = 100;
    let (_stomp, server) = server(SimpleBrokerConfig::new().max_queued_bytes(BUDGET)).await;

    let mut attackers = Vec::new();
    let mut accepted = [0usize; 4];
    let mut producer = connected(&server).await;
    for (q, accepted) in accepted.iter_mut().enumerate() {
        let queue = format!("/queue/hoard-{q}");
        let mut attacker = connected(&server).await;
        attacker
            .send_text(
                &frame("SUBSCRIBE")
                    .header("id", "0")
                    .header("destination", &queue)
                    .header("ack", "client-individual")
                    .header("receipt", "subscribed")
                    .text(),
            )
            .await;
        attacker.expect_frame("RECEIPT").await;
        for i in 0..PER_QUEUE {
            send(&mut producer, &queue, &body(i, SIZE), Some("sent")).await;
            let answer = producer.next_frame().await;
            if answer.command == "ERROR" {
                assert_eq!(
                    answer.header("message"),
                    Some(&*format!("queue {queue:?} is full")),
                    "{answer:?}"
                );
                producer.expect_close().await;
                producer = connected(&server).await;
                break;
            }
            assert_eq!(answer.command, "RECEIPT", "{answer:?}");
            *accepted += 1;
            // The attacker reads what it gets, so it is never a slow consumer.
            let m = attacker.expect_frame("MESSAGE").await;
            assert_eq!(index_of(&m), i);
        }
        attackers.push(attacker);
    }
    let total: usize = accepted.iter().sum();
    assert!(
        total * SIZE <= BUDGET,
        "un-acked deliveries count: {total} x {SIZE} bytes accepted for a {BUDGET}-byte budget"
    );
    assert!(
        total * SIZE > BUDGET - 2 * SIZE,
        "the budget is used: {accepted:?}"
    );

    // The attackers leave without ACK: their deliveries go back to the queues.
    drop(attackers);

    // The queues hold the budget: a bystander's SEND to a fresh queue is refused.
    let mut bystander = connected(&server).await;
    send(
        &mut bystander,
        "/queue/fresh",
        &body(0, SIZE),
        Some("fresh"),
    )
    .await;
    let refused = bystander.expect_frame("ERROR").await;
    assert_eq!(
        refused.header("message"),
        Some("queue \"/queue/fresh\" is full")
    );
    bystander.expect_close().await;

    // A consumer drains every queue: each message once, marked redelivered.
    let mut drainer = connected(&server).await;
    for (q, &count) in accepted.iter().enumerate() {
        drainer
            .send_text(
                &frame("SUBSCRIBE")
                    .header("id", &q.to_string())
                    .header("destination", &format!("/queue/hoard-{q}"))
                    .header("ack", "client-individual")
                    .text(),
            )
            .await;
        for i in 0..count {
            let m = drainer.expect_frame("MESSAGE").await;
            assert_eq!(index_of(&m), i, "queue {q}: in order");
            assert_eq!(m.header("redelivered"), Some("true"), "{m:?}");
            drainer
                .send_text(&frame("ACK").header("id", m.header("ack").unwrap()).text())
                .await;
        }
    }
    expect_alive(&mut drainer, "drained").await;

    // With the queues consumed, others can send again.
    let mut bystander = connected(&server).await;
    send(
        &mut bystander,
        "/queue/fresh",
        &body(0, SIZE),
        Some("fresh"),
    )
    .await;
    let receipt = bystander.expect_frame("RECEIPT").await;
    assert_eq!(receipt.header("receipt-id"), Some("fresh"));
}

/// `prefetch-count` bounds a `client-individual` consumer's un-acked deliveries; `0` and
/// non-numbers are refused with an ERROR naming the header.
#[tokio::test]
async fn prefetch_count_bounds_unacked_deliveries_and_bad_values_are_refused() {
    let (_stomp, server) = server(SimpleBrokerConfig::new()).await;
    let mut producer = connected(&server).await;
    for i in 0..5 {
        send(&mut producer, "/queue/p", &body(i, 100), None).await;
    }
    let mut consumer = connected(&server).await;
    consumer
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "0")
                .header("destination", "/queue/p")
                .header("ack", "client-individual")
                .header("prefetch-count", "2")
                .text(),
        )
        .await;
    let first = consumer.expect_frame("MESSAGE").await;
    let second = consumer.expect_frame("MESSAGE").await;
    assert_eq!((index_of(&first), index_of(&second)), (0, 1));
    // Two in flight: nothing more comes before an ACK (the RECEIPT proves the order).
    expect_alive(&mut consumer, "two-in-flight").await;
    consumer
        .send_text(
            &frame("ACK")
                .header("id", first.header("ack").unwrap())
                .text(),
        )
        .await;
    assert_eq!(index_of(&consumer.expect_frame("MESSAGE").await), 2);

    for bad in ["0", "ten", "-1"] {
        let mut c = connected(&server).await;
        c.send_text(
            &frame("SUBSCRIBE")
                .header("id", "0")
                .header("destination", "/queue/p2")
                .header("ack", "client")
                .header("prefetch-count", bad)
                .text(),
        )
        .await;
        let error = c.expect_frame("ERROR").await;
        let message = error.header("message").unwrap_or_default();
        assert!(
            message.starts_with("invalid prefetch-count header"),
            "{bad}: {error:?}"
        );
        c.expect_close().await;
    }
}

/// Issue 14's soak finding: a few sessions sending 60 KiB messages to queues nobody
/// consumes used to fill the broker's one shared queue pool, and then a well-behaved
/// client's tiny SEND to its own queue was refused (`queue "..." is full`, ending its
/// session). Now what a session puts into the queues counts against its own memory share
/// (2 MiB here) until it leaves them: each of four attackers is refused at its share, far
/// below the 12 MiB pool, and keeps its accepted messages queued after it is gone; a
/// well-behaved session still SENDs (with receipt) to its queue and a consumer gets it;
/// once the attackers' queues are drained the budget's usage is back to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_senders_are_refused_at_their_own_share_not_the_shared_pool() {
    use std::time::{Duration, Instant};
    const MIB: usize = 1024 * 1024;
    const BODY: usize = 60 * 1024;
    const ATTACKERS: usize = 4;
    let stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker_config(SimpleBrokerConfig::default().max_queued_bytes(12 * MIB))
        .memory_budget(16 * MIB)
        .session_memory_share(2 * MIB)
        .build();
    let server = spawn_server(Router::new().layer(stomp.layer("/ws"))).await;

    let mut accepted = [0usize; ATTACKERS];
    for (a, accepted) in accepted.iter_mut().enumerate() {
        let mut attacker = connected(&server).await;
        let destination = format!("/queue/attacker-{a}");
        let refusal = loop {
            assert!(*accepted < 200, "attacker {a} was never refused");
            send(
                &mut attacker,
                &destination,
                &body(*accepted, BODY),
                Some("r"),
            )
            .await;
            let f = attacker.next_frame().await;
            match f.command.as_str() {
                "RECEIPT" => *accepted += 1,
                "ERROR" => break f.header("message").unwrap_or_default().replace("\\c", ":"),
                other => panic!("unexpected {other}: {f:?}"),
            }
        };
        assert_eq!(
            refusal, "memory budget: session share of 2097152 bytes exceeded",
            "attacker {a} after {accepted} messages"
        );
        assert!(
            (30..=35).contains(accepted),
            "attacker {a}: {accepted} accepted"
        );
        attacker.expect_close().await;
    }
    // The attackers are gone; their messages stay queued and counted.
    let held = stomp.stats().engine.memory_used;
    let total: usize = accepted.iter().sum();
    assert!(
        held >= total * BODY,
        "{total} queued messages show as {held} bytes"
    );

    let mut good = connected(&server).await;
    send(&mut good, "/queue/mine", b"hello", Some("mine")).await;
    let f = good.next_frame().await;
    assert_eq!(f.command, "RECEIPT", "well-behaved SEND refused: {f:?}");
    assert_eq!(f.header("receipt-id"), Some("mine"));
    let subscribe = frame("SUBSCRIBE")
        .header("id", "mine")
        .header("destination", "/queue/mine")
        .text();
    good.send_text(&subscribe).await;
    let message = good.expect_frame("MESSAGE").await;
    assert_eq!(message.body_text(), "hello");

    // Drain the attackers' queues.
    for (a, &count) in accepted.iter().enumerate() {
        let subscribe = frame("SUBSCRIBE")
            .header("id", &format!("a{a}"))
            .header("destination", &format!("/queue/attacker-{a}"))
            .text();
        good.send_text(&subscribe).await;
        for i in 0..count {
            let message = good.expect_frame("MESSAGE").await;
            assert_eq!(index_of(&message), i);
        }
    }
    good.send_text(&frame("DISCONNECT").text()).await;
    good.expect_close().await;
    let deadline = Instant::now() + stomp_e2e::TIMEOUT;
    loop {
        let stats = stomp.stats().engine;
        if stats.sessions == 0 && stats.memory_sessions == 0 && stats.memory_used == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "memory still held after the queues drained: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
