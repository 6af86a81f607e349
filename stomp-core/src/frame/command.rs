//! The STOMP command of a frame.

use std::fmt;

/// Every command a STOMP 1.0–1.2 client or server may send.
///
/// `STOMP` is the 1.1+ alias of `CONNECT`; both are kept distinct so a server can
/// answer exactly what it received (and so the encoder writes back the same word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// Client: open a session.
    Connect,
    /// Client: open a session (1.1+ spelling of `CONNECT`).
    Stomp,
    /// Server: the session is open.
    Connected,
    /// Client: publish a message to a destination.
    Send,
    /// Client: start receiving messages of a destination.
    Subscribe,
    /// Client: stop a subscription.
    Unsubscribe,
    /// Client: acknowledge a message.
    Ack,
    /// Client: reject a message.
    Nack,
    /// Client: start a transaction.
    Begin,
    /// Client: commit a transaction.
    Commit,
    /// Client: roll back a transaction.
    Abort,
    /// Client: close the session gracefully.
    Disconnect,
    /// Server: a message delivered to a subscription.
    Message,
    /// Server: confirms that a client frame carrying `receipt` took effect.
    Receipt,
    /// Server: a fatal error; the connection closes after it.
    Error,
}

impl Command {
    /// All commands, in a fixed order.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Connected,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as it is written on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Connected => "CONNECTED",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Parses the wire spelling of a command (case-sensitive, as the spec requires).
    pub fn from_bytes(word: &[u8]) -> Option<Command> {
        Some(match word {
            b"CONNECT" => Command::Connect,
            b"STOMP" => Command::Stomp,
            b"CONNECTED" => Command::Connected,
            b"SEND" => Command::Send,
            b"SUBSCRIBE" => Command::Subscribe,
            b"UNSUBSCRIBE" => Command::Unsubscribe,
            b"ACK" => Command::Ack,
            b"NACK" => Command::Nack,
            b"BEGIN" => Command::Begin,
            b"COMMIT" => Command::Commit,
            b"ABORT" => Command::Abort,
            b"DISCONNECT" => Command::Disconnect,
            b"MESSAGE" => Command::Message,
            b"RECEIPT" => Command::Receipt,
            b"ERROR" => Command::Error,
            _ => return None,
        })
    }

    /// `true` for the commands a client sends.
    pub const fn is_client_command(self) -> bool {
        !self.is_server_command()
    }

    /// `true` for the commands a server sends (`CONNECTED`, `MESSAGE`, `RECEIPT`, `ERROR`).
    pub const fn is_server_command(self) -> bool {
        matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }

    /// `true` for `CONNECT` and `STOMP`.
    pub const fn is_connect(self) -> bool {
        matches!(self, Command::Connect | Command::Stomp)
    }

    /// Whether header values of this command are escaped (STOMP 1.1+): every frame
    /// except `CONNECT`, `STOMP` and `CONNECTED`.
    pub const fn escapes_headers(self) -> bool {
        !matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }

    /// Whether this command may carry a body (`SEND`, `MESSAGE`, `ERROR`).
    pub const fn allows_body(self) -> bool {
        matches!(self, Command::Send | Command::Message | Command::Error)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_its_wire_spelling() {
        for command in Command::ALL {
            assert_eq!(
                Command::from_bytes(command.as_str().as_bytes()),
                Some(command)
            );
        }
    }

    #[test]
    fn commands_are_case_sensitive_and_exact() {
        for word in [&b"send"[..], b"Send", b"SEND ", b"", b"MESSAGES"] {
            assert_eq!(Command::from_bytes(word), None, "{word:?}");
        }
    }

    #[test]
    fn escaping_applies_to_all_but_connect_frames() {
        let unescaped: Vec<_> = Command::ALL
            .into_iter()
            .filter(|c| !c.escapes_headers())
            .collect();
        assert_eq!(
            unescaped,
            [Command::Connect, Command::Stomp, Command::Connected]
        );
    }
}
