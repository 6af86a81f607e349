//! `bare-forwarder`: the reference ceiling of the benchmarks. A bare axum WebSocket server
//! with no STOMP semantics beyond what the load generator needs: CONNECT gets CONNECTED,
//! SUBSCRIBE registers the exact destination, and every SEND body goes out as a MESSAGE
//! frame to each subscriber of exactly that destination. No validation, no acks, no
//! heart-beats, no limits beyond a bounded queue per connection (a full queue drops).
//!
//! Usage: `bare-forwarder [--addr 127.0.0.1:8081]`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

/// Frames one connection may have queued before the forwarder drops.
const QUEUE: usize = 4096;

/// Most bytes the writer gathers into one WebSocket message (as bench-server's writer,
/// whose default `write_buffer_size` limit this matches in spirit: one write per wake-up).
const COALESCE: usize = 64 * 1024;

/// One subscriber of a destination.
struct Sub {
    conn: u64,
    id: String,
    tx: mpsc::Sender<String>,
}

#[derive(Default)]
struct Hub {
    subs: RwLock<HashMap<String, Vec<Sub>>>,
    next_conn: AtomicU64,
    next_msg: AtomicU64,
}

fn main() -> std::io::Result<()> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8081));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value.parse().map_err(std::io::Error::other)?,
            _ => return Err(std::io::Error::other(format!("bad option {flag}"))),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new()
                .route("/ws", get(upgrade))
                .with_state(Arc::new(Hub::default()));
            // TCP_NODELAY, as bench-server does.
            let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            eprintln!("bare-forwarder listening on ws://{addr}/ws");
            axum::serve(listener, app).await
        })
}

async fn upgrade(ws: WebSocketUpgrade, State(hub): State<Arc<Hub>>) -> Response {
    ws.read_buffer_size(4096)
        .write_buffer_size(4096)
        .protocols(["v12.stomp"])
        .on_upgrade(move |socket| connection(socket, hub))
}

async fn connection(socket: WebSocket, hub: Arc<Hub>) {
    let conn = hub.next_conn.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
    // Drains everything queued into one text message (STOMP frames may share one), so a
    // wake-up costs one WebSocket frame, one write and one flush, as in bench-server.
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut text = first;
            while text.len() < COALESCE {
                match rx.try_recv() {
                    Ok(more) => text.push_str(&more),
                    Err(_) => break,
                }
            }
            if sink
                .send(Message::Text(Utf8Bytes::from(text)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let ok = match message {
            Message::Text(text) => handle(text.as_str(), conn, &tx, &hub),
            Message::Binary(data) => match std::str::from_utf8(&data) {
                Ok(text) => handle(text, conn, &tx, &hub),
                Err(_) => false,
            },
            Message::Close(_) => break,
            _ => continue,
        };
        if !ok {
            break;
        }
    }
    if let Ok(mut subs) = hub.subs.write() {
        for list in subs.values_mut() {
            list.retain(|s| s.conn != conn);
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Handles one WebSocket message holding one frame; `false` ends the connection.
fn handle(data: &str, conn: u64, tx: &mpsc::Sender<String>, hub: &Hub) -> bool {
    let data = data.strip_suffix('\0').unwrap_or(data);
    let (head, body) = data.split_once("\n\n").unwrap_or((data, ""));
    let head = head.trim_start_matches(['\r', '\n']);
    let (command, headers) = head.split_once('\n').unwrap_or((head, ""));
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
    };
    let reply = |text: String| tx.try_send(text).is_ok();
    match command {
        "CONNECT" | "STOMP" => reply("CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0".into()),
        "SUBSCRIBE" => {
            let (Some(dest), Some(id)) = (header("destination"), header("id")) else {
                return false;
            };
            if let Ok(mut subs) = hub.subs.write() {
                subs.entry(dest.to_owned()).or_default().push(Sub {
                    conn,
                    id: id.to_owned(),
                    tx: tx.clone(),
                });
            }
            header("receipt").is_none_or(|r| reply(format!("RECEIPT\nreceipt-id:{r}\n\n\0")))
        }
        "SEND" => {
            let Some(dest) = header("destination") else {
                return false;
            };
            if let Ok(subs) = hub.subs.read() {
                for sub in subs.get(dest).into_iter().flatten() {
                    let n = hub.next_msg.fetch_add(1, Ordering::Relaxed);
                    let mut digits = [0u8; 20];
                    let mut at = digits.len();
                    let mut rest = n;
                    loop {
                        at -= 1;
                        digits[at] = b'0' + (rest % 10) as u8;
                        rest /= 10;
                        if rest == 0 {
                            break;
                        }
                    }
                    let digits = std::str::from_utf8(&digits[at..]).unwrap_or("0");
                    let mut frame = String::with_capacity(
                        body.len() + dest.len() + sub.id.len() + digits.len() + 48,
                    );
                    for part in [
                        "MESSAGE\ndestination:",
                        dest,
                        "\nsubscription:",
                        &sub.id,
                        "\nmessage-id:",
                        digits,
                        "\n\n",
                        body,
                        "\0",
                    ] {
                        frame.push_str(part);
                    }
                    let _ = sub.tx.try_send(frame);
                }
            }
            header("receipt").is_none_or(|r| reply(format!("RECEIPT\nreceipt-id:{r}\n\n\0")))
        }
        "DISCONNECT" => {
            if let Some(r) = header("receipt") {
                reply(format!("RECEIPT\nreceipt-id:{r}\n\n\0"));
            }
            false
        }
        _ => true,
    }
}
