//! Every `DecodeError`: when it is raised (limits as soon as the bytes break them) and the
//! ERROR frame that answers it.

use crate::support::{decode_bytewise, decode_whole, decoder};
use bytes::BytesMut;
use stomp_core::codec::{DecodeError, Decoded, Limits};
use stomp_core::{Command, Version};

fn small() -> Limits {
    Limits::default()
        .with_max_frame_size(128)
        .with_max_headers(3)
        .with_max_header_line(24)
        .with_max_body(32)
}

#[test]
fn every_error_variant_is_raised_by_its_input() {
    let long_line = format!("SEND\nk:{}\n\n\0", "v".repeat(30));
    let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        (
            "frame too large",
            [
                &b"SEND\ncontent-length:30\nk:0123456789\n\n"[..],
                &[b'x'; 30],
                b"\0",
            ]
            .concat(),
            DecodeError::FrameTooLarge { limit: 64 },
        ),
        (
            "too many headers",
            b"SEND\na:1\nb:2\nc:3\nd:4\n\n\0".to_vec(),
            DecodeError::TooManyHeaders { limit: 3 },
        ),
        (
            "header line too long",
            long_line.into_bytes(),
            DecodeError::HeaderLineTooLong { limit: 24 },
        ),
        (
            "body too large (content-length)",
            b"SEND\ncontent-length:33\n\n".to_vec(),
            DecodeError::BodyTooLarge { limit: 32 },
        ),
        (
            "body too large (NUL-terminated)",
            [&b"SEND\n\n"[..], &[b'x'; 33]].concat(),
            DecodeError::BodyTooLarge { limit: 32 },
        ),
        (
            "unknown command",
            b"HELLO\n\n\0".to_vec(),
            DecodeError::UnknownCommand,
        ),
        (
            "malformed header",
            b"SEND\nk\n\n\0".to_vec(),
            DecodeError::MalformedHeader,
        ),
        (
            "invalid escape",
            b"SEND\nk:\\x\n\n\0".to_vec(),
            DecodeError::InvalidEscape,
        ),
        (
            "invalid UTF-8",
            b"SEND\nk:\xc0\xaf\n\n\0".to_vec(),
            DecodeError::InvalidUtf8,
        ),
        (
            "invalid content-length",
            b"SEND\ncontent-length:1.5\n\n\0".to_vec(),
            DecodeError::InvalidContentLength,
        ),
        (
            "missing NUL",
            b"SEND\ncontent-length:2\n\nabc".to_vec(),
            DecodeError::MissingNul,
        ),
    ];
    for (what, input, expected) in cases {
        let small = || small().with_max_frame_size(64);
        let whole = decode_whole(Version::V1_2, small(), &input);
        assert_eq!(whole.error, Some(expected), "{what}: {whole:?}");
        assert!(whole.items.is_empty(), "{what}");
        let bytewise = decode_bytewise(Version::V1_2, small(), &input);
        assert_eq!(bytewise.error, Some(expected), "{what} (1-byte chunks)");
    }
}

#[test]
fn every_error_answers_with_an_error_frame_with_message_and_detail() {
    let cases = [
        (
            DecodeError::FrameTooLarge { limit: 65536 },
            "frame larger than 65536 bytes",
            "65536",
        ),
        (
            DecodeError::TooManyHeaders { limit: 64 },
            "more than 64 headers",
            "64 header lines",
        ),
        (
            DecodeError::HeaderLineTooLong { limit: 8192 },
            "header line longer than 8192 bytes",
            "8192 bytes",
        ),
        (
            DecodeError::BodyTooLarge { limit: 10 },
            "body larger than 10 bytes",
            "10 bytes",
        ),
        (
            DecodeError::UnknownCommand,
            "unknown command",
            "STOMP command",
        ),
        (
            DecodeError::MalformedHeader,
            "malformed header line",
            "name:value",
        ),
        (
            DecodeError::InvalidEscape,
            "invalid escape sequence in a header",
            "backslash",
        ),
        (
            DecodeError::InvalidUtf8,
            "headers are not valid UTF-8",
            "UTF-8",
        ),
        (
            DecodeError::InvalidContentLength,
            "invalid content-length",
            "decimal",
        ),
        (DecodeError::MissingNul, "missing NUL after the body", "NUL"),
    ];
    for (error, message, in_detail) in cases {
        let frame = error.to_error_frame();
        assert_eq!(frame.command, Command::Error);
        assert_eq!(frame.headers.message(), Some(message));
        assert_eq!(frame.headers.content_type(), Some("text/plain"));
        let detail = std::str::from_utf8(&frame.body).unwrap_or_default();
        assert!(detail.contains(in_detail), "{error:?}: {detail:?}");
    }
}

