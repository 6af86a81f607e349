//! Issue 15, Must-show: `chat --data-dir DIR` survives `kill -9`. Persistent SENDs with
//! receipts go to a `/queue/..` over a real WebSocket, the real chat process is killed with
//! SIGKILL mid-stream, restarted on the same directory, and every message whose RECEIPT
//! arrived is delivered, in order, with `redelivered:true` and its old `message-id`. The
//! duplicates (at-least-once) are counted and printed.
//!
//! Needs the chat binary: `cargo build -p chat` (a workspace `cargo test` builds it).

mod durable_support;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use durable_support::{connect, persistent_send, Chat, Scratch};
use stomp_e2e::{frame, parse_frames, Received, WireFrame, WsClient};

const QUEUE: &str = "/queue/crash";
/// Messages the producer may send at most.
const TOTAL: usize = 2_000;
/// SENDs in flight at once.
const WINDOW: usize = 25;
/// The process is killed once this many RECEIPTs arrived.
const KILL_AFTER: usize = 160;
/// How many messages the consumer that runs before the crash acknowledges.
const ACKED_BEFORE: usize = 20;

/// Frames until the connection ends (after the kill), without failing on the end.
async fn drain_until_closed(client: &mut WsClient, mut each: impl FnMut(&WireFrame)) {
    for _ in 0..100_000 {
        match client.recv().await {
            Received::Text(t) => parse_frames(t.as_bytes()).iter().for_each(&mut each),
            Received::Binary(b) => parse_frames(&b).iter().for_each(&mut each),
            Received::Close(_) | Received::Ended | Received::Error(_) => return,
        }
    }
}

fn seq_of(frame: &WireFrame) -> usize {
    frame
        .body_text()
        .parse()
        .unwrap_or_else(|_| panic!("unexpected body: {frame:?}"))
}

