//! Socket-free tests of the embedded broker's durable queues (feature `durable`): restore
//! after a restart (order, message ids, `redelivered`), deletion on ACK and on auto-ack
//! delivery, an injected write error, and the store's bounds in the stats.

use std::path::{Path, PathBuf};

use stomp_core::broker::{AckMode, Broker, BrokerError, Message, SimpleBroker, SimpleBrokerConfig};

use crate::support::{message, subscribe, Client};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Dir(std::env::temp_dir().join(format!(
            "stomp-core-durable-{name}-{}-{nanos}",
            std::process::id()
        )))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Dir) -> SimpleBroker {
    SimpleBroker::open(SimpleBrokerConfig::new().data_dir(dir.path())).unwrap()
}

fn persistent(destination: &str, body: &str) -> Message {
    let mut m = message(destination, body);
    m.headers.append("persistent", "true");
    m
}

#[tokio::test]
async fn restart_restores_queues_in_order_with_their_ids_marked_redelivered() {
    let dir = Dir::new("restore");
    let broker = open(&dir);
    let mut early = Client::new("early");
    subscribe(&broker, &early, "s", "/queue/a", AckMode::ClientIndividual).await;
    for n in 0..5 {
        broker
            .publish(persistent("/queue/a", &format!("a{n}")))
            .await
            .unwrap();
        // Non-persistent messages stay in memory only.
        broker
            .publish(message("/queue/a", &format!("mem{n}")))
            .await
            .unwrap();
    }
    for n in 0..3 {
        broker
            .publish(persistent("/queue/b", &format!("b{n}")))
            .await
            .unwrap();
    }
    let seen = early.drain();
    assert_eq!(seen.len(), 10);
    let ids: Vec<(String, String)> = seen
        .iter()
        .filter(|m| m.body().starts_with('a'))
        .map(|m| (m.body().to_owned(), m.h("message-id").to_owned()))
        .collect();
    assert_eq!(broker.stats().stored_messages, 8);
    drop(broker); // no ACK: everything persistent is still owed

    let broker = open(&dir);
    let report = broker.durable_report().unwrap();
    assert_eq!(
        (report.restored_messages, report.restored_queues),
        (8, 2),
        "{report}"
    );
    assert!(!report.recovered, "closed cleanly: {report}");
    let mut late = Client::new("late");
    subscribe(&broker, &late, "s", "/queue/a", AckMode::Auto).await;
    subscribe(&broker, &late, "t", "/queue/b", AckMode::Auto).await;
    let got = late.drain();
    let a: Vec<(String, String)> = got
        .iter()
        .filter(|m| m.body().starts_with('a'))
        .map(|m| (m.body().to_owned(), m.h("message-id").to_owned()))
        .collect();
    assert_eq!(a, ids, "same order, same message ids");
    let b: Vec<&str> = got
        .iter()
        .filter(|m| m.body().starts_with('b'))
        .map(|m| m.body())
        .collect();
    assert_eq!(b, ["b0", "b1", "b2"]);
    assert!(got.iter().all(|m| m.header("redelivered") == Some("true")));
    assert!(got.iter().all(|m| !m.body().starts_with("mem")));
    // Auto-ack deliveries were deleted.
    assert_eq!(broker.stats().stored_messages, 0);
    drop(broker);
    assert_eq!(open(&dir).durable_report().unwrap().restored_messages, 0);
}

#[tokio::test]
async fn ack_deletes_and_nack_keeps() {
    let dir = Dir::new("ack");
    let broker = open(&dir);
    let mut c = Client::new("c");
    subscribe(&broker, &c, "s", "/queue/q", AckMode::ClientIndividual).await;
    for n in 0..3 {
        broker
            .publish(persistent("/queue/q", &n.to_string()))
            .await
            .unwrap();
    }
    let got = c.drain();
    broker.ack(&c.session, got[0].h("ack")).await.unwrap();
    broker.nack(&c.session, got[1].h("ack")).await.unwrap();
    let again = c.drain();
    assert_eq!(again.len(), 1, "the NACKed one comes back");
    broker.ack(&c.session, again[0].h("ack")).await.unwrap();
    let stats = broker.stats();
    assert_eq!(stats.stored_messages, 1, "{stats:?}");
    assert!(stats.stored_bytes > 0);
    drop(broker);
    let broker = open(&dir);
    assert_eq!(broker.durable_report().unwrap().restored_messages, 1);
    let mut c = Client::new("c");
    subscribe(&broker, &c, "s", "/queue/q", AckMode::Auto).await;
    assert_eq!(c.bodies(), ["2"]);
}

#[tokio::test]
async fn a_write_error_refuses_persistent_sends_and_the_rest_keeps_working() {
    let dir = Dir::new("fail");
    let broker = open(&dir);
    let mut c = Client::new("c");
    subscribe(&broker, &c, "s", "/queue/q", AckMode::Auto).await;
    broker.durable_fail_writes(true);
    let err = broker
        .publish(persistent("/queue/q", "lost"))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Storage(_)), "{err:?}");
    assert!(err.to_string().contains("durable store"), "{err}");
    // Not delivered: a consumer never sees a message that is not on disk.
    assert!(c.drain().is_empty());
    broker.publish(message("/queue/q", "memory")).await.unwrap();
    assert_eq!(c.bodies(), ["memory"]);
    assert_eq!(broker.stats().stored_messages, 0);
    broker.durable_fail_writes(false);
    broker
        .publish(persistent("/queue/q", "kept"))
        .await
        .unwrap();
    assert_eq!(c.bodies(), ["kept"]);
}

#[tokio::test]
async fn the_store_is_bounded_and_counted_in_the_stats() {
    let dir = Dir::new("bounds");
    let broker = SimpleBroker::open(
        SimpleBrokerConfig::new()
            .data_dir(dir.path())
            .max_stored_messages(2),
    )
    .unwrap();
    broker.publish(persistent("/queue/a", "1")).await.unwrap();
    broker.publish(persistent("/queue/b", "2")).await.unwrap();
    let err = broker
        .publish(persistent("/queue/c", "3"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    let stats = broker.stats();
    assert_eq!((stats.stored_messages, stats.queued), (2, 2), "{stats:?}");
    // Topics are not stored: a persistent broadcast goes out as usual.
    let mut t = Client::new("t");
    subscribe(&broker, &t, "s", "/topic/x", AckMode::Auto).await;
    broker
        .publish(persistent("/topic/x", "news"))
        .await
        .unwrap();
    assert_eq!(t.bodies(), ["news"]);
}

#[tokio::test]
async fn persistent_messages_wait_for_a_consumer_that_comes_later() {
    let dir = Dir::new("later");
    let broker = open(&dir);
    for n in 0..3 {
        broker
            .publish(persistent("/queue/w", &n.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(broker.stats().queued, 3);
    let mut c = Client::new("c");
    subscribe(&broker, &c, "s", "/queue/w", AckMode::Auto).await;
    assert_eq!(c.bodies(), ["0", "1", "2"]);
    assert_eq!(broker.stats().stored_messages, 0);
}

#[cfg(unix)]
#[tokio::test]
async fn a_data_directory_it_creates_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("private");
    let _broker = open(&dir);
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
}