/// Feeds `input` one byte at a time and returns how many bytes had arrived when the decoder
/// failed, with the error.
fn fails_after(limits: Limits, input: &[u8]) -> Option<(usize, DecodeError)> {
    let mut decoder = decoder(Version::V1_2, limits);
    let mut buf = BytesMut::new();
    for (n, byte) in input.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Some((n + 1, e)),
            }
        }
    }
    None
}

#[test]
fn limits_fail_as_soon_as_the_bytes_that_break_them_arrive() {
    // A content-length above max_body fails at the end of its header line, before any body.
    let head = b"SEND\ncontent-length:33\n";
    let input = [&head[..], &b"\n"[..], &[b'x'; 40], &b"\0"[..]].concat();
    assert_eq!(
        fails_after(small(), &input),
        Some((head.len(), DecodeError::BodyTooLarge { limit: 32 }))
    );

    // Without content-length, once the buffered body passes max_body.
    let head = b"SEND\n\n";
    let input = [&head[..], &[b'x'; 100]].concat();
    assert_eq!(
        fails_after(small(), &input),
        Some((head.len() + 33, DecodeError::BodyTooLarge { limit: 32 }))
    );

    // A header line fails once it is longer than the limit, before its EOL
    // (one extra byte is allowed for a CR that may belong to the EOL).
    let input = [&b"SEND\nk:"[..], &[b'v'; 100]].concat();
    assert_eq!(
        fails_after(small(), &input),
        Some((5 + 24 + 2, DecodeError::HeaderLineTooLong { limit: 24 }))
    );

    // A header section that never ends fails once the frame cannot fit any more.
    let input = b"SEND\n"
        .iter()
        .copied()
        .chain(b"k:v\n".iter().copied().cycle().take(400))
        .collect::<Vec<_>>();
    let limits = small().with_max_headers(1000);
    assert_eq!(
        fails_after(limits, &input),
        Some((128, DecodeError::FrameTooLarge { limit: 128 }))
    );

    // A content-length frame that cannot fit fails when its header section ends.
    let head = b"SEND\ncontent-length:30\nk:0123456789012345678901\nk:0123456789012345678901\nk:0123456789012345678901\n\n";
    let limits = small().with_max_frame_size(100).with_max_headers(10);
    assert_eq!(
        fails_after(limits, &[&head[..], &[b'x'; 30], b"\0"].concat()),
        Some((head.len(), DecodeError::FrameTooLarge { limit: 100 }))
    );

    // A first line that cannot be a command fails before its EOL.
    assert_eq!(
        fails_after(small(), b"THISISNOTACOMMAND\n"),
        Some((13, DecodeError::UnknownCommand))
    );
}

#[test]
fn frames_exactly_at_the_limits_are_accepted() {
    let body = [b'x'; 32];
    let line = format!("k:{}", "v".repeat(22));
    let input = [
        b"SEND\n",
        line.as_bytes(),
        b"\r\na:1\nb:2\n\n",
        &body,
        b"\0",
    ]
    .concat();
    let limits = small().with_max_frame_size(input.len());
    for outcome in [
        decode_whole(Version::V1_2, limits, &input),
        decode_bytewise(Version::V1_2, limits, &input),
    ] {
        assert_eq!(outcome.error, None);
        let [Decoded::Frame(f)] = &outcome.items[..] else {
            panic!("{outcome:?}");
        };
        assert_eq!(&f.body[..], &body);
        assert_eq!(f.headers.len(), 3);
    }
    let limits = small().with_max_frame_size(input.len() - 1);
    assert_eq!(
        decode_whole(Version::V1_2, limits, &input).error,
        Some(DecodeError::FrameTooLarge {
            limit: input.len() - 1
        })
    );
}

#[test]
fn the_decoder_can_be_reused_after_an_error() {
    let mut decoder = decoder(Version::V1_2, small());
    let mut buf = BytesMut::from(&b"BAD\n\n\0"[..]);
    assert_eq!(decoder.decode(&mut buf), Err(DecodeError::UnknownCommand));
    let mut buf = BytesMut::from(&b"ACK\nid:1\n\n\0"[..]);
    assert!(matches!(
        decoder.decode(&mut buf),
        Ok(Some(Decoded::Frame(_)))
    ));
}
