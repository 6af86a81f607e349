//! The STOMP [`Client`] of `stomp-core` over a WebSocket (feature `client`), as Spring's
//! `WebSocketStompClient`.
//!
//! [`connect_ws`] opens `ws://...` offering the subprotocols [`SUBPROTOCOLS`], then sends
//! CONNECT over it; [`connect_ws_request`] does the same with a prepared request (an
//! `Origin`, a cookie, an `Authorization` header). Everything after the handshake is the
//! ordinary [`Client`]: subscribe, send, receipts, ACK/NACK, transactions, heart-beats.
//!
//! [`WsByteStream`] is the piece in between: a WebSocket seen as the byte stream the client
//! reads and writes. Each write goes out as one WebSocket message (a text message when the
//! bytes are valid UTF-8, binary otherwise; the client writes whole frames), reads
//! concatenate the payloads of text and binary messages, pings are answered by tungstenite,
//! and a close frame (or the end of the connection) reads as end-of-file. Use it directly
//! for a WebSocket opened some other way, e.g. `wss://` over your own TLS stream:
//! `Client::connect(WsByteStream::new(websocket), config)`.
//!
//! ```no_run
//! use stomp_axum::client::{connect_ws, connect_ws_request, IntoClientRequest};
//! use stomp_axum::core::broker::AckMode;
//! use stomp_axum::core::client::ClientConfig;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = connect_ws("ws://127.0.0.1:8080/ws", ClientConfig::new()).await?;
//! let mut news = client.subscribe("/topic/news", AckMode::Auto).await?;
//! client.send_with_receipt("/app/chat/lobby", "hello").await?;
//! if let Some(message) = news.next().await {
//!     println!("{:?}", message.body());
//! }
//! client.disconnect().await?;
//!
//! // Extra handshake headers: build the request first.
//! let mut request = "ws://127.0.0.1:8080/ws".into_client_request()?;
//! request.headers_mut().insert("origin", "http://127.0.0.1:8080".parse()?);
//! let client = connect_ws_request(request, ClientConfig::new()).await?;
//! # drop(client);
//! # Ok(()) }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use stomp_core::client::{Client, ClientConfig, ClientError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

pub use tokio_tungstenite;
pub use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The `Sec-WebSocket-Protocol` offer, most preferred first (what `@stomp/stompjs` offers).
pub const SUBPROTOCOLS: &str = "v12.stomp, v11.stomp, v10.stomp";

/// Longest the WebSocket handshake (TCP connect and HTTP upgrade) may take. The STOMP
/// CONNECT that follows is bounded by the [`ClientConfig`]'s connect timeout.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest WebSocket message (and WebSocket frame) accepted from the server: 16 MiB. The
/// STOMP decoder's own limits ([`ClientConfig::limits`]) still apply to each frame.
pub const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Most bytes of a refused handshake's response body kept in [`WsConnectError::Rejected`].
const MAX_REJECTION_BODY: usize = 1024;

/// Why [`connect_ws`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsConnectError {
    /// The URL or request is not a usable WebSocket request (bad URL, `wss://` without a
    /// TLS stream, ...).
    #[error("invalid WebSocket request: {0}")]
    Request(#[source] WsError),
    /// The server answered the upgrade with an HTTP error (401 from a handshake
    /// interceptor, 403 for a refused `Origin`, 404, 503...).
    #[error("WebSocket upgrade refused with HTTP {status}")]
    Rejected {
        /// The response's status.
        status: StatusCode,
        /// The start of the response body, if it had one (lossily decoded).
        body: String,
    },
    /// The connection or the upgrade failed otherwise (i/o error, invalid response, a
    /// subprotocol the client did not offer, or none at all).
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[source] WsError),
    /// The WebSocket handshake took longer than [`HANDSHAKE_TIMEOUT`].
    #[error("WebSocket handshake timed out after {0:?}")]
    Timeout(Duration),
    /// The WebSocket opened; the STOMP CONNECT failed (ERROR frame, timeout, closed...).
    #[error(transparent)]
    Stomp(#[from] ClientError),
}

/// Opens a WebSocket to `url` (`ws://host:port/path`) offering [`SUBPROTOCOLS`] and
/// connects a STOMP [`Client`] over it.
pub async fn connect_ws(url: &str, config: ClientConfig) -> Result<Client, WsConnectError> {
    connect_ws_request(url, config).await
}

