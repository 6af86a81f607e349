//! The soak's well-behaved chat traffic: sessions in rooms of [`ROOM_SIZE`], each sending
//! a numbered room message (`/app/chat/{room}`), a numbered private message to its partner
//! (`/app/private`: into the partner's inbox, `/user/queue/inbox`, which the partner reads
//! `client-individual` as the page does, and a copy on the sender's `/user/queue/private`) and, for the producer of each pair, a numbered message to the pair's
//! queue, whose consumer ACKs each one (`client-individual`). Every SEND asks for a
//! RECEIPT. Receivers check every sender's numbers: a gap is a loss, a number not above
//! the last one seen is out of order. Sessions never reconnect: a session that ends early
//! counts as a disconnect and loses what it would have received.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use stomp_core::{Command, Frame};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::{self, Target};
use crate::probe::{self, Latency};

/// Sessions per room.
pub(crate) const ROOM_SIZE: usize = 5;
/// Longest wait for the sessions' CONNECTED and SUBSCRIBE receipts.
const SETUP_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for the RECEIPT of the final DISCONNECT.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// What the sessions are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connected and subscribed, waiting for the others.
    Ready,
    /// Sending at the rate.
    Sending,
    /// Not sending any more; still receiving.
    Draining,
    /// DISCONNECT and stop.
    Closing,
}

/// Running totals across all sessions (for the progress line, the CSV and the drain).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) sent: AtomicU64,
    pub(crate) expected: AtomicU64,
    /// Messages received with a number above the last one from their sender.
    pub(crate) received: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) receipts: AtomicU64,
    pub(crate) error_frames: AtomicU64,
    pub(crate) disconnects: AtomicU64,
}

/// Counts by kind of message.
#[derive(Debug, Default, Serialize, Clone, Copy)]
pub(crate) struct ByKind {
    pub(crate) room: u64,
    pub(crate) private: u64,
    pub(crate) queue: u64,
}

impl ByKind {
    fn total(&self) -> u64 {
        self.room + self.private + self.queue
    }

    fn add(&mut self, other: &ByKind) {
        self.room += other.room;
        self.private += other.private;
        self.queue += other.queue;
    }
}

/// The JSON result of the well-behaved traffic.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ChatResult {
    pub(crate) sessions: usize,
    pub(crate) rooms: usize,
    pub(crate) sent: ByKind,
    /// Deliveries the SENDs call for (each room member, the private message's addressee
    /// and sender's copy, the queue's consumer).
    pub(crate) expected: ByKind,
    pub(crate) received: ByKind,
    pub(crate) lost: u64,
    pub(crate) out_of_order: u64,
    pub(crate) receipts_expected: u64,
    pub(crate) receipts_received: u64,
    /// SEND to RECEIPT.
    pub(crate) receipt_latency: Latency,
    pub(crate) error_frames: u64,
    /// Reports on `/user/queue/errors` (an `/app` handler refused a message).
    pub(crate) handler_errors: u64,
    /// Sessions that ended before their DISCONNECT.
    pub(crate) disconnects: u64,
    pub(crate) errors: Vec<String>,
}

/// Who a session is and whom it talks to.
#[derive(Debug, Clone)]
struct Spec {
    login: String,
    room: String,
    room_size: u64,
    partner: Option<String>,
    /// The pair's queue, if this session produces to it (and a consumer exists).
    produce_to: Option<String>,
    /// The pair's queue, if this session consumes it.
    consume_from: Option<String>,
}

fn login(run: &str, i: usize) -> String {
    format!("soak{run}u{i}")
}

fn specs(run: &str, sessions: usize) -> Vec<Spec> {
    (0..sessions)
        .map(|i| {
            let room = i / ROOM_SIZE;
            let room_size = ROOM_SIZE.min(sessions - room * ROOM_SIZE) as u64;
            let partner = i ^ 1;
            let has_partner = partner < sessions;
            let queue = format!("/queue/soak{run}q{}", i / 2);
            Spec {
                login: login(run, i),
                room: format!("soak{run}r{room}"),
                room_size,
                partner: has_partner.then(|| login(run, partner)),
                produce_to: (has_partner && i % 2 == 0).then(|| queue.clone()),
                consume_from: (i % 2 == 1).then_some(queue),
            }
        })
        .collect()
}

