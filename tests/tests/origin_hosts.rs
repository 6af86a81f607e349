//! The origin check against DNS rebinding, over real sockets: a page on the attacker's
//! name re-pointed at this server sends `Origin` and `Host` both with that name, which
//! match; it must be refused (HTTP 403) unless the name is one the server answers to.
//! Same-origin pages on local names and addresses, and on names the application lists,
//! still connect and speak STOMP.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;

use axum::Router;
use stomp_axum::prelude::*;
use stomp_e2e::{frame, spawn_server, ClientOptions, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn app(stomp: &Stomp) -> Router {
    Router::new().merge(stomp.router("/ws"))
}

/// The HTTP status of a WebSocket upgrade of `/ws` sent with these `Host` and `Origin`
/// headers (raw HTTP/1.1, so both are exactly what a browser would send).
async fn upgrade_status(addr: SocketAddr, host: &str, origin: Option<&str>) -> u16 {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!(
            "GET /ws HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\
             sec-websocket-protocol: v12.stomp\r\n"
        );
        if let Some(origin) = origin {
            request.push_str(&format!("origin: {origin}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        // Read the status line and headers only: a 101 keeps the connection open.
        let mut response = Vec::new();
        let mut buf = [0u8; 1024];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the response headers");
            response.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&response).into_owned()
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("HTTP exchange timed out");
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("HTTP status line")
}

#[tokio::test]
async fn a_dns_rebinding_page_is_refused_by_default() {
    let stomp = Stomp::builder().build();
    let server = spawn_server(app(&stomp)).await;
    let port = server.addr.port();
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");
    // Origin and Host agree, both the attacker's name: what a rebinding page sends.
    assert_eq!(
        upgrade_status(server.addr, &evil, Some(&evil_origin)).await,
        403
    );
    // Other spellings of a foreign name do not pass either.
    for host in ["localhost.evil.example", "127.0.0.1.evil.example"] {
        let origin = format!("http://{host}:{port}");
        assert_eq!(
            upgrade_status(server.addr, &format!("{host}:{port}"), Some(&origin)).await,
            403,
            "{host}"
        );
    }
    // Real same-origin pages on local names and addresses connect.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("app.localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let origin = format!("http://{host}");
        assert_eq!(
            upgrade_status(server.addr, &host, Some(&origin)).await,
            101,
            "{host}"
        );
    }
    // Non-browser clients (no Origin) are not subject to the check.
    assert_eq!(upgrade_status(server.addr, &evil, None).await, 101);
}

#[tokio::test]
async fn listed_host_names_are_the_servers_own() {
    let stomp = Stomp::builder()
        .allow_hosts(["chat.example.com", "*.apps.example.com"])
        .build();
    let server = spawn_server(app(&stomp)).await;
    for (host, status) in [
        ("chat.example.com", 101),
        ("CHAT.example.com:443", 101),
        ("eu.apps.example.com", 101),
        ("apps.example.com", 403),
        ("evil.example", 403),
    ] {
        let origin = match host.strip_suffix(":443") {
            Some(name) => format!("https://{name}"),
            None => format!("http://{host}"),
        };
        assert_eq!(
            upgrade_status(server.addr, host, Some(&origin)).await,
            status,
            "{host}"
        );
    }
    // An explicitly allowed origin does not depend on the Host name.
    let stomp = Stomp::builder()
        .allow_origins(["http://evil.example"])
        .build();
    let server = spawn_server(app(&stomp)).await;
    assert_eq!(
        upgrade_status(server.addr, "evil.example", Some("http://evil.example")).await,
        101
    );
    // And AllowedHosts::Any restores the old header-only rule.
    let stomp = Stomp::builder().allowed_hosts(AllowedHosts::Any).build();
    let server = spawn_server(app(&stomp)).await;
    assert_eq!(
        upgrade_status(server.addr, "evil.example", Some("http://evil.example")).await,
        101
    );
}

#[tokio::test]
async fn a_same_origin_page_speaks_stomp() {
    let stomp = Stomp::builder().simple_broker(["/topic"]).build();
    let server = spawn_server(app(&stomp)).await;
    let mut client = ClientOptions::new()
        .protocols(["v12.stomp"])
        .origin(&format!("http://127.0.0.1:{}", server.addr.port()))
        .connect(&server.ws_url("/ws"))
        .await
        .unwrap();
    client.stomp_connect().await;
    client
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "0")
                .header("destination", "/topic/t")
                .header("receipt", "r")
                .text(),
        )
        .await;
    client.expect_frame("RECEIPT").await;
    client
        .send_text(
            &frame("SEND")
                .header("destination", "/topic/t")
                .body("hi")
                .text(),
        )
        .await;
    assert_eq!(client.expect_frame("MESSAGE").await.body_text(), "hi");
    assert_eq!(stomp.stats().transport.handshakes_refused, 0);
}
