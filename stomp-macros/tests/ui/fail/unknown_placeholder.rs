use stomp_core::app::DestinationVar;
use stomp_macros::{message_mapping, send_to};

#[message_mapping("/chat/{room}")]
#[send_to("/topic/chat/{rooom}")]
async fn chat(DestinationVar(room): DestinationVar<String>) -> String {
    room
}

fn main() {}
