//! Hostile clients against a real server on `127.0.0.1:0` (issue 14, items 1 and 4): the
//! quadratic pattern walk, over-long destinations, and HTTP before the upgrade (idle
//! connections, a head trickled in byte by byte, a stalled body, the connection cap).
//! Every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use stomp_axum::{Serve, Stomp};
use stomp_e2e::{connect_frame, frame, WsClient, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server run by `stomp_axum::serve`, stopped by `stop`.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl Server {
    fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(TIMEOUT, self.handle)
            .await
            .expect("serve returns after the shutdown signal");
        served.unwrap().unwrap();
    }
}

fn app(stomp: &Stomp) -> Router {
    Router::new()
        .route("/", get(|| async { "index" }))
        .route("/echo", post(|body: String| async move { body }))
        .layer(stomp.layer("/ws"))
}

async fn start(stomp: &Stomp, configure: impl FnOnce(Serve<Router>) -> Serve<Router>) -> Server {
    let listener = stomp_axum::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = configure(stomp_axum::serve(listener, app(stomp)));
    let addr = serve.local_addr().unwrap();
    let serve = serve.with_graceful_shutdown(stomp.shutdown_signal(async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        handle: tokio::spawn(serve.into_future()),
    }
}

fn stomp_with(
    configure: impl FnOnce(
        stomp_axum::core::engine::EngineBuilder,
    ) -> stomp_axum::core::engine::EngineBuilder,
) -> Stomp {
    Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker(["/topic", "/queue"])
        .engine(configure)
        .build()
}

async fn connected(server: &Server) -> WsClient {
    let mut c = WsClient::connect(&server.ws_url()).await;
    c.stomp_connect().await;
    c
}

async fn subscribe(c: &mut WsClient, id: &str, destination: &str) {
    c.send_text(
        &frame("SUBSCRIBE")
            .header("id", id)
            .header("destination", destination)
            .header("receipt", &format!("sub-{id}"))
            .text(),
    )
    .await;
    let receipt = c.expect_frame("RECEIPT").await;
    assert_eq!(receipt.header("receipt-id"), Some(&*format!("sub-{id}")));
}

/// A runtime of its own for a server that might burn its threads' CPU: the test's timers
/// keep running however busy the server is, and a stuck server is abandoned, not awaited,
/// when the test ends.
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        ServerRuntime(Some(runtime))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().unwrap().handle()
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Patterns that all match `/topic/x` followed by empty segments, two `**` each.
const STACKED: [&str; 8] = [
    "/topic/x/**/**",
    "/topic/*/**/**",
    "/topic/**/**",
    "/topic/**/x/**",
    "/topic/**/*/**",
    "/topic/x/**/*/**",
    "/topic/*/**/*/**",
    "/topic/x/*/**/**",
];

/// `/topic/x` and 6 KB of empty segments.
fn deep_destination() -> String {
    format!("/topic/x{}", "/".repeat(6 * 1024))
}

/// The attack, with the destination limits raised so the 6 KB destination reaches
/// the pattern trie: 8 stacked-`**` subscriptions and SENDs to a 6 KB destination, while a
/// second attacker keeps adding pattern subscriptions (each waits for the pattern write
/// lock). A bystander's SEND to its own topic must still come back promptly; before the
/// fix every SEND cost seconds of CPU under the pattern read lock and the queued
/// SUBSCRIBE blocked the bystander's publish behind it.
#[tokio::test]
async fn quadratic_pattern_walk_does_not_stall_other_sessions() {
    let runtime = ServerRuntime::new();
    let (stomp, server) = runtime
        .handle()
        .spawn(async {
            let stomp = stomp_with(|e| {
                e.max_destination_len(16 * 1024)
                    .max_destination_segments(16 * 1024)
            });
            let server = start(&stomp, |s| s).await;
            (stomp, server)
        })
        .await
        .unwrap();

    let mut attacker = connected(&server).await;
    for (i, pattern) in STACKED.iter().enumerate() {
        subscribe(&mut attacker, &format!("p{i}"), pattern).await;
    }
    let mut subscriber = connected(&server).await;
    let mut bystander = connected(&server).await;
    subscribe(&mut bystander, "v", "/topic/v").await;

    let deep = deep_destination();
    let attack: Vec<u8> = (0..4)
        .flat_map(|i| {
            frame("SEND")
                .header("destination", &deep)
                .header("receipt", &format!("attack-{i}"))
                .body("x")
                .bytes()
        })
        .collect();
    attacker.send_binary(&attack).await;
    // A pattern SUBSCRIBE right behind the attack: it queues for the write lock.
    subscriber
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "late")
                .header("destination", "/topic/late/**")
                .text(),
        )
        .await;

    let mut slowest = Duration::ZERO;
    for round in 0..5 {
        let start = Instant::now();
        bystander
            .send_text(
                &frame("SEND")
                    .header("destination", "/topic/v")
                    .body(format!("m{round}"))
                    .text(),
            )
            .await;
        let message = tokio::time::timeout(Duration::from_secs(3), bystander.next_frame())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the bystander's SEND stalled for 3 s"));
        assert_eq!(message.command, "MESSAGE");
        assert_eq!(message.body_text(), format!("m{round}"));
        slowest = slowest.max(start.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a bystander's SEND took {slowest:?} during the attack"
    );

    // The attack itself completes quickly, and every stacked pattern got each message once.
    let mut receipts = 0;
    let mut messages = 0;
    while receipts < 4 {
        let f = attacker.next_frame().await;
        match f.command.as_str() {
            "RECEIPT" => receipts += 1,
            "MESSAGE" => messages += 1,
            other => panic!("unexpected {other}"),
        }
    }
    while messages < 4 * STACKED.len() {
        attacker.expect_frame("MESSAGE").await;
        messages += 1;
    }
    server.shut_down().await;
    drop(stomp);
}

