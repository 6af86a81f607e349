//! The Framing rules of STOMP 1.2, one table per rule (see the checklist in the design notes).

use crate::support::{complete, decode_bytewise, decode_whole, frame, Outcome, HB};
use stomp_core::codec::{DecodeError, Decoded, Limits};
use stomp_core::{Command, Frame, Version};

struct Case {
    what: &'static str,
    version: Version,
    input: &'static [u8],
    expected: Outcome,
}

fn ok(what: &'static str, input: &'static [u8], items: Vec<Decoded>) -> Case {
    Case {
        what,
        version: Version::V1_2,
        input,
        expected: complete(items),
    }
}

fn err(what: &'static str, input: &'static [u8], items: Vec<Decoded>, e: DecodeError) -> Case {
    Case {
        what,
        version: Version::V1_2,
        input,
        expected: Outcome {
            items,
            error: Some(e),
            rest: Vec::new(),
        },
    }
}

/// The input is incomplete: `items` are decoded and `rest` waits for more bytes.
fn pending(
    what: &'static str,
    input: &'static [u8],
    items: Vec<Decoded>,
    rest: &'static [u8],
) -> Case {
    Case {
        what,
        version: Version::V1_2,
        input,
        expected: Outcome {
            items,
            error: None,
            rest: rest.to_vec(),
        },
    }
}

fn v(mut case: Case, version: Version) -> Case {
    case.version = version;
    case
}

/// Runs every case whole and one byte at a time; both must give the expected outcome.
fn run(cases: Vec<Case>) {
    for case in cases {
        let expected = case.expected;
        let whole = decode_whole(case.version, Limits::default(), case.input);
        assert_eq!(whole, expected, "{} ({})", case.what, case.version);
        let bytewise = decode_bytewise(case.version, Limits::default(), case.input);
        assert_eq!(
            bytewise, expected,
            "{} ({}), 1-byte chunks",
            case.what, case.version
        );
    }
}

fn send(headers: &[(&str, &str)], body: &'static [u8]) -> Decoded {
    let mut f = Frame::new(Command::Send);
    for (n, val) in headers {
        f = f.header(*n, *val);
    }
    frame(f.body(body))
}

#[test]
fn a_frame_is_command_headers_blank_line_body_nul_with_lf_or_crlf() {
    run(vec![
        ok(
            "minimal",
            b"DISCONNECT\n\n\0",
            vec![frame(Frame::new(Command::Disconnect))],
        ),
        ok(
            "LF everywhere",
            b"SEND\ndestination:/a\nk:v\n\nbody\0",
            vec![send(&[("destination", "/a"), ("k", "v")], b"body")],
        ),
        ok(
            "CRLF everywhere",
            b"SEND\r\ndestination:/a\r\nk:v\r\n\r\nbody\0",
            vec![send(&[("destination", "/a"), ("k", "v")], b"body")],
        ),
        ok(
            "mixed LF and CRLF",
            b"SEND\r\ndestination:/a\nk:v\r\n\nbody\0",
            vec![send(&[("destination", "/a"), ("k", "v")], b"body")],
        ),
        ok(
            "CR before LF is never part of a value",
            b"SEND\nk:v\r\n\n\0",
            vec![send(&[("k", "v")], b"")],
        ),
        ok(
            "every command",
            b"CONNECT\n\n\0STOMP\n\n\0CONNECTED\n\n\0SEND\n\n\0SUBSCRIBE\n\n\0UNSUBSCRIBE\n\n\0\
              ACK\n\n\0NACK\n\n\0BEGIN\n\n\0COMMIT\n\n\0ABORT\n\n\0DISCONNECT\n\n\0MESSAGE\n\n\0\
              RECEIPT\n\n\0ERROR\n\n\0",
            Command::ALL
                .into_iter()
                .map(|c| frame(Frame::new(c)))
                .collect(),
        ),
        ok(
            "the body is kept byte for byte, CR and LF included",
            b"SEND\n\n\r\n\r\n\xff\xfe\0",
            vec![send(&[], b"\r\n\r\n\xff\xfe")],
        ),
        err(
            "commands are case-sensitive",
            b"send\n\n\0",
            vec![],
            DecodeError::UnknownCommand,
        ),
        err(
            "no spaces around the command",
            b"SEND \n\n\0",
            vec![],
            DecodeError::UnknownCommand,
        ),
        err(
            "a header line needs a colon",
            b"SEND\nnocolon\n\n\0",
            vec![],
            DecodeError::MalformedHeader,
        ),
        err(
            "a header name is not empty",
            b"SEND\n:value\n\n\0",
            vec![],
            DecodeError::MalformedHeader,
        ),
        pending(
            "incomplete frame waits",
            b"SEND\ndestination:/a\n\nbo",
            vec![],
            b"SEND\ndestination:/a\n\nbo",
        ),
    ]);
}

