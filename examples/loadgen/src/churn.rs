//! The `churn` scenario: sessions connect, subscribe (a topic of their own and their user
//! queue) and disconnect at a steady rate; the server's memory over the run, and (with
//! `--stats-url`) whether every registry is empty again afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{self, Target};
use crate::probe;

/// How fast, for how long.
#[derive(Debug, Clone)]
pub(crate) struct ChurnPlan {
    /// Sessions started per second.
    pub(crate) rate: f64,
    pub(crate) duration: Duration,
    /// Most sessions alive at once (a server slower than the rate slows the churn down
    /// rather than piling up connections).
    pub(crate) in_flight: usize,
    /// Each session subscribes to `{topic_prefix}{n}`.
    pub(crate) topic_prefix: String,
    pub(crate) server_pid: Option<u32>,
    pub(crate) stats_url: Option<String>,
}

/// The JSON result of `churn`.
#[derive(Debug, Serialize, Default)]
pub(crate) struct ChurnResult {
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) seconds: f64,
    pub(crate) sessions_per_s: f64,
    /// Server RSS before the first churned session.
    pub(crate) server_rss_start_bytes: Option<u64>,
    /// After the first 10 s of churn (allocator and tables warmed up).
    pub(crate) server_rss_warm_bytes: Option<u64>,
    /// When the last session has ended.
    pub(crate) server_rss_end_bytes: Option<u64>,
    /// 5 s later.
    pub(crate) server_rss_settled_bytes: Option<u64>,
    /// Server RSS once a second during the churn.
    pub(crate) server_rss_samples: Vec<u64>,
    /// The server's stats after the run (`--stats-url`).
    pub(crate) stats: Option<serde_json::Value>,
    /// The counters of the stats' `live` object that are not back to 0 (`None`: no stats).
    pub(crate) leftover: Option<serde_json::Map<String, serde_json::Value>>,
    pub(crate) errors: Vec<String>,
}

/// One session: CONNECT, SUBSCRIBE a topic of its own and its user queue (each with a
/// receipt), then DISCONNECT with a receipt (even `n`) or drop the connection (odd `n`).
async fn one(target: &Target, topic: &str, n: u64) -> Result<(), String> {
    let (mut writer, mut reader) = client::connect(target).await?;
    let topic_sub = client::subscribe(topic, "t").header("receipt", "t");
    let user_sub = client::subscribe("/user/queue/churn", "u").header("receipt", "u");
    writer.feed(&topic_sub).await?;
    writer.send(&user_sub).await?;
    for _ in 0..2 {
        let frame = reader.next_frame().await?;
        if frame.command != stomp_core::Command::Receipt {
            return Err(client::describe_error(&frame));
        }
    }
    if n.is_multiple_of(2) {
        let disconnect =
            stomp_core::Frame::new(stomp_core::Command::Disconnect).header("receipt", "bye");
        writer.send(&disconnect).await?;
        let frame = reader.next_frame().await?;
        if frame.command != stomp_core::Command::Receipt {
            return Err(client::describe_error(&frame));
        }
        writer.close().await;
    }
    Ok(())
}

pub(crate) async fn run(target: &Target, plan: &ChurnPlan) -> ChurnResult {
    let mut result = ChurnResult::default();
    let rss = || plan.server_pid.and_then(probe::rss_bytes);
    result.server_rss_start_bytes = rss();
    let gate = Arc::new(Semaphore::new(plan.in_flight.max(1)));
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let start = Instant::now();
    let end = start + plan.duration;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate.max(0.001)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut next_sample = start + Duration::from_secs(1);
    let mut n: u64 = 0;
    while Instant::now() < end {
        tick.tick().await;
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let (target, topic) = (target.clone(), format!("{}{n}", plan.topic_prefix));
        let (done, bad, errors) = (completed.clone(), failed.clone(), errors.clone());
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(Duration::from_secs(10), one(&target, &topic, n))
                .await
                .unwrap_or_else(|_| Err("session took over 10 s".into()));
            drop(permit);
            match outcome {
                Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    if let Ok(mut errors) = errors.lock() {
                        if errors.len() < 5 {
                            errors.push(e);
                        }
                    }
                    bad.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
        n += 1;
        let now = Instant::now();
        if now >= next_sample {
            next_sample += Duration::from_secs(1);
            if let Some(bytes) = rss() {
                result.server_rss_samples.push(bytes);
                if result.server_rss_samples.len() == 10 {
                    result.server_rss_warm_bytes = Some(bytes);
                }
            }
            eprintln!(
                "[{:>4.0}s] started {n} completed {} failed {}",
                start.elapsed().as_secs_f64(),
                completed.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed)
            );
        }
    }
    // Wait for the sessions still running (each is bounded by its own timeout).
    let all = u32::try_from(plan.in_flight.max(1)).unwrap_or(u32::MAX);
    let _ = gate.acquire_many(all).await;
    result.started = n;
    result.seconds = start.elapsed().as_secs_f64();
    result.completed = completed.load(Ordering::Relaxed);
    result.failed = failed.load(Ordering::Relaxed);
    result.sessions_per_s = (result.completed as f64 / result.seconds.max(1e-9)).round();
    result.server_rss_end_bytes = rss();
    tokio::time::sleep(Duration::from_secs(5)).await;
    result.server_rss_settled_bytes = rss();
    if let Some(url) = &plan.stats_url {
        match http_get_json(url).await {
            Ok(stats) => {
                let leftover = stats
                    .get("live")
                    .and_then(serde_json::Value::as_object)
                    .map(|live| {
                        live.iter()
                            .filter(|(_, v)| v.as_u64() != Some(0))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    });
                if leftover.is_none() {
                    result.errors.push("stats: no `live` object".into());
                }
                result.leftover = leftover;
                result.stats = Some(stats);
            }
            Err(e) => result.errors.push(format!("stats: {e}")),
        }
    }
    if let Ok(mut errors) = errors.lock() {
        result.errors.append(&mut errors);
    }
    result
}

/// `GET` of a plain `http://HOST:PORT/PATH` URL, its body parsed as JSON.
async fn http_get_json(url: &str) -> Result<serde_json::Value, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("the stats URL must start with http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connect {authority}: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "stats request timed out".to_string())??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("").to_owned());
    }
    serde_json::from_str(body).map_err(|e| format!("stats JSON: {e}"))
}
