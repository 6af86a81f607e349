//! The application router with plain (macro-free) handlers: routing, extractors, reply
//! rules, exception handlers, panics.

use std::sync::Arc;

use crate::support::{body, Harness};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stomp_core::app::{
    on_exception, on_message, on_subscribe, AppDispatch, AppError, AppErrorPolicy, AppRouter,
    AppRouterBuilder, ContentType, Controller, ControllerRoutes, DestinationVar, DestinationVars,
    FromRef, Header, Json, NamedHeader, Payload, Reply, RouteError, RouteKind, State,
};
use stomp_core::identity::{Attributes, Principal, SessionId, SessionInfo};
use stomp_core::outbound::{Next, Outbound};
use stomp_core::template::MessagingTemplate;
use stomp_core::{Frame, Headers};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Chat {
    from: String,
    text: String,
}

fn router(builder: AppRouterBuilder) -> AppRouter {
    builder.build().expect("valid routes")
}

/// A router whose application errors are ERROR frames (`AppErrorPolicy::Close`, the old
/// behaviour; the default is tested in `errors.rs`).
fn closing(builder: AppRouterBuilder) -> AppRouter {
    router(builder.error_policy(AppErrorPolicy::Close))
}

async fn echo(
    DestinationVar(room): DestinationVar<String>,
    Payload(msg): Payload<Chat>,
) -> Json<Chat> {
    Json(Chat {
        from: room,
        text: msg.text,
    })
}

