use stomp_macros::message_mapping;

#[message_mapping("/chat")]
fn chat() -> String {
    String::new()
}

fn main() {}
