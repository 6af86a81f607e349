//! The commands of a connected session: SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN,
//! COMMIT, ABORT and DISCONNECT.

use bytestring::ByteString;

use crate::app::{AppRequest, AppRequestKind};
use crate::authz::Access;
use crate::broker::{AckMode, Acknowledgement, Message, Subscriber, Subscription};
use crate::events::SessionEvent;
use crate::frame::{name, Command, Frame, Headers};
use crate::identity::SessionInfo;
use crate::memory::{frame_cost, headers_cost};
use crate::version::Version;

use super::error::ProtocolError;
use super::{Outcome, Session};

/// What a broker subscription costs besides its headers, id and destination: the
/// broker's entries (by id, by key, trie or map slot), the user registry's, and ours.
const SUBSCRIPTION_OVERHEAD: usize = 512;

/// A required header: present and not empty.
fn required<'f>(frame: &'f Frame, header: &str) -> Result<&'f str, ProtocolError> {
    frame
        .headers
        .get(header)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProtocolError::missing_header(frame.command, header))
}

/// The delivery an ACK/NACK names, in the session's version: `id` in 1.2, `message-id` and
/// `subscription` in 1.1, `message-id` in 1.0.
fn acknowledgement(frame: &Frame, version: Version) -> Result<Acknowledgement<'_>, ProtocolError> {
    let nack = frame.command == Command::Nack;
    Ok(match version {
        Version::V1_2 => Acknowledgement::by_ack_id(required(frame, name::ID)?, nack),
        Version::V1_1 => Acknowledgement {
            nack,
            id: required(frame, name::MESSAGE_ID)?,
            subscription: Some(required(frame, name::SUBSCRIPTION)?),
            headers: None,
        },
        Version::V1_0 if nack => {
            return Err(ProtocolError::new(
                "NACK is not part of STOMP 1.0",
                "NACK requires STOMP 1.1 or later; this session negotiated 1.0",
            ))
        }
        Version::V1_0 => Acknowledgement {
            nack,
            id: required(frame, name::MESSAGE_ID)?,
            subscription: None,
            headers: None,
        },
    }
    .with_headers(&frame.headers))
}

/// The id of a SUBSCRIBE: its `id` header; in STOMP 1.0, where `id` is optional, the
/// destination when there is none.
fn subscription_id(frame: &Frame, version: Version) -> Result<&str, ProtocolError> {
    match frame.headers.get(name::ID).filter(|id| !id.is_empty()) {
        Some(id) => Ok(id),
        None if version == Version::V1_0 => required(frame, name::DESTINATION),
        None => Err(ProtocolError::missing_header(frame.command, name::ID)),
    }
}

/// Checks a client frame of a connected session before anything is done with it.
pub(super) fn validate(frame: &Frame, version: Version) -> Result<(), ProtocolError> {
    match frame.command {
        Command::Send => required(frame, name::DESTINATION).map(drop),
        Command::Subscribe => {
            required(frame, name::DESTINATION)?;
            subscription_id(frame, version)?;
            subscribe_ack(frame).map(drop)
        }
        // STOMP 1.0: UNSUBSCRIBE names an `id` or a `destination`.
        Command::Unsubscribe if version == Version::V1_0 && !frame.headers.contains(name::ID) => {
            required(frame, name::DESTINATION).map(drop)
        }
        Command::Unsubscribe => required(frame, name::ID).map(drop),
        Command::Ack | Command::Nack => acknowledgement(frame, version).map(drop),
        Command::Begin | Command::Commit | Command::Abort => {
            required(frame, name::TRANSACTION).map(drop)
        }
        Command::Disconnect => Ok(()),
        Command::Connect | Command::Stomp => Err(ProtocolError::new(
            "already connected",
            "CONNECT may only be sent once per connection",
        )),
        other => Err(ProtocolError::new(
            format!("unexpected command {other}"),
            format!("{other} is a server frame; clients may not send it"),
        )),
    }
}

