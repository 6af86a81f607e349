//! The auth examples over real sockets: `examples/jwt_auth.rs` (a JWT in CONNECT, checked by
//! a closure authenticator, claims extracted in a handler) and `examples/cookie_session.rs`
//! (a session cookie looked up at the handshake in a store held in the axum state).

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

#[allow(dead_code)] // `main` is the example's, not the test's
#[path = "../examples/jwt_auth.rs"]
mod jwt_auth;

#[allow(dead_code)]
#[path = "../examples/cookie_session.rs"]
mod cookie_session;

use stomp_e2e::{frame, spawn_server, ClientOptions, TestServer, WsClient};

const SECRET: &[u8] = b"test secret";

/// CONNECT (STOMP 1.2, no heart-beats) with extra headers.
fn connect_with(headers: &[(&str, &str)]) -> String {
    let mut connect = frame("CONNECT")
        .header("accept-version", "1.2")
        .header("host", "localhost")
        .header("heart-beat", "0,0");
    for (name, value) in headers {
        connect = connect.header(name, value);
    }
    connect.text()
}

/// Subscribes `destination` as `id` and waits for the RECEIPT (so a later reply finds it).
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
    let receipt = client.expect_frame("RECEIPT").await;
    assert_eq!(receipt.header("receipt-id"), Some(id));
}

/// SENDs an empty body to `destination`; the next frame must be a MESSAGE: its body.
async fn ask(client: &mut WsClient, destination: &str) -> String {
    client
        .send_text(&frame("SEND").header("destination", destination).text())
        .await;
    client.expect_frame("MESSAGE").await.body_text()
}

async fn jwt_server() -> TestServer {
    let stomp = jwt_auth::stomp(SECRET).unwrap();
    spawn_server(axum::Router::new().merge(stomp.router("/ws"))).await
}

fn token(secret: &[u8], ttl: i64) -> String {
    let claims = jwt_auth::JwtClaims::new("ann", "acme", &["user", "admin"], ttl);
    jwt_auth::issue(secret, &claims).unwrap()
}

#[tokio::test]
async fn jwt_a_valid_token_connects_and_its_claims_reach_a_handler() {
    let server = jwt_server().await;
    let good = token(SECRET, 300);
    let bearer = format!("Bearer {good}");
    for header in [
        ("Authorization", bearer.as_str()),
        ("passcode", good.as_str()),
    ] {
        let mut client = WsClient::connect(&server.ws_url("/ws")).await;
        client.send_text(&connect_with(&[header])).await;
        client.expect_frame("CONNECTED").await;
        subscribe(&mut client, "me", "/user/queue/whoami").await;
        assert_eq!(
            ask(&mut client, "/app/whoami").await,
            "ann of acme (roles: user,admin)",
            "{}",
            header.0
        );
    }
}

#[tokio::test]
async fn jwt_an_expired_forged_or_missing_token_gets_an_error_frame_and_a_close() {
    let server = jwt_server().await;
    let expired = format!("Bearer {}", token(SECRET, -120));
    let forged = format!("Bearer {}", token(b"another secret", 300));
    // The payload of a good token under a forged signature's header and signature.
    let good = token(SECRET, 300);
    let other = jwt_auth::issue(
        SECRET,
        &jwt_auth::JwtClaims::new("root", "acme", &["admin"], 300),
    )
    .unwrap();
    let spliced = {
        let good: Vec<&str> = good.split('.').collect();
        let other: Vec<&str> = other.split('.').collect();
        format!("Bearer {}.{}.{}", good[0], other[1], good[2])
    };
    // (case, CONNECT headers, ERROR `message`, a fragment of the ERROR body)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: [Case; 5] = [
        (
            "expired",
            vec![("Authorization", &expired)],
            "invalid token",
            "Expired",
        ),
        (
            "forged",
            vec![("Authorization", &forged)],
            "invalid token",
            "Signature",
        ),
        (
            "spliced",
            vec![("Authorization", &spliced)],
            "invalid token",
            "Signature",
        ),
        (
            "garbage",
            vec![("passcode", "not-a-jwt")],
            "invalid token",
            "",
        ),
        ("missing", vec![], "missing token", "Bearer"),
    ];
    for (case, headers, message, detail) in cases {
        let mut client = WsClient::connect(&server.ws_url("/ws")).await;
        client.send_text(&connect_with(&headers)).await;
        let error = client.expect_frame("ERROR").await;
        assert_eq!(error.header("message"), Some(message), "{case}: {error:?}");
        assert!(error.body_text().contains(detail), "{case}: {error:?}");
        let (code, _) = client.expect_close().await;
        assert_eq!(code, stomp_axum::close::PROTOCOL_ERROR, "{case}");
    }
}

