//! Running the third-party clients (`@stomp/stompjs` under Node, `stomp.py`, Chromium) from
//! tests: where their scripts live, whether they are installed, and a bounded run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// `tests/clients/{sub}`: the client scripts of one kind (`js`, `py`).
pub fn clients_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(sub)
}

/// True if everything `what` needs is there. If not: fails under CI (`CI` set), else skips
/// loudly.
pub fn available(what: &str, checks: &[(&str, bool)]) -> bool {
    let missing: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{what}: missing {}; run `bash scripts/setup-test-clients.sh`",
        missing.join(", ")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{msg} (CI is set, so this is a failure)"
    );
    eprintln!("\n!!!!!!!! SKIPPED {msg} !!!!!!!!\n");
    false
}

/// Whether `program args` runs and succeeds.
pub fn command_works(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` to completion within `limit`; panics with its output if it fails or hangs.
/// Returns its stdout and stderr.
pub async fn run(what: &str, mut cmd: Command, limit: Duration) -> String {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(result) => result.unwrap_or_else(|e| panic!("{what}: waiting failed: {e}")),
        Err(_) => panic!("{what}: did not finish within {limit:?} (killed)"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{what}:\n{stdout}{stderr}");
    format!("{stdout}{stderr}")
}
