//! Socket-free tests of what differs between STOMP 1.0, 1.1 and 1.2 sessions: version
//! negotiation for every combination of `accept-version`, WebSocket subprotocol and the
//! engine's versions; ACK/NACK by `ack` (1.2), `message-id` + `subscription` (1.1) and
//! `message-id` (1.0) against the embedded broker; 1.0 subscriptions without `id` and
//! UNSUBSCRIBE by destination.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use stomp_core::broker::{SimpleBroker, SimpleBrokerConfig};
use stomp_core::codec::{Decoded, Decoder, Limits};
use stomp_core::engine::Session;
use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::outbound::{Next, Outbound, OutboundReceiver};
use stomp_core::{Command, Frame, Version};

const ALL: &[Version] = &[Version::V1_0, Version::V1_1, Version::V1_2];
const V11_UP: &[Version] = &[Version::V1_1, Version::V1_2];
const V12: &[Version] = &[Version::V1_2];
const V10: &[Version] = &[Version::V1_0];

/// Reads one server frame, decoded with `version`'s rules (escaping differs).
async fn next_frame(rx: &mut OutboundReceiver, version: Version) -> Frame {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
            Ok(Next::Item(Outbound::Frame(bytes))) => {
                let mut decoder = Decoder::new(Limits::unlimited());
                decoder.set_version(version);
                let mut buf = BytesMut::from(&bytes[..]);
                match decoder.decode(&mut buf) {
                    Ok(Some(Decoded::Frame(f))) => return f,
                    other => panic!("not one frame: {other:?} in {bytes:?}"),
                }
            }
            Ok(Next::Item(Outbound::HeartBeat)) => {}
            Ok(Next::Item(Outbound::Text(_))) => {
                panic!("text is only for receivers that accept it")
            }
            Ok(Next::Close(reason)) => panic!("closed: {reason:?}"),
            Err(_) => panic!("no frame within 5 s"),
        }
    }
}

fn frame(command: Command, headers: &[(&str, &str)]) -> Frame {
    let mut f = Frame::new(command);
    for (k, v) in headers {
        f = f.header(*k, *v);
    }
    f
}