#[tokio::test]
async fn jwt_a_session_ends_at_its_first_frame_after_the_token_expired() {
    let server = jwt_server().await;
    let claims = jwt_auth::JwtClaims::new("ann", "acme", &["user"], 2);
    let bearer = format!("Bearer {}", jwt_auth::issue(SECRET, &claims).unwrap());
    let mut client = WsClient::connect(&server.ws_url("/ws")).await;
    client
        .send_text(&connect_with(&[("Authorization", &bearer)]))
        .await;
    client.expect_frame("CONNECTED").await;
    subscribe(&mut client, "me", "/user/queue/whoami").await;
    assert_eq!(
        ask(&mut client, "/app/whoami").await,
        "ann of acme (roles: user)"
    );
    // The wall clock is what expires a token: wait (at most ~3 s) until `exp` has passed.
    while jwt_auth::unix_now() <= claims.exp {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    client
        .send_text(&frame("SEND").header("destination", "/app/whoami").text())
        .await;
    let error = client.expect_frame("ERROR").await;
    assert_eq!(error.header("message"), Some("token expired"));
    client.expect_close().await;
}

async fn cookie_server() -> (stomp_axum::Stomp, cookie_session::AppState, TestServer) {
    let state = cookie_session::AppState::default();
    state.sessions.insert("sid-ann", "ann");
    state.sessions.insert("sid-bob", "bob");
    let (stomp, router) = cookie_session::app(state.clone());
    (stomp, state, spawn_server(router).await)
}

async fn with_cookie(server: &TestServer, cookie: &str) -> Result<WsClient, u16> {
    ClientOptions::new()
        .header("cookie", cookie)
        .connect(&server.ws_url("/ws"))
        .await
}

#[tokio::test]
async fn cookie_missing_or_unknown_is_refused_with_401_before_the_upgrade() {
    let (stomp, _state, server) = cookie_server().await;
    let no_cookie = ClientOptions::new().connect(&server.ws_url("/ws")).await;
    assert_eq!(no_cookie.err(), Some(401));
    for cookie in ["sid=nobody", "theme=dark", "sid=", "other=sid-ann"] {
        assert_eq!(
            with_cookie(&server, cookie).await.err(),
            Some(401),
            "{cookie}"
        );
    }
    assert_eq!(stomp.transport_stats().connections_current, 0);
    assert!(stomp.sessions().is_empty());
}

#[tokio::test]
async fn cookie_a_known_session_is_the_principal_of_user_destinations() {
    let (stomp, state, server) = cookie_server().await;
    let mut ann = with_cookie(&server, "theme=dark; sid=sid-ann")
        .await
        .unwrap();
    ann.stomp_connect().await;
    let mut bob = with_cookie(&server, "sid=sid-bob").await.unwrap();
    bob.stomp_connect().await;

    subscribe(&mut ann, "me", "/user/queue/whoami").await;
    assert_eq!(ask(&mut ann, "/app/whoami").await, "hello, ann");
    subscribe(&mut bob, "online", "/user/queue/online").await;
    assert_eq!(ask(&mut bob, "/app/online").await, "ann,bob");

    // A message to the user `ann` reaches ann's session only.
    subscribe(&mut ann, "notes", "/user/queue/notes").await;
    subscribe(&mut bob, "notes", "/user/queue/notes").await;
    stomp
        .template()
        .send_to_user("ann", "/queue/notes", "for ann")
        .await
        .unwrap();
    stomp
        .template()
        .send_to_user("bob", "/queue/notes", "for bob")
        .await
        .unwrap();
    assert_eq!(ann.expect_frame("MESSAGE").await.body_text(), "for ann");
    assert_eq!(bob.expect_frame("MESSAGE").await.body_text(), "for bob");

    // The store is the axum state's: a session added now is accepted at once.
    state.sessions.insert("sid-cat", "cat");
    let mut cat = with_cookie(&server, "sid=sid-cat").await.unwrap();
    cat.stomp_connect().await;
    subscribe(&mut cat, "online", "/user/queue/online").await;
    assert_eq!(ask(&mut cat, "/app/online").await, "ann,bob,cat");
}
