//! The video pipeline on real files with Debian's FFmpeg libraries: renditions
//! probe as H.264/AAC MP4 with the index first, rotated clips come out upright,
//! limits and damaged files fail with reasons. Outputs are checked with the
//! `ffprobe`/`ffmpeg` commands, independently of the code under test.

use fleet_workers::media::{
    MediaError,
    video::{ProcessedVideo, Progress, VideoSettings, process},
};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../../shared/testdata/media/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn run(
    input: &Path,
    settings: &VideoSettings,
) -> (tempfile::TempDir, Result<ProcessedVideo, MediaError>) {
    let dir = tempfile::tempdir().unwrap();
    let result = process(input, dir.path(), settings, &Progress::default());
    (dir, result)
}

/// `ffprobe -show_streams -show_format` of `path`, as JSON.
fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (Debian package ffmpeg) must be installed");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
}

/// Top-level MP4 box types in file order.
fn top_level_boxes(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        if size == 1 {
            size = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
        } else if size == 0 {
            size = bytes.len() - at;
        }
        boxes.push(kind);
        at += size.max(8);
    }
    boxes
}

/// The first frame of `path` as 8-bit grey pixels, decoded by the ffmpeg command.
fn first_frame_grey(path: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs the ffmpeg command to make a test clip.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg (Debian package ffmpeg) must be installed");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_1080p_clip_becomes_a_720p_h264_aac_mp4_with_the_index_first() {
    let input = testdata("clip-1080p.mp4");
    let progress = Progress::default();
    let dir = tempfile::tempdir().unwrap();
    let out = process(&input, dir.path(), &VideoSettings::default(), &progress).unwrap();
    let t = &out.transcoded;
    assert_eq!((t.width, t.height), (1920, 1080));
    assert_eq!(
        t.probe.duration_ms / 100,
        60,
        "about 6 s: {}",
        t.probe.duration_ms
    );
    assert_eq!(t.frames, 180);
    assert_eq!(progress.get(), (180, 180));
    assert_eq!(t.renditions.len(), 1);
    let r = &t.renditions[0];
    assert_eq!(
        (
            r.rendition.name.as_str(),
            r.rendition.width,
            r.rendition.height
        ),
        ("720", 1280, 720)
    );

    let probe = ffprobe(&r.path);
    let video = stream(&probe, "video").unwrap();
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["pix_fmt"], "yuv420p");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(1280), Some(720))
    );
    assert_eq!(video["nb_frames"], "180");
    let audio = stream(&probe, "audio").unwrap();
    assert_eq!(audio["codec_name"], "aac");
    let bit_rate: f64 = audio["bit_rate"].as_str().unwrap().parse().unwrap();
    assert!(
        (100_000.0..=150_000.0).contains(&bit_rate),
        "AAC at ~128 kb/s: {bit_rate}"
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((5.9..=6.2).contains(&duration), "{duration}");
    assert!(
        probe["format"]["format_name"]
            .as_str()
            .unwrap()
            .contains("mp4"),
        "{probe}"
    );
    let boxes = top_level_boxes(&r.path);
    let moov = boxes.iter().position(|b| b == "moov").unwrap();
    let mdat = boxes.iter().position(|b| b == "mdat").unwrap();
    assert!(moov < mdat, "faststart: moov before mdat, got {boxes:?}");

    // The poster is the middle frame through the image ladder, with placeholders.
    let names: Vec<String> = out
        .poster
        .iter()
        .map(|v| {
            format!(
                "{}.{}:{}x{}",
                v.name,
                v.format.extension(),
                v.width,
                v.height
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "poster-320.jpg:320x180",
            "poster-320.webp:320x180",
            "poster-640.jpg:640x360",
            "poster-640.webp:640x360",
            "poster-1280.jpg:1280x720",
            "poster-1280.webp:1280x720",
            "poster-2048.jpg:1920x1080",
            "poster-2048.webp:1920x1080",
        ]
    );
    assert!(out.placeholders.blurhash.len() >= 6);
}

#[test]
fn a_rotated_portrait_clip_comes_out_upright() {
    // A landscape-coded clip with a white block in its top-left corner, remuxed with a display
    // matrix as phones store portrait video. FFmpeg 5.1 writes `rotate=90` as a quarter turn
    // counter-clockwise (ffprobe: `rotation: 90`), so seen upright the block is bottom-left.
    let dir = tempfile::tempdir().unwrap();
    let coded = dir.path().join("coded.mp4");
    let clip = dir.path().join("rotated.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x180:r=30:d=2,drawbox=x=0:y=0:w=80:h=60:color=white:t=fill",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        coded.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        coded.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        clip.to_str().unwrap(),
    ]);
    let source = ffprobe(&clip);
    assert_eq!(
        stream(&source, "video").unwrap()["side_data_list"][0]["rotation"].as_i64(),
        Some(90),
        "the clip carries a display matrix: {source}"
    );

    let (_out, result) = run(&clip, &VideoSettings::default());
    let out = result.unwrap();
    let t = &out.transcoded;
    assert_eq!(t.probe.video.rotation, 270, "clockwise");
    assert_eq!(
        (t.width, t.height),
        (180, 320),
        "upright size of the source"
    );
    let r = &t.renditions[0];
    assert_eq!(
        (r.rendition.width, r.rendition.height),
        (180, 320),
        "not upscaled"
    );
    let probe = ffprobe(&r.path);
    let video = stream(&probe, "video").unwrap();
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(180), Some(320))
    );
    assert!(
        video.get("side_data_list").is_none(),
        "no rotation left: {video}"
    );
    assert!(
        video["tags"].get("rotate").is_none(),
        "no rotate tag: {video}"
    );
    assert_eq!(stream(&probe, "audio").unwrap()["sample_rate"], "44100");

    // Our output, shown as stored, matches what the ffmpeg command shows for the source.
    let ours = first_frame_grey(&r.path);
    let theirs = first_frame_grey(&clip);
    assert_eq!((ours.len(), theirs.len()), (180 * 320, 180 * 320));
    let at = |frame: &[u8], x: usize, y: usize| frame[y * 180 + x];
    for frame in [&ours, &theirs] {
        assert!(
            at(frame, 30, 290) > 200,
            "block bottom-left: {}",
            at(frame, 30, 290)
        );
        assert!(
            at(frame, 30, 30) < 50,
            "top-left is black: {}",
            at(frame, 30, 30)
        );
        assert!(
            at(frame, 150, 30) < 50,
            "top-right is black: {}",
            at(frame, 150, 30)
        );
        assert!(
            at(frame, 150, 290) < 50,
            "bottom-right is black: {}",
            at(frame, 150, 290)
        );
    }
    let differing = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| a.abs_diff(**b) > 40)
        .count();
    assert!(differing < ours.len() / 100, "{differing} pixels differ");
    // The poster is upright too.
    let poster = &out.poster[0];
    assert_eq!((poster.width, poster.height), (180, 320));
}

