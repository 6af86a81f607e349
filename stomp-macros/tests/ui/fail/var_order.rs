use stomp_core::app::DestinationVar;
use stomp_macros::message_mapping;

#[message_mapping("/chat/{room}/{user}")]
async fn chat(DestinationVar((user, room)): DestinationVar<(String, String)>) -> String {
    user + &room
}

fn main() {}
