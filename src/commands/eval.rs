//! `fleet eval categorize FILE.jsonl`: accuracy and speed of a categorize
//! provider on labelled listings, beside a plain TF-IDF baseline.

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use fleet_shared::{config::CategorizeProvider, taxonomy::Taxonomy};
use fleet_workers::categorize::{
    Categorizer, ListingText,
    eval::{Report, Tally, read_jsonl},
    tfidf::TfIdf,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::{
    path::{Path, PathBuf},
    time::Instant,
};

/// What to evaluate.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Categorization accuracy (top-1, top-3, per area) and listings/s on labelled listings.
    Categorize(CategorizeArgs),
}

/// Arguments of `fleet eval categorize`.
#[derive(Debug, clap::Args)]
pub struct CategorizeArgs {
    /// JSON lines: {"id", "title", "description", "expected": gid, "acceptable": [gid]}.
    file: PathBuf,
    /// `embedded` or `openai` (default: the configured provider).
    #[arg(long)]
    provider: Option<String>,
    /// Also print every listing whose best suggestion is not right.
    #[arg(long)]
    misses: bool,
}

/// Runs an evaluation.
pub async fn run(file: Option<&Path>, cmd: EvalCommand) -> anyhow::Result<()> {
    let EvalCommand::Categorize(args) = cmd;
    let mut config = crate::start::config(file)?;
    if let Some(p) = &args.provider {
        config.categorize.provider = match p.as_str() {
            "embedded" => CategorizeProvider::Embedded,
            "openai" => CategorizeProvider::Openai,
            other => anyhow::bail!("unknown provider `{other}` (embedded or openai)"),
        };
    }
    let taxonomy = Taxonomy::shipped();
    let items = read_jsonl(&args.file, taxonomy)?;
    anyhow::ensure!(
        !items.is_empty(),
        "{} holds no listings",
        args.file.display()
    );

    let started = Instant::now();
    let categorizer = Categorizer::load(&config)
        .await
        .context("loading the categorizer")?;
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "provider {} ready in {load_secs:.1}s ({} listings)",
        categorizer.provider_name(),
        items.len()
    );

    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} listings {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut report = Report::default();
    // As many per call as the model takes at once: every core busy, the bar still moving.
    let batch = categorizer.max_batch();
    let started = Instant::now();
    for chunk in items.chunks(batch) {
        let texts: Vec<ListingText> = chunk
            .iter()
            .map(|i| ListingText {
                title: i.title.clone(),
                description: i.description.clone(),
                ..ListingText::default()
            })
            .collect();
        let results = categorizer.classify(texts).await?;
        for (item, result) in chunk.iter().zip(results) {
            let ranked: Vec<String> = result.suggestions.iter().map(|s| s.gid.clone()).collect();
            let before = report.overall.top1_ok;
            report.add(&ranked, item);
            if args.misses && report.overall.top1_ok == before {
                let path = |gid: &str| {
                    taxonomy
                        .get(gid)
                        .map_or(gid.to_owned(), |c| c.full_path.clone())
                };
                bar.suspend(|| {
                    println!(
                        "{}: {:?}\n  expected: {}",
                        item.id,
                        item.title,
                        path(&item.expected)
                    );
                    for s in result.suggestions.iter().take(3) {
                        println!("  got {:.3} {}", s.confidence, s.full_path);
                    }
                });
            }
        }
        bar.inc(chunk.len() as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let tfidf = TfIdf::build(taxonomy);
    let mut baseline = Report::default();
    let started = Instant::now();
    for item in &items {
        let ranked: Vec<String> = tfidf
            .rank(&format!("{} {}", item.title, item.description), 3)
            .into_iter()
            .map(|p| taxonomy.categories[p].gid.clone())
            .collect();
        baseline.add(&ranked, item);
    }
    let tfidf_secs = started.elapsed().as_secs_f64();

    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "area",
        "n",
        "top-1 exact",
        "top-1 ok",
        "top-3 exact",
        "top-3 ok",
        "tf-idf top-1 ok",
        "tf-idf top-3 ok",
    ]);
    let row = |name: String, t: &Tally, b: &Tally| {
        vec![
            name,
            t.n.to_string(),
            format!("{:.1}%", t.pct(t.top1_exact)),
            format!("{:.1}%", t.pct(t.top1_ok)),
            format!("{:.1}%", t.pct(t.top3_exact)),
            format!("{:.1}%", t.pct(t.top3_ok)),
            format!("{:.1}%", b.pct(b.top1_ok)),
            format!("{:.1}%", b.pct(b.top3_ok)),
        ]
    };
    for (area, tally) in &report.per_area {
        let b = baseline.per_area.get(area).copied().unwrap_or_default();
        table.add_row(row(taxonomy.area_name(area).to_owned(), tally, &b));
    }
    table.add_row(row("all".to_owned(), &report.overall, &baseline.overall));
    println!("{table}");
    println!(
        "{}: {} listings in {secs:.2}s = {:.0} listings/s (model load {load_secs:.1}s); tf-idf: {:.0} listings/s",
        categorizer.provider_name(),
        items.len(),
        items.len() as f64 / secs.max(1e-9),
        items.len() as f64 / tfidf_secs.max(1e-9),
    );
    if let Some(kb) = peak_rss_kb() {
        println!("peak RSS: {:.0} MB", kb as f64 / 1024.0);
    }
    Ok(())
}

/// The process's peak resident set (VmHWM), in KiB, where /proc exists.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
