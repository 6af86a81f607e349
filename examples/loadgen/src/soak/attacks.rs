//! The soak's attacks, the hostile clients of issue 14, each a round with new sessions:
//! what each one got back (RECEIPT, ERROR and its `message`, a closed connection) is
//! recorded as an outcome line; sizes and times as numbers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use stomp_core::{Command, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::{self, Target};
use crate::conns::{self, ConnPlan};

/// One of the attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Attack {
    /// 8 stacked-`**` patterns and a SEND to a 6 KB destination of `/`s; then 1,024
    /// patterns and the deepest destination the limits allow.
    Pattern,
    /// 96 x 16 KiB waiting on a queue, drained by a `client-individual` and an `auto`
    /// consumer.
    Backlog,
    /// 4 consumers receive 1,000 x 60 KiB each (`client-individual`) and leave without ACK.
    Unacked,
    /// 3 sessions: 1,000 subscriptions with long ids and destinations, then a transaction
    /// of 1,000 x 60 KiB.
    State,
    /// Raw TCP connections that send nothing, and an HTTP head at 1 byte per 10 s.
    SlowHttp,
    /// 10,000 connections, 500 at a time.
    Conns,
    /// A CONNECT without `accept-version` (STOMP 1.0).
    Stomp10,
}

impl Attack {
    pub(crate) const ALL: [Attack; 7] = [
        Attack::Pattern,
        Attack::Backlog,
        Attack::Unacked,
        Attack::State,
        Attack::SlowHttp,
        Attack::Conns,
        Attack::Stomp10,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Attack::Pattern => "pattern",
            Attack::Backlog => "backlog",
            Attack::Unacked => "unacked",
            Attack::State => "state",
            Attack::SlowHttp => "slow-http",
            Attack::Conns => "conns",
            Attack::Stomp10 => "stomp10",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Longest a round may take before it counts as stuck.
    fn round_limit(self) -> Duration {
        match self {
            Attack::SlowHttp => Duration::from_secs(180),
            Attack::Unacked | Attack::State | Attack::Conns => Duration::from_secs(240),
            _ => Duration::from_secs(120),
        }
    }

    /// Least pause between two rounds (the connection burst leaves 10,000 sockets in
    /// TIME_WAIT; give them time).
    fn min_pause(self) -> Duration {
        match self {
            Attack::Conns => Duration::from_secs(30),
            _ => Duration::ZERO,
        }
    }
}

/// What one round found: outcome lines and measured numbers.
#[derive(Debug, Default)]
pub(crate) struct Round {
    outcomes: Vec<String>,
    numbers: Vec<(String, f64)>,
}

impl Round {
    fn outcome(&mut self, line: impl Into<String>) {
        self.outcomes.push(line.into());
    }

    /// A number, kept to one decimal.
    fn number(&mut self, name: &str, value: f64) {
        self.numbers
            .push((name.to_owned(), (value * 10.0).round() / 10.0));
    }
}

/// Smallest, largest and mean of a number over the rounds.
#[derive(Debug, Serialize, Clone, Copy)]
pub(crate) struct Range {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
    #[serde(skip)]
    sum: f64,
    #[serde(skip)]
    count: u64,
}

/// What an attack got over all its rounds.
#[derive(Debug, Default, Serialize)]
pub(crate) struct AttackStats {
    pub(crate) rounds: u64,
    /// Outcome line and how many times it was seen.
    pub(crate) outcomes: BTreeMap<String, u64>,
    pub(crate) numbers: BTreeMap<String, Range>,
    pub(crate) longest_round_s: f64,
}

impl AttackStats {
    fn add(&mut self, round: Round, took: Duration) {
        self.rounds += 1;
        self.longest_round_s = self.longest_round_s.max(round_to_ms(took.as_secs_f64()));
        for line in round.outcomes {
            *self.outcomes.entry(line).or_insert(0) += 1;
        }
        for (name, value) in round.numbers {
            let range = self.numbers.entry(name).or_insert(Range {
                min: value,
                max: value,
                mean: 0.0,
                sum: 0.0,
                count: 0,
            });
            range.min = range.min.min(value);
            range.max = range.max.max(value);
            range.sum += value;
            range.count += 1;
            range.mean = (range.sum / range.count as f64 * 100.0).round() / 100.0;
        }
    }
}

fn round_to_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// What every attack round needs.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) target: Target,
    pub(crate) run: String,
    /// `HOST:PORT` of the server, for raw TCP.
    pub(crate) addr: String,
    pub(crate) pause: Duration,
    pub(crate) deadline: Instant,
    /// Rounds finished, all attacks together.
    pub(crate) rounds: Arc<AtomicU64>,
}

