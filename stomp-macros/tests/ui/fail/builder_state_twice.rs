// The state is given once.
use stomp_axum::prelude::*;

fn main() {
    let _ = Stomp::builder().with_state(1_u32).with_state(2_u32);
}
