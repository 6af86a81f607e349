//! The W3C trace context across the relay: a `traceparent` (and `tracestate`) sent with a
//! SEND comes back on the MESSAGE from RabbitMQ (STOMP on 127.0.0.1:61613, guest/guest;
//! `scripts/services.sh` starts it), and an `/app` handler's reply, published through the
//! relay's system connection, carries the context of the SEND that caused it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use stomp_axum::prelude::*;
use stomp_core::relay::{Relay, RelayConfig};
use stomp_core::trace::{TRACEPARENT, TRACESTATE};
use stomp_e2e::{frame, spawn_server, WsClient};

const RABBIT: &str = "127.0.0.1:61613";
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const OTHER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[message_mapping("/shout/{room}")]
#[send_to("/topic/shout.{room}")]
async fn shout(Payload(text): Payload<String>) -> String {
    text.to_uppercase()
}

async fn subscribe(client: &mut WsClient, id: &str, destination: &str) {
    client
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", id)
                .header("destination", destination)
                .header("receipt", id)
                .text(),
        )
        .await;
    client.expect_frame("RECEIPT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_context_crosses_the_relay() {
    let relay = Relay::start(
        RelayConfig::new([RABBIT])
            .virtual_host("/")
            .system_login("guest", "guest"),
    );
    relay
        .wait_available(Duration::from_secs(15))
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)");
    let stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .broker(relay.clone())
        .handler(shout)
        .build();
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;
    let mut client = WsClient::connect(&server.ws_url("/ws")).await;
    client.stomp_connect().await;

    let topic = format!("/topic/{}", unique("traced"));
    subscribe(&mut client, "news", &topic).await;
    client
        .send_text(
            &frame("SEND")
                .header("destination", &topic)
                .header(TRACEPARENT, PARENT)
                .header(TRACESTATE, "vendor=1")
                .body("through RabbitMQ")
                .text(),
        )
        .await;
    let message = client.expect_frame("MESSAGE").await;
    assert_eq!(message.body_text(), "through RabbitMQ");
    assert_eq!(message.header(TRACEPARENT), Some(PARENT), "{message:?}");
    assert_eq!(message.header(TRACESTATE), Some("vendor=1"));

    let room = unique("room");
    subscribe(&mut client, "shout", &format!("/topic/shout.{room}")).await;
    client
        .send_text(
            &frame("SEND")
                .header("destination", &format!("/app/shout/{room}"))
                .header("content-type", "application/json")
                .header(TRACEPARENT, OTHER)
                .body("\"hello\"")
                .text(),
        )
        .await;
    let reply = client.expect_frame("MESSAGE").await;
    assert_eq!(reply.body_text(), "HELLO");
    assert_eq!(reply.header(TRACEPARENT), Some(OTHER), "{reply:?}");
}
