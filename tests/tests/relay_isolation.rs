//! Isolation through the relay, against the real RabbitMQ (STOMP on 127.0.0.1:61613,
//! guest/guest; `scripts/services.sh` starts it), over real WebSockets to the axum server:
//!
//! - a wildcard subscription (`/topic/#`, `/topic/*`, `/exchange/amq.topic/#`) does not
//!   receive another session's user destination messages (both connection modes);
//! - a SUBSCRIBE carrying `x-queue-name: private-user{other session}` does not attach to the
//!   other session's queue (the default header policy drops it; an application that allows
//!   the header still cannot name another session's queue);
//! - a SEND carrying queue arguments (`x-max-length`), `persistent:false`, `exclusive` or
//!   `durable`/`auto-delete` does not declare another session's queue before its owner
//!   subscribes, and a `reply-to: /temp-queue/...` makes no queue on the shared connection;
//! - a session that names another session's left-over user queue (allowed by the
//!   `ConnectedSessions` guard once its owner is gone) is closed instead of reading it;
//! - a client's own NACK header `requeue:false` reaches RabbitMQ.
//!
//! Other test runs share the broker, so wildcard subscribers see unrelated traffic: the
//! tests look only for their own (uniquely named) messages, and wait for a marker message
//! sent after the private ones instead of sleeping.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use stomp_axum::prelude::*;
use stomp_core::relay::{ConnectionMode, HeaderPolicy, HeaderRule, Relay, RelayConfig};
use stomp_core::user::{ResolvedDestinationGuard, UserDestinations, UserRegistry};
use stomp_e2e::{frame, spawn_server, ClientOptions, TestServer, WireFrame, WsClient};

const RABBIT: &str = "127.0.0.1:61613";
const WAIT: Duration = Duration::from_secs(15);
/// Most frames a wildcard subscriber reads while looking for its marker (other test runs
/// publish on the same broker).
const MAX_FRAMES: usize = 5_000;

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
    stomp: Stomp,
}

async fn instance(mode: ConnectionMode, policy: Option<HeaderPolicy>) -> Instance {
    instance_with(mode, policy, ResolvedDestinationGuard::AnySession).await
}

async fn instance_with(
    mode: ConnectionMode,
    policy: Option<HeaderPolicy>,
    guard: ResolvedDestinationGuard,
) -> Instance {
    let mut config = RelayConfig::new([RABBIT])
        .virtual_host("/")
        .system_login("guest", "guest")
        .client_login("guest", "guest")
        .mode(mode);
    if let Some(policy) = policy {
        config = config.header_policy(policy);
    }
    let relay = Relay::start(config);
    relay
        .wait_available(WAIT)
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)");
    let stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .broker(relay.clone())
        .user_destinations(
            UserDestinations::new(UserRegistry::new()).with_resolved_destination_guard(guard),
        )
        .handshake_principal(|parts: axum::http::request::Parts| async move {
            Ok(parts
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .map(Principal::new))
        })
        .build();
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;
    Instance {
        server,
        relay,
        stomp,
    }
}

/// A connected client of user `user`, and its session id (CONNECTED `session`).
async fn client(instance: &Instance, user: &str) -> (WsClient, String) {
    let mut client = ClientOptions::new()
        .protocols(["v12.stomp"])
        .header("x-user", user)
        .connect(&instance.server.ws_url("/ws"))
        .await
        .unwrap();
    let connected = client.stomp_connect().await;
    let session = connected.header("session").unwrap().to_owned();
    (client, session)
}

/// Subscribes and waits for the RECEIPT; returns the MESSAGE frames that came first (a
/// queue holding messages may deliver before the broker's receipt is relayed).
async fn subscribe(
    client: &mut WsClient,
    id: &str,
    destination: &str,
    extra: &[(&str, &str)],
) -> Vec<WireFrame> {
    let mut subscribe = frame("SUBSCRIBE")
        .header("id", id)
        .header("destination", destination)
        .header("receipt", id);
    for (name, value) in extra {
        subscribe = subscribe.header(name, value);
    }
    client.send_text(&subscribe.text()).await;
    let mut early = Vec::new();
    for _ in 0..MAX_FRAMES {
        let reply = client.next_frame().await;
        match reply.command.as_str() {
            "RECEIPT" => return early,
            "MESSAGE" => early.push(reply),
            _ => panic!("SUBSCRIBE {destination} refused: {reply:?}"),
        }
    }
    panic!("no RECEIPT for SUBSCRIBE {destination}");
}

