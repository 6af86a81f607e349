//! Codec benchmarks: decode and encode of typical frames, and the same inputs decoded by
//! `stomp-parser` (a nom-based STOMP 1.2 parser from crates.io) for comparison.
//!
//! Run with `cargo bench -p stomp-core --bench codec`. Numbers are in `BENCHMARKS.md`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stomp_core::codec::{encode, Decoded, Decoder, Limits};
use stomp_core::{Command, Frame, Version};

/// A SEND of exactly 128 bytes on the wire with 4 headers (content-length included).
fn send_128() -> Frame {
    let mut frame = Frame::new(Command::Send)
        .header("destination", "/app/chat.room.42")
        .header("content-type", "application/json")
        .header("receipt", "r-17");
    frame = sized(frame, 128, "x");
    assert_eq!(frame.headers.len() + 1, 4);
    frame
}

/// `frame` with a body made of `filler` so that it is `size` bytes on the wire.
fn sized(frame: Frame, size: usize, filler: &str) -> Frame {
    (0..size)
        .rev()
        .map(|n| {
            let body: String = filler.chars().cycle().take(n).collect();
            frame.clone().body(body)
        })
        .find(|f| encode_len(f) <= size)
        .filter(|f| encode_len(f) == size)
        .unwrap()
}

/// A MESSAGE of 1 KiB on the wire.
fn message_1k() -> Frame {
    let frame = Frame::new(Command::Message)
        .header("subscription", "sub-0")
        .header("message-id", "e3b0c442-98fc-1c14-9afb-f4c8996fb924-1024")
        .header("destination", "/topic/chat.room.42")
        .header("content-type", "application/json;charset=UTF-8")
        .header("x-user", "alice");
    sized(frame, 1024, r#"{"user":"alice","text":"hello, world"}"#)
}

/// A SEND with a 64 KiB binary body.
fn send_64k() -> Frame {
    let body: Vec<u8> = (0..64 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    Frame::new(Command::Send)
        .header("destination", "/queue/blobs")
        .header("content-type", "application/octet-stream")
        .body(body)
}

fn small_client_frames() -> [Frame; 3] {
    [
        // stomp-parser insists on `transaction` in ACK.
        Frame::new(Command::Ack)
            .header("id", "ack-12345")
            .header("transaction", "tx-1"),
        Frame::new(Command::Subscribe)
            .header("id", "sub-7")
            .header("destination", "/topic/prices.eur")
            .header("ack", "client-individual"),
        Frame::new(Command::Send)
            .header("destination", "/app/echo")
            .header("x-trace", "a\\b:c")
            .body("ping"),
    ]
}

fn encode_len(frame: &Frame) -> usize {
    let mut buf = BytesMut::new();
    encode(frame, Version::V1_2, &mut buf);
    buf.len()
}

fn wire(frame: &Frame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(frame, Version::V1_2, &mut buf);
    buf.to_vec()
}

/// 1,000 client frames (small SENDs, 1 KiB SENDs, ACKs, SUBSCRIBEs, escaped headers) with a
/// heart-beat after every tenth. Returns the whole stream and its frames one by one.
fn stream() -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut big = message_1k();
    big.command = Command::Send;
    let mut kinds = vec![send_128(), big];
    kinds.extend(small_client_frames());
    for kind in &kinds {
        let bytes = wire(kind);
        if let Err(e) = stomp_parser::client::ClientFrame::try_from(bytes.clone()) {
            panic!(
                "stomp-parser rejects {:?}: {e:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    let mut all = Vec::new();
    let mut frames = Vec::new();
    for i in 0..1000 {
        let bytes = wire(&kinds[i % kinds.len()]);
        all.extend_from_slice(&bytes);
        frames.push(bytes);
        if i % 10 == 9 {
            all.extend_from_slice(b"\n");
        }
    }
    (all, frames)
}

fn limits() -> Limits {
    Limits::default()
        .with_max_frame_size(1 << 20)
        .with_max_body(1 << 20)
}

/// Decodes one complete frame held in `input`.
fn decode_one(input: &[u8]) -> Frame {
    let mut decoder = Decoder::new(limits());
    let mut buf = BytesMut::from(input);
    match decoder.decode(&mut buf) {
        Ok(Some(Decoded::Frame(frame))) => frame,
        other => panic!("not a frame: {other:?}"),
    }
}

/// Decodes a stream fed in `chunk`-byte pieces; returns the number of frames.
fn decode_stream(input: &[u8], chunk: usize) -> usize {
    let mut decoder = Decoder::new(limits());
    let mut buf = BytesMut::with_capacity(chunk * 2);
    let mut frames = 0;
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(item) = decoder.decode(&mut buf).unwrap() {
            if let Decoded::Frame(frame) = item {
                black_box(&frame);
                frames += 1;
            }
        }
    }
    frames
}

fn parse_client(input: &[u8]) -> stomp_parser::client::ClientFrame {
    stomp_parser::client::ClientFrame::try_from(input.to_vec()).unwrap()
}

fn parse_server(input: &[u8]) -> stomp_parser::server::ServerFrame {
    stomp_parser::server::ServerFrame::try_from(input.to_vec()).unwrap()
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn bench_decode(c: &mut Criterion) {
    let cases: [(&str, Frame, bool); 3] = [
        ("send_128b", send_128(), true),
        ("message_1k", message_1k(), false),
        ("send_64k", send_64k(), true),
    ];
    let mut group = c.benchmark_group("decode");
    for (name, frame, client) in cases {
        let input = wire(&frame);
        // Both parsers must actually succeed on the input.
        assert_eq!(decode_one(&input).body, frame.body);
        if client {
            parse_client(&input);
        } else {
            parse_server(&input);
        }
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("stomp-core", name), &input, |b, input| {
            b.iter(|| decode_one(black_box(input)))
        });
        group.bench_with_input(
            BenchmarkId::new("stomp-parser", name),
            &input,
            |b, input| {
                if client {
                    b.iter(|| parse_client(black_box(input)))
                } else {
                    b.iter(|| parse_server(black_box(input)))
                }
            },
        );
    }
    let (all, frames) = stream();
    assert_eq!(decode_stream(&all, 4096), 1000);
    group.throughput(Throughput::Bytes(all.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("stomp-core", "stream_1000_4k_chunks"),
        &all,
        |b, all| b.iter(|| decode_stream(black_box(all), 4096)),
    );
    // stomp-parser cannot find frame boundaries itself: it gets the frames already split.
    group.bench_with_input(
        BenchmarkId::new("stomp-parser", "stream_1000_presplit"),
        &frames,
        |b, frames| {
            b.iter(|| {
                for frame in frames {
                    black_box(parse_client(frame));
                }
            })
        },
    );
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let (_, frames) = stream();
    let stream_frames: Vec<Frame> = frames.iter().map(|f| decode_one(f)).collect();
    let mut group = c.benchmark_group("encode");
    for (name, frame) in [
        ("send_128b", send_128()),
        ("message_1k", message_1k()),
        ("send_64k", send_64k()),
    ] {
        let mut buf = BytesMut::with_capacity(128 * 1024);
        group.throughput(Throughput::Bytes(encode_len(&frame) as u64));
        group.bench_with_input(BenchmarkId::new("stomp-core", name), &frame, |b, frame| {
            b.iter(|| {
                buf.clear();
                encode(black_box(frame), Version::V1_2, &mut buf);
                buf.len()
            })
        });
    }
    let total: usize = frames.iter().map(Vec::len).sum::<usize>();
    let mut buf = BytesMut::with_capacity(total + 1024);
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_with_input(
        BenchmarkId::new("stomp-core", "stream_1000"),
        &stream_frames,
        |b, frames| {
            b.iter(|| {
                buf.clear();
                for frame in frames {
                    encode(black_box(frame), Version::V1_2, &mut buf);
                }
                buf.len()
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_decode, bench_encode
}
criterion_main!(benches);
