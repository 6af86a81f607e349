//! Subscriptions of a client and the messages they receive.

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::mpsc;

use super::{Client, ClientError};
use crate::frame::{name, Frame, Headers};

/// One MESSAGE frame received on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    frame: Frame,
}

impl Delivery {
    pub(crate) fn new(frame: Frame) -> Self {
        Delivery { frame }
    }

    /// The MESSAGE frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Takes the MESSAGE frame.
    pub fn into_frame(self) -> Frame {
        self.frame
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.frame.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.frame.body
    }

    /// The `destination` header.
    pub fn destination(&self) -> Option<&str> {
        self.frame.headers.destination()
    }

    /// The `message-id` header.
    pub fn message_id(&self) -> Option<&str> {
        self.frame.headers.message_id()
    }

    /// The `subscription` header.
    pub fn subscription(&self) -> Option<&str> {
        self.frame.headers.subscription()
    }

    /// The id to acknowledge this message with: the `ack` header (STOMP 1.2), else the
    /// `message-id` (STOMP 1.1).
    pub fn ack_id(&self) -> Option<&str> {
        self.frame
            .headers
            .get(name::ACK)
            .or_else(|| self.frame.headers.message_id())
    }
}

/// A live subscription: a bounded queue of the MESSAGE frames delivered to it.
///
/// When the queue is full the connection's reader stops reading from the server, so TCP
/// pushes back on the broker instead of memory growing. Dropping the subscription without
/// [`unsubscribe`](Subscription::unsubscribe) leaves it active on the server; its messages
/// are discarded.
#[derive(Debug)]
pub struct Subscription {
    id: ByteString,
    destination: ByteString,
    rx: mpsc::Receiver<Delivery>,
    client: Client,
}

impl Subscription {
    pub(crate) fn new(
        id: ByteString,
        destination: ByteString,
        rx: mpsc::Receiver<Delivery>,
        client: Client,
    ) -> Self {
        Subscription {
            id,
            destination,
            rx,
            client,
        }
    }

    /// The subscription id (the SUBSCRIBE `id` header).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The destination subscribed to.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The next message; `None` once the connection has ended (see
    /// [`Client::error`](super::Client::error) for why).
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// The next message if one is already queued.
    pub fn try_next(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }

    /// The client this subscription belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends UNSUBSCRIBE and waits for the server's receipt.
    pub async fn unsubscribe(self) -> Result<(), ClientError> {
        self.client.unsubscribe(&self.id).await
    }
}
