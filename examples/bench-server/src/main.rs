//! `bench-server`: the embedded stomp-axum broker as the benchmarks run it.
//!
//! `/topic` and `/queue` on the `SimpleBroker`, `/app` handlers, one WebSocket endpoint at
//! `/ws`. Tuned only through public configuration (`Stomp::builder()`).
//!
//! Usage: `bench-server [--addr 127.0.0.1:8080] [--workers N] [--read-buffer BYTES]`
//!
//! `GET /stats` answers JSON: under `live`, what the server holds now (sessions, engine
//! registry, subscriptions, user registry, broker index, open connections: all 0 once
//! every client is gone, which the load generator's `churn` scenario checks); under
//! `totals`, counters since start.
//!
//! The one handler, `/app/fanout/{topic}`, replies with the SEND body to `/topic/{topic}`:
//! the load generator's `app` scenario publishes through it (handler + reply path).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use stomp_axum::core::broker::{SimpleBroker, SimpleBrokerConfig};
use stomp_axum::prelude::*;
use stomp_axum::AllowedOrigins;

/// Forwards the body unchanged to the topic of the same name.
#[message_mapping("/fanout/{topic}")]
#[send_to("/topic/{topic}")]
async fn fanout(body: Bytes) -> Bytes {
    body
}

/// Command line: the listen address and the runtime's worker threads.
struct Args {
    addr: SocketAddr,
    workers: Option<usize>,
    /// WebSocket read buffer per connection (`None`: the library default).
    read_buffer: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: None,
        read_buffer: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| format!("--addr: {e}"))?,
            "--workers" => {
                args.workers = Some(value.parse().map_err(|e| format!("--workers: {e}"))?);
            }
            "--read-buffer" => {
                args.read_buffer = Some(value.parse().map_err(|e| format!("--read-buffer: {e}"))?);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

fn main() -> std::io::Result<()> {
    let args = parse_args().map_err(std::io::Error::other)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers);
    }
    runtime
        .enable_all()
        .build()?
        .block_on(serve(args.addr, args.read_buffer))
}

async fn serve(addr: SocketAddr, read_buffer: Option<usize>) -> std::io::Result<()> {
    // Feature `metrics`: a Prometheus recorder, installed before the engine is built, so
    // the run pays what a server exporting its metrics pays (the text is never rendered).
    #[cfg(feature = "metrics")]
    let _metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    // The SimpleBroker `simple_broker(["/topic", "/queue"])` would build, kept at hand for
    // /stats.
    let broker = Arc::new(SimpleBroker::new(
        SimpleBrokerConfig::new()
            .topic_prefixes(["/topic"])
            .queue_prefixes(["/queue"]),
    ));
    let shared = broker.clone();
    let mut builder = Stomp::builder()
        .app_destination_prefix("/app")
        .engine(move |engine| engine.broker_arc(shared))
        .allowed_origins(AllowedOrigins::Any)
        .handler(fanout);
    if let Some(bytes) = read_buffer {
        builder = builder.read_buffer_size(bytes);
    }
    let stomp = builder.build();
    let stats = {
        let stomp = stomp.clone();
        get(move || async move { stats_json(&stomp, &broker) })
    };
    let app = Router::new()
        .merge(stomp.router("/ws"))
        .route("/stats", stats);
    // TCP_NODELAY, as a WebSocket server wants: without it Nagle's algorithm holds small
    // MESSAGE writes behind unacknowledged ones (p99 latency 8-20 ms instead of 2.5 ms).
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("bench-server listening on ws://{addr}/ws");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(stomp.shutdown_signal(async {
            let _ = tokio::signal::ctrl_c().await;
        }))
        .await
}

/// What the server holds now (`live`) and counters since start (`totals`), as JSON.
fn stats_json(stomp: &Stomp, broker: &SimpleBroker) -> ([(&'static str, &'static str); 1], String) {
    let stats = stomp.stats();
    let users = stomp.engine().user_registry();
    let held = broker.stats();
    let body = format!(
        concat!(
            r#"{{"live":{{"sessions":{},"registered_sessions":{},"subscriptions":{},"#,
            r#""user_registry_sessions":{},"user_registry_users":{},"broker_sessions":{},"#,
            r#""broker_subscriptions":{},"broker_pending":{},"broker_queued":{},"#,
            r#""broker_destinations":{},"connections":{}}},"#,
            r#""totals":{{"sessions":{},"connections":{},"frames_in":{},"frames_out":{}}}}}"#
        ),
        stats.engine.sessions,
        stats.engine.registered_sessions,
        stats.engine.subscriptions,
        users.session_count(),
        users.user_count(),
        held.sessions,
        held.subscriptions,
        held.pending,
        held.queued,
        held.destinations,
        stats.transport.connections_current,
        stats.engine.sessions_total,
        stats.transport.connections_total,
        stats.engine.frames_in,
        stats.engine.frames_out,
    );
    ([("content-type", "application/json")], body)
}
