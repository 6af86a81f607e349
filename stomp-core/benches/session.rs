//! The whole inbound path in-process: bytes → decoder → session → SimpleBroker → outbound
//! queues. No sockets; what a transport would add is measured by the load generator.
//!
//! Run: `cargo bench -p stomp-core --bench session`.

// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stomp_core::engine::Session;
use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::outbound::{OutboundConfig, OutboundReceiver};

/// SENDs per `receive` call, as a busy WebSocket message might carry.
const PER_RECEIVE: usize = 100;

const CONNECT: &[u8] = b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0";
const SEND: &[u8] =
    b"SEND\ndestination:/topic/bench\ncontent-type:text/plain\n\n0123456789abcdef0123456789abcdef\0";

struct Bench {
    rt: tokio::runtime::Runtime,
    producer: Session,
    receivers: Vec<OutboundReceiver>,
    // Keep the subscribing sessions and the producer's own queue open.
    _subscribers: Vec<Session>,
    _producer_rx: OutboundReceiver,
}

fn setup(subscribers: usize) -> Bench {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Engine::builder()
        .outbound(OutboundConfig {
            max_buffered_bytes: 256 * 1024 * 1024,
            max_buffered_frames: 1 << 20,
            ..OutboundConfig::default()
        })
        .build();
    let (producer, producer_rx, receivers, subs) = rt.block_on(async {
        let mut receivers = Vec::new();
        let mut subs = Vec::new();
        for _ in 0..subscribers {
            let (mut session, rx) = engine.open_session(TransportInfo::default());
            session.receive(CONNECT).await.expect("connect");
            session
                .receive(b"SUBSCRIBE\ndestination:/topic/bench\nid:0\n\n\0")
                .await
                .expect("subscribe");
            receivers.push(rx);
            subs.push(session);
        }
        let (mut producer, producer_rx) = engine.open_session(TransportInfo::default());
        producer.receive(CONNECT).await.expect("connect");
        (producer, producer_rx, receivers, subs)
    });
    Bench {
        rt,
        producer,
        receivers,
        _subscribers: subs,
        _producer_rx: producer_rx,
    }
}

fn session_send(c: &mut Criterion) {
    let batch: Vec<u8> = SEND.repeat(PER_RECEIVE);
    let mut group = c.benchmark_group("session_send");
    group.measurement_time(Duration::from_secs(3));
    for subscribers in [0usize, 10, 100] {
        let mut bench = setup(subscribers);
        group.throughput(Throughput::Elements(PER_RECEIVE as u64));
        group.bench_with_input(
            BenchmarkId::new(
                "sends_per_receive_100",
                format!("{subscribers}_subscribers"),
            ),
            &subscribers,
            |b, _| {
                b.iter(|| {
                    let Bench {
                        rt,
                        producer,
                        receivers,
                        ..
                    } = &mut bench;
                    rt.block_on(producer.receive(&batch)).expect("receive");
                    for rx in receivers.iter_mut() {
                        while rx.try_next().is_some() {}
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, session_send);
criterion_main!(benches);
