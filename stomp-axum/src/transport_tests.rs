//! Wire tests of the transport over real sockets, against the stand-in engine
//! (`test_backend`): what the WebSocket layer promises, independent of the engine.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use stomp_core::identity::Principal;
use stomp_e2e::{frame, http_get, spawn_server, spawn_server_with, ClientOptions, WsClient};

use crate::{HandshakeRejection, Stomp};

fn app(stomp: &Stomp) -> Router {
    Router::new()
        .route("/", get(|| async { "index" }))
        .layer(stomp.layer("/ws"))
}

#[tokio::test]
async fn frames_split_across_messages_and_several_per_message() {
    let stomp = Stomp::builder().build_echo();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    let send = frame("SEND")
        .header("destination", "/a")
        .body("hello")
        .text();
    let (head, tail) = send.split_at(7);
    c.send_text(head).await;
    c.send_binary(tail.as_bytes()).await;
    let echoed = c.expect_frame("SEND").await;
    assert_eq!(echoed.body, b"hello");

    let two = format!(
        "{}{}",
        frame("SEND").header("destination", "/1").text(),
        frame("SEND").header("destination", "/2").text()
    );
    c.send_text(&two).await;
    assert_eq!(
        c.expect_frame("SEND").await.header("destination"),
        Some("/1")
    );
    assert_eq!(
        c.expect_frame("SEND").await.header("destination"),
        Some("/2")
    );
}

#[tokio::test]
async fn binary_bodies_come_back_as_binary_messages_and_text_as_text() {
    let stomp = Stomp::builder().build_echo();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    let binary = frame("SEND")
        .header("destination", "/b")
        .body_with_length(b"a\0b\xff");
    c.send_binary(&binary.bytes()).await;
    let (frames, is_binary) = c.recv_message_frames().await;
    assert!(is_binary, "a body with NUL must arrive as a binary message");
    assert_eq!(frames[0].body, b"a\0b\xff");

    c.send_binary(
        &frame("SEND")
            .header("destination", "/t")
            .body("txt")
            .bytes(),
    )
    .await;
    let (frames, is_binary) = c.recv_message_frames().await;
    assert!(!is_binary, "a UTF-8 frame must arrive as a text message");
    assert_eq!(frames[0].body, b"txt");
}

#[tokio::test]
async fn subprotocol_negotiation() {
    let stomp = Stomp::builder().build_echo();
    let server = spawn_server(app(&stomp)).await;
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["v12.stomp"], Some("v12.stomp")),
        (&["v11.stomp"], Some("v11.stomp")),
        (&["v10.stomp"], Some("v10.stomp")),
        (&["v10.stomp", "v11.stomp", "v12.stomp"], Some("v12.stomp")),
        (&[], None),
    ];
    for (offered, selected) in cases {
        let mut c = ClientOptions::new()
            .protocols(offered.iter().copied())
            .connect(&server.ws_url("/ws"))
            .await
            .expect("upgrade");
        assert_eq!(c.protocol(), *selected, "offered {offered:?}");
        let connected = c.stomp_connect().await;
        assert_eq!(
            connected.header("subprotocol"),
            Some(selected.unwrap_or("none")),
            "the engine is told the negotiated subprotocol"
        );
    }
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let stomp = Stomp::builder().build_echo();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.ping_pong(b"are you there").await;
    c.stomp_connect().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_gets_error_and_close_1009() {
    let stomp = Stomp::builder().max_message_size(1024).build_echo();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    let big = frame("SEND")
        .header("destination", "/a")
        .body("x".repeat(2000))
        .text();
    c.send_text(&big).await;
    let error = c.expect_frame("ERROR").await;
    assert!(error.header("message").unwrap().contains("too large"));
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("1024"), "{reason}");
    assert_eq!(stomp.transport_stats().messages_too_large, 1);

    // Far over the limit (past tungstenite's hard limit, the rest left unread): the same.
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    c.send_text(&"x".repeat(10_000)).await;
    c.expect_frame("ERROR").await;
    assert_eq!(c.expect_close().await.0, 1009);
}

