//! Support code for end-to-end tests: a raw STOMP-over-WebSocket client, frame builders,
//! transcript-style assertions and a helper that serves an axum app on `127.0.0.1:0`.
//!
//! Every wait in here is bounded by [`TIMEOUT`], so a broken server fails a test instead of
//! hanging it.
//!
//! ```no_run
//! use stomp_e2e::{frame, spawn_server, WsClient};
//! # async fn demo(app: axum::Router) {
//! let server = spawn_server(app).await;
//! let mut client = WsClient::connect(&server.ws_url("/ws")).await;
//! client.send_text(&frame("CONNECT").header("accept-version", "1.2").header("host", "x").text()).await;
//! client.expect_frame("CONNECTED").await;
//! # }
//! ```

mod client;
pub mod external;
mod frames;
pub mod relay;
mod server;

pub use client::{ClientOptions, Received, WsClient};
pub use frames::{frame, parse_frames, FrameBuilder, WireFrame};
pub use server::{http_get, spawn_server, spawn_server_with, ShutdownWrapper, TestServer};

/// How long any single wait in the support code lasts before the test fails.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The CONNECT frame a STOMP 1.2 client sends first (`host` set, no heart-beats).
pub fn connect_frame() -> String {
    frame("CONNECT")
        .header("accept-version", "1.2")
        .header("host", "localhost")
        .header("heart-beat", "0,0")
        .text()
}
