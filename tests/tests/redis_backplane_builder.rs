//! `StompBuilder::redis_backplane`: the Redis backplane in one call. Two endpoints on the
//! real Redis (127.0.0.1:6379; `scripts/services.sh`) share a topic and a user destination;
//! a configuration Redis cannot take is a build error.
#![allow(clippy::unwrap_used, missing_docs)]

mod backplane_support;

use axum::Router;
use backplane_support::{next_body, send, subscribe, unique_prefix};
use stomp_axum::core::backplane::redis::RedisConfig;
use stomp_axum::core::interceptor::InsecureLoginAuthenticator;
use stomp_axum::{BuildError, Stomp};
use stomp_e2e::{frame, spawn_server, TestServer, WsClient, TIMEOUT};

fn endpoint(prefix: &str) -> Stomp {
    Stomp::builder()
        .redis_backplane(RedisConfig::new("redis://127.0.0.1:6379").prefix(prefix))
        .authenticator(InsecureLoginAuthenticator)
        .build()
}

async fn login(server: &TestServer, name: &str) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url("/ws")).await;
    client
        .send_text(
            &frame("CONNECT")
                .header("accept-version", "1.2")
                .header("login", name)
                .header("heart-beat", "0,0")
                .text(),
        )
        .await;
    client.expect_frame("CONNECTED").await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_links_two_endpoints_over_redis() {
    let prefix = unique_prefix("builder");
    let one = endpoint(&prefix);
    let two = endpoint(&prefix);
    let server_one = spawn_server(Router::new().merge(one.router("/ws"))).await;
    let server_two = spawn_server(Router::new().merge(two.router("/ws"))).await;
    let mut ann = login(&server_one, "ann").await;
    let mut bob = login(&server_two, "bob").await;

    // A topic crosses; the link comes up in the background, so send until it does.
    subscribe(&mut ann, "news", "/topic/news").await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        send(&mut bob, "/topic/news", "hello").await;
        match tokio::time::timeout(std::time::Duration::from_millis(200), next_body(&mut ann)).await
        {
            Ok((body, _)) => {
                assert_eq!(body, "hello");
                break;
            }
            Err(_) => assert!(tokio::time::Instant::now() < deadline, "never crossed"),
        }
    }

    // The engine uses the backplane's user destinations: a user destination sent on
    // endpoint two reaches ann's session on endpoint one.
    subscribe(&mut ann, "mine", "/user/queue/reply").await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        two.template()
            .send_to_user("ann", "/queue/reply", "only ann")
            .await
            .unwrap();
        // A late copy of an earlier "hello" may come first: skip the topic.
        let reply = async {
            loop {
                let (body, destination) = next_body(&mut ann).await;
                if destination != "/topic/news" {
                    return (body, destination);
                }
            }
        };
        match tokio::time::timeout(std::time::Duration::from_millis(200), reply).await {
            Ok((body, destination)) => {
                assert_eq!(
                    (body.as_str(), destination.as_str()),
                    ("only ann", "/user/queue/reply")
                );
                break;
            }
            Err(_) => assert!(tokio::time::Instant::now() < deadline, "never reached ann"),
        }
    }
}

#[tokio::test]
async fn a_url_redis_cannot_take_is_a_build_error() {
    let result = Stomp::builder()
        .redis_backplane(RedisConfig::new("not a redis url"))
        .try_build();
    assert!(
        matches!(result, Err(BuildError::Backplane(_))),
        "{:?}",
        result.err()
    );
}
