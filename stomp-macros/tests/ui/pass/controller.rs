use stomp_core::app::{AppRouter, DestinationVar};
use stomp_macros::{controller, message_exception_handler, message_mapping, send_to, subscribe_mapping};

struct Rooms {
    name: String,
}

#[controller("/room")]
impl Rooms {
    #[message_mapping("/{id}")]
    #[send_to("/topic/room/{id}")]
    async fn post(&self, DestinationVar(id): DestinationVar<u64>, text: String) -> String {
        format!("{}:{id}:{text}", self.name)
    }

    #[subscribe_mapping("/list")]
    async fn list() -> Vec<String> {
        vec![]
    }

    #[message_exception_handler]
    async fn failed(&self, error: std::fmt::Error) -> String {
        error.to_string()
    }
}

struct Empty;

// No prefix, no routes.
#[controller]
impl Empty {
    fn plain(&self) {}
}

fn main() {
    let _ = AppRouter::builder()
        .controller(Rooms { name: "r".into() })
        .controller(Empty)
        .build();
    Empty.plain();
}
