//! Application errors keep the session (`AppErrorPolicy::Report`, the default): each class
//! of error (routing miss, each extractor rejection, a panic, a handler's own error) goes
//! to the exception handler for its type, else to the calling session's
//! `/user/queue/errors`, with the frame's `correlation-id` and `receipt` (as `receipt-id`);
//! `AppErrorPolicy::Close` makes the router's own errors ERROR frames again.

use std::time::Duration;

use crate::support::{body, Harness};
use bytes::Bytes;
use serde::Deserialize;
use stomp_core::app::{
    on_exception, on_message, on_subscribe, AppDispatch, AppError, AppErrorPolicy, AppRouter,
    AppRouterBuilder, DestinationVar, Header, MissingPrincipal, NamedHeader, Payload,
    PayloadRejection,
};
use stomp_core::broker::{Message, SimpleBroker, SimpleBrokerConfig};
use stomp_core::engine::{Engine, TransportInfo};
use stomp_core::identity::Principal;
use stomp_core::outbound::{Next, Outbound, OutboundReceiver};

#[derive(Debug, Deserialize)]
struct Chat {
    #[allow(dead_code)]
    text: String,
}

struct Priority;
impl NamedHeader for Priority {
    const NAME: &'static str = "priority";
    type Value = u8;
}

#[derive(Debug, thiserror::Error)]
#[error("room {0} is full")]
struct RoomFull(String);

/// One route per error class.
fn routes() -> AppRouterBuilder {
    AppRouter::builder()
        .route("/json", on_message(|Payload(_): Payload<Chat>| async {}))
        .route("/text", on_message(|_: String| async {}))
        .route("/num/{n}", on_message(|_: DestinationVar<u8>| async {}))
        .route("/hdr", on_message(|_: Header<Priority>| async {}))
        .route("/who", on_message(|_: Principal| async {}))
        .route(
            "/boom",
            on_message(|| async {
                if true {
                    panic!("kaboom")
                }
            }),
        )
        .route(
            "/full/{room}",
            on_message(|DestinationVar(room): DestinationVar<String>| async move {
                Err::<(), _>(RoomFull(room))
            }),
        )
        .route("/ok", on_message(|| async { "fine" }))
        .route("/rooms", on_subscribe(|| async { "lobby" }))
}

/// (path, body, expected `message` header) for every class of the router's own errors.
const CASES: &[(&str, &[u8], &str)] = &[
    ("/nowhere", b"", "no handler for destination"),
    ("/json", b"{not json", "invalid payload"),
    ("/text", b"\xff", "invalid message body"),
    ("/num/300", b"", "invalid destination variable"),
    ("/hdr", b"", "invalid header"),
    ("/who", b"", "not authenticated"),
    ("/boom", b"", "handler failed"),
];

fn only_error(h: &Harness) -> Message {
    let mut sent = h.broker.take();
    assert_eq!(sent.len(), 1, "one report: {sent:?}");
    let m = sent.remove(0);
    assert_eq!(m.destination, "/queue/errors-users1");
    assert_eq!(m.headers.destination(), Some("/user/queue/errors"));
    m
}

#[tokio::test]
async fn each_class_of_application_error_is_reported_on_the_sessions_error_queue() {
    // Anonymous: the report goes to the session, there is no user to address.
    let h = Harness::new(None);
    let r = routes().build().unwrap();
    for (path, payload, message) in CASES {
        let mut request = h.send(path, &[("correlation-id", "c-7"), ("receipt", "r-7")], "");
        request.frame.body = Bytes::from_static(payload);
        r.dispatch(request)
            .await
            .unwrap_or_else(|e| panic!("{path}: the session is kept, got {e:?}"));
        let m = only_error(&h);
        assert_eq!(m.headers.get("message"), Some(*message), "{path}");
        assert_eq!(m.headers.get("correlation-id"), Some("c-7"), "{path}");
        assert_eq!(m.headers.get("receipt-id"), Some("r-7"), "{path}");
        assert_eq!(
            m.headers.content_type(),
            Some("text/plain;charset=UTF-8"),
            "{path}"
        );
        assert!(!body(&m).is_empty(), "{path}: the detail is the body");
        assert!(!body(&m).contains("kaboom"), "panic text stays in the log");
    }
    // A SUBSCRIBE to an unmapped application destination, too.
    let (sub, _rx) = h.subscribe("/nope");
    r.dispatch(sub).await.unwrap();
    assert_eq!(
        only_error(&h).headers.get("message"),
        Some("no handler for destination")
    );
    // The router lives on.
    r.dispatch(h.send("/ok", &[], "")).await.unwrap();
    assert_eq!(body(&h.broker.take()[0]), "fine");
}

