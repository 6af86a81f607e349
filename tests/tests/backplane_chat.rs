//! Two chat servers (`examples/chat` with a Redis backplane, as `--backplane` sets it up)
//! share topics.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use backplane_support::{next_body, send, subscribe, unique_prefix};
use stomp_e2e::{spawn_server, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_servers_share_rooms_over_redis() {
    let config = chat::Config {
        backplane: Some(
            stomp_redis::RedisConfig::new("redis://127.0.0.1:6379").prefix(unique_prefix("chat")),
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
}
