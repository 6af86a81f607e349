//! The sans-IO incremental decoder.

use std::ops::Deref;

use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use memchr::memchr;

use super::encoder::{escape_mode, EscapeMode};
use super::unescape::unescape;
use super::{DecodeError, Limits};
use crate::frame::{name, Command, Frame, Headers};
use crate::version::Version;

/// What one call to [`Decoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame.
    Frame(Frame),
    /// One EOL (`\n` or `\r\n`) between frames: a heart-beat.
    HeartBeat,
}

/// What a [`Decoder`] reads from: the front of a buffer it may consume from.
///
/// Implemented by [`BytesMut`] (a buffer the caller appends to, [`Decoder::decode`]) and by
/// [`Bytes`] (one immutable chunk, [`Decoder::decode_bytes`]): the scanning is the same,
/// only taking bytes off the front differs.
pub(crate) trait Input: Deref<Target = [u8]> {
    /// Drops the first `n` bytes (`n <= len`).
    fn skip(&mut self, n: usize);
    /// Takes the first `n` bytes (`n <= len`) off the front, without copying them.
    fn take(&mut self, n: usize) -> Bytes;
}

impl Input for BytesMut {
    fn skip(&mut self, n: usize) {
        self.advance(n);
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n).freeze()
    }
}

impl Input for Bytes {
    fn skip(&mut self, n: usize) {
        self.advance(n);
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n)
    }
}

/// Length of the longest command word (`UNSUBSCRIBE`).
const MAX_COMMAND_LEN: usize = 11;

/// A sans-IO, incremental STOMP decoder.
///
/// Feed it the bytes of a connection in order, in chunks of any size, and call
/// [`decode`](Decoder::decode) until it returns `Ok(None)` ("need more bytes"). It never
/// panics, never buffers more than the [`Limits`] allow, and keeps its scan position between
/// calls so tiny chunks cost linear time.
///
/// Decoded frames share the received bytes: header names and values without escapes and the
/// body are slices of one buffer, not copies.
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: Limits,
    version: Version,
    state: State,
    /// Header lines of the frame being read, as offsets from the frame's first byte.
    lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Between frames: no byte of the next frame examined yet.
    Start,
    /// Reading the command and header lines.
    Head(Head),
    /// Reading the body.
    Body(Body),
}

#[derive(Debug, Clone, Copy)]
struct Head {
    /// The command, once its line is complete.
    command: Option<Command>,
    /// Offset of the first byte of the current line.
    line_start: usize,
    /// Offset up to which the current line has been searched for its EOL.
    scan: usize,
    /// The first `content-length`, once seen.
    content_length: Option<usize>,
    /// Whether some `content-length` header has been seen (only the first counts).
    seen_content_length: bool,
}

#[derive(Debug, Clone, Copy)]
struct Body {
    command: Command,
    /// Length of the command and header section, blank line included.
    head_len: usize,
    content_length: Option<usize>,
    /// Offset up to which the body has been searched for its NUL.
    scan: usize,
}

/// One header line: `name` is `start..colon`, `value` is `colon + 1..end`.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    colon: usize,
    end: usize,
    /// The line holds a backslash and the frame's headers are escaped.
    escaped: bool,
}