/// As [`connect_ws`], with a prepared request: an `http::Request<()>` (the `http` crate
/// re-exported by axum) carrying extra headers such as `Origin`, `Cookie` or
/// `Authorization`. [`SUBPROTOCOLS`] is offered unless the request sets its own
/// `Sec-WebSocket-Protocol`.
///
/// The server must pick one of the offered subprotocols (tungstenite fails a handshake
/// whose response names none); servers built with this crate, Spring and RabbitMQ do.
pub async fn connect_ws_request<R>(
    request: R,
    config: ClientConfig,
) -> Result<Client, WsConnectError>
where
    R: IntoClientRequest,
{
    let mut request = request
        .into_client_request()
        .map_err(WsConnectError::Request)?;
    if !request.headers().contains_key(SEC_WEBSOCKET_PROTOCOL) {
        request.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOLS),
        );
    }
    let handshake =
        tokio_tungstenite::connect_async_with_config(request, Some(websocket_config()), true);
    let websocket = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Err(_) => return Err(WsConnectError::Timeout(HANDSHAKE_TIMEOUT)),
        Ok(Ok((websocket, _response))) => websocket,
        Ok(Err(WsError::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(|body| {
                    let start = &body[..body.len().min(MAX_REJECTION_BODY)];
                    String::from_utf8_lossy(start).into_owned()
                })
                .unwrap_or_default();
            return Err(WsConnectError::Rejected {
                status: response.status(),
                body,
            });
        }
        Ok(Err(error @ WsError::Url(_))) => return Err(WsConnectError::Request(error)),
        Ok(Err(error)) => return Err(WsConnectError::Handshake(error)),
    };
    Ok(Client::connect(WsByteStream::new(websocket), config).await?)
}

/// The client side's WebSocket settings: bounded incoming messages, a small read buffer,
/// every message written at once (the client flushes after each batch anyway).
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
}

/// A WebSocket as a byte stream (`AsyncRead + AsyncWrite`), for [`Client::connect`].
///
/// - Each `poll_write` sends its bytes as one message: text when they are valid UTF-8,
///   binary otherwise. A write waits until the previous message has left tungstenite's
///   buffer, so at most one message is buffered.
/// - Reads return the payloads of text and binary messages in order, as one stream of
///   bytes (a frame split across messages, or several in one, reads the same). Ping and
///   pong messages are not part of it (tungstenite answers pings).
/// - A close frame from the server, or the connection's end after one, reads as
///   end-of-file. A connection lost without a close frame is a `ConnectionReset` error,
///   an oversized message or a protocol violation an `InvalidData` error. Shutting down
///   sends a close frame.
#[derive(Debug)]
pub struct WsByteStream<S> {
    websocket: WebSocketStream<S>,
    /// What is left of the last message's payload.
    pending: Bytes,
    /// The server closed the WebSocket: reads return end-of-file.
    eof: bool,
}

impl<S> WsByteStream<S> {
    /// Wraps an open WebSocket (client side, handshake done).
    pub fn new(websocket: WebSocketStream<S>) -> Self {
        WsByteStream {
            websocket,
            pending: Bytes::new(),
            eof: false,
        }
    }

    /// The WebSocket inside.
    pub fn get_ref(&self) -> &WebSocketStream<S> {
        &self.websocket
    }

    /// Gives the WebSocket back (with any unread bytes of the last message dropped).
    pub fn into_inner(self) -> WebSocketStream<S> {
        self.websocket
    }
}

impl<S> AsyncRead for WsByteStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.websocket).poll_next(cx)) {
                Some(Ok(Message::Text(text))) => this.pending = Bytes::from(text),
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Err(error)) => return Poll::Ready(Err(to_io(error))),
            }
        }
    }
}

impl<S> AsyncWrite for WsByteStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut websocket = Pin::new(&mut self.get_mut().websocket);
        ready!(websocket.as_mut().poll_ready(cx)).map_err(to_io)?;
        let message = match std::str::from_utf8(buf) {
            Ok(text) => Message::text(text),
            Err(_) => Message::binary(Bytes::copy_from_slice(buf)),
        };
        websocket.start_send(message).map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().websocket)
            .poll_flush(cx)
            .map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().websocket)
            .poll_close(cx)
            .map_err(to_io)
    }
}

