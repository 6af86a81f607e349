//! The JSON payloads the page and the server exchange.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Longest message text kept, in characters; longer texts are cut.
pub const MAX_TEXT_CHARS: usize = 2000;

/// What a client SENDs to `/app/chat/{room}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatInput {
    /// The message text.
    pub text: String,
}

/// What a client SENDs to `/app/private`, validated by the handler's
/// `Valid<Payload<PrivateInput>>` (a failure is reported on the sender's
/// `/user/queue/errors`).
#[derive(Debug, Clone, Deserialize, garde::Validate)]
pub struct PrivateInput {
    /// The user name of the recipient: 1 to 64 characters.
    #[garde(length(chars, min = 1, max = 64))]
    pub to: String,
    /// The message text (trimmed and cut by the handler).
    #[garde(skip)]
    pub text: String,
}

/// The kind of a room message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Someone said something.
    Chat,
    /// Someone joined the room.
    Join,
}

/// A message broadcast on `/topic/chat.{room}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The room.
    pub room: String,
    /// The sender's user name (from the session, never from the payload).
    pub from: String,
    /// The text (empty for a join).
    pub text: String,
    /// Chat or join.
    pub kind: Kind,
    /// Milliseconds since the Unix epoch, stamped by the server.
    pub at: u64,
}

/// A private message: delivered into the recipient's inbox (`/user/queue/inbox`) and, as a
/// copy, to the sender's sessions on `/user/queue/private`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateMessage {
    /// The sender's user name.
    pub from: String,
    /// The recipient's user name.
    pub to: String,
    /// The text.
    pub text: String,
    /// Milliseconds since the Unix epoch, stamped by the server.
    pub at: u64,
}

/// Published on `/topic/presence` when a user's first session opens or last one closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEvent {
    /// The user name.
    pub user: String,
    /// True when the user came online, false when they left.
    pub online: bool,
}

/// `text` without surrounding whitespace, cut to [`MAX_TEXT_CHARS`] characters.
pub fn clean_text(text: &str) -> String {
    text.trim().chars().take(MAX_TEXT_CHARS).collect()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_trims_and_caps() {
        let long = "x".repeat(MAX_TEXT_CHARS + 10);
        let cases: [(&str, String); 4] = [
            ("  hi  ", "hi".to_owned()),
            ("", String::new()),
            ("héllo ✓", "héllo ✓".to_owned()),
            (&long, "x".repeat(MAX_TEXT_CHARS)),
        ];
        for (input, want) in cases {
            assert_eq!(clean_text(input), want, "input {input:?}");
        }
    }

    #[test]
    fn wire_format_is_what_the_page_reads() {
        let m = ChatMessage {
            room: "lobby".into(),
            from: "alice".into(),
            text: "hi".into(),
            kind: Kind::Join,
            at: 5,
        };
        let json = serde_json::to_value(&m).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"room":"lobby","from":"alice","text":"hi","kind":"join","at":5})
        );
        let input: PrivateInput =
            serde_json::from_str(r#"{"to":"bob","text":"psst"}"#).expect("parses");
        assert_eq!((input.to.as_str(), input.text.as_str()), ("bob", "psst"));
    }
}
