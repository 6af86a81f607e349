//! The message scenarios: publishers and subscribers on topics, with flow control, latency
//! and loss accounting. `fanout`, `pairs`, `latency` and `app` are this one engine with
//! different shapes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use stomp_core::Command;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::client::{self, Target};
use crate::probe::{self, CpuMark, Latency};

/// One publisher and the subscribers of what it publishes.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Where the publisher sends (a topic, or an `/app` destination that replies to one).
    pub(crate) publish_to: String,
    /// What the subscribers subscribe to.
    pub(crate) subscribe_to: String,
    pub(crate) subscribers: usize,
}

/// How a traffic run is shaped and bounded.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) groups: Vec<Group>,
    /// Messages per second per publisher; `None` = as fast as the window allows.
    pub(crate) rate: Option<f64>,
    pub(crate) duration: Duration,
    /// Most messages per publisher.
    pub(crate) max_messages: u64,
    /// Most messages a publisher has ahead of its slowest subscriber.
    pub(crate) window: u64,
    pub(crate) body_size: usize,
    /// After publishing stops, how long without any delivery before the rest counts as lost.
    pub(crate) drain: Duration,
    pub(crate) server_pid: Option<u32>,
    /// Connections set up at once.
    pub(crate) connect_concurrency: usize,
}

/// The JSON result of a traffic scenario.
#[derive(Debug, Serialize, Default)]
pub(crate) struct TrafficResult {
    pub(crate) publishers: usize,
    pub(crate) subscribers: usize,
    pub(crate) seconds: f64,
    pub(crate) sent: u64,
    pub(crate) expected: u64,
    pub(crate) delivered: u64,
    pub(crate) lost: u64,
    pub(crate) out_of_order: u64,
    pub(crate) sent_per_s: f64,
    pub(crate) delivered_per_s: f64,
    pub(crate) latency: Latency,
    pub(crate) server_cpu_s: Option<f64>,
    pub(crate) server_cpu_us_per_delivery: Option<f64>,
    pub(crate) server_rss_bytes: Option<u64>,
    pub(crate) errors: Vec<String>,
}

/// What one subscriber has seen.
struct SubState {
    last_seq: Option<u64>,
    out_of_order: u64,
    hist: Histogram<u64>,
}

struct Subscriber {
    /// Probe messages seen (readiness, before measuring).
    probed: AtomicU64,
    received: AtomicU64,
    state: Mutex<SubState>,
}

/// The body: sequence number and send time (ns since the run's epoch) in hex, padded.
fn body(seq: u64, sent_ns: u64, size: usize) -> Bytes {
    let mut text = format!("{seq:016x} {sent_ns:016x} ");
    let size = size.max(text.len());
    text.extend(std::iter::repeat_n('.', size - text.len()));
    Bytes::from(text)
}

