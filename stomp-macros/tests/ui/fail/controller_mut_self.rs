use stomp_macros::{controller, message_mapping};

struct Rooms;

#[controller("/rooms")]
impl Rooms {
    #[message_mapping("/chat")]
    async fn chat(&mut self) {}
}

fn main() {}
