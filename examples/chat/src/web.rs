//! The page: HTML, CSS and JavaScript compiled into the binary, plus `@stomp/stompjs` read
//! from its npm package on disk (installed by `scripts/chat.sh`), so nothing comes from a CDN.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const STYLE_CSS: &str = include_str!("../web/style.css");

/// Where `npm ci` in `examples/chat/web` puts the browser bundle of `@stomp/stompjs`.
pub fn default_stompjs_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js")
}

/// How to get the browser library when it is missing.
pub fn stompjs_missing_help(path: &Path) -> String {
    format!(
        "the page needs @stomp/stompjs, which is not installed at {}.\n\
         Install it with `npm ci` in examples/chat/web, or start the example with \
         `bash scripts/chat.sh`, which does that for you.",
        path.display()
    )
}

/// Routes for `/`, `/app.js`, `/style.css` and `/vendor/stomp.umd.min.js`.
pub(crate) fn routes(stompjs: PathBuf) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { text(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { text(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { text(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/vendor/stomp.umd.min.js", get(stompjs_bundle))
        .with_state(stompjs)
}

fn text(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn stompjs_bundle(State(path): State<PathBuf>) -> Response {
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => {
            let help = stompjs_missing_help(&path);
            // A script that explains itself in the browser console too.
            let body = format!("console.error({});", serde_json::Value::String(help));
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                body,
            )
                .into_response()
        }
    }
}
