//! The BROKER channel: the one path by which messages reach the broker, whether they come
//! from a client SEND, a handler's reply or the messaging template.

use std::sync::Arc;

use crate::broker::{Broker, BrokerError, Message};

/// A cheap, clonable handle that hands messages to the broker.
///
/// User destinations (`/user/{name}/...`) are resolved here, so every producer gets the
/// same behaviour.
#[derive(Clone)]
pub struct BrokerChannel {
    broker: Arc<dyn Broker>,
}

impl std::fmt::Debug for BrokerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerChannel").finish_non_exhaustive()
    }
}

impl BrokerChannel {
    /// A channel in front of `broker`.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        BrokerChannel { broker }
    }

    /// The broker behind the channel.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// Publishes `message`; completes when the broker has taken it.
    pub async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        self.broker.publish(message).await
    }
}
