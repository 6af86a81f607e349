use stomp_core::app::{on_message, AppRouter};

struct NotAnExtractor;

async fn chat(_x: NotAnExtractor) {}

fn main() {
    let _ = AppRouter::builder().route("/chat", on_message(chat)).build();
}