#[tokio::test]
async fn close_codes_for_disconnect_and_protocol_error() {
    let stomp = Stomp::builder().build_echo();
    let server = spawn_server(app(&stomp)).await;

    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    c.send_text(&frame("DISCONNECT").header("receipt", "bye").text())
        .await;
    c.expect_frame("RECEIPT").await;
    assert_eq!(c.expect_close().await, (1000, "client disconnected".into()));

    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.send_text(&frame("BAD").text()).await;
    c.expect_frame("ERROR").await;
    assert_eq!(c.expect_close().await, (1002, "bad frame".into()));
}

#[tokio::test]
async fn origins_same_origin_by_default_listed_ones_allowed_others_403() {
    let stomp = Stomp::builder()
        .allow_origins(["https://app.example.com"])
        .build_echo();
    let server = spawn_server(app(&stomp)).await;
    let url = server.ws_url("/ws");
    let same = format!("http://{}", server.addr);
    for (origin, ok) in [
        (Some(same.as_str()), true),
        (Some("https://app.example.com"), true),
        (Some("https://evil.example.com"), false),
        (Some("null"), false),
        (None, true),
    ] {
        let mut options = ClientOptions::new();
        if let Some(origin) = origin {
            options = options.origin(origin);
        }
        match options.connect(&url).await {
            Ok(_) => assert!(ok, "{origin:?} should be refused"),
            Err(status) => {
                assert!(!ok, "{origin:?} should be allowed");
                assert_eq!(status, 403);
            }
        }
    }
    assert_eq!(stomp.transport_stats().handshakes_refused, 2);
}

#[tokio::test]
async fn handshake_principal_reaches_the_session_and_refusal_is_401() {
    let stomp = Stomp::builder()
        .handshake_principal(|parts: axum::http::request::Parts| async move {
            match parts.headers.get("authorization").map(|v| v.to_str()) {
                Some(Ok(token)) if token.starts_with("Bearer ") => {
                    Ok(Some(Principal::new(&token[7..])))
                }
                Some(_) => Err(HandshakeRejection::unauthorized("bad token")),
                None => Ok(None),
            }
        })
        .build_echo();
    let server = spawn_server(app(&stomp)).await;
    let url = server.ws_url("/ws");

    let mut c = ClientOptions::new()
        .header("authorization", "Bearer ann")
        .connect(&url)
        .await
        .expect("upgrade");
    let connected = c.stomp_connect().await;
    assert_eq!(connected.header("user-name"), Some("ann"));
    assert_eq!(connected.header("remote"), Some("127.0.0.1"));

    let mut anonymous = WsClient::connect(&url).await;
    assert_eq!(
        anonymous.stomp_connect().await.header("user-name"),
        Some("")
    );

    let refused = ClientOptions::new()
        .header("authorization", "Basic xyz")
        .connect(&url)
        .await;
    assert_eq!(refused.err(), Some(401));
}

/// An extractor taking the user from a cookie, refusing without it.
struct CookieUser(Principal);

impl From<CookieUser> for Option<Principal> {
    fn from(CookieUser(p): CookieUser) -> Self {
        Some(p)
    }
}

impl axum::extract::FromRequestParts<()> for CookieUser {
    type Rejection = HandshakeRejection;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &(),
    ) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get("cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.strip_prefix("user="))
            .map(|name| CookieUser(Principal::new(name)))
            .ok_or_else(|| HandshakeRejection::forbidden("log in first"))
    }
}

#[tokio::test]
async fn handshake_principal_from_an_axum_extractor() {
    let stomp = Stomp::builder()
        .handshake_extractor::<CookieUser>()
        .build_echo();
    let server = spawn_server(app(&stomp)).await;
    let url = server.ws_url("/ws");
    let mut c = ClientOptions::new()
        .header("cookie", "user=bob")
        .connect(&url)
        .await
        .expect("upgrade");
    assert_eq!(c.stomp_connect().await.header("user-name"), Some("bob"));
    assert_eq!(ClientOptions::new().connect(&url).await.err(), Some(403));
}

