//! The prelude beside axum's glob imports: `use axum::extract::*` and
//! `use stomp_axum::prelude::*` in one module, and every commonly used name of both
//! (ambiguous glob names are an error only where they are used) in HTTP and STOMP handlers
//! sharing one state.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

use axum::extract::*;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use stomp_axum::prelude::*;

#[derive(Clone, Default)]
struct Greeting(&'static str);

#[derive(Clone, Default, FromRef)]
struct AppState {
    greeting: Greeting,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Note {
    text: String,
}

async fn http_hello(
    State(Greeting(greeting)): State<Greeting>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    Json(note): Json<Note>,
) -> Result<Json<Note>, StatusCode> {
    let _ = query;
    Ok(Json(Note {
        text: format!("{greeting} {name}: {}", note.text),
    }))
}

#[message_mapping("/hello/{name}")]
#[send_to("/topic/hello")]
async fn stomp_hello(
    State(Greeting(greeting)): State<Greeting>,
    DestinationVar(name): DestinationVar<String>,
    Json(note): Json<Note>,
    principal: Option<Principal>,
    users: UserRegistry,
) -> Json<Note> {
    let _ = (principal, users.user_count());
    Json(Note {
        text: format!("{greeting} {name}: {}", note.text),
    })
}

#[tokio::test]
async fn prelude_and_axum_extract_globs_share_state_json_and_fromref() {
    let state = AppState {
        greeting: Greeting("hi"),
    };
    let stomp: Stomp = Stomp::builder()
        .app_destination_prefix("/app")
        .simple_broker(["/topic"])
        .handler(stomp_hello)
        .with_state(state.clone())
        .build();
    let _app: Router = Router::new()
        .route("/hello/{name}", get(http_hello))
        .merge(stomp.router("/ws"))
        .with_state(state);
    let _: Option<Principal> = None;
}