impl Context {
    fn as_user(&self, who: &str) -> Target {
        let mut target = self.target.clone();
        target.login = Some(format!("soak{}-{who}", self.run));
        target
    }
}

/// Runs `attack` in rounds until the deadline; the stats so far are in `stats`.
pub(crate) async fn repeat(attack: Attack, ctx: Context, stats: Arc<Mutex<AttackStats>>) {
    let mut round = 0u64;
    while Instant::now() < ctx.deadline {
        let started = Instant::now();
        let found = match tokio::time::timeout(attack.round_limit(), one(attack, &ctx, round)).await
        {
            Ok(found) => found,
            Err(_) => {
                let mut found = Round::default();
                found.outcome(format!(
                    "round not finished within {:?}",
                    attack.round_limit()
                ));
                found
            }
        };
        if let Ok(mut stats) = stats.lock() {
            stats.add(found, started.elapsed());
        }
        ctx.rounds.fetch_add(1, Ordering::Relaxed);
        round += 1;
        let pause = ctx.pause.max(attack.min_pause());
        if Instant::now() + pause >= ctx.deadline {
            break;
        }
        tokio::time::sleep(pause).await;
    }
}

async fn one(attack: Attack, ctx: &Context, round: u64) -> Round {
    let mut found = Round::default();
    match attack {
        Attack::Pattern => pattern(ctx, &mut found).await,
        Attack::Backlog => backlog(ctx, round, &mut found).await,
        Attack::Unacked => unacked(ctx, round, &mut found).await,
        Attack::State => session_state(ctx, round, &mut found).await,
        Attack::SlowHttp => slow_http(ctx, &mut found).await,
        Attack::Conns => burst(ctx, &mut found).await,
        Attack::Stomp10 => stomp10(ctx, &mut found).await,
    }
    found
}

/// How a frame is described in an outcome: its command, and an ERROR's `message` (with
/// the round's destinations shortened, so that rounds add up).
fn describe(frame: &Frame) -> String {
    match frame.command {
        Command::Error => format!(
            "ERROR {:?}",
            generic_destinations(frame.headers.message().unwrap_or(""))
        ),
        other => other.as_str().to_owned(),
    }
}

/// `queue "/queue/soak1a-backlog3-auto" is full` → `queue "/queue/..." is full`.
fn generic_destinations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["/queue/", "/topic/"]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
        .min()
    {
        let (i, prefix) = at;
        out.push_str(&rest[..i + prefix]);
        out.push_str("...");
        rest = &rest[i + prefix..];
        let end = rest.find(['"', ' ', ',', ')']).unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The next frame within `limit`, as text on failure.
async fn next(reader: &mut client::Reader, limit: Duration) -> Result<Frame, String> {
    match tokio::time::timeout(limit, reader.next_frame()).await {
        Ok(Ok(frame)) => Ok(frame),
        Ok(Err(e)) => Err(connection_end(&e)),
        Err(_) => Err(format!("nothing within {limit:?}")),
    }
}

/// A connection failure without its variable details.
fn connection_end(e: &str) -> String {
    if e.starts_with("closed") {
        "connection closed".into()
    } else {
        format!("connection failed ({})", e.split(':').next().unwrap_or(e))
    }
}

/// Reads until the RECEIPT `id` (counting MESSAGEs on the way); the outcome and the time.
async fn until_receipt(
    reader: &mut client::Reader,
    id: &str,
    limit: Duration,
    messages: &mut u64,
) -> (String, Duration) {
    let started = Instant::now();
    let deadline = started + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(reader, left).await {
            Ok(f) if f.command == Command::Message => *messages += 1,
            Ok(f) if f.command == Command::Receipt && f.headers.receipt_id() == Some(id) => {
                return ("RECEIPT".into(), started.elapsed())
            }
            Ok(f) if f.command == Command::Receipt => {}
            Ok(f) => return (describe(&f), started.elapsed()),
            Err(e) => return (e, started.elapsed()),
        }
    }
}

