//! The PNG chart of a run: waiting jobs per kind above, replicas per kind below.

use super::record::Tick;
use plotters::prelude::*;
use std::{collections::BTreeMap, error::Error, path::Path};

/// The font every label is drawn in (Debian's fonts-dejavu-core).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;

/// Draws `kinds` (ticks of each kind) against seconds since `origin_ms` into `path`.
pub fn draw(
    path: &Path,
    kinds: &BTreeMap<String, Vec<Tick>>,
    origin_ms: i64,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let font = std::fs::read(FONT)
        .map_err(|e| format!("{FONT}: {e} (install Debian's fonts-dejavu-core)"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, font.leak())
        .map_err(|_| format!("{FONT} is not a font plotters can read"))?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(to_string)?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        let secs = |t: &Tick| (t.at_ms - origin_ms) as f64 / 1000.0;
        let all = || kinds.values().flatten();
        let start = all().map(secs).fold(0.0, f64::min);
        let end = all().map(secs).fold(1.0, f64::max);
        let most_waiting = all().map(|t| t.waiting).max().unwrap_or(0).max(1) as f64;
        let most_replicas = all().map(|t| t.replicas).max().unwrap_or(0).max(1) as f64;
        panel(
            &top,
            "Waiting jobs per kind",
            "waiting",
            (start..end, 0.0..most_waiting * 1.05),
            kinds,
            |series| series.iter().map(|t| (secs(t), t.waiting as f64)).collect(),
        )?;
        panel(
            &bottom,
            "Worker processes per kind (fleet supervise)",
            "replicas",
            (start..end, 0.0..most_replicas + 1.0),
            kinds,
            |series| steps(series.iter().map(|t| (secs(t), f64::from(t.replicas)))),
        )?;
        root.present().map_err(to_string)?;
    }
    image::RgbImage::from_raw(WIDTH, HEIGHT, pixels)
        .ok_or("chart buffer of the wrong size")?
        .save(path)?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// One chart: a line per kind of the points `points` picks from its ticks.
fn panel(
    area: &Area<'_>,
    caption: &str,
    y_desc: &str,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    kinds: &BTreeMap<String, Vec<Tick>>,
    points: impl Fn(&[Tick]) -> Vec<(f64, f64)>,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(to_string)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the burst")
        .y_desc(y_desc)
        .draw()
        .map_err(to_string)?;
    for (i, (kind, series)) in kinds.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points(series), color.stroke_width(2)))
            .map_err(to_string)?
            .label(kind.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(to_string)?;
    Ok(())
}

/// A count held until the next tick: each point also ends the previous level.
fn steps(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (x, y) in points {
        if let Some(&(_, prev)) = out.last() {
            out.push((x, prev));
        }
        out.push((x, y));
    }
    out
}

fn to_string(err: impl std::fmt::Display) -> String {
    err.to_string()
}
