//! Socket-free tests of the session state machine: CONNECT, receipts, errors and routing.

use stomp_core::engine::TransportInfo;
use stomp_core::outbound::CloseReason;
use stomp_core::{Command, Frame, Version};

use crate::support::*;

#[tokio::test]
async fn connected_carries_version_heartbeat_session_and_server() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).server_name("test/1").build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    let connect = frame(
        Command::Stomp,
        &[
            ("accept-version", "1.0,1.1,1.2"),
            ("heart-beat", "0,0"),
            ("host", "h"),
        ],
    );
    session.handle_frame(connect).await.unwrap();
    let f = next_frame(&mut rx).await;
    assert_eq!(f.command, Command::Connected);
    assert_eq!(f.headers.version(), Some("1.2"));
    assert_eq!(f.headers.get("heart-beat"), Some("10000,10000"));
    assert_eq!(f.headers.get("session"), Some(session.id().as_str()));
    assert_eq!(f.headers.get("server"), Some("test/1"));
    assert_eq!(broker.log(), [format!("opened {}", session.id())]);
    assert_eq!(engine.sessions().len(), 1);
    assert_eq!(engine.stats().sessions, 1);
}

#[tokio::test]
async fn version_negotiation_follows_accept_version_not_the_subprotocol() {
    // Every combination: tests/versions.rs.
    let cases: &[(Option<&str>, Option<Version>, &str)] = &[
        (Some("1.1,1.0"), None, "1.1"),
        (None, None, "1.0"),
        (None, Some(Version::V1_1), "1.0"),
        (Some("1.2"), Some(Version::V1_0), "1.2"),
    ];
    for (accept, subprotocol, expected) in cases {
        let broker = RecordingBroker::default();
        let engine = builder(&broker).build();
        let mut connect = Frame::new(Command::Connect);
        if let Some(accept) = accept {
            connect = connect.header("accept-version", *accept);
        }
        let transport = TransportInfo {
            subprotocol: *subprotocol,
            ..TransportInfo::default()
        };
        let (mut session, mut rx) = engine.open_session(transport);
        session.handle_frame(connect).await.unwrap();
        let f = next_frame(&mut rx).await;
        assert_eq!(
            f.headers.version(),
            Some(*expected),
            "{accept:?} {subprotocol:?}"
        );
        if *expected == "1.0" {
            assert_eq!(f.headers.get("heart-beat"), None, "no heart-beats in 1.0");
        }
    }
}

#[tokio::test]
async fn no_common_version_is_an_error_listing_supported_versions() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker)
        .versions(&[Version::V1_1, Version::V1_2])
        .build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    let err = session
        .handle_frame(frame(
            Command::Connect,
            &[("accept-version", "1.0,3.0"), ("receipt", "c")],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err.reason, CloseReason::Error(_)));
    let f = next_frame(&mut rx).await;
    assert_eq!(f.command, Command::Error);
    assert_eq!(f.headers.get("version"), Some("1.1,1.2"));
    assert_eq!(f.headers.receipt_id(), Some("c"));
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::Error(_))
    ));
    assert!(engine.sessions().is_empty());
}

#[tokio::test]
async fn first_frame_must_be_connect_and_nothing_is_accepted_after_error() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    let send = frame(
        Command::Send,
        &[("destination", "/topic/a"), ("receipt", "r1")],
    );
    assert!(session.handle_frame(send.clone()).await.is_err());
    let f = next_frame(&mut rx).await;
    assert_eq!(f.command, Command::Error);
    assert_eq!(f.headers.message(), Some("expected CONNECT"));
    assert_eq!(f.headers.receipt_id(), Some("r1"));
    assert!(session.handle_frame(connect_frame()).await.is_err());
    assert!(matches!(next_out(&mut rx).await, Out::Close(_)));
    assert!(broker.log().is_empty(), "{:?}", broker.log());
    assert_eq!(engine.stats().errors_sent, 1);
}

