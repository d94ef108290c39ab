//! `fleet queues`: a table of every queue.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use fleet_shared::queue::OpsReport;
use std::{io::Write, path::Path, time::Duration};

/// Display options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Refresh every N seconds until Ctrl-C.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    watch: Option<u64>,
}

/// Prints the table once, or repeatedly with `--watch`.
pub async fn run(file: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let db = crate::start::database(&config).await?;
    let queues = crate::start::queues(&config, db).await?;
    if args.watch.is_some() {
        print!("\x1b[2J");
    }
    loop {
        let report = fleet_shared::queue::report(&queues, &config.kinds).await?;
        let text = render(&report);
        let Some(secs) = args.watch else {
            println!("{text}");
            return Ok(());
        };
        // Home, draw over the previous frame line by line, clear what is left below.
        let mut frame = String::from("\x1b[H");
        for line in text.lines() {
            frame.push_str(line);
            frame.push_str("\x1b[K\n");
        }
        frame.push_str(&format!("every {secs}s; Ctrl-C to stop\x1b[K\n\x1b[J"));
        let mut out = std::io::stdout().lock();
        out.write_all(frame.as_bytes())?;
        out.flush()?;
        drop(out);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// The queue table and the per-kind scaling table.
fn render(report: &OpsReport) -> String {
    let mut queues = Table::new();
    queues.load_preset(UTF8_FULL_CONDENSED).set_header([
        "queue",
        "kind",
        "waiting",
        "scheduled",
        "in flight",
        "dead",
        "oldest waiting",
        "processed/min",
        "failed/min",
        "p50",
        "p95",
        "processed",
        "failed",
    ]);
    for q in &report.queues {
        queues.add_row([
            q.queue.clone(),
            q.kind.clone(),
            q.waiting.to_string(),
            q.scheduled.to_string(),
            q.in_flight.to_string(),
            q.dead.to_string(),
            q.oldest_waiting_secs
                .map(|s| age((s * 1000.0) as u64))
                .unwrap_or_else(|| "-".to_owned()),
            q.processed_per_min.to_string(),
            q.failed_per_min.to_string(),
            q.duration_p50_ms
                .map(millis)
                .unwrap_or_else(|| "-".to_owned()),
            q.duration_p95_ms
                .map(millis)
                .unwrap_or_else(|| "-".to_owned()),
            q.processed.to_string(),
            q.failed.to_string(),
        ]);
    }
    let mut kinds = Table::new();
    kinds.load_preset(UTF8_FULL_CONDENSED).set_header([
        "kind",
        "waiting",
        "in flight",
        "live workers",
        "recommended",
        "target/replica",
        "min",
        "max",
    ]);
    for k in &report.kinds {
        kinds.add_row([
            k.kind.clone(),
            k.waiting.to_string(),
            k.in_flight.to_string(),
            k.live_workers.to_string(),
            k.recommended_replicas.to_string(),
            k.target_per_replica.to_string(),
            k.min_replicas.to_string(),
            k.max_replicas.to_string(),
        ]);
    }
    format!("{queues}\n{kinds}")
}

fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        age(ms)
    }
}

fn age(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{}.{}s", secs, (ms % 1000) / 100),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_naturally() {
        assert_eq!(super::age(1_250), "1.2s");
        assert_eq!(super::age(61_000), "1m01s");
        assert_eq!(super::age(7_380_000), "2h03m");
    }
}
