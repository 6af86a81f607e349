//! Sessions: one connected client each, from CONNECT to close.
//!
//! A [`Session`] is driven by its transport's reader task: every frame goes through
//! [`Session::handle_frame`] (or bytes through [`Session::receive`] or
//! [`Session::receive_bytes`]), one at a time, in order. A frame that asks for a receipt
//! gets its RECEIPT only once it has taken effect.
//! Any protocol error is answered with one ERROR frame (carrying `receipt-id` when the
//! offending frame had `receipt`), after which the session accepts nothing more.
//!
//! Application dispatches are awaited inline by default, so one session's frames are
//! handled strictly in order. With
//! [`EngineBuilder::app_concurrency`](crate::engine::EngineBuilder::app_concurrency) above
//! 1, SENDs and SUBSCRIBEs to application destinations of one session are dispatched
//! concurrently (bounded) while the session goes on reading; every other frame, an ERROR
//! of the session's own and the close wait until those dispatches are done (see
//! `app_pipeline`).

mod app_pipeline;
mod commands;
mod connect;
mod error;
pub(crate) mod shared;
mod transaction;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tracing::Instrument;

use crate::codec::{Decoded, Decoder, Input};
use crate::engine::{EngineInner, TransportInfo};
use crate::frame::Frame;
use crate::identity::{Attributes, SessionId, SessionInfo};
use crate::outbound::CloseReason;
use crate::trace;
use crate::version::Version;

use app_pipeline::AppPipeline;
use error::ProtocolError;
use shared::SessionShared;
use transaction::Transactions;

/// The session has ended (ERROR sent, DISCONNECT handled, or closed by the engine): the
/// transport should stop reading and let its writer drain the outbound queue and close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session ended: {}", .reason.describe())]
pub struct SessionEnded {
    /// Why it ended.
    pub reason: CloseReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingConnect,
    Connected,
    Closed,
}

/// What handling a frame asks of the session.
enum Outcome {
    Continue,
    Disconnect,
    /// Handed to the app pipeline, which sends the RECEIPT once the dispatch completed.
    Pipelined,
    /// The app pipeline failed: ERROR was sent already; the session must end.
    Ended,
}

