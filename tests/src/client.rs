//! A raw STOMP-over-WebSocket client for wire tests.

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::frames::{parse_frames, WireFrame};
use crate::TIMEOUT;

/// How to open the WebSocket: subprotocols offered, `Origin`, extra headers.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientOptions {
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    read_buffer_size: Option<usize>,
}

impl ClientOptions {
    /// No subprotocol, no `Origin`.
    pub fn new() -> Self {
        ClientOptions::default()
    }

    /// Offers these subprotocols (`Sec-WebSocket-Protocol`), in order.
    pub fn protocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sends this `Origin` header, as a browser does.
    pub fn origin(self, origin: &str) -> Self {
        self.header("origin", origin)
    }

    /// Adds a request header (cookie, authorization, ...).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The client's WebSocket read buffer (tungstenite allocates it eagerly; default
    /// 128 KiB). Small values keep many test clients cheap.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = Some(bytes);
        self
    }

    /// Opens the WebSocket. `Err(status)` is the HTTP status of a refused handshake; any
    /// other failure (and a timeout) panics.
    pub async fn connect(self, url: &str) -> Result<WsClient, u16> {
        let mut request = url.into_client_request().expect("bad url");
        let headers = request.headers_mut();
        if !self.protocols.is_empty() {
            let value = HeaderValue::from_str(&self.protocols.join(", ")).expect("bad protocols");
            headers.insert("sec-websocket-protocol", value);
        }
        for (name, value) in &self.headers {
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("bad header name");
            headers.append(
                name,
                HeaderValue::from_str(value).expect("bad header value"),
            );
        }
        let config = self.read_buffer_size.map(|size| {
            tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(size)
                .write_buffer_size(0)
        });
        let connect = tokio_tungstenite::connect_async_with_config(request, config, false);
        match tokio::time::timeout(TIMEOUT, connect).await {
            Err(_) => panic!("WebSocket handshake timed out"),
            Ok(Ok((ws, response))) => {
                let protocol = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok(WsClient {
                    ws,
                    protocol,
                    pending: VecDeque::new(),
                })
            }
            Ok(Err(WsError::Http(response))) => Err(response.status().as_u16()),
            Ok(Err(e)) => panic!("WebSocket handshake failed: {e}"),
        }
    }
}

/// One thing received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A close frame: code and reason (`None` when the close frame had no payload).
    Close(Option<(u16, String)>),
    /// The connection ended without (further) close frame.
    Ended,
    /// Reading failed (e.g. the connection was reset).
    Error(String),
}

/// A raw WebSocket client speaking STOMP by hand.
#[derive(Debug)]
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Option<String>,
    pending: VecDeque<WireFrame>,
}

impl WsClient {
    /// Opens a WebSocket to `url` offering no subprotocol; panics if refused.
    pub async fn connect(url: &str) -> WsClient {
        match ClientOptions::new().connect(url).await {
            Ok(client) => client,
            Err(status) => panic!("handshake refused with HTTP {status}"),
        }
    }

    /// The subprotocol the server selected.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.send(Message::binary(data.to_vec())).await;
    }

    /// Sends any WebSocket message (ping, close, ...).
    pub async fn send(&mut self, message: Message) {
        match tokio::time::timeout(TIMEOUT, self.ws.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("send failed: {e}"),
            Err(_) => panic!("send timed out"),
        }
    }

    /// The next message from the server (pings and pongs skipped).
    pub async fn recv(&mut self) -> Received {
        // Bounded: control frames are skipped at most this many times.
        for _ in 0..1000 {
            let next = match tokio::time::timeout(TIMEOUT, self.ws.next()).await {
                Ok(next) => next,
                Err(_) => panic!("nothing received within {TIMEOUT:?}"),
            };
            return match next {
                None => Received::Ended,
                Some(Err(e)) => Received::Error(e.to_string()),
                Some(Ok(Message::Text(t))) => Received::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => Received::Binary(b.to_vec()),
                Some(Ok(Message::Close(frame))) => Received::Close(
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            };
        }
        panic!("only control frames received")
    }

    /// Sends a WebSocket ping and waits for the matching pong (data messages in between
    /// fail the test).
    pub async fn ping_pong(&mut self, payload: &[u8]) {
        self.send(Message::Ping(payload.to_vec().into())).await;
        for _ in 0..100 {
            match tokio::time::timeout(TIMEOUT, self.ws.next()).await {
                Ok(Some(Ok(Message::Pong(p)))) if p.as_ref() == payload => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => panic!("expected pong, got {other:?}"),
            }
        }
        panic!("no pong");
    }

    /// The frames of the next data message, and whether it was binary. Heart-beat-only
    /// messages are skipped.
    pub async fn recv_message_frames(&mut self) -> (Vec<WireFrame>, bool) {
        for _ in 0..1000 {
            let (data, binary) = match self.recv().await {
                Received::Text(t) => (t.into_bytes(), false),
                Received::Binary(b) => (b, true),
                other => panic!("expected a frame, got {other:?}"),
            };
            let frames = parse_frames(&data);
            if !frames.is_empty() {
                return (frames, binary);
            }
        }
        panic!("only heart-beats received")
    }

    /// The next frame (from a buffered message or the next one).
    pub async fn next_frame(&mut self) -> WireFrame {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        let (frames, _) = self.recv_message_frames().await;
        self.pending.extend(frames);
        self.pending.pop_front().expect("a message with frames")
    }

    /// The next frame, which must have `command`.
    pub async fn expect_frame(&mut self, command: &str) -> WireFrame {
        let frame = self.next_frame().await;
        assert_eq!(frame.command, command, "unexpected frame:\n{frame:?}");
        frame
    }

    /// Sends CONNECT (STOMP 1.2, no heart-beats) and expects CONNECTED.
    pub async fn stomp_connect(&mut self) -> WireFrame {
        self.send_text(&crate::connect_frame()).await;
        self.expect_frame("CONNECTED").await
    }

    /// Expects the server to close: returns the close code and reason. Heart-beats are
    /// skipped; any other frame fails the test.
    pub async fn expect_close(&mut self) -> (u16, String) {
        assert!(
            self.pending.is_empty(),
            "frames left unread: {:?}",
            self.pending
        );
        for _ in 0..1000 {
            match self.recv().await {
                Received::Close(Some(close)) => {
                    // Send the close reply tungstenite queued, as a browser does at once.
                    let _ = tokio::time::timeout(TIMEOUT, self.ws.flush()).await;
                    return close;
                }
                Received::Close(None) => panic!("close frame without a code"),
                Received::Ended => panic!("connection ended without a close frame"),
                Received::Error(e) => panic!("connection failed before a close frame: {e}"),
                Received::Text(t) if t.trim().is_empty() => continue,
                other => panic!("expected close, got {other:?}"),
            }
        }
        panic!("only heart-beats received")
    }
}
