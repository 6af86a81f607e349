use stomp_core::app::DestinationVar;
use stomp_macros::message_mapping;

#[message_mapping("/chat/{room}")]
async fn chat(DestinationVar(rom): DestinationVar<String>) -> String {
    rom
}

fn main() {}
