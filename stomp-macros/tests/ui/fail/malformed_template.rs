use stomp_macros::message_mapping;

#[message_mapping("/chat/{room")]
async fn chat() {}

fn main() {}
