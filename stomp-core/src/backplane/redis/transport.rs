//! [`RedisBackplane`]: the [`Backplane`] transport over Redis pub/sub.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backoff::Backoff;
use crate::backplane::{Backplane, Channel, LinkState, PublishError};
use crate::sync::lock;
use ::redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

/// Settings of a [`RedisBackplane`].
///
/// With the `tls` feature, `rediss://` URLs connect over TLS (rustls, the platform's root
/// certificates); [`tls_root_certificates`](Self::tls_root_certificates) trusts a private CA
/// instead and [`tls_client_identity`](Self::tls_client_identity) adds a client certificate.
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    queue_capacity: usize,
    inbound_capacity: usize,
    min_backoff: Duration,
    max_backoff: Duration,
    connect_timeout: Duration,
    subscribe_timeout: Duration,
    #[cfg(feature = "tls")]
    tls_root_pem: Option<Vec<u8>>,
    #[cfg(feature = "tls")]
    tls_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: show the scheme and host only.
        let location = self
            .url
            .rsplit_once('@')
            .map_or(self.url.as_str(), |(_, host)| host);
        let mut debug = f.debug_struct("RedisConfig");
        debug
            .field("location", &location)
            .field("prefix", &self.prefix)
            .field("queue_capacity", &self.queue_capacity)
            .field("inbound_capacity", &self.inbound_capacity)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("connect_timeout", &self.connect_timeout)
            .field("subscribe_timeout", &self.subscribe_timeout);
        #[cfg(feature = "tls")]
        debug
            .field("tls_root_certificates", &self.tls_root_pem.is_some())
            .field("tls_client_identity", &self.tls_identity.is_some());
        debug.finish()
    }
}

impl RedisConfig {
    /// Redis at `url` (`redis://host:port/db`), channel prefix `stomp`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "stomp".into(),
            queue_capacity: 8192,
            inbound_capacity: 8192,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            subscribe_timeout: Duration::from_secs(3),
            #[cfg(feature = "tls")]
            tls_root_pem: None,
            #[cfg(feature = "tls")]
            tls_identity: None,
        }
    }

    /// Checks the URL and the TLS settings (what [`RedisBackplane::start`] would refuse).
    pub fn validate(&self) -> Result<(), ::redis::RedisError> {
        self.open_client().map(|_| ())
    }

    /// Trusts only the certificates in `pem` (PEM `CERTIFICATE` blocks, e.g. a private CA)
    /// for the `rediss://` URL, instead of the platform's roots (feature `tls`). The
    /// server's certificate must still carry the URL's host name.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_pem = Some(pem.into());
        self
    }

    /// A client certificate chain and its private key (both PEM) for servers that require
    /// mutual TLS (feature `tls`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_client_identity(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls_identity = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }

    /// The redis client for the URL (and the TLS settings).
    fn open_client(&self) -> Result<::redis::Client, ::redis::RedisError> {
        #[cfg(feature = "tls")]
        {
            // redis builds its rustls configuration with the process' default provider:
            // make it `ring` unless the application chose one.
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
            if self.tls_root_pem.is_some() || self.tls_identity.is_some() {
                if !self.url.starts_with("rediss://") {
                    return Err(::redis::RedisError::from((
                        ::redis::ErrorKind::InvalidClientConfig,
                        "TLS certificates are set but the URL is not rediss://",
                    )));
                }
                let client_tls = self.tls_identity.clone().map(|(client_cert, client_key)| {
                    ::redis::ClientTlsConfig {
                        client_cert,
                        client_key,
                    }
                });
                return ::redis::Client::build_with_tls(
                    self.url.as_str(),
                    ::redis::TlsCertificates {
                        client_tls,
                        root_cert: self.tls_root_pem.clone(),
                    },
                );
            }
        }
        ::redis::Client::open(self.url.as_str())
    }

    /// The channel prefix: instances with the same prefix form one cluster (default
    /// `stomp`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Payloads waiting to be published, at most (default 8192); past it they are dropped
    /// and counted.
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Received payloads waiting for the broker, at most (default 8192); past it they are
    /// dropped and counted.
    #[must_use]
    pub fn inbound_capacity(mut self, capacity: usize) -> Self {
        self.inbound_capacity = capacity.max(1);
        self
    }

    /// Reconnect backoff: exponential from `min` with random jitter (so that instances cut
    /// off together do not reconnect together), never longer than `max` (default
    /// 100 ms..5 s).
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }
}

