//! User destinations through the relay and RabbitMQ: a session of user `ann` subscribed to
//! `/user/queue/reply` receives what is sent to `/user/ann/queue/reply`, with the user-facing
//! destination in its MESSAGE.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stomp_core::broker::AckMode;
use stomp_core::channel::BrokerChannel;
use stomp_core::client::{Client, ClientConfig, Subscription};
use stomp_core::frame::Headers;
use stomp_core::identity::Principal;
use stomp_core::relay::{ConnectionMode, Relay, RelayConfig, USER_DESTINATION_HEADER};
use stomp_core::template::MessagingTemplate;
use stomp_core::user::{UserDestinations, UserRegistry};
use stomp_e2e::relay::{unique, TestSession, RABBIT, WAIT};

#[tokio::test]
async fn user_destinations_resolve_through_the_relay() {
    for mode in [
        ConnectionMode::PerClient,
        ConnectionMode::Multiplexed { connections: 1 },
    ] {
        let relay = Relay::start(
            RelayConfig::new([RABBIT])
                .virtual_host("/")
                .system_login("guest", "guest")
                .client_login("guest", "guest")
                .backoff(Duration::from_millis(50), Duration::from_millis(500))
                .mode(mode),
        );
        relay.wait_available(WAIT).await.unwrap();
        let channel = BrokerChannel::new(Arc::new(relay.clone()));
        let template = MessagingTemplate::new(channel.clone(), "/user");

        let user = unique("ann");
        let mut ann = TestSession::new("ann");
        ann.info.principal = Some(Principal::new(user.clone()));
        channel
            .session_opened(&ann.info, &Headers::new())
            .await
            .unwrap();
        let mut subscription = ann.subscription("r", "/user/queue/reply", AckMode::Auto);
        subscription
            .headers
            .append("destination", "/user/queue/reply");
        channel.subscribe(&ann.info, subscription).await.unwrap();

        template
            .send_to_user(&user, "/queue/reply", "for ann")
            .await
            .unwrap();
        let frame = ann.message().await;
        assert_eq!(frame.headers.subscription(), Some("r"), "{mode:?}");
        assert_eq!(frame.headers.destination(), Some("/user/queue/reply"));
        assert!(!frame.headers.contains("x-user-destination"));
        assert_eq!(frame.body.as_ref(), b"for ann");
        channel.session_closed(ann.id()).await;
    }
}

/// One application instance: a relay and a broker channel with its own user registry.
struct Instance {
    relay: Relay,
    channel: BrokerChannel,
    template: MessagingTemplate,
}

async fn instance(name: &str, topic: &str) -> Instance {
    let relay = Relay::start(
        RelayConfig::new([RABBIT])
            .virtual_host("/")
            .system_login("guest", "guest")
            .backoff(Duration::from_millis(50), Duration::from_millis(500))
            .instance_id(unique(name))
            .user_registry_topic(topic)
            .mode(ConnectionMode::Multiplexed { connections: 1 }),
    );
    relay.wait_available(WAIT).await.unwrap();
    let registry = UserRegistry::new();
    let channel = BrokerChannel::builder(Arc::new(relay.clone()))
        .user_destinations(UserDestinations::new(registry.clone()))
        .build();
    relay.sync_user_registry(registry);
    let template = MessagingTemplate::new(channel.clone(), "/user");
    Instance {
        relay,
        channel,
        template,
    }
}

/// Waits until `instance`'s registry satisfies `ready` (bounded).
async fn until(instance: &Instance, ready: impl Fn(&UserRegistry) -> bool) {
    let mut changes = instance.relay.user_registry_changes().unwrap();
    let registry = instance.channel.user_registry().clone();
    tokio::time::timeout(WAIT, changes.wait_for(|_| ready(&registry)))
        .await
        .expect("registry updated within the timeout")
        .unwrap();
}

