//! Shared by the durable-queue tests: the real `chat` binary started with `--data-dir`, a
//! scratch directory, and STOMP over WebSocket helpers.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use stomp_e2e::{frame, WsClient};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// How long the chat binary may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `chat` binary next to this test's build (`cargo build -p chat` builds it; a
/// workspace `cargo test` does too).
pub fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/chat
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("chat{}", std::env::consts::EXE_SUFFIX)))
        .expect("target directory");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p chat` first",
        bin.display()
    );
    bin
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "stomp-durable-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `chat --data-dir DIR` process (killed on drop).
pub struct Chat {
    pub child: Child,
    pub port: u16,
    /// Lines the server printed before it listened (the durable report among them).
    pub startup: Vec<String>,
    pub stdout: BufReader<ChildStdout>,
}

/// A free port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn command(data_dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(chat_binary());
    cmd.arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

impl Chat {
    /// Starts chat on `data_dir` and waits (bounded) until it says it listens.
    pub async fn start(data_dir: &Path) -> Chat {
        match Chat::try_start(data_dir).await {
            Ok(chat) => chat,
            Err((startup, stderr)) => panic!("chat did not start: {startup:?}\nstderr: {stderr}"),
        }
    }

    /// Starts chat on `data_dir`: the running server, or what it printed (stdout lines,
    /// stderr) when it stopped or did not listen in time.
    pub async fn try_start(data_dir: &Path) -> Result<Chat, (Vec<String>, String)> {
        let port = free_port();
        let mut child = command(data_dir, port).spawn().expect("spawn chat");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut startup = Vec::new();
        let listening = tokio::time::timeout(START_TIMEOUT, async {
            loop {
                let mut line = String::new();
                match stdout.read_line(&mut line).await {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => {}
                }
                let listening = line.contains("open http://");
                startup.push(line.trim_end().to_owned());
                if listening {
                    return true;
                }
            }
        })
        .await;
        if listening != Ok(true) {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let stderr = read_all(child.stderr.take()).await;
            return Err((startup, stderr));
        }
        Ok(Chat {
            child,
            port,
            startup,
            stdout,
        })
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) {
        self.child.start_kill().expect("kill -9");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Runs chat on `data_dir` expecting it to fail at startup: its exit code and stderr.
pub async fn start_failing(data_dir: &Path) -> (Option<i32>, String) {
    let mut child = command(data_dir, free_port()).spawn().expect("spawn chat");
    let stderr = child.stderr.take();
    let status = tokio::time::timeout(START_TIMEOUT, child.wait())
        .await
        .expect("chat should stop by itself")
        .expect("wait");
    (status.code(), read_all(stderr).await)
}

async fn read_all(stderr: Option<ChildStderr>) -> String {
    let Some(stderr) = stderr else {
        return String::new();
    };
    let mut out = String::new();
    let mut lines = BufReader::new(stderr).lines();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(line)) = lines.next_line().await {
            out.push_str(&line);
            out.push('\n');
        }
    })
    .await;
    out
}

/// A STOMP 1.2 session over the chat's WebSocket, logged in as `login`.
pub async fn connect(url: &str, login: &str) -> WsClient {
    let mut client = WsClient::connect(url).await;
    client
        .send_text(
            &frame("CONNECT")
                .header("accept-version", "1.2")
                .header("host", "localhost")
                .header("login", login)
                .header("heart-beat", "0,0")
                .text(),
        )
        .await;
    client.expect_frame("CONNECTED").await;
    client
}

/// A persistent SEND with a receipt.
pub fn persistent_send(queue: &str, body: &str, receipt: &str) -> String {
    frame("SEND")
        .header("destination", queue)
        .header("persistent", "true")
        .header("content-type", "text/plain")
        .header("receipt", receipt)
        .body(body)
        .text()
}
