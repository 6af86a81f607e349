//! Transport-agnostic STOMP 1.2 engine: frames and codec, sessions, the three channels of a
//! message (inbound, broker, outbound), the embedded broker, application routing, user
//! destinations and the messaging template. No WebSocket code: a transport (stomp-axum, or
//! a test) feeds each connection's bytes to a session and writes what its outbound queue
//! yields.
//!
//! A SEND to `/app/...` goes to a handler, whose reply the broker delivers to a subscriber:
//!
//! ```
//! use stomp_core::app::{on_message, AppRouterBuilder};
//! use stomp_core::engine::{Engine, TransportInfo};
//! use stomp_core::outbound::{Next, Outbound};
//!
//! async fn shout(text: String) -> String {
//!     text.to_uppercase()
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let router = AppRouterBuilder::new()
//!     .route("/shout", on_message(shout).send_to("/topic/shouts"))
//!     .build()?;
//! let engine = Engine::builder().app_destination_prefix("/app").app(router).build();
//! let (mut session, mut outbound) = engine.open_session(TransportInfo::default());
//!
//! // INBOUND: bytes as they arrive, in order.
//! session.receive(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0").await?;
//! session.receive(b"SUBSCRIBE\ndestination:/topic/shouts\nid:0\n\n\0").await?;
//! session.receive(b"SEND\ndestination:/app/shout\nreceipt:r1\n\nhello\0").await?;
//!
//! // OUTBOUND: what the transport writes, in order.
//! let mut frames = Vec::new();
//! while frames.len() < 3 {
//!     let Next::Item(Outbound::Frame(bytes)) = outbound.next().await else { panic!() };
//!     frames.push(String::from_utf8(bytes.to_vec())?);
//! }
//! assert!(frames[0].starts_with("CONNECTED"));
//! let message = frames.iter().find(|f| f.starts_with("MESSAGE")).expect("the reply");
//! assert!(message.contains("destination:/topic/shouts") && message.ends_with("HELLO\0"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # The three channels, in the order a message travels
//!
//! 1. **INBOUND**: a session ([`engine::Session`]) decodes the client's frames in order and
//!    runs them through the inbound interceptors ([`interceptor`]; the authenticator on
//!    CONNECT). A SEND or SUBSCRIBE under the application prefix goes to the handlers
//!    ([`app`]); everything else goes on to the broker channel.
//! 2. **BROKER**: [`channel::BrokerChannel`] is the one way into the broker, for client
//!    SENDs, handler replies and the [`template::MessagingTemplate`] alike: destination
//!    policy ([`authz`]), user destinations ([`user`]), then the [`broker::Broker`]
//!    (embedded [`broker::SimpleBroker`], the relay, or a [`backplane`]).
//! 3. **OUTBOUND**: the broker hands each delivery to the subscriber's bounded queue
//!    ([`outbound`]), which the transport's writer drains; a slow consumer meets the
//!    session's stated policy, never unbounded memory.
//!
//! # Modules, bottom to top
//!
//! Imports run one way, down this list (a test in the workspace checks there is no cycle):
//!
//! | module | what it is |
//! |---|---|
//! | [`frame`] | `Command`, `Headers`, `Frame`, `HeartBeat` values and their negotiation |
//! | [`trace`] | the tracing spans of frames and handlers, W3C trace context propagation |
//! | [`version`] | STOMP versions and their negotiation |
//! | [`identity`] | who a session is: `SessionId`, `Principal`, `SessionInfo`, `Attributes` |
//! | `cluster` | cluster membership: each instance's entries, versions, gap repair, expiry (used by `backplane` and `relay`) |
//! | [`codec`] | the sans-IO `Decoder` with limits, the encoder, `PreparedMessage` |
//! | [`outbound`] | the OUTBOUND channel: one bounded queue per session, the slow-consumer policy |
//! | [`telemetry`] | metrics through the `metrics` facade (feature `metrics`): names, labels |
//! | [`destination`] | destination patterns (`*`, `**`, `/` or `.`) and the subscription index |
//! | [`broker`] | the `Broker` trait and the embedded `SimpleBroker` |
//! | [`events`] | session lifecycle events |
//! | [`authz`] | destination policies: who may SEND or SUBSCRIBE where |
//! | [`user`] | user destinations (`/user/queue/x`) and the user registry |
//! | [`channel`] | the BROKER channel: the one path into the broker |
//! | [`template`] | `MessagingTemplate`: publish from anywhere through the broker channel |
//! | [`interceptor`] | the INBOUND channel's interceptors and the authenticator |
//! | [`app`] | application routing: handlers, extractors, replies |
//! | [`backplane`] | several instances sharing one embedded broker's topics (Redis transport: feature `redis`) |
//! | `client` | (feature `client`) an async STOMP client over any `AsyncRead + AsyncWrite` |
//! | `relay` | (feature `relay`) a `Broker` that forwards to RabbitMQ or ActiveMQ |
//! | [`engine`] | `Engine`: configuration shared by all sessions; it opens and owns the sessions |

pub mod app;
pub mod authz;
#[cfg(any(feature = "relay", feature = "redis"))]
mod backoff;
pub mod backplane;
pub mod broker;
pub mod channel;
#[cfg(feature = "client")]
pub mod client;
mod cluster;
pub mod codec;
pub mod destination;
pub mod engine;
pub mod events;
pub mod frame;
pub mod identity;
pub mod interceptor;
pub mod memory;
pub mod outbound;
#[cfg(feature = "relay")]
pub mod relay;
mod sync;
pub mod telemetry;
pub mod template;
pub mod trace;
pub mod user;
pub mod version;

pub use frame::HeartBeat;
/// Support for the code `stomp-macros` generates; not a public API, may change at any time.
#[doc(hidden)]
pub mod __private;

pub use frame::{Command, Frame, Headers};
pub use version::Version;
