//! Application handlers and concurrency: one session's frames in order by default (under
//! load), handlers of different sessions concurrently, and the opt-in
//! `EngineBuilder::app_concurrency(n)`: bounded overlap within one session, receipts after
//! completion, ERROR on failure, nothing overtaking in-flight dispatches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{connect, drain, next_frame, next_out, Out};
use stomp_core::app::{
    on_message, on_subscribe, AppErrorPolicy, AppRouter, AppRouterBuilder, DestinationVar, State,
};
use stomp_core::engine::Session;
use stomp_core::engine::{Engine, EngineBuilder};
use stomp_core::events::SessionEvent;
use stomp_core::outbound::{CloseReason, OutboundReceiver};
use stomp_core::{Command, Frame};
use tokio::sync::{Barrier, Notify, Semaphore};

/// What the handlers observe.
struct Probe {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Bodies of completed handlers, in completion order.
    done: Mutex<Vec<String>>,
    barrier: Barrier,
    gate: Semaphore,
    a_started: Notify,
    b_ran: Notify,
}

type P = State<Arc<Probe>>;

impl Probe {
    fn new(barrier: usize) -> Arc<Probe> {
        Arc::new(Probe {
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            done: Mutex::new(Vec::new()),
            barrier: Barrier::new(barrier),
            gate: Semaphore::new(0),
            a_started: Notify::new(),
            b_ran: Notify::new(),
        })
    }
    fn enter(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self, body: String) {
        self.done.lock().unwrap().push(body);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    fn done(&self) -> Vec<String> {
        self.done.lock().unwrap().clone()
    }
}

/// A varying short delay (0..13 ms) derived from the body.
fn delay(body: &str) -> Duration {
    let n: u64 = body.parse().unwrap_or(0);
    Duration::from_millis(n.wrapping_mul(7919) % 13)
}

/// Sleeps a varying time, then replies with the body to `/topic/work/{k}`.
async fn work(State(p): P, DestinationVar(_k): DestinationVar<String>, body: String) -> String {
    p.enter();
    tokio::time::sleep(delay(&body)).await;
    p.leave(body.clone());
    body
}

/// Waits until as many handlers as the barrier's size are inside.
async fn barrier(State(p): P, body: String) {
    p.enter();
    p.barrier.wait().await;
    p.leave(body);
}

/// Waits for a permit of the gate.
async fn hold(State(p): P, body: String) {
    p.enter();
    p.gate.acquire().await.unwrap().forget();
    p.leave(body);
}

/// Sleeps a varying time (no reply).
async fn count(State(p): P, body: String) {
    p.enter();
    tokio::time::sleep(delay(&body)).await;
    p.leave(body);
}

/// Sleeps 10 ms, then replies to `/topic/late`.
async fn late(State(p): P, body: String) -> String {
    p.enter();
    tokio::time::sleep(Duration::from_millis(10)).await;
    p.leave(body.clone());
    body
}

/// Yields a varying number of times (no timer: for the multi-threaded test).
async fn spin(State(p): P, body: String) {
    p.enter();
    let n: u64 = body.parse().unwrap_or(0);
    for _ in 0..(n.wrapping_mul(7919) % 17) {
        tokio::task::yield_now().await;
    }
    p.leave(body);
}

/// A subscribe mapping: its reply goes straight to the subscriber.
async fn snapshot(State(p): P) -> String {
    p.enter();
    tokio::time::sleep(Duration::from_millis(5)).await;
    p.leave("snapshot".into());
    "snap".to_owned()
}

async fn a(State(p): P) {
    p.a_started.notify_one();
    p.b_ran.notified().await;
}

async fn b(State(p): P) {
    p.b_ran.notify_one();
}

/// Application errors are ERROR frames here (`AppErrorPolicy::Close`): these tests are
/// about how a failed dispatch ends a pipelined session.
fn router(probe: &Arc<Probe>) -> AppRouter {
    router_with(probe, AppErrorPolicy::Close)
}

fn router_with(probe: &Arc<Probe>, policy: AppErrorPolicy) -> AppRouter {
    AppRouterBuilder::new()
        .error_policy(policy)
        .route("/work/{k}", on_message(work))
        .route("/barrier", on_message(barrier))
        .route("/hold", on_message(hold))
        .route("/count", on_message(count))
        .route("/late", on_message(late))
        .route("/spin", on_message(spin))
        .route("/snapshot", on_subscribe(snapshot))
        .route("/a", on_message(a))
        .route("/b", on_message(b))
        .build_with_state(probe.clone())
        .unwrap()
}

fn engine(probe: &Arc<Probe>, configure: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Engine {
    configure(Engine::builder().app(router(probe))).build()
}

fn send(destination: &str, body: &str, receipt: Option<&str>) -> Frame {
    let mut frame = Frame::new(Command::Send)
        .header("destination", destination)
        .body(body.to_owned());
    if let Some(r) = receipt {
        frame = frame.header("receipt", r);
    }
    frame
}

fn subscribe(destination: &str, id: &str, receipt: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("id", id)
        .header("receipt", receipt)
}

fn body(frame: &Frame) -> String {
    String::from_utf8(frame.body.to_vec()).unwrap()
}

/// Bounds a wait that would otherwise hang on a regression (paused time: no real delay).
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Connects, subscribes to `/topic/work/{k}`, sends `n` SENDs to `/app/work/{k}` and
/// returns the reply bodies as the subscriber got them.
async fn run_work_session(engine: Engine, k: usize, n: usize) -> Vec<String> {
    let (mut session, mut rx) = connect(&engine).await;
    let topic = format!("/topic/work/{k}");
    session
        .handle_frame(subscribe(&topic, "w", "sub"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut rx).await.command, Command::Receipt);
    let destination = format!("/app/work/{k}");
    for i in 0..n {
        session
            .handle_frame(send(&destination, &i.to_string(), None))
            .await
            .unwrap();
    }
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let frame = within("reply", next_frame(&mut rx)).await;
        assert_eq!(frame.command, Command::Message, "{frame:?}");
        assert_eq!(frame.headers.destination(), Some(&*topic));
        got.push(body(&frame));
    }
    session.transport_closed().await;
    got
}

fn in_order(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn one_sessions_replies_follow_send_order_under_load() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b);
    let got = run_work_session(engine.clone(), 0, 1000).await;
    assert_eq!(got, in_order(1000));
    assert_eq!(probe.max_in_flight.load(Ordering::SeqCst), 1);
    assert!(engine.sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn several_sessions_concurrently_each_in_order() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b);
    let tasks: Vec<_> = (0..4)
        .map(|k| tokio::spawn(run_work_session(engine.clone(), k, 500)))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), in_order(500));
    }
    // The sessions' handlers overlapped (each session in order, sessions concurrently).
    assert!(probe.max_in_flight.load(Ordering::SeqCst) > 1);
    assert!(engine.sessions().is_empty());
}

