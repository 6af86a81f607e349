//! Cross-instance fan-out over the Redis backplane versus a single instance: throughput
//! (messages/s) and added latency. Needs Redis on 127.0.0.1:6379 (or `REDIS_URL`).
//!
//! `cargo run --release -p stomp-core --features redis --example redis_fanout [messages] [subscribers-per-instance]`
//!
//! Two `BackplaneBroker`s (A and B) in one process, each with its own Redis connections,
//! talking through the real Redis; subscribers are outbound queues drained by tasks, so the
//! numbers are the broker + backplane cost without WebSocket framing.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stomp_core::backplane::redis::{RedisBackplane, RedisConfig};
use stomp_core::backplane::{BackplaneBroker, BackplaneConfig, LinkState};
use stomp_core::broker::{Broker, Message, SimpleBroker, Subscriber, Subscription};
use stomp_core::identity::SessionId;
use stomp_core::outbound::{self, Next, OutboundConfig};
use stomp_core::user::UserDestinations;
use stomp_core::{Headers, Version};

const DEST: &str = "/topic/bench";

async fn instance(url: &str, prefix: &str) -> (BackplaneBroker, RedisBackplane) {
    let transport =
        RedisBackplane::start(RedisConfig::new(url).prefix(prefix).queue_capacity(1 << 16))
            .unwrap();
    let broker = BackplaneBroker::new(
        SimpleBroker::default(),
        UserDestinations::default(),
        transport.clone(),
        BackplaneConfig::default(),
    );
    let mut link = broker.link();
    tokio::time::timeout(
        Duration::from_secs(5),
        link.wait_for(|l| *l == LinkState::Connected),
    )
    .await
    .expect("Redis not reachable")
    .unwrap();
    (broker, transport)
}

/// `n` subscribers on `broker`; the returned counter counts MESSAGE frames they received.
async fn subscribers(broker: &BackplaneBroker, name: &str, n: usize) -> Arc<AtomicU64> {
    let received = Arc::new(AtomicU64::new(0));
    for i in 0..n {
        let (tx, mut rx) = outbound::channel(OutboundConfig {
            max_buffered_bytes: 1 << 30,
            max_buffered_frames: 1 << 20,
            ..OutboundConfig::default()
        });
        broker
            .subscribe(Subscription {
                subscriber: Subscriber {
                    session: SessionId::from(format!("{name}-{i}")),
                    version: Version::V1_2,
                    outbound: tx,
                },
                id: "0".into(),
                destination: DEST.into(),
                ack: Default::default(),
                headers: [("destination", DEST)].into_iter().collect(),
            })
            .await
            .unwrap();
        let received = received.clone();
        tokio::spawn(async move {
            while let Next::Item(_) = rx.next().await {
                received.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    received
}

fn message(body: &Bytes) -> Message {
    Message {
        destination: DEST.into(),
        headers: Headers::new(),
        body: body.clone(),
    }
}

async fn wait_count(counter: &AtomicU64, target: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while counter.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return false;
        }
        tokio::task::yield_now().await;
    }
    true
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let per_instance: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench-{}", std::process::id());
    let body = Bytes::from(vec![b'x'; 128]);

    let (a, _) = instance(&url, &prefix).await;
    let (b, b_redis) = instance(&url, &prefix).await;
    let on_a = subscribers(&a, "a", per_instance).await;
    let on_b = subscribers(&b, "b", per_instance).await;
    let n = per_instance as u64;

    // Throughput: publish `messages` on A as fast as possible.
    let start = Instant::now();
    for _ in 0..messages {
        a.publish(message(&body)).await.unwrap();
    }
    let published = start.elapsed();
    let local_done = wait_count(&on_a, messages * n, Duration::from_secs(60)).await;
    let local = start.elapsed();
    let forwarded = a.stats().forwarded;
    // Done when every forwarded message was delivered on B or dropped at B's bounded
    // inbound queue (what an overloaded instance does).
    let deadline = Instant::now() + Duration::from_secs(60);
    let remote_done = loop {
        let arrived = b.stats().received + b_redis.stats().inbound_dropped;
        if arrived >= forwarded && on_b.load(Ordering::Relaxed) >= b.stats().received * n {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::task::yield_now().await;
    };
    let remote = start.elapsed();
    let rate = |count: u64, d: Duration| count as f64 / d.as_secs_f64();
    println!("messages={messages} body=128B subscribers/instance={per_instance}");
    println!(
        "publish on A: {:.0} msg/s ({published:?})",
        rate(messages, published)
    );
    println!(
        "local fan-out (single instance, A's subscribers): {:.0} msg/s, {:.0} deliveries/s, all delivered: {local_done}",
        rate(messages, local),
        rate(messages * n, local)
    );
    println!(
        "cross-instance (B's subscribers via Redis): {:.0} msg/s, {:.0} deliveries/s; forwarded {forwarded}/{messages} (A's outgoing queue dropped {}), B received {} and dropped {} at its inbound queue; finished: {remote_done}",
        rate(b.stats().received, remote),
        rate(b.stats().received * n, remote),
        a.stats().not_forwarded,
        b.stats().received,
        b_redis.stats().inbound_dropped,
    );

    // Latency: one message at a time, time to reach a subscriber on A and on B.
    let samples = 2000;
    let mut local_lat = Vec::with_capacity(samples);
    let mut remote_lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let base_a = on_a.load(Ordering::Relaxed);
        let base_b = on_b.load(Ordering::Relaxed);
        let t = Instant::now();
        a.publish(message(&body)).await.unwrap();
        wait_count(&on_a, base_a + 1, Duration::from_secs(5)).await;
        local_lat.push(t.elapsed());
        wait_count(&on_b, base_b + 1, Duration::from_secs(5)).await;
        remote_lat.push(t.elapsed());
        // Let the rest of this message's deliveries land before the next sample.
        wait_count(&on_b, base_b + n, Duration::from_secs(5)).await;
    }
    local_lat.sort_unstable();
    remote_lat.sort_unstable();
    println!(
        "latency local (first subscriber on A): p50 {:?} p99 {:?}",
        percentile(&local_lat, 0.5),
        percentile(&local_lat, 0.99)
    );
    println!(
        "latency cross-instance (first subscriber on B): p50 {:?} p99 {:?}",
        percentile(&remote_lat, 0.5),
        percentile(&remote_lat, 0.99)
    );
    a.shutdown().await;
    b.shutdown().await;
}
