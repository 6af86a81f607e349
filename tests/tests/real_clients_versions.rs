//! STOMP 1.0 and 1.1 with real third-party clients over the WebSocket endpoint of the chat
//! example: stomp.py's 1.0 and 1.1 protocol classes (`tests/clients/py/test_stomp_py_versions.py`)
//! and `@stomp/stompjs` restricted to 1.1 (`tests/clients/js/versions/`), each against the
//! embedded broker and against the RabbitMQ relay (STOMP on 127.0.0.1:61613, guest/guest;
//! `scripts/services.sh` starts it), where ACK/NACK ids are translated on both legs; stomp.py
//! also with the Redis backplane (127.0.0.1:6379).
//!
//! Install the clients with `bash scripts/setup-test-clients.sh`. When a tool is missing the
//! test says so loudly and skips, unless the `CI` environment variable is set: then it fails.

use std::net::SocketAddr;
use std::time::Duration;

use stomp_axum::core::relay::RelayConfig;
use stomp_e2e::external::{available, clients_dir, command_works, run};
use stomp_e2e::{connect_frame, frame, WsClient};
use tokio::net::TcpListener;
use tokio::process::Command;

/// Which broker the chat server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// The embedded `SimpleBroker`.
    Embedded,
    /// The embedded broker with the Redis backplane (127.0.0.1:6379).
    Backplane,
    /// The relay to RabbitMQ.
    Relay,
}

/// Starts the chat server on an ephemeral port; it runs until the test's runtime ends.
async fn start_chat(backend: Backend) -> SocketAddr {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let relay = backend == Backend::Relay;
    let config = chat::Config {
        heartbeat: Duration::from_millis(500),
        relay: relay.then(|| {
            RelayConfig::new(["127.0.0.1:61613"])
                .virtual_host("/")
                .system_login("guest", "guest")
        }),
        backplane: (backend == Backend::Backplane).then(|| {
            stomp_core::backplane::redis::RedisConfig::new("redis://127.0.0.1:6379")
                .prefix(format!("versions-{}-{nanos}", std::process::id()))
        }),
        ..chat::Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        if let Err(e) = chat::serve(listener, config).await {
            eprintln!("chat server stopped: {e}");
        }
    });
    if relay {
        wait_for_the_broker(addr).await;
    }
    addr
}

/// Until the relay's broker connection is up, CONNECT is refused (`broker unavailable`):
/// tries once every 200 ms, at most 15 s, so the clients never meet that.
async fn wait_for_the_broker(addr: SocketAddr) {
    let url = format!("ws://{addr}/ws");
    for _ in 0..75 {
        let mut probe = WsClient::connect(&url).await;
        probe.send_text(&connect_frame()).await;
        if probe.next_frame().await.command == "CONNECTED" {
            probe.send_text(&frame("DISCONNECT").text()).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "the relay did not reach RabbitMQ (127.0.0.1:61613) within 15 s; run scripts/services.sh"
    );
}

fn stomp_py_available() -> bool {
    available(
        "stomp.py version tests",
        &[(
            "python3 with stomp.py and websocket-client",
            command_works("python3", &["-c", "import stomp, websocket"]),
        )],
    )
}

async fn stomp_py_versions(backend: Backend) {
    if !stomp_py_available() {
        return;
    }
    let addr = start_chat(backend).await;
    let mut cmd = Command::new("python3");
    cmd.current_dir(clients_dir("py"))
        .arg("test_stomp_py_versions.py")
        .env("STOMP_WS_URL", format!("ws://{addr}/ws"));
    let out = run(
        "python stomp.py 1.0/1.1 tests",
        cmd,
        Duration::from_secs(180),
    )
    .await;
    assert!(out.contains("\nOK"), "unittest reports OK:\n{out}");
    assert!(!out.contains("skipped"), "nothing skipped:\n{out}");
    for class in ["Stomp10Test", "Stomp11Test"] {
        assert!(out.contains(class), "{class} ran:\n{out}");
    }
}

async fn stompjs_1_1(backend: Backend) {
    let dir = clients_dir("js");
    if !available(
        "@stomp/stompjs 1.1 tests",
        &[
            ("node", command_works("node", &["--version"])),
            (
                "tests/clients/js/node_modules",
                dir.join("node_modules/@stomp/stompjs").is_dir(),
            ),
        ],
    ) {
        return;
    }
    let addr = start_chat(backend).await;
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-timeout=30000",
            "--test-reporter=spec",
            "versions/",
        ])
        .env("STOMP_WS_URL", format!("ws://{addr}/ws"))
        .env("STOMP_FLAVOR", "stomp-axum");
    let out = run(
        "node @stomp/stompjs 1.1 tests",
        cmd,
        Duration::from_secs(180),
    )
    .await;
    assert!(out.contains("ℹ pass 5"), "all five passed:\n{out}");
    assert!(out.contains("ℹ fail 0"), "no failures reported:\n{out}");
    assert!(out.contains("ℹ skipped 0"), "nothing skipped:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_py_1_0_and_1_1_over_websocket() {
    stomp_py_versions(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_py_1_0_and_1_1_with_the_redis_backplane() {
    stomp_py_versions(Backend::Backplane).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_py_1_0_and_1_1_through_the_rabbitmq_relay() {
    stomp_py_versions(Backend::Relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stompjs_restricted_to_1_1() {
    stompjs_1_1(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stompjs_restricted_to_1_1_through_the_rabbitmq_relay() {
    stompjs_1_1(Backend::Relay).await;
}
