//! Encoding frames to bytes, and MESSAGE frames prepared once per publish.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use memchr::memchr;

use crate::frame::{name, Command, Frame, Headers};
use crate::version::Version;

/// Writes `frame` in the wire format of `version` to `dst`.
///
/// Header values (and names) are escaped as `version` and the command require: not at all
/// for STOMP 1.0 or CONNECT/STOMP/CONNECTED; `\n`, `:` and `\` for 1.1; also `\r` for 1.2.
/// Where a value is not escaped, line breaks in it are replaced by spaces so no header can
/// smuggle another one in.
///
/// The encoder owns `content-length`: any given one is dropped, and the true length of the
/// body is written whenever the body is not empty (so bodies may contain NUL octets).
pub fn encode(frame: &Frame, version: Version, dst: &mut BytesMut) {
    let escape = escape_mode(frame.command, version);
    dst.reserve(encoded_len_hint(frame));
    dst.put_slice(frame.command.as_str().as_bytes());
    dst.put_u8(b'\n');
    write_headers(&frame.headers, escape, dst);
    finish(&frame.body, dst);
}

/// Encodes `frame` into a fresh buffer.
pub fn encode_to_bytes(frame: &Frame, version: Version) -> Bytes {
    let mut dst = BytesMut::new();
    encode(frame, version, &mut dst);
    dst.freeze()
}

/// How header text is written for a command in a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EscapeMode {
    /// No escaping; line breaks are replaced by spaces.
    None,
    /// STOMP 1.1: `\n`, `:`, `\`.
    V1_1,
    /// STOMP 1.2: `\r`, `\n`, `:`, `\`.
    V1_2,
}

pub(crate) fn escape_mode(command: Command, version: Version) -> EscapeMode {
    if !command.escapes_headers() {
        return EscapeMode::None;
    }
    match version {
        Version::V1_0 => EscapeMode::None,
        Version::V1_1 => EscapeMode::V1_1,
        Version::V1_2 => EscapeMode::V1_2,
    }
}

fn encoded_len_hint(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum();
    frame.command.as_str().len() + headers + frame.body.len() + 32
}

fn write_headers(headers: &Headers, escape: EscapeMode, dst: &mut BytesMut) {
    for (n, v) in headers.iter() {
        if n == name::CONTENT_LENGTH {
            continue;
        }
        write_text(n, escape, dst);
        dst.put_u8(b':');
        write_text(v, escape, dst);
        dst.put_u8(b'\n');
    }
}

/// Writes `content-length` (for a non-empty body), the blank line, the body and the NUL.
fn finish(body: &[u8], dst: &mut BytesMut) {
    if !body.is_empty() {
        dst.put_slice(name::CONTENT_LENGTH.as_bytes());
        dst.put_u8(b':');
        let mut digits = itoa_buf(body.len());
        dst.put_slice(digits.as_str());
        dst.put_u8(b'\n');
    }
    dst.put_u8(b'\n');
    dst.put_slice(body);
    dst.put_u8(0);
}

/// A small stack buffer holding a decimal number.
struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    fn as_str(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: usize) -> Decimal {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Decimal { buf, start }
}

/// How each byte matters to header text: [`ESCAPED`] if STOMP 1.2 escapes it (`\n`, `\r`,
/// `:`, `\`; what 1.1 escapes and 1.0 replaces are subsets), [`NUL`] for the NUL byte (a
/// frame holding one before its end cannot travel as a text WebSocket message).
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'\n' as usize] = ESCAPED;
    table[b'\r' as usize] = ESCAPED;
    table[b':' as usize] = ESCAPED;
    table[b'\\' as usize] = ESCAPED;
    table[0] = NUL;
    table
};
const ESCAPED: u8 = 1;
const NUL: u8 = 2;

/// The [`CLASS`] bits of every byte of `text`, or-ed (one table load per byte).
fn classify(text: &str) -> u8 {
    text.bytes()
        .fold(0, |found, b| found | CLASS[usize::from(b)])
}

