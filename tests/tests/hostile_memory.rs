//! Hostile clients against the engine's memory budget (issue 14, item 3), over a real
//! server on `127.0.0.1:0`: sessions that try to make the server hold tens of MiB each
//! (a transaction of 60 KiB frames, 1,000 subscriptions with 14 KiB of ids, destination
//! names and headers, a queue backlog) get an ERROR naming the limit at their share or at
//! the engine total; well-behaved sessions keep working meanwhile; once everybody left,
//! the budget's usage (read from the stats) is back to 0. Every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use axum::Router;
use stomp_axum::core::outbound::OutboundConfig;
use stomp_axum::{Stomp, StompBuilder};
use stomp_e2e::{frame, spawn_server, TestServer, WsClient, TIMEOUT};

const MIB: usize = 1024 * 1024;
/// The default session share (32 MiB).
const SHARE_ERROR: &str = "memory budget: session share of 33554432 bytes exceeded";
/// A transaction frame's body: 60 KiB (the frame stays under the 64 KiB frame limit).
const BODY: usize = 60 * 1024;

async fn serve(configure: impl FnOnce(StompBuilder) -> StompBuilder) -> (Stomp, TestServer) {
    let stomp = configure(
        Stomp::builder()
            .app_destination_prefix("/app")
            .simple_broker(["/topic", "/queue"]),
    )
    .build();
    let server = spawn_server(Router::new().layer(stomp.layer("/ws"))).await;
    (stomp, server)
}

async fn connected(server: &TestServer) -> WsClient {
    connected_to(&server.ws_url("/ws")).await
}

async fn connected_to(url: &str) -> WsClient {
    let mut c = WsClient::connect(url).await;
    c.stomp_connect().await;
    c
}

/// A SEND of a 60 KiB body inside transaction `tx`.
fn tx_send(tx: &str, body: &[u8]) -> stomp_e2e::FrameBuilder {
    frame("SEND")
        .header("destination", "/queue/held")
        .header("transaction", tx)
        .body(body)
}

/// Sends `frame` with `receipt` set: `Ok` on its RECEIPT, `Err(message)` on ERROR.
async fn request(
    c: &mut WsClient,
    f: stomp_e2e::FrameBuilder,
    receipt: &str,
) -> Result<(), String> {
    c.send_binary(&f.header("receipt", receipt).bytes()).await;
    let answer = c.next_frame().await;
    match answer.command.as_str() {
        "RECEIPT" => {
            assert_eq!(answer.header("receipt-id"), Some(receipt));
            Ok(())
        }
        // Header values arrive escaped (STOMP 1.2: `:` is `\c`).
        "ERROR" => Err(answer
            .header("message")
            .unwrap_or_default()
            .replace("\\c", ":")),
        other => panic!("unexpected {other}: {answer:?}"),
    }
}

/// How far one attacker got before the server refused it.
#[derive(Debug)]
struct Refused {
    subscriptions: usize,
    transaction_frames: usize,
    message: String,
}

/// The attack by one session: 1,000 subscriptions carrying ~14 KiB of id,
/// destination name and headers each, then one transaction of up to 1,000 x 60 KiB
/// frames (~72 MiB in all). Returns where the server said no.
async fn hold_72_mib(url: String, n: usize) -> Refused {
    let mut c = connected_to(&url).await;
    let mut refused = Refused {
        subscriptions: 0,
        transaction_frames: 0,
        message: String::new(),
    };
    let pad = |len: usize, i: usize| format!("{i:06}{}", "x".repeat(len - 6));
    for i in 0..1000 {
        let sub = frame("SUBSCRIBE")
            .header("id", &pad(8000, i))
            .header("destination", &format!("/topic/a{n}/{}", pad(1000, i)))
            .header("x-pad", &"p".repeat(5000));
        if let Err(message) = request(&mut c, sub, "s").await {
            refused.message = message;
            return refused;
        }
        refused.subscriptions += 1;
    }
    request(&mut c, frame("BEGIN").header("transaction", "t"), "b")
        .await
        .unwrap();
    let body = vec![b'z'; BODY];
    for _ in 0..1000 {
        let send = frame("SEND")
            .header("destination", &format!("/queue/hold{n}"))
            .header("transaction", "t")
            .body(&body);
        if let Err(message) = request(&mut c, send, "f").await {
            refused.message = message;
            // The session ends after its ERROR.
            c.expect_close().await;
            return refused;
        }
        refused.transaction_frames += 1;
    }
    refused
}

