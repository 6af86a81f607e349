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
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

/// Frames one connection may have queued before the forwarder drops.
const QUEUE: usize = 4096;

/// One subscriber of a destination.
struct Sub {
    conn: u64,
    id: String,
    tx: mpsc::Sender<Utf8Bytes>,
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
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(Message::Text(first)).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(Message::Text(more)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let data: Bytes = match message {
            Message::Text(text) => text.into(),
            Message::Binary(data) => data,
            Message::Close(_) => break,
            _ => continue,
        };
        if !handle(&data, conn, &tx, &hub) {
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
fn handle(data: &[u8], conn: u64, tx: &mpsc::Sender<Utf8Bytes>, hub: &Hub) -> bool {
    let data = data.strip_suffix(b"\0").unwrap_or(data);
    let (head, body) = match memchr::memmem::find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines().skip_while(|l| l.is_empty());
    let command = lines.next().unwrap_or("");
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::to_owned)
    };
    let reply = |text: String| tx.try_send(Utf8Bytes::from(text)).is_ok();
    match command {
        "CONNECT" | "STOMP" => reply("CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0".into()),
        "SUBSCRIBE" => {
            let (Some(dest), Some(id)) = (header("destination"), header("id")) else {
                return false;
            };
            if let Ok(mut subs) = hub.subs.write() {
                subs.entry(dest).or_default().push(Sub {
                    conn,
                    id,
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
                for sub in subs.get(&dest).into_iter().flatten() {
                    let n = hub.next_msg.fetch_add(1, Ordering::Relaxed);
                    let mut frame = BytesMut::with_capacity(body.len() + dest.len() + 64);
                    frame.put_slice(b"MESSAGE\ndestination:");
                    frame.put_slice(dest.as_bytes());
                    frame.put_slice(b"\nsubscription:");
                    frame.put_slice(sub.id.as_bytes());
                    frame.put_slice(format!("\nmessage-id:{n}\n\n").as_bytes());
                    frame.put_slice(body);
                    frame.put_u8(0);
                    if let Ok(text) = Utf8Bytes::try_from(frame.freeze()) {
                        let _ = sub.tx.try_send(text);
                    }
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
