//! Real third-party clients against the chat example, over real sockets:
//! `@stomp/stompjs` (node, with the `ws` package), `stomp.py` (python, over websocket-client)
//! and the chat page in Debian's chromium (playwright-core).
//!
//! Each test starts the chat server on 127.0.0.1:0, runs one client suite as a child process
//! with a time bound, and asserts its exit code. Install the clients with
//! `bash scripts/setup-test-clients.sh`. When a tool is missing the test says so loudly and
//! skips, unless the `CI` environment variable is set: then it fails.

mod durable_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use durable_support::{Chat, Scratch};
use stomp_e2e::external::{available, clients_dir, command_works, run};
use tokio::net::TcpListener;
use tokio::process::Command;

/// Starts the chat server on an ephemeral port; it runs until the test's runtime ends.
/// Its heart-beat offer is 500 ms so the clients' heart-beat checks take a second, not 20.
async fn start_chat() -> SocketAddr {
    start_chat_with(chat::Config {
        heartbeat: Duration::from_millis(500),
        ..chat::Config::default()
    })
    .await
}

async fn start_chat_with(config: chat::Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        if let Err(e) = chat::serve(listener, config).await {
            eprintln!("chat server stopped: {e}");
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stompjs_clients_pass() {
    let dir = clients_dir("js");
    if !available(
        "@stomp/stompjs client tests",
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
    let addr = start_chat().await;
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-timeout=30000",
            "--test-reporter=spec",
            "test/",
        ])
        .env("STOMP_WS_URL", format!("ws://{addr}/ws"))
        .env("STOMP_FLAVOR", "stomp-axum");
    let out = run("node @stomp/stompjs tests", cmd, Duration::from_secs(180)).await;
    // Every test ran against our server: none skipped, none failed.
    assert!(out.contains("ℹ fail 0"), "no failures reported:\n{out}");
    assert!(out.contains("ℹ skipped 0"), "nothing skipped:\n{out}");
}

/// Issue 15, item 4 (Must show): the chat's offline inbox with `@stomp/stompjs`, across a
/// restart of the real chat process on its `--data-dir`. Phase `before`: alice sends bob, who
/// is offline, a private message. The chat process is killed with SIGKILL and started again
/// on the same directory. Phase `after`: bob joins and receives it (`redelivered:true`);
/// while he is online a second message arrives at once. (`test/inbox.test.js`, in the suite
/// above, covers the same without a restart, plus an un-acked message coming back.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stompjs_offline_inbox_survives_a_chat_restart() {
    let dir = clients_dir("js");
    if !available(
        "@stomp/stompjs inbox test",
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
    let data = Scratch::new("inbox");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let (alice, bob) = (format!("alice{nanos}"), format!("bob{nanos}"));
    let phase = |phase: &str, url: String| {
        let mut cmd = Command::new("node");
        cmd.current_dir(&dir)
            .args([
                "--test",
                "--test-timeout=30000",
                "--test-reporter=spec",
                "inbox/",
            ])
            .env("STOMP_WS_URL", url)
            .env("STOMP_FLAVOR", "stomp-axum")
            .env("INBOX_PHASE", phase)
            .env("INBOX_ALICE", &alice)
            .env("INBOX_BOB", &bob);
        cmd
    };

    let mut chat = Chat::start(data.path()).await;
    let out = run(
        "inbox phase before",
        phase("before", chat.ws_url()),
        Duration::from_secs(60),
    )
    .await;
    assert!(out.contains("ℹ pass 1"), "phase before passes:\n{out}");
    chat.kill9().await;

    let chat = Chat::start(data.path()).await;
    assert!(
        chat.startup
            .iter()
            .any(|line| line.contains("restored 1 message")),
        "the restarted chat restores bob's message: {:?}",
        chat.startup
    );
    let out = run(
        "inbox phase after",
        phase("after", chat.ws_url()),
        Duration::from_secs(60),
    )
    .await;
    assert!(out.contains("ℹ pass 1"), "phase after passes:\n{out}");
    assert!(out.contains("ℹ fail 0"), "no failures:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_py_clients_pass() {
    if !available(
        "stomp.py client tests",
        &[(
            "python3 with stomp.py and websocket-client",
            command_works("python3", &["-c", "import stomp, websocket"]),
        )],
    ) {
        return;
    }
    let addr = start_chat().await;
    let mut cmd = Command::new("python3");
    cmd.current_dir(clients_dir("py"))
        .arg("test_stomp_py.py")
        .env("STOMP_WS_URL", format!("ws://{addr}/ws"))
        .env("STOMP_FLAVOR", "stomp-axum");
    let out = run("python stomp.py tests", cmd, Duration::from_secs(150)).await;
    assert!(out.contains("\nOK"), "unittest reports OK:\n{out}");
    assert!(!out.contains("skipped"), "nothing skipped:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_works_in_chromium() {
    let addr = start_chat().await;
    chat_page_test(addr, "chat").await;
}

/// The same page and handlers with `--relay`: rooms, presence and private messages go
/// through RabbitMQ's STOMP port (`scripts/services.sh` enables it) instead of the
/// embedded broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_works_in_chromium_through_the_rabbitmq_relay() {
    let relay = stomp_axum::core::relay::RelayConfig::new(["127.0.0.1:61613"])
        .virtual_host("/")
        .system_login("guest", "guest");
    let addr = start_chat_with(chat::Config {
        relay: Some(relay),
        ..chat::Config::default()
    })
    .await;
    chat_page_test(addr, "chat-relay").await;
}

/// Two chromium pages chat through the server at `addr`; screenshots go to
/// `target/e2e/{name}*.png`.
async fn chat_page_test(addr: SocketAddr, name: &str) {
    let dir = clients_dir("browser");
    let stompjs = chat::default_stompjs_path();
    if !available(
        "browser chat test",
        &[
            ("node", command_works("node", &["--version"])),
            (
                "tests/clients/browser/node_modules",
                dir.join("node_modules/playwright-core").is_dir(),
            ),
            (
                "/usr/bin/chromium",
                Path::new("/usr/bin/chromium").is_file(),
            ),
            (
                "examples/chat/web/node_modules (@stomp/stompjs)",
                stompjs.is_file(),
            ),
        ],
    ) {
        return;
    }
    let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/e2e")
        .join(name);
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg("chat.mjs")
        .env("CHAT_URL", format!("http://{addr}/"))
        .env("SCREENSHOT_DIR", &shots);
    let out = run("chromium chat test", cmd, Duration::from_secs(120)).await;
    assert!(
        out.contains("browser chat test: OK"),
        "script reports OK:\n{out}"
    );
    assert!(shots.join("chat.png").is_file(), "screenshot saved");
}
