//! One STOMP-over-WebSocket client connection: the WebSocket handshake, CONNECT, and
//! frames in and out through the stomp-core codec.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use stomp_core::codec::{encode, Decoded, Decoder, Limits};
use stomp_core::{Command, Frame, Version};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{generate_key, Request};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_KEY;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How to reach and log in to the server.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) login: Option<String>,
    pub(crate) passcode: Option<String>,
    /// The CONNECT `host` header (RabbitMQ reads it as the virtual host).
    pub(crate) host: String,
    /// WebSocket read buffer of each client connection.
    pub(crate) read_buffer: usize,
    /// Loopback source addresses to spread connections over (127.0.0.1 up to
    /// 127.0.0.`sources`), so that more connections than one address has ephemeral ports
    /// fit; 1: let the kernel choose.
    pub(crate) sources: u8,
    /// Round-robin position among the sources.
    pub(crate) next_source: Arc<AtomicUsize>,
}

impl Target {
    /// Opens the TCP connection, from the next source address when there are several.
    async fn tcp_connect(&self, host: &str, port: u16) -> std::io::Result<TcpStream> {
        if self.sources <= 1 {
            return TcpStream::connect((host, port)).await;
        }
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| std::io::Error::other("--sources needs an IPv4 server address"))?;
        let n = self.next_source.fetch_add(1, Ordering::Relaxed) % usize::from(self.sources);
        let source = Ipv4Addr::new(127, 0, 0, 1 + u8::try_from(n).unwrap_or(0));
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        socket.connect(addr).await
    }
}

/// The writing half of a connection.
pub(crate) struct Writer {
    sink: SplitSink<Ws, Message>,
    version: Version,
    buf: BytesMut,
}

/// The reading half: decoded frames, in order.
pub(crate) struct Reader {
    stream: SplitStream<Ws>,
    decoder: Decoder,
    buf: BytesMut,
}

/// A failure of a connection, as text for the report.
pub(crate) type Error = String;

/// Opens the WebSocket, sends CONNECT and waits for CONNECTED.
pub(crate) async fn connect(target: &Target) -> Result<(Writer, Reader), Error> {
    connect_timed(target).await.map(|(w, r, _)| (w, r))
}

/// As [`connect`], also returning how long the TCP connect alone took (a SYN the server's
/// full listen backlog dropped shows up here as a ~1 s retransmission).
pub(crate) async fn connect_timed(
    target: &Target,
) -> Result<(Writer, Reader, std::time::Duration), Error> {
    connect_prepared(target, &Handshake::new(target)?).await
}

/// A target's WebSocket upgrade request and TCP address, parsed once for many connections
/// (the `conns` burst opens thousands): each connection clones it and takes a fresh
/// `Sec-WebSocket-Key`.
#[derive(Debug, Clone)]
pub(crate) struct Handshake {
    request: Request,
    host: String,
    port: u16,
    config: WebSocketConfig,
}

impl Handshake {
    /// Parses `target`'s URL and builds its upgrade request (subprotocols `v12.stomp`,
    /// `v11.stomp`).
    pub(crate) fn new(target: &Target) -> Result<Handshake, Error> {
        let mut request = target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("bad url: {e}"))?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("v12.stomp, v11.stomp"),
        );
        let uri = request.uri();
        let host = uri
            .host()
            .unwrap_or("127.0.0.1")
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let config = WebSocketConfig::default()
            .read_buffer_size(target.read_buffer)
            .write_buffer_size(4096);
        Ok(Handshake {
            request,
            host,
            port,
            config,
        })
    }

    /// The request for one connection: a clone with its own random key.
    fn request(&self) -> Request {
        let mut request = self.request.clone();
        if let Ok(key) = HeaderValue::from_str(&generate_key()) {
            request.headers_mut().insert(SEC_WEBSOCKET_KEY, key);
        }
        request
    }
}

/// As [`connect_timed`], with the upgrade request prepared by [`Handshake::new`].
pub(crate) async fn connect_prepared(
    target: &Target,
    handshake: &Handshake,
) -> Result<(Writer, Reader, std::time::Duration), Error> {
    let (mut writer, mut reader, tcp_connect) = open_prepared(target, handshake).await?;
    let mut connect = Frame::new(Command::Connect)
        .header("accept-version", "1.1,1.2")
        .header("host", target.host.as_str())
        .header("heart-beat", "0,0");
    if let Some(login) = &target.login {
        connect = connect.header("login", login.as_str());
    }
    if let Some(passcode) = &target.passcode {
        connect = connect.header("passcode", passcode.as_str());
    }
    writer.send(&connect).await?;
    let connected = reader.next_frame().await?;
    if connected.command != Command::Connected {
        return Err(describe_error(&connected));
    }
    let version = match connected.headers.version() {
        Some("1.0") => Version::V1_0,
        Some("1.1") => Version::V1_1,
        _ => Version::V1_2,
    };
    writer.version = version;
    reader.decoder.set_version(version);
    Ok((writer, reader, tcp_connect))
}

