//! The chat example: an axum server with a web page where people pick a name, join a room,
//! chat, see who is online and send each other private messages, over STOMP.
//!
//! STOMP endpoint `/ws`; application prefix `/app`; broker prefixes `/topic` (broadcast) and
//! `/queue` (point-to-point); user prefix `/user`.
//!
//! What the chat trusts: any CONNECT `login` is taken as the user's name, unchecked
//! ([`InsecureLoginAuthenticator`], a demo opt-in), so any STOMP client can join as anyone.
//! What its handlers author is guarded by [`policy`]: clients cannot SEND to room topics,
//! presence or private-message queues, so a message there always carries the `from` its
//! handler took from the sender's principal. Other broker destinations stay open.

pub mod handlers;
pub mod messages;
pub mod metrics;
pub mod presence;
mod web;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use stomp_axum::core::broker::SimpleBroker;
use stomp_axum::core::interceptor::InsecureLoginAuthenticator;
use stomp_axum::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::messages::PresenceEvent;
use crate::presence::{Elsewhere, Online};

pub use web::{default_stompjs_path, stompjs_missing_help};

/// Where presence events are published.
pub const PRESENCE_TOPIC: &str = "/topic/presence";

/// The private-message inbox (a user destination, without the `/user` prefix): the web page
/// subscribes to `/user/queue/inbox`. With the embedded broker it is a user queue
/// ([`UserDestinations::durable_queue`](stomp_axum::core::user::UserDestinations::durable_queue)):
/// messages wait there for the user's next session, on disk with [`Config::data_dir`].
pub const INBOX: &str = "/queue/inbox";

/// Room topics are `/topic/chat.{room}`.
pub const ROOM_TOPIC_PREFIX: &str = "/topic/chat.";

/// Whether `destination` is a room topic (`/topic/chat.{room}`).
pub fn is_room_topic(destination: &str) -> bool {
    destination.starts_with(ROOM_TOPIC_PREFIX)
}

/// The chat's destination policy: what the handlers author, clients cannot SEND to.
///
/// - room topics (`/topic/chat.{room}`): written by `join` and `chat`;
/// - [`PRESENCE_TOPIC`]: written by the presence task;
/// - private messages (`/user/{name}/queue/inbox`, and the sender's copy on
///   `/user/{name}/queue/private`): written by `private`. (A SEND straight to a user's
///   inbox queue, `/queue/inbox-user.{name}`, or to another session's resolved queue,
///   `/queue/private-user{session}`, is refused by the engine itself.)
///
/// So every message there carries the `from` its handler took from the sender's principal.
/// SUBSCRIBE is not restricted, and other `/topic` and `/queue` destinations stay open to
/// any STOMP client.
pub fn policy() -> DestinationRules {
    DestinationRules::new()
        .send(PRESENCE_TOPIC)
        .deny_all()
        // Room names are one segment (`/app/chat/{room}`), so a room topic is `/topic/*`.
        .send("/topic/*")
        .matching(|request| !is_room_topic(request.destination))
        .send("/user/*/queue/private")
        .deny_all()
        .send("/user/*/queue/inbox")
        .deny_all()
}

/// How the chat server is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `@stomp/stompjs` browser bundle served at `/vendor/stomp.umd.min.js`.
    pub stompjs: PathBuf,
    /// The server's heart-beat offer: how often it sends heart-beats and how often it wants
    /// them (each side then uses the larger of the two offers). Default 10 s.
    pub heartbeat: Duration,
    /// Relay `/topic` and `/queue` to an external STOMP broker (RabbitMQ) instead of the
    /// embedded broker, so several chat servers share rooms and users. Default: embedded.
    pub relay: Option<stomp_axum::core::relay::RelayConfig>,
    /// Link several chat servers through Redis pub/sub (the embedded broker stays, topics
    /// and user destinations are shared). Ignored when `relay` is set. Default: none.
    pub backplane: Option<stomp_core::backplane::redis::RedisConfig>,
    /// Keep persistent queue messages on disk in this directory (the embedded broker's
    /// durable queues): a SEND with `persistent:true` to a `/queue/..` survives a crash,
    /// and so do private messages waiting in a user's [`INBOX`] (across a restart, they
    /// reach the user's next session). Ignored with `relay` or `backplane`. Default: none
    /// (in memory).
    pub data_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stompjs: default_stompjs_path(),
            heartbeat: Duration::from_secs(10),
            relay: None,
            backplane: None,
            data_dir: None,
        }
    }
}

/// The state the handlers share.
#[derive(Debug, Clone, Default)]
pub struct ChatState {
    /// Who is online on this server.
    pub online: Arc<Online>,
    /// Who is online on the other servers (with `--relay` or `--backplane`).
    pub elsewhere: Elsewhere,
}

/// The STOMP endpoint of the chat, with its handlers, and the task that tracks presence.
///
/// Must be called inside a Tokio runtime (it spawns the presence task).
///
/// # Panics
/// If the durable store of [`Config::data_dir`] cannot be opened; [`try_stomp`] returns
/// the error instead.
pub fn stomp(config: &Config) -> Stomp {
    match try_stomp(config) {
        Ok(stomp) => stomp,
        Err(e) => panic!("{e}"),
    }
}