#[tokio::test]
async fn user_destinations_cross_instances() {
    // Each test run has its own registry topic, so earlier runs cannot interfere.
    let topic = format!("/topic/{}", unique("user-registry"));
    let a = instance("a", &topic).await;
    let b = instance("b", &topic).await;
    let user = unique("ann");

    // Ann connects to instance B and subscribes to her user destination.
    let mut ann = TestSession::new("ann");
    ann.info.principal = Some(Principal::new(user.clone()));
    b.channel
        .session_opened(&ann.info, &Headers::new())
        .await
        .unwrap();
    let mut subscription = ann.subscription("r", "/user/queue/reply", AckMode::Auto);
    subscription
        .headers
        .append("destination", "/user/queue/reply");
    b.channel.subscribe(&ann.info, subscription).await.unwrap();

    // Instance A learns where she is, and a send on A reaches her on B.
    until(&a, |r| {
        r.sessions_of(&user)
            .iter()
            .any(|s| r.is_subscribed_to(s, &["/user/queue/reply"]))
    })
    .await;
    a.template
        .send_to_user(&user, "/queue/reply", "from instance a")
        .await
        .unwrap();
    let frame = ann.message().await;
    assert_eq!(frame.headers.subscription(), Some("r"));
    assert_eq!(frame.headers.destination(), Some("/user/queue/reply"));
    assert_eq!(frame.body.as_ref(), b"from instance a");

    // A instance that starts later learns about her from B's snapshot.
    let c = instance("c", &topic).await;
    until(&c, |r| !r.sessions_of(&user).is_empty()).await;

    // She leaves: the other instances forget her.
    b.channel.session_closed(ann.id()).await;
    until(&a, |r| r.sessions_of(&user).is_empty()).await;
    until(&c, |r| r.sessions_of(&user).is_empty()).await;
}

/// An instance that shuts down says so: the others forget its sessions at once, not after
/// three silent intervals (a minute by default).
#[tokio::test]
async fn a_stopped_instance_sessions_are_forgotten_at_once() {
    let topic = format!("/topic/{}", unique("user-registry"));
    let a = instance("a", &topic).await;
    let b = instance("b", &topic).await;
    let user = unique("ann");
    let mut ann = TestSession::new("ann");
    ann.info.principal = Some(Principal::new(user.clone()));
    b.channel
        .session_opened(&ann.info, &Headers::new())
        .await
        .unwrap();
    until(&a, |r| !r.sessions_of(&user).is_empty()).await;

    b.relay.shutdown().await;
    until(&a, |r| r.sessions_of(&user).is_empty()).await;
}

/// Another instance's lost update shows as a gap in its versions: the relay asks that
/// instance for its snapshot on the registry topic (a `sync` naming it), and the snapshot
/// fills in what was lost. "ghost" is an instance driven by hand over a plain STOMP
/// connection, speaking the registry's JSON.
#[tokio::test]
async fn a_version_gap_is_repaired_by_a_snapshot_on_request() {
    let topic = format!("/topic/{}", unique("user-registry"));
    let config = ClientConfig::new().login("guest", "guest").host("/");
    let ghost = Client::connect_tcp(RABBIT, config)
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)");
    let mut heard = ghost.subscribe(topic.clone(), AckMode::Auto).await.unwrap();
    let me = unique("ghost");
    let (bob, ann) = (unique("bob"), unique("ann"));
    let session = |id: &str, user: &str| json!({"session": id, "user": user, "subscriptions": []});

    let a = instance("a", &topic).await;
    hear(&mut heard, |v| {
        v["op"] == "hello" && v["instance"] != json!(me)
    })
    .await;
    say(
        &ghost,
        &topic,
        &me,
        json!({"op": "snapshot", "version": 0, "sessions": []}),
    )
    .await;
    // Version 1 (bob's session) is lost; version 2 (ann's) arrives.
    let ann_session = session(&unique("g-2"), &ann);
    let put = json!({"op": "put", "version": 2, "session": ann_session});
    say(&ghost, &topic, &me, put).await;
    hear(&mut heard, |v| {
        v["op"] == "sync" && v["target"] == json!(me)
    })
    .await;
    until(&a, |r| !r.sessions_of(&ann).is_empty()).await;
    assert!(a.channel.user_registry().sessions_of(&bob).is_empty());

    let sessions = [session(&unique("g-1"), &bob), ann_session];
    let snapshot = json!({"op": "snapshot", "version": 2, "sessions": sessions});
    say(&ghost, &topic, &me, snapshot).await;
    until(&a, |r| {
        !r.sessions_of(&bob).is_empty() && !r.sessions_of(&ann).is_empty()
    })
    .await;
}

/// Publishes `event` on the registry topic as instance `me`, with the marker of a relay's
/// registry events (which the relay strips from what clients publish).
async fn say(ghost: &Client, topic: &str, me: &str, mut event: Value) {
    event["instance"] = json!(me);
    let mut headers = Headers::new();
    headers.append(USER_DESTINATION_HEADER, topic.to_owned());
    ghost
        .send_with_headers(topic.to_owned(), headers, event.to_string(), false)
        .await
        .expect("sent to the registry topic");
}

/// Waits (bounded) for an announcement on the registry topic that `wanted` accepts.
async fn hear(heard: &mut Subscription, wanted: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        loop {
            let delivery = heard.next().await.expect("subscription open");
            let value: Value = serde_json::from_slice(&delivery.frame().body).unwrap_or_default();
            if wanted(&value) {
                return value;
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .expect("the announcement within the timeout")
}
