//! Isolation over real sockets (issue 13): no session can read, forge or steal another's
//! messages, whatever frames it sends. Each test is a hostile client against a real axum
//! server (raw STOMP over WebSocket); the relay path is tested elsewhere.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use axum::Router;
use stomp_axum::core::authz::DestinationRules;
use stomp_axum::core::broker::{BoxFuture, SimpleBrokerConfig};
use stomp_axum::core::destination::Separator;
use stomp_axum::core::identity::Principal;
use stomp_axum::core::interceptor::{
    Authenticator, ConnectRequest, InsecureLoginAuthenticator, Rejection,
};
use stomp_axum::{Stomp, StompBuilder};
use stomp_e2e::{frame, spawn_server, TestServer, WireFrame, WsClient};

/// A server whose users come from the CONNECT `login` (a test opt-in), on `config`.
async fn server(config: SimpleBrokerConfig) -> (Stomp, TestServer) {
    serve(
        Stomp::builder()
            .simple_broker_config(config)
            .authenticator(InsecureLoginAuthenticator),
    )
    .await
}

async fn serve(builder: StompBuilder) -> (Stomp, TestServer) {
    let stomp = builder.app_destination_prefix("/app").build();
    let server = spawn_server(Router::new().layer(stomp.layer("/ws"))).await;
    (stomp, server)
}

/// A connected client, and its session id (the CONNECTED `session` header).
async fn connect(server: &TestServer, login: Option<&str>) -> (WsClient, String) {
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    let mut connect = frame("CONNECT")
        .header("accept-version", "1.2")
        .header("host", "localhost")
        .header("heart-beat", "0,0");
    if let Some(login) = login {
        connect = connect.header("login", login);
    }
    c.send_text(&connect.text()).await;
    let connected = c.expect_frame("CONNECTED").await;
    let session = connected.header("session").unwrap().to_owned();
    (c, session)
}

fn subscribe_frame(id: &str, destination: &str) -> String {
    frame("SUBSCRIBE")
        .header("id", id)
        .header("destination", destination)
        .header("receipt", &format!("sub-{id}"))
        .text()
}

async fn subscribe(c: &mut WsClient, id: &str, destination: &str) {
    subscribe_with(c, id, destination, "auto").await;
}

async fn subscribe_with(c: &mut WsClient, id: &str, destination: &str, ack: &str) {
    c.send_text(
        &frame("SUBSCRIBE")
            .header("id", id)
            .header("destination", destination)
            .header("ack", ack)
            .header("receipt", &format!("sub-{id}"))
            .text(),
    )
    .await;
    let f = c.next_frame().await;
    assert_eq!(f.command, "RECEIPT", "SUBSCRIBE {destination}: {f:?}");
}

/// A SUBSCRIBE the server must refuse: the ERROR frame.
async fn subscribe_refused(c: &mut WsClient, destination: &str) -> WireFrame {
    c.send_text(&subscribe_frame("x", destination)).await;
    let f = c.next_frame().await;
    assert_eq!(f.command, "ERROR", "SUBSCRIBE {destination} was allowed");
    f
}

async fn send(c: &mut WsClient, destination: &str, body: &str) {
    c.send_text(
        &frame("SEND")
            .header("destination", destination)
            .header("receipt", "r")
            .body(body)
            .text(),
    )
    .await;
    let f = c.next_frame().await;
    assert_eq!(f.command, "RECEIPT", "SEND {destination}: {f:?}");
}

/// A SEND the server must refuse: the ERROR frame.
async fn send_refused(c: &mut WsClient, destination: &str, body: &str) -> WireFrame {
    c.send_text(
        &frame("SEND")
            .header("destination", destination)
            .header("receipt", "r")
            .body(body)
            .text(),
    )
    .await;
    let f = c.next_frame().await;
    assert_eq!(f.command, "ERROR", "SEND {destination} was allowed");
    f
}

/// Reads MESSAGE frames until `markers` copies of the body `marker` came; fails on any
/// MESSAGE whose body is `secret`. The marker is published after the secret, so a leaked
/// secret would be queued before it.
async fn nothing_before_marker(c: &mut WsClient, markers: usize, secret: &str) {
    let mut seen = 0;
    for _ in 0..100 {
        let f = c.expect_frame("MESSAGE").await;
        assert_ne!(f.body_text(), secret, "leaked: {f:?}");
        if f.body_text() == "marker" {
            seen += 1;
            if seen == markers {
                return;
            }
        }
    }
    panic!("no marker");
}

