//! `handshake_extractor::<E>()` runs `E` with the state given to `with_state` (either order),
//! so an extractor reading a session store from the app state needs no separate
//! `handshake_extractor_with_state(state)`; over a real socket.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

#[allow(dead_code)] // `main` and `app` are the example's
#[path = "../examples/cookie_session.rs"]
mod cookie_session;

use cookie_session::{AppState, SessionUser};
use stomp_axum::prelude::*;
use stomp_e2e::{frame, spawn_server, ClientOptions, TestServer, WsClient};

/// Answers with the principal's name and whether the store (read through the handlers'
/// state, the same one the handshake extractor used) knows ann.
#[message_mapping("/whoami")]
#[send_to_user("/queue/whoami")]
async fn whoami(user: Principal, State(app): State<AppState>) -> String {
    format!(
        "{} (ann: {})",
        user.name(),
        app.sessions.user("sid-ann").is_some()
    )
}

async fn serve(stomp: &Stomp, state: AppState) -> TestServer {
    spawn_server(
        axum::Router::new()
            .merge(stomp.router("/ws"))
            .with_state(state),
    )
    .await
}

async fn connect(server: &TestServer, cookie: &str) -> Result<WsClient, u16> {
    ClientOptions::new()
        .header("cookie", cookie)
        .connect(&server.ws_url("/ws"))
        .await
}

async fn check(stomp: Stomp, state: AppState) {
    let server = serve(&stomp, state.clone()).await;
    assert_eq!(
        ClientOptions::new()
            .connect(&server.ws_url("/ws"))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(connect(&server, "sid=nobody").await.err(), Some(401));

    // A session added to the state's store after build is seen: the extractor runs
    // with the very state given to `with_state`.
    state.sessions.insert("sid-dan", "dan");
    let mut dan = connect(&server, "sid=sid-dan").await.unwrap();
    dan.stomp_connect().await;
    dan.send_text(
        &frame("SUBSCRIBE")
            .header("id", "me")
            .header("destination", "/user/queue/whoami")
            .header("receipt", "me")
            .text(),
    )
    .await;
    dan.expect_frame("RECEIPT").await;
    dan.send_text(&frame("SEND").header("destination", "/app/whoami").text())
        .await;
    assert_eq!(
        dan.expect_frame("MESSAGE").await.body_text(),
        "dan (ann: true)"
    );
}

fn state() -> AppState {
    let state = AppState::default();
    state.sessions.insert("sid-ann", "ann");
    state
}

#[tokio::test]
async fn handshake_extractor_after_with_state_uses_the_builder_state() {
    let state = state();
    let stomp = Stomp::builder()
        .simple_broker(["/topic", "/queue"])
        .with_state(state.clone())
        .handler(whoami)
        .handshake_extractor::<SessionUser>()
        .build();
    check(stomp, state).await;
}

#[tokio::test]
async fn handshake_extractor_before_with_state_uses_the_builder_state() {
    let state = state();
    let stomp = Stomp::builder()
        .handshake_extractor::<SessionUser>()
        .simple_broker(["/topic", "/queue"])
        .handler(whoami)
        .with_state(state.clone())
        .build();
    check(stomp, state).await;
}

#[tokio::test]
async fn handshake_extractor_with_state_still_takes_its_own_state() {
    let state = state();
    let stomp = Stomp::builder()
        .simple_broker(["/topic", "/queue"])
        .handshake_extractor_with_state::<SessionUser, _>(state.clone())
        .handler(whoami)
        .with_state(state.clone())
        .build();
    check(stomp, state).await;
}