#[test]
fn eols_between_frames_are_heart_beats() {
    run(vec![
        ok("a lone LF", b"\n", vec![HB]),
        ok("a lone CRLF", b"\r\n", vec![HB]),
        ok("several", b"\n\r\n\n", vec![HB, HB, HB]),
        ok(
            "before, between and after frames",
            b"\nACK\nid:1\n\n\0\r\n\nNACK\nid:2\n\n\0\n",
            vec![
                HB,
                frame(Frame::new(Command::Ack).header("id", "1")),
                HB,
                HB,
                frame(Frame::new(Command::Nack).header("id", "2")),
                HB,
            ],
        ),
        pending("a CR alone waits for its LF", b"\n\r", vec![HB], b"\r"),
        err(
            "a CR not followed by LF starts a (bad) command",
            b"\rSEND\n\n\0",
            vec![],
            DecodeError::UnknownCommand,
        ),
    ]);
}

#[test]
fn content_length_delimits_the_body_and_allows_nul() {
    run(vec![
        ok(
            "body with NULs",
            b"SEND\ncontent-length:5\n\na\0b\0c\0",
            vec![send(&[("content-length", "5")], b"a\0b\0c")],
        ),
        ok(
            "zero length",
            b"SEND\ncontent-length:0\n\n\0",
            vec![send(&[("content-length", "0")], b"")],
        ),
        ok(
            "leading zeros",
            b"SEND\ncontent-length:003\n\n\0\0\0\0",
            vec![send(&[("content-length", "003")], b"\0\0\0")],
        ),
        ok(
            "the first content-length wins",
            b"SEND\ncontent-length:2\ncontent-length:9\n\nab\0",
            vec![send(
                &[("content-length", "2"), ("content-length", "9")],
                b"ab",
            )],
        ),
        ok(
            "without it the body ends at the first NUL",
            b"SEND\n\nab\0\nSEND\n\ncd\0",
            vec![send(&[], b"ab"), HB, send(&[], b"cd")],
        ),
        err(
            "the octet after the body must be NUL",
            b"SEND\ncontent-length:1\n\nab\0",
            vec![],
            DecodeError::MissingNul,
        ),
        err(
            "not a number",
            b"SEND\ncontent-length:x\n\n\0",
            vec![],
            DecodeError::InvalidContentLength,
        ),
        err(
            "spaces are not trimmed",
            b"SEND\ncontent-length: 1\n\na\0",
            vec![],
            DecodeError::InvalidContentLength,
        ),
        err(
            "negative",
            b"SEND\ncontent-length:-1\n\n\0",
            vec![],
            DecodeError::InvalidContentLength,
        ),
        err(
            "overflowing",
            b"SEND\ncontent-length:99999999999999999999999\n\n\0",
            vec![],
            DecodeError::InvalidContentLength,
        ),
        pending(
            "a partial content-length body waits",
            b"SEND\ncontent-length:4\n\nab\0",
            vec![],
            b"SEND\ncontent-length:4\n\nab\0",
        ),
    ]);
}

