//! The messaging template: publish to the broker from anywhere in the application.

use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use serde::Serialize;

use crate::broker::{BrokerError, Message};
use crate::channel::BrokerChannel;
use crate::frame::{name, Headers};
use crate::identity::SessionId;

/// Why a template send failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The broker refused the message.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The broker did not take the message within the template's send timeout.
    #[error("the broker did not take the message within {0:?}")]
    Timeout(Duration),
    /// The payload could not be serialized to JSON.
    #[error("could not serialize the payload to JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A cheap, clonable handle that publishes to the broker channel, exactly as a handler's
/// return value does. Use it from axum handlers, background tasks, anywhere.
///
/// Every send is async, never blocks a thread, and fails with
/// [`TemplateError::Timeout`] instead of hanging when the broker cannot take the message in
/// time. The timeout uses Tokio's timer, so sends must run on a Tokio runtime with time
/// enabled (as `#[tokio::main]` sets up).
#[derive(Debug, Clone)]
pub struct MessagingTemplate {
    channel: BrokerChannel,
    user_prefix: ByteString,
    send_timeout: Duration,
}

impl MessagingTemplate {
    /// Default time the broker has to take a message (10 s).
    pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);

    /// A template publishing through `channel`; `user_prefix` is the user destination
    /// prefix (usually `/user`, and the same as the channel's).
    pub fn new(channel: BrokerChannel, user_prefix: impl Into<ByteString>) -> Self {
        MessagingTemplate {
            channel,
            user_prefix: user_prefix.into(),
            send_timeout: Self::DEFAULT_SEND_TIMEOUT,
        }
    }

    /// A template publishing through `channel`, with the channel's user destination prefix.
    pub fn from_channel(channel: BrokerChannel) -> Self {
        let prefix = ByteString::from(channel.user_destinations().prefix());
        MessagingTemplate::new(channel, prefix)
    }

    /// Builder: how long a send may wait for the broker.
    #[must_use]
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The broker channel behind the template.
    pub fn channel(&self) -> &BrokerChannel {
        &self.channel
    }

    /// Sends `body` (bytes or text) to `destination`.
    pub async fn send(
        &self,
        destination: impl Into<ByteString>,
        body: impl Into<Bytes>,
    ) -> Result<(), TemplateError> {
        self.send_with_headers(destination, Headers::new(), body)
            .await
    }

    /// Sends `payload` serialized as JSON (`content-type: application/json`).
    pub async fn send_json<T: Serialize + ?Sized>(
        &self,
        destination: impl Into<ByteString>,
        payload: &T,
    ) -> Result<(), TemplateError> {
        let body = serde_json::to_vec(payload)?;
        let mut headers = Headers::with_capacity(2);
        headers.append(name::CONTENT_TYPE, "application/json");
        self.send_with_headers(destination, headers, body).await
    }

    /// Sends `body` with extra headers (user headers, `content-type`, ...).
    pub async fn send_with_headers(
        &self,
        destination: impl Into<ByteString>,
        mut headers: Headers,
        body: impl Into<Bytes>,
    ) -> Result<(), TemplateError> {
        let destination = destination.into();
        headers.set(name::DESTINATION, destination.clone());
        self.send_message(Message {
            destination,
            headers,
            body: body.into(),
        })
        .await
    }

    /// Sends a prepared [`Message`] (its `destination` routes it; its headers reach the
    /// subscribers as they are). Fails with [`TemplateError::Timeout`] if the broker has not
    /// taken it within the send timeout; the send is then abandoned.
    pub async fn send_message(&self, message: Message) -> Result<(), TemplateError> {
        match tokio::time::timeout(self.send_timeout, self.channel.publish(message)).await {
            Ok(result) => result.map_err(TemplateError::from),
            Err(_) => Err(TemplateError::Timeout(self.send_timeout)),
        }
    }

    /// The send timeout.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// The destination by which `user` receives what is sent to `destination`
    /// (`/user/{user}{destination}`; a `/` in the user name is written `%2F`).
    pub fn user_destination(&self, user: &str, destination: &str) -> ByteString {
        let user = crate::user::encode_user(user);
        let mut d =
            String::with_capacity(self.user_prefix.len() + user.len() + destination.len() + 2);
        d.push_str(&self.user_prefix);
        d.push('/');
        d.push_str(&user);
        if !destination.starts_with('/') {
            d.push('/');
        }
        d.push_str(destination);
        d.into()
    }

    /// Sends `body` to every session of `user` subscribed to the user destination
    /// `destination` (e.g. `/queue/reply`, subscribed as `/user/queue/reply`). Nothing is
    /// delivered, and it is not an error, if the user is not connected.
    pub async fn send_to_user(
        &self,
        user: &str,
        destination: &str,
        body: impl Into<Bytes>,
    ) -> Result<(), TemplateError> {
        self.send(self.user_destination(user, destination), body)
            .await
    }

    /// [`send_to_user`](Self::send_to_user) with extra headers.
    pub async fn send_to_user_with_headers(
        &self,
        user: &str,
        destination: &str,
        headers: Headers,
        body: impl Into<Bytes>,
    ) -> Result<(), TemplateError> {
        self.send_with_headers(self.user_destination(user, destination), headers, body)
            .await
    }

    /// Sends `payload` as JSON to every session of `user` subscribed to the user
    /// destination `destination`.
    pub async fn send_json_to_user<T: Serialize + ?Sized>(
        &self,
        user: &str,
        destination: &str,
        payload: &T,
    ) -> Result<(), TemplateError> {
        self.send_json(self.user_destination(user, destination), payload)
            .await
    }

    /// Sends `body` to one session only, on its user destination `destination` (what that
    /// session subscribed to as `/user{destination}`). The MESSAGE shows the user-facing
    /// destination (`/user{destination}`) in its `destination` header. Only that session
    /// receives it ([`Broker::publish_to_session`](crate::broker::Broker::publish_to_session)):
    /// pattern subscriptions of other sessions never do.
    pub async fn send_to_session(
        &self,
        session: &SessionId,
        destination: &str,
        mut headers: Headers,
        body: impl Into<Bytes>,
    ) -> Result<(), TemplateError> {
        let mut user_facing = String::with_capacity(self.user_prefix.len() + destination.len() + 1);
        user_facing.push_str(&self.user_prefix);
        if !destination.starts_with('/') {
            user_facing.push('/');
        }
        user_facing.push_str(destination);
        let routing =
            crate::user::session_destination(&user_facing[self.user_prefix.len()..], session);
        headers.set(name::DESTINATION, user_facing);
        let message = Message {
            destination: routing.into(),
            headers,
            body: body.into(),
        };
        let publish = self.channel.publish_to_session(session, message);
        match tokio::time::timeout(self.send_timeout, publish).await {
            Ok(result) => result.map_err(TemplateError::from),
            Err(_) => Err(TemplateError::Timeout(self.send_timeout)),
        }
    }
}