fn subscribe_ack(frame: &Frame) -> Result<AckMode, ProtocolError> {
    match frame.headers.ack() {
        None => Ok(AckMode::Auto),
        Some(raw) => raw.parse().map_err(|e: crate::broker::InvalidAckMode| {
            ProtocolError::new("invalid ack mode", e.to_string())
        }),
    }
}

/// Checks the `destination` of a SEND or SUBSCRIBE against the engine's limits on its
/// length and segment count, so a frame's routing work stays bounded.
pub(super) fn check_destination(
    frame: &Frame,
    max_len: usize,
    max_segments: usize,
) -> Result<(), ProtocolError> {
    if !matches!(frame.command, Command::Send | Command::Subscribe) {
        return Ok(());
    }
    let Some(destination) = frame.headers.destination() else {
        return Ok(());
    };
    if destination.len() > max_len {
        return Err(ProtocolError::destination_too_long(
            destination.len(),
            max_len,
        ));
    }
    // `n` bytes hold at most `n` separators: a destination shorter than the limit cannot
    // pass it, and is not counted.
    if destination.len() < max_segments {
        return Ok(());
    }
    let segments = 1 + crate::destination::scan::count_either(destination.as_bytes(), b'/', b'.');
    if segments > max_segments {
        return Err(ProtocolError::too_many_segments(segments, max_segments));
    }
    Ok(())
}

/// Headers of a SEND as they travel on to subscribers: the SEND's own, moved (no copy),
/// without the session-only ones.
fn forwarded_headers(mut headers: Headers) -> Headers {
    headers.retain(|name| {
        !matches!(
            name,
            name::RECEIPT | name::TRANSACTION | name::CONTENT_LENGTH
        )
    });
    headers
}

impl Session {
    /// Validates and performs one frame of a connected session.
    pub(super) async fn command(
        &mut self,
        frame: Frame,
        info: &SessionInfo,
    ) -> Result<Outcome, ProtocolError> {
        validate(&frame, info.version)?;
        check_destination(
            &frame,
            self.engine.config.max_destination_len,
            self.engine.config.max_destination_segments,
        )?;
        let pipelined = self.pipelined(&frame);
        // Without a pipeline there is nothing to drain (`drain_app` is `true`).
        if !pipelined && self.pipeline.is_some() && !self.drain_app().await {
            return Ok(Outcome::Ended);
        }
        match frame.command {
            Command::Send if pipelined => return self.send(frame, info, true).await,
            Command::Send | Command::Ack | Command::Nack => {
                if let Some(tx) = frame.headers.transaction() {
                    let tx = tx.to_owned();
                    self.transactions.add(&tx, frame)?;
                } else {
                    self.apply(frame, info).await?;
                }
            }
            Command::Subscribe => return self.subscribe(frame, info, pipelined).await,
            Command::Unsubscribe => self.unsubscribe(&frame, info.version).await?,
            Command::Begin => self
                .transactions
                .begin(required(&frame, name::TRANSACTION)?)?,
            Command::Commit => {
                let frames = self
                    .transactions
                    .commit(required(&frame, name::TRANSACTION)?)?;
                for frame in frames {
                    self.apply(frame, info).await?;
                }
            }
            Command::Abort => self
                .transactions
                .abort(required(&frame, name::TRANSACTION)?)?,
            Command::Disconnect => return Ok(Outcome::Disconnect),
            _ => {}
        }
        Ok(Outcome::Continue)
    }

    /// Whether the frame goes to the app pipeline: a SEND outside a transaction or a
    /// SUBSCRIBE, to an application destination, with `app_concurrency > 1`.
    fn pipelined(&self, frame: &Frame) -> bool {
        self.pipeline.is_some()
            && match frame.command {
                Command::Send => frame.headers.transaction().is_none(),
                Command::Subscribe => true,
                _ => false,
            }
            && frame
                .headers
                .destination()
                .is_some_and(|d| self.engine.app_path(d).is_some())
    }