#[tokio::test]
async fn default_destination_is_topic_plus_lookup_path_with_json() {
    let h = Harness::new(None);
    let r = router(AppRouter::builder().route("/chat/{room}", on_message(echo)));
    r.dispatch(h.send("/chat/7", &[], r#"{"from":"x","text":"hi"}"#))
        .await
        .unwrap();
    let sent = h.broker.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "/topic/chat/7");
    assert_eq!(sent[0].headers.content_type(), Some("application/json"));
    assert_eq!(sent[0].headers.destination(), Some("/topic/chat/7"));
    let got: Chat = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(
        got,
        Chat {
            from: "7".into(),
            text: "hi".into()
        }
    );
}

#[tokio::test]
async fn send_to_fills_placeholders_and_allows_several_destinations() {
    let h = Harness::new(None);
    let r = router(
        AppRouter::builder().route(
            "/chat/{room}/{user}",
            on_message(
                |DestinationVar((room, user)): DestinationVar<(String, u32)>| async move {
                    format!("{room}:{user}")
                },
            )
            .send_to("/topic/chat/{room}")
            .send_to("/topic/users/{user}/log"),
        ),
    );
    r.dispatch(h.send("/chat/lobby/42", &[], "")).await.unwrap();
    let sent = h.broker.take();
    let dests: Vec<_> = sent.iter().map(|m| m.destination.to_string()).collect();
    assert_eq!(dests, ["/topic/chat/lobby", "/topic/users/42/log"]);
    assert!(sent.iter().all(|m| body(m) == "lobby:42"));
    assert_eq!(
        sent[0].headers.content_type(),
        Some("text/plain;charset=UTF-8")
    );
}

#[tokio::test]
async fn send_to_user_broadcasts_to_the_users_sessions_or_answers_the_session_only() {
    // ann has two sessions subscribed to /user/queue/reply: s1 (the caller) and s2.
    let cases: [(Option<&str>, bool, &[&str]); 3] = [
        (
            Some("ann"),
            true,
            &["/queue/reply-users1", "/queue/reply-users2"],
        ),
        (Some("ann"), false, &["/queue/reply-users1"]),
        (None, true, &["/queue/reply-users1"]),
    ];
    for (user, broadcast, expected) in cases {
        let h = Harness::new(user);
        h.user_session("s1", "ann", "/queue/reply");
        h.user_session("s2", "ann", "/queue/reply");
        let r = router(
            AppRouter::builder().route(
                "/ask",
                on_message(|| async { "answer" })
                    .send_to_user("/queue/reply")
                    .broadcast(broadcast),
            ),
        );
        r.dispatch(h.send("/ask", &[], "")).await.unwrap();
        let sent = h.broker.take();
        let mut dests: Vec<_> = sent.iter().map(|m| m.destination.to_string()).collect();
        dests.sort();
        assert_eq!(dests, expected, "{user:?} broadcast={broadcast}");
        assert!(sent.iter().all(|m| body(m) == "answer"));
    }
}

#[tokio::test]
async fn subscribe_mapping_replies_straight_to_the_subscriber() {
    let h = Harness::new(None);
    let r = router(
        AppRouter::builder().route("/rooms", on_subscribe(|| async { Json(vec!["a", "b"]) })),
    );
    let (request, mut outbound) = h.subscribe("/rooms");
    r.dispatch(request).await.unwrap();
    assert!(
        h.broker.take().is_empty(),
        "nothing goes through the broker"
    );
    let Next::Item(Outbound::Frame(frame)) = outbound.next().await else {
        panic!("expected a MESSAGE");
    };
    let text = std::str::from_utf8(&frame).unwrap();
    assert!(
        text.starts_with("MESSAGE\nsubscription:sub-0\nmessage-id:app-"),
        "{text}"
    );
    assert!(text.contains("\ndestination:/app/rooms\n"), "{text}");
    assert!(text.contains("\ncontent-type:application/json\n"), "{text}");
    assert!(text.ends_with("\n\n[\"a\",\"b\"]\0"), "{text}");

    // Two replies never share a message-id.
    let (request, mut outbound2) = h.subscribe("/rooms");
    r.dispatch(request).await.unwrap();
    let Next::Item(Outbound::Frame(frame2)) = outbound2.next().await else {
        panic!("expected a MESSAGE");
    };
    let id = |f: &Bytes| {
        let t = std::str::from_utf8(f).unwrap().to_owned();
        t.lines()
            .find(|l| l.starts_with("message-id:"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(id(&frame), id(&frame2));
}

#[tokio::test]
async fn subscribe_and_send_routes_are_separate() {
    let h = Harness::new(None);
    let r = closing(AppRouter::builder().route("/rooms", on_subscribe(|| async { "x" })));
    let err = r.dispatch(h.send("/rooms", &[], "")).await.unwrap_err();
    assert_eq!(err.message, "no handler for destination");
    assert!(err.detail.contains("message_mapping"), "{}", err.detail);
    let (sub, _rx) = h.subscribe("/nope");
    assert!(r.dispatch(sub).await.is_err());
}

#[tokio::test]
async fn unit_and_none_send_nothing() {
    let h = Harness::new(None);
    let r = router(
        AppRouter::builder()
            .route("/unit", on_message(|| async {}))
            .route("/none", on_message(|| async { None::<String> }))
            .route(
                "/some",
                on_message(|| async { Some(Bytes::from_static(b"\x00\x01")) }),
            ),
    );
    for path in ["/unit", "/none", "/some"] {
        r.dispatch(h.send(path, &[], "")).await.unwrap();
    }
    let sent = h.broker.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "/topic/some");
    assert_eq!(
        sent[0].headers.content_type(),
        Some("application/octet-stream")
    );
    assert_eq!(&sent[0].body[..], b"\x00\x01");
}

#[tokio::test]
async fn correlation_id_is_copied_onto_replies() {
    let h = Harness::new(None);
    let r = router(AppRouter::builder().route(
        "/q",
        on_message(|| async { Reply::text("a").header("x-extra", "1") }),
    ));
    r.dispatch(h.send("/q", &[("correlation-id", "c-9")], ""))
        .await
        .unwrap();
    r.dispatch(h.send("/q", &[], "")).await.unwrap();
    let sent = h.broker.take();
    assert_eq!(sent[0].headers.get("correlation-id"), Some("c-9"));
    assert_eq!(sent[0].headers.get("x-extra"), Some("1"));
    assert_eq!(sent[1].headers.get("correlation-id"), None);
}

#[derive(Debug, thiserror::Error)]
#[error("room {0} is full")]
struct RoomFull(String);

#[derive(Debug, thiserror::Error)]
#[error("other failure")]
struct Other;

async fn join(DestinationVar(room): DestinationVar<String>) -> Result<String, RoomFull> {
    Err(RoomFull(room))
}

#[tokio::test]
async fn result_errors_go_to_the_exception_handler_for_their_type() {
    let h = Harness::new(Some("ann"));
    h.user_session("s1", "ann", "/queue/errors");
    let r = router(
        AppRouter::builder()
            .route("/join/{room}", on_message(join))
            .exception_handler(on_exception(|e: Other| async move { e.to_string() }))
            .exception_handler(
                on_exception(
                    |e: RoomFull, Header(ct, ..): Header<ContentType>| async move {
                        format!("sorry: {e} ({ct})")
                    },
                )
                .send_to_user("/queue/errors"),
            ),
    );
    r.dispatch(h.send(
        "/join/9",
        &[("content-type", "text/plain"), ("correlation-id", "c1")],
        "",
    ))
    .await
    .unwrap();
    let sent = h.broker.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "/queue/errors-users1");
    assert_eq!(sent[0].headers.destination(), Some("/user/queue/errors"));
    assert_eq!(body(&sent[0]), "sorry: room 9 is full (text/plain)");
    assert_eq!(sent[0].headers.get("correlation-id"), Some("c1"));
}

#[tokio::test]
async fn unhandled_errors_go_to_the_sessions_error_queue() {
    let h = Harness::new(Some("ann"));
    let r = router(
        AppRouter::builder()
            .route("/join/{room}", on_message(join))
            .exception_handler(on_exception(|_: Other| async {})),
    );
    r.dispatch(h.send("/join/3", &[("correlation-id", "c2")], ""))
        .await
        .unwrap();
    let sent = h.broker.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, "/queue/errors-users1");
    assert_eq!(body(&sent[0]), "room 3 is full");
    assert_eq!(sent[0].headers.get("correlation-id"), Some("c2"));
}

#[tokio::test]
async fn routing_misses_are_errors() {
    let h = Harness::new(None);
    let r = closing(AppRouter::builder().route("/a/{x}", on_message(|| async {})));
    for path in ["/b", "/a", "/a/1/2", ""] {
        let err = r.dispatch(h.send(path, &[], "")).await.unwrap_err();
        assert_eq!(err.message, "no handler for destination", "{path}");
    }
}

#[test]
fn route_conflicts_and_bad_templates_are_build_errors() {
    let conflict = AppRouter::builder()
        .route("/chat/{room}", on_message(|| async {}))
        .route("/chat/{name}", on_message(|| async {}))
        .build()
        .unwrap_err();
    assert_eq!(
        conflict,
        RouteError::Conflict {
            kind: RouteKind::Message,
            route: "/chat/{name}".into(),
            with: "/chat/{room}".into()
        }
    );
    // The same path as SEND and SUBSCRIBE routes is no conflict.
    assert!(AppRouter::builder()
        .route("/x", on_message(|| async {}))
        .route("/x", on_subscribe(|| async {}))
        .build()
        .is_ok());
    let bad = AppRouter::builder()
        .route("/chat/{room", on_message(|| async {}))
        .build()
        .unwrap_err();
    assert!(matches!(bad, RouteError::InvalidTemplate { .. }), "{bad}");
    let placeholder = AppRouter::builder()
        .route(
            "/chat/{room}",
            on_message(|| async {}).send_to("/topic/{rom}"),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(placeholder, RouteError::UnknownPlaceholder { ref placeholder, .. } if placeholder == "rom")
    );
}

#[tokio::test]
async fn a_panicking_handler_is_an_error_and_the_router_lives_on() {
    let h = Harness::new(None);
    let r = closing(
        AppRouter::builder()
            .route(
                "/boom",
                on_message(|| async {
                    if true {
                        panic!("kaboom")
                    }
                }),
            )
            .route("/ok", on_message(|| async { "fine" })),
    );
    let err = r.dispatch(h.send("/boom", &[], "")).await.unwrap_err();
    assert_eq!(err.message, "handler failed");
    assert!(
        !err.detail.contains("kaboom"),
        "panic text stays in the log"
    );
    r.dispatch(h.send("/ok", &[], "")).await.unwrap();
    assert_eq!(h.broker.take().len(), 1);
}

#[derive(Clone)]
struct AppState {
    rooms: Arc<Vec<String>>,
    greeting: Greeting,
}

#[derive(Clone)]
struct Greeting(&'static str);

impl FromRef<AppState> for Greeting {
    fn from_ref(s: &AppState) -> Self {
        s.greeting.clone()
    }
}

#[tokio::test]
async fn state_and_from_ref() {
    let h = Harness::new(None);
    let state = AppState {
        rooms: Arc::new(vec!["a".into()]),
        greeting: Greeting("hello"),
    };
    let r = AppRouterBuilder::new()
        .route(
            "/rooms",
            on_message(|State(s): State<AppState>| async move { Json(s.rooms.to_vec()) }),
        )
        .route(
            "/greet",
            on_message(|State(g): State<Greeting>| async move { g.0 }),
        )
        .build_with_state(state)
        .unwrap();
    r.dispatch(h.send("/rooms", &[], "")).await.unwrap();
    r.dispatch(h.send("/greet", &[], "")).await.unwrap();
    let sent = h.broker.take();
    assert_eq!(body(&sent[0]), r#"["a"]"#);
    assert_eq!(body(&sent[1]), "hello");
}

struct Priority;
impl NamedHeader for Priority {
    const NAME: &'static str = "priority";
    type Value = u8;
}

/// Every extractor, reporting what it saw as text.
#[allow(clippy::too_many_arguments)]
async fn everything(
    text: String,
    bytes: Bytes,
    vars: DestinationVars,
    Header(priority, ..): Header<Priority>,
    missing: Option<Header<ContentType>>,
    headers: Headers,
    principal: Principal,
    maybe: Option<Principal>,
    info: SessionInfo,
    id: SessionId,
    attributes: Attributes,
    template: MessagingTemplate,
    frame: Frame,
) -> String {
    attributes.insert(5u32);
    template.send("/topic/side", "x").await.unwrap();
    format!(
        "{text}|{}|{}|{priority}|{}|{}|{principal}|{}|{}|{id}|{:?}|{}",
        bytes.len(),
        vars.get("n").unwrap_or("-"),
        missing.is_none(),
        headers.get("priority").unwrap_or("-"),
        maybe.map(|p| p.to_string()).unwrap_or_default(),
        info.id,
        info.attributes.get::<u32>(),
        frame.command,
    )
}

#[tokio::test]
async fn every_extractor() {
    let h = Harness::new(Some("ann"));
    let r = router(AppRouter::builder().route("/e/{n}", on_message(everything)));
    r.dispatch(h.send("/e/4", &[("priority", "3")], "hey"))
        .await
        .unwrap();
    let sent = h.broker.take();
    assert_eq!(sent[0].destination, "/topic/side");
    assert_eq!(
        body(&sent[1]),
        "hey|3|4|3|true|3|ann|ann|s1|s1|Some(5)|SEND"
    );
}

#[tokio::test]
async fn rejections_are_errors() {
    let h = Harness::new(None);
    let r = closing(
        AppRouter::builder()
            .route("/json", on_message(|Payload(_): Payload<Chat>| async {}))
            .route("/text", on_message(|_: String| async {}))
            .route("/num/{n}", on_message(|_: DestinationVar<u8>| async {}))
            .route("/hdr", on_message(|_: Header<Priority>| async {}))
            .route("/who", on_message(|_: Principal| async {}))
            .route(
                "/anon",
                on_message(|p: Option<Principal>| async move { format!("{p:?}") }),
            ),
    );
    let cases = [
        ("/json", "{", "invalid payload"),
        ("/num/300", "", "invalid destination variable"),
        ("/hdr", "", "invalid header"),
        ("/who", "", "not authenticated"),
    ];
    for (path, body, message) in cases {
        let err: AppError = r.dispatch(h.send(path, &[], body)).await.unwrap_err();
        assert_eq!(err.message, message, "{path}");
    }
    let mut bad_utf8 = h.send("/text", &[], "");
    bad_utf8.frame.body = Bytes::from_static(b"\xff");
    assert_eq!(
        r.dispatch(bad_utf8).await.unwrap_err().message,
        "invalid message body"
    );
    r.dispatch(h.send("/anon", &[], "")).await.unwrap();
    assert_eq!(body(&h.broker.take()[0]), "None");
    assert!(h.broker.take().is_empty());
}

struct Rooms {
    prefix: &'static str,
}

impl Rooms {
    async fn join(&self, DestinationVar(room): DestinationVar<String>) -> Result<String, RoomFull> {
        if room == "full" {
            Err(RoomFull(room))
        } else {
            Ok(format!("{}{room}", self.prefix))
        }
    }
}

impl Controller<()> for Rooms {
    fn routes(self: Arc<Self>) -> ControllerRoutes<()> {
        let this = self.clone();
        ControllerRoutes::new()
            .route(
                "/room/{room}",
                on_message(move |v: DestinationVar<String>| {
                    let this = this.clone();
                    async move { this.join(v).await }
                }),
            )
            .exception_handler(on_exception(
                |e: RoomFull| async move { format!("scoped: {e}") },
            ))
    }
}

#[tokio::test]
async fn controllers_share_their_value_and_scope_their_exception_handlers() {
    let h = Harness::new(None);
    let r = router(
        AppRouter::builder()
            .controller(Rooms { prefix: "joined " })
            .route("/other/{room}", on_message(join))
            .exception_handler(on_exception(
                |e: RoomFull| async move { format!("global: {e}") },
            )),
    );
    for path in ["/room/a", "/room/full", "/other/b"] {
        r.dispatch(h.send(path, &[], "")).await.unwrap();
    }
    let bodies: Vec<String> = h.broker.take().iter().map(|m| body(m).to_owned()).collect();
    assert_eq!(
        bodies,
        [
            "joined a",
            "scoped: room full is full",
            "global: room b is full"
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sessions_run_concurrently() {
    let h = Harness::new(None);
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let r = router(
        AppRouter::builder()
            .route(
                "/wait",
                on_message(move || {
                    let g = g.clone();
                    async move {
                        g.notified().await;
                        "waited"
                    }
                }),
            )
            .route("/go", on_message(|| async { "go" })),
    );
    let slow = r.dispatch(h.send("/wait", &[], ""));
    let fast = async {
        r.dispatch(h.send("/go", &[], "")).await.unwrap();
        gate.notify_one();
    };
    let (slow, ()) = tokio::join!(slow, fast);
    slow.unwrap();
    let bodies: Vec<String> = h.broker.take().iter().map(|m| body(m).to_owned()).collect();
    assert_eq!(bodies, ["go", "waited"]);
}

#[tokio::test]
async fn a_panicking_exception_handler_is_an_error_too() {
    let h = Harness::new(None);
    let r = closing(
        AppRouter::builder()
            .route("/join/{room}", on_message(join))
            .exception_handler(on_exception(|_: RoomFull| async {
                if true {
                    panic!("in the exception handler")
                }
            })),
    );
    let err = r.dispatch(h.send("/join/1", &[], "")).await.unwrap_err();
    assert_eq!(err.message, "handler failed");
    assert!(h.broker.take().is_empty());
}
