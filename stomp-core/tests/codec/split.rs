//! Split input: a stream decodes the same whole, split at every offset, and in 1-byte chunks.

use crate::support::{complete, decode_bytewise, decode_chunks, decode_whole, frame, HB};
use bytes::BytesMut;
use stomp_core::codec::{Decoded, Decoder, Limits};
use stomp_core::{Command, Frame, Version};

/// Heart-beats, LF and CRLF, content-length bodies holding NUL, NUL-terminated bodies,
/// escapes, unescaped CONNECT headers, repeated headers and UTF-8.
const STREAM: &[u8] = b"\n\
CONNECT\r\naccept-version:1.2\r\nhost:a\\b\r\nheart-beat:0,0\r\n\r\n\0\
\r\n\
SEND\ndestination:/queue/a\ncontent-type:application/octet-stream\ncontent-length:7\n\n\0a\0\nb\0\r\0\
\n\n\
MESSAGE\r\nsubscription:s\\c1\r\nmessage-id:m\\\\1\r\ndestination:/topic/x\\ny\r\nk:a\\rb\r\nk:dup\r\n\r\nhello\0\
ERROR\nmessage:bad\n\nsome detail\0\
\r\n\
RECEIPT\nreceipt-id:\xc3\xa9t\xc3\xa9\n\n\0";

fn expected() -> Vec<Decoded> {
    vec![
        HB,
        frame(
            Frame::new(Command::Connect)
                .header("accept-version", "1.2")
                .header("host", "a\\b")
                .header("heart-beat", "0,0"),
        ),
        HB,
        frame(
            Frame::new(Command::Send)
                .header("destination", "/queue/a")
                .header("content-type", "application/octet-stream")
                .header("content-length", "7")
                .body(&b"\0a\0\nb\0\r"[..]),
        ),
        HB,
        HB,
        frame(
            Frame::new(Command::Message)
                .header("subscription", "s:1")
                .header("message-id", "m\\1")
                .header("destination", "/topic/x\ny")
                .header("k", "a\rb")
                .header("k", "dup")
                .body("hello"),
        ),
        frame(
            Frame::new(Command::Error)
                .header("message", "bad")
                .body("some detail"),
        ),
        HB,
        frame(Frame::new(Command::Receipt).header("receipt-id", "été")),
    ]
}

#[test]
fn the_stream_decodes_whole() {
    assert_eq!(
        decode_whole(Version::V1_2, Limits::default(), STREAM),
        complete(expected())
    );
}

#[test]
fn the_stream_decodes_the_same_split_at_every_offset() {
    for at in 0..=STREAM.len() {
        let (a, b) = STREAM.split_at(at);
        assert_eq!(
            decode_chunks(Version::V1_2, Limits::default(), [a, b]),
            complete(expected()),
            "split at {at}"
        );
    }
}

#[test]
fn the_stream_decodes_the_same_split_at_every_pair_of_offsets() {
    for i in (0..=STREAM.len()).step_by(3) {
        for j in i..=STREAM.len() {
            let chunks = [&STREAM[..i], &STREAM[i..j], &STREAM[j..]];
            assert_eq!(
                decode_chunks(Version::V1_2, Limits::default(), chunks),
                complete(expected()),
                "split at {i} and {j}"
            );
        }
    }
}

#[test]
fn the_stream_decodes_the_same_in_one_byte_chunks() {
    assert_eq!(
        decode_bytewise(Version::V1_2, Limits::default(), STREAM),
        complete(expected())
    );
}

#[test]
fn every_strict_prefix_of_a_frame_needs_more_bytes_and_consumes_nothing() {
    let frame = b"SEND\r\ndestination:/a\r\ncontent-length:3\r\n\r\na\0b\0";
    for end in 0..frame.len() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&frame[..end]);
        assert_eq!(decoder.decode(&mut buf), Ok(None), "prefix of {end} bytes");
        assert_eq!(&buf[..], &frame[..end], "prefix of {end} bytes");
    }
}

#[test]
fn each_decode_consumes_exactly_its_item() {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::from(STREAM);
    let mut lengths = Vec::new();
    let mut before = buf.len();
    while let Ok(Some(_)) = decoder.decode(&mut buf) {
        lengths.push(before - buf.len());
        before = buf.len();
    }
    assert!(buf.is_empty());
    // The heart-beats are 1 byte (LF) or 2 bytes (CRLF).
    assert_eq!(lengths[0], 1);
    assert_eq!(lengths[2], 2);
    assert_eq!(lengths[4], 1);
    assert_eq!(lengths.iter().sum::<usize>(), STREAM.len());
}
