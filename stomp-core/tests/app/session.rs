//! The application router behind a real session: the engine hands SENDs and SUBSCRIBEs
//! under `/app` to it; replies come back as MESSAGEs, misses on `/user/queue/errors`.

use stomp_core::app::{on_message, on_subscribe, AppRouter, DestinationVar, Json};
use stomp_core::broker::{SimpleBroker, SimpleBrokerConfig};
use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::outbound::{Next, Outbound, OutboundReceiver};

async fn next_text(rx: &mut OutboundReceiver) -> String {
    match rx.next().await {
        Next::Item(Outbound::Frame(bytes)) => String::from_utf8(bytes.to_vec()).unwrap(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_session_reaches_handlers_under_the_application_prefix() {
    let router = AppRouter::builder()
        .route(
            "/chat/{room}",
            on_message(
                |DestinationVar(room): DestinationVar<String>, text: String| async move {
                    format!("{room}> {text}")
                },
            ),
        )
        .route("/rooms", on_subscribe(|| async { Json(["lobby"]) }))
        .build()
        .unwrap();
    let engine = Engine::builder()
        .broker(SimpleBroker::new(SimpleBrokerConfig::new()))
        .app(router)
        .build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    session
        .receive(b"CONNECT\naccept-version:1.2\nhost:h\n\n\0")
        .await
        .unwrap();
    assert!(next_text(&mut rx).await.starts_with("CONNECTED\n"));

    session
        .receive(b"SUBSCRIBE\nid:0\ndestination:/topic/chat/1\n\n\0")
        .await
        .unwrap();
    session
        .receive(b"SEND\ndestination:/app/chat/1\n\nhi\0")
        .await
        .unwrap();
    let message = next_text(&mut rx).await;
    assert!(message.starts_with("MESSAGE\n"), "{message}");
    assert!(message.contains("destination:/topic/chat/1\n"), "{message}");
    assert!(message.ends_with("\n\n1> hi\0"), "{message}");

    session
        .receive(b"SUBSCRIBE\nid:1\ndestination:/app/rooms\n\n\0")
        .await
        .unwrap();
    let reply = next_text(&mut rx).await;
    assert!(reply.starts_with("MESSAGE\nsubscription:1\n"), "{reply}");
    assert!(reply.ends_with("\n\n[\"lobby\"]\0"), "{reply}");

    // An unmapped destination is an application error: reported on the session's error
    // queue, the session stays open (errors.rs covers every class, and the Close policy).
    session
        .receive(b"SUBSCRIBE\nid:e\ndestination:/user/queue/errors\n\n\0")
        .await
        .unwrap();
    session
        .receive(b"SEND\ndestination:/app/nowhere\n\nx\0")
        .await
        .unwrap();
    let error = next_text(&mut rx).await;
    assert!(error.starts_with("MESSAGE\nsubscription:e\n"), "{error}");
    assert!(
        error.contains("message:no handler for destination"),
        "{error}"
    );
}
