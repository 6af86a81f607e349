//! Socket-free tests of session lifecycles: heart-beats (paused time), slow consumers,
//! lifecycle events, `close_session` and `shutdown`.

use std::time::Duration;

use stomp_core::engine::Session;
use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::events::SessionEvent;
use stomp_core::frame::heartbeat::HeartBeat;
use stomp_core::identity::SessionId;
use stomp_core::outbound::{CloseReason, OutboundConfig, OutboundReceiver, SlowConsumerPolicy};
use stomp_core::Command;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::support::*;

/// Lets spawned tasks run (current-thread runtime).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

async fn heartbeat_session(engine: &Engine, client: &str) -> (Session, OutboundReceiver) {
    connect_with(
        engine,
        TransportInfo::default(),
        frame(
            Command::Connect,
            &[("accept-version", "1.2"), ("heart-beat", client)],
        ),
    )
    .await
}

/// Waits for the Disconnected event of `id`, returning every event seen for it.
async fn events_until_disconnected(
    events: &mut broadcast::Receiver<SessionEvent>,
    id: &SessionId,
) -> Vec<SessionEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(3600), events.recv())
            .await
            .expect("no Disconnected event")
            .unwrap();
        if event.session_id() != id {
            continue;
        }
        let done = matches!(event, SessionEvent::Disconnected { .. });
        seen.push(event);
        if done {
            settle().await;
            while let Ok(extra) = events.try_recv() {
                assert_ne!(
                    extra.session_id(),
                    id,
                    "event after Disconnected: {extra:?}"
                );
            }
            return seen;
        }
    }
}

