//! SimpleBroker benchmarks: publish fan-out (cost per delivery), subscription churn, and the
//! worst-case pattern match of issue 14 (stacked `**` against a 6 KB destination).
//!
//! Run: `cargo bench -p stomp-core --bench broker`.

// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stomp_core::broker::{
    AckMode, Message, SimpleBroker, SimpleBrokerConfig, Subscriber, Subscription,
};
use stomp_core::destination::{PatternTrie, Separator};
use stomp_core::identity::SessionId;
use stomp_core::outbound::{channel, OutboundConfig, OutboundReceiver, SlowConsumerPolicy};
use stomp_core::{Headers, Version};

/// Publishes timed per batch; receivers are drained between batches (untimed).
const BATCH: u64 = 16;

fn subscriber(session: String) -> (Subscriber, OutboundReceiver) {
    let (tx, rx) = channel(OutboundConfig {
        max_buffered_bytes: 64 * 1024 * 1024,
        max_buffered_frames: BATCH as usize * 2,
        policy: SlowConsumerPolicy::Close,
    });
    let subscriber = Subscriber {
        session: SessionId::from(session),
        version: Version::V1_2,
        outbound: tx,
    };
    (subscriber, rx)
}

fn subscription(
    subscriber: &Subscriber,
    id: &str,
    destination: &str,
    ack: AckMode,
) -> Subscription {
    Subscription {
        subscriber: subscriber.clone(),
        id: id.into(),
        destination: destination.into(),
        ack,
        headers: Headers::new(),
    }
}

fn message(destination: &str) -> Message {
    Message {
        destination: destination.into(),
        headers: [
            ("destination", destination),
            ("content-type", "application/json"),
            ("x-trace", "3f2a9c"),
        ]
        .into_iter()
        .collect(),
        body: Bytes::from_static(br#"{"user":"alice","text":"hello, everyone in the room"}"#),
    }
}

fn drain(receivers: &mut [OutboundReceiver]) {
    for rx in receivers {
        while rx.try_next().is_some() {}
    }
}

/// Times `iters` publishes of `destination`, draining every `BATCH` publishes.
fn timed_publishes(
    broker: &SimpleBroker,
    receivers: &mut [OutboundReceiver],
    destination: &str,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        let messages: Vec<Message> = (0..batch).map(|_| message(destination)).collect();
        let start = Instant::now();
        for m in messages {
            black_box(broker.publish_now(m)).ok();
        }
        total += start.elapsed();
        drain(receivers);
        left -= batch;
    }
    total
}

fn publish_topic(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_topic");
    for n in [1usize, 100, 10_000] {
        for ack in [AckMode::Auto, AckMode::Client] {
            let broker = SimpleBroker::default();
            let mut receivers = Vec::with_capacity(n);
            for i in 0..n {
                let (s, rx) = subscriber(format!("s{i}"));
                broker
                    .subscribe_now(subscription(&s, "sub-0", "/topic/room", ack))
                    .expect("subscribe");
                receivers.push(rx);
            }
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(format!("exact/{ack}"), n), &n, |b, _| {
                b.iter_custom(|iters| {
                    timed_publishes(&broker, &mut receivers, "/topic/room", iters)
                })
            });
            if ack == AckMode::Client {
                // Keep pending deliveries from piling up across runs.
                for i in 0..n {
                    broker.close_session_now(&SessionId::from(format!("s{i}")));
                }
            }
        }
    }
    group.finish();
}

fn publish_pattern(c: &mut Criterion) {
    // 100 subscribers of `/topic/room/*` among 10,000 other pattern subscriptions that do
    // not match: a trie walk, not a scan of every pattern.
    let mut group = c.benchmark_group("publish_pattern");
    let broker = SimpleBroker::default();
    let mut receivers = Vec::new();
    for i in 0..10_000 {
        let (s, rx) = subscriber(format!("other{i}"));
        broker
            .subscribe_now(subscription(
                &s,
                "p",
                &format!("/topic/other{i}/*"),
                AckMode::Auto,
            ))
            .expect("subscribe");
        receivers.push(rx);
    }
    for i in 0..100 {
        let (s, rx) = subscriber(format!("s{i}"));
        broker
            .subscribe_now(subscription(&s, "p", "/topic/room/*", AckMode::Auto))
            .expect("subscribe");
        receivers.push(rx);
    }
    group.throughput(Throughput::Elements(100));
    group.bench_function("room_star/100_of_10100", |b| {
        b.iter_custom(|iters| timed_publishes(&broker, &mut receivers, "/topic/room/42", iters))
    });
    group.finish();
}

/// Patterns that all match `/topic/x` followed by empty segments, with two `**` each (the
/// most a pattern may hold): the shape that made a backtracking match quadratic.
const STACKED: [&str; 8] = [
    "/topic/x/**/**",
    "/topic/*/**/**",
    "/topic/**/**",
    "/topic/**/x/**",
    "/topic/**/*/**",
    "/topic/x/**/*/**",
    "/topic/*/**/*/**",
    "/topic/x/*/**/**",
];