/// The expected outcome of a CONNECT without a subprotocol in mind: the negotiated version
/// for engines supporting [ALL, V11_UP, V12, V10] (`None`: ERROR).
type Row = (Option<&'static str>, [Option<Version>; 4]);

#[tokio::test]
async fn negotiation_follows_accept_version_for_every_subprotocol() {
    use Version::{V1_0 as A, V1_1 as B, V1_2 as C};
    // The STOMP specification: the highest version in `accept-version` the server supports;
    // no `accept-version` means the client speaks 1.0 only. The WebSocket subprotocol plays
    // no part, so each row holds for every subprotocol (and none).
    let rows: &[Row] = &[
        (None, [Some(A), None, None, Some(A)]),
        (Some("1.0"), [Some(A), None, None, Some(A)]),
        (Some("1.1"), [Some(B), Some(B), None, None]),
        (Some("1.2"), [Some(C), Some(C), Some(C), None]),
        (Some("1.0,1.1"), [Some(B), Some(B), None, Some(A)]),
        (Some("1.1,1.2"), [Some(C), Some(C), Some(C), None]),
        (Some("1.0,1.1,1.2"), [Some(C), Some(C), Some(C), Some(A)]),
        (Some("1.2,1.0"), [Some(C), Some(C), Some(C), Some(A)]),
        (Some("1.0,2.0"), [Some(A), None, None, Some(A)]),
        (Some("2.0"), [None, None, None, None]),
        (Some(""), [None, None, None, None]),
    ];
    let engines = [ALL, V11_UP, V12, V10];
    let subprotocols = [None, Some(A), Some(B), Some(C)];
    let mut checked = 0;
    for (accept, expected) in rows {
        for (supported, expected) in engines.iter().zip(expected) {
            let engine = Engine::builder().versions(supported).build();
            for subprotocol in subprotocols {
                for command in [Command::Connect, Command::Stomp] {
                    let what = format!(
                        "{command} accept-version {accept:?}, subprotocol {:?}, engine {supported:?}",
                        subprotocol.map(Version::subprotocol)
                    );
                    let mut connect = frame(command, &[("host", "h"), ("heart-beat", "1000,1000")]);
                    if let Some(accept) = accept {
                        connect = connect.header("accept-version", *accept);
                    }
                    let transport = TransportInfo {
                        subprotocol,
                        ..TransportInfo::default()
                    };
                    let (mut session, mut rx) = engine.open_session(transport);
                    let result = session.handle_frame(connect).await;
                    let reply = next_frame(&mut rx, expected.unwrap_or(Version::V1_2)).await;
                    match expected {
                        Some(version) => {
                            assert!(result.is_ok(), "{what}: {result:?}");
                            assert_eq!(reply.command, Command::Connected, "{what}: {reply:?}");
                            assert_eq!(reply.headers.version(), Some(version.as_str()), "{what}");
                            assert_eq!(session.info().version, *version, "{what}");
                            // Heart-beats are 1.1 and later.
                            assert_eq!(
                                reply.headers.get("heart-beat").is_some(),
                                *version != Version::V1_0,
                                "{what}"
                            );
                        }
                        None => {
                            assert!(result.is_err(), "{what}");
                            assert_eq!(reply.command, Command::Error, "{what}: {reply:?}");
                            let listed: Vec<&str> = supported.iter().map(|v| v.as_str()).collect();
                            assert_eq!(reply.headers.version(), Some(&*listed.join(",")), "{what}");
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, rows.len() * 4 * 4 * 2);
}

/// A connected session of one version on an engine; MESSAGEs that arrive while a request
/// waits for its RECEIPT are kept for [`Conn::message`].
struct Conn {
    session: Session,
    rx: OutboundReceiver,
    version: Version,
    inbox: VecDeque<Frame>,
}

impl Conn {
    async fn open(engine: &Engine, version: Version) -> Conn {
        let (mut session, mut rx) = engine.open_session(TransportInfo {
            // Offered by every browser client; must not change the version.
            subprotocol: Some(Version::V1_2),
            ..TransportInfo::default()
        });
        let mut connect = frame(Command::Connect, &[("host", "h")]);
        if version != Version::V1_0 {
            connect = connect.header("accept-version", version.as_str());
        }
        session.handle_frame(connect).await.unwrap();
        let connected = next_frame(&mut rx, version).await;
        assert_eq!(connected.headers.version(), Some(version.as_str()));
        Conn {
            session,
            rx,
            version,
            inbox: VecDeque::new(),
        }
    }

    /// Sends `f` with a receipt and waits for it (an ERROR fails the test).
    async fn request(&mut self, f: Frame) {
        let command = f.command;
        self.session
            .handle_frame(f.header("receipt", "r"))
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        loop {
            let reply = next_frame(&mut self.rx, self.version).await;
            match reply.command {
                Command::Receipt => return,
                Command::Message => self.inbox.push_back(reply),
                _ => panic!("{command}: {reply:?}"),
            }
        }
    }

    /// Sends `f` and expects ERROR whose `message` starts with `message`; the session is over.
    async fn refused(&mut self, f: Frame, message: &str) {
        let command = f.command;
        assert!(
            self.session.handle_frame(f).await.is_err(),
            "{command} refused"
        );
        loop {
            let reply = next_frame(&mut self.rx, self.version).await;
            if reply.command == Command::Message {
                continue;
            }
            assert_eq!(reply.command, Command::Error, "{command}: {reply:?}");
            let got = reply.headers.message().unwrap_or_default();
            assert!(got.starts_with(message), "{got:?} is not {message:?}...");
            return;
        }
    }

    async fn send(&mut self, destination: &str, body: &str) {
        let f = frame(Command::Send, &[("destination", destination)]).body(body.to_owned());
        self.request(f).await;
    }

    async fn subscribe(&mut self, headers: &[(&str, &str)]) {
        self.request(frame(Command::Subscribe, headers)).await;
    }

    async fn message(&mut self) -> Frame {
        match self.inbox.pop_front() {
            Some(m) => m,
            None => {
                let m = next_frame(&mut self.rx, self.version).await;
                assert_eq!(m.command, Command::Message, "{m:?}");
                m
            }
        }
    }

    /// What a client of this version acknowledges `message` with, on subscription `sub`.
    fn ack(&self, command: Command, message: &Frame, sub: &str) -> Frame {
        let message_id = message.headers.message_id().unwrap();
        match self.version {
            Version::V1_2 => frame(command, &[("id", message.headers.get("ack").unwrap())]),
            Version::V1_1 => frame(
                command,
                &[("message-id", message_id), ("subscription", sub)],
            ),
            Version::V1_0 => frame(command, &[("message-id", message_id)]),
        }
    }
}

/// An engine on an embedded broker the test can look into.
fn engine_and_broker() -> (Engine, Arc<SimpleBroker>) {
    let broker = Arc::new(SimpleBroker::new(SimpleBrokerConfig::default()));
    (Engine::builder().broker_arc(broker.clone()).build(), broker)
}

const UNKNOWN: &str = "no message pending with ack id";

#[tokio::test]
async fn ack_and_nack_by_each_versions_ids_on_a_queue() {
    for version in [Version::V1_1, Version::V1_2] {
        let (engine, _) = engine_and_broker();
        let mut c = Conn::open(&engine, version).await;
        c.subscribe(&[
            ("id", "work"),
            ("destination", "/queue/jobs"),
            ("ack", "client-individual"),
        ])
        .await;
        for body in ["m1", "m2", "m3"] {
            c.send("/queue/jobs", body).await;
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(c.message().await);
        }
        let bodies: Vec<&[u8]> = got.iter().map(|m| &m.body[..]).collect();
        assert_eq!(bodies, [b"m1", b"m2", b"m3"], "{version}");
        // 1.0 and 1.1 know no `ack` header.
        assert_eq!(
            got[0].headers.get("ack").is_some(),
            version == Version::V1_2,
            "{version}"
        );
        c.request(c.ack(Command::Ack, &got[0], "work")).await;
        c.request(c.ack(Command::Nack, &got[1], "work")).await;
        let again = c.message().await;
        assert_eq!(
            &again.body[..],
            b"m2",
            "{version}: the NACKed message comes again"
        );
        c.request(c.ack(Command::Ack, &again, "work")).await;
        // In a transaction: takes effect on COMMIT.
        c.request(frame(Command::Begin, &[("transaction", "t")]))
            .await;
        c.request(
            c.ack(Command::Ack, &got[2], "work")
                .header("transaction", "t"),
        )
        .await;
        c.request(frame(Command::Commit, &[("transaction", "t")]))
            .await;
        // Everything settled: acking a settled delivery again is an error.
        c.refused(c.ack(Command::Ack, &got[2], "work"), UNKNOWN)
            .await;
    }
}

#[tokio::test]
async fn stomp_1_0_client_acks_are_cumulative_by_message_id() {
    let (engine, broker) = engine_and_broker();
    let mut c = Conn::open(&engine, Version::V1_0).await;
    // No `id`: the destination is the subscription's id.
    c.subscribe(&[("destination", "/queue/a"), ("ack", "client")])
        .await;
    for body in ["m1", "m2", "m3"] {
        c.send("/queue/a", body).await;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = c.message().await;
        assert_eq!(m.headers.subscription(), Some("/queue/a"));
        assert_eq!(m.headers.get("ack"), None);
        got.push(m);
    }
    let ids: Vec<&str> = got
        .iter()
        .map(|m| m.headers.message_id().unwrap())
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    c.request(c.ack(Command::Ack, &got[1], "")).await;
    // m1 went with m2 (cumulative); m3 is still pending.
    c.refused(c.ack(Command::Ack, &got[0], ""), UNKNOWN).await;
    // The session ended; so did its subscription, and m3 waits in the queue again.
    drop(c);
    tokio::time::timeout(Duration::from_secs(5), async {
        while broker.subscription_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(broker.stats().queued, 1);
}

#[tokio::test]
async fn stomp_1_0_nack_is_a_clear_error() {
    let (engine, _) = engine_and_broker();
    let mut c = Conn::open(&engine, Version::V1_0).await;
    c.subscribe(&[("destination", "/queue/n"), ("ack", "client")])
        .await;
    c.send("/queue/n", "x").await;
    let m = c.message().await;
    let nack = frame(
        Command::Nack,
        &[("message-id", m.headers.message_id().unwrap())],
    );
    c.refused(nack, "NACK is not part of STOMP 1.0").await;
}

#[tokio::test]
async fn stomp_1_1_ack_must_name_the_subscription_that_received_the_message() {
    let (engine, _) = engine_and_broker();
    for (sub, expected) in [
        (None, "missing subscription header"),
        (Some("two"), UNKNOWN),
    ] {
        let mut c = Conn::open(&engine, Version::V1_1).await;
        c.subscribe(&[
            ("id", "one"),
            ("destination", "/queue/one"),
            ("ack", "client"),
        ])
        .await;
        c.subscribe(&[
            ("id", "two"),
            ("destination", "/queue/two"),
            ("ack", "client"),
        ])
        .await;
        c.send("/queue/one", "x").await;
        let m = c.message().await;
        assert_eq!(m.headers.subscription(), Some("one"));
        let mut ack = frame(
            Command::Ack,
            &[("message-id", m.headers.message_id().unwrap())],
        );
        if let Some(sub) = sub {
            ack = ack.header("subscription", sub);
        }
        c.refused(ack, expected).await;
    }
}

#[tokio::test]
async fn a_session_cannot_acknowledge_another_sessions_delivery_in_any_version() {
    for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
        let (engine, _) = engine_and_broker();
        let mut owner = Conn::open(&engine, version).await;
        let mut thief = Conn::open(&engine, version).await;
        let sub = [
            ("id", "s"),
            ("destination", "/queue/o"),
            ("ack", "client-individual"),
        ];
        owner.subscribe(&sub).await;
        thief
            .subscribe(&[
                ("id", "s"),
                ("destination", "/queue/other"),
                ("ack", "client-individual"),
            ])
            .await;
        owner.send("/queue/o", "mine").await;
        let m = owner.message().await;
        thief
            .refused(thief.ack(Command::Ack, &m, "s"), UNKNOWN)
            .await;
        // The owner still can.
        owner.request(owner.ack(Command::Ack, &m, "s")).await;
    }
}

#[tokio::test]
async fn subscribe_without_id_and_unsubscribe_by_destination_are_1_0_only() {
    let (engine, broker) = engine_and_broker();
    let mut c = Conn::open(&engine, Version::V1_0).await;
    c.subscribe(&[("destination", "/topic/a")]).await;
    c.subscribe(&[("id", "b"), ("destination", "/topic/b")])
        .await;
    c.subscribe(&[("id", "b2"), ("destination", "/topic/b")])
        .await;
    assert_eq!(broker.subscription_count(), 3);
    c.send("/topic/a", "a").await;
    assert_eq!(c.message().await.headers.subscription(), Some("/topic/a"));
    // By destination: every subscription to it ends, with or without an id.
    c.request(frame(Command::Unsubscribe, &[("destination", "/topic/b")]))
        .await;
    assert_eq!(broker.subscription_count(), 1);
    c.request(frame(Command::Unsubscribe, &[("destination", "/topic/a")]))
        .await;
    assert_eq!(broker.subscription_count(), 0);

    for v in [Version::V1_1, Version::V1_2] {
        let mut c = Conn::open(&engine, v).await;
        c.refused(
            frame(Command::Subscribe, &[("destination", "/topic/a")]),
            "missing id header",
        )
        .await;
        let mut c = Conn::open(&engine, v).await;
        c.subscribe(&[("id", "x"), ("destination", "/topic/a")])
            .await;
        c.refused(
            frame(Command::Unsubscribe, &[("destination", "/topic/a")]),
            "missing id header",
        )
        .await;
    }
}

/// The next frame's bytes as the transport would write them.
async fn next_bytes(rx: &mut OutboundReceiver) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
            Ok(Next::Item(Outbound::Frame(bytes))) => {
                return String::from_utf8_lossy(&bytes).into_owned()
            }
            Ok(Next::Item(Outbound::HeartBeat)) => {}
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn header_escaping_follows_each_sessions_version() {
    // The value `a:b\c` (a colon and a backslash) as each version writes it.
    let wire = |v: Version| {
        if v == Version::V1_0 {
            r"a:b\c"
        } else {
            r"a\cb\\c"
        }
    };
    let engine = Engine::builder().build();
    let mut receivers = Vec::new();
    for version in ALL {
        let (mut session, mut rx) = engine.open_session(TransportInfo::default());
        let accept = if *version == Version::V1_0 {
            String::new()
        } else {
            format!("accept-version:{version}\n")
        };
        session
            .receive(format!("CONNECT\n{accept}host:h\n\n\0").as_bytes())
            .await
            .unwrap();
        assert!(next_bytes(&mut rx).await.starts_with("CONNECTED\n"));
        session
            .receive(b"SUBSCRIBE\nid:s\ndestination:/topic/esc\nreceipt:r\n\n\0")
            .await
            .unwrap();
        assert!(next_bytes(&mut rx).await.starts_with("RECEIPT\n"));
        receivers.push((*version, session, rx));
    }
    for sender in ALL {
        let send = format!(
            "SEND\ndestination:/topic/esc\nx-note:{}\n\nfrom {sender}\0",
            wire(*sender)
        );
        let (_, session, _) = receivers.iter_mut().find(|(v, _, _)| v == sender).unwrap();
        session.receive(send.as_bytes()).await.unwrap();
        for (version, _, rx) in &mut receivers {
            let message = next_bytes(rx).await;
            let expected = format!("\nx-note:{}\n", wire(*version));
            assert!(
                message.contains(&expected),
                "{sender} -> {version}: {message:?}"
            );
            assert!(
                message.ends_with(&format!("from {sender}\0")),
                "{message:?}"
            );
        }
    }
}
