//! The `soak` scenario (issue 14): well-behaved chat traffic for a long time while each
//! attack repeats in its own loop, with new attacker sessions every round; the server's
//! resident set, CPU time and a few gauges are sampled into a CSV every
//! [`SoakPlan::sample_every`].
//!
//! The report: the well-behaved totals (sent, received, lost, out of order, disconnects,
//! receipt latency), what each attack got (outcome lines with counts, numbers with their
//! range), and the samples.

mod attacks;
mod chat;
mod report;
mod sample;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

pub(crate) use attacks::Attack;

use crate::client::Target;
use attacks::AttackStats;
use chat::{ChatResult, Phase};
use sample::{Csv, Sample};

/// How the soak is shaped.
#[derive(Debug, Clone)]
pub(crate) struct SoakPlan {
    pub(crate) run: String,
    /// Well-behaved sessions.
    pub(crate) sessions: usize,
    /// Ticks per second per session (each tick: a room message, a private message and,
    /// for producers, a queue message).
    pub(crate) rate: f64,
    /// How long the traffic and the attacks run.
    pub(crate) duration: Duration,
    /// After the traffic stops, how long without a delivery before the rest counts as lost.
    pub(crate) drain: Duration,
    /// Pause between two rounds of one attack.
    pub(crate) pause: Duration,
    pub(crate) attacks: Vec<Attack>,
    pub(crate) csv: Option<PathBuf>,
    pub(crate) server_pid: Option<u32>,
    pub(crate) sample_every: Duration,
    /// Idle time after everything stopped, before the last sample.
    pub(crate) settle: Duration,
}

/// The JSON result of `soak`.
#[derive(Debug, Serialize, Default)]
pub(crate) struct SoakResult {
    pub(crate) seconds: f64,
    pub(crate) well_behaved: ChatResult,
    pub(crate) attacks: std::collections::BTreeMap<String, AttackStats>,
    pub(crate) rss_kib_max: Option<u64>,
    pub(crate) rss_kib_start: Option<u64>,
    /// After the attackers and the well-behaved sessions left and the server settled.
    pub(crate) rss_kib_end: Option<u64>,
    pub(crate) server_cpu_s: Option<f64>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) errors: Vec<String>,
}

/// `HOST:PORT` of a `ws://HOST:PORT/...` URL.
fn authority(url: &str) -> Option<String> {
    let rest = url.strip_prefix("ws://")?;
    let authority = rest.split('/').next()?;
    (!authority.is_empty()).then(|| authority.to_owned())
}

/// The sampler: a sample every `every` until stopped, each written to the CSV.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What the sampler and the progress line read while running.
#[derive(Clone)]
struct Live {
    totals: Arc<chat::Totals>,
    rounds: Arc<AtomicU64>,
}

fn start_sampler(plan: &SoakPlan, addr: Option<String>, live: Live, mut csv: Csv) -> Sampler {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (every, pid, task_samples) = (plan.sample_every, plan.server_pid, samples.clone());
    let task = tokio::spawn(async move {
        let epoch = Instant::now();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            let mut s = sample::take(pid, addr.as_deref()).await;
            s.t_s = epoch.elapsed().as_secs_f64().round();
            s.chat_sent = live.totals.sent.load(Ordering::Relaxed);
            s.chat_received = live.totals.received.load(Ordering::Relaxed);
            s.attack_rounds = live.rounds.load(Ordering::Relaxed);
            csv.line(&sample::csv_line(&s));
            let t = &live.totals;
            eprintln!(
                "[{:>5.0}s] rss {} MiB | chat sent {} expected {} received {} out-of-order {} \
                 receipts {} errors {} disconnects {} | attack rounds {}",
                s.t_s,
                s.rss_kib
                    .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
                s.chat_sent,
                t.expected.load(Ordering::Relaxed),
                s.chat_received,
                t.out_of_order.load(Ordering::Relaxed),
                t.receipts.load(Ordering::Relaxed),
                t.error_frames.load(Ordering::Relaxed),
                t.disconnects.load(Ordering::Relaxed),
                s.attack_rounds
            );
            if let Ok(mut all) = task_samples.lock() {
                all.push(s);
            }
        }
    });
    Sampler {
        samples,
        stop,
        task,
    }
}

