//! Several stomp-axum instances sharing topics, user destinations and the user list over
//! the real Redis at 127.0.0.1:6379 (each test on its own channel prefix).
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use backplane_support::{next_body, send, subscribe, unique_prefix, Instance, Proxy, REDIS};
use stomp_axum::core::backplane::LinkState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_messages_fan_out_to_every_instance_once_and_in_order() {
    let prefix = unique_prefix("fanout");
    let a = Instance::start(REDIS, &prefix).await;
    let b = Instance::start(REDIS, &prefix).await;
    let c = Instance::start(REDIS, &prefix).await;

    let mut on_a = a.client(None).await;
    subscribe(&mut on_a, "0", "/topic/news").await;
    let mut on_b = b.client(None).await;
    subscribe(&mut on_b, "0", "/topic/*").await; // pattern: PSUBSCRIBE
                                                 // On C one exact and one pattern subscriber: C's Redis connection gets every message
                                                 // twice (message + pmessage); each client must see it once.
    let mut exact_c = c.client(None).await;
    subscribe(&mut exact_c, "0", "/topic/news").await;
    let mut pattern_c = c.client(None).await;
    subscribe(&mut pattern_c, "0", "/topic/**").await;

    let mut publisher = a.client(None).await;
    for i in 0..50 {
        send(&mut publisher, "/topic/news", &format!("m{i}")).await;
    }
    // A marker: per-publisher order puts it after m49, and any duplicate before it.
    send(&mut publisher, "/topic/news", "end").await;

    for (name, client) in [
        ("a", &mut on_a),
        ("b", &mut on_b),
        ("c exact", &mut exact_c),
        ("c pattern", &mut pattern_c),
    ] {
        for i in 0..50 {
            let (body, destination) = next_body(client).await;
            assert_eq!(body, format!("m{i}"), "{name}");
            assert_eq!(destination, "/topic/news", "{name}");
        }
        assert_eq!(
            next_body(client).await.0,
            "end",
            "{name}: a duplicate came before the marker"
        );
    }
    let stats = c.broker.stats();
    assert_eq!(stats.received, 51);
    assert_eq!(b.broker.stats().received, 51);
    assert!(
        stats.duplicates >= 51,
        "C dropped the pmessage copies: {stats:?}"
    );
    // One Redis publish per message, not per subscriber or instance.
    assert_eq!(a.broker.stats().forwarded, 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_destinations_reach_the_users_sessions_on_other_instances() {
    let prefix = unique_prefix("user");
    let a = Instance::start(REDIS, &prefix).await;
    let b = Instance::start(REDIS, &prefix).await;
    let c = Instance::start(REDIS, &prefix).await;

    let mut ann_b = b.client(Some("ann")).await;
    subscribe(&mut ann_b, "0", "/user/queue/inbox").await;
    let mut ann_c = c.client(Some("ann")).await;
    subscribe(&mut ann_c, "0", "/user/queue/inbox").await;
    let mut bob_a = a.client(Some("bob")).await;
    subscribe(&mut bob_a, "0", "/user/queue/inbox").await;

    for instance in [&a, &b, &c] {
        instance.wait_users(&["ann", "bob"]).await;
    }
    let ann = a.broker.cluster().instances_of("ann");
    let mut expected = vec![
        b.broker.instance_id().clone(),
        c.broker.instance_id().clone(),
    ];
    expected.sort();
    assert_eq!(ann, expected);

    send(&mut bob_a, "/user/ann/queue/inbox", "hi ann").await;
    let mut sender_c = c.client(None).await;
    send(&mut sender_c, "/user/bob/queue/inbox", "hi bob").await;
    for ann in [&mut ann_b, &mut ann_c] {
        assert_eq!(
            next_body(ann).await,
            ("hi ann".to_owned(), "/user/queue/inbox".to_owned())
        );
    }
    assert_eq!(
        next_body(&mut bob_a).await,
        ("hi bob".to_owned(), "/user/queue/inbox".to_owned())
    );
    // Ann's session on B did not get a second copy through a topic or her own instance.
    send(&mut bob_a, "/user/ann/queue/inbox", "second").await;
    assert_eq!(next_body(&mut ann_b).await.0, "second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instance_users_leave_the_cluster_view() {
    let prefix = unique_prefix("leave");
    let proxy = Proxy::start().await;
    let a = Instance::start(REDIS, &prefix).await;
    let b = Instance::start(REDIS, &prefix).await;
    // C reaches Redis through the proxy: cutting it is C dying without a word.
    let c = Instance::start(&proxy.addr, &prefix).await;

    let _ann = a.client(Some("ann")).await;
    let _bob = b.client(Some("bob")).await;
    let _carol = c.client(Some("carol")).await;
    a.wait_users(&["ann", "bob", "carol"]).await;
    b.wait_users(&["ann", "bob", "carol"]).await;

    // Graceful: B leaves with `bye`.
    b.broker.shutdown().await;
    a.wait_users(&["ann", "carol"]).await;
    c.wait_users(&["ann", "carol"]).await;

    // Crash: C goes silent; after the TTL the others drop it and its users.
    proxy.cut();
    a.wait_users(&["ann"]).await;
    assert_eq!(
        a.broker.cluster().instances(),
        [a.broker.instance_id().clone()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_delivery_and_forwarding_resumes_after() {
    let prefix = unique_prefix("outage");
    let proxy = Proxy::start().await;
    let a = Instance::start(REDIS, &prefix).await;
    let b = Instance::start(&proxy.addr, &prefix).await;

    let mut sub_b = b.client(None).await;
    subscribe(&mut sub_b, "0", "/topic/x").await;
    let mut pub_a = a.client(None).await;
    let mut pub_b = b.client(None).await;

    send(&mut pub_a, "/topic/x", "before").await;
    assert_eq!(next_body(&mut sub_b).await.0, "before");

    proxy.cut();
    b.wait_link(LinkState::Disconnected).await;
    send(&mut pub_a, "/topic/x", "lost").await; // B is away: at most once, no replay
    send(&mut pub_b, "/topic/x", "local").await; // B's own subscribers still get it
    assert_eq!(next_body(&mut sub_b).await.0, "local");
    assert!(
        b.broker.stats().not_forwarded >= 1,
        "{:?}",
        b.broker.stats()
    );

    proxy.restore();
    b.wait_link(LinkState::Connected).await;
    assert!(b.transport.stats().reconnects >= 1);
    send(&mut pub_a, "/topic/x", "after").await;
    // Re-subscribed after the reconnect; "lost" never shows up, nothing twice.
    assert_eq!(next_body(&mut sub_b).await.0, "after");
    send(&mut pub_b, "/topic/x", "end").await;
    assert_eq!(next_body(&mut sub_b).await.0, "end");
}

/// Presence over the real Redis when an event is lost: another instance's `join` whose
/// version skips one makes this instance ask for that instance's snapshot (`sync` naming
/// it), and the snapshot fills in the user that was missed. The other instance is a bare
/// Redis transport publishing hand-written presence payloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presence_gap_is_repaired_by_a_snapshot_on_request() {
    use std::time::Duration;

    use stomp_axum::core::backplane::{Backplane, BackplaneBroker, BackplaneConfig, Channel};
    use stomp_axum::core::broker::SimpleBroker;
    use stomp_axum::core::user::UserDestinations;
    use stomp_core::backplane::redis::{RedisBackplane, RedisConfig};
    use stomp_e2e::TIMEOUT;

    let prefix = unique_prefix("gap");
    let transport = |prefix: &str| {
        RedisBackplane::start(RedisConfig::new(format!("redis://{REDIS}")).prefix(prefix)).unwrap()
    };
    let connected = |t: &RedisBackplane| {
        let mut link = t.link();
        async move {
            tokio::time::timeout(TIMEOUT, link.wait_for(|l| *l == LinkState::Connected))
                .await
                .expect("linked to Redis")
                .unwrap();
        }
    };
    let ghost = transport(&prefix);
    ghost.subscribe(Channel::Presence).await;
    let mut heard = ghost.take_inbound().unwrap();
    connected(&ghost).await;
    let a_transport = transport(&prefix);
    // The default timing: the ghost stays alive for 6 s without heartbeats.
    let a = BackplaneBroker::new(
        SimpleBroker::default(),
        UserDestinations::default(),
        a_transport.clone(),
        BackplaneConfig::new(),
    );
    connected(&a_transport).await;
    let cluster = a.cluster();
    let wait_users = |users: &'static [&'static str]| {
        let cluster = cluster.clone();
        async move {
            let deadline = tokio::time::Instant::now() + TIMEOUT;
            while !cluster
                .user_names()
                .iter()
                .map(|n| &**n)
                .eq(users.iter().copied())
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cluster view {:?}",
                    cluster.user_names()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let say = |event: &str, version: u64, users: &[&str]| {
        let mut payload =
            format!("SEND\nbp-origin:ghost\nbp-event:{event}\nbp-version:{version}\n");
        for user in users {
            payload.push_str(&format!("user:{user}\n"));
        }
        payload.push_str("\n\0");
        ghost.publish(&Channel::Presence, payload.into()).unwrap();
    };

    say("snapshot", 0, &[]);
    // Version 1 (yan joining) was lost; version 2 (zed joining) arrives.
    say("join", 2, &["zed"]);
    let wait = async {
        while let Some(payload) = heard.recv().await {
            let text = String::from_utf8_lossy(&payload);
            if text.contains("bp-event:sync\n") && text.contains("user:ghost\n") {
                return;
            }
        }
        panic!("inbound closed");
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("a sync naming the ghost");
    wait_users(&["zed"]).await;

    say("snapshot", 2, &["yan", "zed"]);
    wait_users(&["yan", "zed"]).await;
    a.shutdown().await;
}
