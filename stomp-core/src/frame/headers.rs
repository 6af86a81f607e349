//! Ordered frame headers with first-wins lookup, and the standard header names.

use bytestring::ByteString;

use crate::frame::heartbeat::HeartBeat;

/// Names of the standard STOMP headers.
pub mod name {
    /// `accept-version`: versions a client supports (CONNECT).
    pub const ACCEPT_VERSION: &str = "accept-version";
    /// `ack`: the ack mode of a SUBSCRIBE, or the ack id of a MESSAGE.
    pub const ACK: &str = "ack";
    /// `content-length`: the body length in octets.
    pub const CONTENT_LENGTH: &str = "content-length";
    /// `content-type`: the MIME type of the body.
    pub const CONTENT_TYPE: &str = "content-type";
    /// `destination`: where a SEND goes, or where a MESSAGE came from.
    pub const DESTINATION: &str = "destination";
    /// `heart-beat`: the heart-beat offer of CONNECT / CONNECTED.
    pub const HEART_BEAT: &str = "heart-beat";
    /// `host`: the virtual host of CONNECT.
    pub const HOST: &str = "host";
    /// `id`: the subscription id (SUBSCRIBE, UNSUBSCRIBE) or ack id (ACK, NACK).
    pub const ID: &str = "id";
    /// `login`: the user name of CONNECT.
    pub const LOGIN: &str = "login";
    /// `message`: the short text of an ERROR.
    pub const MESSAGE: &str = "message";
    /// `message-id`: the unique id of a MESSAGE.
    pub const MESSAGE_ID: &str = "message-id";
    /// `passcode`: the password of CONNECT.
    pub const PASSCODE: &str = "passcode";
    /// `receipt`: asks the server for a RECEIPT.
    pub const RECEIPT: &str = "receipt";
    /// `receipt-id`: the `receipt` a RECEIPT or ERROR answers.
    pub const RECEIPT_ID: &str = "receipt-id";
    /// `server`: the server name of CONNECTED.
    pub const SERVER: &str = "server";
    /// `session`: the session id of CONNECTED.
    pub const SESSION: &str = "session";
    /// `subscription`: the subscription id a MESSAGE is delivered on.
    pub const SUBSCRIPTION: &str = "subscription";
    /// `transaction`: the transaction a frame belongs to.
    pub const TRANSACTION: &str = "transaction";
    /// `version`: the negotiated version (CONNECTED) or supported versions (ERROR).
    pub const VERSION: &str = "version";
}

/// A header whose value is not what the specification allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{name}` header: {value:?}")]
pub struct InvalidHeader {
    /// The header name.
    pub name: &'static str,
    /// The offending value (truncated to 64 characters).
    pub value: String,
}

impl InvalidHeader {
    pub(crate) fn new(name: &'static str, value: &str) -> Self {
        let value = value.chars().take(64).collect();
        InvalidHeader { name, value }
    }
}

/// The headers of a frame, in wire order.
///
/// Repeated names are kept (a server forwards them as-is), but every lookup returns the
/// **first** occurrence, as STOMP 1.2 requires. Names and values are case-sensitive and never
/// trimmed. Keys and values are [`ByteString`]s so a decoder can hand out slices of its input
/// buffer without copying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(ByteString, ByteString)>,
}

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Headers {
            entries: Vec::new(),
        }
    }

    /// No headers, with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Headers {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Number of header lines, repeats included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &**v)
    }

    /// The values of every header called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| &**v)
    }

    /// `true` if some header is called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// Appends a header line (a repeat of an existing name is kept after it).
    pub fn append(&mut self, name: impl Into<ByteString>, value: impl Into<ByteString>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Sets `name` to `value`: replaces the first occurrence and removes the others, or
    /// appends when absent.
    pub fn set(&mut self, name: impl Into<ByteString>, value: impl Into<ByteString>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                self.entries[first].1 = value;
                let mut index = 0;
                self.entries.retain(|(n, _)| {
                    let keep = index <= first || *n != name;
                    index += 1;
                    keep
                });
            }
            None => self.entries.push((name, value)),
        }
    }

    /// The value of the first header called `name`, as the stored [`ByteString`] (cloning
    /// it shares the bytes instead of copying them).
    pub fn value(&self, name: &str) -> Option<&ByteString> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Keeps only the header lines whose name passes `keep`, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|(n, _)| keep(n));
    }

    /// Removes every header called `name`; returns the first value removed.
    pub fn remove(&mut self, name: &str) -> Option<ByteString> {
        let mut first = None;
        self.entries.retain(|(n, v)| {
            if n == name {
                if first.is_none() {
                    first = Some(v.clone());
                }
                false
            } else {
                true
            }
        });
        first
    }

    /// Iterates over `(name, value)` pairs in wire order, repeats included.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(n, v)| (&**n, &**v))
    }

    /// Iterates over the shared name/value strings (cheap to clone).
    pub fn entries(&self) -> &[(ByteString, ByteString)] {
        &self.entries
    }

    /// `destination`.
    pub fn destination(&self) -> Option<&str> {
        self.get(name::DESTINATION)
    }

    /// `id`.
    pub fn id(&self) -> Option<&str> {
        self.get(name::ID)
    }

    /// `ack` (the raw value; the session parses ack modes).
    pub fn ack(&self) -> Option<&str> {
        self.get(name::ACK)
    }

    /// `receipt`.
    pub fn receipt(&self) -> Option<&str> {
        self.get(name::RECEIPT)
    }

    /// `receipt-id`.
    pub fn receipt_id(&self) -> Option<&str> {
        self.get(name::RECEIPT_ID)
    }

    /// `transaction`.
    pub fn transaction(&self) -> Option<&str> {
        self.get(name::TRANSACTION)
    }

    /// `content-type`.
    pub fn content_type(&self) -> Option<&str> {
        self.get(name::CONTENT_TYPE)
    }

    /// `subscription`.
    pub fn subscription(&self) -> Option<&str> {
        self.get(name::SUBSCRIPTION)
    }

    /// `message-id`.
    pub fn message_id(&self) -> Option<&str> {
        self.get(name::MESSAGE_ID)
    }

    /// `message` (the short text of an ERROR).
    pub fn message(&self) -> Option<&str> {
        self.get(name::MESSAGE)
    }

    /// `version`.
    pub fn version(&self) -> Option<&str> {
        self.get(name::VERSION)
    }

    /// `accept-version` (the raw comma-separated list).
    pub fn accept_version(&self) -> Option<&str> {
        self.get(name::ACCEPT_VERSION)
    }

    /// `content-length`, parsed as a decimal octet count.
    pub fn content_length(&self) -> Result<Option<usize>, InvalidHeader> {
        match self.get(name::CONTENT_LENGTH) {
            None => Ok(None),
            Some(raw) => parse_decimal(raw)
                .map(Some)
                .ok_or_else(|| InvalidHeader::new(name::CONTENT_LENGTH, raw)),
        }
    }

    /// `heart-beat`, parsed as `cx,cy` milliseconds.
    pub fn heart_beat(&self) -> Result<Option<HeartBeat>, InvalidHeader> {
        match self.get(name::HEART_BEAT) {
            None => Ok(None),
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|_| InvalidHeader::new(name::HEART_BEAT, raw)),
        }
    }
}

