//! Outbound interceptors (Spring's `clientOutboundChannel`): per session, they see every
//! MESSAGE, RECEIPT and ERROR, and may change or drop it, before it is queued.

use std::sync::{Arc, Mutex};

use crate::support::{connect_with, drain, frame, next_frame, Out};
use bytes::Bytes;
use stomp_core::broker::{SimpleBroker, SimpleBrokerConfig};
use stomp_core::engine::{Engine, EngineBuilder, TransportInfo};
use stomp_core::identity::SessionInfo;
use stomp_core::interceptor::InsecureLoginAuthenticator;
use stomp_core::outbound::OutboundReceiver;
use stomp_core::{Command, Frame};

type Seen = Arc<Mutex<Vec<(String, Command)>>>;

fn base() -> EngineBuilder {
    Engine::builder()
        .broker(SimpleBroker::new(SimpleBrokerConfig::new()))
        .authenticator(InsecureLoginAuthenticator)
}

/// Records what it sees; for ann: tags MESSAGEs and upper-cases their body; for bob:
/// drops `/topic/secret`; tags every ERROR.
fn engine(seen: &Seen) -> Engine {
    let seen = seen.clone();
    base()
        .outbound_interceptor(move |session: &SessionInfo, frame: Frame| {
            let user = session
                .principal
                .as_ref()
                .map_or("-", |p| p.name())
                .to_owned();
            seen.lock().unwrap().push((user.clone(), frame.command));
            match (frame.command, user.as_str()) {
                (Command::Message, "ann") => {
                    let body = Bytes::from(frame.body.to_ascii_uppercase());
                    Some(frame.header("x-for", "ann").body(body))
                }
                (Command::Message, "bob")
                    if frame.headers.destination() == Some("/topic/secret") =>
                {
                    None
                }
                (Command::Error, _) => Some(frame.header("x-intercepted", "yes")),
                _ => Some(frame),
            }
        })
        .build()
}

async fn login(engine: &Engine, name: &str) -> (stomp_core::engine::Session, OutboundReceiver) {
    connect_with(
        engine,
        TransportInfo::default(),
        frame(
            Command::Connect,
            &[
                ("accept-version", "1.2"),
                ("heart-beat", "0,0"),
                ("login", name),
            ],
        ),
    )
    .await
}

#[tokio::test]
async fn interceptors_change_and_drop_messages_per_session_and_see_receipts_and_errors() {
    let seen = Seen::default();
    let engine = engine(&seen);
    let (mut ann, mut ann_rx) = login(&engine, "ann").await;
    let (mut bob, mut bob_rx) = login(&engine, "bob").await;
    for (session, rx) in [(&mut ann, &mut ann_rx), (&mut bob, &mut bob_rx)] {
        for (id, destination) in [("0", "/topic/news"), ("1", "/topic/secret")] {
            session
                .handle_frame(frame(
                    Command::Subscribe,
                    &[("id", id), ("destination", destination), ("receipt", id)],
                ))
                .await
                .unwrap();
            let receipt = next_frame(rx).await;
            assert_eq!(receipt.command, Command::Receipt);
            assert_eq!(receipt.headers.receipt_id(), Some(id));
        }
    }
    // A header value that needs escaping survives the decode / re-encode.
    for (destination, body) in [("/topic/news", "hi"), ("/topic/secret", "psst")] {
        ann.handle_frame(
            frame(
                Command::Send,
                &[("destination", destination), ("note", "a:b\\c")],
            )
            .body(body.to_owned()),
        )
        .await
        .unwrap();
    }

    let for_ann = [next_frame(&mut ann_rx).await, next_frame(&mut ann_rx).await];
    for (m, body) in for_ann.iter().zip(["HI", "PSST"]) {
        assert_eq!(m.command, Command::Message);
        assert_eq!(&m.body[..], body.as_bytes());
        assert_eq!(m.headers.get("x-for"), Some("ann"));
        assert_eq!(m.headers.get("note"), Some("a:b\\c"));
        assert_eq!(
            m.headers.get("content-length"),
            Some(body.len().to_string().as_str())
        );
    }
    let news = next_frame(&mut bob_rx).await;
    assert_eq!(&news.body[..], b"hi", "bob's copy is untouched");
    assert_eq!(news.headers.get("x-for"), None);
    assert_eq!(news.headers.get("note"), Some("a:b\\c"));

    // Bob's /topic/secret copy was dropped: the next thing bob gets is this RECEIPT.
    bob.handle_frame(frame(
        Command::Unsubscribe,
        &[("id", "1"), ("receipt", "u")],
    ))
    .await
    .unwrap();
    let next = next_frame(&mut bob_rx).await;
    assert_eq!(next.command, Command::Receipt, "{next:?}");
    assert_eq!(next.headers.receipt_id(), Some("u"));

    // A protocol error: the ERROR passes through the interceptor, then the session closes.
    let _ = bob.handle_frame(frame(Command::Send, &[])).await;
    let error = next_frame(&mut bob_rx).await;
    assert_eq!(error.command, Command::Error);
    assert_eq!(error.headers.get("x-intercepted"), Some("yes"));
    assert!(drain(&mut bob_rx).is_empty());

    let seen = seen.lock().unwrap().clone();
    for expected in [
        ("ann", Command::Receipt),
        ("ann", Command::Message),
        ("bob", Command::Receipt),
        ("bob", Command::Message),
        ("bob", Command::Error),
    ] {
        let expected = (expected.0.to_owned(), expected.1);
        assert!(seen.contains(&expected), "{expected:?} in {seen:?}");
    }
    assert!(
        !seen.iter().any(|(_, c)| *c == Command::Connected),
        "CONNECTED is not intercepted: {seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|(u, c)| u == "bob" && *c == Command::Message)
            .count(),
        2,
        "bob's dropped copy was seen too"
    );
}

#[tokio::test]
async fn interceptors_run_in_order_and_see_frames_refused_before_connected() {
    let seen = Seen::default();
    let (first, second) = (seen.clone(), seen.clone());
    let engine = base()
        .outbound_interceptor(move |s: &SessionInfo, f: Frame| {
            first
                .lock()
                .unwrap()
                .push((format!("1 {}", s.id), f.command));
            Some(f.header("x-order", "1"))
        })
        .outbound_interceptor(move |s: &SessionInfo, f: Frame| {
            assert_eq!(f.headers.get("x-order"), Some("1"), "runs after the first");
            second
                .lock()
                .unwrap()
                .push((format!("2 {}", s.id), f.command));
            Some(f)
        })
        .build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    // Not a CONNECT: refused with ERROR before the session is connected.
    let _ = session.handle_frame(frame(Command::Send, &[])).await;
    let error = next_frame(&mut rx).await;
    assert_eq!(error.command, Command::Error);
    assert_eq!(error.headers.get("x-order"), Some("1"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, c)| *c == Command::Error));
    assert!(matches!(
        crate::support::next_out(&mut rx).await,
        Out::Close(_)
    ));
}
