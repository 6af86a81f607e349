// A handler after `with_state` must take parts of that state: here `Other` is not
// `FromRef<AppState>`, in either order.
use stomp_axum::prelude::*;

#[derive(Clone)]
struct AppState;

#[derive(Clone)]
struct Other;

#[message_mapping("/other")]
async fn other(State(_): State<Other>) {}

fn main() {
    let _ = Stomp::builder().with_state(AppState).handler(other);
}