/// Sequence number and send time of a body, if it is one of ours.
fn parse_body(body: &[u8]) -> Option<(u64, u64)> {
    let seq = std::str::from_utf8(body.get(..16)?).ok()?;
    let sent = std::str::from_utf8(body.get(17..33)?).ok()?;
    Some((
        u64::from_str_radix(seq, 16).ok()?,
        u64::from_str_radix(sent, 16).ok()?,
    ))
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs the plan and measures it.
pub(crate) async fn run(target: &Target, plan: &Plan) -> TrafficResult {
    let epoch = Instant::now();
    let precise = plan.groups.iter().map(|g| g.subscribers).sum::<usize>() <= 100;
    let mut result = TrafficResult {
        publishers: plan.groups.len(),
        subscribers: plan.groups.iter().map(|g| g.subscribers).sum(),
        ..TrafficResult::default()
    };

    // Subscribers: connect, subscribe, then read.
    let gate = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(64);
    let mut group_subs: Vec<Vec<Arc<Subscriber>>> = Vec::new();
    let mut tasks = Vec::new();
    for (g, group) in plan.groups.iter().enumerate() {
        let mut subs = Vec::new();
        for s in 0..group.subscribers {
            let sub = Arc::new(Subscriber {
                probed: AtomicU64::new(0),
                received: AtomicU64::new(0),
                state: Mutex::new(SubState {
                    last_seq: None,
                    out_of_order: 0,
                    hist: probe::histogram(precise),
                }),
            });
            subs.push(sub.clone());
            let (target, gate, ready) = (target.clone(), gate.clone(), ready_tx.clone());
            let destination = group.subscribe_to.clone();
            let id = format!("s{g}-{s}");
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                let connected = async {
                    let (mut w, r) = client::connect(&target).await?;
                    w.send(&client::subscribe(&destination, &id)).await?;
                    Ok::<_, String>((w, r))
                }
                .await;
                drop(permit);
                let (_writer, mut reader) = match connected {
                    Ok(pair) => pair,
                    Err(e) => {
                        let _ = ready.send(Err(e)).await;
                        return;
                    }
                };
                let _ = ready.send(Ok(())).await;
                drop(ready);
                read_messages(&mut reader, &sub, epoch).await;
            }));
        }
        group_subs.push(subs);
    }
    drop(ready_tx);
    let total_subs = result.subscribers;
    for _ in 0..total_subs {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => result.errors.push(format!("subscriber: {e}")),
            None => break,
        }
    }
    if !result.errors.is_empty() {
        abort_all(&tasks);
        return result;
    }

    // Publishers.
    let mut publishers = Vec::new();
    for group in &plan.groups {
        let (w, r) = match client::connect(target).await {
            Ok(pair) => pair,
            Err(e) => {
                result.errors.push(format!("publisher: {e}"));
                abort_all(&tasks);
                return result;
            }
        };
        publishers.push((group.publish_to.clone(), w, r));
    }
    // Readiness: probe every group until each of its subscribers has seen a probe (works
    // on servers that answer no RECEIPT to SUBSCRIBE or SEND, such as stomp-broker-js).
    if let Err(e) = probe_until_ready(&mut publishers, &group_subs).await {
        result.errors.push(e);
        abort_all(&tasks);
        return result;
    }
    let sent_counters: Vec<Arc<AtomicU64>> = plan
        .groups
        .iter()
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let running = Arc::new(AtomicBool::new(true));
    let progress = tokio::spawn(progress(
        sent_counters.clone(),
        group_subs.iter().flatten().cloned().collect(),
        running.clone(),
    ));
    let cpu = CpuMark::start(plan.server_pid);
    let start = Instant::now();
    let deadline = start + plan.duration;
    let mut handles = Vec::new();
    for ((destination, mut writer, reader), (subs, sent)) in publishers.into_iter().zip(
        group_subs
            .iter()
            .cloned()
            .zip(sent_counters.iter().cloned()),
    ) {
        let plan = plan.clone();
        handles.push(tokio::spawn(async move {
            let outcome = publish(
                &mut writer,
                &destination,
                &plan,
                &subs,
                &sent,
                deadline,
                epoch,
            )
            .await;
            (outcome, writer, reader)
        }));
    }
    let mut writers = Vec::new();
    for handle in handles {
        match handle.await {
            Ok((outcome, writer, reader)) => {
                if let Err(e) = outcome {
                    result.errors.push(format!("publisher: {e}"));
                }
                writers.push((writer, reader));
            }
            Err(e) => result.errors.push(format!("publisher task: {e}")),
        }
    }
    let sent_by_group: Vec<u64> = sent_counters
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    result.sent = sent_by_group.iter().sum();
    result.expected = sent_by_group
        .iter()
        .zip(&plan.groups)
        .map(|(sent, g)| sent * g.subscribers as u64)
        .sum();

    // Drain: wait for every expected delivery, bounded.
    let delivered = |subs: &[Vec<Arc<Subscriber>>]| -> u64 {
        subs.iter()
            .flatten()
            .map(|s| s.received.load(Ordering::Relaxed))
            .sum()
    };
    let drain_cap = Instant::now() + DRAIN_CAP;
    let mut last_delivery = Instant::now();
    let mut seen = delivered(&group_subs);
    while seen < result.expected
        && last_delivery.elapsed() < plan.drain
        && Instant::now() < drain_cap
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = delivered(&group_subs);
        if now != seen {
            last_delivery = Instant::now();
            seen = now;
        }
    }
    let elapsed = last_delivery.max(start) - start;
    result.server_cpu_s = cpu.and_then(|c| c.used());
    running.store(false, Ordering::Relaxed);
    let _ = progress.await;
    abort_all(&tasks);
    for (writer, _reader) in writers {
        writer.close().await;
    }

    let mut hist = probe::histogram(precise);
    for (subs, sent) in group_subs.iter().zip(&sent_by_group) {
        for sub in subs {
            let received = sub.received.load(Ordering::Relaxed);
            result.delivered += received;
            result.lost += sent.saturating_sub(received);
            if let Ok(state) = sub.state.lock() {
                result.out_of_order += state.out_of_order;
                let _ = hist.add(&state.hist);
            }
        }
    }
    result.seconds = elapsed.as_secs_f64();
    if result.seconds > 0.0 {
        result.sent_per_s = (result.sent as f64 / result.seconds).round();
        result.delivered_per_s = (result.delivered as f64 / result.seconds).round();
    }
    result.latency = Latency::of(&hist);
    if let (Some(cpu), true) = (result.server_cpu_s, result.delivered > 0) {
        result.server_cpu_us_per_delivery =
            Some((cpu * 1e6 / result.delivered as f64 * 1000.0).round() / 1000.0);
    }
    result.server_rss_bytes = plan.server_pid.and_then(probe::rss_bytes);
    result
}

