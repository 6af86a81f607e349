use stomp_macros::send_to;

#[send_to("/topic/x")]
async fn chat() {}

fn main() {}