/// One client session, owned by the transport's reader task.
pub struct Session {
    engine: Arc<EngineInner>,
    shared: Arc<SessionShared>,
    transport: TransportInfo,
    attributes: Attributes,
    state: State,
    transactions: Transactions,
    decoder: Decoder,
    buffer: BytesMut,
    /// Concurrent application dispatch (`app_concurrency > 1` only).
    pipeline: Option<AppPipeline>,
    /// The `receipt` of the frame being handled (as received, before interceptors).
    receipt: Option<ByteString>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.shared.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        engine: Arc<EngineInner>,
        shared: Arc<SessionShared>,
        transport: TransportInfo,
    ) -> Self {
        let transactions = Transactions::new(
            engine.config.max_transactions,
            engine.config.max_transaction_frames,
            shared.memory.clone(),
        );
        let decoder = Decoder::new(engine.config.limits);
        let pipeline = (engine.config.app_concurrency > 1 && engine.app.is_some()).then(|| {
            AppPipeline::new(
                engine.config.app_concurrency,
                engine.clone(),
                shared.clone(),
            )
        });
        Session {
            engine,
            shared,
            transport,
            attributes: Attributes::default(),
            state: State::AwaitingConnect,
            transactions,
            decoder,
            buffer: BytesMut::new(),
            pipeline,
            receipt: None,
        }
    }

    /// The session id (also CONNECTED's `session` header).
    pub fn id(&self) -> &SessionId {
        &self.shared.id
    }

    /// The session as the application sees it (before CONNECT: the transport's principal
    /// and a provisional version).
    pub fn info(&self) -> SessionInfo {
        match self.shared.connected.get() {
            Some(c) => c.info.clone(),
            None => SessionInfo {
                id: self.shared.id.clone(),
                principal: self.transport.principal.clone(),
                version: self.provisional_version(),
                attributes: self.attributes.clone(),
            },
        }
    }

    fn provisional_version(&self) -> Version {
        self.transport
            .subprotocol
            .or_else(|| self.engine.config.versions.last().copied())
            .unwrap_or(Version::V1_2)
    }

    fn ended(&self) -> SessionEnded {
        SessionEnded {
            reason: self
                .shared
                .outbound
                .close_reason()
                .unwrap_or(CloseReason::TransportClosed),
        }
    }

    /// Feeds bytes from the transport (any split: part of a frame, one, or several). Each
    /// complete frame is handled in order, as by [`handle_frame`](Self::handle_frame);
    /// heart-beat EOLs only refresh the client's liveness. A framing error (bad syntax, a
    /// limit passed) is answered with ERROR and ends the session.
    ///
    /// The frames decoded share one copy of `data`;
    /// [`receive_bytes`](Self::receive_bytes) avoids even that copy.
    pub async fn receive(&mut self, data: &[u8]) -> Result<(), SessionEnded> {
        let now_ms = self.begin_receive(data.len())?;
        self.buffer.extend_from_slice(data);
        self.decode_buffered(now_ms).await
    }

    /// Feeds bytes from the transport, as [`receive`](Self::receive) does, without copying
    /// them when nothing is left over from the previous call: the frames decoded share
    /// `data`'s storage. Only an incomplete frame at the end is copied, and kept until the
    /// rest of it arrives.
    pub async fn receive_bytes(&mut self, mut data: Bytes) -> Result<(), SessionEnded> {
        let now_ms = self.begin_receive(data.len())?;
        if !self.buffer.is_empty() {
            self.buffer.extend_from_slice(&data);
            return self.decode_buffered(now_ms).await;
        }
        // An empty buffer means the decoder is between frames (an incomplete frame always
        // leaves bytes behind), so it can start on `data` itself.
        self.decode_frames(&mut data, now_ms).await?;
        if !data.is_empty() {
            self.buffer.extend_from_slice(&data);
        }
        Ok(())
    }

    /// What every received chunk starts with: refuses it once closed, refreshes the
    /// client's liveness. Returns the time read, which stands for every frame of the chunk
    /// (one clock read per chunk).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn begin_receive(&self, len: usize) -> Result<u64, SessionEnded> {
        if self.state == State::Closed {
            return Err(self.ended());
        }
        let now_ms = self.engine.now_ms();
        self.shared.touch_read(now_ms);
        #[cfg(feature = "metrics")]
        self.engine.metrics.bytes_received(len);
        Ok(now_ms)
    }

    /// Decodes and handles what `self.buffer` holds.
    async fn decode_buffered(&mut self, now_ms: u64) -> Result<(), SessionEnded> {
        // Taken out while its frames are handled, and put back only when something is left
        // over: the frames just decoded share its storage, so an idle session keeps no
        // input buffer at all (a reused one only saves an allocation when no frame still
        // holds it).
        let mut buffer = std::mem::take(&mut self.buffer);
        self.decode_frames(&mut buffer, now_ms).await?;
        if !buffer.is_empty() {
            self.buffer = buffer;
        }
        Ok(())
    }

    /// Decodes and handles every complete frame at the front of `input`, leaving an
    /// incomplete one there; a framing error is answered with ERROR and ends the session.
    /// `now_ms` is when `input` was received.
    async fn decode_frames<B: Input>(
        &mut self,
        input: &mut B,
        now_ms: u64,
    ) -> Result<(), SessionEnded> {
        loop {
            match self.decoder.decode_from(input) {
                Ok(None) => return Ok(()),
                Ok(Some(Decoded::HeartBeat)) => {}
                Ok(Some(Decoded::Frame(frame))) => self.handle_frame_at(frame, now_ms).await?,
                Err(error) => {
                    let frame = error.to_error_frame();
                    let message = frame
                        .headers
                        .message()
                        .unwrap_or("malformed frame")
                        .to_owned();
                    tracing::debug!(session = %self.shared.id, %message, "framing error");
                    self.engine.send_frame(&self.shared, &frame);
                    self.end(CloseReason::Error(message)).await;
                    return Err(self.close_state());
                }
            }
        }
    }

    /// Handles one client frame: interceptors, then its effect, then its RECEIPT.
    ///
    /// `Err` means the session is over (an ERROR was queued, DISCONNECT was handled, or the
    /// engine closed it): stop reading and let the outbound queue drain.
    pub async fn handle_frame(&mut self, frame: Frame) -> Result<(), SessionEnded> {
        let now_ms = self.engine.now_ms();
        self.handle_frame_at(frame, now_ms).await
    }

    /// [`handle_frame`](Self::handle_frame) for a frame received at `now_ms` (read once
    /// for all the frames of one received chunk).
    async fn handle_frame_at(&mut self, frame: Frame, now_ms: u64) -> Result<(), SessionEnded> {
        if self.state == State::Closed {
            return Err(self.ended());
        }
        let span = self.frame_span(&frame);
        self.handle_frame_in_span(frame, now_ms)
            .instrument(span)
            .await
    }

    /// The [`FRAME_SPAN`](crate::trace::FRAME_SPAN) of `frame` (disabled, and nothing
    /// computed, without a subscriber interested in it).
    fn frame_span(&self, frame: &Frame) -> tracing::Span {
        let span = tracing::info_span!(
            target: "stomp_core::trace",
            "stomp.frame",
            command = %frame.command,
            destination = frame.headers.destination(),
            session = %self.shared.id,
            user = tracing::field::Empty,
            traceparent = frame.headers.get(trace::TRACEPARENT),
            tracestate = frame.headers.get(trace::TRACESTATE),
        );
        if !span.is_disabled() {
            let principal = match self.shared.connected.get() {
                Some(c) => c.info.principal.as_ref(),
                None => self.transport.principal.as_ref(),
            };
            if let Some(principal) = principal {
                span.record("user", principal.name());
            }
        }
        span
    }

    async fn handle_frame_in_span(
        &mut self,
        frame: Frame,
        now_ms: u64,
    ) -> Result<(), SessionEnded> {
        self.shared.touch_read(now_ms);
        if let Some(frames) = self.shared.count_frame_in() {
            self.engine
                .counters
                .frames_in_retired
                .fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
        }
        #[cfg(feature = "metrics")]
        self.engine.metrics.frame_received(frame.command);
        if let Err(pending) = self.shared.begin_frame() {
            if let Some(close) = pending {
                self.engine.close_now(&self.shared, close).await;
            }
            return Err(self.close_state());
        }
        if self.pipeline.as_ref().is_some_and(AppPipeline::failed) {
            self.end(CloseReason::Error("application handler failed".into()))
                .await;
            return Err(self.close_state());
        }
        let receipt = frame.headers.receipt().map(ByteString::from);
        self.receipt.clone_from(&receipt);
        match self.process(frame).await {
            Ok(Outcome::Pipelined) => {}
            Ok(Outcome::Ended) => {
                self.end(CloseReason::Error("application handler failed".into()))
                    .await;
                return Err(self.close_state());
            }
            Ok(Outcome::Continue) => {
                if let Some(receipt) = receipt {
                    self.engine
                        .send_frame(&self.shared, &Frame::receipt(receipt));
                }
            }
            Ok(Outcome::Disconnect) => {
                if let Some(receipt) = receipt {
                    self.engine
                        .send_frame(&self.shared, &Frame::receipt(receipt));
                }
                self.end(CloseReason::ClientDisconnect).await;
                return Err(self.close_state());
            }
            Err(error) => {
                if !self.drain_app().await {
                    // A concurrent dispatch failed meanwhile: its ERROR went out instead.
                    self.end(CloseReason::Error(error.message)).await;
                    return Err(self.close_state());
                }
                tracing::debug!(session = %self.shared.id, message = %error.message, "protocol error");
                self.engine
                    .send_frame(&self.shared, &error.to_frame(receipt.as_ref()));
                self.end(CloseReason::Error(error.message)).await;
                return Err(self.close_state());
            }
        }
        if let Some(close) = self.shared.end_frame() {
            self.engine.close_now(&self.shared, close).await;
            return Err(self.close_state());
        }
        if self.shared.outbound.is_closed() {
            // Closed behind our back meanwhile (slow consumer, writer gone).
            self.end(CloseReason::TransportClosed).await;
            return Err(self.close_state());
        }
        Ok(())
    }

    /// The transport went away without DISCONNECT: releases everything the session held
    /// (subscriptions, open transactions) and publishes `Disconnected`.
    pub async fn transport_closed(mut self) {
        self.drain_app().await;
        if !self.shared.is_finished() {
            self.end(CloseReason::TransportClosed).await;
        }
        self.state = State::Closed;
    }

    async fn end(&mut self, reason: CloseReason) {
        self.drain_app().await;
        self.transactions.clear();
        self.shared.outbound.close(reason.clone());
        self.engine.finish(&self.shared, reason).await;
    }

    /// Waits until no concurrent application dispatch is in flight; `false` when one
    /// failed (the session has been answered with ERROR). Always `true` in order.
    async fn drain_app(&self) -> bool {
        match &self.pipeline {
            Some(pipeline) => pipeline.drain().await,
            None => true,
        }
    }

    fn close_state(&mut self) -> SessionEnded {
        self.state = State::Closed;
        self.ended()
    }

    async fn process(&mut self, frame: Frame) -> Result<Outcome, ProtocolError> {
        match self.state {
            State::AwaitingConnect if frame.command.is_connect() => {
                let connected = self.connect(frame).await;
                #[cfg(feature = "metrics")]
                if connected.is_err() {
                    self.engine.metrics.connect(false);
                }
                let version = connected?;
                self.decoder.set_version(version);
                self.state = State::Connected;
                Ok(Outcome::Continue)
            }
            State::AwaitingConnect => Err(ProtocolError::new(
                "expected CONNECT",
                format!(
                    "the first frame must be CONNECT or STOMP, got {}",
                    frame.command
                ),
            )),
            State::Connected => {
                // The session as `info()` gives it, borrowed once connected (one `Arc`
                // clone per frame instead of a `SessionInfo` clone).
                let shared = Arc::clone(&self.shared);
                let owned;
                let info = match shared.connected.get() {
                    Some(connected) => &connected.info,
                    None => {
                        owned = self.info();
                        &owned
                    }
                };
                // No interceptor (the default): no interceptor future per frame.
                let frame = if self.engine.interceptors.is_empty() {
                    frame
                } else {
                    self.intercept(frame, info).await?
                };
                self.command(frame, info).await
            }
            State::Closed => Err(ProtocolError::new("session closed", "")),
        }
    }

    /// Runs the inbound interceptors, in order.
    async fn intercept(
        &self,
        mut frame: Frame,
        info: &SessionInfo,
    ) -> Result<Frame, ProtocolError> {
        for interceptor in &self.engine.interceptors {
            frame = interceptor.intercept(frame, info).await?;
        }
        Ok(frame)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.shared.is_finished() {
            // Dropped without `transport_closed`: release the session anyway.
            self.engine
                .spawn_finish(self.shared.clone(), CloseReason::TransportClosed);
        }
    }
}