#[tokio::test]
async fn pattern_subscriptions_never_read_another_users_destinations() {
    // `/queue` broadcasts here (Spring's simple broker), so patterns may span it too.
    let (_stomp, server) = server(SimpleBrokerConfig::new().spring_compatible(true)).await;
    let (mut bob, bob_session) = connect(&server, Some("bob")).await;
    subscribe(&mut bob, "notes", "/user/topic/notes").await;
    subscribe(&mut bob, "inbox", "/user/queue/inbox").await;

    let (mut alice, _) = connect(&server, Some("alice")).await;
    for (id, pattern) in [
        ("all-topics", "/topic/**"),
        ("one-topic", "/topic/*"),
        ("all-queues", "/queue/**"),
        ("one-queue", "/queue/*"),
    ] {
        subscribe(&mut alice, id, pattern).await;
    }
    // Guessing the resolved names does not help either.
    let mut guesser = connect(&server, Some("mallory")).await.0;
    let refused = subscribe_refused(&mut guesser, &format!("/topic/notes-user{bob_session}")).await;
    assert!(refused
        .header("message")
        .unwrap()
        .contains("another session"));
    let mut guesser = connect(&server, Some("mallory")).await.0;
    subscribe_refused(&mut guesser, &format!("/queue/inbox-user{bob_session}")).await;

    let (mut carol, _) = connect(&server, Some("carol")).await;
    send(&mut carol, "/user/bob/topic/notes", "secret").await;
    send(&mut carol, "/user/bob/queue/inbox", "secret").await;
    // Sending to another user's destination stays allowed: bob gets both.
    for expected in ["/user/topic/notes", "/user/queue/inbox"] {
        let m = bob.expect_frame("MESSAGE").await;
        assert_eq!(m.header("destination"), Some(expected));
        assert_eq!(m.body_text(), "secret");
    }
    send(&mut carol, "/topic/marker", "marker").await;
    // `/topic/**` and `/topic/*` match the marker; neither saw a secret before it.
    nothing_before_marker(&mut alice, 2, "secret").await;
}

/// Replies to one session only (its caller is anonymous, so `send_to_user` goes to the
/// calling session's resolved destination).
#[stomp_axum::prelude::message_mapping("/ping")]
#[stomp_axum::prelude::send_to_user("/queue/reply")]
async fn ping() -> String {
    "secret".to_owned()
}

#[tokio::test]
async fn handler_replies_to_one_session_never_reach_pattern_subscribers() {
    let config = SimpleBrokerConfig::new().spring_compatible(true);
    let (_stomp, server) = serve(
        Stomp::builder()
            .handler(ping)
            .simple_broker_config(config)
            .authenticator(InsecureLoginAuthenticator),
    )
    .await;
    let (mut alice, _) = connect(&server, Some("alice")).await;
    subscribe(&mut alice, "all", "/queue/**").await;
    let (mut anon, _) = connect(&server, None).await;
    subscribe(&mut anon, "reply", "/user/queue/reply").await;
    anon.send_text(
        &frame("SEND")
            .header("destination", "/app/ping")
            .header("receipt", "r")
            .text(),
    )
    .await;
    // The reply and the RECEIPT, in either order.
    let mut frames = [anon.next_frame().await, anon.next_frame().await];
    frames.sort_by(|a, b| a.command.cmp(&b.command));
    let [m, receipt] = frames;
    assert_eq!(receipt.command, "RECEIPT");
    assert_eq!(m.body_text(), "secret");
    assert_eq!(m.header("destination"), Some("/user/queue/reply"));
    send(&mut anon, "/queue/marker", "marker").await;
    nothing_before_marker(&mut alice, 1, "secret").await;
}

#[tokio::test]
async fn dot_separated_patterns_never_read_another_users_destinations() {
    let config = SimpleBrokerConfig::new().separator(Separator::Dot);
    let (_stomp, server) = server(config).await;
    let (mut bob, _) = connect(&server, Some("bob")).await;
    subscribe(&mut bob, "notes", "/user/topic/chat.notes").await;
    let (mut alice, _) = connect(&server, Some("alice")).await;
    subscribe(&mut alice, "star", "/topic/chat.*").await;
    subscribe(&mut alice, "globstar", "/topic/chat.**").await;

    let (mut carol, _) = connect(&server, Some("carol")).await;
    send(&mut carol, "/user/bob/topic/chat.notes", "secret").await;
    let m = bob.expect_frame("MESSAGE").await;
    assert_eq!(m.header("destination"), Some("/user/topic/chat.notes"));
    send(&mut carol, "/topic/chat.marker", "marker").await;
    nothing_before_marker(&mut alice, 2, "secret").await;
}