async fn send(client: &mut WsClient, destination: &str, body: &str, extra: &[(&str, &str)]) {
    let receipt = unique("sent");
    let mut send = frame("SEND")
        .header("destination", destination)
        .header("receipt", &receipt)
        .body(body);
    for (name, value) in extra {
        send = send.header(name, value);
    }
    client.send_text(&send.text()).await;
    let reply = client.next_frame().await;
    assert_eq!(reply.command, "RECEIPT", "SEND {destination}: {reply:?}");
}

/// Reads MESSAGE frames until every subscription in `ids` has delivered `marker`; returns
/// everything read (bounded by [`MAX_FRAMES`] and the support code's per-frame timeout).
async fn read_until_marker(client: &mut WsClient, ids: &[&str], marker: &str) -> Vec<WireFrame> {
    let mut seen = Vec::new();
    let mut waiting: Vec<&str> = ids.to_vec();
    for _ in 0..MAX_FRAMES {
        let message = client.expect_frame("MESSAGE").await;
        if message.body_text() == marker {
            waiting.retain(|id| Some(*id) != message.header("subscription"));
        }
        seen.push(message);
        if waiting.is_empty() {
            return seen;
        }
    }
    panic!("marker {marker} not seen on {waiting:?}");
}

async fn wildcards_miss_other_sessions_user_messages(mode: ConnectionMode) {
    let instance = instance(mode, None).await;
    let bob_name = unique("bob");
    let (mut bob, _) = client(&instance, &bob_name).await;
    let (mut alice, _) = client(&instance, &unique("alice")).await;
    let (mut carol, _) = client(&instance, &unique("carol")).await;
    // Bob's private topic: resolved to /topic/notes-user{bob's session}.
    let notes = unique("notes");
    subscribe(&mut bob, "notes", &format!("/user/topic/{notes}"), &[]).await;
    // Alice's patterns, each of which RabbitMQ matches against Bob's routing key.
    subscribe(&mut alice, "hash", "/topic/#", &[]).await;
    subscribe(&mut alice, "star", "/topic/*", &[]).await;
    subscribe(&mut alice, "exchange", "/exchange/amq.topic/#", &[]).await;
    subscribe(
        &mut alice,
        "acked",
        "/topic/#",
        &[("ack", "client-individual")],
    )
    .await;

    let secret = unique("secret");
    send(
        &mut carol,
        &format!("/user/{bob_name}/topic/{notes}"),
        &secret,
        &[],
    )
    .await;
    let private = bob.expect_frame("MESSAGE").await;
    assert_eq!(private.body_text(), secret);
    assert_eq!(
        private.header("destination"),
        Some(format!("/user/topic/{notes}").as_str())
    );

    // Published after the secret on the same broker connection: every pattern gets it
    // after the secret, had the secret reached it.
    let marker = unique("marker");
    send(
        &mut carol,
        &format!("/topic/{}", unique("public")),
        &marker,
        &[],
    )
    .await;
    let seen = read_until_marker(&mut alice, &["hash", "star", "exchange", "acked"], &marker).await;
    let leaked: Vec<&WireFrame> = seen.iter().filter(|m| m.body_text() == secret).collect();
    assert!(
        leaked.is_empty(),
        "a wildcard subscription received Bob's private message: {leaked:?}"
    );
    instance.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_subscriptions_miss_other_sessions_user_messages_multiplexed() {
    wildcards_miss_other_sessions_user_messages(ConnectionMode::Multiplexed { connections: 2 })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_subscriptions_miss_other_sessions_user_messages_per_client() {
    wildcards_miss_other_sessions_user_messages(ConnectionMode::PerClient).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_queue_name_does_not_attach_to_another_sessions_queue() {
    let instance = instance(ConnectionMode::default(), None).await;
    let bob_name = unique("bob");
    let (mut bob, bob_session) = client(&instance, &bob_name).await;
    let (mut alice, _) = client(&instance, &unique("alice")).await;
    let (mut carol, _) = client(&instance, &unique("carol")).await;
    let private = unique("private");
    subscribe(&mut bob, "private", &format!("/user/queue/{private}"), &[]).await;
    // Alice's subscription names Bob's resolved queue, declared as RabbitMQ declares it
    // for Bob's `/queue/...` subscription (durable, not auto-delete).
    let topic = format!("/topic/{}", unique("cover"));
    let bobs_queue = format!("{private}-user{bob_session}");
    subscribe(
        &mut alice,
        "cover",
        &topic,
        &[
            ("x-queue-name", &bobs_queue),
            ("durable", "true"),
            ("auto-delete", "false"),
        ],
    )
    .await;

    let secrets: Vec<String> = (0..6)
        .map(|i| format!("{}-{i}", unique("secret")))
        .collect();
    for secret in &secrets {
        send(
            &mut carol,
            &format!("/user/{bob_name}/queue/{private}"),
            secret,
            &[],
        )
        .await;
    }
    // Bob gets all six (a consumer on his queue would have taken every other one).
    for secret in &secrets {
        let message = bob.expect_frame("MESSAGE").await;
        assert_eq!(&message.body_text(), secret);
    }
    // Alice's subscription is a queue of her own: the first thing on it is the marker.
    let marker = unique("marker");
    send(&mut carol, &topic, &marker, &[]).await;
    let first = alice.expect_frame("MESSAGE").await;
    assert_eq!(first.body_text(), marker, "Alice read from Bob's queue");
    instance.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_x_queue_name_still_cannot_name_another_sessions_queue() {
    let policy = HeaderPolicy::default().subscribe(HeaderRule::only(["x-queue-name"]));
    let instance = instance(ConnectionMode::default(), Some(policy)).await;
    let (mut bob, bob_session) = client(&instance, &unique("bob")).await;
    let (mut alice, alice_session) = client(&instance, &unique("alice")).await;
    let private = unique("private");
    subscribe(&mut bob, "private", &format!("/user/queue/{private}"), &[]).await;

    // Her own queue name is fine (the header is allowed)...
    let own = unique("alices-queue");
    subscribe(
        &mut alice,
        "own",
        &format!("/topic/{}", unique("t")),
        &[("x-queue-name", &own)],
    )
    .await;
    let _ = alice_session;
    // ...Bob's is refused.
    alice
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "steal")
                .header("destination", &format!("/topic/{}", unique("t")))
                .header("x-queue-name", &format!("{private}-user{bob_session}"))
                .header("receipt", "steal")
                .text(),
        )
        .await;
    let refused = alice.expect_frame("ERROR").await;
    assert!(
        refused
            .header("message")
            .is_some_and(|m| m.contains("another session")),
        "{refused:?}"
    );
    drop(bob);
    instance.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_headers_cannot_declare_queues_nor_name_another_sessions_queue() {
    let instance = instance(ConnectionMode::default(), None).await;
    let (mut alice, _) = client(&instance, &unique("alice")).await;
    // Each set, forwarded, makes RabbitMQ declare the queue a SEND names if it does not
    // exist yet: with arguments a later consumer's declaration lacks (PRECONDITION_FAILED),
    // or exclusive to the relay's system connection (RESOURCE_LOCKED for everyone else).
    let plants: [&[(&str, &str)]; 4] = [
        &[("x-max-length", "0"), ("x-message-ttl", "1")],
        &[("persistent", "false")],
        &[("exclusive", "true")],
        &[("durable", "false"), ("auto-delete", "true")],
    ];
    for plant in plants {
        let (mut bob, _) = client(&instance, &unique("bob")).await;
        let queue = format!("/queue/{}", unique("work"));
        // Before Bob subscribes, Alice sends to the queue with declaring headers.
        send(&mut alice, &queue, "planted", plant).await;
        let mut early = subscribe(&mut bob, "work", &queue, &[]).await;
        let planted = match early.pop() {
            Some(planted) => planted,
            None => bob.expect_frame("MESSAGE").await,
        };
        assert_eq!(planted.body_text(), "planted", "{plant:?}");
        let next = unique("next");
        send(&mut alice, &queue, &next, &[]).await;
        assert_eq!(
            bob.expect_frame("MESSAGE").await.body_text(),
            next,
            "{plant:?}"
        );
    }
    // Another session's resolved user queue cannot be named at all (the broker channel
    // refuses it before the relay sees it), headers or not.
    let (_bob, bob_session) = client(&instance, &unique("bob")).await;
    let private = format!("/queue/{}-user{bob_session}", unique("private"));
    alice
        .send_text(
            &frame("SEND")
                .header("destination", &private)
                .header("x-max-length", "0")
                .header("receipt", "planted")
                .body("planted")
                .text(),
        )
        .await;
    let refused = alice.expect_frame("ERROR").await;
    assert!(
        refused
            .header("message")
            .unwrap_or("")
            .contains("another session"),
        "{refused:?}"
    );
    instance.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temp_queue_reply_to_makes_no_queue_on_the_shared_connection() {
    let instance = instance(ConnectionMode::default(), None).await;
    let (mut alice, _) = client(&instance, &unique("alice")).await;
    let (mut carol, _) = client(&instance, &unique("carol")).await;
    let topic = format!("/topic/{}", unique("requests"));
    subscribe(&mut carol, "requests", &topic, &[]).await;
    send(
        &mut alice,
        &topic,
        "ask",
        &[("reply-to", "/temp-queue/answers"), ("x-app", "kept")],
    )
    .await;
    let request = carol.expect_frame("MESSAGE").await;
    assert_eq!(request.header("x-app"), Some("kept"));
    // RabbitMQ would have created a temporary queue on the relay's system connection and
    // rewritten the header to its `/reply-queue/amq.gen-...` name.
    assert_eq!(request.header("reply-to"), None, "{request:?}");
    instance.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_requeue_false_reaches_the_broker() {
    let instance = instance(ConnectionMode::default(), None).await;
    let (mut ann, _) = client(&instance, &unique("ann")).await;
    let (mut carol, _) = client(&instance, &unique("carol")).await;
    let topic = format!("/topic/{}", unique("work"));
    subscribe(&mut ann, "work", &topic, &[("ack", "client-individual")]).await;
    send(&mut carol, &topic, "poison", &[]).await;
    let poison = ann.expect_frame("MESSAGE").await;
    assert_eq!(poison.body_text(), "poison");
    ann.send_text(
        &frame("NACK")
            .header("id", poison.header("ack").unwrap())
            .header("requeue", "false")
            .text(),
    )
    .await;
    // Requeued, the poison message would come back before this one.
    send(&mut carol, &topic, "next", &[]).await;
    let next = ann.expect_frame("MESSAGE").await;
    assert_eq!(
        next.body_text(),
        "next",
        "the NACKed message was redelivered"
    );
    ann.send_text(
        &frame("ACK")
            .header("id", next.header("ack").unwrap())
            .text(),
    )
    .await;
    instance.relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_left_over_user_queue_cannot_be_read_by_name() {
    // This guard lets a resolved name through once its session is gone; RabbitMQ keeps the
    // durable queue, with what its owner left un-acked.
    let instance = instance_with(
        ConnectionMode::default(),
        None,
        ResolvedDestinationGuard::ConnectedSessions,
    )
    .await;
    let bob_name = unique("bob");
    let (mut bob, bob_session) = client(&instance, &bob_name).await;
    let (mut alice, _) = client(&instance, &unique("alice")).await;
    let (mut carol, _) = client(&instance, &unique("carol")).await;
    let private = unique("private");
    subscribe(
        &mut bob,
        "private",
        &format!("/user/queue/{private}"),
        &[("ack", "client-individual")],
    )
    .await;
    let secret = unique("secret");
    send(
        &mut carol,
        &format!("/user/{bob_name}/queue/{private}"),
        &secret,
        &[],
    )
    .await;
    assert_eq!(bob.expect_frame("MESSAGE").await.body_text(), secret);
    // Bob leaves without acknowledging: the secret goes back to his queue.
    drop(bob);
    let registry = instance.stomp.engine().user_registry();
    // No event tells when the server has finished closing Bob's session: poll (bounded).
    let bob_id = bob_session.as_str().into();
    let deadline = tokio::time::Instant::now() + WAIT;
    while registry.is_connected(&bob_id) || instance.relay.session_count() > 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob's session never closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    alice
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "leftover")
                .header(
                    "destination",
                    &format!("/queue/{private}-user{bob_session}"),
                )
                .text(),
        )
        .await;
    let refused = alice.next_frame().await;
    assert_eq!(
        refused.command, "ERROR",
        "Alice read Bob's queue: {refused:?}"
    );
    assert!(
        refused
            .header("message")
            .is_some_and(|m| m.contains("another session's user destination messages")),
        "{refused:?}"
    );
    instance.relay.shutdown().await;
}
