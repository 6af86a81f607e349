//! Spring-style STOMP 1.2 messaging for axum: annotated handler functions, an in-memory
//! broker (or a relay to an external one), and a WebSocket endpoint that `@stomp/stompjs`
//! clients talk to unchanged.
//!
//! [`Stomp`] is one STOMP endpoint: build it with [`Stomp::builder`] (every setting is a
//! method of [`StompBuilder`]: prefixes, broker, `relay` (feature `relay`) or
//! [`backplane`](StompBuilder::backplane), handlers and their state in either order,
//! authentication, limits, timeouts), register handlers
//! written with the [`prelude`]'s attribute macros, mount it with [`Stomp::layer`] or
//! [`Stomp::router`], serve it with [`serve`] (`axum::serve` with the timeouts, listen
//! backlog and connection cap a public server needs) and pass [`Stomp::shutdown_signal`]
//! to `with_graceful_shutdown`.
//!
//! ```no_run
//! use axum::Router;
//! use stomp_axum::prelude::*;
//!
//! // A SEND to /app/greet lands here; the reply goes to every subscriber of /topic/greetings.
//! #[message_mapping("/greet")]
//! #[send_to("/topic/greetings")]
//! async fn greet(name: String) -> String {
//!     format!("hello, {name}")
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let stomp = Stomp::builder()
//!         .app_destination_prefix("/app")
//!         .simple_broker(["/topic", "/queue"])
//!         .handler(greet)
//!         .build();
//!     let app = Router::new().layer(stomp.layer("/ws"));
//!     // A listen backlog of 4,096; header-read and idle timeouts before the upgrade, a
//!     // cap on open connections, TCP_NODELAY.
//!     let listener = stomp_axum::bind("127.0.0.1:8080").await?;
//!     stomp_axum::serve(listener, app)
//!         .with_graceful_shutdown(stomp.shutdown_signal(async {
//!             let _ = tokio::signal::ctrl_c().await;
//!         }))
//!         .await
//! }
//! ```
//!
//! The README has a longer example (state, `#[subscribe_mapping]`, the messaging template).
//! Coming from Spring's `@EnableWebSocketMessageBroker`? [`guide::spring`] puts each Spring
//! STOMP annotation and configuration item beside its equivalent here.
//!
//! STOMP handlers take axum's own `State<T>` and `Json<T>`, and state parts come from
//! axum's `FromRef` (`#[derive(FromRef)]` applies): the [`prelude`] re-exports those, so
//! HTTP and STOMP handlers in one file share one state with no name clash.
//!
//! [`serve`] gives sessions the peer address; with `axum::serve`, serve
//! `into_make_service_with_connect_info::<SocketAddr>()` for that.
//!
//! The transport accepts text and binary WebSocket messages (frames may be split across
//! messages or several may share one), negotiates `v12.stomp` / `v11.stomp` / `v10.stomp`
//! (or none; the STOMP version itself comes from CONNECT's `accept-version`, see the
//! README's "STOMP versions"), sends each frame as a text message when it is valid UTF-8 and as a binary
//! message otherwise, and closes with the codes listed in [`close`].
//!
//! # Testing handlers (feature `testing`)
//!
//! `stomp_axum::testing::TestClient` connects to a `Stomp`'s engine without a socket:
//! connect as a user, SEND, SUBSCRIBE and expect MESSAGEs, RECEIPTs and ERRORs with
//! timeouts, in a `#[tokio::test]`. See the `testing` module.
//!
//! # Client (feature `client`)
//!
//! With the `client` feature, `stomp_axum::client::connect_ws` opens a WebSocket (offering
//! `v12.stomp, v11.stomp, v10.stomp`) and runs `stomp-core`'s async STOMP client over it,
//! as Spring's `WebSocketStompClient`: for Rust programs, tests and services talking to
//! this server, Spring or RabbitMQ Web-STOMP. `connect_ws_request` takes a request with
//! extra headers (`Origin`, `Cookie`, `Authorization`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use stomp_axum::core::broker::AckMode;
//! use stomp_axum::core::client::ClientConfig;
//!
//! let client = stomp_axum::client::connect_ws("ws://127.0.0.1:8080/ws", ClientConfig::new()).await?;
//! let mut news = client.subscribe("/topic/news", AckMode::Auto).await?;
//! client.send_with_receipt("/app/chat/lobby", "hello").await?;
//! if let Some(message) = news.next().await {
//!     println!("{:?}", message.body());
//! }
//! client.disconnect().await?;
//! # Ok(()) }
//! ```