/// Where encoded header text goes: a byte buffer, or a `String` when the frame is kept as
/// checked text.
trait TextSink {
    fn put_str(&mut self, text: &str);
}

impl TextSink for BytesMut {
    fn put_str(&mut self, text: &str) {
        self.put_slice(text.as_bytes());
    }
}

impl TextSink for String {
    fn put_str(&mut self, text: &str) {
        self.push_str(text);
    }
}

fn is_special(escape: EscapeMode, b: u8) -> bool {
    match escape {
        EscapeMode::None => matches!(b, b'\n' | b'\r'),
        EscapeMode::V1_1 => matches!(b, b'\n' | b':' | b'\\'),
        EscapeMode::V1_2 => matches!(b, b'\n' | b'\r' | b':' | b'\\'),
    }
}

/// The length of `text` once [`write_text`] has escaped it.
fn escaped_len(text: &str, escape: EscapeMode) -> usize {
    if escape == EscapeMode::None {
        // Line breaks are replaced one for one.
        return text.len();
    }
    text.len() + text.bytes().filter(|&b| is_special(escape, b)).count()
}

fn write_text<S: TextSink>(text: &str, escape: EscapeMode, dst: &mut S) {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| is_special(escape, b)) {
        dst.put_str(text);
        return;
    }
    let mut from = 0;
    for (at, &b) in bytes.iter().enumerate() {
        if !is_special(escape, b) {
            continue;
        }
        // `b` is ASCII, so `at` and `at + 1` are character boundaries.
        dst.put_str(&text[from..at]);
        dst.put_str(match (escape, b) {
            (EscapeMode::None, _) => " ",
            (_, b'\n') => "\\n",
            (_, b'\r') => "\\r",
            (_, b':') => "\\c",
            (_, _) => "\\\\",
        });
        from = at + 1;
    }
    dst.put_str(&text[from..]);
}

/// The shared part of a prepared MESSAGE in one encoding.
#[derive(Debug, Clone)]
enum Shared {
    /// UTF-8 with no NUL before its final one: a delivery of it can be text.
    Text(ByteString),
    /// Anything else (a binary body).
    Binary(Bytes),
}

impl Shared {
    fn bytes(&self) -> &Bytes {
        match self {
            Shared::Text(text) => text.as_bytes(),
            Shared::Binary(bytes) => bytes,
        }
    }
}

/// A MESSAGE encoded once per publish and stamped per delivery.
///
/// Everything shared by all subscribers (destination, content type, user headers, body) is
/// encoded once per protocol version actually used; a delivery then writes only its own
/// `subscription`, `message-id` and optional `ack` headers in front of the shared part.
/// STOMP does not order headers, so this is one valid encoding of the whole frame.
///
/// Whether the whole message is UTF-8 with no NUL before its end is checked once, here:
/// [`text_delivery`](Self::text_delivery) then stamps deliveries as `String`s that a
/// WebSocket writer sends as text without checking them again.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    /// Shared part, escaped for STOMP 1.2.
    v1_2: Shared,
    /// Shared part, escaped for STOMP 1.1 (`None` when identical to 1.2).
    v1_1: Option<Shared>,
    /// Shared part, unescaped for STOMP 1.0 (`None` when identical to 1.2).
    v1_0: Option<Shared>,
}

/// Headers a delivery writes itself, and `content-length`, which is recomputed.
fn per_delivery(name: &str) -> bool {
    matches!(
        name,
        name::SUBSCRIPTION | name::MESSAGE_ID | name::ACK | name::CONTENT_LENGTH
    )
}

