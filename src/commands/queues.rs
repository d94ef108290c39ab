//! `fleet queues`: a table of every queue.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use fleet_shared::Queues;
use std::{path::Path, time::Duration};

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
    loop {
        let table = table(&queues).await?;
        if args.watch.is_some() {
            print!("\x1b[2J\x1b[H");
        }
        println!("{table}");
        let Some(secs) = args.watch else {
            return Ok(());
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn table(queues: &Queues) -> anyhow::Result<Table> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "queue",
        "kind",
        "waiting",
        "scheduled",
        "in flight",
        "dead",
        "oldest waiting",
        "processed",
        "failed",
    ]);
    for queue in fleet_jobs::queues::ALL {
        let s = queues.stats(queue).await?;
        let kind = fleet_jobs::WorkerKind::of_queue(queue)
            .map(|k| k.to_string())
            .unwrap_or_default();
        table.add_row([
            queue.to_owned(),
            kind,
            s.waiting.to_string(),
            s.scheduled.to_string(),
            s.in_flight.to_string(),
            s.dead.to_string(),
            s.oldest_waiting_ms
                .map(age)
                .unwrap_or_else(|| "-".to_owned()),
            s.processed.to_string(),
            s.failed.to_string(),
        ]);
    }
    Ok(table)
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
