//! Two chat servers (`examples/chat` with `--relay`, as `chat::Config::relay` sets it up)
//! behind one RabbitMQ (STOMP on 127.0.0.1:61613; `scripts/services.sh`): the chat wires
//! the relay with `StompBuilder::relay` and keeps its own user registry in its state, and
//! `/app/online` on one server names a user connected only to the other.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stomp_core::relay::RelayConfig;
use stomp_e2e::{frame, spawn_server, TestServer, WsClient};

/// How long the relays get to link up and to share their users.
const WAIT: Duration = Duration::from_secs(15);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Logs `name` in, again while the server's relay is not linked up yet (its CONNECT then
/// gets an ERROR, "broker unavailable").
async fn login(server: &TestServer, name: &str) -> WsClient {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut client = WsClient::connect(&server.ws_url("/ws")).await;
        client
            .send_text(
                &frame("CONNECT")
                    .header("accept-version", "1.2")
                    .header("login", name)
                    .header("heart-beat", "0,0")
                    .text(),
            )
            .await;
        let reply = client.next_frame().await;
        if reply.command == "CONNECTED" {
            return client;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chat's relay never linked up: {}",
            reply.body_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_servers_behind_the_relay_see_each_others_users() {
    // One config each: a relay's instance id is made with its `RelayConfig`, and two
    // instances with one id would take each other's announcements for their own.
    let registry_topic = format!("/topic/{}", unique("chat-registry"));
    let config = || chat::Config {
        relay: Some(
            RelayConfig::new(["127.0.0.1:61613"])
                .virtual_host("/")
                .system_login("guest", "guest")
                .user_registry_topic(registry_topic.clone()),
        ),
        ..chat::Config::default()
    };
    let one = spawn_server(chat::app(config())).await;
    let two = spawn_server(chat::app(config())).await;
    let bob = unique("bob");
    let ann = unique("ann");
    let _bob = login(&two, &bob).await;
    let mut on_one = login(&one, &ann).await;

    // The relays link up and announce in the background: ask until bob is named.
    let deadline = tokio::time::Instant::now() + WAIT;
    for attempt in 0.. {
        on_one
            .send_text(
                &frame("SUBSCRIBE")
                    .header("id", &format!("online-{attempt}"))
                    .header("destination", "/app/online")
                    .text(),
            )
            .await;
        let message = on_one.expect_frame("MESSAGE").await;
        let names: Vec<String> = serde_json::from_str(&message.body_text()).unwrap();
        if names.contains(&bob) {
            assert!(names.contains(&ann), "{names:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never appeared on server one: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