/// The patterns of issue 14: each matches `/topic/x` followed by empty segments, with two
/// `**` (as in tests/tests/hostile_bounds.rs).
const STACKED: [&str; 8] = [
    "/topic/x/**/**",
    "/topic/*/**/**",
    "/topic/**/**",
    "/topic/**/x/**",
    "/topic/**/*/**",
    "/topic/x/**/*/**",
    "/topic/*/**/*/**",
    "/topic/x/*/**/**",
];

/// `/topic/x` and 6 KB of empty segments.
fn deep_destination() -> String {
    format!("/topic/x{}", "/".repeat(6 * 1024))
}

/// `/topic/x` and empty segments up to 32 segments in all (the default limit; the engine
/// counts one segment more than separators).
fn deepest_allowed() -> String {
    format!("/topic/x{}", "/".repeat(29))
}

/// SUBSCRIBE with an ack mode.
fn subscribe(destination: &str, id: &str, ack: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("id", id)
        .header("ack", ack)
}

async fn pattern(ctx: &Context, found: &mut Round) {
    for (label, count) in [("8 patterns", STACKED.len()), ("1024 patterns", 1024)] {
        let (mut w, mut r) = match client::connect(&ctx.as_user("pattern")).await {
            Ok(pair) => pair,
            Err(e) => {
                found.outcome(format!("{label}: connect failed: {e}"));
                continue;
            }
        };
        let result: Result<(), String> = async {
            for i in 0..count {
                let mut sub = subscribe(STACKED[i % STACKED.len()], &format!("p{i}"), "auto");
                if i + 1 == count {
                    sub = sub.header("receipt", "subs");
                }
                w.feed(&sub).await?;
            }
            w.flush().await?;
            let (got, took) = until_receipt(&mut r, "subs", Duration::from_secs(60), &mut 0).await;
            found.outcome(format!("{label}: SUBSCRIBEs answered {got}"));
            found.number(&format!("{label}: SUBSCRIBEs to receipt ms"), ms(took));
            if got != "RECEIPT" {
                return Ok(());
            }
            for (what, destination) in [
                ("SEND to 32 segments", deepest_allowed()),
                ("SEND to 6 KB of /", deep_destination()),
            ] {
                let send =
                    client::send(&destination, Bytes::from_static(b"x")).header("receipt", "deep");
                w.send(&send).await?;
                // MESSAGEs on the way are the attacker's own and, as `/topic/**` matches
                // them, the chat rooms'.
                let (got, took) =
                    until_receipt(&mut r, "deep", Duration::from_secs(60), &mut 0).await;
                found.outcome(format!("{label}: {what} answered {got}"));
                found.number(&format!("{label}: {what} answer ms"), ms(took));
                if got != "RECEIPT" {
                    break;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            found.outcome(format!("{label}: {}", connection_end(&e)));
        }
        w.close().await;
    }
}

/// Messages in the backlog and their size.
const BACKLOG: usize = 96;
const BACKLOG_BODY: usize = 16 * 1024;

async fn backlog(ctx: &Context, round: u64, found: &mut Round) {
    for mode in ["client-individual", "auto"] {
        let queue = format!("/queue/soak{}-backlog{round}-{mode}", ctx.run);
        // The producer: 96 SENDs, the last with a receipt.
        match client::connect(&ctx.as_user("backlog-producer")).await {
            Ok((mut w, mut r)) => {
                let sent: Result<(), String> = async {
                    for i in 0..BACKLOG {
                        let mut send = client::send(&queue, numbered_body(i as u64, BACKLOG_BODY));
                        if i + 1 == BACKLOG {
                            send = send.header("receipt", "last");
                        }
                        w.feed(&send).await?;
                    }
                    w.flush().await
                }
                .await;
                let got = match sent {
                    Ok(()) => {
                        until_receipt(&mut r, "last", Duration::from_secs(30), &mut 0)
                            .await
                            .0
                    }
                    Err(e) => connection_end(&e),
                };
                found.outcome(format!(
                    "{mode}: producer of {BACKLOG} x 16 KiB answered {got}"
                ));
                w.close().await;
            }
            Err(e) => {
                found.outcome(format!("{mode}: producer connect failed: {e}"));
                continue;
            }
        }
        // The consumer, subscribing to the backlog.
        let (mut w, mut r) = match client::connect(&ctx.as_user("backlog-consumer")).await {
            Ok(pair) => pair,
            Err(e) => {
                found.outcome(format!("{mode}: consumer connect failed: {e}"));
                continue;
            }
        };
        let started = Instant::now();
        let drained: Result<(u64, u64, String), String> = async {
            let sub = subscribe(&queue, "b", mode);
            w.send(&sub).await?;
            let (mut received, mut in_order, mut last) = (0u64, 0u64, None::<u64>);
            let end = loop {
                if received == BACKLOG as u64 {
                    break "all".to_owned();
                }
                match next(&mut r, Duration::from_secs(10)).await {
                    Ok(f) if f.command == Command::Message => {
                        received += 1;
                        let seq = parse_numbered(&f.body);
                        if seq.is_some_and(|s| last.is_none_or(|l| s > l)) {
                            in_order += 1;
                            last = seq;
                        }
                        if mode != "auto" {
                            if let Some(ack) = f.headers.ack() {
                                w.send(&Frame::new(Command::Ack).header("id", ack)).await?;
                            }
                        }
                    }
                    Ok(f) => break describe(&f),
                    Err(e) => break e,
                }
            };
            Ok((received, in_order, end))
        }
        .await;
        match drained {
            Ok((received, in_order, end)) => {
                let line = if received < BACKLOG as u64 {
                    format!("{mode}: consumer got fewer than {BACKLOG}, then {end}")
                } else if in_order < received {
                    format!("{mode}: consumer got all {BACKLOG}, some out of order")
                } else {
                    format!("{mode}: consumer drained {BACKLOG}/{BACKLOG} in order")
                };
                found.outcome(line);
                found.number(&format!("{mode}: received"), received as f64);
                found.number(&format!("{mode}: drain ms"), ms(started.elapsed()));
            }
            Err(e) => found.outcome(format!("{mode}: consumer {}", connection_end(&e))),
        }
        w.close().await;
    }
}

/// A body of `size` bytes that starts with its number.
fn numbered_body(seq: u64, size: usize) -> Bytes {
    let mut text = format!("{seq:016} ");
    text.extend(std::iter::repeat_n('.', size.saturating_sub(text.len())));
    Bytes::from(text)
}

fn parse_numbered(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body.get(..16)?).ok()?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// What a background reader saw.
#[derive(Debug, Default)]
struct Seen {
    messages: AtomicU64,
    redelivered: AtomicU64,
    receipts: AtomicU64,
    /// The first ERROR, or how the connection ended.
    end: Mutex<Option<String>>,
    last_frame: Mutex<Option<Instant>>,
}

impl Seen {
    fn end(&self) -> Option<String> {
        self.end.lock().ok().and_then(|e| e.clone())
    }

    fn quiet_for(&self) -> Duration {
        self.last_frame
            .lock()
            .ok()
            .and_then(|t| *t)
            .map_or(Duration::MAX, |t| t.elapsed())
    }
}

/// Reads frames in the background, counting them, until the connection ends.
fn watch_reader(mut reader: client::Reader) -> (Arc<Seen>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Seen::default());
    let task_seen = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let frame = reader.next_frame().await;
            if let Ok(mut t) = task_seen.last_frame.lock() {
                *t = Some(Instant::now());
            }
            // After an ERROR (or another unexpected frame) keep reading until the server
            // closes; the first such event is what is reported.
            let (end, ended) = match frame {
                Ok(f) if f.command == Command::Message => {
                    task_seen.messages.fetch_add(1, Ordering::Relaxed);
                    if f.headers.get("redelivered") == Some("true") {
                        task_seen.redelivered.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                Ok(f) if f.command == Command::Receipt => {
                    task_seen.receipts.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Ok(f) => (describe(&f), false),
                Err(e) => (connection_end(&e), true),
            };
            if let Ok(mut slot) = task_seen.end.lock() {
                slot.get_or_insert(end);
            }
            if ended {
                break;
            }
        }
    });
    (seen, task)
}

/// Waits until `done` holds or `limit` passes (polling).
async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

const UNACKED_SESSIONS: usize = 4;
const UNACKED_MESSAGES: u64 = 1000;
const BIG_BODY: usize = 60 * 1024;

async fn unacked(ctx: &Context, round: u64, found: &mut Round) {
    let mut tasks = Vec::new();
    for k in 0..UNACKED_SESSIONS {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut found = Round::default();
            unacked_one(&ctx, round, k, &mut found).await;
            found
        }));
    }
    for task in tasks {
        if let Ok(one) = task.await {
            found.outcomes.extend(one.outcomes);
            found.numbers.extend(one.numbers);
        }
    }
}

