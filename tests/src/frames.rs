//! Frame builders for the client side and a small parser for what the server sends.
//!
//! The parser here only splits complete frames a test received; it is deliberately small and
//! strict (it panics on malformed input, which fails the test).

use std::fmt;

/// Starts building a frame with `command`.
pub fn frame(command: &str) -> FrameBuilder {
    FrameBuilder {
        command: command.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A frame under construction (client side). Headers are written as given, unescaped.
#[derive(Debug, Clone)]
#[must_use]
pub struct FrameBuilder {
    command: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl FrameBuilder {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    /// Sets the body and a matching `content-length` header.
    pub fn body_with_length(self, body: impl AsRef<[u8]>) -> Self {
        let len = body.as_ref().len().to_string();
        self.header("content-length", &len).body(body)
    }

    /// The encoded frame, NUL-terminated.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.command.len() + self.body.len() + 64);
        out.extend_from_slice(self.command.as_bytes());
        out.push(b'\n');
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out.push(0);
        out
    }

    /// The encoded frame as text (panics if the body is not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("frame is not UTF-8; use bytes()")
    }
}

/// A frame received from the server.
#[derive(Clone, PartialEq, Eq)]
pub struct WireFrame {
    /// The command line.
    pub command: String,
    /// Headers in order, as received (not unescaped).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl WireFrame {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for WireFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.command)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}:{v}")?;
        }
        write!(f, "\n{}^@", String::from_utf8_lossy(&self.body))
    }
}

/// Splits `data` into the frames it holds, skipping heart-beat EOLs between frames.
/// Panics (failing the test) on a truncated or malformed frame.
pub fn parse_frames(mut data: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    loop {
        while let Some(rest) = data
            .strip_prefix(b"\r\n")
            .or_else(|| data.strip_prefix(b"\n"))
        {
            data = rest;
        }
        if data.is_empty() {
            return frames;
        }
        let (frame, rest) = parse_one(data);
        frames.push(frame);
        data = rest;
    }
}

fn take_line(data: &[u8]) -> (&str, &[u8]) {
    let end = data
        .iter()
        .position(|&b| b == b'\n')
        .expect("frame line not terminated");
    let line = data[..end].strip_suffix(b"\r").unwrap_or(&data[..end]);
    (
        std::str::from_utf8(line).expect("frame line is not UTF-8"),
        &data[end + 1..],
    )
}

fn parse_one(data: &[u8]) -> (WireFrame, &[u8]) {
    let (command, mut rest) = take_line(data);
    let mut headers = Vec::new();
    loop {
        let (line, after) = take_line(rest);
        rest = after;
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').expect("header without ':'");
        headers.push((n.to_owned(), v.to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>().expect("bad content-length"));
    let body_len = match length {
        Some(len) => len,
        None => rest
            .iter()
            .position(|&b| b == 0)
            .expect("frame without NUL"),
    };
    assert!(rest.len() > body_len, "truncated frame body");
    assert_eq!(rest[body_len], 0, "frame body not followed by NUL");
    let frame = WireFrame {
        command: command.to_owned(),
        headers,
        body: rest[..body_len].to_vec(),
    };
    (frame, &rest[body_len + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_frames_back() {
        let bin = frame("SEND")
            .header("destination", "/q")
            .body_with_length(b"a\0b");
        let mut wire = bin.bytes();
        wire.extend_from_slice(b"\n");
        wire.extend_from_slice(&frame("RECEIPT").header("receipt-id", "1").bytes());
        let frames = parse_frames(&wire);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].command, "SEND");
        assert_eq!(frames[0].body, b"a\0b");
        assert_eq!(frames[1].header("receipt-id"), Some("1"));
    }
}
