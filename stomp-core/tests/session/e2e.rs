//! End-to-end session tests over the embedded SimpleBroker, driven with raw bytes through
//! `Session::receive` (no sockets).

use std::sync::Arc;
use std::time::Duration;

use stomp_core::broker::simple::SimpleBroker;
use stomp_core::codec::Limits;
use stomp_core::engine::Session;
use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::frame::heartbeat::HeartBeat;
use stomp_core::frame::Headers;
use stomp_core::outbound::{CloseReason, Outbound, OutboundReceiver};
use stomp_core::{Command, Frame};

use crate::support::*;

fn engine_with(broker: &Arc<SimpleBroker>) -> Engine {
    Engine::builder().broker_arc(broker.clone()).build()
}

async fn wire_connect(engine: &Engine) -> (Session, OutboundReceiver) {
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    session
        .receive(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
        .await
        .unwrap();
    assert_eq!(next_frame(&mut rx).await.command, Command::Connected);
    (session, rx)
}

/// Every output item as text, for comparing transcripts.
fn transcript(rx: &mut OutboundReceiver) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(item) = rx.try_next() {
        match item {
            Outbound::Frame(b) => {
                let f = parse(&b);
                let mut line = f.command.to_string();
                for (k, v) in f.headers.iter() {
                    if k != "session" && k != "message-id" {
                        line.push_str(&format!(" {k}={v}"));
                    }
                }
                line.push_str(&format!(" |{}|", String::from_utf8_lossy(&f.body)));
                out.push(line);
            }
            Outbound::HeartBeat => out.push("beat".into()),
            Outbound::Text(_) => panic!("text is only for receivers that accept it"),
        }
    }
    out
}

const SCRIPT: &[u8] = b"CONNECT\naccept-version:1.1,1.2\nheart-beat:0,0\n\n\0\n\
SUBSCRIBE\ndestination:/topic/a\nid:0\nreceipt:r1\n\n\0\r\n\n\
SEND\ndestination:/topic/a\ncontent-type:text/plain\nx-weird:a\\cb\nreceipt:r2\n\nhello\0\
SEND\ndestination:/topic/a\ncontent-length:3\n\na\0b\0\n\
DISCONNECT\nreceipt:bye\n\n\0";

#[tokio::test]
async fn a_wire_script_gives_the_same_transcript_whatever_the_split() {
    let reference = {
        let engine = engine_with(&Arc::new(SimpleBroker::default()));
        let (mut s, mut rx) = engine.open_session(TransportInfo::default());
        assert!(
            s.receive(SCRIPT).await.is_err(),
            "DISCONNECT ends the session"
        );
        transcript(&mut rx)
    };
    let commands: Vec<_> = reference
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        commands,
        [
            "CONNECTED",
            "RECEIPT",
            "MESSAGE",
            "RECEIPT",
            "MESSAGE",
            "RECEIPT"
        ]
    );
    assert!(reference[2].contains("x-weird=a:b"), "{}", reference[2]);
    assert!(reference[2].ends_with("|hello|"), "{}", reference[2]);
    assert!(reference[4].ends_with("|a\0b|"), "{:?}", reference[4]);
    for split in 1..SCRIPT.len() {
        let broker = Arc::new(SimpleBroker::default());
        let engine = engine_with(&broker);
        let (mut s, mut rx) = engine.open_session(TransportInfo::default());
        let (a, b) = SCRIPT.split_at(split);
        if s.receive(a).await.is_ok() {
            assert!(s.receive(b).await.is_err());
        }
        assert_eq!(transcript(&mut rx), reference, "split at {split}");
        assert!(broker.is_empty(), "split at {split}");
    }
    let engine = engine_with(&Arc::new(SimpleBroker::default()));
    let (mut s, mut rx) = engine.open_session(TransportInfo::default());
    for byte in SCRIPT {
        if s.receive(std::slice::from_ref(byte)).await.is_err() {
            break;
        }
    }
    assert_eq!(transcript(&mut rx), reference, "one byte at a time");
}

