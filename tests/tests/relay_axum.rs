//! Two axum applications on two ports, each relaying to the same RabbitMQ (STOMP on
//! 127.0.0.1:61613, guest/guest; `scripts/services.sh` starts it), with a WebSocket client
//! on each: topics cross instances, an `/app` handler's reply on one instance reaches a
//! subscriber on the other, and so does a user destination.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use stomp_axum::prelude::*;
use stomp_core::relay::{ConnectionMode, Relay, RelayConfig};
use stomp_core::user::UserRegistry;
use stomp_e2e::{frame, spawn_server, ClientOptions, TestServer, WsClient};

const RABBIT: &str = "127.0.0.1:61613";
const WAIT: Duration = Duration::from_secs(15);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[message_mapping("/shout/{room}")]
#[send_to("/topic/shout.{room}")]
async fn shout(Payload(text): Payload<String>) -> String {
    text.to_uppercase()
}

struct Instance {
    server: TestServer,
    stomp: Stomp,
    relay: Relay,
}

async fn instance(registry_topic: &str) -> Instance {
    instance_with(registry_topic, None).await
}

/// An instance; with `registry`, the user registry the application made itself.
async fn instance_with(registry_topic: &str, registry: Option<UserRegistry>) -> Instance {
    let relay = Relay::start(
        RelayConfig::new([RABBIT])
            .virtual_host("/")
            .system_login("guest", "guest")
            .user_registry_topic(registry_topic)
            .mode(ConnectionMode::Multiplexed { connections: 2 }),
    );
    relay
        .wait_available(WAIT)
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)");
    let builder = match registry {
        Some(registry) => Stomp::builder().user_registry(registry),
        None => Stomp::builder(),
    };
    // One call wires the relay: broker, and the user registry shared across instances.
    let stomp = builder
        .app_destination_prefix("/app")
        .relay(relay.clone())
        .handshake_principal(|parts: axum::http::request::Parts| async move {
            Ok(parts
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .map(Principal::new))
        })
        .handler(shout)
        .build();
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;
    Instance {
        server,
        stomp,
        relay,
    }
}

async fn client(instance: &Instance, user: &str) -> WsClient {
    let mut client = ClientOptions::new()
        .protocols(["v12.stomp"])
        .header("x-user", user)
        .connect(&instance.server.ws_url("/ws"))
        .await
        .unwrap();
    client.stomp_connect().await;
    client
}

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
    client.expect_frame("RECEIPT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_one_broker() {
    let registry_topic = format!("/topic/{}", unique("registry"));
    let one = instance(&registry_topic).await;
    let two = instance(&registry_topic).await;
    let user = unique("ann");
    let mut ann = client(&one, &user).await;
    let mut bob = client(&two, "bob").await;

    // A topic crosses instances.
    let topic = format!("/topic/{}", unique("news"));
    subscribe(&mut ann, "news", &topic).await;
    bob.send_text(
        &frame("SEND")
            .header("destination", &topic)
            .header("receipt", "sent")
            .body("from two")
            .text(),
    )
    .await;
    bob.expect_frame("RECEIPT").await;
    let news = ann.expect_frame("MESSAGE").await;
    assert_eq!(news.header("subscription"), Some("news"));
    assert_eq!(news.body_text(), "from two");

    // A handler on instance two replies through its system connection to instance one.
    let room = unique("room");
    subscribe(&mut ann, "shout", &format!("/topic/shout.{room}")).await;
    bob.send_text(
        &frame("SEND")
            .header("destination", &format!("/app/shout/{room}"))
            .header("content-type", "application/json")
            .body("\"hello\"")
            .text(),
    )
    .await;
    let reply = ann.expect_frame("MESSAGE").await;
    assert_eq!(reply.header("subscription"), Some("shout"));
    assert_eq!(reply.body_text(), "HELLO");

    // A user destination sent on instance two reaches Ann's session on instance one.
    subscribe(&mut ann, "mine", "/user/queue/reply").await;
    let registry = two.stomp.engine().user_registry();
    let mut changes = two.relay.user_registry_changes().unwrap();
    tokio::time::timeout(
        WAIT,
        changes.wait_for(|_| {
            registry
                .sessions_of(&user)
                .iter()
                .any(|s| registry.is_subscribed_to(s, &["/user/queue/reply"]))
        }),
    )
    .await
    .unwrap()
    .unwrap();
    two.stomp
        .template()
        .send_to_user(&user, "/queue/reply", "only ann")
        .await
        .unwrap();
    let private = ann.expect_frame("MESSAGE").await;
    assert_eq!(private.header("subscription"), Some("mine"));
    assert_eq!(private.header("destination"), Some("/user/queue/reply"));
    assert_eq!(private.body_text(), "only ann");
}

