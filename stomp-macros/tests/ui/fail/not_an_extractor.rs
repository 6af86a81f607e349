use stomp_core::app::AppRouter;
use stomp_macros::message_mapping;

struct NotAnExtractor;

#[message_mapping("/chat")]
async fn chat(_x: NotAnExtractor) {}

fn main() {
    let _ = AppRouter::builder().handler(chat).build();
}
