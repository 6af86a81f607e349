//! TLS for the relay and the Redis backplane (feature `tls`), against a TLS-terminating proxy
//! started by each test (tokio-rustls, the test certificates of `tests/tls/`) in front of
//! RabbitMQ's STOMP port (127.0.0.1:61613, `scripts/services.sh`) and Redis (127.0.0.1:6379).
//!
//! The proxy counts completed TLS handshakes, so a test knows its traffic went over TLS;
//! wrong roots and wrong server names must fail with an error that says so.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use axum::Router;
use backplane_support::{next_body, send, subscribe, unique_prefix, Instance};
use stomp_axum::Stomp;
use stomp_core::backplane::redis::{RedisBackplane, RedisConfig};
use stomp_core::backplane::{Backplane, LinkState};
use stomp_core::client::{Client, ClientConfig, ClientError, TlsConfig};
use stomp_core::relay::{ConnectionMode, Relay, RelayConfig};
use stomp_e2e::relay::{unique, RABBIT, WAIT};
use stomp_e2e::{frame, spawn_server, WsClient};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

const REDIS: &str = "127.0.0.1:6379";
/// The test CA, and a server certificate it signed for 127.0.0.1 and localhost.
const CA: &[u8] = include_bytes!("../tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../tls/server.key");
/// Signed by the test CA, but for `elsewhere.invalid` only.
const WRONG_NAME_CERT: &[u8] = include_bytes!("../tls/wrong-name.pem");
const WRONG_NAME_KEY: &[u8] = include_bytes!("../tls/wrong-name.key");
/// A CA that signed none of them.
const OTHER_CA: &[u8] = include_bytes!("../tls/other-ca.pem");

/// A TLS-terminating proxy on a loopback port: TLS in front, plain TCP to `upstream`.
struct TlsProxy {
    addr: String,
    handshakes: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl TlsProxy {
    async fn start(cert_pem: &[u8], key_pem: &[u8], upstream: &'static str) -> TlsProxy {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn({
            let handshakes = handshakes.clone();
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    let handshakes = handshakes.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the handshake here.
                        let Ok(mut tls) = acceptor.accept(inbound).await else {
                            return;
                        };
                        handshakes.fetch_add(1, Ordering::SeqCst);
                        let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                    });
                }
            }
        });
        TlsProxy {
            addr,
            handshakes,
            accept,
        }
    }

    fn port(&self) -> &str {
        self.addr.rsplit_once(':').unwrap().1
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The platform roots of this test process are the test CA (`SSL_CERT_FILE`, read by
/// rustls-native-certs), so that the default-roots paths can be tested too. Every test calls
/// this first, before it starts anything that could read the environment.
fn platform_roots_are_the_test_ca() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        std::env::set_var(
            "SSL_CERT_FILE",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tls/ca.pem"),
        );
    });
}

fn rabbit_login() -> ClientConfig {
    ClientConfig::new()
        .login("guest", "guest")
        .host("/")
        .connect_timeout(Duration::from_secs(5))
}