#[tokio::test]
async fn a_send_straight_to_another_sessions_resolved_destination_is_refused() {
    let (_stomp, server) = server(SimpleBrokerConfig::new()).await;
    let (mut bob, bob_session) = connect(&server, Some("bob")).await;
    subscribe(&mut bob, "inbox", "/user/queue/inbox").await;
    subscribe(&mut bob, "marker", "/topic/marker").await;

    let (mut mallory, _) = connect(&server, Some("mallory")).await;
    let error = send_refused(
        &mut mallory,
        &format!("/queue/inbox-user{bob_session}"),
        "forged",
    )
    .await;
    assert!(error.header("message").unwrap().contains("another session"));

    // Through `/user/bob/...` it is allowed, and bob sees the user destination.
    let (mut carol, _) = connect(&server, Some("carol")).await;
    send(&mut carol, "/user/bob/queue/inbox", "fine").await;
    send(&mut carol, "/topic/marker", "marker").await;
    let m = bob.expect_frame("MESSAGE").await;
    assert_eq!(m.body_text(), "fine");
    assert_eq!(m.header("destination"), Some("/user/queue/inbox"));
    assert_eq!(bob.expect_frame("MESSAGE").await.body_text(), "marker");
}

#[tokio::test]
async fn only_the_receiver_can_ack_or_nack_its_deliveries() {
    let (_stomp, server) = server(SimpleBrokerConfig::new()).await;
    let (mut bob, _) = connect(&server, Some("bob")).await;
    subscribe_with(&mut bob, "inbox", "/user/queue/inbox", "client-individual").await;
    let (mut carol, _) = connect(&server, Some("carol")).await;
    send(&mut carol, "/user/bob/queue/inbox", "one").await;
    let m = bob.expect_frame("MESSAGE").await;
    let ack = m.header("ack").unwrap().to_owned();

    for command in ["ACK", "NACK"] {
        let (mut mallory, _) = connect(&server, Some("mallory")).await;
        mallory
            .send_text(
                &frame(command)
                    .header("id", &ack)
                    .header("receipt", "r")
                    .text(),
            )
            .await;
        let f = mallory.next_frame().await;
        assert_eq!(f.command, "ERROR", "{command} of bob's delivery: {f:?}");
    }
    // Still bob's to settle.
    bob.send_text(
        &frame("ACK")
            .header("id", &ack)
            .header("receipt", "a")
            .text(),
    )
    .await;
    assert_eq!(
        bob.expect_frame("RECEIPT").await.header("receipt-id"),
        Some("a")
    );
}

/// `login:root` is an admin; any other `login` a plain user.
struct Roles;

impl Authenticator for Roles {
    fn authenticate(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Option<Principal>, Rejection>> {
        let principal = request.login().map(|login| match login {
            "root" => Principal::new(login).with_roles(["admin"]),
            other => Principal::new(other),
        });
        Box::pin(async move { Ok(principal) })
    }
}

#[tokio::test]
async fn authorization_judges_pattern_subscriptions_as_sets() {
    let (_stomp, server) = serve(
        Stomp::builder()
            .simple_broker(["/topic"])
            .authenticator(Roles)
            .destination_policy(
                DestinationRules::new()
                    .subscribe("/topic/admin/**")
                    .role("admin"),
            ),
    )
    .await;
    for pattern in ["/topic/**", "/topic/*/secret", "/**", "/topic/admin/*"] {
        let (mut ann, _) = connect(&server, Some("ann")).await;
        let error = subscribe_refused(&mut ann, pattern).await;
        assert_eq!(error.body_text(), "requires role admin", "{pattern}");
    }
    // What cannot reach admin traffic stays allowed; admins may subscribe to all of it.
    let (mut ann, _) = connect(&server, Some("ann")).await;
    subscribe(&mut ann, "0", "/topic/news/*").await;
    let (mut root, _) = connect(&server, Some("root")).await;
    subscribe(&mut root, "0", "/topic/**").await;
    let (mut sender, _) = connect(&server, Some("root")).await;
    send(&mut sender, "/topic/admin/secret", "secret").await;
    assert_eq!(root.expect_frame("MESSAGE").await.body_text(), "secret");
}

#[tokio::test]
async fn authorization_judges_dot_separated_patterns_as_sets() {
    let (_stomp, server) = serve(
        Stomp::builder()
            .simple_broker_config(SimpleBrokerConfig::new().separator(Separator::Dot))
            .authenticator(Roles)
            .destination_policy(
                DestinationRules::with_separator(Separator::Dot)
                    .subscribe("/topic/app.admin.**")
                    .role("admin"),
            ),
    )
    .await;
    for pattern in ["/topic/app.*.secret", "/topic/app.**", "/topic/app.admin.*"] {
        let (mut ann, _) = connect(&server, Some("ann")).await;
        let error = subscribe_refused(&mut ann, pattern).await;
        assert_eq!(error.body_text(), "requires role admin", "{pattern}");
    }
    let (mut ann, _) = connect(&server, Some("ann")).await;
    subscribe(&mut ann, "0", "/topic/app.news.*").await;
}

#[tokio::test]
async fn the_default_authenticator_takes_no_identity_from_login() {
    let (stomp, server) = serve(Stomp::builder().simple_broker(["/topic", "/queue"])).await;
    let mut c = WsClient::connect(&server.ws_url("/ws")).await;
    c.send_text(
        &frame("CONNECT")
            .header("accept-version", "1.2")
            .header("login", "admin")
            .header("passcode", "anything")
            .header("heart-beat", "0,0")
            .text(),
    )
    .await;
    let connected = c.expect_frame("CONNECTED").await;
    assert_eq!(connected.header("user-name"), None, "{connected:?}");
    subscribe(&mut c, "0", "/user/queue/private").await;
    subscribe(&mut c, "1", "/topic/marker").await;
    assert!(stomp
        .engine()
        .user_registry()
        .sessions_of("admin")
        .is_empty());

    let template = stomp.template();
    template
        .send_to_user("admin", "/queue/private", "secret")
        .await
        .unwrap();
    template.send("/topic/marker", "marker").await.unwrap();
    nothing_before_marker(&mut c, 1, "secret").await;
}

mod chat_policy {
    use super::*;