async fn unacked_one(ctx: &Context, round: u64, k: usize, found: &mut Round) {
    let queue = format!("/queue/soak{}-unacked{round}-{k}", ctx.run);
    // The consumer: client-individual, never ACKs.
    let (mut cw, cr) = match client::connect(&ctx.as_user("unacked-consumer")).await {
        Ok(pair) => pair,
        Err(e) => return found.outcome(format!("consumer connect failed: {e}")),
    };
    let sub = subscribe(&queue, "u", "client-individual");
    if let Err(e) = cw.send(&sub).await {
        return found.outcome(format!("consumer SUBSCRIBE: {}", connection_end(&e)));
    }
    let (consumer, consumer_task) = watch_reader(cr);
    // The producer: 1,000 x 60 KiB, each with a receipt; stops at the first ERROR.
    let (mut pw, pr) = match client::connect(&ctx.as_user("unacked-producer")).await {
        Ok(pair) => pair,
        Err(e) => {
            consumer_task.abort();
            return found.outcome(format!("producer connect failed: {e}"));
        }
    };
    let (producer, producer_task) = watch_reader(pr);
    let mut sent = 0u64;
    while sent < UNACKED_MESSAGES && producer.end().is_none() {
        let send = client::send(&queue, numbered_body(sent, BIG_BODY))
            .header("receipt", format!("m{sent}"));
        if pw.send(&send).await.is_err() {
            break;
        }
        sent += 1;
    }
    wait_for(Duration::from_secs(60), || {
        producer.receipts.load(Ordering::Relaxed) >= sent || producer.end().is_some()
    })
    .await;
    let accepted = producer.receipts.load(Ordering::Relaxed);
    found.outcome(match producer.end() {
        Some(end) => format!("producer: {end}"),
        None if accepted == UNACKED_MESSAGES => "producer: all 1000 x 60 KiB accepted".into(),
        None => "producer: some receipts missing".into(),
    });
    found.number("producer accepted", accepted as f64);
    // The consumer takes what it is given, then leaves without ACK (no DISCONNECT).
    wait_for(Duration::from_secs(30), || {
        (consumer.quiet_for() >= Duration::from_secs(3)
            && consumer.messages.load(Ordering::Relaxed) > 0)
            || consumer.end().is_some()
    })
    .await;
    let held = consumer.messages.load(Ordering::Relaxed);
    if let Some(end) = consumer.end() {
        found.outcome(format!("consumer: {end}"));
    }
    found.number("consumer received (un-acked)", held as f64);
    consumer_task.abort();
    drop(cw);
    producer_task.abort();
    pw.close().await;
    // The hand-back: another consumer drains the queue with auto-ack.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut dw, dr) = match client::connect(&ctx.as_user("unacked-drain")).await {
        Ok(pair) => pair,
        Err(e) => return found.outcome(format!("drainer connect failed: {e}")),
    };
    if let Err(e) = dw.send(&subscribe(&queue, "d", "auto")).await {
        return found.outcome(format!("drainer SUBSCRIBE: {}", connection_end(&e)));
    }
    let (drain, drain_task) = watch_reader(dr);
    wait_for(Duration::from_secs(90), || {
        drain.messages.load(Ordering::Relaxed) >= accepted
            || (drain.quiet_for() >= Duration::from_secs(5)
                && drain.messages.load(Ordering::Relaxed) > 0)
            || drain.end().is_some()
    })
    .await;
    let drained = drain.messages.load(Ordering::Relaxed);
    found.outcome(if drained == accepted {
        "hand-back: every accepted message drained afterwards".to_owned()
    } else {
        format!(
            "hand-back: drained differs from accepted{}",
            drain.end().map(|e| format!(" ({e})")).unwrap_or_default()
        )
    });
    found.number("drained afterwards", drained as f64);
    found.number(
        "drained with redelivered:true",
        drain.redelivered.load(Ordering::Relaxed) as f64,
    );
    found.number(
        "accepted but not drained",
        accepted.saturating_sub(drained) as f64,
    );
    drain_task.abort();
    dw.close().await;
}

