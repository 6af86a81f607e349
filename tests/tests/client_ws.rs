//! The Rust STOMP client over a WebSocket (`stomp_axum::client`, feature `client`): against
//! this workspace's server (a `Stomp` app on `127.0.0.1:0`) and against RabbitMQ Web-STOMP
//! (`ws://127.0.0.1:15674/ws`, guest/guest; `scripts/services.sh` enables the plugin).
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use stomp_axum::client::{connect_ws, connect_ws_request, IntoClientRequest, WsConnectError};
use stomp_axum::core::broker::AckMode;
use stomp_axum::core::client::{Client, ClientConfig, ClientError, Delivery, Subscription};
use stomp_axum::core::events::SessionEvent;
use stomp_axum::core::frame::Headers;
use stomp_axum::core::outbound::CloseReason;
use stomp_axum::core::version::Version;
use stomp_axum::prelude::*;
use stomp_e2e::{spawn_server, spawn_server_with, TestServer, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const RABBIT_WS: &str = "ws://127.0.0.1:15674/ws";

#[message_mapping("/shout/{room}")]
#[send_to("/topic/shout/{room}")]
async fn shout(
    DestinationVar(room): DestinationVar<String>,
    Payload(text): Payload<String>,
) -> String {
    format!("{room}: {}", text.to_uppercase())
}

#[subscribe_mapping("/rooms")]
async fn rooms() -> Vec<String> {
    vec!["lobby".to_owned(), "games".to_owned()]
}

#[message_mapping("/whoami")]
#[send_to_user("/queue/me")]
async fn whoami(principal: Principal) -> String {
    format!("you are {}", principal.name())
}

/// An app with `/app` handlers, the simple broker on `/topic` and `/queue`, principals from
/// the `x-user` handshake header and one allowed foreign origin.
fn stomp() -> Stomp {
    Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker(["/topic", "/queue"])
        .handshake_principal(|parts: axum::http::request::Parts| async move {
            Ok(parts
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .map(Principal::new))
        })
        .allow_origins(["http://good.example"])
        .handler(shout)
        .handler(rooms)
        .handler(whoami)
        .build()
}

async fn serve(stomp: &Stomp) -> TestServer {
    spawn_server(Router::new().merge(stomp.router("/ws"))).await
}

fn config() -> ClientConfig {
    ClientConfig::new().receipt_timeout(TIMEOUT)
}

/// Connects with an `x-user` handshake header (the app's principal).
async fn connect_as(server: &TestServer, user: &str) -> Client {
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-user", user.parse().unwrap());
    connect_ws_request(request, config()).await.unwrap()
}

async fn next(subscription: &mut Subscription) -> Delivery {
    timeout(TIMEOUT, subscription.next())
        .await
        .expect("a MESSAGE in time")
        .expect("subscription open")
}

fn body(message: &Delivery) -> &str {
    std::str::from_utf8(message.body()).unwrap()
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}.{}.{nanos}", std::process::id())
}