/// [`stomp`], or why it cannot be built (the durable store cannot be opened).
pub fn try_stomp(config: &Config) -> Result<Stomp, stomp_axum::BuildError> {
    // Before the engine is built, which takes its metric handles from the recorder.
    metrics::install();
    let millis = u32::try_from(config.heartbeat.as_millis()).unwrap_or(u32::MAX);
    let relay = config
        .relay
        .clone()
        .map(|relay| Relay::start(relay.prefixes(["/topic", "/queue"])));
    let backplane = match (&relay, &config.backplane) {
        (None, Some(redis)) => stomp_core::backplane::redis::broker(redis.clone())
            .inspect_err(|e| eprintln!("chat: backplane not started ({e}): embedded broker only"))
            .ok(),
        _ => None,
    };
    // The engine's user registry, made here so the handlers' state can hold it; with the
    // relay, `.relay(..)` keeps it in sync across instances.
    let user_registry = UserRegistry::new();
    let state = ChatState {
        online: Arc::default(),
        elsewhere: match (&relay, &backplane) {
            (Some(_), _) => Elsewhere::Relay(user_registry.clone()),
            (None, Some(backplane)) => Elsewhere::Backplane(backplane.cluster()),
            (None, None) => Elsewhere::Nowhere,
        },
    };
    let builder = Stomp::builder()
        .with_state(state.clone())
        .handler(handlers::chat)
        .handler(handlers::join)
        .handler(handlers::private)
        .handler(handlers::online)
        .app_destination_prefix("/app");
    let builder = match (relay, backplane) {
        (Some(relay), _) => builder.user_registry(user_registry).relay(relay),
        (None, Some(backplane)) => builder.backplane(backplane),
        (None, None) => match &config.data_dir {
            Some(dir) => {
                let broker = SimpleBroker::open(
                    SimpleBrokerConfig::new()
                        .topic_prefixes(["/topic"])
                        .queue_prefixes(["/queue"])
                        .data_dir(dir.clone()),
                )?;
                if let Some(report) = broker.durable_report() {
                    println!("chat: {report}");
                }
                builder.broker(broker)
            }
            None => builder.simple_broker(["/topic", "/queue"]),
        }
        // The embedded broker holds each user's inbox: a queue per user, so a private
        // message to someone offline waits for them.
        .user_destinations(
            stomp_axum::core::user::UserDestinations::new(user_registry.clone())
                .durable_queue(INBOX),
        ),
    };
    let stomp = builder
        // A demo: anyone may log in as anyone (see the README).
        .authenticator(InsecureLoginAuthenticator)
        .destination_policy(policy())
        .user_destination_prefix("/user")
        .heartbeat(HeartBeat::new(millis, millis))
        .try_build()?;
    // Subscribed here, not in the task: no session event is missed before it first runs.
    tokio::spawn(track_presence(
        stomp.subscribe_events(),
        stomp.template(),
        state.online,
    ));
    Ok(stomp)
}

/// The whole application: the page, `/metrics` (Prometheus) and `stomp` mounted at `/ws`.
pub fn app_with(config: &Config, stomp: &Stomp) -> Router {
    web::routes(config.stompjs.clone())
        .merge(metrics::routes(stomp))
        .layer(stomp.layer("/ws"))
}

/// The whole application: the page, and the STOMP endpoint at `/ws`.
///
/// Must be called inside a Tokio runtime (it spawns the presence task).
pub fn app(config: Config) -> Router {
    app_with(&config, &stomp(&config))
}

/// Serves the chat on `listener` until Ctrl-C, then shuts the STOMP sessions down cleanly.
///
/// Runs [`stomp_axum::serve`]: header-read and idle timeouts before the upgrade, a cap on
/// open connections and `TCP_NODELAY` (small STOMP frames go out at once instead of waiting
/// behind Nagle's algorithm). Bind `listener` with [`stomp_axum::bind`] for a listen
/// backlog of 4,096 (bursts of connections).
pub async fn serve(listener: TcpListener, config: Config) -> std::io::Result<()> {
    let stomp = try_stomp(&config).map_err(std::io::Error::other)?;
    serve_stomp(listener, &config, stomp).await
}

/// [`serve`] with an endpoint built already (by [`try_stomp`]).
pub async fn serve_stomp(
    listener: TcpListener,
    config: &Config,
    stomp: Stomp,
) -> std::io::Result<()> {
    let app = app_with(config, &stomp);
    let ctrl_c = async {
        // If the signal handler cannot be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    stomp_axum::serve(listener, app)
        .with_graceful_shutdown(stomp.shutdown_signal(ctrl_c))
        .await
}

/// Follows the engine's session events: a user's first session → online, their last one
/// gone → offline, each change published on [`PRESENCE_TOPIC`].
async fn track_presence(
    mut events: broadcast::Receiver<SessionEvent>,
    template: MessagingTemplate,
    online: Arc<Online>,
) {
    loop {
        let change = match events.recv().await {
            Ok(SessionEvent::Connected { info }) => info.principal.and_then(|p| {
                online
                    .session_opened(info.id.as_str(), p.name())
                    .then(|| PresenceEvent {
                        user: p.name().to_owned(),
                        online: true,
                    })
            }),
            Ok(SessionEvent::Disconnected { session, .. }) => online
                .session_closed(session.as_str())
                .map(|user| PresenceEvent {
                    user,
                    online: false,
                }),
            Ok(_) => None,
            // Missed events: the list may be stale until those users reconnect.
            Err(RecvError::Lagged(missed)) => {
                eprintln!("chat: presence missed {missed} session events");
                None
            }
            Err(RecvError::Closed) => return,
        };
        if let Some(event) = change {
            if let Err(e) = template.send_json(PRESENCE_TOPIC, &event).await {
                eprintln!("chat: could not publish presence of {}: {e}", event.user);
            }
        }
    }
}
