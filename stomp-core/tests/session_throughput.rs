//! Rough throughput of the session path (decode → session → SimpleBroker → outbound), run by
//! hand: `cargo test -p stomp-core --release --test session_throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::outbound::OutboundConfig;

#[tokio::test]
#[ignore = "measurement, run by hand in release mode"]
async fn session_throughput() {
    const N: usize = 200_000;
    const SUBSCRIBERS: usize = 10;
    let engine = Engine::builder()
        .outbound(OutboundConfig {
            max_buffered_bytes: usize::MAX / 2,
            max_buffered_frames: N + 16,
            ..OutboundConfig::default()
        })
        .build();
    let connect = b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0";
    let mut subs = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let (mut s, rx) = engine.open_session(TransportInfo::default());
        s.receive(connect).await.unwrap();
        s.receive(b"SUBSCRIBE\ndestination:/topic/bench\nid:0\n\n\0")
            .await
            .unwrap();
        subs.push((s, rx));
    }
    let (mut producer, _prx) = engine.open_session(TransportInfo::default());
    producer.receive(connect).await.unwrap();
    let frame = b"SEND\ndestination:/topic/bench\ncontent-type:text/plain\n\n0123456789abcdef0123456789abcdef\0";
    let mut batch = Vec::new();
    for _ in 0..100 {
        batch.extend_from_slice(frame);
    }
    let start = Instant::now();
    for _ in 0..N / 100 {
        producer.receive(&batch).await.unwrap();
    }
    let elapsed = start.elapsed();
    let template = engine.template();
    let t2 = Instant::now();
    for _ in 0..N / 10 {
        template
            .send("/topic/other", "0123456789abcdef0123456789abcdef")
            .await
            .unwrap();
    }
    let frame0 = b"SEND\ndestination:/topic/none\ncontent-type:text/plain\n\n0123456789abcdef0123456789abcdef\0";
    let batch0: Vec<u8> = frame0
        .iter()
        .copied()
        .cycle()
        .take(frame0.len() * 100)
        .collect();
    let t3 = Instant::now();
    for _ in 0..N / 100 {
        producer.receive(&batch0).await.unwrap();
    }
    println!(
        "session SENDs to a topic without subscribers: {:.0}/s",
        N as f64 / t3.elapsed().as_secs_f64()
    );
    println!(
        "template sends to a topic without subscribers: {:.0}/s",
        (N / 10) as f64 / t2.elapsed().as_secs_f64()
    );
    let mut delivered = 0;
    for (_, rx) in &mut subs {
        while rx.try_next().is_some() {
            delivered += 1;
        }
    }
    assert_eq!(
        delivered,
        N * SUBSCRIBERS + SUBSCRIBERS,
        "plus one CONNECTED each"
    );
    println!(
        "{N} SENDs ({} B each, 100 per receive) fanned out to {SUBSCRIBERS} sessions in {elapsed:?}: \
         {:.0} SEND/s, {:.0} MESSAGE/s",
        frame.len(),
        N as f64 / elapsed.as_secs_f64(),
        (N * SUBSCRIBERS) as f64 / elapsed.as_secs_f64()
    );
}
