//! The whole stack: `Client` → (TCP) → `Engine` session → `BrokerChannel` → `Relay` →
//! RabbitMQ → `Relay` → the session's outbound queue → `Client`. Also two application
//! instances on two ports sharing one RabbitMQ.

use std::time::Duration;

use stomp_core::app::{AppDispatch, AppError, AppRequest, AppRequestKind};
use stomp_core::broker::{AckMode, BoxFuture};
use stomp_core::client::{Client, ClientConfig, ClientError, Delivery, Subscription};
use stomp_core::engine::Engine;
use stomp_core::relay::{BrokerAvailability, ConnectionMode, Relay, RelayConfig};
use stomp_e2e::relay::{dead_addr, serve_tcp, unique, Proxy, RABBIT, WAIT};

fn relay_config(host: &str, mode: ConnectionMode) -> RelayConfig {
    RelayConfig::new([host])
        .virtual_host("/")
        .system_login("guest", "guest")
        .client_login("guest", "guest")
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .mode(mode)
}

/// Replies to every SEND under `/app` on `/topic/{the rest}` with the body upper-cased.
struct Shout;

impl AppDispatch for Shout {
    fn dispatch(&self, request: AppRequest) -> BoxFuture<'static, Result<(), AppError>> {
        Box::pin(async move {
            if !matches!(request.kind, AppRequestKind::Send) {
                return Ok(());
            }
            let reply = request.frame.body.to_ascii_uppercase();
            let destination = format!("/topic{}", request.lookup_path);
            request
                .template
                .send(destination, reply)
                .await
                .map_err(|e| AppError::new("reply failed", e.to_string()))
        })
    }
}

/// One application instance: an engine on a relay, served over TCP.
struct Instance {
    relay: Relay,
    engine: Engine,
    addr: String,
}

async fn instance(config: RelayConfig) -> Instance {
    let relay = Relay::start(config);
    let engine = Engine::builder()
        .broker(relay.clone())
        .app_destination_prefix("/app")
        .app(Shout)
        .authenticator(stomp_core::interceptor::InsecureLoginAuthenticator)
        .build();
    relay.sync_user_registry(engine.user_registry());
    let addr = serve_tcp(engine.clone()).await;
    Instance {
        relay,
        engine,
        addr,
    }
}

async fn client(instance: &Instance, login: &str) -> Client {
    Client::connect_tcp(
        instance.addr.as_str(),
        ClientConfig::new().login(login, "pw").heart_beat(0, 0),
    )
    .await
    .unwrap()
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a message within the timeout")
        .expect("subscription open")
}

#[tokio::test]
async fn clients_of_the_engine_talk_through_rabbitmq() {
    for mode in [
        ConnectionMode::PerClient,
        ConnectionMode::Multiplexed { connections: 2 },
    ] {
        let app = instance(relay_config(RABBIT, mode)).await;
        app.relay.wait_available(WAIT).await.unwrap();
        let ann = client(&app, "ann").await;
        let bob = client(&app, "bob").await;
        let topic = format!("/topic/{}", unique("engine"));
        let mut sub = ann.subscribe(topic.clone(), AckMode::Auto).await.unwrap();
        bob.send_with_receipt(topic.clone(), "hi ann")
            .await
            .unwrap();
        let message = next(&mut sub).await;
        assert_eq!(message.body().as_ref(), b"hi ann", "{mode:?}");
        assert_eq!(message.subscription(), Some(sub.id()));

        // Acks on a queue, through the session and the relay.
        let queue = format!("/queue/{}", unique("engine-acks"));
        let mut work = ann
            .subscribe(queue.clone(), AckMode::ClientIndividual)
            .await
            .unwrap();
        bob.send_with_receipt(queue.clone(), "job").await.unwrap();
        let job = next(&mut work).await;
        ann.nack(&job).await.unwrap();
        let again = next(&mut work).await;
        assert_eq!(again.body().as_ref(), b"job");
        assert_eq!(again.headers().get("redelivered"), Some("true"));
        ann.ack(&again).await.unwrap();

        // An /app handler's reply goes out through the system connection.
        let room = unique("room");
        let mut replies = ann
            .subscribe(format!("/topic/{room}"), AckMode::Auto)
            .await
            .unwrap();
        bob.send(format!("/app/{room}"), "hello").await.unwrap();
        assert_eq!(next(&mut replies).await.body().as_ref(), b"HELLO");

        ann.disconnect().await.unwrap();
        bob.disconnect().await.unwrap();
        app.relay.shutdown().await;
    }
}