#[test]
fn repeated_headers_keep_every_occurrence_and_the_first_wins() {
    let outcome = decode_whole(
        Version::V1_2,
        Limits::default(),
        b"MESSAGE\nfoo:first\nbar:x\nfoo:second\n\n\0",
    );
    let [Decoded::Frame(f)] = &outcome.items[..] else {
        panic!("{outcome:?}");
    };
    assert_eq!(f.headers.get("foo"), Some("first"));
    assert_eq!(
        f.headers.get_all("foo").collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(
        f.headers.iter().collect::<Vec<_>>(),
        [("foo", "first"), ("bar", "x"), ("foo", "second")]
    );
}

#[test]
fn headers_are_utf8_case_sensitive_and_untrimmed() {
    run(vec![
        ok(
            "spaces are significant",
            b"SEND\n k : v \n\n\0",
            vec![send(&[(" k ", " v ")], b"")],
        ),
        ok(
            "case is kept",
            b"SEND\nDestination:/A\ndestination:/a\n\n\0",
            vec![send(&[("Destination", "/A"), ("destination", "/a")], b"")],
        ),
        ok(
            "UTF-8 names and values",
            "SEND\nclé:välue✓\n\n\0".as_bytes(),
            vec![send(&[("clé", "välue✓")], b"")],
        ),
        ok(
            "empty value",
            b"SEND\nk:\n\n\0",
            vec![send(&[("k", "")], b"")],
        ),
        ok(
            "only the first colon separates (1.0 style value)",
            b"CONNECT\nhost:a:b\n\n\0",
            vec![frame(Frame::new(Command::Connect).header("host", "a:b"))],
        ),
        err(
            "invalid UTF-8 in a value",
            b"SEND\nk:\xff\n\n\0",
            vec![],
            DecodeError::InvalidUtf8,
        ),
        err(
            "invalid UTF-8 in a name",
            b"SEND\n\xc3:v\n\n\0",
            vec![],
            DecodeError::InvalidUtf8,
        ),
    ]);
}

#[test]
fn escaping_depends_on_version_and_command() {
    use Version::{V1_0, V1_1};
    run(vec![
        ok(
            "1.2 escapes",
            b"MESSAGE\na\\cb:\\r\\n\\c\\\\\n\n\0",
            vec![frame(Frame::new(Command::Message).header("a:b", "\r\n:\\"))],
        ),
        v(
            ok(
                "1.1 escapes",
                b"MESSAGE\na\\cb:\\n\\c\\\\\n\n\0",
                vec![frame(Frame::new(Command::Message).header("a:b", "\n:\\"))],
            ),
            V1_1,
        ),
        v(
            err(
                "1.1 has no \\r",
                b"MESSAGE\nk:\\r\n\n\0",
                vec![],
                DecodeError::InvalidEscape,
            ),
            V1_1,
        ),
        v(
            ok(
                "1.0 never unescapes",
                b"MESSAGE\nk:\\n\\t\\\n\n\0",
                vec![frame(Frame::new(Command::Message).header("k", "\\n\\t\\"))],
            ),
            V1_0,
        ),
        ok(
            "CONNECT is never unescaped",
            b"CONNECT\nlogin:a\\b\\n\n\n\0",
            vec![frame(
                Frame::new(Command::Connect).header("login", "a\\b\\n"),
            )],
        ),
        ok(
            "STOMP is never unescaped",
            b"STOMP\npasscode:\\q\n\n\0",
            vec![frame(Frame::new(Command::Stomp).header("passcode", "\\q"))],
        ),
        ok(
            "CONNECTED is never unescaped",
            b"CONNECTED\nserver:x\\y\n\n\0",
            vec![frame(
                Frame::new(Command::Connected).header("server", "x\\y"),
            )],
        ),
        err(
            "an undefined escape is fatal",
            b"SEND\nk:\\t\n\n\0",
            vec![],
            DecodeError::InvalidEscape,
        ),
        err(
            "a trailing backslash is fatal",
            b"SEND\nk:v\\\n\n\0",
            vec![],
            DecodeError::InvalidEscape,
        ),
        err(
            "in names too",
            b"SEND\nk\\x:v\n\n\0",
            vec![],
            DecodeError::InvalidEscape,
        ),
        err(
            "a frame before a bad one is still delivered",
            b"ACK\nid:1\n\n\0SEND\nk:\\t\n\n\0",
            vec![frame(Frame::new(Command::Ack).header("id", "1"))],
            DecodeError::InvalidEscape,
        ),
    ]);
}