const STATE_SESSIONS: usize = 3;
const STATE_SUBSCRIPTIONS: usize = 1000;
/// Subscription id length: within the 8 KiB header line limit.
const STATE_ID_BYTES: usize = 7_900;
/// Destination length: within the 1,024-byte limit.
const STATE_DESTINATION_BYTES: usize = 1_000;
const STATE_TX_FRAMES: usize = 1000;

async fn session_state(ctx: &Context, round: u64, found: &mut Round) {
    let mut tasks = Vec::new();
    for s in 0..STATE_SESSIONS {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut found = Round::default();
            state_one(&ctx, round, s, &mut found).await;
            found
        }));
    }
    for task in tasks {
        if let Ok(one) = task.await {
            found.outcomes.extend(one.outcomes);
            found.numbers.extend(one.numbers);
        }
    }
}

fn padded(prefix: String, fill: char, len: usize) -> String {
    let mut s = prefix;
    s.extend(std::iter::repeat_n(fill, len.saturating_sub(s.len())));
    s
}

async fn state_one(ctx: &Context, round: u64, s: usize, found: &mut Round) {
    let (mut w, r) = match client::connect(&ctx.as_user("state")).await {
        Ok(pair) => pair,
        Err(e) => return found.outcome(format!("connect failed: {e}")),
    };
    let (seen, task) = watch_reader(r);
    // 1,000 subscriptions with long ids and destinations; a receipt on the last.
    let mut subscribed = 0;
    for i in 0..STATE_SUBSCRIPTIONS {
        if seen.end().is_some() {
            break;
        }
        let id = padded(format!("{s}-{i}-"), 'i', STATE_ID_BYTES);
        let destination = padded(
            format!("/topic/soak{}-state{round}-{s}-{i}-", ctx.run),
            'd',
            STATE_DESTINATION_BYTES,
        );
        let mut sub = subscribe(&destination, &id, "auto");
        if i + 1 == STATE_SUBSCRIPTIONS {
            sub = sub.header("receipt", "subs");
        }
        if w.send(&sub).await.is_err() {
            break;
        }
        subscribed += 1;
    }
    wait_for(Duration::from_secs(60), || {
        seen.receipts.load(Ordering::Relaxed) >= 1 || seen.end().is_some()
    })
    .await;
    found.number("SUBSCRIBEs written", subscribed as f64);
    found.outcome(match seen.end() {
        Some(end) => format!("1000 subscriptions (7.9 KB ids, 1 KB destinations): {end}"),
        None if seen.receipts.load(Ordering::Relaxed) >= 1 => {
            "1000 subscriptions (7.9 KB ids, 1 KB destinations): RECEIPT".into()
        }
        None => "1000 subscriptions: no answer".into(),
    });
    // A transaction of 1,000 x 60 KiB, never committed; a receipt on the last SEND.
    if seen.end().is_none() {
        let receipts_before = seen.receipts.load(Ordering::Relaxed);
        let sink = format!("/topic/soak{}-state-sink", ctx.run);
        let mut written = 0;
        if w.send(&Frame::new(Command::Begin).header("transaction", "tx"))
            .await
            .is_ok()
        {
            for i in 0..STATE_TX_FRAMES {
                if seen.end().is_some() {
                    break;
                }
                let mut send = client::send(&sink, numbered_body(i as u64, BIG_BODY))
                    .header("transaction", "tx");
                if i + 1 == STATE_TX_FRAMES {
                    send = send.header("receipt", "tx-last");
                }
                if w.send(&send).await.is_err() {
                    break;
                }
                written += 1;
            }
        }
        wait_for(Duration::from_secs(60), || {
            seen.receipts.load(Ordering::Relaxed) > receipts_before || seen.end().is_some()
        })
        .await;
        found.number("transaction SENDs written", written as f64);
        found.outcome(match seen.end() {
            Some(end) => format!("transaction of 1000 x 60 KiB: {end}"),
            None if seen.receipts.load(Ordering::Relaxed) > receipts_before => {
                "transaction of 1000 x 60 KiB: RECEIPT (all held)".into()
            }
            None => "transaction: no answer".into(),
        });
    }
    // Leave without DISCONNECT.
    task.abort();
    drop(w);
}