#[tokio::test]
async fn connect_is_refused_while_the_broker_is_down() {
    let app = instance(relay_config(&dead_addr().await, ConnectionMode::default())).await;
    let refused =
        Client::connect_tcp(app.addr.as_str(), ClientConfig::new().heart_beat(0, 0)).await;
    assert!(
        matches!(&refused, Err(ClientError::Server { message, .. }) if message.contains("broker unavailable")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn clients_are_told_when_the_broker_goes_away_and_can_come_back() {
    let proxy = Proxy::start(RABBIT).await;
    let app = instance(relay_config(&proxy.addr(), ConnectionMode::default())).await;
    app.relay.wait_available(WAIT).await.unwrap();
    let ann = client(&app, "ann").await;
    let topic = format!("/topic/{}", unique("engine-loss"));
    let _sub = ann.subscribe(topic.clone(), AckMode::Auto).await.unwrap();
    let mut availability = app.relay.availability();
    proxy.refuse(true);
    proxy.cut();
    let error = tokio::time::timeout(WAIT, ann.closed()).await.unwrap();
    assert!(
        matches!(&error, ClientError::Server { message, .. } if message == "broker connection lost"),
        "{error:?}"
    );

    tokio::time::timeout(
        WAIT,
        availability.wait_for(|a| *a == BrokerAvailability::Unavailable),
    )
    .await
    .unwrap()
    .unwrap();

    // The broker is back; what stompjs does by itself: connect again, subscribe again.
    proxy.refuse(false);
    app.relay.wait_available(WAIT).await.unwrap();
    let ann = client(&app, "ann").await;
    let mut sub = ann.subscribe(topic.clone(), AckMode::Auto).await.unwrap();
    ann.send_with_receipt(topic, "back").await.unwrap();
    assert_eq!(next(&mut sub).await.body().as_ref(), b"back");
}

#[tokio::test]
async fn two_instances_share_topics_app_replies_and_users() {
    let registry_topic = format!("/topic/{}", unique("registry"));
    let config = || {
        relay_config(RABBIT, ConnectionMode::default())
            .user_registry_topic(registry_topic.clone())
            .instance_id(unique("instance"))
    };
    let one = instance(config()).await;
    let two = instance(config()).await;
    one.relay.wait_available(WAIT).await.unwrap();
    two.relay.wait_available(WAIT).await.unwrap();
    let user = unique("ann");
    let ann = client(&one, &user).await;
    let bob = client(&two, "bob").await;

    // A topic crosses instances.
    let topic = format!("/topic/{}", unique("cross"));
    let mut sub = ann.subscribe(topic.clone(), AckMode::Auto).await.unwrap();
    bob.send_with_receipt(topic.clone(), "from two")
        .await
        .unwrap();
    assert_eq!(next(&mut sub).await.body().as_ref(), b"from two");

    // A handler on instance two replies to a subscriber on instance one.
    let room = unique("room");
    let mut replies = ann
        .subscribe(format!("/topic/{room}"), AckMode::Auto)
        .await
        .unwrap();
    bob.send(format!("/app/{room}"), "cross").await.unwrap();
    assert_eq!(next(&mut replies).await.body().as_ref(), b"CROSS");

    // A user destination resolved on instance two reaches Ann's session on instance one.
    let mut private = ann
        .subscribe("/user/queue/reply", AckMode::Auto)
        .await
        .unwrap();
    let mut changes = two.relay.user_registry_changes().unwrap();
    let registry = two.engine.user_registry();
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
    two.engine
        .template()
        .send_to_user(&user, "/queue/reply", "just for ann")
        .await
        .unwrap();
    let delivery = next(&mut private).await;
    assert_eq!(delivery.body().as_ref(), b"just for ann");
    assert_eq!(delivery.destination(), Some("/user/queue/reply"));

    ann.disconnect().await.unwrap();
    bob.disconnect().await.unwrap();
}

#[tokio::test]
async fn a_persistent_message_waits_in_rabbitmq_for_its_consumer() {
    let app = instance(relay_config(RABBIT, ConnectionMode::default())).await;
    app.relay.wait_available(WAIT).await.unwrap();
    let queue = format!("/queue/{}", unique("engine-durable"));

    // The consumer declares the (durable) queue, then goes offline.
    let consumer = client(&app, "consumer").await;
    let sub = consumer
        .subscribe(queue.clone(), AckMode::Client)
        .await
        .unwrap();
    sub.unsubscribe().await.unwrap();
    consumer.disconnect().await.unwrap();

    let producer = client(&app, "producer").await;
    let mut headers = stomp_core::frame::Headers::new();
    headers.append("persistent", "true");
    producer
        .send_with_headers(queue.clone(), headers, "kept for you", true)
        .await
        .unwrap();

    let consumer = client(&app, "consumer").await;
    let mut sub = consumer
        .subscribe(queue.clone(), AckMode::Client)
        .await
        .unwrap();
    let message = next(&mut sub).await;
    assert_eq!(message.body().as_ref(), b"kept for you");
    assert_eq!(message.headers().get("persistent"), Some("true"));
    consumer.ack(&message).await.unwrap();
    consumer.disconnect().await.unwrap();
}