/// Counters of a [`RedisBackplane`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Payloads published to Redis.
    pub published: u64,
    /// Payloads refused because the outgoing queue was full.
    pub queue_full: u64,
    /// Payloads refused because the link was down.
    pub disconnected: u64,
    /// Received payloads dropped because the broker's inbound queue was full.
    pub inbound_dropped: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
    /// Failed connection attempts (see [`RedisBackplane::last_error`] for why).
    pub connect_failures: u64,
    /// The link state now.
    pub link: LinkState,
}

#[derive(Debug, Default)]
struct Desired {
    /// Redis channel or pattern → is a pattern.
    channels: HashMap<String, bool>,
    generation: u64,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    queue_full: AtomicU64,
    disconnected: AtomicU64,
    inbound_dropped: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
}

struct Inner {
    config: RedisConfig,
    client: ::redis::Client,
    outgoing: mpsc::Sender<(String, Bytes)>,
    desired: Mutex<Desired>,
    changed: Notify,
    applied: watch::Sender<u64>,
    link: watch::Sender<LinkState>,
    inbound: mpsc::Sender<Bytes>,
    inbound_rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
    counters: Counters,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Why the last connection attempt or connection failed.
    last_error: Mutex<Option<String>>,
}

/// The Redis pub/sub transport (see the [crate docs](crate)). Cheap to clone.
#[derive(Clone)]
pub struct RedisBackplane {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("prefix", &self.inner.config.prefix)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Escapes Redis glob metacharacters.
fn glob_literal(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A destination pattern as a Redis glob: literal parts escaped, every run of `*` widened
/// to `*` (which also crosses separators: the local broker matches exactly).
fn pattern_glob(prefix: &str, pattern: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + pattern.len() + 4);
    glob_literal(prefix, &mut out);
    out.push_str(":t:");
    let mut parts = pattern.split('*').peekable();
    while let Some(part) = parts.next() {
        glob_literal(part, &mut out);
        if parts.peek().is_some() && !out.ends_with('*') {
            out.push('*');
        }
    }
    out
}

impl RedisBackplane {
    /// Starts the transport: checks the URL, spawns the connection task (which connects,
    /// and reconnects with backoff) and returns at once. Must run inside a Tokio runtime.
    pub fn start(config: RedisConfig) -> Result<Self, ::redis::RedisError> {
        let client = config.open_client()?;
        let (outgoing, outgoing_rx) = mpsc::channel(config.queue_capacity);
        let (inbound, inbound_rx) = mpsc::channel(config.inbound_capacity);
        let inner = Arc::new(Inner {
            client,
            outgoing,
            desired: Mutex::default(),
            changed: Notify::new(),
            applied: watch::Sender::new(0),
            link: watch::Sender::new(LinkState::Disconnected),
            inbound,
            inbound_rx: Mutex::new(Some(inbound_rx)),
            counters: Counters::default(),
            stop: watch::Sender::new(false),
            task: Mutex::new(None),
            last_error: Mutex::new(None),
            config,
        });
        let task = tokio::spawn(supervise(inner.clone(), outgoing_rx));
        *lock(&inner.task) = Some(task);
        Ok(RedisBackplane { inner })
    }

    /// The counters.
    pub fn stats(&self) -> RedisStats {
        let c = &self.inner.counters;
        RedisStats {
            published: c.published.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
            disconnected: c.disconnected.load(Ordering::Relaxed),
            inbound_dropped: c.inbound_dropped.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            link: *self.inner.link.borrow(),
        }
    }

    /// Why the last connection attempt failed or the last connection ended (`None` before
    /// any failure), e.g. `invalid peer certificate: UnknownIssuer` for a `rediss://` server
    /// whose certificate is not trusted.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.inner.last_error).clone()
    }

    /// The Redis channel (or pattern, `true`) for `channel`.
    pub fn channel_name(&self, channel: &Channel) -> (String, bool) {
        let prefix = &self.inner.config.prefix;
        match channel {
            Channel::Topic(d) => (format!("{prefix}:t:{d}"), false),
            Channel::TopicPattern(p) => (pattern_glob(prefix, p), true),
            Channel::User(u) => (format!("{prefix}:u:{u}"), false),
            Channel::Presence => (format!("{prefix}:presence"), false),
        }
    }

    fn change(&self, edit: impl FnOnce(&mut HashMap<String, bool>)) -> u64 {
        let generation = {
            let mut desired = lock(&self.inner.desired);
            edit(&mut desired.channels);
            desired.generation += 1;
            desired.generation
        };
        self.inner.changed.notify_one();
        generation
    }
}