#[derive(Debug, Default)]
struct Early {
    /// seq -> message-id, as delivered before the crash.
    ids: HashMap<usize, String>,
    /// seqs acknowledged before the crash.
    acked: BTreeSet<usize>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipted_persistent_messages_survive_sigkill() {
    let dir = Scratch::new("crash");
    let mut chat = Chat::start(dir.path()).await;
    let url = chat.ws_url();

    // A consumer before the crash: acks the first few messages, holds the rest un-acked.
    let mut early = connect(&url, "early").await;
    early
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "0")
                .header("destination", QUEUE)
                .header("ack", "client-individual")
                .header("receipt", "subscribed")
                .text(),
        )
        .await;
    early.expect_frame("RECEIPT").await;
    let seen = Arc::new(Mutex::new(Early::default()));
    let early_task = tokio::spawn({
        let seen = seen.clone();
        async move {
            let mut acks = Vec::new();
            for _ in 0..100_000 {
                let frames = match early.recv().await {
                    Received::Text(t) => parse_frames(t.as_bytes()),
                    Received::Binary(b) => parse_frames(&b),
                    _ => return,
                };
                for f in frames.iter().filter(|f| f.command == "MESSAGE") {
                    let seq = seq_of(f);
                    let mut seen = seen.lock().expect("lock");
                    let id = f.header("message-id").expect("message-id").to_owned();
                    seen.ids.insert(seq, id);
                    if seen.acked.len() < ACKED_BEFORE {
                        seen.acked.insert(seq);
                        let ack = f.header("ack").expect("ack header").to_owned();
                        acks.push(frame("ACK").header("id", &ack).text());
                    }
                }
                for ack in acks.drain(..) {
                    early.send_text(&ack).await;
                }
            }
        }
    });

    // The producer: windows of persistent SENDs; killed mid-window.
    let mut producer = connect(&url, "producer").await;
    let mut receipted = BTreeSet::new();
    let mut sent = 0;
    'produce: while sent < TOTAL {
        for i in sent..sent + WINDOW {
            producer
                .send_text(&persistent_send(QUEUE, &i.to_string(), &format!("r{i}")))
                .await;
        }
        sent += WINDOW;
        for _ in 0..WINDOW {
            let receipt = producer.expect_frame("RECEIPT").await;
            let id = receipt.header("receipt-id").expect("receipt-id");
            receipted.insert(id[1..].parse::<usize>().expect("receipt number"));
            if receipted.len() >= KILL_AFTER {
                break 'produce;
            }
        }
    }
    chat.kill9().await;
    // RECEIPTs that were on the wire when the process died count too.
    drain_until_closed(&mut producer, |f| {
        if let Some(id) = f.header("receipt-id") {
            receipted.insert(id[1..].parse::<usize>().expect("receipt number"));
        }
    })
    .await;
    let _ = tokio::time::timeout(stomp_e2e::TIMEOUT, early_task).await;
    let early = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(
        !early.ids.is_empty(),
        "the consumer saw nothing before the crash"
    );

    // Restart on the same directory.
    let mut chat = Chat::start(dir.path()).await;
    let report = chat
        .startup
        .iter()
        .find(|l| l.contains("restored"))
        .unwrap_or_else(|| panic!("no durable report in {:?}", chat.startup))
        .clone();
    println!("{report}");
    assert!(report.contains("not closed cleanly"), "{report}");
    let url = chat.ws_url();
    let mut consumer = connect(&url, "late").await;
    consumer
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "0")
                .header("destination", QUEUE)
                .header("ack", "client-individual")
                .text(),
        )
        .await;
    // A marker after everything restored: the queue is FIFO, so it arrives last.
    let mut producer = connect(&url, "producer").await;
    producer
        .send_text(&persistent_send(QUEUE, "end", "end"))
        .await;
    producer.expect_frame("RECEIPT").await;

    let mut delivered: Vec<usize> = Vec::new();
    let mut last_ack = String::new();
    for _ in 0..TOTAL * 2 + 10 {
        let message = consumer.expect_frame("MESSAGE").await;
        last_ack = message.header("ack").expect("ack header").to_owned();
        if message.body_text() == "end" {
            assert_eq!(message.header("redelivered"), None, "{message:?}");
            // The last ACK with a receipt: every deletion is queued before what follows.
            consumer
                .send_text(
                    &frame("ACK")
                        .header("id", &last_ack)
                        .header("receipt", "acked")
                        .text(),
                )
                .await;
            consumer.expect_frame("RECEIPT").await;
            break;
        }
        consumer
            .send_text(&frame("ACK").header("id", &last_ack).text())
            .await;
        let seq = seq_of(&message);
        assert_eq!(
            message.header("redelivered"),
            Some("true"),
            "a restored message says it may have been delivered: {message:?}"
        );
        assert_eq!(message.header("persistent"), Some("true"), "{message:?}");
        if let Some(id) = early.ids.get(&seq) {
            assert_eq!(
                message.header("message-id"),
                Some(id.as_str()),
                "message {seq} keeps its message-id across the restart"
            );
        }
        delivered.push(seq);
    }
    assert!(!last_ack.is_empty());

    let missing: Vec<usize> = receipted
        .iter()
        .filter(|s| !delivered.contains(s) && !early.acked.contains(s))
        .copied()
        .collect();
    let mut firsts = Vec::new();
    let mut once = BTreeSet::new();
    let mut repeated = 0;
    for &seq in &delivered {
        if once.insert(seq) {
            firsts.push(seq);
        } else {
            repeated += 1;
        }
    }
    let acked_again = early.acked.iter().filter(|s| once.contains(s)).count();
    let unreceipted = once.iter().filter(|s| !receipted.contains(s)).count();
    println!(
        "durable crash test: sent {sent}, receipted {}, delivered after restart {} \
         ({} distinct); duplicates: {repeated} repeated after restart + {acked_again} acked \
         before the crash and delivered again; {unreceipted} delivered without a RECEIPT \
         (committed, receipt lost in the crash)",
        receipted.len(),
        delivered.len(),
        once.len()
    );
    assert!(
        missing.is_empty(),
        "receipted messages lost in the crash: {missing:?}"
    );
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "restored messages out of order: {firsts:?}"
    );
    assert!(
        once.iter().all(|s| *s < sent),
        "a message that was never sent: {once:?}"
    );

    // The ACKs above delete: flush them with one more committed message (the deletions
    // were queued before it, so they commit with it or earlier), crash again, and only
    // that message comes back.
    producer
        .send_text(&persistent_send(QUEUE, "flush", "flush"))
        .await;
    producer.expect_frame("RECEIPT").await;
    chat.kill9().await;
    let chat = Chat::start(dir.path()).await;
    let report = chat
        .startup
        .iter()
        .find(|l| l.contains("restored"))
        .cloned()
        .unwrap_or_default();
    println!("after acking everything: {report}");
    assert!(
        report.contains("restored 1 messages in 1 queues"),
        "acknowledged messages stay deleted: {report}"
    );
}
