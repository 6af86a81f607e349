//! The `durable` scenario: producers send persistent messages (`persistent:true`) to one
//! queue, each waiting for the RECEIPT of a SEND before the next one (a closed loop, so
//! every message is on disk before its producer goes on). With `--subscribers 1` one
//! consumer drains the queue with `ack:auto` meanwhile; with `--subscribers 0` (equal
//! durability: RabbitMQ confirms a persistent message that a consumer already took without
//! waiting for its disk) the queue is drained only after the timed part. Reports
//! messages/s and the RECEIPT latency percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use stomp_core::Command;

use crate::client::{self, describe_error, Target};

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct DurablePlan {
    pub(crate) producers: usize,
    pub(crate) duration: Duration,
    pub(crate) body: usize,
    pub(crate) queue: String,
    pub(crate) messages: u64,
    /// A consumer drains the queue while producers run (else only afterwards).
    pub(crate) consume_during: bool,
}

/// The report.
#[derive(Debug, Default, Serialize)]
pub(crate) struct DurableResult {
    pub(crate) producers: usize,
    pub(crate) queue: String,
    pub(crate) body_bytes: usize,
    pub(crate) receipted: u64,
    pub(crate) seconds: f64,
    pub(crate) msgs_per_s: f64,
    pub(crate) receipt_p50_ms: f64,
    pub(crate) receipt_p99_ms: f64,
    pub(crate) receipt_max_ms: f64,
    pub(crate) consume_during: bool,
    pub(crate) consumed: u64,
    pub(crate) errors: Vec<String>,
}

/// A histogram of microseconds up to an hour (3 significant digits).
fn histogram() -> Histogram<u64> {
    // Valid bounds: `new_with_bounds` cannot fail with these.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

async fn produce(
    target: Target,
    queue: String,
    body: Bytes,
    deadline: Instant,
    most: u64,
) -> Result<Histogram<u64>, (Histogram<u64>, String)> {
    let mut hist = histogram();
    let (mut writer, mut reader) = match client::connect(&target).await {
        Ok(c) => c,
        Err(e) => return Err((hist, e)),
    };
    let mut n = 0u64;
    while Instant::now() < deadline && n < most {
        let frame = client::send(&queue, body.clone())
            .header("persistent", "true")
            .header("receipt", format!("r{n}"));
        let sent = Instant::now();
        if let Err(e) = writer.send(&frame).await {
            return Err((hist, e));
        }
        match reader.next_frame().await {
            Ok(f) if f.command == Command::Receipt => {
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                let _ = hist.record(micros.max(1));
            }
            Ok(f) => return Err((hist, describe_error(&f))),
            Err(e) => return Err((hist, e)),
        }
        n += 1;
    }
    writer.close().await;
    Ok(hist)
}

/// Starts the consumer that counts into `consumed`: `ack:auto`, or with `acking` (a
/// backlog to drain) `ack:client-individual` with an ACK per message, so the broker's
/// un-acked limit paces the deliveries.
async fn consume(
    target: &Target,
    queue: &str,
    consumed: &Arc<AtomicU64>,
    errors: &mut Vec<String>,
    acking: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    match client::connect(target).await {
        Ok((mut writer, mut reader)) => {
            let mut subscribe = client::subscribe(queue, "0");
            if acking {
                subscribe.headers.set("ack", "client-individual");
            }
            if let Err(e) = writer.send(&subscribe).await {
                errors.push(format!("consumer: {e}"));
            }
            let consumed = consumed.clone();
            Some(tokio::spawn(async move {
                while let Ok(frame) = reader.next_frame().await {
                    if frame.command != Command::Message {
                        continue;
                    }
                    consumed.fetch_add(1, Ordering::Relaxed);
                    let ack = frame.headers.ack().or_else(|| frame.headers.message_id());
                    if let (true, Some(id)) = (acking, ack) {
                        let ack = stomp_core::Frame::new(Command::Ack).header("id", id);
                        if writer.send(&ack).await.is_err() {
                            return;
                        }
                    }
                }
            }))
        }
        Err(e) => {
            errors.push(format!("consumer: {e}"));
            None
        }
    }
}

/// Runs the scenario.
pub(crate) async fn run(target: &Target, plan: &DurablePlan) -> DurableResult {
    let mut result = DurableResult {
        producers: plan.producers,
        queue: plan.queue.clone(),
        body_bytes: plan.body,
        consume_during: plan.consume_during,
        ..DurableResult::default()
    };
    let consumed = Arc::new(AtomicU64::new(0));
    let mut consumer = if plan.consume_during {
        consume(target, &plan.queue, &consumed, &mut result.errors, false).await
    } else {
        None
    };
    let body = Bytes::from(vec![b'x'; plan.body]);
    let start = Instant::now();
    let deadline = start + plan.duration;
    let tasks: Vec<_> = (0..plan.producers)
        .map(|_| {
            tokio::spawn(produce(
                target.clone(),
                plan.queue.clone(),
                body.clone(),
                deadline,
                plan.messages,
            ))
        })
        .collect();
    let mut all = histogram();
    for task in tasks {
        let hist = match task.await {
            Ok(Ok(hist)) => hist,
            Ok(Err((hist, e))) => {
                result.errors.push(e);
                hist
            }
            Err(e) => {
                result.errors.push(format!("producer task: {e}"));
                continue;
            }
        };
        let _ = all.add(&hist);
    }
    let seconds = start.elapsed().as_secs_f64();
    result.errors.truncate(10);
    result.receipted = all.len();
    result.seconds = seconds;
    result.msgs_per_s = all.len() as f64 / seconds.max(1e-9);
    let ms = |v: u64| v as f64 / 1000.0;
    result.receipt_p50_ms = ms(all.value_at_quantile(0.50));
    result.receipt_p99_ms = ms(all.value_at_quantile(0.99));
    result.receipt_max_ms = ms(all.max());
    if consumer.is_none() {
        consumer = consume(target, &plan.queue, &consumed, &mut result.errors, true).await;
    }
    // Drain what is left, so no queue stays full (bounded).
    let drain_until = Instant::now() + Duration::from_secs(30);
    while consumed.load(Ordering::Relaxed) < result.receipted && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    result.consumed = consumed.load(Ordering::Relaxed);
    if let Some(consumer) = consumer {
        consumer.abort();
    }
    result
}