async fn expect_refused(c: &mut WsClient, message: &str, limit: &str) {
    let error = c.expect_frame("ERROR").await;
    assert_eq!(error.header("message"), Some(message), "{error:?}");
    assert!(
        error.body_text().contains(limit),
        "the ERROR names {limit}: {:?}",
        error.body_text()
    );
    c.expect_close().await;
}

/// With the default limits (1,024 bytes, 32 segments) the attack's SEND, and SUBSCRIBEs
/// over either limit, end the session with an ERROR naming the limit; a bystander is
/// unaffected.
#[tokio::test]
async fn over_long_destinations_are_refused_with_error() {
    let stomp = stomp_with(|e| e);
    let server = start(&stomp, |s| s).await;

    let mut c = connected(&server).await;
    c.send_text(
        &frame("SEND")
            .header("destination", &deep_destination())
            .body("x")
            .text(),
    )
    .await;
    expect_refused(&mut c, "destination too long", "max_destination_len").await;

    let mut c = connected(&server).await;
    let long = format!("/topic/{}", "a".repeat(1100));
    c.send_text(
        &frame("SUBSCRIBE")
            .header("id", "0")
            .header("destination", &long)
            .text(),
    )
    .await;
    expect_refused(&mut c, "destination too long", "max_destination_len").await;

    let mut c = connected(&server).await;
    let many = format!("/topic{}", "/a".repeat(40));
    c.send_text(
        &frame("SUBSCRIBE")
            .header("id", "0")
            .header("destination", &many)
            .text(),
    )
    .await;
    expect_refused(
        &mut c,
        "destination has too many segments",
        "max_destination_segments",
    )
    .await;

    // Within the limits (32 segments, counting `.` too) all is well.
    let mut c = connected(&server).await;
    let ok = format!("/topic{}", "/a".repeat(30));
    subscribe(&mut c, "0", &ok).await;
    c.send_text(&frame("SEND").header("destination", &ok).body("fine").text())
        .await;
    assert_eq!(c.expect_frame("MESSAGE").await.body_text(), "fine");
    server.shut_down().await;
}

