//! The `conns` scenario: many idle sessions, the connect rate, and the server's memory per
//! session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::{self, Target};
use crate::probe::{self, CpuMark};

/// How many sessions, how fast, for how long.
#[derive(Debug, Clone)]
pub(crate) struct ConnPlan {
    pub(crate) connections: usize,
    /// Handshakes in flight at once (the ramp).
    pub(crate) concurrency: usize,
    /// How long the sessions stay idle once all are connected.
    pub(crate) hold: Duration,
    /// Longest the whole ramp may take.
    pub(crate) ramp_limit: Duration,
    pub(crate) server_pid: Option<u32>,
    /// A progress line on stderr every second.
    pub(crate) progress: bool,
}

/// The JSON result of `conns`.
#[derive(Debug, Serialize, Default)]
pub(crate) struct ConnResult {
    pub(crate) requested: usize,
    pub(crate) connected: usize,
    pub(crate) failed: usize,
    /// Sessions the server closed while they were held idle.
    pub(crate) dropped_while_idle: u64,
    pub(crate) held: usize,
    pub(crate) ramp_seconds: f64,
    pub(crate) connects_per_s: f64,
    /// Time from starting a connection (TCP connect) to its CONNECTED frame.
    pub(crate) connect_latency: probe::Latency,
    /// Time of the TCP connect alone (SYN to established).
    pub(crate) tcp_connect_latency: probe::Latency,
    pub(crate) server_rss_before_bytes: Option<u64>,
    pub(crate) server_rss_after_bytes: Option<u64>,
    pub(crate) server_bytes_per_session: Option<f64>,
    pub(crate) server_cpu_s: Option<f64>,
    pub(crate) errors: Vec<String>,
}

/// Warm-up connections before the memory baseline (lazy statics, first allocations).
const WARM_UP: usize = 20;

pub(crate) async fn run(target: &Target, plan: &ConnPlan) -> ConnResult {
    let mut result = ConnResult {
        requested: plan.connections,
        ..ConnResult::default()
    };
    let mut warm = Vec::new();
    for _ in 0..WARM_UP {
        match client::connect(target).await {
            Ok(pair) => warm.push(pair),
            Err(e) => {
                result.errors.push(format!("warm-up: {e}"));
                return result;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    result.server_rss_before_bytes = plan.server_pid.and_then(probe::rss_bytes);
    let cpu = CpuMark::start(plan.server_pid);

    let handshake = match client::Handshake::new(target) {
        Ok(handshake) => Arc::new(handshake),
        Err(e) => {
            result.errors.push(e);
            return result;
        }
    };
    let target = Arc::new(target.clone());
    let gate = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let dropped = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(plan.connections);
    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::channel::<Result<(Duration, Duration), String>>(1024);
    for _ in 0..plan.connections {
        let (target, handshake) = (target.clone(), handshake.clone());
        let (gate, done) = (gate.clone(), done_tx.clone());
        let (dropped, connected) = (dropped.clone(), connected.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let began = Instant::now();
            // Boxed: the task's future stays small, so spawning it and finishing it move a
            // pointer instead of the whole handshake's state.
            let outcome = Box::pin(client::connect_prepared(&target, &handshake)).await;
            let took = began.elapsed();
            drop(permit);
            match outcome {
                Ok((writer, mut reader, tcp)) => {
                    connected.fetch_add(1, Ordering::Relaxed);
                    let _ = done.send(Ok((took, tcp))).await;
                    drop(done);
                    // Idle: any frame or the end of the connection counts as a drop.
                    let _ = reader.next_frame().await;
                    dropped.fetch_add(1, Ordering::Relaxed);
                    drop(writer);
                }
                Err(e) => {
                    let _ = done.send(Err(e)).await;
                }
            }
        }));
    }
    drop(done_tx);
    let ramp_deadline = start + plan.ramp_limit;
    let mut finished = 0;
    let mut last_report = Instant::now();
    let mut latency = probe::histogram(false);
    let mut tcp_latency = probe::histogram(false);
    while finished < plan.connections {
        let next = tokio::time::timeout_at(ramp_deadline, done_rx.recv()).await;
        match next {
            Ok(Some(Ok((took, tcp)))) => {
                result.connected += 1;
                for (h, d) in [(&mut latency, took), (&mut tcp_latency, tcp)] {
                    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
                    let _ = h.record(us.clamp(1, 60_000_000));
                }
            }
            Ok(Some(Err(e))) => {
                result.failed += 1;
                if result.errors.len() < 5 {
                    result.errors.push(e);
                }
            }
            Ok(None) => break,
            Err(_) => {
                result.errors.push("ramp time limit reached".into());
                break;
            }
        }
        finished += 1;
        if plan.progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "[{:>4.0}s] connected {} failed {}",
                start.elapsed().as_secs_f64(),
                result.connected,
                result.failed
            );
        }
    }
    result.ramp_seconds = start.elapsed().as_secs_f64();
    result.connect_latency = probe::Latency::of(&latency);
    result.tcp_connect_latency = probe::Latency::of(&tcp_latency);
    if result.ramp_seconds > 0.0 {
        result.connects_per_s = (result.connected as f64 / result.ramp_seconds).round();
    }
    // Let the server settle, then read its memory while every session is held.
    tokio::time::sleep(Duration::from_secs(1)).await;
    result.server_rss_after_bytes = plan.server_pid.and_then(probe::rss_bytes);
    if let (Some(before), Some(after), true) = (
        result.server_rss_before_bytes,
        result.server_rss_after_bytes,
        result.connected > 0,
    ) {
        let delta = after as f64 - before as f64;
        result.server_bytes_per_session = Some((delta / result.connected as f64).round());
    }
    if plan.progress {
        eprintln!(
            "holding {} idle sessions for {:?}",
            result.connected, plan.hold
        );
    }
    tokio::time::sleep(plan.hold).await;
    result.dropped_while_idle = dropped.load(Ordering::Relaxed);
    result.held = result
        .connected
        .saturating_sub(usize::try_from(result.dropped_while_idle).unwrap_or(usize::MAX));
    result.server_cpu_s = cpu.and_then(|c| c.used());
    for task in &tasks {
        task.abort();
    }
    drop(warm);
    result
}
