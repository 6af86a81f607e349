//! The attribute macros, end to end: annotated fns and a controller mounted on a router.

#![allow(clippy::unwrap_used)]

// The same recording broker and request builders as stomp-core's app tests.
#[path = "../../stomp-core/tests/app/support.rs"]
mod support;

use serde::{Deserialize, Serialize};
use stomp_core::app::{
    AppDispatch, AppRouter, AppRouterBuilder, DestinationVar, FromRef, Json, Payload, State,
};
use stomp_core::identity::Principal;
use stomp_macros::{
    controller, message_exception_handler, message_mapping, send_to, send_to_user,
    subscribe_mapping,
};
use support::{body, Harness};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ChatMessage {
    from: String,
    text: String,
}

/// Echoes a chat message to the room's topic.
#[message_mapping("/chat/{room}")]
#[send_to("/topic/chat/{room}")]
async fn chat(
    DestinationVar(room): DestinationVar<String>,
    Payload(msg): Payload<ChatMessage>,
) -> ChatMessage {
    ChatMessage {
        from: format!("{}@{room}", msg.from),
        text: msg.text,
    }
}

#[send_to_user("/queue/reply", broadcast = false)]
#[message_mapping("/whoami")]
async fn whoami(user: Option<Principal>) -> String {
    user.map(|p| p.name().to_owned()).unwrap_or_default()
}

#[message_mapping("/default")]
async fn default_destination() -> Option<ChatMessage> {
    Some(ChatMessage {
        from: "a".into(),
        text: "b".into(),
    })
}

#[message_mapping("/nothing")]
async fn nothing() -> Option<ChatMessage> {
    None
}

#[derive(Clone)]
struct AppState {
    rooms: Vec<String>,
}

#[subscribe_mapping("/rooms")]
async fn rooms(State(app): State<AppState>) -> Json<Vec<String>> {
    Json(app.rooms)
}

#[derive(Debug, thiserror::Error)]
#[error("room {0} is closed")]
struct Closed(String);

#[message_mapping("/enter/{room}")]
async fn enter(DestinationVar(room): DestinationVar<String>) -> Result<String, Closed> {
    Err(Closed(room))
}

#[message_exception_handler]
#[send_to_user("/queue/errors")]
async fn on_closed(error: Closed) -> String {
    format!("handled: {error}")
}

#[derive(Clone)]
struct Prefix(&'static str);

impl FromRef<AppState> for Prefix {
    fn from_ref(_: &AppState) -> Self {
        Prefix(">")
    }
}

struct RoomController {
    greeting: String,
}

#[controller("/room")]
impl RoomController {
    #[message_mapping("/{id}/join")]
    #[send_to("/topic/room/{id}")]
    async fn join(
        &self,
        DestinationVar(id): DestinationVar<u32>,
        State(p): State<Prefix>,
    ) -> String {
        format!("{}{} {id}", p.0, self.greeting)
    }

    #[message_mapping("/{id}/close")]
    async fn close(DestinationVar(id): DestinationVar<u32>) -> Result<(), Closed> {
        Err(Closed(id.to_string()))
    }

    #[message_exception_handler]
    async fn closed(&self, error: Closed) -> String {
        format!("{} scoped: {error}", self.greeting)
    }

    /// Not a handler: left alone.
    fn helper(&self) -> usize {
        self.greeting.len()
    }
}

fn router() -> AppRouter {
    AppRouterBuilder::new()
        .handler(chat)
        .handler(whoami)
        .handler(default_destination)
        .handler(nothing)
        .handler(rooms)
        .handler(enter)
        .exception_handler(on_closed)
        .controller(RoomController {
            greeting: "hi".into(),
        })
        .build_with_state(AppState {
            rooms: vec!["lobby".into()],
        })
        .expect("valid routes")
}

#[tokio::test]
async fn annotated_fns_route_and_reply() {
    let h = Harness::new(Some("ann"));
    h.user_session("s1", "ann", "/queue/errors");
    let r = router();
    r.dispatch(h.send("/chat/7", &[], r#"{"from":"bob","text":"yo"}"#))
        .await
        .unwrap();
    r.dispatch(h.send("/whoami", &[], "")).await.unwrap();
    r.dispatch(h.send("/default", &[], "")).await.unwrap();
    r.dispatch(h.send("/nothing", &[], "")).await.unwrap();
    r.dispatch(h.send("/enter/x", &[], "")).await.unwrap();
    let sent = h.broker.take();
    let got: Vec<(String, String)> = sent
        .iter()
        .map(|m| (m.destination.to_string(), body(m).to_owned()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "/topic/chat/7".into(),
                r#"{"from":"bob@7","text":"yo"}"#.into()
            ),
            ("/queue/reply-users1".into(), "ann".into()),
            ("/topic/default".into(), r#"{"from":"a","text":"b"}"#.into()),
            (
                "/queue/errors-users1".into(),
                "handled: room x is closed".into()
            ),
        ]
    );
    assert_eq!(sent[0].headers.content_type(), Some("application/json"));
}

#[tokio::test]
async fn subscribe_mapping_answers_the_subscriber() {
    let h = Harness::new(None);
    let (request, mut rx) = h.subscribe("/rooms");
    router().dispatch(request).await.unwrap();
    let stomp_core::outbound::Next::Item(stomp_core::outbound::Outbound::Frame(f)) =
        rx.next().await
    else {
        panic!("no MESSAGE");
    };
    assert!(std::str::from_utf8(&f).unwrap().ends_with("[\"lobby\"]\0"));
}

#[tokio::test]
async fn controllers_join_prefixes_and_scope_exception_handlers() {
    let h = Harness::new(None);
    let r = router();
    r.dispatch(h.send("/room/3/join", &[], "")).await.unwrap();
    r.dispatch(h.send("/room/4/close", &[], "")).await.unwrap();
    // A destination variable that does not parse: reported to the session, which stays.
    r.dispatch(h.send("/room/x/join", &[], "")).await.unwrap();
    let sent = h.broker.take();
    let got: Vec<(String, String)> = sent
        .iter()
        .map(|m| (m.destination.to_string(), body(m).to_owned()))
        .collect();
    assert_eq!(
        got[..2],
        [
            ("/topic/room/3".into(), ">hi 3".into()),
            (
                "/topic/room/4/close".into(),
                "hi scoped: room 4 is closed".into()
            ),
        ]
    );
    assert_eq!(got[2].0, "/queue/errors-users1");
    assert_eq!(
        sent[2].headers.get("message"),
        Some("invalid destination variable")
    );
    assert_eq!(got.len(), 3);
}

#[tokio::test]
async fn annotated_fns_stay_callable() {
    let msg = ChatMessage {
        from: "a".into(),
        text: "t".into(),
    };
    let out = chat(DestinationVar("r".into()), Payload(msg)).await;
    assert_eq!(out.from, "a@r");
    assert_eq!(
        on_closed(Closed("z".into())).await,
        "handled: room z is closed"
    );
    let c = RoomController {
        greeting: "yo".into(),
    };
    assert_eq!(c.helper(), 2);
    assert_eq!(c.join(DestinationVar(1), State(Prefix("-"))).await, "-yo 1");
}

#[test]
fn plain_fns_and_macro_fns_share_one_builder() {
    async fn plain() -> &'static str {
        "plain"
    }
    let r = AppRouter::builder()
        .route("/plain", stomp_core::app::on_message(plain))
        .handler(nothing)
        .build()
        .unwrap();
    assert_eq!(r.routes().len(), 2);
}