/// Raw TCP connections that send nothing, per round.
const IDLE_SOCKETS: usize = 10;
/// Longest a slow connection is watched.
const SLOW_LIMIT: Duration = Duration::from_secs(150);

async fn slow_http(ctx: &Context, found: &mut Round) {
    let mut idle = Vec::new();
    for _ in 0..IDLE_SOCKETS {
        let addr = ctx.addr.clone();
        idle.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut stream = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 1024];
            let mut answer = Vec::new();
            let closed = tokio::time::timeout(SLOW_LIMIT, async {
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&buf[..n.min(64)]),
                    }
                }
            })
            .await
            .is_ok();
            Ok::<_, String>((closed, started.elapsed(), status_line(&answer)))
        }));
    }
    let trickle = {
        let addr = ctx.addr.clone();
        tokio::spawn(async move { trickle_head(&addr).await })
    };
    for task in idle {
        match task.await {
            Ok(Ok((true, took, status))) => {
                found.outcome(format!("idle TCP: closed by the server{status}"));
                found.number("idle TCP open s", took.as_secs_f64().round());
            }
            Ok(Ok((false, _, _))) => {
                found.outcome(format!("idle TCP: still open after {SLOW_LIMIT:?}"))
            }
            Ok(Err(e)) => found.outcome(format!("idle TCP: connect failed: {e}")),
            Err(e) => found.outcome(format!("idle TCP task: {e}")),
        }
    }
    match trickle.await {
        Ok((outcome, bytes, took)) => {
            found.outcome(format!("1 byte per 10 s: {outcome}"));
            found.number("1 byte per 10 s: bytes sent", bytes as f64);
            found.number("1 byte per 10 s: open s", took.as_secs_f64().round());
        }
        Err(e) => found.outcome(format!("1 byte per 10 s task: {e}")),
    }
}