fn assert_one_connect_one_disconnect(events: &[SessionEvent], reason: &CloseReason) {
    let connected = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Connected { .. }))
        .count();
    let disconnected: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Disconnected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(connected, 1, "{events:?}");
    assert_eq!(disconnected, std::slice::from_ref(reason), "{events:?}");
    assert!(matches!(
        events.first(),
        Some(SessionEvent::Connected { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn server_beats_when_idle_at_the_negotiated_rate() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).heartbeat(HeartBeat::new(1000, 0)).build();
    // Client: cannot send beats, wants one every 500 ms -> server sends every max(1000, 500).
    let (_session, mut rx) = heartbeat_session(&engine, "0,500").await;
    let mut last = Instant::now();
    for _ in 0..5 {
        assert!(matches!(next_out(&mut rx).await, Out::HeartBeat));
        let gap = last.elapsed();
        assert!(
            gap >= Duration::from_millis(750) && gap <= Duration::from_millis(1000),
            "{gap:?}"
        );
        last = Instant::now();
    }
}

#[tokio::test(start_paused = true)]
async fn no_beats_while_frames_flow_and_none_when_not_negotiated() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).heartbeat(HeartBeat::new(1000, 0)).build();
    let (mut session, mut rx) = heartbeat_session(&engine, "0,1000").await;
    let (_quiet, mut quiet_rx) = heartbeat_session(&engine, "0,0").await;
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("destination", "/t"), ("id", "1")],
        ))
        .await
        .unwrap();
    let mut beats = 0;
    let mut messages = 0;
    for _ in 0..20 {
        engine.template().send("/t", "tick").await.unwrap();
        tokio::time::advance(Duration::from_millis(400)).await;
        settle().await;
        while let Some(item) = rx.try_next() {
            match item {
                stomp_core::outbound::Outbound::HeartBeat => beats += 1,
                stomp_core::outbound::Outbound::Frame(_)
                | stomp_core::outbound::Outbound::Text(_) => messages += 1,
            }
        }
    }
    assert_eq!(messages, 20);
    assert_eq!(beats, 0, "traffic every 400 ms needs no beat at 1000 ms");
    assert!(quiet_rx.try_next().is_none(), "0,0 client gets no beats");
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_closed_after_interval_times_tolerance() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker)
        .heartbeat(HeartBeat::new(0, 1000))
        .heartbeat_tolerance(2.0)
        .build();
    let mut events = engine.subscribe_events();
    let (session, mut rx) = heartbeat_session(&engine, "1000,0").await;
    let id = session.id().clone();
    let start = Instant::now();
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::HeartBeatTimeout)
    ));
    let waited = start.elapsed();
    assert!(
        waited > Duration::from_millis(2000) && waited <= Duration::from_millis(2300),
        "{waited:?}"
    );
    let seen = events_until_disconnected(&mut events, &id).await;
    assert_one_connect_one_disconnect(&seen, &CloseReason::HeartBeatTimeout);
    assert_eq!(engine.stats().heartbeat_timeouts, 1);
    assert!(engine.sessions().is_empty());
    assert!(broker.log().contains(&format!("closed {id}")));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_keeps_talking_stays_connected() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).heartbeat(HeartBeat::new(0, 1000)).build();
    let (mut session, mut rx) = heartbeat_session(&engine, "1000,0").await;
    for _ in 0..30 {
        tokio::time::advance(Duration::from_millis(900)).await;
        settle().await;
        session
            .handle_frame(frame(Command::Send, &[("destination", "/x")]))
            .await
            .unwrap();
    }
    assert!(rx.try_next().is_none());
    assert_eq!(engine.sessions().len(), 1);
    assert_eq!(engine.stats().heartbeat_timeouts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_is_evicted_while_fast_ones_keep_receiving() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker)
        .outbound(OutboundConfig {
            max_buffered_bytes: 64 * 1024,
            max_buffered_frames: 4,
            policy: SlowConsumerPolicy::Close,
        })
        .build();
    let mut events = engine.subscribe_events();
    let (mut slow, mut slow_rx) = connect(&engine).await;
    let mut fast = Vec::new();
    for _ in 0..3 {
        let (mut s, rx) = connect(&engine).await;
        s.handle_frame(frame(
            Command::Subscribe,
            &[("destination", "/t"), ("id", "0")],
        ))
        .await
        .unwrap();
        fast.push((s, rx, 0usize));
    }
    slow.handle_frame(frame(
        Command::Subscribe,
        &[("destination", "/t"), ("id", "0")],
    ))
    .await
    .unwrap();
    for n in 0..50 {
        engine.template().send("/t", format!("m{n}")).await.unwrap();
        for (_, rx, got) in &mut fast {
            *got += drain(rx).len();
        }
    }
    for (_, _, got) in &fast {
        assert_eq!(*got, 50, "fast consumers get everything");
    }
    assert!(matches!(
        next_out(&mut slow_rx).await,
        Out::Close(CloseReason::SlowConsumer)
    ));
    // The engine notices by itself (no transport action needed).
    let seen = events_until_disconnected(&mut events, slow.id()).await;
    assert!(seen.iter().any(|e| matches!(
        e,
        SessionEvent::Disconnected {
            reason: CloseReason::SlowConsumer,
            ..
        }
    )));
    assert_eq!(engine.stats().slow_consumer_closes, 1);
    assert_eq!(engine.sessions().len(), 3);
    assert_eq!(broker.subscription_count(), 3);
    assert!(slow
        .handle_frame(frame(Command::Send, &[("destination", "/x")]))
        .await
        .is_err());
}

#[tokio::test]
async fn drop_newest_keeps_a_slow_session_open() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker)
        .outbound(OutboundConfig {
            max_buffered_bytes: 64 * 1024,
            max_buffered_frames: 2,
            policy: SlowConsumerPolicy::DropNewest,
        })
        .build();
    let (mut s, mut rx) = connect(&engine).await;
    s.handle_frame(frame(
        Command::Subscribe,
        &[("destination", "/t"), ("id", "0")],
    ))
    .await
    .unwrap();
    for n in 0..10 {
        engine.template().send("/t", format!("m{n}")).await.unwrap();
    }
    let got: Vec<_> = drain(&mut rx).into_iter().map(|f| f.body).collect();
    assert_eq!(got, ["m0", "m1"]);
    s.handle_frame(frame(
        Command::Send,
        &[("destination", "/x"), ("receipt", "r")],
    ))
    .await
    .unwrap();
    assert_eq!(next_frame(&mut rx).await.command, Command::Receipt);
}

