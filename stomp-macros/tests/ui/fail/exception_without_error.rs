use stomp_macros::message_exception_handler;

#[message_exception_handler]
async fn failed() {}

fn main() {}