async fn ws_client(server: &stomp_e2e::TestServer) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url("/ws")).await;
    client.stomp_connect().await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_delivers_end_to_end_over_tls() {
    platform_roots_are_the_test_ca();
    let proxy = TlsProxy::start(SERVER_CERT, SERVER_KEY, RABBIT).await;
    // Checked against the CA and the host of the address, 127.0.0.1.
    let relay = Relay::start(
        RelayConfig::new([proxy.addr.clone()])
            .virtual_host("/")
            .system_login("guest", "guest")
            .mode(ConnectionMode::Multiplexed { connections: 1 })
            .tls(TlsConfig::with_root_pem(CA).unwrap()),
    );
    relay
        .wait_available(WAIT)
        .await
        .unwrap_or_else(|_| panic!("relay over TLS not up: {:?}", relay.last_error()));
    let stomp = Stomp::builder().broker(relay.clone()).build();
    let server = spawn_server(Router::new().merge(stomp.router("/ws"))).await;

    let topic = format!("/topic/{}", unique("tls"));
    let mut reader = ws_client(&server).await;
    reader
        .send_text(
            &frame("SUBSCRIBE")
                .header("id", "s")
                .header("destination", &topic)
                .header("receipt", "subscribed")
                .text(),
        )
        .await;
    reader.expect_frame("RECEIPT").await;
    let mut writer = ws_client(&server).await;
    writer
        .send_text(
            &frame("SEND")
                .header("destination", &topic)
                .header("receipt", "sent")
                .body("over tls")
                .text(),
        )
        .await;
    writer.expect_frame("RECEIPT").await;
    let message = reader.expect_frame("MESSAGE").await;
    assert_eq!(message.header("destination"), Some(topic.as_str()));
    assert_eq!(message.body_text(), "over tls");
    // The system connection and the pooled one, both through the TLS proxy.
    assert!(proxy.handshakes() >= 2, "{} handshakes", proxy.handshakes());
    assert!(relay.last_error().is_none(), "{:?}", relay.last_error());
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_checks_the_certificate_and_the_server_name() {
    platform_roots_are_the_test_ca();
    let proxy = TlsProxy::start(SERVER_CERT, SERVER_KEY, RABBIT).await;

    // Trusted roots, a name the certificate carries (instead of the dialled 127.0.0.1).
    let tls = TlsConfig::with_root_pem(CA)
        .unwrap()
        .server_name("localhost")
        .unwrap();
    let client = Client::connect_tls(&proxy.addr, &tls, rabbit_login())
        .await
        .unwrap();
    client
        .send_with_receipt("/topic/tls-probe", "x")
        .await
        .unwrap();
    client.disconnect().await.unwrap();
    // The platform roots (here: SSL_CERT_FILE) by default.
    let platform = TlsConfig::native_roots().unwrap();
    let client = Client::connect_tls(&proxy.addr, &platform, rabbit_login())
        .await
        .unwrap();
    client.disconnect().await.unwrap();

    // An unrelated CA: refused, and the error says why.
    let wrong_ca = TlsConfig::with_root_pem(OTHER_CA).unwrap();
    let error = Client::connect_tls(&proxy.addr, &wrong_ca, rabbit_login())
        .await
        .unwrap_err();
    assert!(error.is_tls(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with("TLS handshake with 127.0.0.1 failed")
            && text.contains("invalid peer certificate")
            && text.contains("UnknownIssuer"),
        "{text}"
    );

    // The right CA, but a name the certificate does not carry.
    let wrong_name = TlsConfig::with_root_pem(CA)
        .unwrap()
        .server_name("rabbit.invalid")
        .unwrap();
    let error = Client::connect_tls(&proxy.addr, &wrong_name, rabbit_login())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Tls { server_name, reason }
            if server_name == "rabbit.invalid"
                && reason.contains("certificate not valid for name \"rabbit.invalid\"")),
        "{error}"
    );
    assert_eq!(proxy.handshakes(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_with_the_wrong_roots_stays_down_and_says_why() {
    platform_roots_are_the_test_ca();
    let proxy = TlsProxy::start(SERVER_CERT, SERVER_KEY, RABBIT).await;
    let relay = Relay::start(
        RelayConfig::new([proxy.addr.clone()])
            .system_login("guest", "guest")
            .backoff(Duration::from_millis(20), Duration::from_millis(100))
            .tls(TlsConfig::with_root_pem(OTHER_CA).unwrap()),
    );
    assert!(relay.wait_available(Duration::from_secs(1)).await.is_err());
    let error = relay.last_error().expect("the failure is recorded");
    assert!(
        error.is_tls() && error.to_string().contains("UnknownIssuer"),
        "{error}"
    );
    assert_eq!(proxy.handshakes(), 0);
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_backplane_links_two_instances_over_tls() {
    platform_roots_are_the_test_ca();
    let proxy = TlsProxy::start(SERVER_CERT, SERVER_KEY, REDIS).await;
    let prefix = unique_prefix("tls");
    let url = format!("rediss://127.0.0.1:{}", proxy.port());
    // One instance trusts the CA explicitly, the other through the platform roots: a plain
    // `rediss://` URL just works.
    let a = Instance::start_with(
        RedisConfig::new(&url)
            .prefix(&prefix)
            .tls_root_certificates(CA),
    )
    .await;
    let b = Instance::start_with(RedisConfig::new(&url).prefix(&prefix)).await;

    let mut on_b = b.client(None).await;
    subscribe(&mut on_b, "0", "/topic/secure").await;
    let mut on_a = a.client(None).await;
    subscribe(&mut on_a, "0", "/topic/secure").await;
    let mut publisher = a.client(None).await;
    send(&mut publisher, "/topic/secure", "across instances").await;
    assert_eq!(next_body(&mut on_b).await.0, "across instances");
    assert_eq!(next_body(&mut on_a).await.0, "across instances");
    // Each instance: a subscriber and a publishing connection, both over TLS.
    assert!(proxy.handshakes() >= 4, "{} handshakes", proxy.handshakes());
    assert_eq!(b.broker.stats().received, 1);
}

/// Starts a backplane that must fail to connect; returns why it says it failed.
async fn redis_failure(config: RedisConfig) -> String {
    let transport = RedisBackplane::start(
        config.backoff(Duration::from_millis(20), Duration::from_millis(100)),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let error = loop {
        if let Some(error) = transport.last_error() {
            break error;
        }
        assert!(tokio::time::Instant::now() < deadline, "no connect failure");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(*transport.link().borrow(), LinkState::Disconnected);
    assert!(transport.stats().connect_failures >= 1);
    transport.shutdown().await;
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_backplane_refuses_wrong_roots_and_wrong_names() {
    platform_roots_are_the_test_ca();
    let proxy = TlsProxy::start(SERVER_CERT, SERVER_KEY, REDIS).await;
    let url = format!("rediss://127.0.0.1:{}", proxy.port());
    let error = redis_failure(
        RedisConfig::new(&url)
            .prefix(unique_prefix("tls-ca"))
            .tls_root_certificates(OTHER_CA),
    )
    .await;
    assert!(error.contains("UnknownIssuer"), "{error}");

    let misnamed = TlsProxy::start(WRONG_NAME_CERT, WRONG_NAME_KEY, REDIS).await;
    let url = format!("rediss://127.0.0.1:{}", misnamed.port());
    let error = redis_failure(
        RedisConfig::new(&url)
            .prefix(unique_prefix("tls-name"))
            .tls_root_certificates(CA),
    )
    .await;
    assert!(
        error.contains("certificate not valid for name \"127.0.0.1\""),
        "{error}"
    );
    assert_eq!(proxy.handshakes() + misnamed.handshakes(), 0);

    // Certificates for a URL that is not rediss:// are a configuration mistake.
    let plain = RedisConfig::new(format!("redis://{REDIS}")).tls_root_certificates(CA);
    let refused = plain.validate().unwrap_err();
    assert!(refused.to_string().contains("not rediss://"), "{refused}");
}
