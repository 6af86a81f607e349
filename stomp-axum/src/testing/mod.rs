//! Socket-free tests of a [`Stomp`](crate::Stomp) application (feature `testing`).
//!
//! [`TestClient`] drives the endpoint's real engine (`stomp.engine()`) through
//! `Engine::open_session`, as the WebSocket transport does, without a socket: the frames it
//! sends are encoded to bytes and fed to the session, and what the session's outbound queue
//! yields is decoded back into frames. Handlers, extractors, the authenticator,
//! interceptors, the destination policy, the broker and user destinations all run as they
//! do behind a WebSocket, so a handler test takes milliseconds. Enable it for tests only:
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
//!     .simple_broker(["/topic", "/queue"])
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
//!
//! // An application error keeps the session: it is reported on the sender's
//! // `/user/queue/errors`, as the client would see it.
//! alice.subscribe("/user/queue/errors").await?;
//! alice.send("/app/nowhere", "x").await?;
//! let report = alice.expect_message_on("/user/queue/errors").await?;
//! assert_eq!(report.headers.message(), Some("no handler for destination"));
//!
//! // Protocol errors (here: a destination over the 1,024-byte limit) still end the
//! // session with the ERROR frame the client would see.
//! let too_long = format!("/queue/{}", "x".repeat(2_000));
//! let error = alice.send(&too_long, "x").await.unwrap_err();
//! assert!(error.frame().is_some(), "an ERROR frame: {error}");
//! # Ok::<(), stomp_axum::testing::TestError>(())
//! # }).unwrap();
//! ```
//!
//! Every expectation waits at most the client's timeout (5 s unless
//! [`TestClientBuilder::timeout`] says otherwise) and fails with a [`TestError`] that
//! names what was awaited and what came instead. Connect with
//! [`TestClient::builder`] to set CONNECT headers (`login`, `passcode`) or the transport's
//! principal with roles.

mod error;

pub use error::TestError;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use stomp_core::codec::{encode_to_bytes, Decoded, Decoder, Limits};
use stomp_core::engine::{Engine, Session, TransportInfo};
use stomp_core::frame::{name, Command, Frame};
use stomp_core::identity::{Principal, SessionId};
use stomp_core::outbound::{CloseReason, Next, Outbound, OutboundReceiver};
use stomp_core::version::Version;

/// How long an expectation waits unless the builder sets another timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures and connects a [`TestClient`]: who the user is and what CONNECT carries.
#[derive(Debug)]
#[must_use]
pub struct TestClientBuilder {
    engine: Engine,
    transport: TransportInfo,
    connect: Frame,
    timeout: Duration,
}

impl TestClientBuilder {
    /// The user as the transport established it (as an authenticated HTTP handshake
    /// would): the session's principal unless the engine's authenticator decides
    /// otherwise.
    pub fn user(self, name: &str) -> Self {
        self.principal(Principal::new(name))
    }

    /// Like [`user`](Self::user), with a principal built by the caller (roles).
    pub fn principal(mut self, principal: Principal) -> Self {
        self.transport.principal = Some(principal);
        self
    }

    /// CONNECT's `login` and `passcode` headers, for the engine's authenticator.
    pub fn login(self, login: &str, passcode: &str) -> Self {
        self.header(name::LOGIN, login)
            .header(name::PASSCODE, passcode)
    }

    /// Sets a CONNECT header (replacing one of the same name; `accept-version` is `1.2`
    /// and `heart-beat` `0,0` unless set here).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.connect.headers.set(name, value);
        self
    }

    /// How long each expectation (and each frame's handling) may take. Default
    /// [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Opens a session and sends CONNECT; returns once CONNECTED is in. A refused
    /// CONNECT is [`TestError::ErrorFrame`].
    pub async fn connect(self) -> Result<TestClient, TestError> {
        let (session, outbound) = self.engine.open_session(self.transport);
        let mut client = TestClient {
            session: Some(session),
            outbound,
            decoder: Decoder::new(Limits::unlimited()),
            pending: VecDeque::new(),
            closed: None,
            timeout: self.timeout,
            version: Version::V1_2,
            connected: Frame::new(Command::Connected),
            next_id: 0,
        };
        client.send_frame(self.connect).await?;
        let connected = client
            .expect(
                "CONNECTED",
                |f| f.command == Command::Connected,
                Stash::Never,
            )
            .await?;
        client.version = connected
            .headers
            .version()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Version::V1_0);
        client.decoder.set_version(client.version);
        client.connected = connected;
        Ok(client)
    }
}

