//! The client against the real RabbitMQ STOMP plugin on 127.0.0.1:61613 (guest/guest).
//! Start it with `scripts/services.sh`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stomp_core::broker::AckMode;
use stomp_core::client::{Client, ClientConfig, ClientError, Delivery, Subscription};
use stomp_core::frame::Headers;
use stomp_core::Version;

const RABBIT: &str = "127.0.0.1:61613";
const WAIT: Duration = Duration::from_secs(10);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn config() -> ClientConfig {
    ClientConfig::new().login("guest", "guest").host("/")
}

async fn connect() -> Client {
    Client::connect_tcp(RABBIT, config())
        .await
        .expect("RabbitMQ STOMP on 127.0.0.1:61613 (run scripts/services.sh)")
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a message within the timeout")
        .expect("subscription open")
}

#[tokio::test]
async fn connect_subscribe_send_receipt_and_disconnect() {
    let client = connect().await;
    assert_eq!(client.version(), Version::V1_2);
    assert!(client.server().is_some_and(|s| s.starts_with("RabbitMQ")));
    let topic = format!("/topic/{}", unique("client"));
    let mut sub = client
        .subscribe(topic.clone(), AckMode::Auto)
        .await
        .unwrap();
    client
        .send_with_receipt(topic.clone(), "hello")
        .await
        .unwrap();
    let message = next(&mut sub).await;
    assert_eq!(message.body().as_ref(), b"hello");
    assert_eq!(message.destination(), Some(topic.as_str()));
    assert_eq!(message.subscription(), Some(sub.id()));
    client.disconnect().await.unwrap();
    assert!(client.is_closed());
    assert!(matches!(
        client.send(topic, "late").await,
        Err(ClientError::Closed)
    ));
    assert!(
        tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap()
            .is_none(),
        "a closed connection ends its subscriptions"
    );
}

#[tokio::test]
async fn client_individual_ack_and_nack_on_a_queue() {
    let client = connect().await;
    let queue = format!("/queue/{}", unique("acks"));
    let mut sub = client
        .subscribe(queue.clone(), AckMode::ClientIndividual)
        .await
        .unwrap();
    client
        .send_with_receipt(queue.clone(), "one")
        .await
        .unwrap();
    client
        .send_with_receipt(queue.clone(), "two")
        .await
        .unwrap();
    let one = next(&mut sub).await;
    let two = next(&mut sub).await;
    assert_eq!(one.body().as_ref(), b"one");
    assert_eq!(two.body().as_ref(), b"two");
    assert!(one.ack_id().is_some());
    client.ack(&one).await.unwrap();
    client.nack(&two).await.unwrap();
    // RabbitMQ requeues a NACKed message: it comes back, marked redelivered.
    let again = next(&mut sub).await;
    assert_eq!(again.body().as_ref(), b"two");
    assert_eq!(again.headers().get("redelivered"), Some("true"));
    client.ack(&again).await.unwrap();
    sub.unsubscribe().await.unwrap();
    client.disconnect().await.unwrap();

    // Nothing is left in the queue: a fresh consumer gets only what is sent now.
    let client = connect().await;
    let mut sub = client
        .subscribe(queue.clone(), AckMode::Auto)
        .await
        .unwrap();
    client.send_with_receipt(queue, "three").await.unwrap();
    assert_eq!(next(&mut sub).await.body().as_ref(), b"three");
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn transactions_hold_sends_until_commit() {
    let client = connect().await;
    let queue = format!("/queue/{}", unique("tx"));
    let mut sub = client
        .subscribe(queue.clone(), AckMode::Auto)
        .await
        .unwrap();
    let tx = client.begin().await.unwrap();
    tx.send(queue.clone(), "in-tx").await.unwrap();
    client
        .send_with_receipt(queue.clone(), "outside")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(next(&mut sub).await.body().as_ref(), b"outside");
    assert_eq!(next(&mut sub).await.body().as_ref(), b"in-tx");

    let tx = client.begin().await.unwrap();
    tx.send(queue.clone(), "aborted").await.unwrap();
    tx.abort().await.unwrap();
    client.send_with_receipt(queue, "after").await.unwrap();
    assert_eq!(next(&mut sub).await.body().as_ref(), b"after");
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn heart_beats_are_negotiated_with_the_broker() {
    let client = Client::connect_tcp(RABBIT, config().heart_beat(1_000, 1_000))
        .await
        .unwrap();
    let beats = client.heart_beat();
    assert!(beats.send_every.is_some(), "{beats:?}");
    assert!(beats.expect_every.is_some(), "{beats:?}");
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn server_errors_are_surfaced() {
    let refused = Client::connect_tcp(RABBIT, ClientConfig::new().login("guest", "wrong")).await;
    assert!(
        matches!(&refused, Err(e) if e.is_server_error()),
        "{refused:?}"
    );

    let client = connect().await;
    let err = client
        .subscribe("/nonsense/destination", AckMode::Auto)
        .await
        .unwrap_err();
    assert!(err.is_server_error(), "{err:?}");
    let closed = tokio::time::timeout(WAIT, client.closed()).await.unwrap();
    assert!(closed.is_server_error(), "{closed:?}");
}

#[tokio::test]
async fn extra_headers_reach_subscribers() {
    let client = connect().await;
    let topic = format!("/topic/{}", unique("headers"));
    let mut sub = client
        .subscribe(topic.clone(), AckMode::Auto)
        .await
        .unwrap();
    let mut headers = Headers::new();
    headers.append("content-type", "application/json");
    headers.append("x-trace", "a:b\\c");
    client
        .send_with_headers(topic, headers, "{}", true)
        .await
        .unwrap();
    let message = next(&mut sub).await;
    assert_eq!(message.headers().content_type(), Some("application/json"));
    assert_eq!(message.headers().get("x-trace"), Some("a:b\\c"));
    client.disconnect().await.unwrap();
}

/// Baseline for the relay's numbers; run with
/// `cargo test -p stomp-core --release --test client_rabbitmq -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, prints numbers"]
async fn measure_plain_client_throughput() {
    let client = connect().await;
    let topic = format!("/topic/{}", unique("measure"));
    let mut sub = client
        .subscribe(topic.clone(), AckMode::Auto)
        .await
        .unwrap();
    let n = 20_000;
    let started = std::time::Instant::now();
    let publisher = {
        let client = client.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                client
                    .send(topic.clone(), "0123456789abcdef")
                    .await
                    .unwrap();
            }
        })
    };
    for _ in 0..n {
        next(&mut sub).await;
    }
    publisher.await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "plain client: {n} messages of 16 B sent and received in {elapsed:?} ({:.0} msg/s)",
        f64::from(n) / elapsed.as_secs_f64()
    );
    client.disconnect().await.unwrap();
}