impl PreparedMessage {
    /// Prepares the shared part of a MESSAGE from the headers a publisher gave (the
    /// `destination`, `content-type` and user headers) and the body.
    ///
    /// Headers a delivery sets itself (`subscription`, `message-id`, `ack`) and
    /// `content-length` are dropped from `headers`; `content-length` is recomputed.
    pub fn new(headers: &Headers, body: &Bytes) -> Self {
        let class = headers
            .iter()
            .filter(|(n, _)| !per_delivery(n))
            .fold(0, |found, (n, v)| found | classify(n) | classify(v));
        // The usual case: no header holds a byte any version escapes, so all three
        // encodings are the same bytes, written without a per-byte escape pass.
        let plain = class & ESCAPED == 0;
        // Checked once per publish: a body that is text without a NUL makes every
        // delivery text.
        let text_body = if class & NUL == 0 && memchr(0, body).is_none() {
            std::str::from_utf8(body).ok()
        } else {
            None
        };
        let needs = |mode: EscapeMode| {
            headers.iter().any(|(n, v)| {
                let t = |s: &str| match mode {
                    EscapeMode::V1_1 => s.contains('\r'),
                    _ => s.bytes().any(|b| matches!(b, b':' | b'\\' | b'\n' | b'\r')),
                };
                t(n) || t(v)
            })
        };
        let content_length = (!body.is_empty()).then(|| itoa_buf(body.len()));
        // Exact when `plain` (a buffer filled to its capacity becomes `Bytes` without
        // another allocation); a lower bound otherwise.
        let capacity = headers
            .iter()
            .filter(|(n, _)| !per_delivery(n))
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>()
            + content_length.as_ref().map_or(0, |digits| {
                name::CONTENT_LENGTH.len() + digits.buf.len() - digits.start + 2
            })
            + 1
            + body.len()
            + 1;
        let shared = |mode| {
            if let Some(body) = text_body {
                let mut dst = String::with_capacity(capacity);
                write_headers_shared(headers, plain, mode, &mut dst);
                if let Some(digits) = &content_length {
                    dst.push_str(name::CONTENT_LENGTH);
                    dst.push(':');
                    // ASCII digits.
                    dst.extend(digits.buf[digits.start..].iter().map(|&d| char::from(d)));
                    dst.push('\n');
                }
                dst.push('\n');
                dst.push_str(body);
                dst.push('\0');
                Shared::Text(ByteString::from(dst))
            } else {
                let mut dst = BytesMut::with_capacity(capacity);
                write_headers_shared(headers, plain, mode, &mut dst);
                finish(body, &mut dst);
                Shared::Binary(dst.freeze())
            }
        };
        PreparedMessage {
            v1_2: shared(EscapeMode::V1_2),
            v1_1: (!plain && needs(EscapeMode::V1_1)).then(|| shared(EscapeMode::V1_1)),
            v1_0: (!plain && needs(EscapeMode::None)).then(|| shared(EscapeMode::None)),
        }
    }

    fn part(&self, version: Version) -> &Shared {
        match version {
            Version::V1_2 => &self.v1_2,
            Version::V1_1 => self.v1_1.as_ref().unwrap_or(&self.v1_2),
            Version::V1_0 => self.v1_0.as_ref().unwrap_or(&self.v1_2),
        }
    }

    /// The shared part for `version` (headers after the per-delivery ones, blank line, body,
    /// NUL).
    pub fn shared(&self, version: Version) -> &Bytes {
        self.part(version).bytes()
    }

    /// Size of the shared part in bytes (for the 1.2 encoding).
    pub fn len(&self) -> usize {
        self.v1_2.bytes().len()
    }

    /// Always `false`: a prepared message holds at least the blank line and NUL.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether the message is UTF-8 with no NUL before its end (then
    /// [`text_delivery`](Self::text_delivery) stamps deliveries as text, unless one of the
    /// per-delivery values holds a NUL).
    pub fn is_text(&self) -> bool {
        matches!(self.v1_2, Shared::Text(_))
    }

