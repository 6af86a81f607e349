//! Serving an axum app on `127.0.0.1:0` for a test.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A served app: its address and the task running `axum::serve`.
#[derive(Debug)]
pub struct TestServer {
    /// Where the app listens.
    pub addr: SocketAddr,
    /// Completes when `axum::serve` returns.
    pub handle: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// `ws://127.0.0.1:PORT{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Fires the graceful-shutdown signal given to `axum::serve`.
    pub fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The graceful-shutdown wrapper: turns the test's stop signal into the future handed to
/// `with_graceful_shutdown` (e.g. `|signal| stomp.shutdown_signal(signal)`).
pub type ShutdownWrapper = Box<
    dyn FnOnce(Pin<Box<dyn Future<Output = ()> + Send>>) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send,
>;

/// Serves `app` on `127.0.0.1:0` (with peer addresses as `ConnectInfo<SocketAddr>`).
/// [`TestServer::trigger_shutdown`] stops it gracefully.
pub async fn spawn_server(app: Router) -> TestServer {
    spawn_server_with(app, None).await
}

/// As [`spawn_server`]; the stop signal goes through `wrap` before reaching
/// `with_graceful_shutdown`.
pub async fn spawn_server_with(app: Router, wrap: Option<ShutdownWrapper>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let signal: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
        let _ = stopped.await;
    });
    let signal = match wrap {
        Some(wrap) => wrap(signal),
        None => signal,
    };
    let handle = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(signal)
            .await
            .expect("serve");
    });
    TestServer {
        addr,
        handle,
        stop: Some(stop),
    }
}

/// A plain HTTP/1.1 GET to `addr` (no keep-alive): the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        String::from_utf8_lossy(&response).into_owned()
    };
    let response = tokio::time::timeout(crate::TIMEOUT, exchange)
        .await
        .expect("HTTP exchange timed out");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("HTTP status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
