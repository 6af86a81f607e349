//! A Redis pub/sub backplane for the embedded broker of `stomp-axum`: several app instances
//! behind a load balancer share topics, user destinations and a cluster-wide user list,
//! with no external STOMP broker.
//!
//! [`RedisBackplane`] is the transport ([`crate::backplane::Backplane`]); wrap it in a
//! [`BackplaneBroker`], or let [`broker`] do both:
//!
//! ```no_run
//! use stomp_core::backplane::BackplaneConfig;
//! use stomp_core::broker::SimpleBroker;
//! use stomp_core::user::UserDestinations;
//! use stomp_core::backplane::redis::{RedisBackplane, RedisConfig};
//!
//! # async fn run() -> Result<(), ::redis::RedisError> {
//! let transport = RedisBackplane::start(RedisConfig::new("redis://127.0.0.1:6379").prefix("chat"))?;
//! let broker = stomp_core::backplane::BackplaneBroker::new(
//!     SimpleBroker::default(),
//!     UserDestinations::default(),
//!     transport,
//!     BackplaneConfig::default(),
//! );
//! // Engine::builder().broker(broker.clone()).user_destinations(broker.user_destinations().clone())
//! // or, with stomp-axum: Stomp::builder().backplane(broker.clone())
//! println!("users in the cluster: {:?}", broker.cluster().user_names());
//! # Ok(()) }
//! ```
//!
//! Channels are `{prefix}:t:{destination}` (topics; pattern subscriptions use `PSUBSCRIBE`
//! with every `*`/`**` widened to Redis' `*`), `{prefix}:u:{user}` and `{prefix}:presence`.
//! Each instance holds two connections: one subscriber connection and one multiplexed
//! connection on which one task publishes in order, pipelining what has queued up.

mod transport;

pub use transport::{RedisBackplane, RedisConfig, RedisStats};

use super::{BackplaneBroker, BackplaneConfig};
use crate::broker::SimpleBroker;
use crate::user::UserDestinations;

/// A [`BackplaneBroker`] over Redis with default settings: a default [`SimpleBroker`], a
/// fresh user registry and [`BackplaneConfig::default`]. Must run inside a Tokio runtime.
pub fn broker(config: RedisConfig) -> Result<BackplaneBroker, ::redis::RedisError> {
    let transport = RedisBackplane::start(config)?;
    Ok(BackplaneBroker::new(
        SimpleBroker::default(),
        UserDestinations::default(),
        transport,
        BackplaneConfig::default(),
    ))
}