#[tokio::test]
async fn every_malformed_frame_is_an_error_with_its_receipt_id() {
    let cases: Vec<(Frame, &str)> = vec![
        (frame(Command::Send, &[]), "missing destination header"),
        (
            frame(Command::Subscribe, &[("id", "1")]),
            "missing destination header",
        ),
        (
            frame(Command::Subscribe, &[("destination", "/q")]),
            "missing id header",
        ),
        (
            frame(
                Command::Subscribe,
                &[("destination", "/q"), ("id", "1"), ("ack", "maybe")],
            ),
            "invalid ack mode",
        ),
        (frame(Command::Unsubscribe, &[]), "missing id header"),
        (frame(Command::Ack, &[]), "missing id header"),
        (frame(Command::Nack, &[]), "missing id header"),
        (frame(Command::Begin, &[]), "missing transaction header"),
        (frame(Command::Commit, &[]), "missing transaction header"),
        (frame(Command::Abort, &[]), "missing transaction header"),
        (
            frame(Command::Commit, &[("transaction", "nope")]),
            "unknown transaction",
        ),
        (
            frame(Command::Abort, &[("transaction", "nope")]),
            "unknown transaction",
        ),
        (
            frame(
                Command::Send,
                &[("destination", "/q"), ("transaction", "nope")],
            ),
            "unknown transaction",
        ),
        (connect_frame(), "already connected"),
        (frame(Command::Message, &[]), "unexpected command MESSAGE"),
        (frame(Command::Error, &[]), "unexpected command ERROR"),
    ];
    for (bad, expected) in cases {
        let broker = RecordingBroker::default();
        let engine = builder(&broker).build();
        let (mut session, mut rx) = connect(&engine).await;
        let command = bad.command;
        let bad = bad.header("receipt", "bad-1");
        let err = session.handle_frame(bad).await.unwrap_err();
        assert_eq!(err.reason, CloseReason::Error(expected.into()), "{command}");
        let f = next_frame(&mut rx).await;
        assert_eq!(f.command, Command::Error, "{command}");
        assert_eq!(f.headers.message(), Some(expected), "{command}");
        assert_eq!(f.headers.receipt_id(), Some("bad-1"), "{command}");
        assert!(
            matches!(next_out(&mut rx).await, Out::Close(_)),
            "{command}"
        );
        let ok = frame(Command::Send, &[("destination", "/q")]);
        assert!(
            session.handle_frame(ok).await.is_err(),
            "closed after ERROR"
        );
        assert!(
            !broker
                .log()
                .iter()
                .any(|l| l.starts_with("publish") || l.starts_with("subscribe")),
            "{command}: {:?}",
            broker.log()
        );
        assert!(engine.sessions().is_empty(), "{command}");
    }
}

#[tokio::test]
async fn every_command_gets_its_receipt_after_taking_effect() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).app(RecordingApp::default()).build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    session
        .handle_frame(connect_frame().header("receipt", "r-connect"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut rx).await.command, Command::Connected);
    assert_eq!(
        next_frame(&mut rx).await.headers.receipt_id(),
        Some("r-connect")
    );
    let steps: Vec<(Frame, Option<&str>)> = vec![
        (
            frame(
                Command::Subscribe,
                &[("destination", "/topic/a"), ("id", "s1")],
            ),
            Some("subscribe s1 /topic/a"),
        ),
        (
            frame(Command::Send, &[("destination", "/topic/b")]),
            Some("publish /topic/b "),
        ),
        (frame(Command::Send, &[("destination", "/app/x")]), None),
        (
            frame(
                Command::Subscribe,
                &[("destination", "/app/y"), ("id", "s2")],
            ),
            None,
        ),
        (frame(Command::Ack, &[("id", "a1")]), Some("ack a1")),
        (frame(Command::Nack, &[("id", "a2")]), Some("nack a2")),
        (frame(Command::Begin, &[("transaction", "t")]), None),
        (
            frame(
                Command::Send,
                &[("destination", "/topic/c"), ("transaction", "t")],
            ),
            None,
        ),
        (
            frame(Command::Commit, &[("transaction", "t")]),
            Some("publish /topic/c "),
        ),
        (frame(Command::Begin, &[("transaction", "t2")]), None),
        (frame(Command::Abort, &[("transaction", "t2")]), None),
        (
            frame(Command::Unsubscribe, &[("id", "s1")]),
            Some("unsubscribe s1"),
        ),
        (frame(Command::Unsubscribe, &[("id", "never")]), None),
    ];
    for (n, (f, effect)) in steps.into_iter().enumerate() {
        let receipt = format!("r{n}");
        let command = f.command;
        session
            .handle_frame(f.header("receipt", receipt.as_str()))
            .await
            .unwrap();
        let mut got = next_frame(&mut rx).await;
        if got.command == Command::Message {
            got = next_frame(&mut rx).await; // the app's subscribe reply comes first
        }
        assert_eq!(got.command, Command::Receipt, "{command}");
        assert_eq!(
            got.headers.receipt_id(),
            Some(receipt.as_str()),
            "{command}"
        );
        if let Some(effect) = effect {
            assert_eq!(
                broker.log().last().map(String::as_str),
                Some(effect),
                "{command}"
            );
        }
    }
    let err = session
        .handle_frame(frame(Command::Disconnect, &[("receipt", "bye")]))
        .await
        .unwrap_err();
    assert_eq!(err.reason, CloseReason::ClientDisconnect);
    assert_eq!(next_frame(&mut rx).await.headers.receipt_id(), Some("bye"));
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::ClientDisconnect)
    ));
    assert!(broker.log().last().unwrap().starts_with("closed"));
}

