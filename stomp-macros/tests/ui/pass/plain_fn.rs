use stomp_core::app::{on_exception, on_message, on_subscribe, AppRouter, DestinationVar};

async fn chat(DestinationVar(room): DestinationVar<String>, body: String) -> String {
    format!("{room}: {body}")
}

fn main() {
    let _ = AppRouter::builder()
        .route("/chat/{room}", on_message(chat).send_to("/topic/chat/{room}"))
        .route("/rooms", on_subscribe(|| async { "[]" }))
        .exception_handler(on_exception(|e: std::fmt::Error| async move { e.to_string() }))
        .build();
}
