//! Memory held per idle connected session: growth of the process's resident set while
//! 200 sessions sit connected, server and (small-buffered) test client together.
#![allow(clippy::unwrap_used, missing_docs)]

use axum::Router;
use stomp_axum::Stomp;
use stomp_e2e::{spawn_server, ClientOptions, WsClient};

/// Resident set size of this process in bytes (Linux: `/proc/self/statm`, in pages).
fn rss() -> isize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: isize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

const CLIENT_READ_BUFFER: usize = 512;

async fn connect_many(url: &str, n: usize) -> Vec<WsClient> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = ClientOptions::new()
            .read_buffer_size(CLIENT_READ_BUFFER)
            .connect(url)
            .await
            .unwrap();
        c.stomp_connect().await;
        clients.push(c);
    }
    clients
}

async fn per_session(stomp: Stomp) -> isize {
    const N: usize = 200;
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;
    let url = server.ws_url("/ws");
    // Warm up (lazy statics, the runtime's first allocations).
    let warm = connect_many(&url, 5).await;
    let before = rss();
    let clients = connect_many(&url, N).await;
    let after = rss();
    drop((warm, clients));
    (after - before) / N as isize
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "current_thread")]
async fn idle_session_rss() {
    let small = per_session(Stomp::builder().build()).await;
    let axum_defaults = per_session(
        Stomp::builder()
            .read_buffer_size(128 * 1024)
            .write_buffer_size(128 * 1024)
            .build(),
    )
    .await;
    println!(
        "idle session RSS (server + {CLIENT_READ_BUFFER} B-buffer client): \
         {small} B with the defaults, {axum_defaults} B with 128 KiB buffers"
    );
    assert!(small < 32 * 1024, "{small} bytes per idle session");
}