/// The attack's patterns: the 8 stacked ones, then (up to `n`) ones that share their `**`
/// prefixes without matching, so they stay live states all along the destination.
fn attack_patterns(n: usize) -> Vec<String> {
    let mut patterns: Vec<String> = STACKED.iter().map(|p| (*p).to_owned()).collect();
    for i in 0..n.saturating_sub(STACKED.len()) {
        patterns.push(match i % 2 {
            0 => format!("/topic/x/**/**/n{i}"),
            _ => format!("/topic/*/**/n{i}/**"),
        });
    }
    patterns
}

/// Issue 14's worst case: 8 (and 1,024) subscriptions like `/topic/x/**/**` and a publish
/// to `/topic/x` followed by 6 KB of `/`; the match alone (trie) and the whole publish
/// (broker, 8 deliveries). The engine refuses such destinations by default (1,024 bytes,
/// 32 segments); the broker alone does not.
fn pattern_attack(c: &mut Criterion) {
    let mut group = c.benchmark_group("pattern_attack");
    let destination = format!("/topic/x{}", "/".repeat(6 * 1024));
    for n in [8usize, 1024] {
        let mut trie = PatternTrie::new(Separator::Slash);
        for p in attack_patterns(n) {
            *trie.entry(&p).expect("valid pattern") = 1u32;
        }
        group.bench_function(format!("trie_match_6kb/{n}_patterns"), |b| {
            b.iter(|| {
                let mut matched = 0u32;
                trie.for_each_match(black_box(&destination), |v| matched += v);
                assert_eq!(matched, 8);
                matched
            })
        });

        // One session per matching pattern (each receives every publish), one more for the
        // patterns that never match.
        let broker = SimpleBroker::default();
        let mut receivers = Vec::new();
        let (idle, idle_rx) = subscriber("idle".into());
        receivers.push(idle_rx);
        for (i, p) in attack_patterns(n).iter().enumerate() {
            let s = if i < STACKED.len() {
                let (s, rx) = subscriber(format!("attacker{i}"));
                receivers.push(rx);
                s
            } else {
                idle.clone()
            };
            broker
                .subscribe_now(subscription(&s, &format!("p{i}"), p, AckMode::Auto))
                .expect("subscribe");
        }
        group.bench_function(format!("publish_6kb/{n}_subs"), |b| {
            b.iter_custom(|iters| timed_publishes(&broker, &mut receivers, &destination, iters))
        });
    }
    group.finish();
}

fn publish_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_queue");
    for ack in [AckMode::Auto, AckMode::ClientIndividual] {
        // Nothing is acked: no limit may turn publishes into refusals.
        let broker = SimpleBroker::new(
            SimpleBrokerConfig::new()
                .max_unacked(usize::MAX)
                .default_prefetch(usize::MAX)
                .max_queue_depth(usize::MAX)
                .max_queued_bytes(usize::MAX),
        );
        let mut receivers = Vec::new();
        for i in 0..100 {
            let (s, rx) = subscriber(format!("s{i}"));
            broker
                .subscribe_now(subscription(&s, "q", "/queue/work", ack))
                .expect("subscribe");
            receivers.push(rx);
        }
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("round_robin_100/{ack}"), |b| {
            b.iter_custom(|iters| timed_publishes(&broker, &mut receivers, "/queue/work", iters))
        });
    }
    group.finish();
}

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("churn_100k");
    let broker = SimpleBroker::default();
    let mut receivers = Vec::new();
    for i in 0..100_000 {
        let (s, rx) = subscriber(format!("s{i}"));
        let destination = if i % 10 == 0 {
            format!("/topic/d{}/*", i % 1000)
        } else {
            format!("/topic/d{}", i % 1000)
        };
        broker
            .subscribe_now(subscription(&s, "sub", &destination, AckMode::Auto))
            .expect("subscribe");
        receivers.push(rx);
    }
    let (me, _rx) = subscriber("me".into());
    let session = me.session.clone();
    group.throughput(Throughput::Elements(1));
    for (name, destination) in [
        ("exact", "/topic/d7"),
        ("pattern", "/topic/d7/*"),
        ("queue", "/queue/q7"),
    ] {
        group.bench_function(format!("subscribe_unsubscribe/{name}"), |b| {
            b.iter(|| {
                broker
                    .subscribe_now(subscription(&me, "mine", destination, AckMode::Auto))
                    .expect("subscribe");
                broker
                    .unsubscribe_now(&session, "mine")
                    .expect("unsubscribe");
            })
        });
    }
    assert_eq!(broker.subscription_count(), 100_000);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = publish_topic, publish_pattern, pattern_attack, publish_queue, churn
}
criterion_main!(benches);