#[tokio::test]
async fn framing_errors_and_limits_end_the_session_with_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"SEND\ndestination:/topic/a\nbad:x\\qy\n\n\0", "escape"),
        (b"FLY\n\n\0", "command"),
        (
            b"SEND\ndestination:/topic/a\n\n0123456789012345678901234567890123456789\0",
            "size",
        ),
    ];
    for (bytes, what) in cases {
        let broker = Arc::new(SimpleBroker::default());
        let engine = Engine::builder()
            .broker_arc(broker.clone())
            .codec_limits(Limits::default().with_max_frame_size(48))
            .build();
        let mut events = engine.subscribe_events();
        let (mut s, mut rx) = wire_connect(&engine).await;
        let err = s.receive(bytes).await.unwrap_err();
        assert!(matches!(err.reason, CloseReason::Error(_)), "{what}");
        let e = next_frame(&mut rx).await;
        assert_eq!(e.command, Command::Error, "{what}");
        assert!(matches!(
            next_out(&mut rx).await,
            Out::Close(CloseReason::Error(_))
        ));
        assert!(s
            .receive(b"SEND\ndestination:/topic/a\n\n\0")
            .await
            .is_err());
        assert!(engine.sessions().is_empty(), "{what}");
        let mut disconnected = 0;
        while let Ok(ev) = events.try_recv() {
            if matches!(ev, stomp_core::events::SessionEvent::Disconnected { .. }) {
                disconnected += 1;
            }
        }
        assert_eq!(disconnected, 1, "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn heart_beat_eols_keep_a_session_alive() {
    let engine = Engine::builder().heartbeat(HeartBeat::new(0, 1000)).build();
    let (mut s, mut rx) = engine.open_session(TransportInfo::default());
    s.receive(b"CONNECT\naccept-version:1.2\nheart-beat:1000,0\n\n\0")
        .await
        .unwrap();
    assert_eq!(next_frame(&mut rx).await.command, Command::Connected);
    for n in 0..20 {
        tokio::time::advance(Duration::from_millis(900)).await;
        tokio::task::yield_now().await;
        s.receive(if n % 2 == 0 { b"\n" } else { b"\r\n" })
            .await
            .unwrap();
    }
    assert_eq!(engine.sessions().len(), 1);
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::HeartBeatTimeout)
    ));
}

#[tokio::test]
async fn fan_out_reaches_every_subscribed_session() {
    let broker = Arc::new(SimpleBroker::default());
    let engine = engine_with(&broker);
    let mut subscribers = Vec::new();
    for _ in 0..100 {
        let (mut s, rx) = wire_connect(&engine).await;
        s.receive(b"SUBSCRIBE\ndestination:/topic/news\nid:sub-0\n\n\0")
            .await
            .unwrap();
        subscribers.push((s, rx));
    }
    let (mut producer, mut prx) = wire_connect(&engine).await;
    producer
        .receive(b"SEND\ndestination:/topic/news\nreceipt:sent\nx-k:v\n\nextra\0")
        .await
        .unwrap();
    assert_eq!(
        next_frame(&mut prx).await.headers.receipt_id(),
        Some("sent")
    );
    for (_, rx) in &mut subscribers {
        let m = next_frame(rx).await;
        assert_eq!(m.command, Command::Message);
        assert_eq!(m.headers.destination(), Some("/topic/news"));
        assert_eq!(m.headers.subscription(), Some("sub-0"));
        assert_eq!(m.headers.get("x-k"), Some("v"));
        assert!(m.headers.message_id().is_some());
        assert_eq!(&m.body[..], b"extra");
    }
    assert_eq!(engine.stats().subscriptions, 100);
    for (s, _) in subscribers {
        s.transport_closed().await;
    }
    producer.transport_closed().await;
    assert!(broker.is_empty());
    assert!(engine.sessions().is_empty());
}

#[tokio::test]
async fn a_queue_round_robins_across_sessions_and_honours_acks() {
    let broker = Arc::new(SimpleBroker::default());
    let engine = engine_with(&broker);
    let mut consumers = Vec::new();
    for _ in 0..3 {
        let (mut s, rx) = wire_connect(&engine).await;
        s.receive(b"SUBSCRIBE\ndestination:/queue/jobs\nid:q\nack:client-individual\n\n\0")
            .await
            .unwrap();
        consumers.push((s, rx));
    }
    let (mut producer, _prx) = wire_connect(&engine).await;
    for n in 0..9 {
        let f = Frame::new(Command::Send)
            .header("destination", "/queue/jobs")
            .body(format!("job{n}"));
        producer.handle_frame(f).await.unwrap();
    }
    let mut all = Vec::new();
    for (s, rx) in &mut consumers {
        let got = drain(rx);
        assert_eq!(got.len(), 3, "round robin");
        for m in got {
            let ack = m.headers.ack().unwrap().to_owned();
            all.push(String::from_utf8(m.body.to_vec()).unwrap());
            let f = frame(Command::Ack, &[("id", &ack), ("receipt", "a")]);
            s.handle_frame(f).await.unwrap();
            assert_eq!(next_frame(rx).await.command, Command::Receipt);
        }
    }
    all.sort();
    assert_eq!(all, (0..9).map(|n| format!("job{n}")).collect::<Vec<_>>());
    let (s, rx) = &mut consumers[0];
    s.handle_frame(frame(Command::Ack, &[("id", "no-such-ack")]))
        .await
        .unwrap_err();
    assert_eq!(next_frame(rx).await.command, Command::Error);
    for (s, _) in consumers {
        s.transport_closed().await;
    }
    producer.transport_closed().await;
    assert!(broker.is_empty());
}