/// A WebSocket error as the i/o error the client reports.
fn to_io(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, error)
        }
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            io::Error::new(io::ErrorKind::ConnectionReset, error)
        }
        WsError::Protocol(_) | WsError::Capacity(_) | WsError::Utf8(_) => {
            io::Error::new(io::ErrorKind::InvalidData, error)
        }
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A client-side byte stream and the server's end of the WebSocket.
    async fn pair(
        config: Option<WebSocketConfig>,
    ) -> (WsByteStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let client = WebSocketStream::from_raw_socket(a, Role::Client, config).await;
        let server = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        (WsByteStream::new(client), server)
    }

    #[tokio::test]
    async fn each_write_is_one_message_text_when_utf8_else_binary() {
        let cases: [(&[u8], bool); 3] = [
            (b"SEND\ndestination:/a\n\nhi\0", true),
            (b"SEND\ncontent-length:2\n\n\xff\xfe\0", false),
            (b"\n", true),
        ];
        let (mut client, mut server) = pair(Some(websocket_config())).await;
        for (bytes, text) in cases {
            client.write_all(bytes).await.unwrap();
            client.flush().await.unwrap();
            let message = server.next().await.unwrap().unwrap();
            assert_eq!(message.is_text(), text, "{bytes:?}");
            assert_eq!(message.into_data().as_ref(), bytes);
        }
    }

    #[tokio::test]
    async fn reads_concatenate_payloads_skip_pings_and_end_at_close() {
        let (mut client, mut server) = pair(None).await;
        let messages = [
            Message::text("CONN"),
            Message::binary(&b"ECTED\nversion:1.2"[..]),
            Message::Ping(Bytes::from_static(b"p")),
            Message::text(""),
            Message::text("\n\n\0"),
            Message::Close(None),
        ];
        for message in messages {
            server.send(message).await.unwrap();
        }
        let mut read = Vec::new();
        client.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, b"CONNECTED\nversion:1.2\n\n\0");
        // Reading again still says end-of-file.
        assert_eq!(client.read(&mut [0; 8]).await.unwrap(), 0);
        // tungstenite answered the ping (and the close) on the client's behalf.
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"p"))
        );
    }

    #[tokio::test]
    async fn small_reads_take_a_message_in_pieces() {
        let (mut client, mut server) = pair(None).await;
        server.send(Message::text("MESSAGE\n\n\0")).await.unwrap();
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut buf = [0u8; 3];
        while pieces.concat().len() < 10 {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0 && n <= 3);
            pieces.push(buf[..n].to_vec());
        }
        assert_eq!(pieces.concat(), b"MESSAGE\n\n\0");
        assert_eq!(pieces.len(), 4);
    }

    #[tokio::test]
    async fn an_oversized_message_is_an_error_not_a_panic() {
        let config = websocket_config()
            .max_message_size(Some(16))
            .max_frame_size(Some(16));
        let (mut client, mut server) = pair(Some(config)).await;
        server.send(Message::binary(vec![b'x'; 17])).await.unwrap();
        let error = client.read(&mut [0; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_connection_lost_without_close_is_an_error() {
        let (mut client, server) = pair(None).await;
        drop(server);
        let error = client.read(&mut [0; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}");
        assert!(client.write_all(b"SEND\n\n\0").await.is_err() || client.flush().await.is_err());
    }

    #[tokio::test]
    async fn shutdown_sends_a_close_frame() {
        let (mut client, mut server) = pair(None).await;
        client.shutdown().await.unwrap();
        assert!(matches!(
            server.next().await.unwrap().unwrap(),
            Message::Close(_)
        ));
    }

    #[test]
    fn websocket_errors_map_to_io_kinds() {
        let cases = [
            (WsError::ConnectionClosed, io::ErrorKind::BrokenPipe),
            (WsError::AlreadyClosed, io::ErrorKind::BrokenPipe),
            (
                WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                io::ErrorKind::ConnectionReset,
            ),
            (
                WsError::Protocol(ProtocolError::MaskedFrameFromServer),
                io::ErrorKind::InvalidData,
            ),
            (
                WsError::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
                io::ErrorKind::ConnectionReset,
            ),
            (
                WsError::Capacity(
                    tokio_tungstenite::tungstenite::error::CapacityError::MessageTooLong {
                        size: 2,
                        max_size: 1,
                    },
                ),
                io::ErrorKind::InvalidData,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(to_io(error).kind(), kind);
        }
    }
}
