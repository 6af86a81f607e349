//! The backplane wire format: every payload is one STOMP frame (the one codec), so a
//! message travels as destination + headers + body exactly as subscribers will see it.
//!
//! A payload is a `SEND` frame whose first headers are the envelope:
//! `bp-origin` (instance id), `bp-event` (what it is), then for messages `bp-seq` and
//! `bp-dest` (the routing destination) followed by the message's own headers; for presence
//! events `bp-version` followed by one `user` header per user name (the user joining or
//! leaving, every user of a snapshot, or the instance a `sync` asks for).

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use super::presence::PresenceAnnouncement;
use crate::broker::Message;
use crate::cluster::{Announcement, Change};
use crate::codec::{encode_to_bytes, Decoded, Decoder, Limits};
use crate::frame::{Command, Frame, Headers};
use crate::version::Version;

const ORIGIN: &str = "bp-origin";
const EVENT: &str = "bp-event";
const SEQ: &str = "bp-seq";
const DEST: &str = "bp-dest";
const VERSION: &str = "bp-version";
const USER: &str = "user";

/// The `bp-event` names of presence announcements.
const JOIN: &str = "join";
const LEAVE: &str = "leave";
const HEARTBEAT: &str = "heartbeat";
const SNAPSHOT: &str = "snapshot";
const HELLO: &str = "hello";
const SYNC: &str = "sync";
const BYE: &str = "bye";

/// How a forwarded message is routed on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Publish to the local broker (a topic).
    Topic,
    /// Resolve the user destination against the local registry.
    User,
}

/// A decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Envelope {
    Message {
        origin: ByteString,
        seq: u64,
        route: Route,
        message: MessageParts,
    },
    Presence {
        origin: ByteString,
        announcement: PresenceAnnouncement,
    },
}

/// A [`Message`] without the `Debug`-less parts, comparable in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageParts {
    pub(crate) destination: ByteString,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
}

impl From<MessageParts> for Message {
    fn from(m: MessageParts) -> Self {
        Message {
            destination: m.destination,
            headers: m.headers,
            body: m.body,
        }
    }
}

/// Encodes a forwarded message.
pub(crate) fn encode_message(origin: &str, seq: u64, route: Route, message: &Message) -> Bytes {
    let mut headers = Headers::with_capacity(message.headers.len() + 4);
    headers.append(ORIGIN, ByteString::from(origin));
    headers.append(
        EVENT,
        match route {
            Route::Topic => "message",
            Route::User => "user",
        },
    );
    headers.append(SEQ, ByteString::from(seq.to_string()));
    headers.append(DEST, message.destination.clone());
    for (name, value) in message.headers.entries() {
        headers.append(name.clone(), value.clone());
    }
    let frame = Frame {
        command: Command::Send,
        headers,
        body: message.body.clone(),
    };
    encode_to_bytes(&frame, Version::V1_2)
}

/// Encodes a presence announcement.
pub(crate) fn encode_presence(origin: &str, announcement: &PresenceAnnouncement) -> Bytes {
    let (event, version, users): (&str, u64, Vec<&str>) = match announcement {
        Announcement::Hello => (HELLO, 0, Vec::new()),
        Announcement::Snapshot { version, entries } => (
            SNAPSHOT,
            *version,
            entries.iter().map(|(user, ())| &**user).collect(),
        ),
        Announcement::Update { version, change } => match change {
            Change::Put(user, ()) => (JOIN, *version, vec![&**user]),
            Change::Remove(user) => (LEAVE, *version, vec![&**user]),
        },
        Announcement::Heartbeat { version } => (HEARTBEAT, *version, Vec::new()),
        Announcement::Sync { target } => (SYNC, 0, vec![&**target]),
        Announcement::Bye => (BYE, 0, Vec::new()),
    };
    let mut frame = Frame::new(Command::Send)
        .header(ORIGIN, ByteString::from(origin))
        .header(EVENT, event)
        .header(VERSION, ByteString::from(version.to_string()));
    for user in users {
        frame.headers.append(USER, ByteString::from(user));
    }
    encode_to_bytes(&frame, Version::V1_2)
}

/// Why a payload was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("not a complete STOMP frame")]
    Incomplete,
    #[error("invalid frame: {0}")]
    Frame(String),
    #[error("missing or invalid envelope header {0}")]
    Envelope(&'static str),
}

/// Limits for payloads: other instances of the same app are trusted, but a snapshot of a
/// busy instance has many `user` headers.
fn limits() -> Limits {
    Limits::unlimited()
        .with_max_frame_size(64 * 1024 * 1024)
        .with_max_headers(1 << 20)
}

