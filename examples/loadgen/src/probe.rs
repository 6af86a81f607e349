//! What the load generator reads about the server process (`/proc/PID/stat` CPU time,
//! `/proc/PID/status` resident set), and latency histograms.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) the process has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Resident set size in bytes (`VmRSS` of `/proc/PID/status`).
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A latency histogram in microseconds, up to 60 s.
pub(crate) fn histogram(precise: bool) -> Histogram<u64> {
    let digits = if precise { 3 } else { 2 };
    match Histogram::new_with_bounds(1, 60_000_000, digits) {
        Ok(h) => h,
        // The bounds are constants within the crate's rules.
        Err(_) => Histogram::new(2).unwrap_or_else(|_| unreachable!("valid histogram")),
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Serialize, Default)]
pub(crate) struct Latency {
    pub(crate) samples: u64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) p999_us: u64,
    pub(crate) max_us: u64,
    pub(crate) mean_us: f64,
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Latency {
        Latency {
            samples: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// CPU use of the server over a measured interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuMark {
    pid: u32,
    start: f64,
}

impl CpuMark {
    pub(crate) fn start(pid: Option<u32>) -> Option<CpuMark> {
        let pid = pid?;
        Some(CpuMark {
            pid,
            start: cpu_seconds(pid)?,
        })
    }

    /// CPU seconds used since the mark.
    pub(crate) fn used(&self) -> Option<f64> {
        Some(cpu_seconds(self.pid)? - self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some_and(|s| s >= 0.0));
        assert!(rss_bytes(pid).is_some_and(|b| b > 0));
        assert!(cpu_seconds(u32::MAX).is_none());
    }

    #[test]
    fn percentiles() {
        let mut h = histogram(true);
        for v in 1..=1000u64 {
            h.record(v).ok();
        }
        let l = Latency::of(&h);
        assert_eq!(l.samples, 1000);
        assert!((499..=501).contains(&l.p50_us), "{l:?}");
        assert!((989..=991).contains(&l.p99_us), "{l:?}");
        assert_eq!(l.max_us, h.max());
    }
}
