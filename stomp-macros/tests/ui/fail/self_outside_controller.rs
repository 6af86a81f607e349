use stomp_macros::message_mapping;

struct Rooms;

impl Rooms {
    #[message_mapping("/chat")]
    async fn chat(&self) {}
}

fn main() {}