/// Longest wait for the attack loops to finish their last round after the deadline.
const ATTACK_WIND_DOWN: Duration = Duration::from_secs(300);
/// Longest drain of the well-behaved traffic.
const DRAIN_CAP: Duration = Duration::from_secs(120);

/// Runs the soak.
pub(crate) async fn run(target: &Target, plan: &SoakPlan) -> SoakResult {
    let mut result = SoakResult::default();
    let addr = authority(&target.url);
    let csv = match Csv::create(plan.csv.as_deref()) {
        Ok(csv) => csv,
        Err(e) => {
            result.errors.push(e);
            return result;
        }
    };
    let started = Instant::now();
    let cpu = crate::probe::CpuMark::start(plan.server_pid);
    let rounds = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(chat::Totals::default());
    let live = Live {
        totals: totals.clone(),
        rounds: rounds.clone(),
    };
    // The first sample is the server before the soak.
    let sampler = start_sampler(plan, addr.clone(), live, csv);
    let traffic =
        match chat::start(target, &plan.run, plan.sessions, plan.rate, totals.clone()).await {
            Ok(traffic) => traffic,
            Err(e) => {
                result.errors.push(format!("well-behaved set-up: {e}"));
                let _ = sampler.stop.send(true);
                return result;
            }
        };
    eprintln!(
        "soak: {} well-behaved sessions ready; attacks: {}",
        plan.sessions,
        plan.attacks
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    traffic.set_phase(Phase::Sending);
    let deadline = Instant::now() + plan.duration;
    let context = attacks::Context {
        target: target.clone(),
        run: plan.run.clone(),
        addr: addr.clone().unwrap_or_default(),
        pause: plan.pause,
        deadline,
        rounds,
    };
    let mut loops = Vec::new();
    for &attack in &plan.attacks {
        let stats = Arc::new(Mutex::new(AttackStats::default()));
        let task = tokio::spawn(attacks::repeat(attack, context.clone(), stats.clone()));
        loops.push((attack, stats, task));
    }

    tokio::time::sleep_until(deadline).await;
    eprintln!("soak: time is up; draining the well-behaved traffic");
    traffic.set_phase(Phase::Draining);
    traffic.drain(plan.drain, DRAIN_CAP).await;
    eprintln!("soak: waiting for the attacks' last rounds");
    let wind_down = Instant::now() + ATTACK_WIND_DOWN;
    for (attack, stats, mut task) in loops {
        if tokio::time::timeout_at(wind_down, &mut task).await.is_err() {
            task.abort();
            result
                .errors
                .push(format!("{}: last round aborted", attack.name()));
        }
        let stats = stats
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        result.attacks.insert(attack.name().to_owned(), stats);
    }
    result.well_behaved = traffic.finish().await;
    result.seconds = started.elapsed().as_secs_f64().round();
    result.server_cpu_s = cpu.and_then(|c| c.used());

    eprintln!(
        "soak: settling for {:?} before the last sample",
        plan.settle
    );
    tokio::time::sleep(plan.settle).await;
    let _ = sampler.stop.send(true);
    let _ = sampler.task.await;
    let mut last = sample::take(plan.server_pid, addr.as_deref()).await;
    last.t_s = started.elapsed().as_secs_f64().round();
    last.chat_sent = totals.sent.load(Ordering::Relaxed);
    last.chat_received = totals.received.load(Ordering::Relaxed);
    last.attack_rounds = context.rounds.load(Ordering::Relaxed);
    result.rss_kib_end = last.rss_kib;
    result.samples = sampler
        .samples
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    if let Some(csv_path) = &plan.csv {
        // The settled sample goes to the CSV too.
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(csv_path) {
            use std::io::Write;
            let _ = writeln!(file, "{}", sample::csv_line(&last));
        }
    }
    result.samples.push(last);
    result.rss_kib_start = result.samples.first().and_then(|s| s.rss_kib);
    result.rss_kib_max = result.samples.iter().filter_map(|s| s.rss_kib).max();
    eprintln!("\n{}", report::markdown(&result, 60.0));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_ws_urls() {
        assert_eq!(
            authority("ws://127.0.0.1:8080/ws").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(authority("ws://h:1").as_deref(), Some("h:1"));
        assert_eq!(authority("wss://h/ws"), None);
    }
}