#[tokio::test]
async fn max_connections_refuses_with_503_and_frees_slots() {
    let stomp = Stomp::builder().max_connections(2).build_echo();
    let server = spawn_server(app(&stomp)).await;
    let url = server.ws_url("/ws");
    let mut a = WsClient::connect(&url).await;
    a.stomp_connect().await;
    let mut b = WsClient::connect(&url).await;
    b.stomp_connect().await;
    assert_eq!(ClientOptions::new().connect(&url).await.err(), Some(503));
    assert_eq!(stomp.transport_stats().connections_current, 2);

    a.send_text(&frame("DISCONNECT").text()).await;
    a.expect_frame("RECEIPT").await;
    a.expect_close().await;
    // The slot is freed when the server's connection task ends: wait for it, bounded.
    let freed = tokio::time::timeout(stomp_e2e::TIMEOUT, async {
        while stomp.transport_stats().connections_current != 1 {
            tokio::task::yield_now().await;
        }
    });
    freed.await.expect("slot freed");
    let mut c = WsClient::connect(&url).await;
    c.stomp_connect().await;
    assert_eq!(stomp.transport_stats().connections_total, 3);
}

#[tokio::test]
async fn no_first_message_in_time_closes_with_1008() {
    let limit = Duration::from_millis(200);
    let stomp = Stomp::builder().time_to_first_message(limit).build_echo();
    let server = spawn_server(app(&stomp)).await;
    let start = tokio::time::Instant::now();
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("no STOMP frame"), "{reason}");
    assert!(start.elapsed() >= limit);
    assert_eq!(stomp.transport_stats().first_message_timeouts, 1);

    // A client that speaks in time is not closed by that limit.
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    c.ping_pong(b"after").await;
}

#[tokio::test]
async fn graceful_shutdown_sends_error_then_1001_and_serve_returns() {
    let stomp = Stomp::builder().build_echo();
    let wrap_stomp = stomp.clone();
    let mut server = spawn_server_with(
        app(&stomp),
        Some(Box::new(move |signal| {
            Box::pin(wrap_stomp.shutdown_signal(signal))
        })),
    )
    .await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    server.trigger_shutdown();
    let error = c.expect_frame("ERROR").await;
    assert_eq!(error.header("message"), Some("server shutting down"));
    assert_eq!(
        c.expect_close().await,
        (1001, "server shutting down".into())
    );
    tokio::time::timeout(stomp_e2e::TIMEOUT, &mut server.handle)
        .await
        .expect("serve returns promptly after shutdown")
        .expect("serve task");
    assert_eq!(stomp.transport_stats().connections_current, 0);
}

#[tokio::test]
async fn two_endpoints_in_one_app_are_independent_and_other_routes_pass_through() {
    let a = Stomp::builder().build_echo();
    let b = Stomp::builder().max_connections(1).build_echo();
    let app = Router::new()
        .route("/", get(|| async { "index" }))
        .merge(b.router("/b"))
        .layer(a.layer("/a"));
    let server = spawn_server(app).await;
    let mut ca = WsClient::connect(&server.ws_url("/a")).await;
    ca.stomp_connect().await;
    let mut cb = WsClient::connect(&server.ws_url("/b")).await;
    cb.stomp_connect().await;
    assert_eq!(
        ClientOptions::new()
            .connect(&server.ws_url("/b"))
            .await
            .err(),
        Some(503)
    );
    let mut ca2 = WsClient::connect(&server.ws_url("/a")).await;
    ca2.stomp_connect().await;
    assert_eq!(a.transport_stats().connections_total, 2);
    assert_eq!(b.transport_stats().connections_total, 1);

    let (status, body) = http_get(server.addr, "/", &[]).await;
    assert_eq!((status, body.contains("index")), (200, true));

    // Shutting one endpoint down leaves the other serving.
    assert!(a.shutdown().await);
    ca.expect_frame("ERROR").await;
    assert_eq!(ca.expect_close().await.0, 1001);
    cb.send_text(&frame("SEND").header("destination", "/x").text())
        .await;
    cb.expect_frame("SEND").await;
    assert!(matches!(
        ClientOptions::new().connect(&server.ws_url("/a")).await,
        Err(503)
    ));
}