    /// Performs a SEND, ACK or NACK (directly, or on COMMIT), in order.
    async fn apply(&self, frame: Frame, info: &SessionInfo) -> Result<(), ProtocolError> {
        let broker = &self.engine.broker;
        match frame.command {
            Command::Send => self.send(frame, info, false).await.map(drop),
            Command::Ack | Command::Nack => {
                let ack = acknowledgement(&frame, info.version)?;
                Ok(broker.acknowledge(&info.id, ack).await?)
            }
            _ => Ok(()),
        }
    }

    /// A SEND; `pipelined`: an application dispatch goes to the app pipeline.
    async fn send(
        &self,
        frame: Frame,
        info: &SessionInfo,
        pipelined: bool,
    ) -> Result<Outcome, ProtocolError> {
        // The header's own ByteString (a slice of the decoded frame): no copy. Present and
        // not empty, as `required` checks, in the same lookup.
        let destination = frame
            .headers
            .value(name::DESTINATION)
            .filter(|d| !d.is_empty())
            .cloned()
            .ok_or_else(|| ProtocolError::missing_header(frame.command, name::DESTINATION))?;
        if let Some(path) = self.engine.app_path(&destination) {
            self.engine
                .channel
                .authorize(Access::Send, info, &destination)?;
            let lookup_path = ByteString::from(path);
            return self
                .dispatch(AppRequestKind::Send, frame, lookup_path, info, pipelined)
                .await;
        }
        // The broker may hold the message (a queue without a consumer): it counts against
        // the engine total through the broker's byte counter, so refuse it up front when
        // it would not fit.
        let cost = frame_cost(&frame);
        self.shared.memory.check_total(cost)?;
        let message = Message {
            headers: forwarded_headers(frame.headers),
            destination,
            body: frame.body,
        };
        // A queue the broker holds: the message counts against this session's share too
        // until it leaves the queue, so a few producers cannot fill every queue.
        if self.engine.broker.holds(&message.destination) {
            let charge = self.shared.memory.reserve_share(cost)?;
            self.engine
                .channel
                .send_charged(info, message, charge)
                .await?;
        } else {
            self.engine.channel.send_from(info, message).await?;
        }
        Ok(Outcome::Continue)
    }

    async fn dispatch(
        &self,
        kind: AppRequestKind,
        frame: Frame,
        lookup_path: ByteString,
        info: &SessionInfo,
        pipelined: bool,
    ) -> Result<Outcome, ProtocolError> {
        let Some(app) = &self.engine.app else {
            return Err(ProtocolError::new(
                "no application handler",
                format!(
                    "no handler for destination {:?}",
                    frame.headers.destination().unwrap_or_default()
                ),
            ));
        };
        let request = AppRequest {
            kind,
            frame,
            lookup_path,
            session: info.clone(),
            template: self.engine.template.clone(),
        };
        if let Some(pipeline) = self.pipeline.as_ref().filter(|_| pipelined) {
            let accepted = pipeline.submit(request, self.receipt.clone()).await;
            return Ok(if accepted {
                Outcome::Pipelined
            } else {
                Outcome::Ended
            });
        }
        app.dispatch(request).await?;
        Ok(Outcome::Continue)
    }

    fn subscriber(&self, info: &SessionInfo) -> Subscriber {
        Subscriber {
            session: info.id.clone(),
            version: info.version,
            outbound: self.shared.outbound.clone(),
        }
    }