#[tokio::test(start_paused = true)]
async fn exactly_one_connected_and_one_disconnected_whatever_the_path() {
    let paths = [
        "disconnect",
        "error",
        "transport_closed",
        "dropped",
        "close_session",
        "shutdown",
    ];
    for path in paths {
        let broker = RecordingBroker::default();
        let engine = builder(&broker).build();
        let mut events = engine.subscribe_events();
        let (mut session, _rx) = connect(&engine).await;
        session
            .handle_frame(frame(
                Command::Subscribe,
                &[("destination", "/t"), ("id", "0")],
            ))
            .await
            .unwrap();
        assert_eq!(engine.stats().registered_sessions, 1, "{path}");
        let id = session.id().clone();
        let expected = match path {
            "disconnect" => {
                session
                    .handle_frame(frame(Command::Disconnect, &[]))
                    .await
                    .unwrap_err();
                session.transport_closed().await;
                CloseReason::ClientDisconnect
            }
            "error" => {
                session
                    .handle_frame(frame(Command::Send, &[]))
                    .await
                    .unwrap_err();
                session.transport_closed().await;
                CloseReason::Error("missing destination header".into())
            }
            "transport_closed" => {
                session.transport_closed().await;
                CloseReason::TransportClosed
            }
            "dropped" => {
                drop(session);
                CloseReason::TransportClosed
            }
            "close_session" => {
                assert!(engine.close_session(&id, "kicked"));
                assert!(!engine.close_session(&id, "again"));
                settle().await;
                session.transport_closed().await;
                CloseReason::Closed("kicked".into())
            }
            _ => {
                engine.shutdown().await;
                session.transport_closed().await;
                CloseReason::ServerShutdown
            }
        };
        let seen = events_until_disconnected(&mut events, &id).await;
        assert_one_connect_one_disconnect(&seen, &expected);
        assert!(
            seen.iter()
                .any(|e| matches!(e, SessionEvent::Subscribed { .. })),
            "{path}"
        );
        assert!(engine.sessions().is_empty(), "{path}");
        assert_eq!(broker.subscription_count(), 0, "{path}");
        assert_eq!(engine.stats().sessions, 0, "{path}");
        assert_eq!(engine.stats().subscriptions, 0, "{path}");
        assert_eq!(engine.stats().registered_sessions, 0, "{path}");
    }
}

#[tokio::test]
async fn subscribed_fires_after_registration_so_listener_messages_arrive() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let mut events = engine.subscribe_events();
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("destination", "/welcome"), ("id", "w")],
        ))
        .await
        .unwrap();
    loop {
        if let SessionEvent::Subscribed {
            destination, id, ..
        } = events.recv().await.unwrap()
        {
            assert_eq!((&*destination, &*id), ("/welcome", "w"));
            engine.template().send(destination, "hi").await.unwrap();
            break;
        }
    }
    let m = next_frame(&mut rx).await;
    assert_eq!((m.command, &m.body[..]), (Command::Message, &b"hi"[..]));
    session
        .handle_frame(frame(Command::Unsubscribe, &[("id", "w")]))
        .await
        .unwrap();
    assert!(matches!(
        events.recv().await.unwrap(),
        SessionEvent::Unsubscribed { .. }
    ));
}

