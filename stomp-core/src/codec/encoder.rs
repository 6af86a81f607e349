//! Encoding frames to bytes, and MESSAGE frames prepared once per publish.

use bytes::{BufMut, Bytes, BytesMut};

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

/// The bytes STOMP 1.2 escapes in a header (`\n`, `\r`, `:`, `\`); what 1.1 escapes and 1.0
/// replaces are subsets.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    table[b'\n' as usize] = true;
    table[b'\r' as usize] = true;
    table[b':' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `true` when no version escapes anything in `text` (one table load per byte).
fn is_plain(text: &str) -> bool {
    !text
        .bytes()
        .fold(false, |found, b| found | ESCAPED[usize::from(b)])
}

fn write_text(text: &str, escape: EscapeMode, dst: &mut BytesMut) {
    let bytes = text.as_bytes();
    let special = |b: u8| match escape {
        EscapeMode::None => matches!(b, b'\n' | b'\r'),
        EscapeMode::V1_1 => matches!(b, b'\n' | b':' | b'\\'),
        EscapeMode::V1_2 => matches!(b, b'\n' | b'\r' | b':' | b'\\'),
    };
    if !bytes.iter().any(|&b| special(b)) {
        dst.put_slice(bytes);
        return;
    }
    for &b in bytes {
        if !special(b) {
            dst.put_u8(b);
            continue;
        }
        match (escape, b) {
            (EscapeMode::None, _) => dst.put_u8(b' '),
            (_, b'\n') => dst.put_slice(b"\\n"),
            (_, b'\r') => dst.put_slice(b"\\r"),
            (_, b':') => dst.put_slice(b"\\c"),
            (_, _) => dst.put_slice(b"\\\\"),
        }
    }
}

/// A MESSAGE encoded once per publish and stamped per delivery.
///
/// Everything shared by all subscribers (destination, content type, user headers, body) is
/// encoded once per protocol version actually used; a delivery then writes only its own
/// `subscription`, `message-id` and optional `ack` headers in front of the shared part.
/// STOMP does not order headers, so this is one valid encoding of the whole frame.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    /// Shared part, escaped for STOMP 1.2.
    v1_2: Bytes,
    /// Shared part, escaped for STOMP 1.1 (`None` when identical to 1.2).
    v1_1: Option<Bytes>,
    /// Shared part, unescaped for STOMP 1.0 (`None` when identical to 1.2).
    v1_0: Option<Bytes>,
}

impl PreparedMessage {
    /// Prepares the shared part of a MESSAGE from the headers a publisher gave (the
    /// `destination`, `content-type` and user headers) and the body.
    ///
    /// Headers a delivery sets itself (`subscription`, `message-id`, `ack`) and
    /// `content-length` are dropped from `headers`; `content-length` is recomputed.
    pub fn new(headers: &Headers, body: &Bytes) -> Self {
        // The usual case: no header holds a byte any version escapes, so all three
        // encodings are the same bytes, written without a per-byte escape pass.
        let plain = headers.iter().all(|(n, v)| is_plain(n) && is_plain(v));
        let needs = |mode: EscapeMode| {
            headers.iter().any(|(n, v)| {
                let t = |s: &str| match mode {
                    EscapeMode::V1_1 => s.contains('\r'),
                    _ => s.bytes().any(|b| matches!(b, b':' | b'\\' | b'\n' | b'\r')),
                };
                t(n) || t(v)
            })
        };
        let shared = |mode| {
            let mut dst = BytesMut::with_capacity(
                headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 2)
                    .sum::<usize>()
                    + body.len()
                    + 24,
            );
            for (n, v) in headers.iter() {
                if matches!(
                    n,
                    name::SUBSCRIPTION | name::MESSAGE_ID | name::ACK | name::CONTENT_LENGTH
                ) {
                    continue;
                }
                if plain {
                    dst.put_slice(n.as_bytes());
                    dst.put_u8(b':');
                    dst.put_slice(v.as_bytes());
                } else {
                    write_text(n, mode, &mut dst);
                    dst.put_u8(b':');
                    write_text(v, mode, &mut dst);
                }
                dst.put_u8(b'\n');
            }
            finish(body, &mut dst);
            dst.freeze()
        };
        PreparedMessage {
            v1_2: shared(EscapeMode::V1_2),
            v1_1: (!plain && needs(EscapeMode::V1_1)).then(|| shared(EscapeMode::V1_1)),
            v1_0: (!plain && needs(EscapeMode::None)).then(|| shared(EscapeMode::None)),
        }
    }

    /// The shared part for `version` (headers after the per-delivery ones, blank line, body,
    /// NUL).
    pub fn shared(&self, version: Version) -> &Bytes {
        match version {
            Version::V1_2 => &self.v1_2,
            Version::V1_1 => self.v1_1.as_ref().unwrap_or(&self.v1_2),
            Version::V1_0 => self.v1_0.as_ref().unwrap_or(&self.v1_2),
        }
    }

    /// Size of the shared part in bytes (for the 1.2 encoding).
    pub fn len(&self) -> usize {
        self.v1_2.len()
    }

    /// Always `false`: a prepared message holds at least the blank line and NUL.
    pub fn is_empty(&self) -> bool {
        false
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
        dst.put_slice(b"MESSAGE\nsubscription:");
        write_text(subscription, mode, dst);
        dst.put_slice(b"\nmessage-id:");
        write_text(message_id, mode, dst);
        dst.put_u8(b'\n');
        if let Some(ack) = ack {
            dst.put_slice(b"ack:");
            write_text(ack, mode, dst);
            dst.put_u8(b'\n');
        }
        if redelivered {
            dst.put_slice(b"redelivered:true\n");
        }
        dst.put_slice(shared);
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
}