/// What one session reports at the end.
#[derive(Debug)]
struct Report {
    sent: ByKind,
    expected: ByKind,
    received: ByKind,
    out_of_order: u64,
    receipts_expected: u64,
    receipts: u64,
    receipt_latency: Histogram<u64>,
    error_frames: u64,
    handler_errors: u64,
    disconnected: bool,
    errors: Vec<String>,
}

impl Report {
    fn new() -> Report {
        Report {
            sent: ByKind::default(),
            expected: ByKind::default(),
            received: ByKind::default(),
            out_of_order: 0,
            receipts_expected: 0,
            receipts: 0,
            receipt_latency: probe::histogram(false),
            error_frames: 0,
            handler_errors: 0,
            disconnected: false,
            errors: Vec::new(),
        }
    }
}

/// The running sessions.
pub(crate) struct Traffic {
    phase: watch::Sender<Phase>,
    tasks: Vec<tokio::task::JoinHandle<Report>>,
    pub(crate) totals: Arc<Totals>,
    sessions: usize,
}

/// Connects and subscribes every session; returns once all are ready (or the first
/// failure, after stopping the others).
pub(crate) async fn start(
    target: &Target,
    run: &str,
    sessions: usize,
    rate: f64,
    totals: Arc<Totals>,
) -> Result<Traffic, String> {
    let (phase, phase_rx) = watch::channel(Phase::Ready);
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(sessions.max(1));
    let mut tasks = Vec::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    for spec in specs(run, sessions) {
        let mut target = target.clone();
        target.login = Some(spec.login.clone());
        let (phase_rx, ready, totals, gate) = (
            phase_rx.clone(),
            ready_tx.clone(),
            totals.clone(),
            gate.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let set_up = tokio::time::timeout(SETUP_LIMIT, set_up(&target, &spec)).await;
            drop(permit);
            let mut report = Report::new();
            match set_up {
                Ok(Ok((writer, reader))) => {
                    let _ = ready.send(Ok(())).await;
                    drop(ready);
                    run_session(writer, reader, &spec, rate, phase_rx, &totals, &mut report).await;
                }
                Ok(Err(e)) => {
                    let _ = ready.send(Err(format!("{}: {e}", spec.login))).await;
                }
                Err(_) => {
                    let _ = ready
                        .send(Err(format!(
                            "{}: not ready within {SETUP_LIMIT:?}",
                            spec.login
                        )))
                        .await;
                }
            }
            report
        }));
    }
    drop(ready_tx);
    let traffic = Traffic {
        phase,
        tasks,
        totals,
        sessions,
    };
    for _ in 0..sessions {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                for task in &traffic.tasks {
                    task.abort();
                }
                return Err(e);
            }
            None => break,
        }
    }
    Ok(traffic)
}

impl Traffic {
    /// Moves every session to `phase`.
    pub(crate) fn set_phase(&self, phase: Phase) {
        let _ = self.phase.send(phase);
    }

    /// After [`Phase::Draining`]: waits until every expected message arrived, or none
    /// arrived for `quiet`, or `cap` passed.
    pub(crate) async fn drain(&self, quiet: Duration, cap: Duration) {
        let cap = Instant::now() + cap;
        let mut last_change = Instant::now();
        let mut seen = self.totals.received.load(Ordering::Relaxed);
        loop {
            let expected = self.totals.expected.load(Ordering::Relaxed);
            if seen >= expected || last_change.elapsed() >= quiet || Instant::now() >= cap {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.totals.received.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                last_change = Instant::now();
            }
        }
    }

    /// Closes every session (DISCONNECT with a receipt) and adds up their reports.
    pub(crate) async fn finish(self) -> ChatResult {
        self.set_phase(Phase::Closing);
        let mut result = ChatResult {
            sessions: self.sessions,
            rooms: self.sessions.div_ceil(ROOM_SIZE),
            ..ChatResult::default()
        };
        let mut latency = probe::histogram(false);
        for task in self.tasks {
            let report = match tokio::time::timeout(CLOSE_LIMIT * 2, task).await {
                Ok(Ok(report)) => report,
                Ok(Err(e)) => {
                    result.errors.push(format!("session task: {e}"));
                    continue;
                }
                Err(_) => {
                    result.errors.push("a session did not close in time".into());
                    continue;
                }
            };
            result.sent.add(&report.sent);
            result.expected.add(&report.expected);
            result.received.add(&report.received);
            result.out_of_order += report.out_of_order;
            result.receipts_expected += report.receipts_expected;
            result.receipts_received += report.receipts;
            result.error_frames += report.error_frames;
            result.handler_errors += report.handler_errors;
            result.disconnects += u64::from(report.disconnected);
            let _ = latency.add(&report.receipt_latency);
            for e in report.errors {
                if result.errors.len() < 20 {
                    result.errors.push(e);
                }
            }
        }
        result.lost = result
            .expected
            .total()
            .saturating_sub(result.received.total());
        result.receipt_latency = Latency::of(&latency);
        result
    }
}

