//! The soak's samples of the server: resident set and CPU time from `/proc`, and a few
//! gauges from its Prometheus `/metrics` page (the chat example serves one), written to a
//! CSV as they are taken.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::probe;

/// The gauges read from `/metrics` (summed over their labels), one CSV column each.
pub(crate) const METRICS: [&str; 8] = [
    "stomp_sessions",
    "stomp_subscriptions",
    "stomp_broker_queued_messages",
    "stomp_broker_pending_acks",
    "stomp_outbound_queued_frames",
    "stomp_outbound_queued_bytes",
    "stomp_memory_budget_used_bytes",
    "stomp_memory_budget_sessions_bytes",
];

/// Largest `/metrics` answer read.
const MAX_METRICS_BYTES: usize = 4 << 20;
/// Longest wait for `/metrics` (a busy server is sampled late, not never).
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

/// One sample of the server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    /// Seconds since the soak started.
    pub(crate) t_s: f64,
    pub(crate) rss_kib: Option<u64>,
    pub(crate) cpu_s: Option<f64>,
    /// [`METRICS`], in order (`None`: not on the page or the page not answered).
    pub(crate) metrics: Vec<Option<f64>>,
    /// Well-behaved SEND frames so far.
    pub(crate) chat_sent: u64,
    /// Well-behaved messages received so far.
    pub(crate) chat_received: u64,
    /// Attack rounds finished so far (all attacks).
    pub(crate) attack_rounds: u64,
}

/// Takes a sample: `/proc/PID` if a PID is known, `/metrics` if an address is.
pub(crate) async fn take(pid: Option<u32>, metrics_addr: Option<&str>) -> Sample {
    let page = match metrics_addr {
        Some(addr) => fetch_metrics(addr).await,
        None => None,
    };
    Sample {
        t_s: 0.0,
        rss_kib: pid.and_then(probe::rss_bytes).map(|b| b / 1024),
        cpu_s: pid.and_then(probe::cpu_seconds),
        metrics: METRICS
            .iter()
            .map(|name| page.as_deref().and_then(|p| metric_value(p, name)))
            .collect(),
        chat_sent: 0,
        chat_received: 0,
        attack_rounds: 0,
    }
}

/// The CSV header line.
pub(crate) fn csv_header() -> String {
    let mut line = String::from("elapsed_s,rss_kib,server_cpu_s");
    for name in METRICS {
        line.push(',');
        line.push_str(name);
    }
    line.push_str(",chat_sent,chat_received,attack_rounds");
    line
}

/// A sample as a CSV line (empty fields for what is unknown).
pub(crate) fn csv_line(s: &Sample) -> String {
    fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_default()
    }
    let mut line = format!(
        "{:.0},{},{}",
        s.t_s,
        opt(s.rss_kib),
        opt(s.cpu_s.map(|c| format!("{c:.2}")))
    );
    for m in &s.metrics {
        line.push(',');
        line.push_str(&opt(*m));
    }
    line.push_str(&format!(
        ",{},{},{}",
        s.chat_sent, s.chat_received, s.attack_rounds
    ));
    line
}

/// Appends lines to the CSV file, if any; a write failure is reported once and then the
/// file is given up.
pub(crate) struct Csv {
    file: Option<std::fs::File>,
}

impl Csv {
    pub(crate) fn create(path: Option<&std::path::Path>) -> Result<Csv, String> {
        let file = match path {
            Some(path) => Some(
                std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let mut csv = Csv { file };
        csv.line(&csv_header());
        Ok(csv)
    }

    pub(crate) fn line(&mut self, line: &str) {
        if let Some(file) = &mut self.file {
            if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                eprintln!("soak: CSV write failed ({e}); no more CSV lines");
                self.file = None;
            }
        }
    }
}

/// `GET /metrics` over HTTP/1.1 on `addr` (`HOST:PORT`), the body as text.
async fn fetch_metrics(addr: &str) -> Option<String> {
    let fetch = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(
                format!("GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .ok()?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 || raw.len() + n > MAX_METRICS_BYTES {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        Some(raw)
    };
    let raw = tokio::time::timeout(METRICS_TIMEOUT, fetch).await.ok()??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Some(if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    })
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16);
        match size {
            Ok(0) | Err(_) => break,
            Ok(size) => {
                let Some(chunk) = rest.get(..size) else { break };
                out.push_str(chunk);
                body = rest.get(size..).unwrap_or("").trim_start_matches("\r\n");
            }
        }
    }
    out
}

/// The value of metric `name` in a Prometheus text page, summed over its label sets.
fn metric_value(page: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if rest.starts_with('{') {
            rest.rsplit_once('}').map(|(_, v)| v)
        } else if rest.starts_with(' ') {
            Some(rest)
        } else {
            None
        };
        if let Some(v) = value.and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()) {
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prometheus_text() {
        let page = "# TYPE stomp_sessions gauge\nstomp_sessions 52\n\
                    stomp_sessions_total 9\n\
                    stomp_outbound_queued_bytes{endpoint=\"a\"} 100\n\
                    stomp_outbound_queued_bytes{endpoint=\"b\"} 28\n";
        assert_eq!(metric_value(page, "stomp_sessions"), Some(52.0));
        assert_eq!(
            metric_value(page, "stomp_outbound_queued_bytes"),
            Some(128.0)
        );
        assert_eq!(metric_value(page, "stomp_subscriptions"), None);
    }

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }

    #[test]
    fn csv_columns_match() {
        let s = Sample {
            t_s: 10.2,
            rss_kib: Some(30_000),
            cpu_s: None,
            metrics: vec![Some(1.0); METRICS.len()],
            chat_sent: 5,
            chat_received: 7,
            attack_rounds: 2,
        };
        let columns = |l: &str| l.split(',').count();
        assert_eq!(columns(&csv_header()), columns(&csv_line(&s)));
        assert!(csv_line(&s).starts_with("10,30000,,1,"));
    }
}