    /// Writes one complete MESSAGE frame for one delivery.
    ///
    /// `subscription`, `message_id` and `ack` are escaped as `version` requires.
    pub fn write_delivery(
        &self,
        version: Version,
        subscription: &str,
        message_id: &str,
        ack: Option<&str>,
        dst: &mut BytesMut,
    ) {
        self.write_delivery_marked(version, subscription, message_id, ack, false, dst);
    }

    /// [`write_delivery`](Self::write_delivery), with a `redelivered:true` header in front
    /// of the shared part when `redelivered` (a queue message handed out again, as
    /// RabbitMQ marks it).
    pub fn write_delivery_marked(
        &self,
        version: Version,
        subscription: &str,
        message_id: &str,
        ack: Option<&str>,
        redelivered: bool,
        dst: &mut BytesMut,
    ) {
        let mode = escape_mode(Command::Message, version);
        let shared = self.shared(version);
        dst.reserve(
            82 + subscription.len() + message_id.len() + ack.map_or(0, str::len) + shared.len(),
        );
        write_delivery_head(Some(mode), subscription, message_id, ack, redelivered, dst);
        dst.put_slice(shared);
    }

    /// The same frame as [`write_delivery_marked`](Self::write_delivery_marked), as a
    /// `String` of exactly its length, when the whole frame is UTF-8 with no NUL before its
    /// end (the message [`is_text`](Self::is_text) and no per-delivery value holds a NUL);
    /// `None` otherwise. A WebSocket writer sends it as a text message without checking it.
    pub fn text_delivery(
        &self,
        version: Version,
        subscription: &str,
        message_id: &str,
        ack: Option<&str>,
        redelivered: bool,
    ) -> Option<String> {
        let Shared::Text(shared) = self.part(version) else {
            return None;
        };
        let ack = ack.unwrap_or_default();
        let class = classify(subscription) | classify(message_id) | classify(ack);
        if class & NUL != 0 {
            return None;
        }
        let mode = escape_mode(Command::Message, version);
        let escaped = |text: &str| {
            if class & ESCAPED == 0 {
                text.len()
            } else {
                escaped_len(text, mode)
            }
        };
        let len = DELIVERY_HEAD.len()
            + escaped(subscription)
            + MESSAGE_ID.len()
            + escaped(message_id)
            + 1
            + if ack.is_empty() {
                0
            } else {
                ACK.len() + escaped(ack) + 1
            }
            + if redelivered { REDELIVERED.len() } else { 0 }
            + shared.len();
        let mut dst = String::with_capacity(len);
        let ack = (!ack.is_empty()).then_some(ack);
        // Nothing to escape (the usual case): the values are written as they are.
        let mode = (class & ESCAPED != 0).then_some(mode);
        write_delivery_head(mode, subscription, message_id, ack, redelivered, &mut dst);
        dst.push_str(shared);
        Some(dst)
    }

    /// One complete MESSAGE frame for one delivery, in a buffer of its own.
    pub fn delivery(
        &self,
        version: Version,
        subscription: &str,
        message_id: &str,
        ack: Option<&str>,
    ) -> Bytes {
        let mut dst = BytesMut::new();
        self.write_delivery(version, subscription, message_id, ack, &mut dst);
        dst.freeze()
    }
}

const DELIVERY_HEAD: &str = "MESSAGE\nsubscription:";
const MESSAGE_ID: &str = "\nmessage-id:";
const ACK: &str = "ack:";
const REDELIVERED: &str = "redelivered:true\n";

/// The per-delivery headers of a MESSAGE, the command included; the values escaped for
/// `mode`, or written as they are with `None` (known to need no escaping).
fn write_delivery_head<S: TextSink>(
    mode: Option<EscapeMode>,
    subscription: &str,
    message_id: &str,
    ack: Option<&str>,
    redelivered: bool,
    dst: &mut S,
) {
    let value = |text: &str, dst: &mut S| match mode {
        Some(mode) => write_text(text, mode, dst),
        None => dst.put_str(text),
    };
    dst.put_str(DELIVERY_HEAD);
    value(subscription, dst);
    dst.put_str(MESSAGE_ID);
    value(message_id, dst);
    dst.put_str("\n");
    if let Some(ack) = ack {
        dst.put_str(ACK);
        value(ack, dst);
        dst.put_str("\n");
    }
    if redelivered {
        dst.put_str(REDELIVERED);
    }
}

