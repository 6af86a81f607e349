//! [`OutboundInterceptor`]: inspects, modifies or drops the MESSAGE, RECEIPT and ERROR
//! frames on their way into a session's outbound queue (Spring's `clientOutboundChannel`
//! interceptors).
//!
//! Every frame a session is sent passes through its [`OutboundSender`](super::OutboundSender),
//! already encoded (a broker encodes a MESSAGE's shared part once per publish, then each
//! delivery per subscriber). With no interceptor installed the sender holds `None` and
//! queues the bytes as before: one branch, no decoding, no allocation. With interceptors,
//! each MESSAGE, RECEIPT and ERROR is decoded, handed to them in order, and re-encoded in
//! the session's protocol version; CONNECTED and heart-beats pass through unchanged.

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

use crate::codec::{encode, Decoded, Decoder, Limits};
use crate::frame::{Command, Frame};
use crate::identity::{Attributes, SessionId, SessionInfo};
use crate::version::Version;

/// Inspects, modifies or drops a frame about to be queued for a session: MESSAGE (broker
/// deliveries, `subscribe_mapping` answers, user-destination messages), RECEIPT and ERROR.
///
/// Return the frame (changed or not) to send it, `None` to drop it. Interceptors run in
/// the order installed, synchronously on the producer's task (the broker's fan-out, the
/// session): keep them fast and never block. A closure
/// `Fn(&SessionInfo, Frame) -> Option<Frame>` is one.
///
/// - `session` is the connected session (principal, version, attributes); frames sent
///   before CONNECTED (an ERROR refusing the CONNECT) see the session id, no principal,
///   version 1.2.
/// - Dropping a MESSAGE of a `client` / `client-individual` subscription leaves it
///   unacknowledged, as the broker sent it.
/// - A changed `content-length` is recomputed; `subscription`, `message-id` and `ack`
///   are the delivery's own: change them and the client may not match the frame.
///
/// ```
/// use stomp_core::engine::Engine;
/// use stomp_core::identity::SessionInfo;
/// use stomp_core::{Command, Frame};
///
/// let engine = Engine::builder()
///     // Tag every MESSAGE with the receiving user; drop audit messages for anonymous users.
///     .outbound_interceptor(|session: &SessionInfo, frame: Frame| {
///         if frame.command != Command::Message {
///             return Some(frame);
///         }
///         match &session.principal {
///             Some(user) => Some(frame.header("x-delivered-to", user.name())),
///             None if frame.headers.destination() == Some("/topic/audit") => None,
///             None => Some(frame),
///         }
///     })
///     .build();
/// # let _ = engine;
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an outbound interceptor",
    note = "implement `OutboundInterceptor`, or pass a closure `Fn(&SessionInfo, Frame) -> Option<Frame> + Send + Sync + 'static`"
)]
pub trait OutboundInterceptor: Send + Sync + 'static {
    /// The frame to send instead of `frame`, or `None` to drop it.
    fn intercept(&self, session: &SessionInfo, frame: Frame) -> Option<Frame>;
}

impl<F> OutboundInterceptor for F
where
    F: Fn(&SessionInfo, Frame) -> Option<Frame> + Send + Sync + 'static,
{
    fn intercept(&self, session: &SessionInfo, frame: Frame) -> Option<Frame> {
        self(session, frame)
    }
}

/// The interceptors of one session, shared by every clone of its sender.
pub(crate) struct Interception {
    interceptors: Arc<[Arc<dyn OutboundInterceptor>]>,
    unconnected: SessionInfo,
    connected: OnceLock<SessionInfo>,
}

impl std::fmt::Debug for Interception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interception")
            .field("interceptors", &self.interceptors.len())
            .field("session", &self.session().id)
            .finish()
    }
}

impl Interception {
    pub(crate) fn new(interceptors: Arc<[Arc<dyn OutboundInterceptor>]>, id: SessionId) -> Self {
        Interception {
            interceptors,
            unconnected: SessionInfo {
                id,
                principal: None,
                version: Version::V1_2,
                attributes: Attributes::default(),
            },
            connected: OnceLock::new(),
        }
    }

    /// The session connected: interceptors see `info` from now on.
    pub(crate) fn connected(&self, info: SessionInfo) {
        let _ = self.connected.set(info);
    }

    fn session(&self) -> &SessionInfo {
        self.connected.get().unwrap_or(&self.unconnected)
    }

    /// Runs the interceptors over the frames in `bytes`; `None` when nothing is left.
    pub(crate) fn apply(&self, bytes: Bytes) -> Option<Bytes> {
        let session = self.session();
        let mut decoder = Decoder::new(Limits::unlimited());
        decoder.set_version(session.version);
        let mut input = BytesMut::from(&bytes[..]);
        let mut out = BytesMut::with_capacity(bytes.len());
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(Decoded::Frame(frame))) => {
                    if let Some(frame) = self.run(session, frame) {
                        encode(&frame, session.version, &mut out);
                    }
                }
                Ok(Some(Decoded::HeartBeat)) => out.extend_from_slice(b"\n"),
                Ok(None) => break,
                Err(e) => {
                    // Our own encoding always decodes; if it ever does not, send it as is.
                    tracing::warn!(session = %session.id, error = %e, "outbound frame not intercepted");
                    return Some(bytes);
                }
            }
        }
        (!out.is_empty()).then(|| out.freeze())
    }

    fn run(&self, session: &SessionInfo, frame: Frame) -> Option<Frame> {
        if !matches!(
            frame.command,
            Command::Message | Command::Receipt | Command::Error
        ) {
            return Some(frame);
        }
        self.interceptors
            .iter()
            .try_fold(frame, |frame, i| i.intercept(session, frame))
    }
}