    /// A SUBSCRIBE; `pipelined`: a subscribe mapping goes to the app pipeline.
    async fn subscribe(
        &self,
        frame: Frame,
        info: &SessionInfo,
        pipelined: bool,
    ) -> Result<Outcome, ProtocolError> {
        let id = ByteString::from(subscription_id(&frame, info.version)?);
        let destination = ByteString::from(required(&frame, name::DESTINATION)?);
        let ack = subscribe_ack(&frame)?;
        if self.shared.has_subscription(&id) {
            return Err(crate::broker::BrokerError::DuplicateSubscription(id.to_string()).into());
        }
        if let Some(path) = self.engine.app_path(&destination) {
            self.engine
                .channel
                .authorize(Access::Subscribe, info, &destination)?;
            // A one-shot request (subscribe mapping): answered by the handler, never
            // registered with the broker.
            let kind = AppRequestKind::Subscribe {
                subscriber: self.subscriber(info),
                subscription_id: id,
            };
            let lookup_path = ByteString::from(path);
            return self
                .dispatch(kind, frame, lookup_path, info, pipelined)
                .await;
        }
        let max = self.engine.config.max_subscriptions;
        if self.shared.subscription_count() >= max {
            return Err(ProtocolError::new(
                "too many subscriptions",
                format!("a session may hold at most {max} subscriptions"),
            ));
        }
        // Charged before the broker holds anything: its headers (kept with the
        // subscription), the id and destination kept here, and the structures around them.
        let held = self.shared.memory.reserve(
            headers_cost(&frame.headers) + id.len() + destination.len() + SUBSCRIPTION_OVERHEAD,
        )?;
        // The channel authorizes, resolves user destinations and registers with the broker.
        let subscription = Subscription {
            subscriber: self.subscriber(info),
            id: id.clone(),
            destination: destination.clone(),
            ack,
            headers: frame.headers,
        };
        self.engine.channel.subscribe(info, subscription).await?;
        self.shared
            .add_subscription(id.clone(), destination.clone(), held);
        let _ = self.engine.events.send(SessionEvent::Subscribed {
            session: info.id.clone(),
            id,
            destination,
        });
        Ok(Outcome::Continue)
    }

    /// UNSUBSCRIBE of an id the session does not hold is accepted and does nothing: clients
    /// unsubscribe from one-shot application subscriptions too. In STOMP 1.0 an UNSUBSCRIBE
    /// without `id` names a `destination`: every subscription of the session to it ends.
    async fn unsubscribe(&self, frame: &Frame, version: Version) -> Result<(), ProtocolError> {
        if version == Version::V1_0 && !frame.headers.contains(name::ID) {
            let destination = required(frame, name::DESTINATION)?;
            let ids: Vec<ByteString> = self
                .shared
                .subscriptions()
                .into_iter()
                .filter(|(_, d)| d == destination)
                .map(|(id, _)| id)
                .collect();
            for id in ids {
                self.unsubscribe_id(&id).await?;
            }
            return Ok(());
        }
        self.unsubscribe_id(required(frame, name::ID)?).await
    }

