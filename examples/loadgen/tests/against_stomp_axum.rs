//! The `loadgen` binary against an in-process stomp-axum server: every scenario finishes
//! by itself, counts every delivery, and reports what it promises.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

use axum::Router;
use stomp_axum::prelude::*;
use stomp_axum::AllowedOrigins;

#[message_mapping("/fanout/{topic}")]
#[send_to("/topic/{topic}")]
async fn fanout(body: bytes::Bytes) -> bytes::Bytes {
    body
}

/// Serves a stomp-axum endpoint at `/ws` on a loopback port in a background runtime.
fn spawn_server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let stomp = Stomp::builder()
                .app_destination_prefix("/app")
                .simple_broker(["/topic"])
                .allowed_origins(AllowedOrigins::Any)
                .handler(fanout)
                .build();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, Router::new().merge(stomp.router("/ws")))
                .await
                .unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    format!("ws://{addr}/ws")
}

fn loadgen(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "loadgen failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn scenarios_count_every_delivery() {
    let url = spawn_server();
    let pid = std::process::id().to_string();
    let cases: &[(&[&str], u64)] = &[
        (
            &["fanout", "--subscribers", "5", "--messages", "300"],
            5 * 300,
        ),
        (&["pairs", "--pairs", "3", "--messages", "200"], 3 * 200),
        (&["app", "--subscribers", "4", "--messages", "100"], 4 * 100),
        (
            &[
                "latency",
                "--subscribers",
                "2",
                "--rate",
                "500",
                "--duration",
                "0.2",
            ],
            0,
        ),
    ];
    for (args, expected) in cases {
        let mut all = args.to_vec();
        all.extend(["--url", &url, "--drain", "2", "--server-pid", &pid]);
        if !args.contains(&"--duration") {
            // Bounded by the message count; the duration is only a safety net.
            all.extend(["--duration", "5"]);
        }
        let r = loadgen(&all);
        assert_eq!(r["errors"], serde_json::json!([]), "{args:?}: {r}");
        assert_eq!(r["lost"], 0, "{args:?}: {r}");
        assert_eq!(r["out_of_order"], 0, "{args:?}: {r}");
        assert_eq!(r["delivered"], r["expected"], "{args:?}: {r}");
        if *expected > 0 {
            assert_eq!(r["delivered"], *expected, "{args:?}: {r}");
        } else {
            assert!(r["delivered"].as_u64().unwrap() > 0, "{r}");
        }
        assert!(r["latency"]["p50_us"].as_u64().unwrap() > 0, "{r}");
        assert!(r["server_cpu_us_per_delivery"].as_f64().is_some(), "{r}");
    }
    let r = loadgen(&[
        "conns",
        "--url",
        &url,
        "--connections",
        "50",
        "--hold",
        "0.2",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(r["connected"], 50, "{r}");
    assert_eq!(r["held"], 50, "{r}");
    assert!(r["server_bytes_per_session"].as_f64().is_some(), "{r}");
}