#[tokio::test]
async fn a_receipted_subscribe_is_live() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[
                ("destination", "/topic/live"),
                ("id", "0"),
                ("receipt", "r"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut rx).await.command, Command::Receipt);
    engine
        .template()
        .send("/topic/live", "hello")
        .await
        .unwrap();
    let m = next_frame(&mut rx).await;
    assert_eq!(m.command, Command::Message);
    assert_eq!(m.headers.subscription(), Some("0"));
    assert_eq!(&m.body[..], b"hello");
}

#[tokio::test]
async fn app_destinations_go_to_the_app_and_app_subscribes_are_one_shot() {
    let broker = RecordingBroker::default();
    let app = RecordingApp::default();
    let engine = builder(&broker)
        .app_destination_prefix("/app")
        .app_destination_prefix("/rpc/")
        .app(app.clone())
        .build();
    let (mut session, mut rx) = connect(&engine).await;
    for f in [
        frame(Command::Send, &[("destination", "/app/chat/1")]),
        frame(Command::Send, &[("destination", "/rpc/sum")]),
        frame(Command::Send, &[("destination", "/application")]),
        frame(
            Command::Subscribe,
            &[("destination", "/app/rooms"), ("id", "7")],
        ),
    ] {
        session.handle_frame(f).await.unwrap();
    }
    assert_eq!(
        *app.requests.lock().unwrap(),
        ["send /chat/1", "send sum", "subscribe /rooms"]
    );
    assert_eq!(
        broker.log(),
        [
            format!("opened {}", session.id()),
            "publish /application ".to_owned(),
        ]
    );
    let reply = next_frame(&mut rx).await;
    assert_eq!(reply.headers.subscription(), Some("7"));
    assert_eq!(
        broker.subscription_count(),
        0,
        "app SUBSCRIBE is not registered"
    );
    assert!(engine.sessions()[0].subscriptions.is_empty());

    session
        .handle_frame(frame(
            Command::Send,
            &[("destination", "/app/fail"), ("receipt", "x")],
        ))
        .await
        .unwrap_err();
    let e = next_frame(&mut rx).await;
    assert_eq!(e.command, Command::Error);
    assert_eq!(e.headers.message(), Some("handler failed"));
    assert_eq!(&e.body[..], b"boom");
    assert_eq!(e.headers.receipt_id(), Some("x"));
}

#[tokio::test]
async fn app_destination_without_an_app_is_an_error() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(frame(Command::Send, &[("destination", "/app/x")]))
        .await
        .unwrap_err();
    assert_eq!(
        next_frame(&mut rx).await.headers.message(),
        Some("no application handler")
    );
}

#[tokio::test]
async fn subscriptions_are_bounded_and_ids_unique() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).max_subscriptions_per_session(2).build();
    let (mut session, mut rx) = connect(&engine).await;
    for id in ["a", "b"] {
        session
            .handle_frame(frame(
                Command::Subscribe,
                &[("destination", "/t"), ("id", id)],
            ))
            .await
            .unwrap();
    }
    assert_eq!(engine.stats().subscriptions, 2);
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("destination", "/t"), ("id", "c")],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        next_frame(&mut rx).await.headers.message(),
        Some("too many subscriptions")
    );
    assert_eq!(broker.subscription_count(), 0, "released on close");
    assert_eq!(engine.stats().subscriptions, 0);

    let (mut session, mut rx) = connect(&engine).await;
    let sub = frame(Command::Subscribe, &[("destination", "/t"), ("id", "a")]);
    session.handle_frame(sub.clone()).await.unwrap();
    session.handle_frame(sub).await.unwrap_err();
    let e = next_frame(&mut rx).await;
    assert!(
        e.headers.message().unwrap().contains("already in use"),
        "{e:?}"
    );
}

#[tokio::test]
async fn user_destination_subscriptions_are_resolved_per_session() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let (mut session, _rx) = connect(&engine).await;
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("destination", "/user/queue/reply"), ("id", "u")],
        ))
        .await
        .unwrap();
    assert_eq!(
        broker.log().last().unwrap(),
        &format!("subscribe u /queue/reply-user{}", session.id())
    );
    assert_eq!(engine.sessions()[0].subscriptions[0].1, "/user/queue/reply");
}

#[tokio::test]
async fn broker_errors_become_error_frames() {
    let broker = RecordingBroker::default();
    broker.state.lock().unwrap().fail_ack = true;
    let engine = builder(&broker).build();
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(frame(Command::Ack, &[("id", "zz")]))
        .await
        .unwrap_err();
    let e = next_frame(&mut rx).await;
    assert_eq!(
        e.headers.message(),
        Some("no message pending with ack id \"zz\"")
    );
}

#[test]
fn engine_and_session_futures_can_move_across_tasks() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<stomp_core::engine::Engine>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let engine = stomp_core::engine::Engine::builder().build();
    let (mut session, rx) = engine.open_session(TransportInfo::default());
    send(&rx);
    send(&session.receive(b""));
    send(&session.handle_frame(connect_frame()));
    send(&engine.shutdown());
    send(&session.transport_closed());
}