#[tokio::test]
async fn user_destinations_reach_only_that_session() {
    let engine = Engine::builder().build();
    let (mut a, mut arx) = wire_connect(&engine).await;
    let (mut b, mut brx) = wire_connect(&engine).await;
    for s in [&mut a, &mut b] {
        s.receive(b"SUBSCRIBE\ndestination:/user/queue/reply\nid:r\n\n\0")
            .await
            .unwrap();
    }
    engine
        .template()
        .send_to_session(a.id(), "/queue/reply", Headers::new(), "for a")
        .await
        .unwrap();
    let m = next_frame(&mut arx).await;
    assert_eq!(
        (m.headers.subscription(), &m.body[..]),
        (Some("r"), &b"for a"[..])
    );
    assert!(drain(&mut brx).is_empty());
}

#[tokio::test]
async fn a_transaction_commits_through_the_broker() {
    let broker = Arc::new(SimpleBroker::default());
    let engine = engine_with(&broker);
    let (mut sub, mut srx) = wire_connect(&engine).await;
    sub.receive(b"SUBSCRIBE\ndestination:/topic/t\nid:1\n\n\0")
        .await
        .unwrap();
    let (mut p, _prx) = wire_connect(&engine).await;
    p.receive(
        b"BEGIN\ntransaction:tx\n\n\0SEND\ndestination:/topic/t\ntransaction:tx\n\none\0\
SEND\ndestination:/topic/t\ntransaction:tx\n\ntwo\0",
    )
    .await
    .unwrap();
    assert!(drain(&mut srx).is_empty(), "nothing before COMMIT");
    p.receive(b"COMMIT\ntransaction:tx\n\n\0").await.unwrap();
    let bodies: Vec<_> = drain(&mut srx).into_iter().map(|f| f.body).collect();
    assert_eq!(bodies, ["one", "two"]);
}

#[tokio::test]
async fn send_to_user_reaches_every_session_of_that_user_and_the_registry_empties() {
    let engine = Engine::builder()
        .authenticator(stomp_core::interceptor::InsecureLoginAuthenticator)
        .build();
    let login = |name: &str| {
        format!("CONNECT\naccept-version:1.2\nheart-beat:0,0\nlogin:{name}\n\n\0").into_bytes()
    };
    let mut sessions = Vec::new();
    for name in ["ann", "ann", "bob"] {
        let (mut s, mut rx) = engine.open_session(TransportInfo::default());
        s.receive(&login(name)).await.unwrap();
        assert_eq!(next_frame(&mut rx).await.command, Command::Connected);
        s.receive(b"SUBSCRIBE\ndestination:/user/queue/reply\nid:r\n\n\0")
            .await
            .unwrap();
        sessions.push((name, s, rx));
    }
    assert_eq!(engine.user_registry().sessions_of("ann").len(), 2);
    engine
        .template()
        .send_to_user("ann", "/queue/reply", "psst")
        .await
        .unwrap();
    for (name, _, rx) in &mut sessions {
        let got = drain(rx);
        if *name == "ann" {
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].headers.subscription(), Some("r"));
            assert_eq!(&got[0].body[..], b"psst");
        } else {
            assert!(got.is_empty());
        }
    }
    for (_, s, _) in sessions {
        s.transport_closed().await;
    }
    assert_eq!(engine.user_registry().user_count(), 0);
}

#[tokio::test]
async fn the_destination_policy_guards_sends_and_subscribes() {
    use stomp_core::authz::DestinationRules;
    let engine = Engine::builder()
        .destination_policy(
            DestinationRules::new()
                .subscribe("/topic/**")
                .permit_all()
                .send("/app/**")
                .permit_all()
                .otherwise_deny(),
        )
        .build();
    let cases: &[(&[u8], bool)] = &[
        (
            b"SUBSCRIBE\ndestination:/topic/a\nid:1\nreceipt:r\n\n\0",
            true,
        ),
        (b"SEND\ndestination:/topic/a\nreceipt:r\n\nx\0", false),
        (
            b"SUBSCRIBE\ndestination:/queue/a\nid:1\nreceipt:r\n\n\0",
            false,
        ),
    ];
    for (bytes, allowed) in cases {
        let (mut s, mut rx) = wire_connect(&engine).await;
        let result = s.receive(bytes).await;
        assert_eq!(
            result.is_ok(),
            *allowed,
            "{}",
            String::from_utf8_lossy(bytes)
        );
        let f = next_frame(&mut rx).await;
        let expected = if *allowed {
            Command::Receipt
        } else {
            Command::Error
        };
        assert_eq!(f.command, expected, "{f:?}");
        assert_eq!(f.headers.receipt_id(), Some("r"));
    }
}