const SUB_ROOM: &str = "room";
const SUB_PRIVATE: &str = "private";
const SUB_INBOX: &str = "inbox";
const SUB_ERRORS: &str = "errors";
const SUB_QUEUE: &str = "queue";

/// CONNECT and the subscriptions, each confirmed by its RECEIPT.
async fn set_up(target: &Target, spec: &Spec) -> Result<(client::Writer, client::Reader), String> {
    let (mut writer, mut reader) = client::connect(target).await?;
    let mut subs = vec![
        (SUB_ROOM, format!("/topic/chat.{}", spec.room), "auto"),
        (SUB_PRIVATE, "/user/queue/private".to_owned(), "auto"),
        (
            SUB_INBOX,
            "/user/queue/inbox".to_owned(),
            "client-individual",
        ),
        (SUB_ERRORS, "/user/queue/errors".to_owned(), "auto"),
    ];
    if let Some(queue) = &spec.consume_from {
        subs.push((SUB_QUEUE, queue.clone(), "client-individual"));
    }
    for (id, destination, ack) in &subs {
        let frame = Frame::new(Command::Subscribe)
            .header("id", *id)
            .header("destination", destination.as_str())
            .header("ack", *ack)
            .header("receipt", format!("sub-{id}"));
        writer.feed(&frame).await?;
    }
    writer.flush().await?;
    let mut receipts = 0;
    while receipts < subs.len() {
        let frame = reader.next_frame().await?;
        match frame.command {
            Command::Receipt => receipts += 1,
            Command::Error => return Err(client::describe_error(&frame)),
            _ => {}
        }
    }
    Ok((writer, reader))
}

/// Which stream of numbers a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Stream {
    Room(String),
    PrivateIn(String),
    PrivateCopy(String),
    Queue,
}

/// The receiving side of a session.
struct Inbox<'a> {
    me: &'a str,
    last: HashMap<Stream, u64>,
    pending: HashMap<String, Instant>,
}

