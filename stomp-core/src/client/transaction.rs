//! Client transactions (BEGIN / COMMIT / ABORT).

use bytes::Bytes;
use bytestring::ByteString;

use super::{Client, ClientError, Delivery};
use crate::frame::{name, Command, Frame, Headers};

/// An open transaction: sends and acks made through it take effect at
/// [`commit`](Transaction::commit), or never after [`abort`](Transaction::abort).
#[derive(Debug)]
#[must_use = "a transaction does nothing until it is committed"]
pub struct Transaction {
    client: Client,
    id: ByteString,
}

impl Transaction {
    pub(crate) fn new(client: Client, id: ByteString) -> Self {
        Transaction { client, id }
    }

    /// The transaction id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends `body` to `destination` within the transaction.
    pub async fn send(
        &self,
        destination: impl Into<ByteString>,
        body: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let mut headers = Headers::new();
        headers.append(name::TRANSACTION, self.id.clone());
        self.client
            .send_with_headers(destination, headers, body, false)
            .await
    }

    /// Acknowledges `message` within the transaction.
    pub async fn ack(&self, message: &Delivery) -> Result<(), ClientError> {
        let frame = self
            .client
            .ack_frame(Command::Ack, message, Some(&self.id))?;
        self.client.send_frame(frame).await
    }

    /// Rejects `message` within the transaction.
    pub async fn nack(&self, message: &Delivery) -> Result<(), ClientError> {
        let frame = self
            .client
            .ack_frame(Command::Nack, message, Some(&self.id))?;
        self.client.send_frame(frame).await
    }

    /// Commits and waits for the receipt.
    pub async fn commit(self) -> Result<(), ClientError> {
        self.client
            .request(Frame::new(Command::Commit).header(name::TRANSACTION, self.id.clone()))
            .await
    }

    /// Aborts and waits for the receipt.
    pub async fn abort(self) -> Result<(), ClientError> {
        self.client
            .request(Frame::new(Command::Abort).header(name::TRANSACTION, self.id.clone()))
            .await
    }
}
