//! The soak's result as Markdown tables (for BENCHMARKS.md): RSS over time, the
//! well-behaved totals, and what each attack got.

use std::fmt::Write;

use super::sample::{Sample, METRICS};
use super::SoakResult;

/// The value of gauge `name` in a sample.
fn gauge(s: &Sample, name: &str) -> Option<f64> {
    let at = METRICS.iter().position(|m| *m == name)?;
    s.metrics.get(at).copied().flatten()
}

/// One RSS row per `every_s` seconds (and the last sample).
pub(crate) fn markdown(result: &SoakResult, every_s: f64) -> String {
    let mut out = String::new();
    let mib =
        |kib: Option<u64>| kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
    let _ = writeln!(
        out,
        "| t (s) | server RSS (MiB) | memory budget used (MiB) | sessions | queued messages | pending ACKs | well-behaved received | attack rounds |\n|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut next_row = 0.0;
    let last = result.samples.len().saturating_sub(1);
    for (i, s) in result.samples.iter().enumerate() {
        if s.t_s + 0.5 < next_row && i != last {
            continue;
        }
        next_row = s.t_s + every_s;
        let metric = |name: &str| gauge(s, name).map_or("?".to_owned(), |v| format!("{v:.0}"));
        let budget = gauge(s, "stomp_memory_budget_used_bytes")
            .map_or("?".to_owned(), |b| format!("{:.1}", b / (1024.0 * 1024.0)));
        let _ = writeln!(
            out,
            "| {:.0} | {} | {budget} | {} | {} | {} | {} | {} |",
            s.t_s,
            mib(s.rss_kib),
            metric("stomp_sessions"),
            metric("stomp_broker_queued_messages"),
            metric("stomp_broker_pending_acks"),
            s.chat_received,
            s.attack_rounds
        );
    }
    let budget_max = result
        .samples
        .iter()
        .filter_map(|s| gauge(s, "stomp_memory_budget_used_bytes"))
        .fold(None, |max: Option<f64>, b| {
            Some(max.map_or(b, |m| m.max(b)))
        })
        .map_or("?".to_owned(), |b| format!("{:.1}", b / (1024.0 * 1024.0)));
    let _ = writeln!(
        out,
        "\nRSS: start {} MiB, max {} MiB, end (settled) {} MiB; memory budget used at most \
         {budget_max} MiB; server CPU {:.1} s over {:.0} s.\n",
        mib(result.rss_kib_start),
        mib(result.rss_kib_max),
        mib(result.rss_kib_end),
        result.server_cpu_s.unwrap_or(f64::NAN),
        result.seconds
    );
    let w = &result.well_behaved;
    let _ = writeln!(
        out,
        "| well-behaved | room | private | queue | total |\n|---|---:|---:|---:|---:|"
    );
    for (name, k) in [
        ("sent", &w.sent),
        ("expected deliveries", &w.expected),
        ("received", &w.received),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            k.room,
            k.private,
            k.queue,
            k.room + k.private + k.queue
        );
    }
    let _ = writeln!(
        out,
        "\n{} sessions in {} rooms: lost {}, out of order {}, disconnects {}, ERROR frames {}, \
         handler errors {}, receipts {}/{}; SEND to RECEIPT p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms.\n",
        w.sessions,
        w.rooms,
        w.lost,
        w.out_of_order,
        w.disconnects,
        w.error_frames,
        w.handler_errors,
        w.receipts_received,
        w.receipts_expected,
        w.receipt_latency.p50_us as f64 / 1000.0,
        w.receipt_latency.p99_us as f64 / 1000.0,
        w.receipt_latency.max_us as f64 / 1000.0
    );
    let _ = writeln!(out, "| attack | rounds | what it got (times) | numbers (min / mean / max) |\n|---|---:|---|---|");
    for (name, stats) in &result.attacks {
        let outcomes = stats
            .outcomes
            .iter()
            .map(|(line, n)| format!("{} ({n})", line.replace('|', "\\|")))
            .collect::<Vec<_>>()
            .join("<br>");
        let numbers = stats
            .numbers
            .iter()
            .map(|(k, r)| format!("{k}: {} / {} / {}", r.min, r.mean, r.max))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "| {name} | {} | {outcomes} | {numbers} |",
            stats.rounds
        );
    }
    for e in result.errors.iter().chain(&w.errors) {
        let _ = writeln!(out, "\nerror: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, rss_kib: u64) -> Sample {
        let mut metrics = vec![None; METRICS.len()];
        metrics[0] = Some(50.0);
        metrics[6] = Some(2.0 * 1024.0 * 1024.0);
        Sample {
            t_s,
            rss_kib: Some(rss_kib),
            cpu_s: Some(1.0),
            metrics,
            chat_sent: 0,
            chat_received: 10,
            attack_rounds: 1,
        }
    }

    #[test]
    fn one_row_a_minute_and_the_last() {
        let result = SoakResult {
            samples: (0..14)
                .map(|i| sample(f64::from(i) * 10.0, 10_240))
                .collect(),
            rss_kib_max: Some(10_240),
            ..SoakResult::default()
        };
        let text = markdown(&result, 60.0);
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(" | 10.0 | 2.0 | 50 |"))
            .collect();
        assert_eq!(rows.len(), 4, "{text}");
        assert!(rows[0].starts_with("| 0 |") && rows[3].starts_with("| 130 |"));
        assert!(
            text.contains("memory budget used at most 2.0 MiB"),
            "{text}"
        );
    }
}
