//! The chat example: an axum server with a web page where people pick a name, join a room,
//! chat, see who is online and send each other private messages, over STOMP.
//!
//! STOMP endpoint `/ws`; application prefix `/app`; broker prefixes `/topic` (broadcast) and
//! `/queue` (point-to-point); user prefix `/user`. Any CONNECT `login` is taken as the user's
//! name, so any STOMP client can join.

pub mod messages;
pub mod presence;
mod web;

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use web::{default_stompjs_path, stompjs_missing_help};

/// How the chat server is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `@stomp/stompjs` browser bundle served at `/vendor/stomp.umd.min.js`.
    pub stompjs: PathBuf,
    /// The server's heart-beat offer: how often it sends heart-beats and how often it wants
    /// them (each side then uses the larger of the two offers). Default 10 s.
    pub heartbeat: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stompjs: default_stompjs_path(),
            heartbeat: Duration::from_secs(10),
        }
    }
}

/// The whole application: the page, and the STOMP endpoint at `/ws`.
pub fn app(config: Config) -> Router {
    web::routes(config.stompjs)
}

/// Serves [`app`] on `listener` until the process is asked to stop (Ctrl-C).
pub async fn serve(listener: TcpListener, config: Config) -> std::io::Result<()> {
    axum::serve(listener, app(config))
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
}
