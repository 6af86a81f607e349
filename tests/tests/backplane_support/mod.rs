//! Support for the backplane tests: app instances on the real Redis (127.0.0.1:6379), a TCP
//! proxy in front of Redis that a test can cut and restore, unique channel prefixes.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use stomp_axum::core::backplane::{BackplaneBroker, BackplaneConfig, LinkState};
use stomp_axum::core::broker::SimpleBroker;
use stomp_axum::core::interceptor::InsecureLoginAuthenticator;
use stomp_axum::core::user::UserDestinations;
use stomp_axum::Stomp;
use stomp_core::backplane::redis::{RedisBackplane, RedisConfig};
use stomp_e2e::{frame, spawn_server, TestServer, WsClient, TIMEOUT};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const REDIS: &str = "127.0.0.1:6379";

/// A channel prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "bp-test-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Presence timing short enough for tests.
pub fn fast_presence() -> BackplaneConfig {
    BackplaneConfig::new()
        .heartbeat_interval(Duration::from_millis(100))
        .instance_ttl(Duration::from_millis(600))
}

/// One app instance: a stomp-axum server with a Redis backplane.
pub struct Instance {
    pub stomp: Stomp,
    pub server: TestServer,
    pub broker: BackplaneBroker,
    pub transport: RedisBackplane,
}

impl Instance {
    /// An instance whose backplane talks to Redis at `redis` (`host:port`).
    pub async fn start(redis: &str, prefix: &str) -> Instance {
        Instance::start_with(RedisConfig::new(format!("redis://{redis}")).prefix(prefix)).await
    }

    /// An instance whose backplane uses `config` (with test backoff).
    pub async fn start_with(config: RedisConfig) -> Instance {
        let transport = RedisBackplane::start(
            config.backoff(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .unwrap();
        let broker = BackplaneBroker::new(
            SimpleBroker::default(),
            UserDestinations::default(),
            transport.clone(),
            fast_presence(),
        );
        let stomp = Stomp::builder()
            .app_destination_prefix("/app")
            .backplane(broker.clone())
            .authenticator(InsecureLoginAuthenticator)
            .build();
        let server = spawn_server(Router::new().layer(stomp.layer("/ws"))).await;
        let instance = Instance {
            stomp,
            server,
            broker,
            transport,
        };
        instance.wait_link(LinkState::Connected).await;
        instance
    }

    pub async fn wait_link(&self, state: LinkState) {
        let mut link = self.broker.link();
        tokio::time::timeout(TIMEOUT, link.wait_for(|l| *l == state))
            .await
            .unwrap_or_else(|_| panic!("link never became {state:?}"))
            .unwrap();
    }

    /// A connected client (`login` becomes the principal when given: the instances use
    /// `InsecureLoginAuthenticator`).
    pub async fn client(&self, login: Option<&str>) -> WsClient {
        let mut c = WsClient::connect(&self.server.ws_url("/ws")).await;
        let mut connect = frame("CONNECT")
            .header("accept-version", "1.2")
            .header("host", "localhost")
            .header("heart-beat", "0,0");
        if let Some(login) = login {
            connect = connect.header("login", login);
        }
        c.send_text(&connect.text()).await;
        c.expect_frame("CONNECTED").await;
        c
    }

    /// Waits until this instance's cluster view lists exactly `users`.
    pub async fn wait_users(&self, users: &[&str]) {
        let cluster = self.broker.cluster();
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let names = cluster.user_names();
            if names.iter().map(|n| &**n).eq(users.iter().copied()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cluster view {names:?}, expected {users:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn subscribe(c: &mut WsClient, id: &str, destination: &str) {
    c.send_text(
        &frame("SUBSCRIBE")
            .header("id", id)
            .header("destination", destination)
            .header("receipt", &format!("sub-{id}"))
            .text(),
    )
    .await;
    c.expect_frame("RECEIPT").await;
}

/// SEND with a receipt (so the send has reached the broker when this returns).
pub async fn send(c: &mut WsClient, destination: &str, body: &str) {
    c.send_text(
        &frame("SEND")
            .header("destination", destination)
            .header("receipt", "r")
            .body(body)
            .text(),
    )
    .await;
    c.expect_frame("RECEIPT").await;
}

/// The next MESSAGE's body (and its destination header).
pub async fn next_body(c: &mut WsClient) -> (String, String) {
    let m = c.expect_frame("MESSAGE").await;
    (
        m.body_text(),
        m.header("destination").unwrap_or_default().to_owned(),
    )
}

/// A TCP proxy to Redis that can be cut (every connection closed, new ones refused) and
/// restored.
pub struct Proxy {
    pub addr: String,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let cut = cut.clone();
            let conns = conns.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(REDIS).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    });
                    conns.lock().unwrap().push(task);
                }
            })
        };
        Proxy {
            addr,
            cut,
            conns,
            accept,
        }
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
