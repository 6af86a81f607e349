use stomp_core::app::{on_message, AppRouter};

struct NotAReply;

async fn chat() -> NotAReply {
    NotAReply
}

fn main() {
    let _ = AppRouter::builder().route("/chat", on_message(chat)).build();
}