impl Decoder {
    /// A decoder for STOMP 1.2 (until [`set_version`](Decoder::set_version)) with `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            version: Version::V1_2,
            state: State::Start,
            lines: Vec::new(),
        }
    }

    /// Sets the negotiated version, which decides how headers are unescaped.
    ///
    /// `CONNECT`, `STOMP` and `CONNECTED` frames are never unescaped, whatever the version.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The version headers are unescaped for.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes the next heart-beat or frame at the front of `buf`.
    ///
    /// On `Ok(Some(_))` exactly the bytes of what is returned have been removed from `buf`;
    /// on `Ok(None)` nothing is removed and more bytes are needed (append them to `buf` and
    /// call again). Input split at any byte decodes the same as whole frames.
    ///
    /// An error is fatal: the connection must be closed (after sending
    /// [`DecodeError::to_error_frame`]). What is left in `buf` after an error is unspecified;
    /// the decoder itself is reset and remains safe to use.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        self.decode_from(buf)
    }

    /// Decodes the next heart-beat or frame at the front of the immutable `buf`, as
    /// [`decode`](Decoder::decode) does (same limits, same errors), without copying: the
    /// frame's body and headers are slices of `buf`'s storage.
    ///
    /// On `Ok(Some(_))` exactly the bytes of what is returned have been removed from the
    /// front of `buf`. On `Ok(None)` nothing is removed and the rest of `buf` is the start of
    /// an incomplete frame: continue with a buffer that holds those bytes followed by the
    /// next ones (for instance copy them into a [`BytesMut`], append what comes next and go
    /// on with [`decode`](Decoder::decode)); the decoder keeps its scan position, which
    /// counts from the front of that rest.
    pub fn decode_bytes(&mut self, buf: &mut Bytes) -> Result<Option<Decoded>, DecodeError> {
        self.decode_from(buf)
    }

    /// [`decode`](Decoder::decode) or [`decode_bytes`](Decoder::decode_bytes), whichever
    /// `buf` calls for.
    pub(crate) fn decode_from<B: Input>(
        &mut self,
        buf: &mut B,
    ) -> Result<Option<Decoded>, DecodeError> {
        let result = self.step(buf);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        self.state = State::Start;
        self.lines.clear();
    }

    fn step<B: Input>(&mut self, buf: &mut B) -> Result<Option<Decoded>, DecodeError> {
        let scanned = match self.state {
            State::Start => 0,
            State::Head(head) => head.scan,
            State::Body(body) => body.scan,
        };
        if scanned > buf.len() {
            // The caller took bytes away behind our back; start over rather than misread.
            self.reset();
        }
        loop {
            match self.state {
                State::Start => {
                    let eol = match (buf.first(), buf.get(1)) {
                        (None, _) | (Some(b'\r'), None) => return Ok(None),
                        (Some(b'\n'), _) => 1,
                        (Some(b'\r'), Some(b'\n')) => 2,
                        _ => 0,
                    };
                    if eol > 0 {
                        buf.skip(eol);
                        return Ok(Some(Decoded::HeartBeat));
                    }
                    self.lines.clear();
                    self.state = State::Head(Head {
                        command: None,
                        line_start: 0,
                        scan: 0,
                        content_length: None,
                        seen_content_length: false,
                    });
                }
                State::Head(head) => {
                    if !self.read_head(head, buf)? {
                        return Ok(None);
                    }
                }
                State::Body(body) => return self.read_body(body, buf),
            }
        }
    }

    /// Reads complete lines; `true` once the blank line ending the headers has been read.
    fn read_head(&mut self, mut head: Head, buf: &[u8]) -> Result<bool, DecodeError> {
        let limits = self.limits;
        while let Some(found) = buf.get(head.scan..).and_then(|rest| memchr(b'\n', rest)) {
            let nl = head.scan + found;
            let end = if nl > head.line_start && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &buf[head.line_start..end];
            head.scan = nl + 1;
            match head.command {
                None => {
                    head.command =
                        Some(Command::from_bytes(line).ok_or(DecodeError::UnknownCommand)?);
                }
                Some(command) if line.is_empty() => {
                    let head_len = nl + 1;
                    let frame_len = head_len
                        .checked_add(head.content_length.unwrap_or(0))
                        .and_then(|n| n.checked_add(1));
                    if frame_len.is_none_or(|n| n > limits.max_frame_size) {
                        return Err(DecodeError::FrameTooLarge {
                            limit: limits.max_frame_size,
                        });
                    }
                    self.state = State::Body(Body {
                        command,
                        head_len,
                        content_length: head.content_length,
                        scan: head_len,
                    });
                    return Ok(true);
                }
                Some(command) => {
                    if line.len() > limits.max_header_line {
                        return Err(DecodeError::HeaderLineTooLong {
                            limit: limits.max_header_line,
                        });
                    }
                    if self.lines.len() >= limits.max_headers {
                        return Err(DecodeError::TooManyHeaders {
                            limit: limits.max_headers,
                        });
                    }
                    let colon = memchr(b':', line)
                        .filter(|&at| at > 0)
                        .ok_or(DecodeError::MalformedHeader)?;
                    if !head.seen_content_length
                        && &line[..colon] == name::CONTENT_LENGTH.as_bytes()
                    {
                        head.seen_content_length = true;
                        let length = parse_length(&line[colon + 1..])
                            .ok_or(DecodeError::InvalidContentLength)?;
                        if length > limits.max_body {
                            return Err(DecodeError::BodyTooLarge {
                                limit: limits.max_body,
                            });
                        }
                        head.content_length = Some(length);
                    }
                    let escaped = escape_mode(command, self.version) != EscapeMode::None
                        && memchr(b'\\', line).is_some();
                    self.lines.push(Line {
                        start: head.line_start,
                        colon: head.line_start + colon,
                        end,
                        escaped,
                    });
                }
            }
            head.line_start = head.scan;
        }
        head.scan = buf.len();
        let partial = buf.len().saturating_sub(head.line_start);
        if head.command.is_none() && partial > MAX_COMMAND_LEN + 1 {
            return Err(DecodeError::UnknownCommand);
        }
        if partial > limits.max_header_line.saturating_add(1) {
            return Err(DecodeError::HeaderLineTooLong {
                limit: limits.max_header_line,
            });
        }
        // The frame still needs at least a blank line and a NUL.
        if buf.len() >= limits.max_frame_size {
            return Err(DecodeError::FrameTooLarge {
                limit: limits.max_frame_size,
            });
        }
        self.state = State::Head(head);
        Ok(false)
    }

    fn read_body<B: Input>(
        &mut self,
        mut body: Body,
        buf: &mut B,
    ) -> Result<Option<Decoded>, DecodeError> {
        let limits = self.limits;
        let body_end = match body.content_length {
            // `head_len + length + 1` was checked against `max_frame_size` already.
            Some(length) => {
                let body_end = body.head_len + length;
                match buf.get(body_end) {
                    None => return Ok(None),
                    Some(0) => body_end,
                    Some(_) => return Err(DecodeError::MissingNul),
                }
            }
            None => match buf.get(body.scan..).and_then(|rest| memchr(0, rest)) {
                Some(at) => body.scan + at,
                None => body.scan.max(buf.len()),
            },
        };
        if body_end - body.head_len > limits.max_body {
            return Err(DecodeError::BodyTooLarge {
                limit: limits.max_body,
            });
        }
        if body_end >= limits.max_frame_size {
            return Err(DecodeError::FrameTooLarge {
                limit: limits.max_frame_size,
            });
        }
        if body_end >= buf.len() {
            body.scan = body_end;
            self.state = State::Body(body);
            return Ok(None);
        }
        self.state = State::Start;
        let bytes = buf.take(body_end + 1);
        let frame = self.build(body.command, body.head_len, body_end, bytes)?;
        Ok(Some(Decoded::Frame(frame)))
    }

    /// Builds the frame from its bytes (NUL included) and the recorded header lines.
    fn build(
        &mut self,
        command: Command,
        head_len: usize,
        body_end: usize,
        bytes: Bytes,
    ) -> Result<Frame, DecodeError> {
        let head =
            ByteString::try_from(bytes.slice(..head_len)).map_err(|_| DecodeError::InvalidUtf8)?;
        let mode = escape_mode(command, self.version);
        let mut headers = Headers::with_capacity(self.lines.len());
        for line in self.lines.drain(..) {
            let name = text(&head, line.start, line.colon, line.escaped, mode)?;
            let value = text(&head, line.colon + 1, line.end, line.escaped, mode)?;
            headers.append(name, value);
        }
        let body = if body_end > head_len {
            bytes.slice(head_len..body_end)
        } else {
            Bytes::new()
        };
        Ok(Frame {
            command,
            headers,
            body,
        })
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(Limits::default())
    }
}

