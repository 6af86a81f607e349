//! Socket-free tests of the engine's memory budget: every way session state goes
//! (UNSUBSCRIBE, COMMIT, ABORT, a frame taken by the writer, DISCONNECT, ERROR, the
//! transport closing, `close_session`) gives its bytes back, and a frame past the share
//! is answered with an ERROR naming it.

use stomp_core::engine::Engine;
use stomp_core::outbound::{CloseReason, OutboundReceiver};
use stomp_core::Command;

use crate::support::*;

fn sessions_bytes(engine: &Engine) -> usize {
    engine.stats().memory_sessions
}

/// Takes every queued frame (as the writer would), so outbound bytes leave the budget.
fn take_all(rx: &mut OutboundReceiver) -> Vec<stomp_core::Frame> {
    drain(rx)
}

#[tokio::test]
async fn every_way_state_goes_gives_its_bytes_back() {
    let engine = Engine::builder().build();
    let (mut session, mut rx) = connect(&engine).await;
    assert_eq!(sessions_bytes(&engine), 0, "CONNECTED was taken");

    let sub = frame(
        Command::Subscribe,
        &[("id", "s1"), ("destination", "/topic/x"), ("receipt", "r")],
    );
    session.handle_frame(sub).await.unwrap();
    take_all(&mut rx);
    let one_subscription = sessions_bytes(&engine);
    assert!(one_subscription > 512, "{one_subscription}");
    let unsub = frame(Command::Unsubscribe, &[("id", "s1")]);
    session.handle_frame(unsub).await.unwrap();
    assert_eq!(sessions_bytes(&engine), 0, "UNSUBSCRIBE");

    for end in ["ABORT", "COMMIT"] {
        session
            .handle_frame(frame(Command::Begin, &[("transaction", "t")]))
            .await
            .unwrap();
        for _ in 0..3 {
            let send = frame(
                Command::Send,
                &[("destination", "/topic/nobody"), ("transaction", "t")],
            )
            .body(vec![0u8; 10_000]);
            session.handle_frame(send).await.unwrap();
        }
        assert!(sessions_bytes(&engine) > 30_000);
        let command = if end == "ABORT" {
            Command::Abort
        } else {
            Command::Commit
        };
        session
            .handle_frame(frame(command, &[("transaction", "t")]))
            .await
            .unwrap();
        assert_eq!(sessions_bytes(&engine), 0, "{end}");
    }

    // A delivery waits in the outbound queue: counted until the writer takes it.
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("id", "s2"), ("destination", "/topic/x")],
        ))
        .await
        .unwrap();
    let subscribed = sessions_bytes(&engine);
    engine
        .template()
        .send("/topic/x", vec![1u8; 5_000])
        .await
        .unwrap();
    assert!(sessions_bytes(&engine) >= subscribed + 5_000);
    assert_eq!(take_all(&mut rx).len(), 1);
    assert_eq!(sessions_bytes(&engine), subscribed);

    // Ending the session releases its subscriptions and open transactions.
    session
        .handle_frame(frame(Command::Begin, &[("transaction", "open")]))
        .await
        .unwrap();
    session.transport_closed().await;
    drop(rx);
    assert_eq!(sessions_bytes(&engine), 0, "transport closed");
    assert_eq!(engine.stats().memory_used, 0);
}

#[tokio::test]
async fn a_frame_past_the_share_is_an_error_naming_it_and_ends_only_that_session() {
    let engine = Engine::builder().session_memory_share(64 * 1024).build();
    let (mut greedy, mut greedy_rx) = connect(&engine).await;
    let (mut other, mut other_rx) = connect(&engine).await;
    other
        .handle_frame(frame(
            Command::Subscribe,
            &[("id", "a"), ("destination", "/queue/other")],
        ))
        .await
        .unwrap();

    let mut ended = None;
    for i in 0..100 {
        let id = format!("{i}-{}", "i".repeat(4000));
        let sub = frame(
            Command::Subscribe,
            &[("id", &id), ("destination", "/topic/g")],
        );
        if let Err(e) = greedy.handle_frame(sub).await {
            ended = Some((i, e));
            break;
        }
    }
    let (at, ended) = ended.expect("the share was never reached");
    assert!((6..16).contains(&at), "refused at subscription {at}");
    let error = take_all(&mut greedy_rx).pop().unwrap();
    assert_eq!(error.command, Command::Error);
    assert_eq!(
        error.headers.message(),
        Some("memory budget: session share of 65536 bytes exceeded")
    );
    assert_eq!(
        ended.reason,
        CloseReason::Error("memory budget: session share of 65536 bytes exceeded".into())
    );
    drop((greedy, greedy_rx));

    // The other session is untouched and still served.
    engine
        .template()
        .send("/queue/other", "still here")
        .await
        .unwrap();
    let message = take_all(&mut other_rx).pop().unwrap();
    assert_eq!(&message.body[..], b"still here");
    other
        .handle_frame(frame(Command::Disconnect, &[]))
        .await
        .unwrap_err();
    drop(other_rx);
    assert_eq!(engine.stats().memory_sessions, 0);
}

