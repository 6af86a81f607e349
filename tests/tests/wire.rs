//! Wire tests: raw STOMP over a real WebSocket against a real axum server on `127.0.0.1:0`,
//! through the public `stomp-axum` API and the real engine.
#![allow(clippy::unwrap_used, missing_docs)]

use axum::routing::get;
use axum::Router;
use stomp_axum::core::identity::Principal;
use stomp_axum::{HandshakeRejection, Stomp};
use stomp_e2e::{
    connect_frame, frame, spawn_server, spawn_server_with, ClientOptions, WsClient, TIMEOUT,
};

fn app(stomp: &Stomp) -> Router {
    Router::new()
        .route("/", get(|| async { "index" }))
        .layer(stomp.layer("/ws"))
}

fn stomp() -> Stomp {
    Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker(["/topic", "/queue"])
        .build()
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

#[tokio::test]
async fn publish_and_receive_with_frames_split_and_batched() {
    let stomp = stomp();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    // CONNECT split across three messages, mixing text and binary.
    let connect = connect_frame();
    c.send_text(&connect[..5]).await;
    c.send_binary(&connect.as_bytes()[5..12]).await;
    c.send_text(&connect[12..]).await;
    let connected = c.expect_frame("CONNECTED").await;
    assert_eq!(connected.header("version"), Some("1.2"));

    // SUBSCRIBE and two SENDs in one message.
    let batch = [
        frame("SUBSCRIBE")
            .header("id", "0")
            .header("destination", "/topic/t")
            .bytes(),
        frame("SEND")
            .header("destination", "/topic/t")
            .body("one")
            .bytes(),
        frame("SEND")
            .header("destination", "/topic/t")
            .header("receipt", "r2")
            .body("two")
            .bytes(),
    ]
    .concat();
    c.send_binary(&batch).await;
    let mut bodies = Vec::new();
    let mut receipt = false;
    for _ in 0..3 {
        let f = c.next_frame().await;
        match f.command.as_str() {
            "MESSAGE" => {
                assert_eq!(f.header("destination"), Some("/topic/t"));
                assert_eq!(f.header("subscription"), Some("0"));
                bodies.push(f.body_text());
            }
            "RECEIPT" => receipt = true,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(bodies, ["one", "two"]);
    assert!(receipt);
}

#[tokio::test]
async fn binary_body_with_nul_arrives_as_a_binary_message() {
    let stomp = stomp();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    subscribe(&mut c, "b", "/topic/bin").await;
    let body = b"\x00\x01binary\x00\xff";
    c.send_binary(
        &frame("SEND")
            .header("destination", "/topic/bin")
            .header("content-type", "application/octet-stream")
            .body_with_length(body)
            .bytes(),
    )
    .await;
    let (frames, binary) = c.recv_message_frames().await;
    assert!(binary, "NUL in the body: binary WebSocket message");
    assert_eq!(frames[0].command, "MESSAGE");
    assert_eq!(frames[0].body, body);
    assert_eq!(frames[0].header("content-length"), Some("10"));

    c.send_text(
        &frame("SEND")
            .header("destination", "/topic/bin")
            .body("plain")
            .text(),
    )
    .await;
    let (frames, binary) = c.recv_message_frames().await;
    assert!(!binary, "UTF-8 frame: text WebSocket message");
    assert_eq!(frames[0].body, b"plain");
}

#[tokio::test]
async fn connect_without_accept_version_is_stomp_1_0_whatever_the_subprotocol() {
    // The STOMP specification: a CONNECT without `accept-version` comes from a 1.0 client.
    let stomp = stomp();
    let server = spawn_server(app(&stomp)).await;
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&["v12.stomp"], Some("v12.stomp"), "1.0"),
        (&["v11.stomp"], Some("v11.stomp"), "1.0"),
        (&["v10.stomp"], Some("v10.stomp"), "1.0"),
        (
            &["v10.stomp", "v11.stomp", "v12.stomp"],
            Some("v12.stomp"),
            "1.0",
        ),
        (&[], None, "1.0"),
    ];
    for (offered, selected, version) in cases {
        let mut c = ClientOptions::new()
            .protocols(offered.iter().copied())
            .connect(&server.ws_url("/ws"))
            .await
            .unwrap();
        assert_eq!(c.protocol(), *selected, "offered {offered:?}");
        c.send_text(&frame("CONNECT").header("host", "localhost").text())
            .await;
        let connected = c.expect_frame("CONNECTED").await;
        assert_eq!(connected.header("version"), Some(*version), "{offered:?}");
    }
}

#[tokio::test]
async fn websocket_message_over_the_limit_gets_error_and_close_reason() {
    let stomp = Stomp::builder().max_message_size(4096).build();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    let big = frame("SEND")
        .header("destination", "/topic/x")
        .body("x".repeat(5000))
        .text();
    c.send_text(&big).await;
    let error = c.expect_frame("ERROR").await;
    assert!(error.header("message").unwrap().contains("too large"));
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("4096"), "{reason}");
}

