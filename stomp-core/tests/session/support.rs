//! Test support for socket-free session tests: a recording broker double, a recording app,
//! frame builders and an outbound reader.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stomp_core::app::{AppDispatch, AppError, AppRequest, AppRequestKind};
use stomp_core::broker::{BoxFuture, Broker, BrokerError, Message, Subscription};
use stomp_core::codec::{encode_to_bytes, Decoded, Decoder, Limits};
use stomp_core::engine::Session;
use stomp_core::engine::{Engine, EngineBuilder, TransportInfo};
use stomp_core::frame::name;
use stomp_core::identity::{SessionId, SessionInfo};
use stomp_core::outbound::{Next, Outbound, OutboundReceiver};
use stomp_core::{Command, Frame, Headers};

/// A broker double: exact-match destinations, records every call, delivers MESSAGE frames.
#[derive(Clone, Default)]
pub(crate) struct RecordingBroker {
    pub(crate) state: Arc<Mutex<BrokerState>>,
}

#[derive(Default)]
pub(crate) struct BrokerState {
    pub(crate) log: Vec<String>,
    pub(crate) subs: Vec<Subscription>,
    pub(crate) next_id: u64,
    pub(crate) fail_ack: bool,
}

impl RecordingBroker {
    pub(crate) fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
    pub(crate) fn subscription_count(&self) -> usize {
        self.state.lock().unwrap().subs.len()
    }
    fn record(&self, entry: String) {
        self.state.lock().unwrap().log.push(entry);
    }
}

impl Broker for RecordingBroker {
    fn session_opened<'a>(
        &'a self,
        session: &'a SessionInfo,
        _connect: &'a Headers,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.record(format!("opened {}", session.id));
        Box::pin(async { Ok(()) })
    }

    fn subscribe(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), BrokerError>> {
        self.record(format!(
            "subscribe {} {}",
            subscription.id, subscription.destination
        ));
        self.state.lock().unwrap().subs.push(subscription);
        Box::pin(async { Ok(()) })
    }

    fn unsubscribe<'a>(
        &'a self,
        session: &'a SessionId,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.record(format!("unsubscribe {id}"));
        self.state
            .lock()
            .unwrap()
            .subs
            .retain(|s| !(s.subscriber.session == *session && s.id == id));
        Box::pin(async { Ok(()) })
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<(), BrokerError>> {
        self.record(format!(
            "publish {} {}",
            message.destination,
            String::from_utf8_lossy(&message.body)
        ));
        let mut state = self.state.lock().unwrap();
        state.next_id += 1;
        let msg_id = state.next_id.to_string();
        for sub in state
            .subs
            .iter()
            .filter(|s| s.destination == message.destination)
        {
            let mut frame = Frame::new(Command::Message);
            for (k, v) in message.headers.iter() {
                frame.headers.append(k, v);
            }
            frame.headers.append(name::MESSAGE_ID, msg_id.as_str());
            frame.headers.append(name::SUBSCRIPTION, sub.id.clone());
            frame.body = message.body.clone();
            let _ = sub
                .subscriber
                .outbound
                .send(encode_to_bytes(&frame, sub.subscriber.version));
        }
        Box::pin(async { Ok(()) })
    }

    fn ack<'a>(
        &'a self,
        _session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.record(format!("ack {ack_id}"));
        let fail = self.state.lock().unwrap().fail_ack;
        let id = ack_id.to_owned();
        Box::pin(async move {
            if fail {
                Err(BrokerError::UnknownAckId(id))
            } else {
                Ok(())
            }
        })
    }

    fn nack<'a>(
        &'a self,
        _session: &'a SessionId,
        ack_id: &'a str,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        self.record(format!("nack {ack_id}"));
        Box::pin(async { Ok(()) })
    }

    fn session_closed<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, ()> {
        self.record(format!("closed {session}"));
        self.state
            .lock()
            .unwrap()
            .subs
            .retain(|s| s.subscriber.session != *session);
        Box::pin(async {})
    }
}

