//! Socket-free tests of a [`Stomp`](crate::Stomp) application (feature `testing`).
//!
//! [`TestClient`] talks to the endpoint's engine (`stomp.engine()`) the way the WebSocket
//! transport does, without a socket: the same handlers, extractors, authenticator,
//! interceptors, destination policy and broker run, so a handler test takes milliseconds.
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! stomp-axum = { version = "0.1", features = ["testing"] }
//! ```
//!
//! ```
//! use stomp_axum::prelude::*;
//! use stomp_axum::testing::TestClient;
//!
//! #[message_mapping("/greet")]
//! #[send_to("/topic/greetings")]
//! async fn greet(user: Principal, name: String) -> String {
//!     format!("{} greets {name}", user.name())
//! }
//!
//! // In an application's tests: `#[tokio::test] async fn greets() -> Result<(), TestError>`.
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let stomp = Stomp::builder()
//!     .app_destination_prefix("/app")
//!     .simple_broker(["/topic"])
//!     .handler(greet)
//!     .build();
//!
//! let mut alice = TestClient::connect_as(stomp.engine(), "alice").await?;
//! let mut bob = TestClient::connect_as(stomp.engine(), "bob").await?;
//! bob.subscribe("/topic/greetings").await?; // returns once subscribed (RECEIPT)
//! alice.send("/app/greet", "bob").await?; // returns once the handler ran
//! let message = bob.expect_message_on("/topic/greetings").await?;
//! assert_eq!(&message.body[..], b"alice greets bob");
//! bob.expect_no_message()?;
//! alice.disconnect().await?;
//! # Ok::<(), stomp_axum::testing::TestError>(())
//! # }).unwrap();
//! ```
//!
//! Connect with `TestClient::builder(stomp.engine())` to set CONNECT headers (`login`,
//! `passcode`), the transport's principal with roles, or the timeout of expectations
//! (5 s by default).

pub use stomp_core::testing::{TestClient, TestClientBuilder, TestError, DEFAULT_TIMEOUT};