#[tokio::test]
async fn a_handlers_own_error_keeps_its_text_and_has_no_message_header() {
    let h = Harness::new(Some("ann"));
    let r = routes().build().unwrap();
    r.dispatch(h.send("/full/3", &[("receipt", "r-1")], ""))
        .await
        .unwrap();
    let m = only_error(&h);
    assert_eq!(body(&m), "room 3 is full");
    assert_eq!(m.headers.get("message"), None);
    assert_eq!(m.headers.get("receipt-id"), Some("r-1"));
}

#[tokio::test]
async fn rejections_reach_the_exception_handler_for_their_type_then_the_one_for_app_error() {
    let h = Harness::new(None);
    let r = routes()
        .exception_handler(
            on_exception(|e: PayloadRejection| async move { format!("payload: {e}") })
                .send_to("/topic/payload-errors"),
        )
        .exception_handler(
            on_exception(|e: AppError| async move { format!("app: {}", e.message) })
                .send_to("/topic/app-errors"),
        )
        .build()
        .unwrap();

    r.dispatch(h.send("/json", &[], "{")).await.unwrap();
    let sent = h.broker.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "/topic/payload-errors");
    assert!(body(&sent[0]).starts_with("payload: could not read the JSON payload"));

    for (path, message) in [
        ("/nowhere", "no handler for destination"),
        ("/who", "not authenticated"),
        ("/boom", "handler failed"),
    ] {
        r.dispatch(h.send(path, &[], "")).await.unwrap();
        let sent = h.broker.take();
        assert_eq!(sent.len(), 1, "{path}");
        assert_eq!(sent[0].destination, "/topic/app-errors", "{path}");
        assert_eq!(body(&sent[0]), format!("app: {message}"), "{path}");
    }
}

#[tokio::test]
async fn a_missing_principal_handler_sees_the_typed_rejection() {
    let h = Harness::new(None);
    let r = routes()
        .exception_handler(
            on_exception(|_: MissingPrincipal| async { "log in first" }).send_to("/topic/login"),
        )
        .build()
        .unwrap();
    r.dispatch(h.send("/who", &[], "")).await.unwrap();
    assert_eq!(body(&h.broker.take()[0]), "log in first");
}

#[tokio::test]
async fn a_panicking_exception_handler_is_reported_too() {
    let h = Harness::new(None);
    let r = routes()
        .exception_handler(on_exception(|_: RoomFull| async {
            if true {
                panic!("in the exception handler")
            }
        }))
        .build()
        .unwrap();
    r.dispatch(h.send("/full/1", &[], "")).await.unwrap();
    assert_eq!(
        only_error(&h).headers.get("message"),
        Some("handler failed")
    );
}

#[tokio::test]
async fn the_close_policy_makes_the_routers_own_errors_error_frames() {
    let h = Harness::new(None);
    let r = routes()
        .exception_handler(on_exception(|_: AppError| async { "never" }))
        .error_policy(AppErrorPolicy::Close)
        .build()
        .unwrap();
    for (path, payload, message) in CASES {
        let mut request = h.send(path, &[], "");
        request.frame.body = Bytes::from_static(payload);
        let err = r.dispatch(request).await.unwrap_err();
        assert_eq!(err.message, *message, "{path}");
    }
    assert!(h.broker.take().is_empty(), "no handler, no report");
    // A handler's own error is the application's business under both policies.
    r.dispatch(h.send("/full/2", &[], "")).await.unwrap();
    assert_eq!(body(&only_error(&h)), "room 2 is full");
}

// The router behind a real session: the session stays open, the RECEIPT follows the report.

async fn next_text(rx: &mut OutboundReceiver) -> String {
    match tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
        Ok(Next::Item(Outbound::Frame(bytes))) => String::from_utf8(bytes.to_vec()).unwrap(),
        Ok(other) => panic!("expected a frame, got {other:?}"),
        Err(_) => panic!("no frame within 5 s"),
    }
}

