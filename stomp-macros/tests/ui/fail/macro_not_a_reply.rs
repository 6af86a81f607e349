use stomp_macros::message_mapping;

struct NotSerializable;

#[message_mapping("/chat")]
async fn chat() -> NotSerializable {
    NotSerializable
}

fn main() {}
