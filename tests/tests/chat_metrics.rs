//! The chat example's `/metrics` (Prometheus text) while clients connect, chat and leave
//! over real WebSockets: `stomp_sessions` follows them and the counters move.
//!
//! Its own test binary: the `metrics` recorder is global to the process.
#![allow(clippy::unwrap_used, missing_docs)]

use stomp_core::events::SessionEvent;
use stomp_e2e::{frame, http_get, spawn_server, TestServer, WsClient};

/// The value of the sample `name` (with exactly `labels`, e.g. `{command="SEND"}`), if
/// the exposition has it.
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

async fn login(server: &TestServer, name: &str) -> WsClient {
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
    client.expect_frame("CONNECTED").await;
    client
}

async fn request(client: &mut WsClient, frame: stomp_e2e::FrameBuilder, receipt: &str) {
    client
        .send_text(&frame.header("receipt", receipt).text())
        .await;
    loop {
        let next = client.next_frame().await;
        if next.command == "RECEIPT" {
            assert_eq!(next.header("receipt-id"), Some(receipt));
            return;
        }
        assert_eq!(next.command, "MESSAGE", "{next:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_clients_that_connect_chat_and_leave() {
    let config = chat::Config::default();
    let stomp = chat::stomp(&config);
    let mut events = stomp.subscribe_events();
    let server = spawn_server(chat::app_with(&config, &stomp)).await;

    let before = scrape(&server).await;
    assert_eq!(sample(&before, "stomp_sessions", ""), Some(0.0), "{before}");

    let mut alice = login(&server, "alice").await;
    let mut bob = login(&server, "bob").await;
    for (client, receipt) in [(&mut alice, "a-sub"), (&mut bob, "b-sub")] {
        let subscribe = frame("SUBSCRIBE")
            .header("id", "0")
            .header("destination", "/topic/chat.lobby");
        request(client, subscribe, receipt).await;
    }
    let connected = scrape(&server).await;
    assert_eq!(
        sample(&connected, "stomp_sessions", ""),
        Some(2.0),
        "{connected}"
    );
    assert_eq!(
        sample(&connected, "stomp_connects_total", "{outcome=\"accepted\"}"),
        Some(2.0)
    );
    assert_eq!(sample(&connected, "stomp_subscriptions", ""), Some(2.0));

    let send = frame("SEND")
        .header("destination", "/app/chat/lobby")
        .header("content-type", "application/json")
        .body(r#"{"text":"hello"}"#);
    request(&mut alice, send, "a-send").await;
    let message = bob.expect_frame("MESSAGE").await;
    assert!(message.body_text().contains("hello"));

    let chatted = scrape(&server).await;
    let counter = |name: &str, labels: &str| sample(&chatted, name, labels).unwrap_or(0.0);
    assert_eq!(
        counter("stomp_frames_received_total", "{command=\"SEND\"}"),
        1.0,
        "{chatted}"
    );
    assert_eq!(
        counter("stomp_frames_received_total", "{command=\"SUBSCRIBE\"}"),
        2.0
    );
    assert_eq!(
        counter("stomp_frames_received_total", "{command=\"CONNECT\"}"),
        2.0
    );
    let route = "{route=\"/chat/{room}\",kind=\"message_mapping\"}";
    assert_eq!(
        counter("stomp_handler_calls_total", route),
        1.0,
        "{chatted}"
    );
    assert_eq!(counter("stomp_handler_duration_seconds_count", route), 1.0);
    assert_eq!(counter("stomp_handler_errors_total", route), 0.0);
    // The chat message to both, plus the presence announcements (nobody listens).
    assert!(
        counter("stomp_messages_delivered_total", "") >= 2.0,
        "{chatted}"
    );
    assert!(counter("stomp_messages_published_total", "") >= 1.0);
    assert_eq!(
        counter("stomp_frames_sent_total", "{command=\"RECEIPT\"}"),
        3.0
    );
    assert_eq!(
        counter("stomp_frames_sent_total", "{command=\"CONNECTED\"}"),
        2.0
    );
    assert!(counter("stomp_bytes_sent_total", "") > 0.0);
    assert!(counter("stomp_bytes_received_total", "") > 0.0);

    // mallory's SEND does not parse: the handler call fails and is reported on her error
    // queue (the session stays); then a SEND without a destination is a protocol error:
    // ERROR, and the session ends.
    let mut mallory = login(&server, "mallory").await;
    mallory
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "errors")
                .header("destination", "/user/queue/errors")
                .header("receipt", "errors")
                .text(),
        )
        .await;
    mallory.expect_frame("RECEIPT").await;
    mallory
        .send_text(
            &frame("SEND")
                .header("destination", "/app/chat/lobby")
                .header("content-type", "application/json")
                .body("{not json")
                .text(),
        )
        .await;
    let report = mallory.expect_frame("MESSAGE").await;
    assert_eq!(report.header("destination"), Some("/user/queue/errors"));
    mallory
        .send_text(&frame("SEND").body("where to?").text())
        .await;
    mallory.expect_frame("ERROR").await;

    // alice says goodbye; bob's tab just closes.
    alice
        .send_text(&frame("DISCONNECT").header("receipt", "bye").text())
        .await;
    alice.expect_frame("RECEIPT").await;
    drop(bob);
    let mut gone = 0;
    while gone < 3 {
        let event = tokio::time::timeout(stomp_e2e::TIMEOUT, events.recv())
            .await
            .expect("the three sessions end")
            .unwrap();
        if matches!(event, SessionEvent::Disconnected { .. }) {
            gone += 1;
        }
    }

    let left = scrape(&server).await;
    assert_eq!(sample(&left, "stomp_sessions", ""), Some(0.0), "{left}");
    assert_eq!(sample(&left, "stomp_subscriptions", ""), Some(0.0));
    assert_eq!(
        sample(
            &left,
            "stomp_disconnects_total",
            "{reason=\"client_disconnect\"}"
        ),
        Some(1.0),
        "{left}"
    );
    assert_eq!(
        sample(
            &left,
            "stomp_disconnects_total",
            "{reason=\"transport_closed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &left,
            "stomp_frames_received_total",
            "{command=\"DISCONNECT\"}"
        ),
        Some(1.0)
    );

    let errors = |labels: &str| sample(&left, "stomp_disconnects_total", labels);
    assert_eq!(errors("{reason=\"error\"}"), Some(1.0), "{left}");
    let route = "{route=\"/chat/{room}\",kind=\"message_mapping\"}";
    assert_eq!(sample(&left, "stomp_handler_calls_total", route), Some(2.0));
    assert_eq!(
        sample(&left, "stomp_handler_errors_total", route),
        Some(1.0)
    );
    let error_frames = "{command=\"ERROR\"}";
    assert_eq!(
        sample(&left, "stomp_frames_sent_total", error_frames),
        Some(1.0)
    );
    dashboard_queries_name_exported_metrics(&left);
}

/// Every metric the Grafana dashboard queries is one the chat exports (relay and
/// backplane figures exist only in those modes).
fn dashboard_queries_name_exported_metrics(exposition: &str) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/chat/grafana/stomp-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (at, _) in expr.match_indices("stomp_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.starts_with("stomp_relay_") || name.starts_with("stomp_backplane_") {
                    continue;
                }
                let exported = exposition.lines().any(|line| {
                    line.starts_with(&format!("{name} ")) || line.starts_with(&format!("{name}{{"))
                });
                assert!(
                    exported,
                    "the dashboard queries {name}, which /metrics lacks"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "the dashboard was read");
}
