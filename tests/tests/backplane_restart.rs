//! The machine's real Redis (127.0.0.1:6379) really restarted under two instances
//! (`redis-cli shutdown nosave`, then `redis-server` again; a guard restarts it however the
//! test ends). It is the only test in this binary, and cargo runs test binaries one after
//! another, so no other test sees Redis go away; the proxy-based outage test in
//! `backplane.rs` covers the same path without touching Redis.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use std::process::Command;
use std::time::Duration;

use backplane_support::{next_body, send, subscribe, unique_prefix, Instance, REDIS};
use stomp_axum::core::backplane::LinkState;

fn redis_up() -> bool {
    Command::new("redis-cli")
        .arg("ping")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

fn start_redis() {
    let _ = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ])
        .status();
    for _ in 0..100 {
        if redis_up() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts Redis again however the test ends.
struct RestoreRedis;

impl Drop for RestoreRedis {
    fn drop(&mut self) {
        if !redis_up() {
            start_redis();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_redis_restarts() {
    assert!(redis_up(), "Redis must be running on {REDIS}");
    let _restore = RestoreRedis;
    let prefix = unique_prefix("restart");
    let a = Instance::start(REDIS, &prefix).await;
    let b = Instance::start(REDIS, &prefix).await;
    let mut sub_b = b.client(None).await;
    subscribe(&mut sub_b, "0", "/topic/r").await;
    let mut pub_a = a.client(None).await;
    let mut pub_b = b.client(None).await;
    send(&mut pub_a, "/topic/r", "before").await;
    assert_eq!(next_body(&mut sub_b).await.0, "before");

    let _ = Command::new("redis-cli")
        .args(["shutdown", "nosave"])
        .status();
    a.wait_link(LinkState::Disconnected).await;
    b.wait_link(LinkState::Disconnected).await;
    send(&mut pub_b, "/topic/r", "local").await;
    assert_eq!(next_body(&mut sub_b).await.0, "local");

    tokio::task::spawn_blocking(start_redis).await.unwrap();
    a.wait_link(LinkState::Connected).await;
    b.wait_link(LinkState::Connected).await;
    send(&mut pub_a, "/topic/r", "after").await;
    assert_eq!(next_body(&mut sub_b).await.0, "after");
    assert!(a.broker.stats().not_forwarded <= 1);
}
