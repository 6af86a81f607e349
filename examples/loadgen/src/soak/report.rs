//! The soak's result as Markdown tables (for BENCHMARKS.md): RSS over time, the
//! well-behaved totals, and what each attack got.

use std::fmt::Write;

use super::SoakResult;

/// One RSS row per `every_s` seconds (and the last sample).
pub(crate) fn markdown(result: &SoakResult, every_s: f64) -> String {
    let mut out = String::new();
    let mib =
        |kib: Option<u64>| kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
    let _ = writeln!(
        out,
        "| t (s) | server RSS (MiB) | sessions | queued messages | pending ACKs | well-behaved received | attack rounds |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut next_row = 0.0;
    let last = result.samples.len().saturating_sub(1);
    for (i, s) in result.samples.iter().enumerate() {
        if s.t_s + 0.5 < next_row && i != last {
            continue;
        }
        next_row = s.t_s + every_s;
        let metric = |k: usize| {
            s.metrics
                .get(k)
                .copied()
                .flatten()
                .map_or("?".to_owned(), |v| format!("{v:.0}"))
        };
        let _ = writeln!(
            out,
            "| {:.0} | {} | {} | {} | {} | {} | {} |",
            s.t_s,
            mib(s.rss_kib),
            metric(0),
            metric(2),
            metric(3),
            s.chat_received,
            s.attack_rounds
        );
    }
    let _ = writeln!(
        out,
        "\nRSS: start {} MiB, max {} MiB, end (settled) {} MiB; server CPU {:.1} s over {:.0} s.\n",
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