/// Opens the WebSocket (offering `v12.stomp, v11.stomp`) without sending CONNECT; also
/// returns how long the TCP connect took.
pub(crate) async fn open(target: &Target) -> Result<(Writer, Reader, std::time::Duration), Error> {
    open_prepared(target, &Handshake::new(target)?).await
}

/// As [`open`], with the upgrade request prepared by [`Handshake::new`].
async fn open_prepared(
    target: &Target,
    handshake: &Handshake,
) -> Result<(Writer, Reader, std::time::Duration), Error> {
    let began = std::time::Instant::now();
    let tcp = target
        .tcp_connect(handshake.host.as_str(), handshake.port)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    let tcp_connect = began.elapsed();
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        handshake.request(),
        MaybeTlsStream::Plain(tcp),
        Some(handshake.config),
    )
    .await
    .map_err(|e| format!("websocket connect: {e}"))?;
    let (sink, stream) = ws.split();
    let writer = Writer {
        sink,
        version: Version::V1_2,
        buf: BytesMut::new(),
    };
    let reader = Reader {
        stream,
        decoder: Decoder::new(Limits::default()),
        buf: BytesMut::new(),
    };
    Ok((writer, reader, tcp_connect))
}

/// The text of an unexpected frame (an ERROR's message).
pub(crate) fn describe_error(frame: &Frame) -> String {
    let message = frame.headers.message().unwrap_or("");
    format!(
        "unexpected {} {message} {}",
        frame.command.as_str(),
        String::from_utf8_lossy(&frame.body)
    )
}

impl Writer {
    /// Encodes and queues a frame without flushing.
    pub(crate) async fn feed(&mut self, frame: &Frame) -> Result<(), Error> {
        encode(frame, self.version, &mut self.buf);
        let bytes: Bytes = self.buf.split().freeze();
        let message = match Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Binary(bytes),
        };
        self.sink
            .feed(message)
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// Writes what was fed.
    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        self.sink.flush().await.map_err(|e| format!("flush: {e}"))
    }

    /// Encodes, queues and flushes a frame.
    pub(crate) async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// Sends DISCONNECT and closes the WebSocket (best effort).
    pub(crate) async fn close(mut self) {
        let _ = self.send(&Frame::new(Command::Disconnect)).await;
        let _ = self.sink.close().await;
    }
}

impl Reader {
    /// The next frame (heart-beats skipped); an error when the connection ends.
    pub(crate) async fn next_frame(&mut self) -> Result<Frame, Error> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Decoded::Frame(frame))) => return Ok(frame),
                Ok(Some(Decoded::HeartBeat)) => continue,
                Ok(None) => {}
                Err(e) => return Err(format!("decode: {e}")),
            }
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => self.buf.extend_from_slice(text.as_bytes()),
                Some(Ok(Message::Binary(data))) => self.buf.extend_from_slice(&data),
                Some(Ok(Message::Close(close))) => return Err(format!("closed: {close:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("connection ended".into()),
            }
        }
    }
}

/// SUBSCRIBE to `destination` with subscription `id`.
pub(crate) fn subscribe(destination: &str, id: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("id", id)
        .header("ack", "auto")
}

/// SEND of `body` to `destination`.
pub(crate) fn send(destination: &str, body: Bytes) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .header("content-type", "text/plain")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_handshake() {
        let target = Target {
            url: "ws://[::1]:61999/ws".into(),
            login: None,
            passcode: None,
            host: "/".into(),
            read_buffer: 4096,
            sources: 1,
            next_source: Arc::default(),
        };
        let handshake = Handshake::new(&target).expect("valid url");
        assert_eq!((handshake.host.as_str(), handshake.port), ("::1", 61999));
        let (a, b) = (handshake.request(), handshake.request());
        assert_eq!(a.uri().path(), "/ws");
        assert_eq!(
            a.headers()["sec-websocket-protocol"],
            "v12.stomp, v11.stomp"
        );
        // Every connection sends its own nonce (RFC 6455 4.1), not the template's.
        let key = |r: &Request| r.headers()[SEC_WEBSOCKET_KEY].clone();
        assert_ne!(key(&a), key(&b));
        assert_ne!(key(&a), key(&handshake.request));
        let bad = Target {
            url: "ws://".into(),
            ..target
        };
        assert!(Handshake::new(&bad).is_err());
    }
}