/// `, answered HTTP/1.1 408 ...` if the server answered before closing.
fn status_line(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    match text.lines().next() {
        Some(line) if !line.is_empty() => format!(", answered {line:?}"),
        _ => String::new(),
    }
}

/// An HTTP head sent 1 byte every 10 s until the server closes (or [`SLOW_LIMIT`]).
async fn trickle_head(addr: &str) -> (String, usize, Duration) {
    let head =
        b"GET / HTTP/1.1\r\nhost: localhost\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return (format!("connect failed: {e}"), 0, started.elapsed()),
    };
    let mut answer = Vec::new();
    for (sent, byte) in head.iter().enumerate() {
        if started.elapsed() >= SLOW_LIMIT {
            return (
                format!("still open after {SLOW_LIMIT:?}"),
                sent,
                started.elapsed(),
            );
        }
        if stream.write_all(&[*byte]).await.is_err() {
            return (
                format!("closed by the server{}", status_line(&answer)),
                sent,
                started.elapsed(),
            );
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                return (
                    format!("closed by the server{}", status_line(&answer)),
                    sent + 1,
                    started.elapsed(),
                )
            }
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    (
        "the whole head was read".into(),
        head.len(),
        started.elapsed(),
    )
}

async fn burst(ctx: &Context, found: &mut Round) {
    let plan = ConnPlan {
        connections: 10_000,
        concurrency: 500,
        hold: Duration::from_secs(2),
        ramp_limit: Duration::from_secs(120),
        server_pid: None,
        progress: false,
    };
    let mut target = ctx.as_user("burst");
    target.read_buffer = 4096;
    let result = conns::run(&target, &plan).await;
    found.outcome(if result.failed == 0 && result.errors.is_empty() {
        format!(
            "10,000 connections, 500 at a time: all {} connected",
            result.connected
        )
    } else {
        format!(
            "10,000 connections, 500 at a time: some failed ({})",
            result.errors.first().map(String::as_str).unwrap_or("")
        )
    });
    found.number("connected", result.connected as f64);
    found.number("failed", result.failed as f64);
    found.number("conn/s", result.connects_per_s);
    found.number(
        "p99 connect ms",
        result.connect_latency.p99_us as f64 / 1000.0,
    );
    found.number("dropped while idle", result.dropped_while_idle as f64);
}

