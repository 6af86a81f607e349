//! ACK/NACK through the RabbitMQ relay (STOMP on 127.0.0.1:61613, guest/guest;
//! `scripts/services.sh` starts it) from STOMP 1.0 and 1.1 WebSocket clients, in both
//! connection modes. The relay speaks 1.2 to RabbitMQ while the clients speak 1.0/1.1:
//! clients acknowledge by the `message-id` the relay wrote (plus `subscription` in 1.1), the
//! broker gets its own ack ids back. A session may settle only its own deliveries, and a
//! 1.1 ACK only on the subscription that received the message.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use stomp_axum::prelude::*;
use stomp_core::relay::{ConnectionMode, Relay, RelayConfig};
use stomp_e2e::{frame, spawn_server, ClientOptions, TestServer, WireFrame, WsClient};

const RABBIT: &str = "127.0.0.1:61613";
const WAIT: Duration = Duration::from_secs(15);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

struct Instance {
    server: TestServer,
    relay: Relay,
}

async fn instance(mode: ConnectionMode) -> Instance {
    let relay = Relay::start(
        RelayConfig::new([RABBIT])
            .virtual_host("/")
            .system_login("guest", "guest")
            .mode(mode),
    );
    relay
        .wait_available(WAIT)
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)");
    let stomp = Stomp::builder().broker(relay.clone()).build();
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;
    Instance { server, relay }
}

/// A raw client of `version`, offering every subprotocol as browsers do.
struct Peer {
    ws: WsClient,
    version: &'static str,
}

impl Peer {
    async fn connect(instance: &Instance, version: &'static str) -> Peer {
        let mut ws = ClientOptions::new()
            .protocols(["v12.stomp", "v11.stomp", "v10.stomp"])
            .connect(&instance.server.ws_url("/ws"))
            .await
            .unwrap();
        let mut connect = frame("CONNECT").header("host", "/");
        if version != "1.0" {
            connect = connect.header("accept-version", version);
        }
        ws.send_text(&connect.text()).await;
        let connected = ws.expect_frame("CONNECTED").await;
        assert_eq!(connected.header("version"), Some(version));
        Peer { ws, version }
    }

    /// Sends a frame with a receipt and waits for it; MESSAGEs that come first are returned.
    async fn request(&mut self, f: stomp_e2e::FrameBuilder) -> Vec<WireFrame> {
        let id = unique("r");
        self.ws.send_text(&f.header("receipt", &id).text()).await;
        let mut early = Vec::new();
        loop {
            let reply = self.ws.next_frame().await;
            match reply.command.as_str() {
                "RECEIPT" => {
                    assert_eq!(reply.header("receipt-id"), Some(&*id));
                    return early;
                }
                "MESSAGE" => early.push(reply),
                _ => panic!("{}: {reply:?}", self.version),
            }
        }
    }

    async fn subscribe(&mut self, id: Option<&str>, destination: &str, ack: &str) {
        let mut f = frame("SUBSCRIBE")
            .header("destination", destination)
            .header("ack", ack);
        if let Some(id) = id {
            f = f.header("id", id);
        }
        assert!(self.request(f).await.is_empty());
    }

    async fn send(&mut self, destination: &str, body: &str) -> Vec<WireFrame> {
        self.request(frame("SEND").header("destination", destination).body(body))
            .await
    }

    /// ACK/NACK the way this version's clients do.
    fn ack(
        &self,
        command: &str,
        message: &WireFrame,
        subscription: &str,
    ) -> stomp_e2e::FrameBuilder {
        let f = frame(command).header("message-id", message.header("message-id").unwrap());
        if self.version == "1.1" {
            f.header("subscription", subscription)
        } else {
            f
        }
    }

    async fn messages(&mut self, mut got: Vec<WireFrame>, n: usize) -> Vec<WireFrame> {
        while got.len() < n {
            got.push(self.ws.expect_frame("MESSAGE").await);
        }
        got
    }

