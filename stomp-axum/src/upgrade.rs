//! The WebSocket upgrade of HTTP/1.1 (RFC 6455 section 4.2): the request's checks, the
//! subprotocol choice, the 101 response and the socket built on the upgraded connection.
//!
//! The checks, their order and the refusals' statuses and bodies are those of axum's
//! `WebSocketUpgrade` (0.8), so clients see the same answers. Doing the upgrade here lets
//! the socket sit behind [`LazyRead`], which axum's extractor has no place for.
//! WebSocket over HTTP/2 (extended CONNECT, RFC 8441) is not supported: the server speaks
//! HTTP/1 only.

use std::future::Future;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::config::TransportConfig;
use crate::lazy_read::LazyRead;

/// An upgraded connection's WebSocket.
pub(crate) type WebSocket = WebSocketStream<LazyRead<TokioIo<Upgraded>>>;

/// tungstenite's own read buffer: allocated per connection and kept while it is idle, and
/// the most it asks of [`LazyRead`] per read. Socket reads stay
/// [`TransportConfig::read_buffer_size`] through the worker thread's scratch buffer.
const TUNGSTENITE_READ_BUFFER: usize = 256;

/// A refused upgrade request: each is its response, the status and body axum's
/// `WebSocketUpgrade` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpgradeRejection {
    /// An HTTP/1 request that is not `GET`.
    MethodNotGet,
    /// An HTTP/2 request that is not `CONNECT`.
    MethodNotConnect,
    /// An HTTP/2 `CONNECT`: WebSocket over HTTP/2 is not supported.
    Http2NotSupported,
    /// No `upgrade` in the `Connection` header.
    InvalidConnectionHeader,
    /// The `Upgrade` header is not `websocket`.
    InvalidUpgradeHeader,
    /// The `Sec-WebSocket-Version` header is not `13`.
    InvalidWebSocketVersionHeader,
    /// No `Sec-WebSocket-Key` header.
    WebSocketKeyHeaderMissing,
    /// The connection cannot be upgraded (hyper gave no upgrade handle).
    ConnectionNotUpgradable,
}

impl UpgradeRejection {
    /// The HTTP status sent.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::MethodNotGet | Self::MethodNotConnect => StatusCode::METHOD_NOT_ALLOWED,
            Self::Http2NotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::InvalidConnectionHeader
            | Self::InvalidUpgradeHeader
            | Self::InvalidWebSocketVersionHeader
            | Self::WebSocketKeyHeaderMissing => StatusCode::BAD_REQUEST,
            Self::ConnectionNotUpgradable => StatusCode::UPGRADE_REQUIRED,
        }
    }

    /// The text sent as the body.
    pub(crate) fn body(self) -> &'static str {
        match self {
            Self::MethodNotGet => "Request method must be `GET`",
            Self::MethodNotConnect => "Request method must be `CONNECT`",
            Self::Http2NotSupported => "WebSocket over HTTP/2 is not supported",
            Self::InvalidConnectionHeader => "Connection header did not include 'upgrade'",
            Self::InvalidUpgradeHeader => "`Upgrade` header did not include 'websocket'",
            Self::InvalidWebSocketVersionHeader => {
                "`Sec-WebSocket-Version` header did not include '13'"
            }
            Self::WebSocketKeyHeaderMissing => "`Sec-WebSocket-Key` header missing",
            Self::ConnectionNotUpgradable => {
                "WebSocket request couldn't be upgraded since no upgrade state was present"
            }
        }
    }
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        (self.status(), self.body()).into_response()
    }
}