/// `.relay(..)` is the whole wiring, with no call after `build`: the registry the
/// application made (to hold in its state) is the engine's, it learns the sessions of the
/// other instance, and the other instance learns its sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_call_keeps_the_apps_user_registry_in_sync() {
    let registry_topic = format!("/topic/{}", unique("registry"));
    let mine = UserRegistry::new();
    let one = instance_with(&registry_topic, Some(mine.clone())).await;
    let two = instance(&registry_topic).await;
    let mut one_changes = one
        .relay
        .user_registry_changes()
        .expect("relay(..) started the user registry sync");
    let mut two_changes = two.relay.user_registry_changes().unwrap();

    // A session on instance two shows up in the application's own registry on one.
    let bob = unique("bob");
    let _bob = client(&two, &bob).await;
    tokio::time::timeout(
        WAIT,
        one_changes.wait_for(|_| !mine.sessions_of(&bob).is_empty()),
    )
    .await
    .expect("instance one learns bob's session")
    .unwrap();
    assert!(!one
        .stomp
        .engine()
        .user_registry()
        .sessions_of(&bob)
        .is_empty());

    // A session on instance one is announced to instance two.
    let ann = unique("ann");
    let _ann = client(&one, &ann).await;
    assert!(!mine.sessions_of(&ann).is_empty(), "a local session");
    let theirs = two.stomp.engine().user_registry();
    tokio::time::timeout(
        WAIT,
        two_changes.wait_for(|_| !theirs.sessions_of(&ann).is_empty()),
    )
    .await
    .expect("instance two learns ann's session")
    .unwrap();
}

/// The registry topic is under a relayed prefix, so a browser can SEND to it and subscribe
/// to it. Neither gets it anywhere: a forged registry event (a session of `victim`
/// subscribed to her reply queue) reaches RabbitMQ but no instance takes it, and the
/// instances' own events never reach the browser's subscription. Everything below is
/// published on instance one's system connection, so RabbitMQ keeps it in order: forged
/// event, the witness's session, the end mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_can_neither_forge_nor_read_registry_events() {
    let registry_topic = format!("/topic/{}", unique("registry"));
    let one = instance(&registry_topic).await;
    let two = instance(&registry_topic).await;
    let mut mallory = client(&one, &unique("mallory")).await;
    subscribe(&mut mallory, "registry", &registry_topic).await;

    let victim = unique("victim");
    let forged = format!(
        r#"{{"instance":"evil","op":"put","version":1,"session":{{"session":"forged-1","user":"{victim}","subscriptions":[["0","/user/queue/reply"]]}}}}"#
    );
    let send = |body: &str| {
        frame("SEND")
            .header("destination", &registry_topic)
            .header("receipt", "sent")
            .body(body)
            .text()
    };
    // What Mallory's registry subscription delivers, in order (next to the receipts).
    let mut seen = Vec::new();
    mallory.send_text(&send(&forged)).await;
    until_receipt(&mut mallory, &mut seen).await;

    // A real session on instance one: instance two learns of it after the forged event.
    let witness = unique("witness");
    let _witness = client(&one, &witness).await;
    let registry = two.stomp.engine().user_registry();
    let mut changes = two.relay.user_registry_changes().unwrap();
    tokio::time::timeout(
        WAIT,
        changes.wait_for(|_| !registry.sessions_of(&witness).is_empty()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        registry.sessions_of(&victim).is_empty(),
        "a forged registry event was taken"
    );

    // Mallory sees her own two SENDs and nothing of the instances' events in between.
    mallory.send_text(&send("end")).await;
    until_receipt(&mut mallory, &mut seen).await;
    while seen.len() < 2 {
        let message = mallory.expect_frame("MESSAGE").await;
        seen.push(message.body_text());
    }
    assert_eq!(seen, [forged, "end".to_owned()], "what the browser read");
}

/// Reads frames up to the next RECEIPT, collecting the MESSAGE bodies on the way.
async fn until_receipt(client: &mut WsClient, seen: &mut Vec<String>) {
    loop {
        let frame = client.next_frame().await;
        match frame.command.as_str() {
            "RECEIPT" => return,
            "MESSAGE" => seen.push(frame.body_text()),
            _ => panic!("unexpected frame:\n{frame:?}"),
        }
    }
}