fn engine(policy: AppErrorPolicy) -> Engine {
    let router = AppRouter::builder()
        .route(
            "/chat/{room}",
            on_message(
                |DestinationVar(room): DestinationVar<String>,
                 Payload(chat): Payload<Chat>| async move {
                    format!("{room}> {}", chat.text)
                },
            ),
        )
        .error_policy(policy)
        .build()
        .unwrap();
    Engine::builder()
        .broker(SimpleBroker::new(SimpleBrokerConfig::new()))
        .app(router)
        .build()
}

#[tokio::test]
async fn a_session_survives_a_bad_payload_and_gets_its_receipt_after_the_report() {
    let (mut session, mut rx) =
        engine(AppErrorPolicy::default()).open_session(TransportInfo::default());
    session
        .receive(b"CONNECT\naccept-version:1.2\nhost:h\n\n\0")
        .await
        .unwrap();
    assert!(next_text(&mut rx).await.starts_with("CONNECTED\n"));
    session
        .receive(b"SUBSCRIBE\nid:e\ndestination:/user/queue/errors\n\n\0SUBSCRIBE\nid:t\ndestination:/topic/chat/1\n\n\0")
        .await
        .unwrap();

    session
        .receive(b"SEND\ndestination:/app/chat/1\nreceipt:r-1\ncorrelation-id:c-1\n\n{not json\0")
        .await
        .unwrap();
    let report = next_text(&mut rx).await;
    assert!(report.starts_with("MESSAGE\n"), "{report}");
    assert!(report.contains("subscription:e\n"), "{report}");
    assert!(
        report.contains("destination:/user/queue/errors\n"),
        "{report}"
    );
    assert!(report.contains("message:invalid payload\n"), "{report}");
    assert!(report.contains("receipt-id:r-1\n"), "{report}");
    assert!(report.contains("correlation-id:c-1\n"), "{report}");
    let receipt = next_text(&mut rx).await;
    assert!(
        receipt.starts_with("RECEIPT\nreceipt-id:r-1\n"),
        "{receipt}"
    );

    session
        .receive(b"SEND\ndestination:/app/chat/1\n\n{\"text\":\"hi\"}\0")
        .await
        .unwrap();
    let message = next_text(&mut rx).await;
    assert!(message.contains("subscription:t\n"), "{message}");
    assert!(message.ends_with("\n\n1> hi\0"), "{message}");
}

#[tokio::test]
async fn under_the_close_policy_a_bad_payload_ends_the_session_with_error() {
    let (mut session, mut rx) =
        engine(AppErrorPolicy::Close).open_session(TransportInfo::default());
    session
        .receive(b"CONNECT\naccept-version:1.2\nhost:h\n\n\0")
        .await
        .unwrap();
    assert!(next_text(&mut rx).await.starts_with("CONNECTED\n"));
    let _ = session
        .receive(b"SEND\ndestination:/app/chat/1\nreceipt:r-1\n\n{not json\0")
        .await;
    let error = next_text(&mut rx).await;
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert!(error.contains("message:invalid payload\n"), "{error}");
    assert!(error.contains("receipt-id:r-1\n"), "{error}");
    match tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
        Ok(Next::Close(_)) => {}
        other => panic!("expected the close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_routing_miss_never_lets_the_client_pick_the_exception_replys_topic() {
    // Old code: the miss was an ERROR and no handler ran; the default target of an
    // exception handler (`/topic` + destination) must not become `/topic/<anything>`.
    let h = Harness::new(None);
    let r = routes()
        .exception_handler(on_exception(|e: AppError| async move { e.message }))
        .build()
        .unwrap();
    r.dispatch(h.send("/chat.lobby", &[("correlation-id", "c")], ""))
        .await
        .unwrap();
    let m = only_error(&h);
    assert_eq!(body(&m), "no handler for destination");
    assert_eq!(m.headers.get("correlation-id"), Some("c"));
    // A mapped route's rejection keeps the default target (`/topic` + the route's path).
    r.dispatch(h.send("/json", &[], "{")).await.unwrap();
    assert_eq!(h.broker.take()[0].destination, "/topic/json");
}
