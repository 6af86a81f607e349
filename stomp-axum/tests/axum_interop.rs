//! axum and STOMP handlers in one file: axum's `State`, `Json` and `#[derive(FromRef)]`
//! next to `stomp_axum::prelude::*`, one state shared by an HTTP and a STOMP handler, over
//! a real socket. The builder takes the state before or after the handlers.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use stomp_axum::prelude::*;
use stomp_e2e::{frame, http_get, spawn_server, TestServer, WireFrame, WsClient};

/// How many visits, counted by both kinds of handler.
#[derive(Clone, Default)]
struct Visits(Arc<AtomicUsize>);

#[derive(Clone)]
struct Greeting(&'static str);

/// The one state of the app; its parts are extracted through axum's derived `FromRef`.
#[derive(Clone, FromRef)]
struct AppState {
    visits: Visits,
    greeting: Greeting,
}

#[derive(Deserialize)]
struct Visit {
    name: String,
}

#[derive(Serialize)]
struct Welcome {
    text: String,
    visits: usize,
}

/// A STOMP handler taking axum's `State` (two parts of the state) and axum's `Json`, and
/// replying with axum's `Json`.
#[message_mapping("/visit")]
#[send_to("/topic/welcome")]
async fn visit(
    State(visits): State<Visits>,
    State(greeting): State<Greeting>,
    Json(request): Json<Visit>,
) -> Json<Welcome> {
    let visits = visits.0.fetch_add(1, Ordering::SeqCst) + 1;
    Json(Welcome {
        text: format!("{}, {}", greeting.0, request.name),
        visits,
    })
}

/// An HTTP handler on the same state: counts a visit too and answers the total.
async fn http_visit(State(visits): State<Visits>) -> Json<usize> {
    Json(visits.0.fetch_add(1, Ordering::SeqCst) + 1)
}

fn state() -> AppState {
    AppState {
        visits: Visits::default(),
        greeting: Greeting("hello"),
    }
}

async fn serve(stomp: &Stomp, state: AppState) -> TestServer {
    let app = Router::new()
        .route("/visit", get(http_visit))
        .with_state(state)
        .layer(stomp.layer("/ws"));
    spawn_server(app).await
}

/// A client subscribed to the welcome topic and its error queue, and its CONNECTED frame.
async fn connected(server: &TestServer) -> (WsClient, WireFrame) {
    let mut client = WsClient::connect(&server.ws_url("/ws")).await;
    let connected = client.stomp_connect().await;
    for (id, destination) in [("w", "/topic/welcome"), ("e", "/user/queue/errors")] {
        client
            .send_text(
                &frame("SUBSCRIBE")
                    .header("id", id)
                    .header("destination", destination)
                    .header("receipt", id)
                    .text(),
            )
            .await;
        client.expect_frame("RECEIPT").await;
    }
    (client, connected)
}

async fn send_visit(client: &mut WsClient, body: &str) {
    client
        .send_text(
            &frame("SEND")
                .header("destination", "/app/visit")
                .header("content-type", "application/json")
                .body(body)
                .text(),
        )
        .await;
}

async fn welcome(client: &mut WsClient) -> serde_json::Value {
    let message = client.expect_frame("MESSAGE").await;
    assert_eq!(message.header("subscription"), Some("w"));
    assert_eq!(message.header("content-type"), Some("application/json"));
    serde_json::from_str(&message.body_text()).unwrap()
}

#[tokio::test]
async fn axum_state_json_and_derived_from_ref_serve_stomp_and_http_handlers() {
    let state = state();
    // The state before the handler.
    let stomp = Stomp::builder()
        .with_state(state.clone())
        .simple_broker(["/topic", "/queue"])
        .handler(visit)
        .build();
    let server = serve(&stomp, state).await;
    let (mut ann, _) = connected(&server).await;

    send_visit(&mut ann, r#"{"name":"ann"}"#).await;
    assert_eq!(
        welcome(&mut ann).await,
        serde_json::json!({"text": "hello, ann", "visits": 1})
    );

    // The HTTP handler counts on the same state.
    let (status, body) = http_get(server.addr, "/visit", &[]).await;
    assert_eq!((status, body.as_str()), (200, "2"));

    send_visit(&mut ann, r#"{"name":"bob"}"#).await;
    assert_eq!(
        welcome(&mut ann).await,
        serde_json::json!({"text": "hello, bob", "visits": 3})
    );

    // A body axum's `Json` cannot read is an application error: reported on the session's
    // error queue, the session stays open and the next SEND works.
    send_visit(&mut ann, "not json").await;
    let error = ann.expect_frame("MESSAGE").await;
    assert_eq!(error.header("subscription"), Some("e"));
    assert!(error.body_text().contains("JSON"), "{}", error.body_text());
    send_visit(&mut ann, r#"{"name":"cy"}"#).await;
    assert_eq!(welcome(&mut ann).await["visits"], 4);
}

#[tokio::test]
async fn the_state_may_follow_the_handlers() {
    let state = state();
    // The handler before the state, and settings after it.
    let stomp = Stomp::builder()
        .handler(visit)
        .with_state(state.clone())
        .simple_broker(["/topic", "/queue"])
        .server_name("interop/1")
        .build();
    let server = serve(&stomp, state.clone()).await;
    let (mut ann, connected) = connected(&server).await;
    assert_eq!(connected.header("server"), Some("interop/1"));
    send_visit(&mut ann, r#"{"name":"ann"}"#).await;
    assert_eq!(
        welcome(&mut ann).await,
        serde_json::json!({"text": "hello, ann", "visits": 1})
    );
    assert_eq!(state.visits.0.load(Ordering::SeqCst), 1);
}

/// `FromRef` in the prelude is axum's: a hand-written impl serves `State<T>` in both kinds
/// of handler.
#[test]
fn the_preludes_from_ref_is_axums() {
    fn takes_axum_from_ref<T: axum::extract::FromRef<AppState>>() {}
    fn takes_core_from_ref<T: stomp_axum::core::app::FromRef<AppState>>() {}
    takes_axum_from_ref::<Visits>();
    takes_core_from_ref::<Visits>();
    let _: fn(&AppState) -> Greeting = <Greeting as FromRef<AppState>>::from_ref;
}
