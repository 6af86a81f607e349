//! Tracing: a span per inbound frame and per handler call, and the W3C trace context
//! (`traceparent`, `tracestate`) carried from a SEND to every MESSAGE and into the
//! handler's span. A capturing `tracing` subscriber records the spans.
//!
//! Its own test binary: the subscriber is the process's global default, so that no test
//! elsewhere can meet the engine's span callsites first with no subscriber at all (tracing
//! caches that interest per callsite).

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::BytesMut;
use stomp_core::app::{on_message, AppRouterBuilder};
use stomp_core::codec::{Decoded, Decoder, Limits};
use stomp_core::engine::{Engine, Session, TransportInfo};
use stomp_core::identity::Principal;
use stomp_core::outbound::{Next, Outbound, OutboundReceiver};
use stomp_core::trace::{FRAME_SPAN, HANDLER_SPAN, TRACEPARENT, TRACESTATE};
use stomp_core::{Command, Frame};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const PARENT_A: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const PARENT_B: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// One captured span: its name, fields and contextual parent.
#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    fields: HashMap<&'static str, String>,
    parent: Option<u64>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static STACK: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A subscriber that keeps every span it is told about.
#[derive(Default, Clone)]
struct Capture {
    spans: Arc<Mutex<HashMap<u64, Captured>>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = match attrs.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if attrs.is_contextual() => STACK.with(|stack| stack.borrow().last().copied()),
            None => None,
        };
        let name = attrs.metadata().name();
        self.spans.lock().unwrap().insert(
            id,
            Captured {
                name,
                fields,
                parent,
            },
        );
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(captured) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut captured.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        STACK.with(|stack| stack.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        STACK.with(|stack| {
            let mut stack = stack.borrow_mut();
            if let Some(at) = stack.iter().rposition(|id| *id == span.into_u64()) {
                stack.remove(at);
            }
        });
    }
}

/// The process's capturing subscriber, installed once as the global default.
fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone()).unwrap();
            capture
        })
        .clone()
}

impl Capture {
    /// The spans called `name` of one session, in creation order.
    fn named(&self, name: &str, session: &str) -> Vec<(u64, Captured)> {
        let spans = self.spans.lock().unwrap();
        let mut found: Vec<_> = spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .filter(|(_, s)| s.fields.get("session").map(String::as_str) == Some(session))
            .map(|(id, s)| (*id, s.clone()))
            .collect();
        found.sort_by_key(|(id, _)| *id);
        found
    }
}

async fn echo(text: String) -> String {
    format!("echo: {text}")
}

fn engine() -> Engine {
    let router = AppRouterBuilder::new()
        .route("/echo/{room}", on_message(echo).send_to("/topic/echo"))
        .build()
        .unwrap();
    Engine::builder()
        .app_destination_prefix("/app")
        .app(router)
        .build()
}

async fn next_frame(outbound: &mut OutboundReceiver) -> Frame {
    let mut decoder = Decoder::new(Limits::unlimited());
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), outbound.next())
            .await
            .expect("a frame within 5 s");
        let Next::Item(Outbound::Frame(bytes)) = next else {
            continue;
        };
        if let Ok(Some(Decoded::Frame(frame))) = decoder.decode(&mut BytesMut::from(&bytes[..])) {
            return frame;
        }
    }
}

async fn send(session: &mut Session, frame: &str) {
    session.receive(frame.as_bytes()).await.unwrap();
}

async fn connected(engine: &Engine) -> (Session, OutboundReceiver) {
    let (mut session, mut outbound) = engine.open_session(TransportInfo {
        principal: Some(Principal::new("alice")),
        ..TransportInfo::default()
    });
    send(
        &mut session,
        "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0",
    )
    .await;
    assert_eq!(next_frame(&mut outbound).await.command, Command::Connected);
    (session, outbound)
}

