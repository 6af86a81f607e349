//! Annotated handlers behind the WebSocket endpoint: routing, state, and the handshake
//! principal reaching a handler.
#![allow(clippy::unwrap_used, missing_docs)]

use axum::Router;
use stomp_axum::prelude::*;
use stomp_e2e::{frame, spawn_server, ClientOptions};

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[message_mapping("/greet/{room}")]
#[send_to("/topic/greet/{room}")]
async fn greet(
    DestinationVar(room): DestinationVar<String>,
    State(app): State<AppState>,
    Payload(name): Payload<String>,
) -> String {
    format!("{} {name} in {room}", app.greeting)
}

#[message_mapping("/whoami")]
#[send_to("/topic/who")]
async fn whoami(user: Option<Principal>) -> String {
    user.map(|p| p.name().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn handlers_run_with_state_and_the_handshake_principal() {
    let stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker(["/topic"])
        .handshake_principal(|parts: axum::http::request::Parts| async move {
            Ok(parts
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .map(Principal::new))
        })
        .handler(greet)
        .handler(whoami)
        .with_state(AppState { greeting: "hello" })
        .build();
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;
    let mut c = ClientOptions::new()
        .protocols(["v12.stomp"])
        .header("x-user", "ann")
        .connect(&server.ws_url("/ws"))
        .await
        .unwrap();
    c.stomp_connect().await;
    for (id, destination) in [("g", "/topic/greet/lobby"), ("w", "/topic/who")] {
        c.send_text(
            &frame("SUBSCRIBE")
                .header("id", id)
                .header("destination", destination)
                .header("receipt", id)
                .text(),
        )
        .await;
        c.expect_frame("RECEIPT").await;
    }
    c.send_text(
        &frame("SEND")
            .header("destination", "/app/greet/lobby")
            .header("content-type", "application/json")
            .body("\"bob\"")
            .text(),
    )
    .await;
    let greeting = c.expect_frame("MESSAGE").await;
    assert_eq!(greeting.header("destination"), Some("/topic/greet/lobby"));
    assert_eq!(greeting.body_text(), "hello bob in lobby");

    c.send_text(&frame("SEND").header("destination", "/app/whoami").text())
        .await;
    let who = c.expect_frame("MESSAGE").await;
    assert_eq!(who.header("destination"), Some("/topic/who"));
    assert_eq!(who.body_text(), "ann");
}

#[test]
fn invalid_routes_are_a_build_error() {
    #[message_mapping("/same")]
    async fn one() {}
    #[message_mapping("/same")]
    async fn two() {}
    let result = Stomp::builder().handler(one).handler(two).try_build();
    assert!(matches!(result, Err(stomp_axum::BuildError::Routes(_))));
}