/// A valid upgrade request, its upgrade handle taken from the request.
#[derive(Debug)]
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl Upgrade {
    /// Checks an upgrade request and takes hyper's upgrade handle out of its extensions.
    pub(crate) fn from_parts(parts: &mut Parts) -> Result<Upgrade, UpgradeRejection> {
        if parts.version > Version::HTTP_11 {
            return Err(if parts.method == Method::CONNECT {
                UpgradeRejection::Http2NotSupported
            } else {
                UpgradeRejection::MethodNotConnect
            });
        }
        if parts.method != Method::GET {
            return Err(UpgradeRejection::MethodNotGet);
        }
        if !header_contains(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(UpgradeRejection::InvalidConnectionHeader);
        }
        if !header_eq(&parts.headers, header::UPGRADE, "websocket") {
            return Err(UpgradeRejection::InvalidUpgradeHeader);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or(UpgradeRejection::WebSocketKeyHeaderMissing)?
            .clone();
        if !header_eq(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(UpgradeRejection::InvalidWebSocketVersionHeader);
        }
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(UpgradeRejection::ConnectionNotUpgradable)?;
        Ok(Upgrade { key, on_upgrade })
    }

    /// Answers 101 (with `protocol` as the chosen subprotocol) and spawns a task that,
    /// once hyper hands over the connection, runs `callback` on its WebSocket.
    pub(crate) fn on_upgrade<C, F>(
        self,
        protocol: Option<&'static str>,
        config: &TransportConfig,
        callback: C,
    ) -> Response
    where
        C: FnOnce(WebSocket) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let ws_config = websocket_config(config);
        let read_size = config.read_buffer_size;
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!(%error, "WebSocket upgrade failed");
                    return;
                }
            };
            let socket = LazyRead::new(TokioIo::new(upgraded), read_size);
            let ws = WebSocketStream::from_raw_socket(socket, Role::Server, Some(ws_config)).await;
            callback(ws).await;
        });

        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        // Base64: always a valid header value.
        if let Ok(accept) = HeaderValue::try_from(derive_accept_key(self.key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = protocol {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }
}

/// The first of `ours` (in our order of preference) that the client offered in its
/// `Sec-WebSocket-Protocol` headers (comma-separated, compared exactly).
pub(crate) fn select_protocol(headers: &HeaderMap, ours: &[&'static str]) -> Option<&'static str> {
    let offered = || {
        headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
    };
    ours.iter()
        .copied()
        .find(|ours| offered().any(|offered| offered == ours.as_bytes()))
}

/// tungstenite's settings for a server connection: a small read buffer of its own (see
/// [`LazyRead`]), the configured write buffer, and the hard message limit.
fn websocket_config(config: &TransportConfig) -> WebSocketConfig {
    let limit = hard_message_limit(config);
    WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ_BUFFER.min(config.read_buffer_size))
        .write_buffer_size(config.write_buffer_size)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// tungstenite's own limit: twice the configured one, so that a message somewhat over the
/// limit is read whole and refused with a clean close handshake; past this one the rest of
/// the message stays unread.
fn hard_message_limit(config: &TransportConfig) -> usize {
    config.max_message_size.saturating_mul(2)
}

/// Whether the header equals `value`, ignoring ASCII case.
fn header_eq(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|h| h.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether the header contains `value` (lower case), ignoring ASCII case.
fn header_contains(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers.get(name).is_some_and(|h| {
        std::str::from_utf8(h.as_bytes()).is_ok_and(|h| h.to_ascii_lowercase().contains(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    /// A browser-like upgrade request, then `edit`.
    fn request(edit: impl FnOnce(&mut Parts)) -> Parts {
        let request = Request::get("/ws")
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::UPGRADE, "WebSocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .extension(hyper::upgrade::on(Request::new(())))
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        let (mut parts, ()) = request.into_parts();
        edit(&mut parts);
        parts
    }

    #[test]
    fn refusals_as_axum_answers_them() {
        use UpgradeRejection::*;
        type Edit = fn(&mut Parts);
        let cases: &[(Edit, UpgradeRejection, u16, &str)] = &[
            (
                |p| p.method = Method::POST,
                MethodNotGet,
                405,
                "Request method must be `GET`",
            ),
            (
                |p| p.version = Version::HTTP_2,
                MethodNotConnect,
                405,
                "Request method must be `CONNECT`",
            ),
            (
                |p| {
                    p.version = Version::HTTP_2;
                    p.method = Method::CONNECT;
                },
                Http2NotSupported,
                505,
                "WebSocket over HTTP/2 is not supported",
            ),
            (
                |p| {
                    p.headers.remove(header::CONNECTION);
                },
                InvalidConnectionHeader,
                400,
                "Connection header did not include 'upgrade'",
            ),
            (
                |p| {
                    p.headers
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                },
                InvalidConnectionHeader,
                400,
                "Connection header did not include 'upgrade'",
            ),
            (
                |p| {
                    p.headers
                        .insert(header::UPGRADE, HeaderValue::from_static("h2c"));
                },
                InvalidUpgradeHeader,
                400,
                "`Upgrade` header did not include 'websocket'",
            ),
            (
                |p| {
                    p.headers.remove(header::SEC_WEBSOCKET_KEY);
                },
                WebSocketKeyHeaderMissing,
                400,
                "`Sec-WebSocket-Key` header missing",
            ),
            (
                |p| {
                    p.headers
                        .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
                },
                InvalidWebSocketVersionHeader,
                400,
                "`Sec-WebSocket-Version` header did not include '13'",
            ),
            (
                |p| {
                    p.headers.remove(header::SEC_WEBSOCKET_VERSION);
                },
                InvalidWebSocketVersionHeader,
                400,
                "`Sec-WebSocket-Version` header did not include '13'",
            ),
            (
                |p| {
                    p.extensions.remove::<OnUpgrade>();
                },
                ConnectionNotUpgradable,
                426,
                "WebSocket request couldn't be upgraded since no upgrade state was present",
            ),
            // axum's order: a request failing several checks gets the first one's answer.
            (
                |p| {
                    p.method = Method::POST;
                    p.headers.remove(header::UPGRADE);
                },
                MethodNotGet,
                405,
                "Request method must be `GET`",
            ),
            (
                |p| {
                    p.headers.remove(header::SEC_WEBSOCKET_KEY);
                    p.headers.remove(header::SEC_WEBSOCKET_VERSION);
                },
                WebSocketKeyHeaderMissing,
                400,
                "`Sec-WebSocket-Key` header missing",
            ),
        ];
        for (i, (edit, rejection, status, body)) in cases.iter().enumerate() {
            let mut parts = request(edit);
            let got = Upgrade::from_parts(&mut parts).err();
            assert_eq!(got, Some(*rejection), "case {i}");
            assert_eq!(rejection.status().as_u16(), *status, "case {i}");
            assert_eq!(rejection.body(), *body, "case {i}");
            let response = rejection.into_response();
            assert_eq!(response.status().as_u16(), *status, "case {i}");
        }
    }

    #[test]
    fn a_valid_request_takes_the_upgrade_handle() {
        let mut parts = request(|_| {});
        assert!(Upgrade::from_parts(&mut parts).is_ok());
        assert!(parts.extensions.get::<OnUpgrade>().is_none());
        // HTTP/1.0 and lower-case header values are accepted too, as axum does.
        let mut parts = request(|p| {
            p.version = Version::HTTP_10;
            p.headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            p.headers
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        });
        assert!(Upgrade::from_parts(&mut parts).is_ok());
    }

    #[tokio::test]
    async fn the_101_response() {
        let mut parts = request(|_| {});
        let upgrade = Upgrade::from_parts(&mut parts).unwrap_or_else(|e| panic!("{e:?}"));
        let config = TransportConfig::default();
        let response = upgrade.on_upgrade(Some("v12.stomp"), &config, |_| async {});
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let headers = response.headers();
        let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(get(header::CONNECTION), Some("upgrade"));
        assert_eq!(get(header::UPGRADE), Some("websocket"));
        // RFC 6455 section 1.3's example key and answer.
        assert_eq!(
            get(header::SEC_WEBSOCKET_ACCEPT),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(get(header::SEC_WEBSOCKET_PROTOCOL), Some("v12.stomp"));

        let mut parts = request(|_| {});
        let upgrade = Upgrade::from_parts(&mut parts).unwrap_or_else(|e| panic!("{e:?}"));
        let response = upgrade.on_upgrade(None, &config, |_| async {});
        assert!(response
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .is_none());
    }

    #[test]
    fn subprotocol_in_our_order_among_the_offered() {
        let ours = ["v12.stomp", "v11.stomp", "v10.stomp"];
        let cases: &[(&[&str], Option<&str>)] = &[
            (&[], None),
            (&["v10.stomp, v11.stomp"], Some("v11.stomp")),
            (&["v10.stomp", "v12.stomp"], Some("v12.stomp")),
            (&["  v11.stomp  ,x"], Some("v11.stomp")),
            (&["V12.STOMP"], None),
            (&["mqtt", "v12.stomp2"], None),
            (&[","], None),
        ];
        for (offered, expected) in cases {
            let mut headers = HeaderMap::new();
            for value in *offered {
                headers.append(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static(value),
                );
            }
            assert_eq!(select_protocol(&headers, &ours), *expected, "{offered:?}");
        }
    }

    #[test]
    fn tungstenite_keeps_a_small_buffer_and_the_limits() {
        let config = TransportConfig::default();
        let ws = websocket_config(&config);
        assert_eq!(ws.read_buffer_size, TUNGSTENITE_READ_BUFFER);
        assert_eq!(ws.write_buffer_size, config.write_buffer_size);
        assert_eq!(ws.max_message_size, Some(2 * config.max_message_size));
        assert_eq!(ws.max_frame_size, Some(2 * config.max_message_size));
    }
}