/// Reads until the server closes the connection (EOF or reset); panics after `limit`.
async fn expect_closed_within(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all)
        .await
        .unwrap_or_else(|_| panic!("the connection was still open after {limit:?}"));
    got
}

/// A raw TCP connection that sends nothing is closed by the header-read timeout.
#[tokio::test]
async fn idle_raw_tcp_connection_is_closed_by_the_header_read_timeout() {
    let stomp = stomp_with(|e| e);
    let server = start(&stomp, |s| {
        s.header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_secs(60))
    })
    .await;
    let start_at = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    expect_closed_within(&mut stream, Duration::from_secs(3)).await;
    assert!(start_at.elapsed() >= Duration::from_millis(250));
    server.shut_down().await;
}

/// An HTTP head trickled in at one byte every 100 ms is cut off by the header-read
/// timeout (500 ms), although bytes keep arriving.
#[tokio::test]
async fn trickled_request_head_is_closed_by_the_header_read_timeout() {
    let stomp = stomp_with(|e| e);
    let server = start(&stomp, |s| {
        s.header_read_timeout(Duration::from_millis(500))
            .idle_timeout(Duration::from_secs(60))
    })
    .await;
    let head = b"GET / HTTP/1.1\r\nhost: localhost\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start_at = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut closed = false;
    // Bounded: the whole head would take 10 s; the server must cut it off long before.
    for byte in head.iter() {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Err(_) => {} // still open, nothing to read: next byte
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                // hyper may answer 408 before closing.
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                assert!(
                    text.starts_with("HTTP/1.1 408"),
                    "unexpected answer {text:?}"
                );
            }
        }
    }
    assert!(closed, "the trickled head was read to the end");
    let took = start_at.elapsed();
    assert!(took < Duration::from_secs(3), "closed only after {took:?}");
    server.shut_down().await;
}

/// A request whose body stalls is closed by the idle timeout.
#[tokio::test]
async fn stalled_request_body_is_closed_by_the_idle_timeout() {
    let stomp = stomp_with(|e| e);
    let server = start(&stomp, |s| {
        s.header_read_timeout(Duration::from_secs(60))
            .idle_timeout(Duration::from_millis(400))
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\nonly ten b",
        )
        .await
        .unwrap();
    expect_closed_within(&mut stream, Duration::from_secs(3)).await;
    server.shut_down().await;
}

async fn http_get_on(stream: &mut TcpStream) {
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
}

/// With `max_connections(2)`, two open WebSocket sessions fill the cap: a third TCP
/// connection is not served until one of them closes.
#[tokio::test]
async fn connection_cap_counts_websocket_sessions() {
    let stomp = stomp_with(|e| e);
    let server = start(&stomp, |s| s.max_connections(2)).await;
    let mut first = connected(&server).await;
    let _second = connected(&server).await;

    // The kernel completes the handshake (backlog); the server does not accept it yet.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    http_get_on(&mut third).await;
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a connection over the cap was served: {early:?}"
    );

    first
        .send_text(&frame("DISCONNECT").header("receipt", "bye").text())
        .await;
    first.expect_frame("RECEIPT").await;
    drop(first);
    let response = expect_closed_within(&mut third, TIMEOUT).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("index"), "{response}");
    server.shut_down().await;
}

/// The plain HTTP route and the STOMP endpoint work through `serve`, requests carry the
/// peer address, and the graceful shutdown closes the STOMP sessions and returns.
#[tokio::test]
async fn serve_answers_http_and_stomp_and_shuts_down_gracefully() {
    let stomp = stomp_with(|e| e);
    let server = start(&stomp, |s| s).await;
    let (status, body) = stomp_e2e::http_get(server.addr, "/", &[]).await;
    assert_eq!((status, body.as_str()), (200, "index"));
    let mut c = WsClient::connect(&server.ws_url()).await;
    c.send_text(&connect_frame()).await;
    c.expect_frame("CONNECTED").await;
    server.shut_down().await;
    let error = c.expect_frame("ERROR").await;
    assert_eq!(error.header("message"), Some("server shutting down"));
    c.expect_close().await;
}