/// The load test above can fail: with concurrency on, the varying delays reorder replies.
#[tokio::test(start_paused = true)]
async fn with_concurrency_the_same_load_is_reordered() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b.app_concurrency(8));
    let mut got = run_work_session(engine, 0, 200).await;
    assert_ne!(got, in_order(200));
    got.sort_by_key(|s| s.parse::<usize>().unwrap());
    assert_eq!(got, in_order(200), "every reply still arrives exactly once");
    assert_eq!(probe.max_in_flight.load(Ordering::SeqCst), 8);
}

#[tokio::test(start_paused = true)]
async fn handlers_of_different_sessions_run_concurrently_by_default() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b);
    let (mut session_a, mut rx_a) = connect(&engine).await;
    let (mut session_b, mut rx_b) = connect(&engine).await;
    let task_a = tokio::spawn(async move {
        session_a
            .handle_frame(send("/app/a", "", Some("ra")))
            .await
            .unwrap();
        session_a
    });
    // A's handler is running and blocks until B's handler has run.
    within("a started", probe.a_started.notified()).await;
    within(
        "b handled while a blocks",
        session_b.handle_frame(send("/app/b", "", Some("rb"))),
    )
    .await
    .unwrap();
    assert_eq!(
        next_frame(&mut rx_b).await.headers.get("receipt-id"),
        Some("rb")
    );
    let session_a = within("a completes", task_a).await.unwrap();
    assert_eq!(
        next_frame(&mut rx_a).await.headers.get("receipt-id"),
        Some("ra")
    );
    session_a.transport_closed().await;
    session_b.transport_closed().await;
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_one_sessions_handlers_overlap_and_receipts_follow_completion() {
    let probe = Probe::new(8);
    let engine = engine(&probe, |b| b.app_concurrency(8));
    let (mut session, mut rx) = connect(&engine).await;
    // Seven handlers wait at the 8-party barrier; the session keeps taking frames.
    for i in 0..7 {
        let receipt = format!("r{i}");
        within(
            "frame taken while others are in flight",
            session.handle_frame(send("/app/barrier", &i.to_string(), Some(&receipt))),
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(probe.in_flight.load(Ordering::SeqCst), 7);
    assert!(probe.done().is_empty());
    assert!(drain(&mut rx).is_empty(), "no receipt before completion");
    // The eighth opens the barrier: all eight complete, then their receipts come.
    session
        .handle_frame(send("/app/barrier", "7", Some("r7")))
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for _ in 0..8 {
        let frame = within("receipt", next_frame(&mut rx)).await;
        assert_eq!(frame.command, Command::Receipt, "{frame:?}");
        let id = frame.headers.get("receipt-id").unwrap().to_owned();
        // Sent only after that frame's handler completed.
        assert!(
            probe.done().contains(&id[1..].to_owned()),
            "{id} before completion"
        );
        receipts.push(id);
    }
    receipts.sort();
    assert_eq!(
        receipts,
        (0..8).map(|i| format!("r{i}")).collect::<Vec<_>>()
    );
    assert_eq!(probe.max_in_flight.load(Ordering::SeqCst), 8);
    session.transport_closed().await;
    assert!(engine.sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_at_most_n_are_in_flight_and_a_full_session_waits() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b.app_concurrency(8));
    let (mut session, mut rx) = connect(&engine).await;
    for i in 0..8 {
        session
            .handle_frame(send("/app/hold", &i.to_string(), None))
            .await
            .unwrap();
    }
    // The ninth frame waits for a free slot (backpressure), not in a spawned handler.
    let taken = Arc::new(Notify::new());
    let ninth = {
        let taken = taken.clone();
        tokio::spawn(async move {
            session
                .handle_frame(send("/app/hold", "8", Some("r8")))
                .await
                .unwrap();
            taken.notify_one();
            session
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(probe.in_flight.load(Ordering::SeqCst), 8);
    assert!(
        !ninth.is_finished(),
        "the ninth frame was taken with 8 in flight"
    );
    probe.gate.add_permits(1);
    within("ninth taken after one completed", taken.notified()).await;
    let mut session = ninth.await.unwrap();
    probe.gate.add_permits(8);
    assert_eq!(
        within("receipt", next_frame(&mut rx))
            .await
            .headers
            .get("receipt-id"),
        Some("r8")
    );
    assert_eq!(probe.done().len(), 9);

    // Under load with varying handler times: never more than 8.
    for i in 0..300 {
        session
            .handle_frame(send("/app/count", &i.to_string(), None))
            .await
            .unwrap();
        assert!(probe.in_flight.load(Ordering::SeqCst) <= 8);
    }
    session
        .handle_frame(Frame::new(Command::Disconnect).header("receipt", "bye"))
        .await
        .unwrap_err();
    assert_eq!(
        probe.done().len(),
        309,
        "DISCONNECT waited for every dispatch"
    );
    assert_eq!(probe.max_in_flight.load(Ordering::SeqCst), 8);
    assert_eq!(
        next_frame(&mut rx).await.headers.get("receipt-id"),
        Some("bye")
    );
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_disconnect_and_broker_frames_do_not_overtake() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b.app_concurrency(8));
    let (mut session, mut rx) = connect(&engine).await;
    // The reply of /late goes to /topic/late 10 ms later. A SUBSCRIBE to it waits for the
    // dispatch, so (as in order) the subscription misses that reply.
    session
        .handle_frame(send("/app/late", "early", Some("l")))
        .await
        .unwrap();
    session
        .handle_frame(subscribe("/topic/late", "s", "sub"))
        .await
        .unwrap();
    let first = next_frame(&mut rx).await;
    assert_eq!(first.headers.get("receipt-id"), Some("l"));
    let second = next_frame(&mut rx).await;
    assert_eq!(second.headers.get("receipt-id"), Some("sub"));
    // Now subscribed: the next reply arrives.
    session
        .handle_frame(send("/app/late", "now", None))
        .await
        .unwrap();
    let message = within("reply", next_frame(&mut rx)).await;
    assert_eq!(message.command, Command::Message);
    assert_eq!(body(&message), "now");

    // DISCONNECT's RECEIPT comes after every in-flight dispatch's.
    for i in 0..5 {
        session
            .handle_frame(send(
                "/app/count",
                &(i * 3).to_string(),
                Some(&format!("c{i}")),
            ))
            .await
            .unwrap();
    }
    session
        .handle_frame(Frame::new(Command::Disconnect).header("receipt", "bye"))
        .await
        .unwrap_err();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let frame = next_frame(&mut rx).await;
        ids.push(frame.headers.get("receipt-id").unwrap().to_owned());
    }
    assert_eq!(ids.last().map(String::as_str), Some("bye"), "{ids:?}");
    assert!(matches!(
        next_out(&mut rx).await,
        Out::Close(CloseReason::ClientDisconnect)
    ));
}

/// Sends three slow SENDs, then one to an unknown destination (`receipt:bad`); returns
/// the ERROR frame and how the queue closed.
async fn failing_session(engine: &Engine) -> (Frame, Out, Session, OutboundReceiver) {
    let (mut session, mut rx) = connect(engine).await;
    for i in 0..3 {
        let _ = session
            .handle_frame(send(
                "/app/count",
                &(i + 5).to_string(),
                Some(&format!("c{i}")),
            ))
            .await;
    }
    let _ = session
        .handle_frame(send("/app/nowhere", "x", Some("bad")))
        .await;
    let mut frame = within("error", next_frame(&mut rx)).await;
    while frame.command == Command::Receipt {
        // In order, the slow ones completed first.
        frame = next_frame(&mut rx).await;
    }
    let close = within("close", next_out(&mut rx)).await;
    (frame, close, session, rx)
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_an_app_error_ends_the_session_like_in_order() {
    let probe = Probe::new(1);
    let in_order = engine(&probe, |b| b);
    let (expected, expected_close, session, _rx) = failing_session(&in_order).await;
    session.transport_closed().await;

    let concurrent = engine(&probe, |b| b.app_concurrency(8));
    let mut events = concurrent.subscribe_events();
    let (error, close, mut session, _rx) = failing_session(&concurrent).await;
    assert_eq!(error.command, Command::Error);
    assert_eq!(error.headers.get("receipt-id"), Some("bad"));
    assert_eq!(
        error.headers.get("message"),
        expected.headers.get("message")
    );
    assert_eq!(error.body, expected.body);
    match (&close, &expected_close) {
        (Out::Close(got), Out::Close(want)) => assert_eq!(got, want),
        other => panic!("{other:?}"),
    }
    // The session accepts nothing more.
    assert!(session
        .handle_frame(send("/app/count", "1", None))
        .await
        .is_err());
    session.transport_closed().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(concurrent.sessions().is_empty());
    assert_eq!(concurrent.stats().sessions, 0);
    let mut disconnected = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(event, SessionEvent::Disconnected { .. }) {
            disconnected += 1;
        }
    }
    assert_eq!(disconnected, 1);
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_an_app_error_finishes_an_idle_session() {
    // No further frame and no transport close: the pipeline itself ends the session once
    // its in-flight dispatches are done.
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b.app_concurrency(8));
    let mut events = engine.subscribe_events();
    let (error, _close, session, _rx) = failing_session(&engine).await;
    assert_eq!(error.command, Command::Error);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(engine.sessions().is_empty());
    let mut disconnected = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(event, SessionEvent::Disconnected { .. }) {
            disconnected += 1;
        }
    }
    assert_eq!(disconnected, 1);
    drop(session);
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_a_subscribe_mapping_replies_then_receipts() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b.app_concurrency(4));
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(subscribe("/app/snapshot", "snap-1", "r-snap"))
        .await
        .unwrap();
    let reply = within("reply", next_frame(&mut rx)).await;
    assert_eq!(reply.command, Command::Message);
    assert_eq!(reply.headers.get("subscription"), Some("snap-1"));
    assert_eq!(body(&reply), "snap");
    let receipt = next_frame(&mut rx).await;
    assert_eq!(receipt.headers.get("receipt-id"), Some("r-snap"));
    session.transport_closed().await;
}

/// Real threads: many rounds of bounded overlap with every receipt exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_concurrency_on_threads_bounded_and_every_receipt_once() {
    let probe = Probe::new(1);
    let engine = engine(&probe, |b| b.app_concurrency(8));
    let (mut session, mut rx) = connect(&engine).await;
    let n = 2000;
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < n {
            let frame = next_frame(&mut rx).await;
            assert_eq!(frame.command, Command::Receipt, "{frame:?}");
            ids.push(frame.headers.get("receipt-id").unwrap().to_owned());
        }
        ids
    });
    for i in 0..n {
        session
            .handle_frame(send("/app/spin", &i.to_string(), Some(&i.to_string())))
            .await
            .unwrap();
        assert!(probe.in_flight.load(Ordering::SeqCst) <= 8);
    }
    let mut ids = within("receipts", reader).await.unwrap();
    assert_eq!(probe.done().len(), n);
    ids.sort_by_key(|s| s.parse::<usize>().unwrap());
    assert_eq!(ids, in_order(n));
    assert!(probe.max_in_flight.load(Ordering::SeqCst) <= 8);
    session.transport_closed().await;
    assert!(engine.sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_concurrency_a_reported_app_error_keeps_the_session_and_its_receipt() {
    let probe = Probe::new(1);
    let engine = Engine::builder()
        .app(router_with(&probe, AppErrorPolicy::Report))
        .app_concurrency(4)
        .build();
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(subscribe("/user/queue/errors", "e", "r-sub"))
        .await
        .unwrap();
    assert_eq!(
        next_frame(&mut rx).await.headers.get("receipt-id"),
        Some("r-sub")
    );
    session
        .handle_frame(send("/app/nowhere", "x", Some("bad")))
        .await
        .unwrap();
    let report = within("report", next_frame(&mut rx)).await;
    assert_eq!(report.command, Command::Message);
    assert_eq!(report.headers.get("subscription"), Some("e"));
    assert_eq!(report.headers.get("receipt-id"), Some("bad"));
    let receipt = next_frame(&mut rx).await;
    assert_eq!(receipt.command, Command::Receipt);
    assert_eq!(receipt.headers.get("receipt-id"), Some("bad"));
    // Still open: the next dispatch is answered.
    session
        .handle_frame(send("/app/count", "1", Some("ok")))
        .await
        .unwrap();
    let receipt = within("receipt", next_frame(&mut rx)).await;
    assert_eq!(receipt.headers.get("receipt-id"), Some("ok"));
    session.transport_closed().await;
}