impl Inbox<'_> {
    /// Counts a numbered message; whether it was in order.
    fn number(&mut self, stream: Stream, seq: u64, report: &mut Report, totals: &Totals) {
        let last = self.last.entry(stream).or_insert(0);
        if seq > *last {
            *last = seq;
            totals.received.fetch_add(1, Ordering::Relaxed);
        } else {
            report.out_of_order += 1;
            totals.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Handles a frame; an ACK to send back, if any.
    fn handle(&mut self, frame: &Frame, report: &mut Report, totals: &Totals) -> Option<Frame> {
        match frame.command {
            Command::Receipt => {
                if let Some(sent) = frame
                    .headers
                    .receipt_id()
                    .and_then(|id| self.pending.remove(id))
                {
                    let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    report.receipt_latency.saturating_record(us.max(1));
                }
                report.receipts += 1;
                totals.receipts.fetch_add(1, Ordering::Relaxed);
                None
            }
            Command::Error => {
                report.error_frames += 1;
                totals.error_frames.fetch_add(1, Ordering::Relaxed);
                report
                    .errors
                    .push(format!("{}: {}", self.me, client::describe_error(frame)));
                None
            }
            Command::Message => self.message(frame, report, totals),
            _ => None,
        }
    }

    fn message(&mut self, frame: &Frame, report: &mut Report, totals: &Totals) -> Option<Frame> {
        let json = || serde_json::from_slice::<serde_json::Value>(&frame.body).ok();
        let text_seq = |v: &serde_json::Value| v["text"].as_str()?.parse::<u64>().ok();
        match frame.headers.subscription() {
            Some(SUB_ROOM) => {
                let v = json()?;
                if v["kind"].as_str() != Some("chat") {
                    return None;
                }
                let from = v["from"].as_str()?.to_owned();
                let seq = text_seq(&v)?;
                report.received.room += 1;
                self.number(Stream::Room(from), seq, report, totals);
                None
            }
            Some(sub @ (SUB_PRIVATE | SUB_INBOX)) => {
                let counted = json().and_then(|v| {
                    let seq = text_seq(&v)?;
                    let (from, to) = (v["from"].as_str()?, v["to"].as_str()?);
                    Some(if from == self.me && sub == SUB_PRIVATE {
                        (Stream::PrivateCopy(to.to_owned()), seq)
                    } else {
                        (Stream::PrivateIn(from.to_owned()), seq)
                    })
                });
                if let Some((stream, seq)) = counted {
                    report.received.private += 1;
                    self.number(stream, seq, report, totals);
                }
                if sub == SUB_INBOX {
                    let ack = frame.headers.ack()?;
                    return Some(Frame::new(Command::Ack).header("id", ack));
                }
                None
            }
            Some(SUB_QUEUE) => {
                let seq = std::str::from_utf8(&frame.body).ok()?.parse::<u64>().ok();
                if let Some(seq) = seq {
                    report.received.queue += 1;
                    self.number(Stream::Queue, seq, report, totals);
                }
                let ack = frame.headers.ack()?;
                Some(Frame::new(Command::Ack).header("id", ack))
            }
            Some(SUB_ERRORS) => {
                report.handler_errors += 1;
                if report.errors.len() < 5 {
                    report.errors.push(format!(
                        "{}: handler error {}",
                        self.me,
                        String::from_utf8_lossy(&frame.body)
                    ));
                }
                None
            }
            _ => None,
        }
    }
}

/// One tick's SENDs: the room message, the private message and the queue message.
async fn send_tick(
    writer: &mut client::Writer,
    spec: &Spec,
    seq: u64,
    inbox: &mut Inbox<'_>,
    report: &mut Report,
    totals: &Totals,
) -> Result<(), String> {
    let mut frames = vec![(
        format!("r{seq}"),
        Frame::new(Command::Send)
            .header("destination", format!("/app/chat/{}", spec.room))
            .header("content-type", "application/json")
            .body(Bytes::from(format!("{{\"text\":\"{seq}\"}}"))),
    )];
    if let Some(partner) = &spec.partner {
        frames.push((
            format!("p{seq}"),
            Frame::new(Command::Send)
                .header("destination", "/app/private")
                .header("content-type", "application/json")
                .body(Bytes::from(format!(
                    "{{\"to\":\"{partner}\",\"text\":\"{seq}\"}}"
                ))),
        ));
    }
    if let Some(queue) = &spec.produce_to {
        frames.push((
            format!("q{seq}"),
            client::send(queue, Bytes::from(seq.to_string())),
        ));
    }
    for (receipt, frame) in frames {
        let kind = receipt.as_bytes()[0];
        writer
            .feed(&frame.header("receipt", receipt.as_str()))
            .await?;
        inbox.pending.insert(receipt, Instant::now());
        report.receipts_expected += 1;
        totals.sent.fetch_add(1, Ordering::Relaxed);
        let (sent, expected, deliveries) = match kind {
            b'r' => (
                &mut report.sent.room,
                &mut report.expected.room,
                spec.room_size,
            ),
            b'p' => (&mut report.sent.private, &mut report.expected.private, 2),
            _ => (&mut report.sent.queue, &mut report.expected.queue, 1),
        };
        *sent += 1;
        *expected += deliveries;
        totals.expected.fetch_add(deliveries, Ordering::Relaxed);
    }
    writer.flush().await
}

async fn run_session(
    mut writer: client::Writer,
    mut reader: client::Reader,
    spec: &Spec,
    rate: f64,
    mut phase: watch::Receiver<Phase>,
    totals: &Totals,
    report: &mut Report,
) {
    let mut inbox = Inbox {
        me: &spec.login,
        last: HashMap::new(),
        pending: HashMap::new(),
    };
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    // Spread the sessions' ticks over the period.
    let offset = period.mul_f64(rand_fraction(&spec.login));
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let mut current = *phase.borrow();
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
                current = *phase.borrow_and_update();
                if current == Phase::Closing {
                    close(writer, reader, &mut inbox, report, totals).await;
                    return;
                }
            }
            frame = reader.next_frame() => match frame {
                Ok(frame) => {
                    if let Some(ack) = inbox.handle(&frame, report, totals) {
                        if let Err(e) = writer.send(&ack).await {
                            report.errors.push(format!("{}: ack: {e}", spec.login));
                            break;
                        }
                    }
                }
                Err(e) => {
                    report.errors.push(format!("{}: {e}", spec.login));
                    break;
                }
            },
            _ = ticker.tick(), if current == Phase::Sending => {
                seq += 1;
                if let Err(e) = send_tick(&mut writer, spec, seq, &mut inbox, report, totals).await {
                    report.errors.push(format!("{}: {e}", spec.login));
                    break;
                }
            }
        }
    }
    report.disconnected = true;
    totals.disconnects.fetch_add(1, Ordering::Relaxed);
}