/// The publisher's headers of a prepared MESSAGE, escaped for `mode` unless `plain`.
fn write_headers_shared<S: TextSink>(
    headers: &Headers,
    plain: bool,
    mode: EscapeMode,
    dst: &mut S,
) {
    for (n, v) in headers.iter() {
        if per_delivery(n) {
            continue;
        }
        if plain {
            dst.put_str(n);
            dst.put_str(":");
            dst.put_str(v);
        } else {
            write_text(n, mode, dst);
            dst.put_str(":");
            write_text(v, mode, dst);
        }
        dst.put_str("\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap_or_default()
    }

    #[test]
    fn encodes_command_headers_body_and_nul() {
        let frame = Frame::new(Command::Send)
            .header("destination", "/topic/a")
            .body("hi");
        let wire = encode_to_bytes(&frame, Version::V1_2);
        assert_eq!(
            text(&wire),
            "SEND\ndestination:/topic/a\ncontent-length:2\n\nhi\0"
        );
    }

    #[test]
    fn empty_body_has_no_content_length_and_given_lengths_are_replaced() {
        let frame = Frame::new(Command::Receipt)
            .header("receipt-id", "7")
            .header("content-length", "99");
        assert_eq!(
            text(&encode_to_bytes(&frame, Version::V1_2)),
            "RECEIPT\nreceipt-id:7\n\n\0"
        );
    }

    #[test]
    fn escapes_per_version_and_command() {
        let frame = Frame::new(Command::Message).header("k:\\", "a\r\nb:c\\");
        let cases = [
            (Version::V1_2, "MESSAGE\nk\\c\\\\:a\\r\\nb\\cc\\\\\n\n\0"),
            (Version::V1_1, "MESSAGE\nk\\c\\\\:a\r\\nb\\cc\\\\\n\n\0"),
            (Version::V1_0, "MESSAGE\nk:\\:a  b:c\\\n\n\0"),
        ];
        for (version, expected) in cases {
            assert_eq!(
                text(&encode_to_bytes(&frame, version)),
                expected,
                "{version}"
            );
        }
        let connected = Frame::new(Command::Connected).header("server", "a:b\\c");
        assert_eq!(
            text(&encode_to_bytes(&connected, Version::V1_2)),
            "CONNECTED\nserver:a:b\\c\n\n\0"
        );
    }

    #[test]
    fn prepared_message_without_escapes_shares_one_encoding() {
        let headers: Headers = [
            ("destination", "/topic/a-b"),
            ("content-type", "text/plain"),
        ]
        .into_iter()
        .collect();
        let body = Bytes::from_static(b"hello");
        let prepared = PreparedMessage::new(&headers, &body);
        for version in Version::ALL {
            assert!(prepared.shared(version).as_ptr() == prepared.shared(Version::V1_2).as_ptr());
            let expected = Frame::new(Command::Message)
                .header("subscription", "s")
                .header("message-id", "m")
                .header("destination", "/topic/a-b")
                .header("content-type", "text/plain")
                .body(body.clone());
            let got = prepared.delivery(version, "s", "m", None);
            assert_eq!(
                text(&got),
                text(&encode_to_bytes(&expected, version)),
                "{version}"
            );
        }
        // One byte that 1.2 escapes is enough to leave the plain path.
        let escaped: Headers = [("destination", "/topic/a:b")].into_iter().collect();
        let prepared = PreparedMessage::new(&escaped, &body);
        assert!(text(prepared.shared(Version::V1_2)).contains("a\\cb"));
        assert!(text(prepared.shared(Version::V1_0)).contains("a:b"));
    }

    #[test]
    fn prepared_message_equals_a_plain_encoding_with_delivery_headers_first() {
        let headers: Headers = [
            ("destination", "/topic/x:y"),
            ("content-type", "text/plain"),
            ("subscription", "ignored"),
            ("custom", "line\nbreak"),
        ]
        .into_iter()
        .collect();
        let body = Bytes::from_static(b"payload\0with nul");
        let prepared = PreparedMessage::new(&headers, &body);
        for version in Version::ALL {
            let mut expected = Frame::new(Command::Message)
                .header("subscription", "sub-0")
                .header("message-id", "m:1")
                .header("ack", "a-1");
            for (n, v) in headers.iter().filter(|(n, _)| *n != "subscription") {
                expected = expected.header(n, v);
            }
            let expected = encode_to_bytes(&expected.body(body.clone()), version);
            let got = prepared.delivery(version, "sub-0", "m:1", Some("a-1"));
            assert_eq!(text(&got), text(&expected), "{version}");
        }
    }

    #[test]
    fn text_deliveries_equal_the_byte_deliveries_and_fill_their_buffer() {
        let body = |b: &'static [u8]| Bytes::from_static(b);
        let cases: &[(&[(&str, &str)], Bytes)] = &[
            (&[("destination", "/topic/a")], body(b"hello")),
            (&[("destination", "/topic/a")], Bytes::new()),
            (
                &[("destination", "/topic/x:y"), ("custom", "line\nbreak\r")],
                body(b"h\xc3\xa9"),
            ),
        ];
        let deliveries: &[(&str, &str, Option<&str>, bool)] = &[
            ("sub-0", "m-1", None, false),
            ("s:1", "m\\1", Some("a\n1"), true),
            ("s\r", "m-1", Some("a-1"), false),
        ];
        for (headers, body) in cases {
            let headers: Headers = headers.iter().copied().collect();
            let prepared = PreparedMessage::new(&headers, body);
            assert!(prepared.is_text());
            for version in Version::ALL {
                for &(sub, id, ack, redelivered) in deliveries {
                    let mut expected = BytesMut::new();
                    prepared.write_delivery_marked(
                        version,
                        sub,
                        id,
                        ack,
                        redelivered,
                        &mut expected,
                    );
                    let got = prepared.text_delivery(version, sub, id, ack, redelivered);
                    let got = got.expect("a text message makes text deliveries");
                    assert_eq!(got.as_bytes(), &expected[..], "{version} {sub:?}");
                    assert_eq!(got.len(), got.capacity(), "{version} {sub:?}");
                }
            }
        }
    }

    #[test]
    fn only_text_without_nul_makes_text_deliveries() {
        let headers: Headers = [("destination", "/topic/a")].into_iter().collect();
        for binary in [&b"a\0b"[..], b"\xff", b"\xc3"] {
            let prepared = PreparedMessage::new(&headers, &Bytes::from_static(binary));
            assert!(!prepared.is_text(), "{binary:?}");
            assert_eq!(
                prepared.text_delivery(Version::V1_2, "s", "m", None, false),
                None
            );
        }
        let nul_header: Headers = [("destination", "/topic/a"), ("x", "a\0")]
            .into_iter()
            .collect();
        assert!(!PreparedMessage::new(&nul_header, &Bytes::from_static(b"ok")).is_text());
        let prepared = PreparedMessage::new(&headers, &Bytes::from_static(b"ok"));
        assert!(prepared.is_text());
        for (sub, id, ack) in [
            ("s\0", "m", None),
            ("s", "m\0", None),
            ("s", "m", Some("\0")),
        ] {
            assert_eq!(
                prepared.text_delivery(Version::V1_2, sub, id, ack, false),
                None
            );
        }
    }
}
