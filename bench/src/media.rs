//! `media-bench INPUT jpeg|webp WIDTH SECONDS`: Fleet's image pipeline in this
//! process on one thread (decode with shrink-on-load, orient, resize, encode),
//! repeated for SECONDS; prints images/s and peak RSS as JSON.

mod rss;

use fleet_workers::media::image::{
    OutputFormat, apply_orientation, decode, encode, exif_orientation, resize, sniff,
};
use std::time::{Duration, Instant};

/// The allocator the `fleet` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("media-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, format, width, seconds] = args.as_slice() else {
        return Err("usage: media-bench INPUT jpeg|webp WIDTH SECONDS".to_owned());
    };
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let format = match format.as_str() {
        "jpeg" => OutputFormat::Jpeg,
        "webp" => OutputFormat::Webp,
        other => return Err(format!("unknown format {other}")),
    };
    let width: u32 = width.parse().map_err(|e| format!("width: {e}"))?;
    let budget = Duration::from_secs_f64(seconds.parse().map_err(|e| format!("seconds: {e}"))?);
    let mut resizer = fast_image_resize::Resizer::new();
    let mut one = || -> Result<usize, String> {
        let sniffed = sniff(&bytes, 100_000_000).map_err(|e| e.to_string())?;
        let orientation = exif_orientation(&bytes);
        // `WIDTH` is the output width of the upright picture, as `sharp.resize(WIDTH)`.
        let upright_width = if orientation >= 5 {
            sniffed.height
        } else {
            sniffed.width
        };
        let upright_height = if orientation >= 5 {
            sniffed.width
        } else {
            sniffed.height
        };
        let height = ((f64::from(upright_height) * f64::from(width) / f64::from(upright_width))
            .round() as u32)
            .max(1);
        let decoded = decode(&bytes, &sniffed, width.max(height)).map_err(|e| e.to_string())?;
        let upright = apply_orientation(decoded, orientation);
        let resized = resize(&mut resizer, &upright, width, height).map_err(|e| e.to_string())?;
        encode(&resized, format, 80)
            .map(|out| out.len())
            .map_err(|e| e.to_string())
    };
    let warm = one()?;
    let start = Instant::now();
    let mut images = 0u64;
    while start.elapsed() < budget {
        one()?;
        images += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"images_per_sec\": {:.2}, \"peak_rss_mb\": {:.1}, \"output_bytes\": {warm}}}",
        images as f64 / secs,
        rss::peak_rss_mib_of("self")
    );
    Ok(())
}