impl Backplane for RedisBackplane {
    fn publish(&self, channel: &Channel, payload: Bytes) -> Result<(), PublishError> {
        if *self.inner.link.borrow() != LinkState::Connected {
            self.inner
                .counters
                .disconnected
                .fetch_add(1, Ordering::Relaxed);
            return Err(PublishError::Disconnected);
        }
        let (name, _) = self.channel_name(channel);
        match self.inner.outgoing.try_send((name, payload)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner
                    .counters
                    .queue_full
                    .fetch_add(1, Ordering::Relaxed);
                Err(PublishError::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PublishError::Closed),
        }
    }

    fn subscribe(&self, channel: Channel) -> BoxFuture<'_, ()> {
        let (name, pattern) = self.channel_name(&channel);
        let generation = self.change(|c| {
            c.insert(name, pattern);
        });
        let mut applied = self.inner.applied.subscribe();
        let mut link = self.inner.link.subscribe();
        let limit = self.inner.config.subscribe_timeout;
        Box::pin(async move {
            if *link.borrow_and_update() != LinkState::Connected {
                return;
            }
            let wait = async {
                tokio::select! {
                    _ = async { let _ = applied.wait_for(|g| *g >= generation).await; } => {}
                    _ = async { let _ = link.wait_for(|l| *l != LinkState::Connected).await; } => {}
                }
            };
            if tokio::time::timeout(limit, wait).await.is_err() {
                tracing::warn!("redis subscription not confirmed in time");
            }
        })
    }

    fn unsubscribe(&self, channel: Channel) {
        let (name, _) = self.channel_name(&channel);
        self.change(|c| {
            c.remove(&name);
        });
    }

    fn link(&self) -> watch::Receiver<LinkState> {
        self.inner.link.subscribe()
    }

    fn take_inbound(&self) -> Option<mpsc::Receiver<Bytes>> {
        lock(&self.inner.inbound_rx).take()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.stop.send_replace(true);
            let task = lock(&self.inner.task).take();
            if let Some(task) = task {
                if tokio::time::timeout(Duration::from_secs(2), task)
                    .await
                    .is_err()
                {
                    tracing::warn!("redis backplane did not stop in time");
                }
            }
            self.inner.link.send_replace(LinkState::Disconnected);
        })
    }

    #[cfg(feature = "metrics")]
    fn record_metrics(&self) {
        let stats = self.stats();
        metrics::counter!("stomp_backplane_reconnects_total").absolute(stats.reconnects);
        metrics::counter!("stomp_backplane_connect_failures_total")
            .absolute(stats.connect_failures);
        for (reason, value) in [
            ("queue_full", stats.queue_full),
            ("disconnected", stats.disconnected),
            ("inbound_queue_full", stats.inbound_dropped),
        ] {
            metrics::counter!("stomp_backplane_dropped_total", "reason" => reason).absolute(value);
        }
    }
}

async fn connect(
    inner: &Inner,
) -> ::redis::RedisResult<(PubSubSink, PubSubStream, MultiplexedConnection)> {
    let connect = async {
        let pubsub = inner.client.get_async_pubsub().await?;
        let conn = inner.client.get_multiplexed_async_connection().await?;
        let (sink, stream) = pubsub.split();
        Ok((sink, stream, conn))
    };
    match tokio::time::timeout(inner.config.connect_timeout, connect).await {
        Ok(result) => result,
        Err(_) => Err(::redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        ))),
    }
}

/// Brings the Redis subscriptions in line with the desired set.
async fn sync(
    inner: &Inner,
    sink: &mut PubSubSink,
    applied: &mut HashSet<(String, bool)>,
) -> ::redis::RedisResult<()> {
    let (wanted, generation): (HashSet<(String, bool)>, u64) = {
        let desired = lock(&inner.desired);
        (
            desired
                .channels
                .iter()
                .map(|(n, p)| (n.clone(), *p))
                .collect(),
            desired.generation,
        )
    };
    let add: Vec<_> = wanted.difference(applied).cloned().collect();
    let remove: Vec<_> = applied.difference(&wanted).cloned().collect();
    for (name, pattern) in add {
        if pattern {
            sink.psubscribe(&name).await?;
        } else {
            sink.subscribe(&name).await?;
        }
        applied.insert((name, pattern));
    }
    for (name, pattern) in remove {
        if pattern {
            sink.punsubscribe(&name).await?;
        } else {
            sink.unsubscribe(&name).await?;
        }
        applied.remove(&(name, pattern));
    }
    inner.applied.send_replace(generation);
    Ok(())
}

