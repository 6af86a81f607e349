//! `/metrics`: the engine's metrics (see `stomp_core::telemetry`) in the Prometheus text
//! format, through `metrics-exporter-prometheus`.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use stomp_axum::Stomp;

/// Buckets of `stomp_handler_duration_seconds`: 0.5 ms to 2.5 s.
const HANDLER_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's Prometheus recorder (once; later calls return the same handle).
/// Must run before the STOMP endpoint is built: the engine takes its metric handles then.
/// `None` if another recorder was installed first (the chat then serves no metrics).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("stomp_handler_duration_seconds".into()),
                    HANDLER_BUCKETS,
                )
                .inspect_err(|e| eprintln!("chat: metrics buckets: {e}"))
                .ok()?;
            let handle = builder
                .install_recorder()
                .inspect_err(|e| eprintln!("chat: metrics not installed: {e}"))
                .ok()?;
            // Histograms are drained into their buckets by upkeep.
            let upkeep = handle.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        tick.tick().await;
                        upkeep.run_upkeep();
                    }
                });
            }
            Some(handle)
        })
        .clone()
}

/// `GET /metrics`, for `stomp`'s engine: its figures as of the request.
pub(crate) fn routes(stomp: &Stomp) -> Router {
    let Some(handle) = install() else {
        return Router::new();
    };
    let stomp = stomp.clone();
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            let stomp = stomp.clone();
            async move {
                stomp.engine().record_metrics();
                handle.run_upkeep();
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    )
}