/// DISCONNECT with a receipt; frames before the RECEIPT are still counted.
async fn close(
    mut writer: client::Writer,
    mut reader: client::Reader,
    inbox: &mut Inbox<'_>,
    report: &mut Report,
    totals: &Totals,
) {
    let bye = Frame::new(Command::Disconnect).header("receipt", "bye");
    if let Err(e) = writer.send(&bye).await {
        report.errors.push(format!("{}: DISCONNECT: {e}", inbox.me));
        report.disconnected = true;
        return;
    }
    let deadline = Instant::now() + CLOSE_LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, reader.next_frame()).await {
            Ok(Ok(frame)) if frame.headers.receipt_id() == Some("bye") => return,
            Ok(Ok(frame)) => {
                // ACKs are pointless now: the session is leaving.
                let _ = inbox.handle(&frame, report, totals);
            }
            Ok(Err(e)) => {
                report
                    .errors
                    .push(format!("{}: before the DISCONNECT receipt: {e}", inbox.me));
                report.disconnected = true;
                return;
            }
            Err(_) => {
                report
                    .errors
                    .push(format!("{}: no DISCONNECT receipt", inbox.me));
                return;
            }
        }
    }
}

/// A fraction in `[0, 1)` derived from `key` (spreads the sessions' ticks; no RNG needed).
fn rand_fraction(key: &str) -> f64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    (hash % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_partners_and_queues() {
        let s = specs("x", 7);
        assert_eq!(s[0].room, "soakxr0");
        assert_eq!(s[4].room_size, 5);
        assert_eq!(s[5].room, "soakxr1");
        assert_eq!(s[5].room_size, 2);
        assert_eq!(s[0].partner.as_deref(), Some("soakxu1"));
        assert_eq!(s[6].partner, None);
        assert_eq!(s[2].produce_to.as_deref(), Some("/queue/soakxq1"));
        assert_eq!(s[3].consume_from.as_deref(), Some("/queue/soakxq1"));
        // The last session has no partner: it neither produces nor has a consumer.
        assert_eq!(s[6].produce_to, None);
        assert_eq!(s[6].consume_from, None);
    }

    #[test]
    fn counts_numbers_in_order() {
        let totals = Totals::default();
        let mut report = Report::new();
        let mut inbox = Inbox {
            me: "a",
            last: HashMap::new(),
            pending: HashMap::new(),
        };
        for seq in [1, 2, 4, 3, 4] {
            inbox.number(Stream::Queue, seq, &mut report, &totals);
        }
        assert_eq!(totals.received.load(Ordering::Relaxed), 3);
        assert_eq!(report.out_of_order, 2);
        let room = Frame::new(Command::Message)
            .header("subscription", SUB_ROOM)
            .body(Bytes::from_static(
                br#"{"room":"r","from":"b","text":"7","kind":"chat","at":1}"#,
            ));
        assert!(inbox.handle(&room, &mut report, &totals).is_none());
        assert_eq!(report.received.room, 1);
        let queued = Frame::new(Command::Message)
            .header("subscription", SUB_QUEUE)
            .header("ack", "m-1")
            .body(Bytes::from_static(b"9"));
        let ack = inbox.handle(&queued, &mut report, &totals);
        assert_eq!(
            ack.and_then(|f| f.headers.id().map(str::to_owned))
                .as_deref(),
            Some("m-1")
        );
        assert_eq!(report.received.queue, 1);
        let inbox_message = Frame::new(Command::Message)
            .header("subscription", SUB_INBOX)
            .header("ack", "m-2")
            .body(Bytes::from_static(
                br#"{"from":"b","to":"a","text":"3","at":1}"#,
            ));
        let ack = inbox.handle(&inbox_message, &mut report, &totals);
        assert_eq!(
            ack.and_then(|f| f.headers.id().map(str::to_owned))
                .as_deref(),
            Some("m-2")
        );
        assert_eq!(report.received.private, 1);
    }
}