#[tokio::test]
async fn connects_subscribes_and_sends_text_and_binary_bodies() {
    let stomp = stomp();
    let server = serve(&stomp).await;
    let client = connect_ws(&server.ws_url("/ws"), config()).await.unwrap();
    assert_eq!(client.version(), Version::V1_2);
    assert!(client.session().is_some_and(|s| !s.is_empty()));
    assert_eq!(stomp.sessions().len(), 1);

    let mut news = client
        .subscribe("/topic/news", AckMode::Auto)
        .await
        .unwrap();
    client
        .send_with_receipt("/topic/news", "hello over ws")
        .await
        .unwrap();
    // Not UTF-8: the frame travels as a binary WebSocket message, both ways.
    let binary: &[u8] = &[0xff, 0x00, 0xfe, b'\n', 0x01];
    client
        .send_with_receipt("/topic/news", binary.to_vec())
        .await
        .unwrap();

    let first = next(&mut news).await;
    assert_eq!(first.destination(), Some("/topic/news"));
    assert_eq!(body(&first), "hello over ws");
    assert_eq!(next(&mut news).await.body().as_ref(), binary);
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn queue_ack_and_nack_with_client_individual() {
    let stomp = stomp();
    let server = serve(&stomp).await;
    let client = connect_ws(&server.ws_url("/ws"), config()).await.unwrap();
    let mut jobs = client
        .subscribe("/queue/jobs", AckMode::ClientIndividual)
        .await
        .unwrap();
    client.send_with_receipt("/queue/jobs", "a").await.unwrap();
    client.send_with_receipt("/queue/jobs", "b").await.unwrap();

    let a = next(&mut jobs).await;
    assert_eq!(body(&a), "a");
    client.ack(&a).await.unwrap();
    let b = next(&mut jobs).await;
    assert_eq!(body(&b), "b");
    client.nack(&b).await.unwrap();
    // The NACKed message comes back; the ACKed one does not.
    let again = next(&mut jobs).await;
    assert_eq!(body(&again), "b");
    client.ack(&again).await.unwrap();
    client.send_with_receipt("/queue/jobs", "c").await.unwrap();
    assert_eq!(body(&next(&mut jobs).await), "c");

    // Acking the same delivery twice is a protocol error the server answers with ERROR,
    // which ends the connection and reaches the client as a server error.
    client.ack(&again).await.unwrap();
    let error = timeout(TIMEOUT, client.closed()).await.unwrap();
    assert!(error.is_server_error(), "{error:?}");
}

#[tokio::test]
async fn app_handlers_reply_to_send_and_subscribe() {
    let stomp = stomp();
    let server = serve(&stomp).await;
    let client = connect_ws(&server.ws_url("/ws"), config()).await.unwrap();
    let mut lobby = client
        .subscribe("/topic/shout/lobby", AckMode::Auto)
        .await
        .unwrap();
    let mut headers = Headers::new();
    headers.append("content-type", "application/json");
    client
        .send_with_headers("/app/shout/lobby", headers, r#""hi there""#, true)
        .await
        .unwrap();
    assert_eq!(body(&next(&mut lobby).await), "lobby: HI THERE");

    // A @subscribe_mapping answers the SUBSCRIBE itself, once.
    let mut room_list = client.subscribe("/app/rooms", AckMode::Auto).await.unwrap();
    let reply = next(&mut room_list).await;
    assert_eq!(body(&reply), r#"["lobby","games"]"#);
    assert_eq!(
        reply.headers().get("content-type"),
        Some("application/json")
    );
}

#[tokio::test]
async fn user_destinations_reach_only_their_user() {
    let stomp = stomp();
    let server = serve(&stomp).await;
    let ann = connect_as(&server, "ann").await;
    let bob = connect_as(&server, "bob").await;
    let mut ann_me = ann
        .subscribe("/user/queue/me", AckMode::Auto)
        .await
        .unwrap();
    let mut bob_me = bob
        .subscribe("/user/queue/me", AckMode::Auto)
        .await
        .unwrap();

    ann.send_with_receipt("/app/whoami", "").await.unwrap();
    assert_eq!(body(&next(&mut ann_me).await), "you are ann");
    stomp
        .template()
        .send_to_user("ann", "/queue/me", "from the server")
        .await
        .unwrap();
    assert_eq!(body(&next(&mut ann_me).await), "from the server");

    // Bob's first message is his own answer: nothing of ann's reached him.
    bob.send_with_receipt("/app/whoami", "").await.unwrap();
    assert_eq!(body(&next(&mut bob_me).await), "you are bob");
    assert!(bob_me.try_next().is_none());
}

#[tokio::test]
async fn disconnect_waits_for_its_receipt_and_closes_the_session() {
    let stomp = stomp();
    let server = serve(&stomp).await;
    let mut events = stomp.subscribe_events();
    let client = connect_ws(&server.ws_url("/ws"), config()).await.unwrap();
    let session = client.session().unwrap().to_owned();
    client.disconnect().await.unwrap();
    assert!(client.is_closed());
    assert!(matches!(
        client.send("/topic/x", "late").await,
        Err(ClientError::Closed)
    ));
    let reason = timeout(TIMEOUT, async {
        loop {
            if let SessionEvent::Disconnected {
                session: id,
                reason,
            } = events.recv().await.unwrap()
            {
                if id.as_str() == session {
                    return reason;
                }
            }
        }
    })
    .await
    .expect("the server saw the session end");
    assert_eq!(reason, CloseReason::ClientDisconnect);
}

#[tokio::test]
async fn server_shutdown_reaches_the_client_as_its_error_frame() {
    let stomp = stomp();
    let signal_stomp = stomp.clone();
    let mut server = spawn_server_with(
        Router::new().merge(stomp.router("/ws")),
        Some(Box::new(move |signal| {
            Box::pin(signal_stomp.shutdown_signal(signal))
        })),
    )
    .await;
    let client = connect_ws(&server.ws_url("/ws"), config()).await.unwrap();
    let _news = client
        .subscribe("/topic/news", AckMode::Auto)
        .await
        .unwrap();
    server.trigger_shutdown();
    match timeout(TIMEOUT, client.closed()).await.unwrap() {
        ClientError::Server { message, .. } => assert_eq!(message, "server shutting down"),
        other => panic!("expected the server's ERROR, got {other:?}"),
    }
    timeout(TIMEOUT, &mut server.handle)
        .await
        .expect("serve returns once the WebSocket closed")
        .unwrap();
}

#[tokio::test]
async fn handshake_failures_are_reported_by_kind() {
    let stomp = stomp();
    let server = serve(&stomp).await;

    // A foreign origin is refused by the server (403); an allowed one connects.
    let with_origin = |origin: &str| {
        let mut request = server.ws_url("/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    match connect_ws_request(with_origin("http://evil.example"), config()).await {
        Err(WsConnectError::Rejected { status, .. }) => assert_eq!(status.as_u16(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    let good = connect_ws_request(with_origin("http://good.example"), config())
        .await
        .unwrap();
    good.disconnect().await.unwrap();

    // No WebSocket endpoint there.
    match connect_ws(&server.ws_url("/nothing"), config()).await {
        Err(WsConnectError::Rejected { status, .. }) => assert_eq!(status.as_u16(), 404),
        other => panic!("expected a 404, got {other:?}"),
    }
    // Not a URL; `wss://` (this build has no TLS: use `WsByteStream` over a TLS stream).
    for url in ["not a url".to_owned(), format!("wss://{}/ws", server.addr)] {
        let result = connect_ws(&url, config()).await;
        assert!(
            matches!(result, Err(WsConnectError::Request(_))),
            "{url}: {result:?}"
        );
    }
    // Nobody listening.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    assert!(matches!(
        connect_ws(&format!("ws://{closed}/ws"), config()).await,
        Err(WsConnectError::Handshake(_))
    ));
}

#[tokio::test]
async fn offers_the_stomp_subprotocols_and_reports_a_refusal_body() {
    // A bare HTTP server: records the upgrade request and refuses it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "request head incomplete");
            head.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 14\r\nconnection: close\r\n\r\ntoken required")
            .await
            .unwrap();
        String::from_utf8(head).unwrap().to_ascii_lowercase()
    });
    let result = connect_ws(&format!("ws://{addr}/ws"), config()).await;
    match result {
        Err(WsConnectError::Rejected { status, body }) => {
            assert_eq!(status.as_u16(), 401);
            assert_eq!(body, "token required");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    let head = timeout(TIMEOUT, peer).await.unwrap().unwrap();
    assert!(
        head.contains("\r\nsec-websocket-protocol: v12.stomp, v11.stomp, v10.stomp\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn rabbitmq_web_stomp_topic_round_trip() {
    let config = ClientConfig::new()
        .login("guest", "guest")
        .host("/")
        .receipt_timeout(Duration::from_secs(15));
    let client = connect_ws(RABBIT_WS, config)
        .await
        .expect("RabbitMQ Web-STOMP on ws://127.0.0.1:15674/ws (run scripts/services.sh)");
    assert_eq!(client.version(), Version::V1_2);
    assert!(client.server().is_some_and(|s| s.starts_with("RabbitMQ")));

    let topic = format!("/topic/{}", unique("wsclient"));
    let mut sub = client
        .subscribe(topic.clone(), AckMode::Auto)
        .await
        .unwrap();
    // Many frames at once: the client's writer batches them into few WebSocket messages,
    // which RabbitMQ must split back into frames.
    for i in 0..20 {
        client.send(topic.clone(), format!("m{i}")).await.unwrap();
    }
    client
        .send_with_receipt(topic.clone(), "last")
        .await
        .unwrap();
    for i in 0..20 {
        let message = next(&mut sub).await;
        assert_eq!(body(&message), format!("m{i}"));
        assert_eq!(message.destination(), Some(topic.as_str()));
    }
    assert_eq!(body(&next(&mut sub).await), "last");
    sub.unsubscribe().await.unwrap();
    // RabbitMQ Web-STOMP (3.10) answers DISCONNECT by closing the WebSocket (1000, "STOMP
    // died") without the RECEIPT that its TCP listener sends.
    let result = client.disconnect().await;
    assert!(
        matches!(result, Ok(()) | Err(ClientError::Closed)),
        "{result:?}"
    );
    assert!(client.is_closed());
}
