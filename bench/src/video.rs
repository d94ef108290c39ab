//! `video-bench INPUT RUNS`: Fleet's video transcode in this process (probe,
//! decode, upright + scale to 720p, libx264 CRF 23 with the configured preset,
//! AAC 128 kb/s, MP4 with faststart), RUNS times; prints the wall time of each
//! run and the peak RSS as JSON. No poster: the same work as one `ffmpeg` command.

mod rss;

use fleet_workers::media::video::{Progress, VideoSettings, transcode};
use std::time::Instant;

/// The allocator the `fleet` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("video-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, runs] = args.as_slice() else {
        return Err("usage: video-bench INPUT RUNS".to_owned());
    };
    let runs: usize = runs.parse().map_err(|e| format!("runs: {e}"))?;
    let settings = VideoSettings::default();
    let mut secs = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs.max(1) {
        let dir = std::env::temp_dir().join(format!("fleet-video-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let out = transcode(input.as_ref(), &dir, &settings, 1280, &Progress::default())
            .map_err(|e| e.to_string())?;
        secs.push(start.elapsed().as_secs_f64());
        bytes = out
            .renditions
            .first()
            .and_then(|r| std::fs::metadata(&r.path).ok())
            .map_or(0, |m| m.len());
        std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    }
    let list = secs
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{{\"secs\": [{list}], \"peak_rss_mb\": {:.1}, \"output_bytes\": {bytes}, \"preset\": \"{}\"}}",
        rss::peak_rss_mib_of("self"),
        settings.preset
    );
    Ok(())
}
