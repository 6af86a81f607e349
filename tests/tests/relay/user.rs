//! User destinations through the relay and RabbitMQ: a session of user `ann` subscribed to
//! `/user/queue/reply` receives what is sent to `/user/ann/queue/reply`, with the user-facing
//! destination in its MESSAGE.

use std::sync::Arc;
use std::time::Duration;

use stomp_core::broker::AckMode;
use stomp_core::channel::BrokerChannel;
use stomp_core::frame::Headers;
use stomp_core::identity::Principal;
use stomp_core::relay::{ConnectionMode, Relay, RelayConfig};
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