async fn stomp10(ctx: &Context, found: &mut Round) {
    let target = ctx.as_user("stomp10");
    let (mut w, mut r, _) = match client::open(&target).await {
        Ok(open) => open,
        Err(e) => return found.outcome(format!("connect failed: {e}")),
    };
    let connect = Frame::new(Command::Connect)
        .header("host", target.host.as_str())
        .header("login", target.login.clone().unwrap_or_default());
    if let Err(e) = w.send(&connect).await {
        return found.outcome(format!("CONNECT: {}", connection_end(&e)));
    }
    match next(&mut r, Duration::from_secs(10)).await {
        Ok(f) if f.command == Command::Connected => found.outcome(format!(
            "CONNECT without accept-version: CONNECTED version:{}",
            f.headers.version().unwrap_or("(none)")
        )),
        Ok(f) => found.outcome(format!("CONNECT without accept-version: {}", describe(&f))),
        Err(e) => found.outcome(format!("CONNECT without accept-version: {e}")),
    }
    w.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bodies() {
        for attack in Attack::ALL {
            assert_eq!(Attack::parse(attack.name()), Some(attack));
        }
        assert_eq!(parse_numbered(&numbered_body(42, 100)), Some(42));
        assert_eq!(numbered_body(1, BIG_BODY).len(), BIG_BODY);
        assert_eq!(
            generic_destinations(r#"queue "/queue/soak1-backlog3-auto" is full"#),
            r#"queue "/queue/..." is full"#
        );
        assert_eq!(generic_destinations("no destination"), "no destination");
        // Within the default limits: 1,024 bytes and 32 segments (separators + 1).
        let deepest = deepest_allowed();
        assert_eq!(deepest.matches(['/', '.']).count() + 1, 32);
        assert!(deep_destination().len() > 6 * 1024);
    }

    #[test]
    fn stats_add_up() {
        let mut stats = AttackStats::default();
        for v in [1.0, 3.0] {
            let mut round = Round::default();
            round.outcome("same");
            round.number("n", v);
            stats.add(round, Duration::from_millis(1500));
        }
        assert_eq!(stats.rounds, 2);
        assert_eq!(stats.outcomes["same"], 2);
        let n = stats.numbers["n"];
        assert_eq!((n.min, n.max, n.mean), (1.0, 3.0, 2.0));
        assert_eq!(stats.longest_round_s, 1.5);
    }
}