#[tokio::test]
async fn close_session_releases_what_the_session_held() {
    let engine = Engine::builder().build();
    let (mut session, rx) = connect(&engine).await;
    session
        .handle_frame(frame(Command::Begin, &[("transaction", "t")]))
        .await
        .unwrap();
    session
        .handle_frame(
            frame(
                Command::Send,
                &[("destination", "/queue/q"), ("transaction", "t")],
            )
            .body(vec![0u8; 20_000]),
        )
        .await
        .unwrap();
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("id", "s"), ("destination", "/topic/t")],
        ))
        .await
        .unwrap();
    assert!(engine.close_session(session.id(), "bye"));
    // The close runs on a task of its own; the session notices on its next frame.
    let refused = session
        .handle_frame(frame(Command::Send, &[("destination", "/queue/q")]))
        .await;
    assert!(refused.is_err());
    drop((session, rx));
    for _ in 0..50 {
        if engine.stats().memory_sessions == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(engine.stats().memory_sessions, 0);
    assert_eq!(engine.stats().memory_used, 0, "nothing reached the queue");
}

/// A client's SEND to a broker queue counts against its share until the message leaves
/// the queue: acknowledged (`client`), written for an `auto` consumer, or consumed after
/// the producer left (the charge outlives the session). Topic SENDs are not charged.
#[tokio::test]
async fn queued_sends_are_charged_to_the_producer_until_they_leave_the_queue() {
    let engine = Engine::builder().build();
    let charged = || engine.memory_budget().charged_to_shares();
    let (mut producer, producer_rx) = connect(&engine).await;
    let (mut consumer, mut consumer_rx) = connect(&engine).await;
    let send = |destination: &str| {
        frame(Command::Send, &[("destination", destination)]).body(vec![7u8; 10_000])
    };

    producer.handle_frame(send("/topic/t")).await.unwrap();
    assert_eq!(charged(), 0, "a topic SEND is not held");

    // Held until ACKed.
    for _ in 0..3 {
        producer.handle_frame(send("/queue/acked")).await.unwrap();
    }
    assert!(charged() >= 30_000, "{}", charged());
    consumer
        .handle_frame(frame(
            Command::Subscribe,
            &[
                ("id", "c"),
                ("destination", "/queue/acked"),
                ("ack", "client-individual"),
            ],
        ))
        .await
        .unwrap();
    let messages = drain(&mut consumer_rx);
    assert_eq!(messages.len(), 3);
    assert!(charged() >= 30_000, "un-acked deliveries stay charged");
    for (i, message) in messages.iter().enumerate() {
        let id = message.headers.get("ack").unwrap().to_owned();
        consumer
            .handle_frame(frame(Command::Ack, &[("id", &id)]))
            .await
            .unwrap();
        assert!(
            charged() <= (2 - i) * 11_000,
            "after ACK {i}: {}",
            charged()
        );
    }
    assert_eq!(charged(), 0, "every message was acknowledged");

    // Released once written for an `auto` consumer.
    producer.handle_frame(send("/queue/auto")).await.unwrap();
    assert!(charged() >= 10_000);
    consumer
        .handle_frame(frame(
            Command::Subscribe,
            &[("id", "a"), ("destination", "/queue/auto")],
        ))
        .await
        .unwrap();
    assert_eq!(drain(&mut consumer_rx).len(), 1);
    assert_eq!(charged(), 0, "delivered in auto mode");

    // The producer leaves: its messages stay queued and charged until consumed.
    for _ in 0..2 {
        producer.handle_frame(send("/queue/later")).await.unwrap();
    }
    producer.transport_closed().await;
    drop(producer_rx);
    assert!(charged() >= 20_000, "{}", charged());
    consumer
        .handle_frame(frame(
            Command::Subscribe,
            &[("id", "l"), ("destination", "/queue/later")],
        ))
        .await
        .unwrap();
    assert_eq!(drain(&mut consumer_rx).len(), 2);
    assert_eq!(charged(), 0, "consumed after the producer left");
    consumer.transport_closed().await;
    drop(consumer_rx);
    assert_eq!(engine.stats().memory_used, 0);
}