    async fn chat() -> TestServer {
        spawn_server(chat::app(chat::Config::default())).await
    }

    #[tokio::test]
    async fn clients_cannot_forge_what_the_chat_handlers_author() {
        let server = chat().await;
        let (mut bob, bob_session) = connect(&server, Some("bob")).await;
        subscribe(&mut bob, "inbox", "/user/queue/inbox").await;
        subscribe(&mut bob, "lobby", "/topic/chat.lobby").await;

        let forged = r#"{"room":"lobby","from":"bob","text":"forged","kind":"chat","at":0}"#;
        for destination in [
            "/topic/chat.lobby".to_owned(),
            "/topic/presence".to_owned(),
            "/user/bob/queue/private".to_owned(),
            format!("/queue/private-user{bob_session}"),
            "/user/bob/queue/inbox".to_owned(),
            "/queue/inbox-user.bob".to_owned(),
        ] {
            let (mut mallory, _) = connect(&server, Some("mallory")).await;
            send_refused(&mut mallory, &destination, forged).await;
        }

        // Through the handlers, `from` is the sender's principal.
        let (mut mallory, _) = connect(&server, Some("mallory")).await;
        send(&mut mallory, "/app/chat/lobby", r#"{"text":"hi"}"#).await;
        let m = bob.expect_frame("MESSAGE").await;
        let message: serde_json::Value = serde_json::from_str(&m.body_text()).unwrap();
        assert_eq!(message["from"], "mallory", "{message}");
        assert_eq!(message["text"], "hi");
        send(
            &mut mallory,
            "/app/private",
            r#"{"to":"bob","text":"psst"}"#,
        )
        .await;
        let m = bob.expect_frame("MESSAGE").await;
        assert_eq!(m.header("destination"), Some("/user/queue/inbox"));
        let message: serde_json::Value = serde_json::from_str(&m.body_text()).unwrap();
        assert_eq!(message["from"], "mallory", "{message}");
    }

    /// Issue 15, item 4: a user's inbox (a queue per user, where private messages wait
    /// while they are away) is read by that user only. Hostile users whose names are
    /// prefixes, suffixes or look-alikes of the owner's, or contain `/`, `*`, `-user`, and
    /// anonymous sessions, try every name for it over a real socket: each SUBSCRIBE and
    /// SEND is refused with an ERROR frame, and their own inboxes never carry the secret.
    #[tokio::test]
    async fn only_its_owner_reads_an_inbox_whatever_the_name() {
        let server = chat().await;
        let attackers = [
            None,
            Some("bo"),
            Some("bobby"),
            Some("xbob"),
            Some("bob/x"),
            Some("b*"),
            Some("bob-user"),
            Some(".bob"),
            Some("inbox-user.bob"),
        ];
        let names = [
            "/user/bob/queue/inbox",
            "/queue/inbox-user.bob",
            "/queue/inbox-user.*",
            "/queue/*",
            "/queue/**",
            "/**",
            "/user/queue/inbox-user.bob",
        ];
        for attacker in attackers {
            for name in names {
                let (mut c, _) = connect(&server, attacker).await;
                let error = subscribe_refused(&mut c, name).await;
                assert!(
                    error.header("message").is_some(),
                    "{attacker:?} {name}: {error:?}"
                );
            }
            let (mut c, _) = connect(&server, attacker).await;
            send_refused(&mut c, "/queue/inbox-user.bob", "forged").await;
        }
        let (mut anonymous, _) = connect(&server, None).await;
        let error = subscribe_refused(&mut anonymous, "/user/queue/inbox").await;
        assert!(
            error
                .header("message")
                .unwrap()
                .contains("authenticated user"),
            "{error:?}"
        );

        // Each named attacker on its own inbox; the secret goes to bob's while he is away,
        // then a marker to each attacker's.
        let mut watching = Vec::new();
        for attacker in attackers.into_iter().flatten() {
            let (mut c, _) = connect(&server, Some(attacker)).await;
            subscribe(&mut c, "own", "/user/queue/inbox").await;
            watching.push((attacker, c));
        }
        let (mut alice, _) = connect(&server, Some("alice")).await;
        send(
            &mut alice,
            "/app/private",
            r#"{"to":"bob","text":"secret"}"#,
        )
        .await;
        for (attacker, _) in &watching {
            let marker = serde_json::json!({ "to": attacker, "text": "marker" }).to_string();
            send(&mut alice, "/app/private", &marker).await;
        }
        for (attacker, c) in &mut watching {
            let m = c.expect_frame("MESSAGE").await;
            let message: serde_json::Value = serde_json::from_str(&m.body_text()).unwrap();
            assert_eq!(message["text"], "marker", "{attacker}: {message}");
        }
        let (mut bob, _) = connect(&server, Some("bob")).await;
        // What waited is delivered as soon as the subscription is live, so it may come
        // before the RECEIPT.
        bob.send_text(&subscribe_frame("inbox", "/user/queue/inbox"))
            .await;
        let (a, b) = (bob.next_frame().await, bob.next_frame().await);
        let mut commands = [a.command.as_str(), b.command.as_str()];
        commands.sort_unstable();
        assert_eq!(commands, ["MESSAGE", "RECEIPT"], "{a:?} {b:?}");
        let m = if a.command == "MESSAGE" { a } else { b };
        let message: serde_json::Value = serde_json::from_str(&m.body_text()).unwrap();
        assert_eq!(
            (&message["from"], &message["text"]),
            (&"alice".into(), &"secret".into())
        );
    }

    #[tokio::test]
    async fn other_broker_destinations_stay_open_in_the_chat() {
        let server = chat().await;
        let (mut ann, _) = connect(&server, Some("ann")).await;
        subscribe(&mut ann, "0", "/topic/room.lobby").await;
        subscribe(&mut ann, "1", "/queue/jobs").await;
        let (mut any, _) = connect(&server, None).await;
        send(&mut any, "/topic/room.lobby", "a").await;
        send(&mut any, "/queue/jobs", "b").await;
        assert_eq!(ann.expect_frame("MESSAGE").await.body_text(), "a");
        assert_eq!(ann.expect_frame("MESSAGE").await.body_text(), "b");
    }
}

mod backplane {
    use super::*;
    use backplane_support::{unique_prefix, Instance, REDIS};

    /// Over Redis: a user message forwarded to the instance hosting bob is resolved there
    /// and reaches bob only, not a pattern subscriber on the same instance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backplane_user_messages_never_reach_pattern_subscribers() {
        let prefix = unique_prefix("isolation");
        let one = Instance::start(REDIS, &prefix).await;
        let two = Instance::start(REDIS, &prefix).await;
        let mut bob = two.client(Some("bob")).await;
        subscribe(&mut bob, "notes", "/user/topic/notes").await;
        let mut alice = two.client(Some("alice")).await;
        subscribe(&mut alice, "all", "/topic/**").await;
        one.wait_users(&["alice", "bob"]).await;

        let mut carol = one.client(Some("carol")).await;
        send(&mut carol, "/user/bob/topic/notes", "secret").await;
        let m = bob.expect_frame("MESSAGE").await;
        assert_eq!(m.body_text(), "secret");
        assert_eq!(m.header("destination"), Some("/user/topic/notes"));
        // Bob has it, so any copy for alice is already queued: the marker comes after.
        let mut local = two.client(Some("dave")).await;
        send(&mut local, "/topic/marker", "marker").await;
        nothing_before_marker(&mut alice, 1, "secret").await;
    }
}
