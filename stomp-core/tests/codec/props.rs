//! Properties: decode(encode(f)) == f for arbitrary frames, versions and chunkings; arbitrary
//! bytes never panic, and decode the same in chunks as whole.

use crate::support::{decode_chunks, decode_whole, without_content_length, Outcome};
use bytes::BytesMut;
use proptest::prelude::*;
use stomp_core::codec::{encode, Decoded, Limits};
use stomp_core::{Command, Frame, Version};

/// Text with plenty of the characters escaping cares about, and arbitrary Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z:\\\\\r\n é✓\0-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// Removes what `version` cannot carry for `command` (the encoder would rewrite it).
fn representable(text: &str, command: Command, version: Version, is_name: bool) -> String {
    let escaped = command.escapes_headers() && version != Version::V1_0;
    text.chars()
        .filter(|c| match (escaped, version) {
            // 1.2 escapes everything that matters.
            (true, Version::V1_2) => true,
            // 1.1 has no escape for CR, and a CR before an EOL belongs to the EOL.
            (true, _) => *c != '\r',
            // Unescaped: no line breaks, and no colon in names.
            (false, _) => !(matches!(c, '\r' | '\n') || is_name && *c == ':'),
        })
        .collect()
}

fn frame_for(version: Version) -> impl Strategy<Value = Frame> {
    (
        prop::sample::select(&Command::ALL[..]),
        prop::collection::vec((text(), text()), 0..6),
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(move |(command, headers, body)| {
            let mut frame = Frame::new(command).body(body);
            for (n, v) in headers {
                let mut n = representable(&n, command, version, true);
                if n.is_empty() {
                    n.push('n');
                }
                frame = frame.header(n, representable(&v, command, version, false));
            }
            frame
        })
}

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(&Version::ALL[..])
}

/// A stream of frames and heart-beats (`None` is a heart-beat: LF or CRLF).
fn stream() -> impl Strategy<Value = (Version, Vec<Option<Frame>>, Vec<bool>)> {
    version().prop_flat_map(|version| {
        (
            Just(version),
            prop::collection::vec(prop::option::weighted(0.8, frame_for(version)), 0..8),
            prop::collection::vec(any::<bool>(), 8),
        )
    })
}

fn encode_stream(version: Version, items: &[Option<Frame>], crlf: &[bool]) -> BytesMut {
    let mut wire = BytesMut::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Some(frame) => encode(frame, version, &mut wire),
            None if crlf[i % crlf.len()] => wire.extend_from_slice(b"\r\n"),
            None => wire.extend_from_slice(b"\n"),
        }
    }
    wire
}

fn normalized(items: &[Decoded]) -> Vec<Option<Frame>> {
    items
        .iter()
        .map(|item| match item {
            Decoded::HeartBeat => None,
            Decoded::Frame(f) => Some(without_content_length(f)),
        })
        .collect()
}

/// Cuts `bytes` at the given fractions of its length.
fn chunks<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for end in at {
        out.push(&bytes[start..end]);
        start = end;
    }
    out.push(&bytes[start..]);
    out
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity((version, items, crlf) in stream()) {
        let wire = encode_stream(version, &items, &crlf);
        let outcome = decode_whole(version, Limits::unlimited(), &wire);
        prop_assert_eq!(outcome.error, None);
        prop_assert!(outcome.rest.is_empty());
        let expected: Vec<_> = items.iter().map(|i| i.as_ref().map(without_content_length)).collect();
        prop_assert_eq!(normalized(&outcome.items), expected);
    }

    #[test]
    fn any_chunking_decodes_like_the_whole_stream(
        (version, items, crlf) in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let wire = encode_stream(version, &items, &crlf);
        let whole = decode_whole(version, Limits::unlimited(), &wire);
        let chunked = decode_chunks(version, Limits::unlimited(), chunks(&wire, &cuts));
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_chunks_agree_with_whole(
        version in version(),
        small in any::<bool>(),
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            // STOMP-ish noise: pieces of frames in random order.
            prop::collection::vec(
                prop::sample::select(vec![
                    &b"SEND"[..], b"MESSAGE", b"CONNECT", b"\n", b"\r\n", b"\r", b":", b"\\",
                    b"\\c", b"\\n", b"\\r", b"\\t", b"\0", b"content-length:", b"3", b"0",
                    b"99999999999", b"k", b"v", b"\xff", b"\xc3", b"\xa9",
                ]),
                0..64,
            )
            .prop_map(|pieces| pieces.concat()),
        ],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let limits = if small {
            Limits::default()
                .with_max_frame_size(64)
                .with_max_headers(3)
                .with_max_header_line(16)
                .with_max_body(24)
        } else {
            Limits::default()
        };
        let whole = decode_whole(version, limits, &bytes);
        let chunked = decode_chunks(version, limits, chunks(&bytes, &cuts));
        agree(&whole, &chunked)?;
    }
}

/// Chunked decoding may find a limit broken earlier (and so report another error), but it
/// fails exactly when whole decoding fails, and agrees on everything decoded before.
fn agree(whole: &Outcome, chunked: &Outcome) -> Result<(), TestCaseError> {
    prop_assert_eq!(whole.error.is_some(), chunked.error.is_some());
    if whole.error.is_none() {
        prop_assert_eq!(whole, chunked);
    } else {
        let n = whole.items.len().min(chunked.items.len());
        prop_assert_eq!(&whole.items[..n], &chunked.items[..n]);
    }
    Ok(())
}