#[tokio::test]
async fn traceparent_reaches_the_message_and_the_handler_span() {
    let capture = capture();
    let engine = engine();
    let (mut session, mut outbound) = connected(&engine).await;
    send(
        &mut session,
        "SUBSCRIBE\ndestination:/topic/news\nid:news\n\n\0",
    )
    .await;
    send(
        &mut session,
        "SUBSCRIBE\ndestination:/topic/echo\nid:echo\n\n\0",
    )
    .await;

    // Through the broker: the context travels on the MESSAGE.
    send(
        &mut session,
        &format!(
            "SEND\ndestination:/topic/news\n{TRACEPARENT}:{PARENT_A}\n{TRACESTATE}:vendor=1\n\nhi\0"
        ),
    )
    .await;
    let message = next_frame(&mut outbound).await;
    assert_eq!(message.command, Command::Message);
    assert_eq!(message.headers.get(TRACEPARENT), Some(PARENT_A));
    assert_eq!(message.headers.get(TRACESTATE), Some("vendor=1"));

    // Through a handler: its span records the context, and its reply carries it on.
    send(
        &mut session,
        &format!("SEND\ndestination:/app/echo/lobby\n{TRACEPARENT}:{PARENT_B}\n\nhello\0"),
    )
    .await;
    let reply = next_frame(&mut outbound).await;
    assert_eq!(reply.headers.destination(), Some("/topic/echo"));
    assert_eq!(&reply.body[..], b"echo: hello");
    assert_eq!(reply.headers.get(TRACEPARENT), Some(PARENT_B));
    assert_eq!(reply.headers.get(TRACESTATE), None);

    let handlers = capture.named(HANDLER_SPAN, session.id().as_str());
    assert_eq!(handlers.len(), 1, "{handlers:?}");
    let (_, handler) = &handlers[0];
    assert_eq!(handler.fields["route"], "/echo/{room}");
    assert_eq!(handler.fields["traceparent"], PARENT_B);
    assert_eq!(handler.fields["user"], "alice");
    assert_eq!(handler.fields["session"], session.id().as_str());

    // One frame span per inbound frame, with command, destination, session and user.
    let frames = capture.named(FRAME_SPAN, session.id().as_str());
    let commands: Vec<&str> = frames.iter().map(|(_, s)| &*s.fields["command"]).collect();
    assert_eq!(
        commands,
        ["CONNECT", "SUBSCRIBE", "SUBSCRIBE", "SEND", "SEND"]
    );
    let (news_id, news) = &frames[3];
    assert_eq!(news.fields["destination"], "/topic/news");
    assert_eq!(news.fields["traceparent"], PARENT_A);
    assert_eq!(news.fields["tracestate"], "vendor=1");
    assert_eq!(news.fields["user"], "alice");
    assert_eq!(news.fields["session"], session.id().as_str());
    let (echo_id, echo) = &frames[4];
    assert_eq!(echo.fields["destination"], "/app/echo/lobby");
    assert_ne!(news_id, echo_id);
    // The handler ran inside the SEND's frame span.
    assert_eq!(handler.parent, Some(*echo_id));
    session.transport_closed().await;
}

async fn child(text: String) -> stomp_core::app::Reply {
    // A handler that opened a span of its own names it as the parent of what it sends.
    stomp_core::app::Reply::text(text).header(TRACEPARENT, PARENT_A)
}

#[tokio::test]
async fn a_reply_keeps_the_traceparent_its_handler_set() {
    let _capture = capture();
    let router = AppRouterBuilder::new()
        .route("/child", on_message(child).send_to("/topic/echo"))
        .build()
        .unwrap();
    let engine = Engine::builder()
        .app_destination_prefix("/app")
        .app(router)
        .build();
    let (mut session, mut outbound) = connected(&engine).await;
    send(
        &mut session,
        "SUBSCRIBE\ndestination:/topic/echo\nid:echo\n\n\0",
    )
    .await;
    send(
        &mut session,
        &format!("SEND\ndestination:/app/child\n{TRACEPARENT}:{PARENT_B}\n{TRACESTATE}:b=2\n\nx\0"),
    )
    .await;
    let reply = next_frame(&mut outbound).await;
    assert_eq!(reply.headers.get(TRACEPARENT), Some(PARENT_A));
    // The inbound tracestate belongs to the inbound parent: not mixed into another context.
    assert_eq!(reply.headers.get(TRACESTATE), None);
    session.transport_closed().await;
}
