// Handlers that need a state, and no `with_state`: `build` does not compile.
use stomp_axum::prelude::*;

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[message_mapping("/greet")]
async fn greet(State(app): State<AppState>) -> String {
    app.greeting.to_owned()
}

fn main() {
    let _ = Stomp::builder().handler(greet).build();
}