/// Polls the stats until the budget holds nothing and no session is left (bounded).
async fn budget_drains_to_zero(stomp: &Stomp) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let stats = stomp.stats().engine;
        if stats.sessions == 0 && stats.memory_sessions == 0 && stats.memory_used == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "memory still held after every session left: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three sessions each try to hold ~72 MiB at once (the attack): each is refused
/// with an ERROR naming the session share once it holds about 32 MiB, while a
/// well-behaved pair of sessions keeps chatting (topic messages and transactions) without
/// losing anything; the budget never holds more than three shares plus the bystanders'
/// bytes, and is back to 0 once everybody left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sessions_holding_72_mib_each_are_refused_at_their_share() {
    let (stomp, server) = serve(|b| b).await;

    let mut listener = connected(&server).await;
    request(
        &mut listener,
        frame("SUBSCRIBE")
            .header("id", "chat")
            .header("destination", "/topic/chat"),
        "sub",
    )
    .await
    .unwrap();
    let mut talker = connected(&server).await;

    let attackers: Vec<_> = (0..3)
        .map(|n| {
            let url = server.ws_url("/ws");
            tokio::spawn(hold_72_mib(url, n))
        })
        .collect();

    // Well-behaved traffic while the attack runs (and a little after), each step bounded.
    let mut round = 0;
    let mut peak = 0;
    let started = Instant::now();
    while !attackers.iter().all(|a| a.is_finished()) || round < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "attack never ended"
        );
        let text = format!("hello {round}");
        let tx = format!("tx{round}");
        request(&mut talker, frame("BEGIN").header("transaction", &tx), "b")
            .await
            .unwrap();
        talker
            .send_text(
                &frame("SEND")
                    .header("destination", "/topic/chat")
                    .header("transaction", &tx)
                    .body(&text)
                    .text(),
            )
            .await;
        request(&mut talker, frame("COMMIT").header("transaction", &tx), "c")
            .await
            .unwrap();
        let message = listener.expect_frame("MESSAGE").await;
        assert_eq!(message.body_text(), text, "a bystander's message was lost");
        peak = peak.max(stomp.stats().engine.memory_sessions);
        round += 1;
    }

    for attacker in attackers {
        let refused = attacker.await.unwrap();
        assert_eq!(refused.message, SHARE_ERROR, "{refused:?}");
        // Refused at its share: all 1,000 subscriptions (~23 MiB with their copies) fit,
        // then about 150 frames of the transaction, not the ~72 MiB it asked for.
        assert_eq!(refused.subscriptions, 1000, "{refused:?}");
        assert!(
            (100..300).contains(&refused.transaction_frames),
            "{refused:?}"
        );
    }
    assert!(
        peak <= 3 * 32 * MIB + MIB,
        "the budget held {peak} bytes, more than three shares"
    );
    assert!(
        stomp.stats().engine.memory_sessions > 0,
        "the bystanders' subscription is counted"
    );

    for mut c in [listener, talker] {
        c.send_text(&frame("DISCONNECT").text()).await;
        c.expect_close().await;
    }
    budget_drains_to_zero(&stomp).await;
}

