//! The relay across a real RabbitMQ restart (`rabbitmqctl stop_app` / `start_app`). Lives in
//! a test binary of its own so no other relay test runs while the broker is down; a guard
//! restarts the broker even when an assertion fails.

#![allow(clippy::unwrap_used)] // tests panic on purpose

use std::process::Command as Process;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use stomp_core::broker::{AckMode, Broker, BrokerError, Message};
use stomp_core::frame::Headers;
use stomp_core::outbound::CloseReason;
use stomp_core::relay::{BrokerAvailability, ConnectionMode, Relay, RelayConfig};
use stomp_e2e::relay::{unique, TestSession, RABBIT, WAIT};

fn rabbitmqctl(command: &str) {
    let status = Process::new("rabbitmqctl").arg(command).status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "rabbitmqctl {command}: {status:?}"
    );
}

fn port_open() -> bool {
    std::net::TcpStream::connect_timeout(&RABBIT.parse().unwrap(), Duration::from_millis(200))
        .is_ok()
}

/// Starts the RabbitMQ application again when dropped, and waits for its STOMP port.
struct RestartGuard;

impl RestartGuard {
    fn stop() -> RestartGuard {
        rabbitmqctl("stop_app");
        RestartGuard
    }
}

impl Drop for RestartGuard {
    fn drop(&mut self) {
        let _ = Process::new("rabbitmqctl").arg("start_app").status();
        let deadline = Instant::now() + Duration::from_secs(90);
        while !port_open() && Instant::now() < deadline {
            std::thread::park_timeout(Duration::from_millis(200));
        }
    }
}

fn message(destination: &str, body: &'static str, persistent: bool) -> Message {
    let mut headers = Headers::new();
    headers.append("destination", destination);
    if persistent {
        headers.append("persistent", "true");
    }
    Message {
        destination: ByteString::from(destination),
        headers,
        body: Bytes::from_static(body.as_bytes()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_survives_a_real_broker_restart() {
    let relay = Relay::start(
        RelayConfig::new([RABBIT])
            .virtual_host("/")
            .system_login("guest", "guest")
            .client_login("guest", "guest")
            .system_heart_beat(1_000, 1_000)
            .backoff(Duration::from_millis(100), Duration::from_millis(500))
            .publish_receipts(true)
            .mode(ConnectionMode::Multiplexed { connections: 2 }),
    );
    relay.wait_available(WAIT).await.unwrap();
    let mut availability = relay.availability();
    availability.borrow_and_update();

    let topic = format!("/topic/{}", unique("restart"));
    let queue = format!("/queue/{}", unique("restart-durable"));
    let mut ann = TestSession::new("ann");
    relay
        .session_opened(&ann.info, &Headers::new())
        .await
        .unwrap();
    relay
        .subscribe(ann.subscription("t", &topic, AckMode::Auto))
        .await
        .unwrap();
    // Declare the durable queue, then leave a persistent message in it.
    let declare = TestSession::new("declare");
    relay
        .session_opened(&declare.info, &Headers::new())
        .await
        .unwrap();
    relay
        .subscribe(declare.subscription("q", &queue, AckMode::Client))
        .await
        .unwrap();
    relay.session_closed(declare.id()).await;
    relay
        .publish(message(&queue, "survives", true))
        .await
        .unwrap();

    let guard = tokio::task::spawn_blocking(RestartGuard::stop)
        .await
        .unwrap();

    // The session is told and closed; the application sees the broker go away.
    let error = ann.next().await.expect("ERROR before the close");
    assert_eq!(error.headers.message(), Some("broker connection lost"));
    assert_eq!(
        ann.next().await,
        Err(CloseReason::Error("broker connection lost".into()))
    );
    tokio::time::timeout(
        WAIT,
        availability.wait_for(|a| *a == BrokerAvailability::Unavailable),
    )
    .await
    .unwrap()
    .unwrap();
    relay.session_closed(ann.id()).await;
    let refused = relay
        .session_opened(&TestSession::new("down").info, &Headers::new())
        .await;
    assert_eq!(
        refused,
        Err(BrokerError::Unavailable("broker unavailable".into()))
    );

    // The broker comes back: no restart of the application is needed.
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
    relay.wait_available(Duration::from_secs(60)).await.unwrap();
    let mut bob = TestSession::new("bob");
    relay
        .session_opened(&bob.info, &Headers::new())
        .await
        .unwrap();
    relay
        .subscribe(bob.subscription("t", &topic, AckMode::Auto))
        .await
        .unwrap();
    relay
        .subscribe(bob.subscription("q", &queue, AckMode::Client))
        .await
        .unwrap();
    let durable = bob.message().await;
    assert_eq!(durable.headers.subscription(), Some("q"));
    assert_eq!(durable.body.as_ref(), b"survives");
    relay
        .ack(bob.id(), durable.headers.get("ack").unwrap())
        .await
        .unwrap();
    relay.publish(message(&topic, "back", false)).await.unwrap();
    let live = bob.message().await;
    assert_eq!(live.body.as_ref(), b"back");
    relay.session_closed(bob.id()).await;
}