    async fn unsubscribe_id(&self, id: &str) -> Result<(), ProtocolError> {
        if !self.shared.has_subscription(id) {
            return Ok(());
        }
        self.engine.channel.unsubscribe(&self.shared.id, id).await?;
        self.shared.remove_subscription(id);
        let _ = self.engine.events.send(SessionEvent::Unsubscribed {
            session: self.shared.id.clone(),
            id: ByteString::from(id),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let f = |c: Command, h: &[(&str, &str)]| {
            let mut frame = Frame::new(c);
            for (k, v) in h {
                frame = frame.header(*k, *v);
            }
            frame
        };
        let v12 = Version::V1_2;
        let cases: Vec<(Frame, Version, Option<&str>)> = vec![
            (f(Command::Send, &[("destination", "/q")]), v12, None),
            (
                f(Command::Send, &[]),
                v12,
                Some("missing destination header"),
            ),
            (
                f(Command::Send, &[("destination", "")]),
                v12,
                Some("missing destination header"),
            ),
            (
                f(Command::Subscribe, &[("destination", "/q"), ("id", "1")]),
                v12,
                None,
            ),
            (
                f(Command::Subscribe, &[("id", "1")]),
                v12,
                Some("missing destination header"),
            ),
            (
                f(Command::Subscribe, &[("destination", "/q")]),
                v12,
                Some("missing id header"),
            ),
            (
                f(
                    Command::Subscribe,
                    &[("destination", "/q"), ("id", "1"), ("ack", "sometimes")],
                ),
                v12,
                Some("invalid ack mode"),
            ),
            (f(Command::Unsubscribe, &[]), v12, Some("missing id header")),
            (f(Command::Ack, &[]), v12, Some("missing id header")),
            (f(Command::Nack, &[]), v12, Some("missing id header")),
            (
                f(Command::Ack, &[("message-id", "m"), ("subscription", "s")]),
                Version::V1_1,
                None,
            ),
            (
                f(Command::Ack, &[("message-id", "m")]),
                Version::V1_1,
                Some("missing subscription header"),
            ),
            (f(Command::Ack, &[("message-id", "m")]), Version::V1_0, None),
            (
                f(Command::Subscribe, &[("destination", "/q")]),
                Version::V1_0,
                None,
            ),
            (
                f(Command::Subscribe, &[("destination", "/q")]),
                Version::V1_1,
                Some("missing id header"),
            ),
            (
                f(Command::Unsubscribe, &[("destination", "/q")]),
                Version::V1_0,
                None,
            ),
            (
                f(Command::Unsubscribe, &[]),
                Version::V1_0,
                Some("missing destination header"),
            ),
            (
                f(Command::Unsubscribe, &[("destination", "/q")]),
                Version::V1_1,
                Some("missing id header"),
            ),
            (
                f(Command::Ack, &[("id", "m")]),
                Version::V1_1,
                Some("missing message-id header"),
            ),
            (
                f(Command::Nack, &[("message-id", "m")]),
                Version::V1_0,
                Some("NACK is not part of STOMP 1.0"),
            ),
            (
                f(Command::Begin, &[]),
                v12,
                Some("missing transaction header"),
            ),
            (
                f(Command::Commit, &[]),
                v12,
                Some("missing transaction header"),
            ),
            (
                f(Command::Abort, &[]),
                v12,
                Some("missing transaction header"),
            ),
            (f(Command::Disconnect, &[]), v12, None),
            (f(Command::Connect, &[]), v12, Some("already connected")),
            (f(Command::Stomp, &[]), v12, Some("already connected")),
            (
                f(Command::Message, &[]),
                v12,
                Some("unexpected command MESSAGE"),
            ),
            (
                f(Command::Receipt, &[]),
                v12,
                Some("unexpected command RECEIPT"),
            ),
            (
                f(Command::Error, &[]),
                v12,
                Some("unexpected command ERROR"),
            ),
            (
                f(Command::Connected, &[]),
                v12,
                Some("unexpected command CONNECTED"),
            ),
        ];
        for (frame, version, expected) in cases {
            let got = validate(&frame, version).err().map(|e| e.message);
            assert_eq!(got.as_deref(), expected, "{:?} {version}", frame.command);
        }
    }

    #[test]
    fn destination_limits_agree_with_a_full_count() {
        let destinations = [
            "",
            "/",
            "//",
            "/a",
            "/a/b",
            "/a.b/c",
            "a.b.c.d",
            "/a/b/c/",
            "////",
            "/ü/日本/x",
            "/topic/pair-17",
            "/topic/*",
            "/topic/**/x",
            "/user/queue/x-users1",
        ];
        for destination in destinations {
            for max_segments in 0..8 {
                for command in [Command::Send, Command::Subscribe] {
                    let frame = Frame::new(command).header("destination", destination);
                    let segments = 1 + destination.matches(['/', '.']).count();
                    let got = check_destination(&frame, 1024, max_segments).map_err(|e| e.message);
                    let want = if segments > max_segments {
                        Err(ProtocolError::too_many_segments(segments, max_segments).message)
                    } else {
                        Ok(())
                    };
                    assert_eq!(got, want, "{destination:?} max {max_segments}");
                }
            }
            let frame = Frame::new(Command::Send).header("destination", destination);
            let too_long = check_destination(&frame, 3, 64).is_err();
            assert_eq!(too_long, destination.len() > 3, "{destination:?}");
        }
    }

    #[test]
    fn forwarded_headers_drop_session_only_headers() {
        let mut h = Headers::new();
        for (k, v) in [
            ("destination", "/q"),
            ("receipt", "r"),
            ("transaction", "t"),
            ("content-length", "3"),
            ("content-type", "text/plain"),
            ("x-user", "1"),
        ] {
            h.append(k, v);
        }
        let out = forwarded_headers(h);
        let names: Vec<_> = out.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["destination", "content-type", "x-user"]);
    }
}
