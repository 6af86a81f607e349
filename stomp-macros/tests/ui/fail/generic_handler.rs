use stomp_macros::message_mapping;

#[message_mapping("/chat")]
async fn chat<T: Default>() {}

fn main() {}