/// Which frames that do not match an expectation are kept for later ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stash {
    /// Keep MESSAGEs and RECEIPTs (waiting for a RECEIPT or a given MESSAGE).
    Others,
    /// Nothing may come first.
    Never,
}

/// A connected, socket-free STOMP client of an [`Engine`]; see the [module](self) docs.
///
/// Frames that arrive while the client waits for something else (a handler's reply that
/// comes before the RECEIPT of the SEND that caused it, a MESSAGE for another
/// subscription) are kept, in order, for the next expectation. An ERROR frame fails the
/// expectation it interrupts, unless that expectation is [`expect_error`](Self::expect_error).
#[derive(Debug)]
pub struct TestClient {
    session: Option<Session>,
    outbound: OutboundReceiver,
    decoder: Decoder,
    /// Frames received and not yet taken by an expectation.
    pending: VecDeque<Frame>,
    closed: Option<CloseReason>,
    timeout: Duration,
    version: Version,
    connected: Frame,
    next_id: u64,
}

impl TestClient {
    /// Starts configuring a client of `engine` (for a `stomp_axum::Stomp`:
    /// `stomp.engine()`).
    pub fn builder(engine: &Engine) -> TestClientBuilder {
        TestClientBuilder {
            engine: engine.clone(),
            transport: TransportInfo::default(),
            connect: Frame::new(Command::Connect)
                .header(name::ACCEPT_VERSION, "1.2")
                .header(name::HEART_BEAT, "0,0"),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Connects anonymously (no transport user, no `login`).
    pub async fn connect(engine: &Engine) -> Result<TestClient, TestError> {
        TestClient::builder(engine).connect().await
    }

    /// Connects as `user`, established by the transport (see [`TestClientBuilder::user`]).
    pub async fn connect_as(engine: &Engine, user: &str) -> Result<TestClient, TestError> {
        TestClient::builder(engine).user(user).connect().await
    }

    /// The CONNECTED frame the server answered with.
    pub fn connected(&self) -> &Frame {
        &self.connected
    }

    /// The session id (CONNECTED's `session` header).
    pub fn session_id(&self) -> Option<SessionId> {
        self.connected
            .headers
            .get(name::SESSION)
            .map(SessionId::from)
    }

    /// The negotiated STOMP version.
    pub fn version(&self) -> Version {
        self.version
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Feeds `frame` to the session, encoded as a transport would carry it, and returns
    /// once the session has handled it (for an application destination: once the handler
    /// ran, unless the engine dispatches concurrently). Waits for nothing the server
    /// sends: use the `expect_*` methods for that.
    pub async fn send_frame(&mut self, frame: Frame) -> Result<(), TestError> {
        let waiting_for = format!("the session to take {}", frame.command);
        let Some(session) = self.session.as_mut() else {
            return Err(self.closed_error(waiting_for));
        };
        let bytes = encode_to_bytes(&frame, self.version);
        match tokio::time::timeout(self.timeout, session.receive(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            // The session ended itself (ERROR, DISCONNECT): what it sent is still queued.
            Ok(Err(_)) => {
                self.session = None;
                Ok(())
            }
            Err(_) => Err(TestError::Timeout {
                waiting_for,
                after: self.timeout,
            }),
        }
    }

    /// Sends `frame` with a fresh `receipt` header and waits for its RECEIPT: the frame
    /// has taken effect. Frames that arrive first are kept for later expectations; an
    /// ERROR is [`TestError::ErrorFrame`].
    pub async fn request(&mut self, frame: Frame) -> Result<(), TestError> {
        let receipt = self.next_id("receipt");
        let frame = frame.header(name::RECEIPT, receipt.as_str());
        self.send_frame(frame).await?;
        self.expect_receipt(&receipt).await.map(drop)
    }

    /// SEND `body` (as `text/plain`) to `destination` and wait until it took effect.
    pub async fn send(
        &mut self,
        destination: &str,
        body: impl Into<Bytes>,
    ) -> Result<(), TestError> {
        let frame = Frame::new(Command::Send)
            .header(name::DESTINATION, destination)
            .header(name::CONTENT_TYPE, "text/plain")
            .body(body);
        self.request(frame).await
    }

    /// SEND `value` as JSON (`application/json`) to `destination` and wait until it took
    /// effect.
    pub async fn send_json<T: Serialize + ?Sized>(
        &mut self,
        destination: &str,
        value: &T,
    ) -> Result<(), TestError> {
        let frame = Frame::new(Command::Send)
            .header(name::DESTINATION, destination)
            .header(name::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(value)?);
        self.request(frame).await
    }

    /// SUBSCRIBE to `destination` (`ack:auto`) and wait for the RECEIPT; returns the
    /// subscription id. A subscribe mapping's answer arrives before the RECEIPT and waits
    /// for [`expect_message`](Self::expect_message).
    pub async fn subscribe(&mut self, destination: &str) -> Result<String, TestError> {
        let id = self.next_id("sub");
        let frame = Frame::new(Command::Subscribe)
            .header(name::DESTINATION, destination)
            .header(name::ID, id.as_str());
        self.request(frame).await?;
        Ok(id)
    }

    /// UNSUBSCRIBE `id` and wait for the RECEIPT.
    pub async fn unsubscribe(&mut self, id: &str) -> Result<(), TestError> {
        self.request(Frame::new(Command::Unsubscribe).header(name::ID, id))
            .await
    }

    /// DISCONNECT with a receipt and wait for it; the session is then gone.
    pub async fn disconnect(mut self) -> Result<(), TestError> {
        self.request(Frame::new(Command::Disconnect)).await
    }

    /// Drops the transport without DISCONNECT (a closed browser tab): the engine releases
    /// the session as it would for a lost WebSocket.
    pub async fn close(mut self) {
        if let Some(session) = self.session.take() {
            session.transport_closed().await;
        }
    }

    /// The next frame, whatever it is (kept frames first).
    pub async fn next_frame(&mut self) -> Result<Frame, TestError> {
        self.expect("any frame", |_| true, Stash::Never).await
    }

    /// The next MESSAGE (kept ones first). An ERROR, or a frame other than MESSAGE or
    /// RECEIPT coming first, fails.
    pub async fn expect_message(&mut self) -> Result<Frame, TestError> {
        self.expect(
            "a MESSAGE",
            |f| f.command == Command::Message,
            Stash::Others,
        )
        .await
    }

    /// The next MESSAGE whose `destination` is `destination`; MESSAGEs for other
    /// destinations are kept for later.
    pub async fn expect_message_on(&mut self, destination: &str) -> Result<Frame, TestError> {
        self.expect(
            &format!("a MESSAGE on {destination}"),
            |f| f.command == Command::Message && f.headers.destination() == Some(destination),
            Stash::Others,
        )
        .await
    }

    /// The body of the next MESSAGE on `destination`, decoded from JSON.
    pub async fn expect_json_on<T: DeserializeOwned>(
        &mut self,
        destination: &str,
    ) -> Result<T, TestError> {
        let frame = self.expect_message_on(destination).await?;
        Ok(serde_json::from_slice(&frame.body)?)
    }

    /// The RECEIPT for `receipt` (other MESSAGEs and RECEIPTs are kept for later).
    pub async fn expect_receipt(&mut self, receipt: &str) -> Result<Frame, TestError> {
        self.expect(
            &format!("RECEIPT {receipt}"),
            |f| f.command == Command::Receipt && f.headers.receipt_id() == Some(receipt),
            Stash::Others,
        )
        .await
    }

    /// The next ERROR frame (MESSAGEs and RECEIPTs before it are kept for later). After
    /// an ERROR the session is closed.
    pub async fn expect_error(&mut self) -> Result<Frame, TestError> {
        let deadline = Instant::now() + self.timeout;
        let waiting_for = "an ERROR frame";
        if let Some(at) = self.pending.iter().position(is_error) {
            return Ok(self.pending.remove(at).unwrap_or_else(|| unreachable!()));
        }
        loop {
            let frame = self.receive(waiting_for, deadline).await?;
            if is_error(&frame) {
                return Ok(frame);
            }
            if !matches!(frame.command, Command::Message | Command::Receipt) {
                return Err(unexpected(waiting_for, frame));
            }
            self.pending.push_back(frame);
        }
    }

    /// Fails if a MESSAGE has arrived that no expectation took, counting what is queued
    /// now without waiting. Meaningful after a round trip (a RECEIPT) that anything sent
    /// before it would have preceded.
    pub fn expect_no_message(&mut self) -> Result<(), TestError> {
        self.take_queued()?;
        match self
            .pending
            .iter()
            .position(|f| f.command == Command::Message)
        {
            Some(at) => {
                let frame = self.pending.remove(at).unwrap_or_else(|| unreachable!());
                Err(unexpected("no MESSAGE", frame))
            }
            None => Ok(()),
        }
    }

    /// Every frame received so far and not taken by an expectation, without waiting.
    pub fn take_received(&mut self) -> Result<Vec<Frame>, TestError> {
        self.take_queued()?;
        Ok(self.pending.drain(..).collect())
    }

    /// Moves what is queued now into `pending`.
    fn take_queued(&mut self) -> Result<(), TestError> {
        while let Some(item) = self.outbound.try_next() {
            if let Some(frame) = self.decode(item)? {
                self.pending.push_back(frame);
            }
        }
        Ok(())
    }

    /// The first kept or arriving frame `matches` accepts.
    async fn expect(
        &mut self,
        waiting_for: &str,
        matches: impl Fn(&Frame) -> bool,
        stash: Stash,
    ) -> Result<Frame, TestError> {
        let deadline = Instant::now() + self.timeout;
        let kept = match stash {
            Stash::Never => self.pending.front().map(|_| 0),
            Stash::Others => self.pending.iter().position(|f| {
                matches(f) || !matches!(f.command, Command::Message | Command::Receipt)
            }),
        };
        if let Some(at) = kept {
            let frame = self.pending.remove(at).unwrap_or_else(|| unreachable!());
            return check(waiting_for, &matches, frame);
        }
        loop {
            let frame = self.receive(waiting_for, deadline).await?;
            let keep = stash == Stash::Others
                && !matches(&frame)
                && matches!(frame.command, Command::Message | Command::Receipt);
            if !keep {
                return check(waiting_for, &matches, frame);
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame off the outbound queue (heart-beats skipped).
    async fn receive(&mut self, waiting_for: &str, deadline: Instant) -> Result<Frame, TestError> {
        loop {
            if self.closed.is_some() {
                return Err(self.closed_error(waiting_for.to_owned()));
            }
            let next = tokio::time::timeout_at(deadline, self.outbound.next())
                .await
                .map_err(|_| TestError::Timeout {
                    waiting_for: waiting_for.to_owned(),
                    after: self.timeout,
                })?;
            match next {
                Next::Item(item) => {
                    if let Some(frame) = self.decode(item)? {
                        return Ok(frame);
                    }
                }
                Next::Close(reason) => self.closed = Some(reason),
            }
        }
    }

    fn decode(&mut self, item: Outbound) -> Result<Option<Frame>, TestError> {
        let Outbound::Frame(bytes) = item else {
            return Ok(None);
        };
        let mut buffer = BytesMut::from(&bytes[..]);
        loop {
            match self.decoder.decode(&mut buffer)? {
                Some(Decoded::Frame(frame)) => return Ok(Some(frame)),
                Some(Decoded::HeartBeat) => {}
                // One queued item is one whole frame: anything else is a broken frame.
                None => {
                    return Err(TestError::Unexpected {
                        expected: "a whole frame".to_owned(),
                        frame: Box::new(
                            Frame::new(Command::Error)
                                .header(name::MESSAGE, "incomplete frame from the server")
                                .body(bytes),
                        ),
                    })
                }
            }
        }
    }

    fn closed_error(&self, waiting_for: String) -> TestError {
        TestError::Closed {
            waiting_for,
            reason: self.closed.clone().unwrap_or(CloseReason::TransportClosed),
        }
    }
}

fn is_error(frame: &Frame) -> bool {
    frame.command == Command::Error
}

fn unexpected(expected: &str, frame: Frame) -> TestError {
    TestError::Unexpected {
        expected: expected.to_owned(),
        frame: Box::new(frame),
    }
}

fn check(
    waiting_for: &str,
    matches: impl Fn(&Frame) -> bool,
    frame: Frame,
) -> Result<Frame, TestError> {
    if matches(&frame) {
        Ok(frame)
    } else if is_error(&frame) {
        Err(TestError::ErrorFrame {
            waiting_for: waiting_for.to_owned(),
            frame: Box::new(frame),
        })
    } else {
        Err(unexpected(waiting_for, frame))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use stomp_core::interceptor::{Authenticator, ConnectRequest, Rejection};

    /// Refuses every CONNECT.
    struct Nobody;

    impl Authenticator for Nobody {
        fn authenticate(
            &self,
            _: ConnectRequest,
        ) -> stomp_core::broker::BoxFuture<'static, Result<Option<Principal>, Rejection>> {
            Box::pin(async { Err(Rejection::new("who are you?")) })
        }
    }

    #[tokio::test]
    async fn a_refused_connect_is_an_error_frame() {
        let engine = Engine::builder().authenticator(Nobody).build();
        let error = TestClient::connect(&engine).await.unwrap_err();
        let TestError::ErrorFrame { frame, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(frame.headers.message(), Some("who are you?"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_expectation_times_out_with_what_it_waited_for() {
        let engine = Engine::builder().build();
        let mut client = TestClient::builder(&engine)
            .timeout(Duration::from_millis(50))
            .connect()
            .await
            .unwrap();
        client.subscribe("/topic/quiet").await.unwrap();
        let error = client.expect_message_on("/topic/quiet").await.unwrap_err();
        assert!(error.is_timeout(), "{error}");
        assert!(
            error.to_string().contains("a MESSAGE on /topic/quiet"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn messages_for_other_destinations_wait_their_turn() {
        let engine = Engine::builder().build();
        let mut client = TestClient::connect_as(&engine, "ann").await.unwrap();
        assert_eq!(client.connected().headers.get("user-name"), Some("ann"));
        client.subscribe("/topic/a").await.unwrap();
        client.subscribe("/topic/b").await.unwrap();
        client.send("/topic/a", "first").await.unwrap();
        client.send("/topic/b", "second").await.unwrap();
        let b = client.expect_message_on("/topic/b").await.unwrap();
        assert_eq!(&b.body[..], b"second");
        let a = client.expect_message().await.unwrap();
        assert_eq!(&a.body[..], b"first");
        client.expect_no_message().unwrap();
    }

    #[tokio::test]
    async fn an_unexpected_message_fails_expect_no_message() {
        let engine = Engine::builder().build();
        let mut client = TestClient::connect(&engine).await.unwrap();
        client.subscribe("/topic/a").await.unwrap();
        client.send("/topic/a", "surprise").await.unwrap();
        let error = client.expect_no_message().unwrap_err();
        assert_eq!(&error.frame().unwrap().body[..], b"surprise");
    }

    #[tokio::test]
    async fn after_an_error_the_session_is_closed() {
        let engine = Engine::builder().build();
        let mut client = TestClient::connect(&engine).await.unwrap();
        // SUBSCRIBE without `id`: a protocol error.
        let frame = Frame::new(Command::Subscribe).header(name::DESTINATION, "/topic/a");
        client.send_frame(frame).await.unwrap();
        let error = client.expect_error().await.unwrap();
        assert!(error.headers.message().is_some());
        let closed = client.send("/topic/a", "x").await.unwrap_err();
        assert!(matches!(closed, TestError::Closed { .. }), "{closed}");
    }

    #[tokio::test]
    async fn disconnect_and_close_release_the_session() {
        let engine = Engine::builder().build();
        let polite = TestClient::connect(&engine).await.unwrap();
        let abrupt = TestClient::connect(&engine).await.unwrap();
        assert_eq!(engine.sessions().len(), 2);
        polite.disconnect().await.unwrap();
        abrupt.close().await;
        assert!(engine.sessions().is_empty());
    }
}