/// An app double: records requests; `/fail` errors; `/slow` waits for a gate; subscribe
/// requests get one reply straight to the subscriber.
#[derive(Clone, Default)]
pub(crate) struct RecordingApp {
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
    pub(crate) gate: Arc<tokio::sync::Notify>,
}

impl AppDispatch for RecordingApp {
    fn dispatch(&self, request: AppRequest) -> BoxFuture<'static, Result<(), AppError>> {
        let kind = match &request.kind {
            AppRequestKind::Subscribe { .. } => "subscribe",
            _ => "send",
        };
        self.requests
            .lock()
            .unwrap()
            .push(format!("{kind} {}", request.lookup_path));
        let gate = self.gate.clone();
        Box::pin(async move {
            match &*request.lookup_path {
                "/fail" => Err(AppError::new("handler failed", "boom")),
                "/slow" => {
                    gate.notified().await;
                    Ok(())
                }
                _ => {
                    if let AppRequestKind::Subscribe {
                        subscriber,
                        subscription_id,
                    } = &request.kind
                    {
                        let frame = Frame::new(Command::Message)
                            .header("subscription", subscription_id.clone())
                            .body("reply");
                        let _ = subscriber
                            .outbound
                            .send(encode_to_bytes(&frame, subscriber.version));
                    }
                    Ok(())
                }
            }
        })
    }
}

pub(crate) fn builder(broker: &RecordingBroker) -> EngineBuilder {
    Engine::builder().broker(broker.clone())
}

pub(crate) fn frame(command: Command, headers: &[(&str, &str)]) -> Frame {
    let mut f = Frame::new(command);
    for (k, v) in headers {
        f = f.header(*k, *v);
    }
    f
}

pub(crate) fn connect_frame() -> Frame {
    frame(
        Command::Connect,
        &[("accept-version", "1.2"), ("heart-beat", "0,0")],
    )
}

/// Decodes one encoded server frame with the crate's own decoder (1.2 rules).
pub(crate) fn parse(bytes: &Bytes) -> Frame {
    let mut decoder = Decoder::new(Limits::unlimited());
    decoder.set_version(stomp_core::Version::V1_2);
    let mut buf = BytesMut::from(&bytes[..]);
    match decoder.decode(&mut buf) {
        Ok(Some(Decoded::Frame(f))) => f,
        other => panic!("not one frame: {other:?} in {bytes:?}"),
    }
}

/// What the writer task would see next, decoded.
#[derive(Debug)]
pub(crate) enum Out {
    Frame(Frame),
    HeartBeat,
    Close(stomp_core::outbound::CloseReason),
}

pub(crate) async fn next_out(rx: &mut OutboundReceiver) -> Out {
    match tokio::time::timeout(Duration::from_secs(3600), rx.next()).await {
        Ok(Next::Item(Outbound::Frame(b))) => Out::Frame(parse(&b)),
        Ok(Next::Item(Outbound::Text(t))) => Out::Frame(parse(&Bytes::from(String::from(t)))),
        Ok(Next::Item(Outbound::HeartBeat)) => Out::HeartBeat,
        Ok(Next::Close(r)) => Out::Close(r),
        Err(_) => panic!("nothing came out"),
    }
}

pub(crate) async fn next_frame(rx: &mut OutboundReceiver) -> Frame {
    match next_out(rx).await {
        Out::Frame(f) => f,
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// Frames queued right now, without waiting.
pub(crate) fn drain(rx: &mut OutboundReceiver) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some(item) = rx.try_next() {
        if let Outbound::Frame(b) = item {
            out.push(parse(&b));
        }
    }
    out
}

pub(crate) async fn connect(engine: &Engine) -> (Session, OutboundReceiver) {
    connect_with(engine, TransportInfo::default(), connect_frame()).await
}

pub(crate) async fn connect_with(
    engine: &Engine,
    transport: TransportInfo,
    connect: Frame,
) -> (Session, OutboundReceiver) {
    let (mut session, mut rx) = engine.open_session(transport);
    session.handle_frame(connect).await.unwrap();
    let connected = next_frame(&mut rx).await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    (session, rx)
}