#[test]
fn the_portrait_phone_clip_is_720_wide_and_1280_high() {
    let (_dir, result) = run(&testdata("portrait-rotated.mp4"), &VideoSettings::default());
    let out = result.unwrap();
    let r = &out.transcoded.renditions[0];
    assert_eq!((r.rendition.width, r.rendition.height), (720, 1280));
    let video = ffprobe(&r.path);
    let video = stream(&video, "video").unwrap();
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(720), Some(1280))
    );
    assert!(video.get("side_data_list").is_none(), "{video}");
}

#[test]
fn hevc_without_audio_and_an_optional_1080p_rendition() {
    let settings = VideoSettings {
        renditions: vec![720, 1080],
        ..VideoSettings::default()
    };
    let (_dir, result) = run(&testdata("hevc.mov"), &settings);
    let out = result.unwrap();
    assert_eq!(out.transcoded.probe.video.codec, "hevc");
    // A 1280x720 source has nothing to gain from a 1080p rendition.
    assert_eq!(out.transcoded.renditions.len(), 1);
    let probe = ffprobe(&out.transcoded.renditions[0].path);
    assert_eq!(stream(&probe, "video").unwrap()["codec_name"], "h264");
    assert!(stream(&probe, "audio").is_none());

    let (_dir, result) = run(&testdata("clip-1080p.mp4"), &settings);
    let sizes: Vec<(String, u32, u32)> = result
        .unwrap()
        .transcoded
        .renditions
        .iter()
        .map(|r| {
            (
                r.rendition.name.clone(),
                r.rendition.width,
                r.rendition.height,
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [("720".into(), 1280, 720), ("1080".into(), 1920, 1080)]
    );
}

#[test]
fn limits_are_checked_before_transcoding() {
    let short = VideoSettings {
        max_secs: 5,
        ..VideoSettings::default()
    };
    let (_dir, result) = run(&testdata("clip-1080p.mp4"), &short);
    let err = result.unwrap_err();
    assert!(matches!(err, MediaError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("the limit is 0:05"), "{err}");
    let small = VideoSettings {
        max_long_side: 1280,
        max_short_side: 720,
        ..VideoSettings::default()
    };
    let (_dir, result) = run(&testdata("clip-1080p.mp4"), &small);
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("1920x1080") && err.contains("1280x720"),
        "{err}"
    );
}

#[test]
fn damaged_files_fail_with_a_reason_and_the_next_file_works() {
    let clip = std::fs::read(testdata("clip-1080p.mp4")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // The clip keeps its index (moov) at the end: cutting the tail loses it.
    let truncated_moov = write("truncated-moov.mp4", &clip[..clip.len() - 2000]);
    let mut corrupt = clip.clone();
    let len = corrupt.len();
    corrupt[len - 3000..].fill(0);
    // With the index first, a cut in the middle loses frames the index promises.
    let faststart = dir.path().join("faststart.mp4");
    ffmpeg(&[
        "-i",
        testdata("clip-1080p.mp4").to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        faststart.to_str().unwrap(),
    ]);
    let whole = std::fs::read(&faststart).unwrap();
    let cases = [
        ("empty", write("empty.mp4", b""), "empty"),
        ("truncated moov", truncated_moov, "truncated or damaged"),
        (
            "zeroed index",
            write("zeroed.mp4", &corrupt),
            "invalid video",
        ),
        (
            "cut mdat",
            write("cut.mp4", &whole[..whole.len() / 2]),
            "truncated or damaged",
        ),
        ("a JPEG", testdata("progressive.jpg"), "not an MP4"),
        (
            "text",
            write("notes.mp4", b"this is not a video at all\n"),
            "not an MP4",
        ),
    ];
    for (name, path, expected) in cases {
        let (_out, result) = run(&path, &VideoSettings::default());
        let err = match result {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e,
        };
        assert!(err.is_permanent(), "{name}: {err} should not be retried");
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
    let (_out, result) = run(&testdata("hevc.mov"), &VideoSettings::default());
    assert!(result.is_ok(), "{:?}", result.err());
}

#[test]
fn a_cancelled_transcode_stops() {
    let progress = Progress::default();
    progress.cancel();
    let dir = tempfile::tempdir().unwrap();
    let err = process(
        &testdata("clip-1080p.mp4"),
        dir.path(),
        &VideoSettings::default(),
        &progress,
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err}");
    assert!(!err.is_permanent());
}
