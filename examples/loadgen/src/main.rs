//! `loadgen`: a load generator for any STOMP-over-WebSocket server.
//!
//! ```text
//! loadgen <fanout|pairs|latency|app|conns|churn|durable|soak> --url ws://127.0.0.1:8080/ws
//!         [--login L --passcode P] [--host VHOST] [--server-pid PID]
//!         [--subscribers N] [--pairs P] [--rate MSGS_PER_S] [--duration SECS]
//!         [--messages M] [--window W] [--body BYTES] [--drain SECS]
//!         [--connections C] [--concurrency K] [--hold SECS] [--app-prefix /app/fanout]
//!         [--sources N] [--stats-url http://127.0.0.1:8080/stats]
//!         [--sessions N] [--attacks A,B] [--pause SECS] [--csv PATH]
//! ```
//!
//! `soak` runs well-behaved chat traffic against the chat example for `--duration` while the
//! hostile clients of issue 14 repeat (see `soak/mod.rs`); `scripts/soak.sh` runs it.
//!
//! A progress line every second on stderr; one JSON object on stdout at the end. Every run
//! is bounded in time and count and stops by itself. `--server-pid` adds the server's CPU
//! time per delivered message (`/proc/PID/stat`) and its memory (`/proc/PID/status`).

mod churn;
mod client;
mod conns;
mod durable;
mod options;
mod probe;
mod soak;
mod traffic;

use std::time::Duration;

use serde_json::json;

use crate::options::{Options, Scenario};

fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("loadgen: {message}\n\n{}", options::USAGE);
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let limit = options.time_limit();
    let outcome = runtime.block_on(async { tokio::time::timeout(limit, run(&options)).await });
    let (value, ok) = match outcome {
        Ok((value, ok)) => (value, ok),
        Err(_) => (
            json!({ "scenario": options.scenario.name(), "errors": ["overall time limit reached"] }),
            false,
        ),
    };
    println!("{value}");
    // Leave without waiting for connection tasks still parked in the runtime.
    runtime.shutdown_timeout(Duration::from_millis(100));
    std::process::exit(if ok { 0 } else { 1 });
}

async fn run(options: &Options) -> (serde_json::Value, bool) {
    let target = options.target();
    let head = json!({
        "scenario": options.scenario.name(),
        "url": options.url,
        "server_pid": options.server_pid,
    });
    let (mut value, ok) = match options.scenario {
        Scenario::Durable => {
            let run_id = format!("{}-{}", std::process::id(), unix_millis());
            let result = durable::run(&target, &options.durable_plan(&run_id)).await;
            let ok = result.errors.is_empty();
            (serde_json::to_value(result), ok)
        }
        Scenario::Churn => {
            let run_id = format!("{}-{}", std::process::id(), unix_millis());
            let result = churn::run(&target, &options.churn_plan(&run_id)).await;
            let clean = result
                .leftover
                .as_ref()
                .is_none_or(serde_json::Map::is_empty);
            let ok = result.errors.is_empty() && result.failed == 0 && clean;
            (serde_json::to_value(result), ok)
        }
        Scenario::Soak => {
            let run_id = format!("{:x}", unix_millis() % 0xff_ffff);
            let result = soak::run(&target, &options.soak_plan(&run_id)).await;
            let w = &result.well_behaved;
            let ok = result.errors.is_empty()
                && w.errors.is_empty()
                && w.lost == 0
                && w.out_of_order == 0
                && w.disconnects == 0;
            (serde_json::to_value(result), ok)
        }
        Scenario::Conns => {
            let result = conns::run(&target, &options.conn_plan()).await;
            let ok = result.errors.is_empty() && result.failed == 0;
            (serde_json::to_value(result), ok)
        }
        _ => {
            let run_id = format!("{}-{}", std::process::id(), unix_millis());
            let result = traffic::run(&target, &options.plan(&run_id)).await;
            let ok = result.errors.is_empty();
            (serde_json::to_value(result), ok)
        }
    };
    let mut merged = head;
    if let (Some(out), Ok(serde_json::Value::Object(fields))) =
        (merged.as_object_mut(), value.as_mut().map(std::mem::take))
    {
        out.extend(fields);
    }
    (merged, ok)
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
