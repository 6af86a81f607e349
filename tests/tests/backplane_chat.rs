//! Two chat servers (`examples/chat` with a Redis backplane, as `--backplane` sets it up)
//! share topics.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use backplane_support::{next_body, send, subscribe, unique_prefix};
use stomp_e2e::{frame, spawn_server, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_servers_share_rooms_over_redis() {
    let config = chat::Config {
        backplane: Some(
            stomp_core::backplane::redis::RedisConfig::new("redis://127.0.0.1:6379")
                .prefix(unique_prefix("chat")),
        ),
        ..chat::Config::default()
    };
    let one = spawn_server(chat::app(config.clone())).await;
    let two = spawn_server(chat::app(config)).await;
    let mut on_one = WsClient::connect(&one.ws_url("/ws")).await;
    on_one.stomp_connect().await;
    subscribe(&mut on_one, "0", "/topic/room.lobby").await;
    let mut on_two = WsClient::connect(&two.ws_url("/ws")).await;
    on_two.stomp_connect().await;
    // The backplane links up in the background; retry until the first message crosses.
    let deadline = tokio::time::Instant::now() + stomp_e2e::TIMEOUT;
    loop {
        send(&mut on_two, "/topic/room.lobby", "hello").await;
        match tokio::time::timeout(
            std::time::Duration::from_millis(200),
            next_body(&mut on_one),
        )
        .await
        {
            Ok((body, _)) => {
                assert_eq!(body, "hello");
                break;
            }
            Err(_) => assert!(tokio::time::Instant::now() < deadline, "never crossed"),
        }
    }

    // `/app/online` on server one also names the user connected only to server two.
    let mut bob = WsClient::connect(&two.ws_url("/ws")).await;
    bob.send_text(
        &frame("CONNECT")
            .header("accept-version", "1.2")
            .header("login", "bob")
            .header("heart-beat", "0,0")
            .text(),
    )
    .await;
    bob.expect_frame("CONNECTED").await;
    let mut ann = WsClient::connect(&one.ws_url("/ws")).await;
    ann.send_text(
        &frame("CONNECT")
            .header("accept-version", "1.2")
            .header("login", "ann")
            .header("heart-beat", "0,0")
            .text(),
    )
    .await;
    ann.expect_frame("CONNECTED").await;
    let deadline = tokio::time::Instant::now() + stomp_e2e::TIMEOUT;
    for attempt in 0.. {
        ann.send_text(
            &frame("SUBSCRIBE")
                .header("id", &format!("online-{attempt}"))
                .header("destination", "/app/online")
                .text(),
        )
        .await;
        let (names, _) = next_body(&mut ann).await;
        let names: Vec<String> = serde_json::from_str(&names).unwrap();
        if names.contains(&"bob".to_owned()) {
            assert!(names.contains(&"ann".to_owned()), "{names:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never appeared on server one: {names:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
