use serde::{Deserialize, Serialize};
use stomp_core::app::{AppRouterBuilder, DestinationVar, Json, Payload, State};
use stomp_macros::{message_exception_handler, message_mapping, send_to, send_to_user, subscribe_mapping};

#[derive(Clone, Serialize, Deserialize)]
struct Msg {
    text: String,
}

#[derive(Clone)]
struct AppState;

#[message_mapping("/chat/{room}")]
#[send_to("/topic/chat/{room}", "/topic/all")]
async fn chat(DestinationVar(room): DestinationVar<String>, Payload(msg): Payload<Msg>) -> Msg {
    let _ = room;
    msg
}

#[message_mapping("/pair/{a}/{b}")]
async fn pair(DestinationVar((a, b)): DestinationVar<(String, u32)>) -> String {
    format!("{a}{b}")
}

// A variable used only by the reply destination.
#[message_mapping("/echo/{room}", crate = ::stomp_core)]
#[send_to_user("/queue/{room}", broadcast = false)]
async fn echo(body: String) -> Result<Option<String>, std::io::Error> {
    Ok(Some(body))
}

#[subscribe_mapping("/rooms")]
async fn rooms(State(_app): State<AppState>) -> Json<Vec<String>> {
    Json(vec![])
}

#[message_exception_handler]
async fn on_io(error: std::io::Error) -> String {
    error.to_string()
}

fn main() {
    let _ = AppRouterBuilder::new()
        .handler(chat)
        .handler(pair)
        .handler(echo)
        .handler(rooms)
        .exception_handler(on_io)
        .build_with_state(AppState);
    let _still_a_fn = chat(DestinationVar("r".into()), Payload(Msg { text: String::new() }));
}