pub mod auth;
mod builder;
#[cfg(feature = "client")]
pub mod client;
pub mod close;
mod config;
mod endpoint;
mod handshake;
mod layer;
mod lazy_read;
mod origin;
mod serve;
mod socket;
mod stats;
mod stomp;
#[cfg(feature = "testing")]
pub mod testing;
mod upgrade;

pub use builder::{BuildError, HasState, NoState, StateReady, StompBuilder};
pub use config::TransportConfig;
pub use handshake::HandshakeRejection;
pub use layer::{StompLayer, StompService};
pub use origin::{AllowedHosts, AllowedOrigins};
pub use serve::{bind, serve, Serve, LISTEN_BACKLOG};
pub use stats::TransportStats;
pub use stomp::{Stomp, StompStats};

/// The transport-agnostic engine, re-exported so one dependency is enough.
pub use stomp_core as core;

/// Guides (long-form documentation; their examples are compiled as doctests).
pub mod guide {
    #[doc = include_str!("docs/spring_migration.md")]
    pub mod spring {}
}

/// The README's Rust examples, compiled as doctests (the README is their one source).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// What handler authors and app builders need, in one import.
///
/// It lives beside axum's names without clashes: `State`, `Json` and `FromRef` here *are*
/// axum's (`axum::extract::State`, `axum::Json`, `axum::extract::FromRef`), and STOMP
/// handlers take them as HTTP handlers do. So one file may `use axum::extract::State;` (or
/// `use axum::extract::*;`) and `use stomp_axum::prelude::*;`, share one state between
/// HTTP and STOMP handlers, and derive its parts with axum's `#[derive(FromRef)]` (axum's
/// `macros` feature). `Payload<T>` is the STOMP body extractor named after Spring's
/// `@Payload` (JSON, as `Json<T>`).
///
/// The attribute macros generate code naming `::stomp_axum::core`, so `stomp-axum` is the
/// only dependency an application needs. Code using `stomp-core` without `stomp-axum`
/// passes `crate = ::stomp_core` to each attribute.
pub mod prelude {
    pub use crate::{
        AllowedHosts, AllowedOrigins, BuildError, HandshakeRejection, Stomp, StompBuilder,
        TransportConfig,
    };
    pub use axum::extract::{FromRef, State};
    pub use axum::Json;
    pub use futures_util::future::BoxFuture;
    pub use stomp_core::app::{
        AppError, AppErrorPolicy, ContentType, CorrelationId, DestinationVar, DestinationVars,
        HandlerError, Header, MessageContext, MissingPrincipal, NamedHeader, Payload,
        PayloadRejection, Reply,
    };
    #[cfg(feature = "validation")]
    pub use stomp_core::app::{Valid, ValidationRejection};
    pub use stomp_core::authz::DestinationRules;
    pub use stomp_core::broker::{AckMode, SimpleBrokerConfig};
    pub use stomp_core::events::SessionEvent;
    pub use stomp_core::identity::{Principal, SessionId, SessionInfo};
    pub use stomp_core::interceptor::{
        Authenticator, ConnectRequest, InboundInterceptor, Rejection,
    };
    pub use stomp_core::outbound::OutboundInterceptor;
    #[cfg(feature = "relay")]
    pub use stomp_core::relay::{Relay, RelayConfig};
    pub use stomp_core::template::{MessagingTemplate, TemplateError};
    pub use stomp_core::{Frame, Headers, HeartBeat, Version};
    // Auth (`crate::auth`): typed claims and the user registry as handler arguments.
    pub use crate::auth::{Claims, ClaimsRejection, UserRegistry};
    pub use stomp_macros::{
        controller, message_exception_handler, message_mapping, send_to, send_to_user,
        subscribe_mapping,
    };
}