/// The engine total protects the server when several sessions stay under their share:
/// with a 24 MiB budget and a 16 MiB share, a session holding a ~15 MiB transaction and a
/// second session trying the same leave the second refused with an ERROR naming the
/// engine total; the first keeps its transaction; after it ABORTs, a new session can
/// buffer as much again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_total_refuses_and_abort_gives_the_bytes_back() {
    let (stomp, server) = serve(|b| b.memory_budget(24 * MIB).session_memory_share(16 * MIB)).await;
    let body = vec![b'z'; BODY];

    let mut holder = connected(&server).await;
    request(
        &mut holder,
        frame("BEGIN").header("transaction", "big"),
        "b",
    )
    .await
    .unwrap();
    for _ in 0..240 {
        request(&mut holder, tx_send("big", &body), "f")
            .await
            .unwrap();
    }
    let held = stomp.stats().engine.memory_sessions;
    assert!(held > 14 * MIB && held < 16 * MIB, "holder charged {held}");

    let mut second = connected(&server).await;
    request(&mut second, frame("BEGIN").header("transaction", "t"), "b")
        .await
        .unwrap();
    let mut accepted = 0;
    let mut refusal = None;
    for _ in 0..240 {
        match request(&mut second, tx_send("t", &body), "f").await {
            Ok(()) => accepted += 1,
            Err(message) => {
                refusal = Some(message);
                break;
            }
        }
    }
    assert_eq!(
        refusal.as_deref(),
        Some("memory budget: engine total of 25165824 bytes exceeded"),
        "after {accepted} frames"
    );
    // ~10 MiB of the 24 were left: about 168 frames of ~61 KiB.
    assert!((140..200).contains(&accepted), "{accepted} frames accepted");
    second.expect_close().await;

    // The holder still works and gives its bytes back on ABORT.
    request(
        &mut holder,
        frame("ABORT").header("transaction", "big"),
        "a",
    )
    .await
    .unwrap();
    let mut third = connected(&server).await;
    request(&mut third, frame("BEGIN").header("transaction", "t"), "b")
        .await
        .unwrap();
    for _ in 0..200 {
        request(&mut third, tx_send("t", &body), "f").await.unwrap();
    }
    request(&mut third, frame("ABORT").header("transaction", "t"), "a")
        .await
        .unwrap();
    for mut c in [holder, third] {
        c.send_text(&frame("DISCONNECT").text()).await;
        c.expect_close().await;
    }
    budget_drains_to_zero(&stomp).await;
}

/// The broker's queued messages count against the engine total: SENDs to a queue
/// without a consumer are refused with an ERROR naming the total once the backlog fills
/// it (the broker's own queue pool, 256 MiB by default, is far away), and the stats show
/// the backlog; a consumer then drains everything that was accepted and the usage
/// returns to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_broker_messages_count_against_the_engine_total() {
    let (stomp, server) = serve(|b| {
        b.memory_budget(MIB).outbound(OutboundConfig {
            max_buffered_bytes: 4 * MIB,
            ..OutboundConfig::default()
        })
    })
    .await;
    let body = vec![b'q'; BODY];
    let mut producer = connected(&server).await;
    let mut accepted = 0;
    let refusal = loop {
        assert!(accepted < 64, "never refused");
        let send = frame("SEND")
            .header("destination", "/queue/backlog")
            .body(&body);
        match request(&mut producer, send, "s").await {
            Ok(()) => accepted += 1,
            Err(message) => break message,
        }
    };
    assert_eq!(
        refusal,
        "memory budget: engine total of 1048576 bytes exceeded"
    );
    assert!((10..=17).contains(&accepted), "{accepted} accepted");
    producer.expect_close().await;
    let used = stomp.stats().engine.memory_used;
    assert!(
        used >= accepted * BODY && used <= MIB,
        "the backlog of {accepted} messages shows as {used} bytes"
    );

    let mut consumer = connected(&server).await;
    consumer
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "c")
                .header("destination", "/queue/backlog")
                .text(),
        )
        .await;
    for _ in 0..accepted {
        let message = consumer.expect_frame("MESSAGE").await;
        assert_eq!(message.body.len(), BODY);
    }
    consumer.send_text(&frame("DISCONNECT").text()).await;
    consumer.expect_close().await;
    budget_drains_to_zero(&stomp).await;
}