/// Parses an unsigned decimal made of ASCII digits only (no sign, no spaces).
pub(crate) fn parse_decimal(raw: &str) -> Option<usize> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

impl<N, V> FromIterator<(N, V)> for Headers
where
    N: Into<ByteString>,
    V: Into<ByteString>,
{
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers {
            entries: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

impl<N, V> Extend<(N, V)> for Headers
where
    N: Into<ByteString>,
    V: Into<ByteString>,
{
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        self.entries
            .extend(iter.into_iter().map(|(n, v)| (n.into(), v.into())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_keeps_order_and_value_shares_the_stored_string() {
        let mut h: Headers = [
            ("destination", "/q"),
            ("receipt", "r"),
            ("x", "1"),
            ("x", "2"),
        ]
        .into_iter()
        .collect();
        h.retain(|name| name != "receipt");
        let kept: Vec<_> = h.iter().collect();
        assert_eq!(kept, [("destination", "/q"), ("x", "1"), ("x", "2")]);
        assert_eq!(h.value("x").map(|v| &**v), Some("1"));
        assert!(h.value("receipt").is_none());
    }

    #[test]
    fn first_occurrence_wins_and_repeats_are_kept() {
        let headers: Headers = [("foo", "first"), ("bar", "x"), ("foo", "second")]
            .into_iter()
            .collect();
        assert_eq!(headers.get("foo"), Some("first"));
        assert_eq!(
            headers.get_all("foo").collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert_eq!(headers.len(), 3);
    }

    #[test]
    fn names_are_case_sensitive_and_values_untrimmed() {
        let headers: Headers = [("Destination", " /a "), ("destination", "/b")]
            .into_iter()
            .collect();
        assert_eq!(headers.destination(), Some("/b"));
        assert_eq!(headers.get("Destination"), Some(" /a "));
    }

    #[test]
    fn set_replaces_first_and_drops_repeats() {
        let mut headers: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        headers.set("a", "9");
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("a", "9"), ("b", "2")]);
        headers.set("c", "4");
        assert_eq!(headers.get("c"), Some("4"));
    }

    #[test]
    fn remove_returns_first_and_removes_all() {
        let mut headers: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        assert_eq!(headers.remove("a").as_deref(), Some("1"));
        assert!(!headers.contains("a"));
        assert_eq!(headers.remove("a"), None);
    }

    #[test]
    fn content_length_accepts_only_plain_decimals() {
        let cases = [
            ("0", Some(0)),
            ("42", Some(42)),
            ("007", Some(7)),
            ("", None),
            ("-1", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("0x10", None),
            ("99999999999999999999999999", None),
        ];
        for (raw, expected) in cases {
            let headers: Headers = [("content-length", raw)].into_iter().collect();
            assert_eq!(headers.content_length().ok().flatten(), expected, "{raw:?}");
        }
        assert_eq!(Headers::new().content_length(), Ok(None));
    }
}