fn abort_all(tasks: &[tokio::task::JoinHandle<()>]) {
    for task in tasks {
        task.abort();
    }
}

/// Longest drain after publishing, however steadily late deliveries still arrive.
const DRAIN_CAP: Duration = Duration::from_secs(60);

/// The body of readiness probes (not counted as messages).
const PROBE: &[u8] = b"probe";
/// Longest wait for every subscription to be live.
const READY_LIMIT: Duration = Duration::from_secs(30);

async fn probe_until_ready(
    publishers: &mut [(String, client::Writer, client::Reader)],
    group_subs: &[Vec<Arc<Subscriber>>],
) -> Result<(), String> {
    let limit = Instant::now() + READY_LIMIT;
    loop {
        let mut waiting = 0;
        for ((destination, writer, _), subs) in publishers.iter_mut().zip(group_subs) {
            let ready = subs.iter().all(|s| s.probed.load(Ordering::Relaxed) > 0);
            if !ready {
                waiting += 1;
                writer
                    .send(&client::send(destination, Bytes::from_static(PROBE)))
                    .await?;
            }
        }
        if waiting == 0 {
            // Let probes still in flight arrive before measuring.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Ok(());
        }
        if Instant::now() >= limit {
            return Err(format!("{waiting} groups not ready within {READY_LIMIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads MESSAGE frames until the connection ends (or the task is aborted).
async fn read_messages(reader: &mut client::Reader, sub: &Subscriber, epoch: Instant) {
    while let Ok(frame) = reader.next_frame().await {
        if frame.command != Command::Message {
            continue;
        }
        let Some((seq, sent_ns)) = parse_body(&frame.body) else {
            if frame.body == PROBE {
                sub.probed.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let latency_us = nanos_since(epoch).saturating_sub(sent_ns) / 1000;
        if let Ok(mut state) = sub.state.lock() {
            if state.last_seq.is_some_and(|last| seq <= last) {
                state.out_of_order += 1;
            } else {
                state.last_seq = Some(seq);
            }
            state.hist.saturating_record(latency_us.max(1));
        }
        sub.received.fetch_add(1, Ordering::Relaxed);
    }
}

/// Publishes until the deadline or the message count, keeping at most `window` messages
/// ahead of the slowest subscriber and pacing to the rate, if any.
async fn publish(
    writer: &mut client::Writer,
    destination: &str,
    plan: &Plan,
    subs: &[Arc<Subscriber>],
    sent: &AtomicU64,
    deadline: Instant,
    epoch: Instant,
) -> Result<(), String> {
    let slowest = || {
        subs.iter()
            .map(|s| s.received.load(Ordering::Relaxed))
            .min()
            .unwrap_or(u64::MAX)
    };
    let interval = plan.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let start = Instant::now();
    let mut slowest_seen = 0;
    let mut seq = 0u64;
    let mut unflushed = 0u32;
    while seq < plan.max_messages && Instant::now() < deadline {
        if seq.saturating_sub(slowest_seen) >= plan.window {
            slowest_seen = slowest();
            while seq.saturating_sub(slowest_seen) >= plan.window {
                if unflushed > 0 {
                    writer.flush().await?;
                    unflushed = 0;
                }
                if Instant::now() >= deadline {
                    sent.store(seq, Ordering::Relaxed);
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                slowest_seen = slowest();
            }
        }
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(seq as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
        }
        let frame = client::send(destination, body(seq, nanos_since(epoch), plan.body_size));
        writer.feed(&frame).await?;
        seq += 1;
        unflushed += 1;
        if interval.is_some() || unflushed >= 16 {
            writer.flush().await?;
            unflushed = 0;
        }
        sent.store(seq, Ordering::Relaxed);
    }
    writer.flush().await?;
    sent.store(seq, Ordering::Relaxed);
    Ok(())
}

/// Prints a progress line on stderr every second until `running` turns false.
async fn progress(sent: Vec<Arc<AtomicU64>>, subs: Vec<Arc<Subscriber>>, running: Arc<AtomicBool>) {
    let start = Instant::now();
    let mut last = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        let s: u64 = sent.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let d: u64 = subs
            .iter()
            .map(|c| c.received.load(Ordering::Relaxed))
            .sum();
        eprintln!(
            "[{:>4.0}s] sent {s} ({}/s)  delivered {d} ({}/s)",
            start.elapsed().as_secs_f64(),
            s - last.0,
            d - last.1
        );
        last = (s, d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip() {
        for (seq, t, size) in [(0, 0, 128), (u64::MAX, 12_345, 128), (7, 9, 10)] {
            let b = body(seq, t, size);
            assert_eq!(b.len(), size.max(34));
            assert_eq!(parse_body(&b), Some((seq, t)));
        }
        assert_eq!(parse_body(b"ready"), None);
        assert_eq!(parse_body(b"zzzzzzzzzzzzzzzz 0000000000000000"), None);
    }
}