    async fn expect_error(&mut self, starts_with: &str) {
        let error = self.ws.expect_frame("ERROR").await;
        let message = error.header("message").unwrap_or_default();
        assert!(message.starts_with(starts_with), "{message:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_1_1_clients_ack_and_nack_through_rabbitmq() {
    for mode in [
        ConnectionMode::PerClient,
        ConnectionMode::Multiplexed { connections: 2 },
    ] {
        let app = instance(mode).await;
        let mut ann = Peer::connect(&app, "1.1").await;
        let queue = format!("/queue/{}", unique("v11-ci"));
        ann.subscribe(Some("work"), &queue, "client-individual")
            .await;
        let mut early = Vec::new();
        for body in ["m1", "m2", "m3"] {
            early.extend(ann.send(&queue, body).await);
        }
        let got = ann.messages(early, 3).await;
        let bodies: Vec<String> = got.iter().map(WireFrame::body_text).collect();
        assert_eq!(bodies, ["m1", "m2", "m3"], "{mode:?}");
        for m in &got {
            assert_eq!(m.header("subscription"), Some("work"));
            assert_eq!(m.header("ack"), None, "no 1.2 ack header for a 1.1 client");
        }
        assert!(ann
            .request(ann.ack("ACK", &got[0], "work"))
            .await
            .is_empty());
        let early = ann.request(ann.ack("NACK", &got[1], "work")).await;
        let again = ann.messages(early, 1).await.remove(0);
        assert_eq!(
            again.body_text(),
            "m2",
            "{mode:?}: RabbitMQ redelivers the NACKed one"
        );
        assert_eq!(again.header("redelivered"), Some("true"));
        assert!(ann.request(ann.ack("ACK", &again, "work")).await.is_empty());
        // In a transaction: applied on COMMIT.
        assert!(ann
            .request(frame("BEGIN").header("transaction", "t"))
            .await
            .is_empty());
        let in_tx = ann.ack("ACK", &got[2], "work").header("transaction", "t");
        assert!(ann.request(in_tx).await.is_empty());
        assert!(ann
            .request(frame("COMMIT").header("transaction", "t"))
            .await
            .is_empty());
        // Settled: a second ACK names nothing pending.
        ann.ws
            .send_text(&ann.ack("ACK", &got[2], "work").text())
            .await;
        ann.expect_error("no message pending").await;
        app.relay.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_1_1_acks_name_their_own_session_and_subscription() {
    let app = instance(ConnectionMode::Multiplexed { connections: 2 }).await;
    let queue = format!("/queue/{}", unique("v11-own"));
    let mut ann = Peer::connect(&app, "1.1").await;
    ann.subscribe(Some("work"), &queue, "client").await;
    ann.subscribe(
        Some("other"),
        &format!("/queue/{}", unique("v11-other")),
        "client",
    )
    .await;
    let early = ann.send(&queue, "mine").await;
    let message = ann.messages(early, 1).await.remove(0);

    // Another session, even with the same subscription id, cannot settle it.
    let mut eve = Peer::connect(&app, "1.1").await;
    eve.subscribe(
        Some("work"),
        &format!("/queue/{}", unique("v11-eve")),
        "client",
    )
    .await;
    eve.ws
        .send_text(&eve.ack("ACK", &message, "work").text())
        .await;
    eve.expect_error("no message pending").await;

    // Nor can Ann on her other subscription.
    ann.ws
        .send_text(&ann.ack("ACK", &message, "other").text())
        .await;
    ann.expect_error("no message pending").await;

    // The message is still un-acked at RabbitMQ: it goes to the next consumer.
    let mut bob = Peer::connect(&app, "1.1").await;
    let early = bob
        .request(
            frame("SUBSCRIBE")
                .header("id", "b")
                .header("destination", &queue),
        )
        .await;
    let again = bob.messages(early, 1).await.remove(0);
    assert_eq!(again.body_text(), "mine");
    app.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_1_0_clients_subscribe_without_id_and_ack_through_rabbitmq() {
    let app = instance(ConnectionMode::Multiplexed { connections: 2 }).await;
    let queue = format!("/queue/{}", unique("v10"));
    let mut old = Peer::connect(&app, "1.0").await;
    old.subscribe(None, &queue, "client").await;
    let mut early = Vec::new();
    for body in ["m1", "m2", "m3"] {
        early.extend(old.send(&queue, body).await);
    }
    let got = old.messages(early, 3).await;
    for m in &got {
        assert_eq!(
            m.header("subscription"),
            Some(&*queue),
            "the destination is the id"
        );
    }
    // Cumulative: m1 and m2.
    assert!(old.request(old.ack("ACK", &got[1], "")).await.is_empty());
    // UNSUBSCRIBE by destination; m3 (un-acked) goes back to the queue.
    assert!(old
        .request(frame("UNSUBSCRIBE").header("destination", &queue))
        .await
        .is_empty());
    let nack = old.ack("NACK", &got[2], "");
    old.ws.send_text(&nack.text()).await;
    old.expect_error("NACK is not part of STOMP 1.0").await;

    // RabbitMQ keeps un-acked messages of a cancelled subscription until the connection
    // closes: the session above ended (ERROR), so m3 is back for the next consumer.
    let mut next = Peer::connect(&app, "1.0").await;
    let early = next
        .request(frame("SUBSCRIBE").header("destination", &queue))
        .await;
    let m3 = next.messages(early, 1).await.remove(0);
    assert_eq!(m3.body_text(), "m3");
    let end = next.send(&queue, "end").await;
    let end = next.messages(end, 1).await.remove(0);
    assert_eq!(end.body_text(), "end", "m1 and m2 were acked");
    app.relay.shutdown().await;
}