/// Decodes one payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Envelope, WireError> {
    let mut decoder = Decoder::new(limits());
    decoder.set_version(Version::V1_2);
    let mut buf = BytesMut::from(payload);
    let frame = match decoder.decode(&mut buf) {
        Ok(Some(Decoded::Frame(frame))) => frame,
        Ok(_) => return Err(WireError::Incomplete),
        Err(e) => return Err(WireError::Frame(e.to_string())),
    };
    let entries = frame.headers.entries();
    let header = |i: usize, name: &'static str| match entries.get(i) {
        Some((n, v)) if n == name => Ok(v.clone()),
        _ => Err(WireError::Envelope(name)),
    };
    let origin = header(0, ORIGIN)?;
    let event = header(1, EVENT)?;
    let number =
        |v: ByteString, name: &'static str| v.parse::<u64>().map_err(|_| WireError::Envelope(name));
    let route = match &*event {
        "message" => Some(Route::Topic),
        "user" => Some(Route::User),
        _ => None,
    };
    if let Some(route) = route {
        let seq = number(header(2, SEQ)?, SEQ)?;
        let destination = header(3, DEST)?;
        // The encoder adds `content-length`; deliveries get their own.
        let headers: Headers = entries[4..]
            .iter()
            .filter(|(n, _)| n != "content-length")
            .cloned()
            .collect();
        return Ok(Envelope::Message {
            origin,
            seq,
            route,
            message: MessageParts {
                destination,
                headers,
                body: frame.body,
            },
        });
    }
    let version = number(header(2, VERSION)?, VERSION)?;
    let mut users: Vec<ByteString> = entries[3..]
        .iter()
        .filter(|(n, _)| n == USER)
        .map(|(_, v)| v.clone())
        .collect();
    let one = |users: &mut Vec<ByteString>| match users.pop() {
        Some(user) if users.is_empty() => Ok(user),
        _ => Err(WireError::Envelope(USER)),
    };
    let announcement = match &*event {
        JOIN => Announcement::Update {
            version,
            change: Change::Put(one(&mut users)?, ()),
        },
        LEAVE => Announcement::Update {
            version,
            change: Change::Remove(one(&mut users)?),
        },
        HEARTBEAT => Announcement::Heartbeat { version },
        SNAPSHOT => Announcement::Snapshot {
            version,
            entries: users.into_iter().map(|user| (user, ())).collect(),
        },
        HELLO => Announcement::Hello,
        SYNC => Announcement::Sync {
            target: one(&mut users)?,
        },
        BYE => Announcement::Bye,
        _ => return Err(WireError::Envelope(EVENT)),
    };
    Ok(Envelope::Presence {
        origin,
        announcement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_awkward_headers() {
        type Case<'a> = (&'a str, Route, &'a [(&'a str, &'a str)], &'a [u8]);
        let cases: &[Case] = &[
            (
                "/topic/a",
                Route::Topic,
                &[("destination", "/topic/a")],
                b"hi",
            ),
            (
                "/user/ann%2Fx/queue/q",
                Route::User,
                &[("k", "a:b\nc\\d"), ("k", "second"), ("bp-origin", "spoof")],
                b"\0binary\0",
            ),
            ("/topic/empty", Route::Topic, &[], b""),
        ];
        for &(destination, route, headers, body) in cases {
            let message = Message {
                destination: destination.into(),
                headers: headers.iter().copied().collect(),
                body: Bytes::copy_from_slice(body),
            };
            let payload = encode_message("i-1", 42, route, &message);
            let expected = Envelope::Message {
                origin: "i-1".into(),
                seq: 42,
                route,
                message: MessageParts {
                    destination: message.destination.clone(),
                    headers: message.headers.clone(),
                    body: message.body.clone(),
                },
            };
            assert_eq!(decode(&payload), Ok(expected), "{destination}");
        }
    }

    #[test]
    fn presence_round_trips() {
        let users = |names: &[&str]| -> Vec<(ByteString, ())> {
            names.iter().map(|&u| (u.into(), ())).collect()
        };
        let cases: Vec<PresenceAnnouncement> = vec![
            Announcement::Hello,
            Announcement::Snapshot {
                version: 7,
                entries: users(&["ann", "b:ob\n"]),
            },
            Announcement::Snapshot {
                version: 0,
                entries: Vec::new(),
            },
            Announcement::Update {
                version: 8,
                change: Change::Put("ann".into(), ()),
            },
            Announcement::Update {
                version: u64::MAX,
                change: Change::Remove("x\\y".into()),
            },
            Announcement::Heartbeat { version: 3 },
            Announcement::Sync {
                target: "i-3".into(),
            },
            Announcement::Bye,
        ];
        for announcement in cases {
            let payload = encode_presence("i-2", &announcement);
            let expected = Envelope::Presence {
                origin: "i-2".into(),
                announcement: announcement.clone(),
            };
            assert_eq!(decode(&payload), Ok(expected), "{announcement:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            b"",
            b"SEND\n\n",
            b"SEND\n\n\0",
            b"SEND\nbp-origin:x\n\n\0",
            b"SEND\nbp-origin:x\nbp-event:message\nbp-seq:nope\nbp-dest:/t\n\n\0",
            b"SEND\nbp-origin:x\nbp-event:dance\nbp-version:1\n\n\0",
            // A join, leave or sync names exactly one user.
            b"SEND\nbp-origin:x\nbp-event:join\nbp-version:1\n\n\0",
            b"SEND\nbp-origin:x\nbp-event:leave\nbp-version:1\nuser:a\nuser:b\n\n\0",
            b"SEND\nbp-origin:x\nbp-event:sync\nbp-version:0\n\n\0",
            b"SEND\nbp-origin:x\nbp-event:heartbeat\nbp-version:-1\n\n\0",
            b"\xff\xfe",
        ];
        for &case in cases {
            assert!(decode(case).is_err(), "{case:?}");
        }
    }
}