#[tokio::test]
async fn close_session_sends_the_reason_then_closes() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let (session, mut rx) = connect(&engine).await;
    assert!(!engine.close_session(&SessionId::from("nope"), "x"));
    assert!(engine.close_session(session.id(), "you are banned"));
    let e = next_frame(&mut rx).await;
    assert_eq!(e.command, Command::Error);
    assert_eq!(e.headers.message(), Some("you are banned"));
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::Closed(r)) if r == "you are banned"
    ));
    settle().await;
    assert!(engine.sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn close_and_shutdown_wait_for_the_frame_in_hand_and_its_receipt() {
    let broker = RecordingBroker::default();
    let app = RecordingApp::default();
    let engine = builder(&broker).app(app.clone()).build();
    let (mut busy, mut busy_rx) = connect(&engine).await;
    let (_idle, mut idle_rx) = connect(&engine).await;
    let busy_id = busy.id().clone();
    let task = tokio::spawn(async move {
        let r = busy
            .handle_frame(frame(
                Command::Send,
                &[("destination", "/app/slow"), ("receipt", "r")],
            ))
            .await;
        (busy, r)
    });
    settle().await;
    assert!(
        engine.close_session(&busy_id, "later"),
        "deferred close accepted"
    );
    let shutdown = tokio::spawn({
        let engine = engine.clone();
        async move { engine.shutdown().await }
    });
    settle().await;
    // The idle session is closed at once.
    let e = next_frame(&mut idle_rx).await;
    assert_eq!(e.headers.message(), Some("server shutting down"));
    assert!(matches!(
        next_out(&mut idle_rx).await,
        Out::Close(CloseReason::ServerShutdown)
    ));
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for the busy session"
    );
    app.gate.notify_one();
    let (_busy, result) = task.await.unwrap();
    assert!(result.is_err(), "session ended after its frame");
    assert_eq!(
        next_frame(&mut busy_rx).await.headers.receipt_id(),
        Some("r")
    );
    let e = next_frame(&mut busy_rx).await;
    assert_eq!(
        e.headers.message(),
        Some("later"),
        "the first close request wins"
    );
    shutdown.await.unwrap();
    assert!(engine.sessions().is_empty());
    let log_len = broker.log().len();
    let (mut late, _) = engine.open_session(TransportInfo::default());
    let err = late.handle_frame(connect_frame()).await.unwrap_err();
    assert_eq!(
        err.reason,
        CloseReason::ServerShutdown,
        "closed after shutdown"
    );
    assert_eq!(
        broker.log().len(),
        log_len,
        "a late session never reaches the broker"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_bounded_in_time() {
    let broker = RecordingBroker::default();
    let app = RecordingApp::default();
    let engine = builder(&broker)
        .app(app)
        .drain_timeout(Duration::from_secs(2))
        .build();
    let mut events = engine.subscribe_events();
    let (mut stuck, _rx) = connect(&engine).await;
    let id = stuck.id().clone();
    let _task = tokio::spawn(async move {
        let _ = stuck
            .handle_frame(frame(Command::Send, &[("destination", "/app/slow")]))
            .await;
        stuck
    });
    settle().await;
    let start = Instant::now();
    engine.shutdown().await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(engine.sessions().is_empty());
    let seen = events_until_disconnected(&mut events, &id).await;
    assert_one_connect_one_disconnect(&seen, &CloseReason::ServerShutdown);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_left_behind_after_many_sessions() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let mut sessions = Vec::new();
    for n in 0..20 {
        let (mut s, rx) = connect(&engine).await;
        for k in 0..3 {
            s.handle_frame(frame(
                Command::Subscribe,
                &[("destination", &format!("/t/{k}")), ("id", &k.to_string())],
            ))
            .await
            .unwrap();
        }
        sessions.push((n, s, rx));
    }
    assert_eq!(engine.stats().subscriptions, 60);
    assert_eq!(broker.subscription_count(), 60);
    for (n, mut s, _rx) in sessions {
        match n % 4 {
            0 => {
                let _ = s.handle_frame(frame(Command::Disconnect, &[])).await;
            }
            1 => s.transport_closed().await,
            2 => drop(s),
            _ => {
                engine.close_session(s.id(), "bye");
            }
        }
    }
    settle().await;
    let stats = engine.stats();
    assert_eq!(
        (stats.sessions, stats.subscriptions, stats.sessions_total),
        (0, 0, 20)
    );
    assert!(engine.sessions().is_empty());
    assert_eq!(broker.subscription_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_sends_connect_is_closed() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker)
        .connect_timeout(Duration::from_secs(5))
        .build();
    let mut events = engine.subscribe_events();
    let (_session, mut rx) = engine.open_session(TransportInfo::default());
    let start = Instant::now();
    let e = next_frame(&mut rx).await;
    assert_eq!(e.headers.message(), Some("no CONNECT in time"));
    assert!(start.elapsed() > Duration::from_secs(5));
    assert!(start.elapsed() <= Duration::from_secs(6));
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::Error(_))
    ));
    settle().await;
    assert!(
        events.try_recv().is_err(),
        "no events for a never-connected session"
    );
    assert!(broker.log().is_empty());
}