/// A header name or value: a slice of `head`, or an unescaped copy when it holds escapes.
fn text(
    head: &ByteString,
    start: usize,
    end: usize,
    escaped: bool,
    mode: EscapeMode,
) -> Result<ByteString, DecodeError> {
    let raw = head.get(start..end).ok_or(DecodeError::InvalidUtf8)?;
    if escaped && raw.contains('\\') {
        unescape(raw, mode).map(ByteString::from)
    } else {
        Ok(head.slice_ref(raw))
    }
}

/// Parses a `content-length` value: ASCII digits only, no sign, no spaces, no overflow.
fn parse_length(raw: &[u8]) -> Option<usize> {
    if raw.is_empty() {
        return None;
    }
    raw.iter().try_fold(0usize, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(usize::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes from `input` (through `decoder.decode_from`) until more bytes are needed,
    /// appending what was decoded to `out`.
    fn drain<B: Input>(
        decoder: &mut Decoder,
        input: &mut B,
        out: &mut Vec<Decoded>,
    ) -> Result<(), DecodeError> {
        while let Some(item) = decoder.decode_from(input)? {
            out.push(item);
        }
        Ok(())
    }

    fn decode_all(decoder: &mut Decoder, input: &[u8]) -> Result<Vec<Decoded>, DecodeError> {
        let mut out = Vec::new();
        drain(decoder, &mut BytesMut::from(input), &mut out)?;
        Ok(out)
    }

    fn decode_all_bytes(decoder: &mut Decoder, input: &[u8]) -> Result<Vec<Decoded>, DecodeError> {
        let mut out = Vec::new();
        drain(decoder, &mut Bytes::copy_from_slice(input), &mut out)?;
        Ok(out)
    }

    /// `input` in two chunks split at `at`, through [`Decoder::decode`] only.
    fn decode_split(
        decoder: &mut Decoder,
        input: &[u8],
        at: usize,
    ) -> Result<Vec<Decoded>, DecodeError> {
        let mut buf = BytesMut::from(&input[..at]);
        let mut out = Vec::new();
        drain(decoder, &mut buf, &mut out)?;
        buf.extend_from_slice(&input[at..]);
        drain(decoder, &mut buf, &mut out)?;
        Ok(out)
    }

    /// `input` in two chunks split at `at`, the way `Session::receive_bytes` reads them:
    /// the first straight from `Bytes`, its incomplete rest copied into a `BytesMut` that
    /// the second chunk is appended to.
    fn decode_split_then_buffer(
        decoder: &mut Decoder,
        input: &[u8],
        at: usize,
    ) -> Result<Vec<Decoded>, DecodeError> {
        let mut first = Bytes::copy_from_slice(&input[..at]);
        let mut out = Vec::new();
        drain(decoder, &mut first, &mut out)?;
        let mut buf = BytesMut::from(&first[..]);
        buf.extend_from_slice(&input[at..]);
        drain(decoder, &mut buf, &mut out)?;
        Ok(out)
    }

    /// `input` in two chunks split at `at`, through [`Decoder::decode_bytes`] only: the
    /// incomplete rest of the first and the second are joined into a new `Bytes`.
    fn decode_split_bytes(
        decoder: &mut Decoder,
        input: &[u8],
        at: usize,
    ) -> Result<Vec<Decoded>, DecodeError> {
        let mut first = Bytes::copy_from_slice(&input[..at]);
        let mut out = Vec::new();
        drain(decoder, &mut first, &mut out)?;
        let mut second = Bytes::from([&first[..], &input[at..]].concat());
        drain(decoder, &mut second, &mut out)?;
        Ok(out)
    }

    /// Heart-beats, CRLF lines, escapes, `content-length` with a NUL in the body.
    const MIXED: &[u8] =
        b"\n\r\nSEND\r\ndestination:/a\r\nk:v\\c\n\nhi\0\nMESSAGE\ncontent-length:3\n\
        subscription:1\n\na\0b\0\r\nACK\nid:1\n\n\0";

    #[test]
    fn decode_bytes_split_anywhere_decodes_as_decode() {
        let whole = decode_all(&mut Decoder::default(), MIXED);
        assert!(matches!(&whole, Ok(items) if items.len() == 7), "{whole:?}");
        assert_eq!(decode_all_bytes(&mut Decoder::default(), MIXED), whole);
        for at in 0..=MIXED.len() {
            for decode in [decode_split_then_buffer, decode_split_bytes] {
                assert_eq!(
                    decode(&mut Decoder::default(), MIXED, at),
                    whole,
                    "split at {at}"
                );
            }
        }
    }

    #[test]
    fn decode_bytes_takes_several_frames_from_one_chunk_without_copying() {
        let mut buf =
            Bytes::from_static(b"SEND\ndestination:/a\n\none\0\nSEND\ndestination:/b\n\ntwo\0\n");
        let storage = buf.as_ptr_range();
        let mut decoder = Decoder::default();
        let mut frames = Vec::new();
        let mut heart_beats = 0;
        while let Some(item) = decoder
            .decode_bytes(&mut buf)
            .unwrap_or_else(|e| panic!("{e}"))
        {
            match item {
                Decoded::Frame(frame) => frames.push(frame),
                Decoded::HeartBeat => heart_beats += 1,
            }
        }
        assert!(buf.is_empty());
        assert_eq!(heart_beats, 2);
        let bodies: Vec<&[u8]> = frames.iter().map(|f| &f.body[..]).collect();
        assert_eq!(bodies, [&b"one"[..], b"two"]);
        for frame in &frames {
            assert!(storage.contains(&frame.body.as_ptr()), "body copied");
            let destination = frame.headers.destination().unwrap_or_default();
            assert!(storage.contains(&destination.as_ptr()), "header copied");
        }
    }

    #[test]
    fn decode_bytes_heart_beats_and_incomplete_rest() {
        let mut decoder = Decoder::default();
        let mut buf = Bytes::from_static(b"\n\r\n\r");
        assert_eq!(decoder.decode_bytes(&mut buf), Ok(Some(Decoded::HeartBeat)));
        assert_eq!(decoder.decode_bytes(&mut buf), Ok(Some(Decoded::HeartBeat)));
        assert_eq!(decoder.decode_bytes(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"\r", "an incomplete EOL stays");
        let mut buf = Bytes::from_static(b"SEND\ndest");
        assert_eq!(decoder.decode_bytes(&mut buf), Ok(None));
        assert_eq!(
            &buf[..],
            b"SEND\ndest",
            "nothing taken from an incomplete frame"
        );
    }

    #[test]
    fn decode_bytes_limit_errors_match_decode() {
        let limits = Limits::default()
            .with_max_frame_size(48)
            .with_max_headers(2)
            .with_max_header_line(16)
            .with_max_body(8);
        let cases: &[&[u8]] = &[
            b"SEND\ndestination:/a\n\n0123456789012345678901234567890123456789\0",
            b"SEND\na:1\nb:2\nc:3\n\n\0",
            b"SEND\ndestination:/a/very/long/one\n\n\0",
            b"SEND\ncontent-length:9\n\n012345678\0",
            b"SEND\n\n012345678\0",
            b"FOO\n\n\0",
            b"ABCDEFGHIJKLMNOPQRST",
            b"SEND\nnocolon\n\n\0",
            b"SEND\n:v\n\n\0",
            b"SEND\ncontent-length:x\n\n\0",
            b"SEND\ncontent-length:1\n\nab\0",
            b"SEND\nk:\xff\n\n\0",
            b"SEND\nk:\\x\n\n\0",
        ];
        for input in cases {
            let whole = decode_all(&mut Decoder::new(limits), input);
            assert!(whole.is_err(), "{input:?} decoded");
            assert_eq!(decode_all_bytes(&mut Decoder::new(limits), input), whole);
            for at in 0..=input.len() {
                let expected = decode_split(&mut Decoder::new(limits), input, at);
                for decode in [decode_split_then_buffer, decode_split_bytes] {
                    let got = decode(&mut Decoder::new(limits), input, at);
                    assert_eq!(got, expected, "{input:?} split at {at}");
                }
            }
        }
    }

    #[test]
    fn decodes_heart_beats_and_a_frame_sharing_one_buffer() {
        let mut decoder = Decoder::default();
        let got = decode_all(
            &mut decoder,
            b"\n\r\nSEND\r\ndestination:/a\r\nk:v\\c\n\nhi\0\n",
        );
        let frame = Frame::new(Command::Send)
            .header("destination", "/a")
            .header("k", "v:")
            .body("hi");
        assert_eq!(
            got,
            Ok(vec![
                Decoded::HeartBeat,
                Decoded::HeartBeat,
                Decoded::Frame(frame),
                Decoded::HeartBeat
            ])
        );
    }

    #[test]
    fn content_length_values() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"0", Some(0)),
            (b"0042", Some(42)),
            (b"", None),
            (b" 1", None),
            (b"1 ", None),
            (b"-1", None),
            (b"+1", None),
            (b"1a", None),
            (b"99999999999999999999999999", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_length(raw), *expected, "{raw:?}");
        }
    }

    #[test]
    fn a_buffer_shrunk_between_calls_restarts_instead_of_panicking() {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&b"SEND\ndestination:/a\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.clear();
        buf.extend_from_slice(b"ACK\nid:1\n\n\0");
        let Ok(Some(Decoded::Frame(frame))) = decoder.decode(&mut buf) else {
            panic!("expected a frame");
        };
        assert_eq!(frame.command, Command::Ack);
    }
}