#[tokio::test]
async fn disconnect_gets_receipt_then_close_1000_and_errors_close_1002() {
    let stomp = stomp();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    c.send_text(&frame("DISCONNECT").header("receipt", "bye").text())
        .await;
    assert_eq!(
        c.expect_frame("RECEIPT").await.header("receipt-id"),
        Some("bye")
    );
    assert_eq!(c.expect_close().await.0, 1000);

    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    c.send_text(&frame("SEND").body("no destination").text())
        .await;
    c.expect_frame("ERROR").await;
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 1002);
    assert!(!reason.is_empty());
}

#[tokio::test]
async fn origin_refused_with_403() {
    let stomp = stomp();
    let server = spawn_server(app(&stomp)).await;
    let refused = ClientOptions::new()
        .origin("https://evil.example")
        .connect(&server.ws_url("/ws"))
        .await;
    assert_eq!(refused.err(), Some(403));
    assert_eq!(stomp.stats().transport.handshakes_refused, 1);
}

#[tokio::test]
async fn handshake_principal_is_the_user_of_connected_and_user_destinations() {
    let stomp = Stomp::builder()
        .simple_broker(["/topic", "/queue"])
        .handshake_principal(|parts: axum::http::request::Parts| async move {
            match parts.headers.get("authorization").map(|v| v.to_str()) {
                Some(Ok(token)) if token.starts_with("Bearer ") => {
                    Ok(Some(Principal::new(&token[7..])))
                }
                _ => Err(HandshakeRejection::unauthorized("token required")),
            }
        })
        .build();
    let server = spawn_server(app(&stomp)).await;
    let url = server.ws_url("/ws");
    assert_eq!(ClientOptions::new().connect(&url).await.err(), Some(401));

    let mut c = ClientOptions::new()
        .header("authorization", "Bearer ann")
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(c.stomp_connect().await.header("user-name"), Some("ann"));
    let sessions = stomp.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].principal.as_ref().map(|p| p.name()),
        Some("ann")
    );
    assert_eq!(
        sessions[0]
            .remote_addr
            .map(|a| a.ip().to_string())
            .as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn max_connections_refuses_with_503() {
    let stomp = Stomp::builder().max_connections(1).build();
    let server = spawn_server(app(&stomp)).await;
    let mut a = WsClient::connect(&server.ws_url("/ws")).await;
    a.stomp_connect().await;
    let refused = ClientOptions::new().connect(&server.ws_url("/ws")).await;
    assert_eq!(refused.err(), Some(503));
    assert_eq!(stomp.stats().transport.connections_current, 1);
}

#[tokio::test]
async fn no_frame_within_the_time_to_first_message_closes_1008() {
    let stomp = Stomp::builder()
        .time_to_first_message(std::time::Duration::from_millis(200))
        .build();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    assert_eq!(c.expect_close().await.0, 1008);
}

#[tokio::test]
async fn graceful_shutdown_error_then_1001_and_serve_returns() {
    let stomp = stomp();
    let signal_stomp = stomp.clone();
    let mut server = spawn_server_with(
        app(&stomp),
        Some(Box::new(move |signal| {
            Box::pin(signal_stomp.shutdown_signal(signal))
        })),
    )
    .await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    subscribe(&mut c, "s", "/topic/s").await;
    server.trigger_shutdown();
    let error = c.expect_frame("ERROR").await;
    assert_eq!(error.header("message"), Some("server shutting down"));
    assert_eq!(
        c.expect_close().await,
        (1001, "server shutting down".into())
    );
    tokio::time::timeout(TIMEOUT, &mut server.handle)
        .await
        .expect("serve returns after the sessions closed")
        .unwrap();
    assert_eq!(stomp.stats().engine.sessions, 0);
}

#[tokio::test]
async fn two_endpoints_have_separate_engines() {
    let a = stomp();
    let b = stomp();
    let app = Router::new().merge(b.router("/b")).layer(a.layer("/a"));
    let server = spawn_server(app).await;
    let mut ca = WsClient::connect(&server.ws_url("/a")).await;
    ca.stomp_connect().await;
    subscribe(&mut ca, "1", "/topic/shared").await;
    let mut cb = WsClient::connect(&server.ws_url("/b")).await;
    cb.stomp_connect().await;
    subscribe(&mut cb, "1", "/topic/shared").await;

    b.template().send("/topic/shared", "only b").await.unwrap();
    assert_eq!(cb.expect_frame("MESSAGE").await.body, b"only b");
    a.template().send("/topic/shared", "only a").await.unwrap();
    assert_eq!(ca.expect_frame("MESSAGE").await.body, b"only a");
    assert_eq!(a.stats().engine.sessions, 1);
    assert_eq!(b.stats().engine.sessions, 1);
}

#[tokio::test]
async fn a_send_over_the_time_limit_closes_the_session() {
    use stomp_axum::core::outbound::OutboundConfig;
    let stomp = Stomp::builder()
        .simple_broker(["/topic"])
        .send_time_limit(std::time::Duration::from_millis(200))
        .outbound(OutboundConfig {
            max_buffered_bytes: 256 * 1024 * 1024,
            max_buffered_frames: 100_000,
            ..OutboundConfig::default()
        })
        .build();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.stomp_connect().await;
    subscribe(&mut c, "f", "/topic/flood").await;
    // The client stops reading; the server keeps publishing until its socket is full.
    let chunk = "x".repeat(64 * 1024);
    let template = stomp.template();
    let flood = async {
        for _ in 0..2_000 {
            template.send("/topic/flood", chunk.clone()).await.unwrap();
            if stomp.stats().transport.send_timeouts > 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        // Bounded: wait for the writer's time limit to pass.
        while stomp.stats().transport.send_timeouts == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(TIMEOUT, flood)
        .await
        .expect("the stalled send is detected");
    let closed = async {
        while stomp.stats().transport.connections_current != 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(TIMEOUT, closed)
        .await
        .expect("the connection is closed");
    assert_eq!(stomp.stats().engine.sessions, 0);
    drop(c);
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let stomp = stomp();
    let server = spawn_server(app(&stomp)).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.ping_pong(b"are you there").await;
    c.stomp_connect().await;
}

/// An axum extractor taking the user from a cookie, refusing without it.
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
        .simple_broker(["/topic"])
        .handshake_extractor::<CookieUser>()
        .build();
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

/// Two subscribers of one destination, two SENDs (with receipts): what each receives.
async fn bodies_of_two_subscribers(stomp: Stomp, destination: &str) -> (Vec<String>, Vec<String>) {
    let server = spawn_server(app(&stomp)).await;
    let mut a = WsClient::connect(&server.ws_url("/ws")).await;
    let mut b = WsClient::connect(&server.ws_url("/ws")).await;
    a.stomp_connect().await;
    b.stomp_connect().await;
    subscribe(&mut a, "a", destination).await;
    subscribe(&mut b, "b", destination).await;
    // A marker on a topic both see, so "nothing more" is observable without a sleep.
    for client in [&mut a, &mut b] {
        subscribe(client, "end", "/topic/end").await;
    }
    let mut sender = WsClient::connect(&server.ws_url("/ws")).await;
    sender.stomp_connect().await;
    for (i, body) in ["one", "two"].iter().enumerate() {
        sender
            .send_text(
                &frame("SEND")
                    .header("destination", destination)
                    .header("receipt", &format!("r{i}"))
                    .body(body)
                    .text(),
            )
            .await;
        sender.expect_frame("RECEIPT").await;
    }
    let mut bodies = (Vec::new(), Vec::new());
    sender
        .send_text(
            &frame("SEND")
                .header("destination", "/topic/end")
                .body("end")
                .text(),
        )
        .await;
    for (client, out) in [(&mut a, &mut bodies.0), (&mut b, &mut bodies.1)] {
        loop {
            let message = client.expect_frame("MESSAGE").await;
            let body = String::from_utf8(message.body.clone()).unwrap();
            if body == "end" {
                break;
            }
            out.push(body);
        }
    }
    bodies
}

#[tokio::test]
async fn queue_prefixes_are_explicit() {
    // Named as a queue prefix: point-to-point, each message to one of the two consumers.
    let stomp = Stomp::builder()
        .simple_broker(["/topic", "/jobs"])
        .queue_prefixes(["/jobs"])
        .build();
    let (a, b) = bodies_of_two_subscribers(stomp, "/jobs/resize").await;
    assert_eq!(a.len() + b.len(), 2, "{a:?} {b:?}");
    assert!(a.len() == 1 && b.len() == 1, "round-robin: {a:?} {b:?}");

    // Not named (a name that merely contains "queue"): a topic, both receive both.
    let stomp = Stomp::builder()
        .simple_broker(["/topic", "/queues-of-news"])
        .build();
    let (a, b) = bodies_of_two_subscribers(stomp, "/queues-of-news/today").await;
    assert_eq!((a.len(), b.len()), (2, 2), "{a:?} {b:?}");

    // The default queue prefix is exactly "/queue".
    let stomp = Stomp::builder().simple_broker(["/topic", "/queue"]).build();
    let (a, b) = bodies_of_two_subscribers(stomp, "/queue/work").await;
    assert!(a.len() == 1 && b.len() == 1, "{a:?} {b:?}");
}

#[tokio::test]
async fn only_the_engines_versions_are_offered_as_subprotocols() {
    use stomp_axum::core::Version;
    let stomp = Stomp::builder()
        .simple_broker(["/topic"])
        .versions(&[Version::V1_2])
        .build();
    let server = spawn_server(app(&stomp)).await;
    let url = server.ws_url("/ws");
    // Offered only 1.0 and 1.1, the server selects no subprotocol, which a client that
    // offered some must treat as a failed handshake (RFC 6455 4.1; browsers do).
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "v10.stomp, v11.stomp".parse().unwrap(),
    );
    let refused = tokio_tungstenite::connect_async(request).await.err();
    assert!(
        matches!(refused, Some(Error::Protocol(_))),
        "1.0/1.1 are not offered by a 1.2-only engine: {refused:?}"
    );
    let mut c = ClientOptions::new()
        .protocols(["v11.stomp", "v12.stomp"])
        .connect(&url)
        .await
        .expect("upgrade");
    assert_eq!(c.protocol(), Some("v12.stomp"));
    c.stomp_connect().await;
}
