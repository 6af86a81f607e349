// The handlers' state is given before or after the handlers, and handlers that need no
// state build without one (the state type is then inferred as `()`).
use stomp_axum::prelude::*;

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[message_mapping("/greet")]
async fn greet(State(app): State<AppState>) -> String {
    app.greeting.to_owned()
}

#[message_mapping("/echo")]
async fn echo(body: String) -> String {
    body
}

// Built inside a Tokio runtime in an app; here they only need to compile.
#[allow(dead_code)]
fn built(state: AppState) -> [Stomp; 3] {
    let before = Stomp::builder().with_state(state.clone()).handler(greet).handler(echo).build();
    let after = Stomp::builder().handler(greet).handler(echo).with_state(state).build();
    let stateless = Stomp::builder().handler(echo).build();
    [before, after, stateless]
}

fn main() {}
