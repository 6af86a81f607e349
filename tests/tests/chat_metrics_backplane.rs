//! The chat example with a Redis backplane (Redis on 127.0.0.1:6379; `scripts/services.sh`
//! starts it): `/metrics` shows the link up and the messages it forwards.
//!
//! Its own test binary: the `metrics` recorder is global to the process.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use backplane_support::unique_prefix;
use stomp_e2e::{frame, http_get, spawn_server, TestServer, WsClient};

fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = format!("{name}{labels} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&key))
        .map(|value| value.trim().parse().unwrap())
}

async fn scrape(server: &TestServer) -> String {
    let (status, body) = http_get(server.addr, "/metrics", &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backplane_link_and_traffic_show_in_metrics() {
    let config = chat::Config {
        backplane: Some(
            stomp_core::backplane::redis::RedisConfig::new("redis://127.0.0.1:6379")
                .prefix(unique_prefix("chat-metrics")),
        ),
        ..chat::Config::default()
    };
    let stomp = chat::stomp(&config);
    let server = spawn_server(chat::app_with(&config, &stomp)).await;
    let mut client = WsClient::connect(&server.ws_url("/ws")).await;
    client.stomp_connect().await;
    client
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "0")
                .header("destination", "/topic/metrics.room")
                .header("receipt", "sub")
                .text(),
        )
        .await;
    client.expect_frame("RECEIPT").await;

    // The link comes up in the background: send until a message was forwarded (each
    // round trip through Redis is the event waited for), bounded.
    let mut forwarded = 0.0;
    for round in 0..50 {
        client
            .send_text(
                &frame("SEND")
                    .header("destination", "/topic/metrics.room")
                    .body(format!("m{round}"))
                    .text(),
            )
            .await;
        client.expect_frame("MESSAGE").await;
        let text = scrape(&server).await;
        forwarded = sample(
            &text,
            "stomp_backplane_messages_total",
            "{outcome=\"forwarded\"}",
        )
        .unwrap_or(0.0);
        if forwarded >= 1.0 {
            assert_eq!(
                sample(&text, "stomp_backplane_link_up", ""),
                Some(1.0),
                "{text}"
            );
            assert!(text.contains("stomp_backplane_reconnects_total"), "{text}");
            break;
        }
        // The link state is not observable from outside the chat: pause before the next try.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        forwarded >= 1.0,
        "no message was forwarded over the backplane"
    );
}
