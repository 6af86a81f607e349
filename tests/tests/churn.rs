//! Churn over real sockets (issue 18): thousands of sessions connect, subscribe (a topic
//! with a pending client-ack delivery, a queue and a user queue) and go away (DISCONNECT,
//! a WebSocket close without DISCONNECT, or the TCP connection simply dropped). Afterwards
//! every registry must be empty again: engine sessions and subscriptions, the engine's
//! session registry, the user registry, the broker's sessions, subscriptions, pending
//! deliveries and destination index, and the transport's open connections.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::stream::{self, StreamExt};
use stomp_axum::core::broker::{SimpleBroker, SimpleBrokerConfig};
use stomp_axum::core::interceptor::InsecureLoginAuthenticator;
use stomp_axum::Stomp;
use stomp_e2e::{frame, spawn_server, WsClient};
use tokio_tungstenite::tungstenite::Message;

/// Sessions churned by the test.
const SESSIONS: usize = 2_000;
/// Sessions alive at once.
const CONCURRENCY: usize = 32;

/// How one churned session ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// DISCONNECT with a receipt, then the WebSocket close.
    Disconnect,
    /// A WebSocket close frame, no DISCONNECT.
    WsClose,
    /// The TCP connection dropped: no close frame at all.
    Drop,
}

/// One session's life: CONNECT as `user-{i % 50}`, subscribe to its own topic (client
/// acks), a shared queue and its user queue, receive one MESSAGE it never acknowledges,
/// then end as `end`.
async fn churn_one(url: String, i: usize, end: End) {
    let mut c = WsClient::connect(&url).await;
    c.send_text(
        &frame("CONNECT")
            .header("accept-version", "1.2")
            .header("host", "localhost")
            .header("heart-beat", "0,0")
            .header("login", &format!("user-{}", i % 50))
            .text(),
    )
    .await;
    c.expect_frame("CONNECTED").await;
    let topic = format!("/topic/churn-{i}");
    let queue = format!("/queue/churn-{}", i % 7);
    let subscriptions = [
        ("t", topic.as_str(), "client-individual"),
        ("q", queue.as_str(), "client"),
        ("u", "/user/queue/replies", "auto"),
    ];
    let mut text = String::new();
    for (id, destination, ack) in subscriptions {
        text.push_str(
            &frame("SUBSCRIBE")
                .header("id", id)
                .header("destination", destination)
                .header("ack", ack)
                .header("receipt", id)
                .text(),
        );
    }
    text.push_str(
        &frame("SEND")
            .header("destination", &topic)
            .body("pending")
            .text(),
    );
    c.send_text(&text).await;
    for id in ["t", "q", "u"] {
        let receipt = c.expect_frame("RECEIPT").await;
        assert_eq!(receipt.header("receipt-id"), Some(id));
    }
    let message = c.expect_frame("MESSAGE").await;
    assert_eq!(message.header("subscription"), Some("t"));
    match end {
        End::Disconnect => {
            c.send_text(&frame("DISCONNECT").header("receipt", "bye").text())
                .await;
            c.expect_frame("RECEIPT").await;
            c.expect_close().await;
        }
        End::WsClose => c.send(Message::Close(None)).await,
        End::Drop => drop(c),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_sessions_leave_every_registry_empty() {
    let broker = Arc::new(SimpleBroker::new(
        SimpleBrokerConfig::new()
            .topic_prefixes(["/topic"])
            .queue_prefixes(["/queue"]),
    ));
    let shared = broker.clone();
    let stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .authenticator(InsecureLoginAuthenticator)
        .engine(move |engine| engine.broker_arc(shared))
        .build();
    let server = spawn_server(Router::new().layer(stomp.layer("/ws"))).await;
    let url = server.ws_url("/ws");

    let ends = [End::Disconnect, End::WsClose, End::Drop];
    let churn = stream::iter(0..SESSIONS)
        .map(|i| churn_one(url.clone(), i, ends[i % ends.len()]))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>();
    tokio::time::timeout(Duration::from_secs(120), churn)
        .await
        .expect("churn finished in time");

    let registry = stomp.engine().user_registry();
    let leftovers = || {
        let stats = stomp.stats();
        let broker = broker.stats();
        let left = [
            ("engine sessions", stats.engine.sessions),
            ("engine registry", stats.engine.registered_sessions),
            ("engine subscriptions", stats.engine.subscriptions),
            ("user registry sessions", registry.session_count()),
            ("user registry users", registry.user_count()),
            ("broker sessions", broker.sessions),
            ("broker subscriptions", broker.subscriptions),
            ("broker pending deliveries", broker.pending),
            ("broker destinations", broker.destinations),
            ("open connections", stats.transport.connections_current),
        ];
        left.into_iter()
            .filter(|(_, n)| *n != 0)
            .collect::<Vec<_>>()
    };
    // Dropped connections are noticed by the server a little later: wait, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !leftovers().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(leftovers(), vec![], "registries not empty after churn");
    let stats = stomp.stats();
    assert_eq!(stats.engine.sessions_total, SESSIONS as u64);
    assert_eq!(stats.transport.connections_total, SESSIONS as u64);
}