const BATCH: usize = 256;

async fn publish_batch(
    conn: &mut MultiplexedConnection,
    first: (String, Bytes),
    outgoing: &mut mpsc::Receiver<(String, Bytes)>,
) -> ::redis::RedisResult<usize> {
    let mut pipe = ::redis::pipe();
    pipe.cmd("PUBLISH").arg(&first.0).arg(&first.1[..]).ignore();
    let mut n = 1;
    while n < BATCH {
        let Ok((name, payload)) = outgoing.try_recv() else {
            break;
        };
        pipe.cmd("PUBLISH").arg(&name).arg(&payload[..]).ignore();
        n += 1;
    }
    pipe.query_async::<()>(conn).await?;
    Ok(n)
}

/// One connected period; returns why it ended (`None`: asked to stop).
async fn linked(
    inner: &Inner,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    mut conn: MultiplexedConnection,
    outgoing: &mut mpsc::Receiver<(String, Bytes)>,
    stop: &mut watch::Receiver<bool>,
) -> Option<String> {
    let mut applied = HashSet::new();
    if let Err(e) = sync(inner, &mut sink, &mut applied).await {
        return Some(e.to_string());
    }
    inner.link.send_replace(LinkState::Connected);
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => {
                    let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                    if inner.inbound.try_send(payload).is_err() {
                        inner.counters.inbound_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => return Some("subscriber connection closed".into()),
            },
            _ = inner.changed.notified() => {
                if let Err(e) = sync(inner, &mut sink, &mut applied).await {
                    return Some(e.to_string());
                }
            }
            first = outgoing.recv() => {
                let first = first?;
                match publish_batch(&mut conn, first, outgoing).await {
                    Ok(n) => {
                        inner.counters.published.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => return Some(e.to_string()),
                }
            }
            _ = stop.changed() => {
                // Flush what is queued (the `bye`), bounded in time.
                if let Ok(first) = outgoing.try_recv() {
                    let flush = publish_batch(&mut conn, first, outgoing);
                    let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
                }
                return None;
            }
        }
    }
}

async fn supervise(inner: Arc<Inner>, mut outgoing: mpsc::Receiver<(String, Bytes)>) {
    let mut stop = inner.stop.subscribe();
    let new_backoff = || Backoff::new(inner.config.min_backoff, inner.config.max_backoff);
    let mut backoff = new_backoff();
    let mut failures_in_a_row = 0u32;
    let mut connected_before = false;
    loop {
        let stopped = *stop.borrow();
        if stopped {
            break;
        }
        let attempt = tokio::select! {
            attempt = connect(&inner) => attempt,
            _ = stop.changed() => break,
        };
        match attempt {
            Ok((sink, stream, conn)) => {
                backoff = new_backoff();
                failures_in_a_row = 0;
                if connected_before {
                    inner.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                connected_before = true;
                tracing::info!(prefix = %inner.config.prefix, "redis backplane connected");
                let reason = linked(&inner, sink, stream, conn, &mut outgoing, &mut stop).await;
                inner.link.send_replace(LinkState::Disconnected);
                let Some(reason) = reason else { break };
                tracing::warn!(%reason, "redis backplane disconnected; reconnecting");
                *lock(&inner.last_error) = Some(reason);
                // Payloads queued for the dead connection are dropped: no replay.
                while outgoing.try_recv().is_ok() {
                    inner.counters.disconnected.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                inner
                    .counters
                    .connect_failures
                    .fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                failures_in_a_row += 1;
                // Say it once at `warn` (a TLS or auth mistake shows), then quietly.
                if failures_in_a_row == 1 {
                    tracing::warn!(error = %e, retry_in = ?delay, "redis backplane connect failed");
                } else {
                    tracing::debug!(error = %e, retry_in = ?delay, "redis backplane connect failed");
                }
                *lock(&inner.last_error) = Some(e.to_string());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    inner.link.send_replace(LinkState::Disconnected);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_escaped_globs() {
        let cases = [
            ("p", "/topic/chat.*", "p:t:/topic/chat.*"),
            ("p", "/topic/**", "p:t:/topic/*"),
            ("p", "/topic/*/x", "p:t:/topic/*/x"),
            ("a[1]", "/topic/what?/*", "a\\[1\\]:t:/topic/what\\?/*"),
        ];
        for (prefix, pattern, glob) in cases {
            assert_eq!(pattern_glob(prefix, pattern), glob, "{pattern}");
        }
    }
}
