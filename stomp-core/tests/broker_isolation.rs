//! `Broker::publish_to_session` on the embedded broker: a resolved user destination reaches
//! its own session's exact subscriptions only (wire-level tests: `tests/tests/isolation.rs`).
#![allow(clippy::unwrap_used, missing_docs)]

mod broker_support;

use broker_support::{message, publish, subscribe, Client};
use stomp_core::broker::{AckMode, Broker, SimpleBroker, SimpleBrokerConfig};
use stomp_core::destination::Separator;

#[tokio::test]
async fn only_the_owning_session_receives_a_session_publish() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().spring_compatible(true));
    let resolved = "/topic/notes-users1";
    let mut owner = Client::new("s1");
    let mut intruder = Client::new("s2");
    subscribe(&broker, &owner, "0", resolved, AckMode::Auto).await;
    for (id, destination) in [
        ("a", "/topic/**"),
        ("b", "/topic/*"),
        ("c", resolved), // an exact subscription the guard would have refused
        ("d", "/queue/**"),
    ] {
        subscribe(&broker, &intruder, id, destination, AckMode::Auto).await;
    }
    // The owner's own patterns do not see it twice either.
    subscribe(&broker, &owner, "1", "/topic/**", AckMode::Auto).await;

    let session = owner.session.clone();
    broker
        .publish_to_session(&session, message(resolved, "private"))
        .await
        .unwrap();
    broker
        .publish_to_session(&session, message("/queue/inbox-users1", "private"))
        .await
        .unwrap();
    assert_eq!(owner.bodies(), ["private"]);
    assert!(intruder.bodies().is_empty());

    // An ordinary publish still reaches every matching subscription.
    publish(&broker, "/topic/news", "public").await;
    assert_eq!(intruder.bodies(), ["public", "public"]);
    assert_eq!(owner.bodies(), ["public"]);
}

#[tokio::test]
async fn dot_patterns_do_not_see_session_publishes() {
    let broker = SimpleBroker::new(SimpleBrokerConfig::new().separator(Separator::Dot));
    let mut owner = Client::new("s1");
    let mut intruder = Client::new("s2");
    subscribe(
        &broker,
        &owner,
        "0",
        "/topic/chat.notes-users1",
        AckMode::Auto,
    )
    .await;
    subscribe(&broker, &intruder, "0", "/topic/chat.*", AckMode::Auto).await;
    subscribe(&broker, &intruder, "1", "/topic/chat.**", AckMode::Auto).await;
    broker
        .publish_to_session(
            &owner.session.clone(),
            message("/topic/chat.notes-users1", "private"),
        )
        .await
        .unwrap();
    assert_eq!(owner.bodies(), ["private"]);
    assert!(intruder.bodies().is_empty());
}

#[tokio::test]
async fn session_publishes_to_queues_are_queued_for_their_consumer() {
    let broker = SimpleBroker::default();
    let mut owner = Client::new("s1");
    let session = owner.session.clone();
    broker
        .publish_to_session(&session, message("/queue/inbox-users1", "early"))
        .await
        .unwrap();
    subscribe(&broker, &owner, "0", "/queue/inbox-users1", AckMode::Auto).await;
    assert_eq!(owner.bodies(), ["early"]);
}
