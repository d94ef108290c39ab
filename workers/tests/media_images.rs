//! The image pipeline on real files from ../shared/testdata: orientation,
//! metadata stripping, alpha, CMYK, odd sizes and malformed input.

use fleet_workers::media::{
    MediaError,
    image::{ImageSettings, OutputFormat, Pixels, ProcessedImage, decode, process, sniff},
};

fn testdata(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../shared/testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn settings(sizes: &[u32], formats: &[OutputFormat]) -> ImageSettings {
    ImageSettings {
        sizes: sizes.to_vec(),
        formats: formats.to_vec(),
        ..ImageSettings::default()
    }
}

fn run(bytes: &[u8], settings: &ImageSettings) -> Result<ProcessedImage, MediaError> {
    process(bytes, settings, &mut Default::default())
}

/// Decodes an output JPEG to RGB.
fn read_jpeg(bytes: &[u8]) -> Pixels {
    decode(bytes, &sniff(bytes, u64::MAX).unwrap(), u32::MAX).unwrap()
}

/// Decodes an output WebP keeping alpha.
fn read_webp(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::WebP)
        .unwrap()
        .into_rgba8()
}

/// Mean absolute difference per channel value between two RGB images of one size.
fn mean_diff(a: &Pixels, b: &Pixels) -> f64 {
    assert_eq!(
        (a.width, a.height, a.channels),
        (b.width, b.height, b.channels)
    );
    let total: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.data.len() as f64
}

fn pixel(p: &Pixels, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * p.width + x) * 3) as usize;
    [p.data[i], p.data[i + 1], p.data[i + 2]]
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn every_exif_orientation_comes_out_upright() {
    let jpeg = settings(&[320], &[OutputFormat::Jpeg]);
    for series in ["Landscape", "Portrait"] {
        let reference = run(
            &testdata(&format!("exif-orientation/{series}_1.jpg")),
            &jpeg,
        )
        .unwrap();
        let upright = read_jpeg(&reference.variants[0].bytes);
        let expected_dims = if series == "Landscape" {
            (320, 213)
        } else {
            (213, 320)
        };
        assert_eq!((upright.width, upright.height), expected_dims);
        for n in 0..=8 {
            let out = run(
                &testdata(&format!("exif-orientation/{series}_{n}.jpg")),
                &jpeg,
            )
            .unwrap();
            let source_dims = if series == "Landscape" {
                (1800, 1200)
            } else {
                (1200, 1800)
            };
            assert_eq!(
                (out.width, out.height),
                source_dims,
                "{series}_{n} reports upright source size"
            );
            let variant = read_jpeg(&out.variants[0].bytes);
            let diff = mean_diff(&variant, &upright);
            assert!(
                diff < 4.0,
                "{series}_{n} differs from upright by {diff:.1} per channel"
            );
        }
    }
    // The comparison tells a mirrored picture apart: the stored pixels of file 2 without the fix.
    let mirrored = read_jpeg(&testdata("exif-orientation/Landscape_2.jpg"));
    let upright = read_jpeg(&testdata("exif-orientation/Landscape_1.jpg"));
    assert!(mean_diff(&mirrored, &upright) > 20.0);
}

#[test]
fn outputs_carry_no_metadata() {
    let source = testdata("exif-orientation/Landscape_6.jpg");
    assert!(
        exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&source))
            .is_ok()
    );
    let out = run(
        &source,
        &settings(&[320, 640], &[OutputFormat::Jpeg, OutputFormat::Webp]),
    )
    .unwrap();
    assert_eq!(out.variants.len(), 4);
    for v in &out.variants {
        let found = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&v.bytes));
        assert!(found.is_err(), "{} {:?} still has EXIF", v.name, v.format);
        for needle in [
            &b"Exif\0\0"[..],
            b"http://ns.adobe.com/xap",
            b"ICC_PROFILE",
            b"Photoshop 3.0",
        ] {
            assert!(
                !v.bytes.windows(needle.len()).any(|w| w == needle),
                "{:?} found",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[test]
fn the_default_ladder_and_placeholders() {
    let out = run(
        &testdata("media/large-6000x4000.jpg"),
        &ImageSettings::default(),
    )
    .unwrap();
    let sizes: Vec<(String, u32, u32, OutputFormat)> = out
        .variants
        .iter()
        .map(|v| (v.name.clone(), v.width, v.height, v.format))
        .collect();
    let expected: Vec<(String, u32, u32, OutputFormat)> =
        [(320, 213), (640, 427), (1280, 853), (2048, 1365)]
            .into_iter()
            .flat_map(|(w, h)| {
                [OutputFormat::Jpeg, OutputFormat::Webp].map(|f| (w.to_string(), w, h, f))
            })
            .collect();
    assert_eq!(sizes, expected);
    for v in &out.variants {
        let (w, h) = match v.format {
            OutputFormat::Jpeg => {
                let p = read_jpeg(&v.bytes);
                (p.width, p.height)
            }
            OutputFormat::Webp => read_webp(&v.bytes).dimensions(),
        };
        assert_eq!((w, h), (v.width, v.height));
    }
    let progressive = out.variants[0].bytes.windows(2).any(|w| w == [0xFF, 0xC2]);
    assert!(progressive, "JPEG variants are progressive (SOF2)");
    let blur = blurhash::decode(&out.placeholders.blurhash, 32, 32, 1.0).unwrap();
    assert_eq!(blur.len(), 32 * 32 * 4);
    assert!(out.placeholders.thumbhash.len() > 20);
}

#[test]
fn alpha_is_kept_in_webp_and_flattened_onto_white_in_jpeg() {
    let out = run(
        &testdata("media/alpha.png"),
        &settings(&[320], &[OutputFormat::Jpeg, OutputFormat::Webp]),
    )
    .unwrap();
    let jpeg = read_jpeg(&out.variants[0].bytes);
    let webp = read_webp(&out.variants[1].bytes);
    let (w, h) = (jpeg.width, jpeg.height);
    assert_eq!((w, h), (320, 213));
    // Left edge: transparent, so white in JPEG and alpha ~0 in WebP. Right edge: opaque blue.
    assert!(
        close(pixel(&jpeg, 2, h / 2), [255, 255, 255], 12),
        "{:?}",
        pixel(&jpeg, 2, h / 2)
    );
    assert!(
        close(pixel(&jpeg, w - 3, h / 2), [0, 0, 255], 16),
        "{:?}",
        pixel(&jpeg, w - 3, h / 2)
    );
    assert!(webp.get_pixel(2, h / 2)[3] < 10);
    assert!(webp.get_pixel(w - 3, h / 2)[3] > 245);
    assert!(webp.get_pixel(w / 2, h / 2)[3].abs_diff(128) < 20);
}

#[test]
fn cmyk_jpegs_are_not_inverted() {
    let only = settings(&[800], &[OutputFormat::Jpeg]);
    let cmyk = read_jpeg(&run(&testdata("media/cmyk.jpg"), &only).unwrap().variants[0].bytes);
    let rgb_source = run(&testdata("exif-orientation/Landscape_1.jpg"), &only).unwrap();
    let rgb = read_jpeg(&rgb_source.variants[0].bytes);
    let diff = mean_diff(&cmyk, &rgb);
    assert!(
        diff < 12.0,
        "CMYK output differs from the RGB original by {diff:.1}"
    );
}

#[test]
fn other_inputs_high_bit_depth_gif_webp_and_one_pixel() {
    let jpeg = settings(&[320], &[OutputFormat::Jpeg]);
    let gif = read_jpeg(&run(&testdata("media/anim.gif"), &jpeg).unwrap().variants[0].bytes);
    assert!(
        close(pixel(&gif, 160, 120), [255, 0, 0], 8),
        "first GIF frame is red"
    );
    let png16 = run(&testdata("media/png16.png"), &jpeg).unwrap();
    assert_eq!(
        (png16.width, png16.height, png16.variants[0].width),
        (800, 533, 320)
    );
    let webp = run(&testdata("media/photo.webp"), &jpeg).unwrap();
    assert_eq!((webp.width, webp.height), (1200, 800));
    let tiny = run(
        &testdata("media/tiny-1x1.png"),
        &settings(&[320, 640], &[OutputFormat::Jpeg]),
    )
    .unwrap();
    assert_eq!(tiny.variants.len(), 1, "never upscaled");
    let px = read_jpeg(&tiny.variants[0].bytes);
    assert_eq!((px.width, px.height), (1, 1));
    assert!(
        close(pixel(&px, 0, 0), [0x33, 0x66, 0x99], 6),
        "{:?}",
        pixel(&px, 0, 0)
    );
}

#[test]
fn malformed_input_fails_with_a_reason() {
    let photo = testdata("exif-orientation/Landscape_1.jpg");
    let png = testdata("media/alpha.png");
    let mut corrupt = photo.clone();
    corrupt[600..4000].fill(0xFF);
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bomb.extend_from_slice(&60000u32.to_be_bytes());
    bomb.extend_from_slice(&60000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zero bytes", Vec::new(), "empty"),
        (
            "text named .jpg",
            b"this is not a photo\n".to_vec(),
            "not a JPEG",
        ),
        (
            "truncated JPEG",
            photo[..photo.len() / 3].to_vec(),
            "invalid image",
        ),
        ("corrupt JPEG header", corrupt, "invalid image"),
        (
            "truncated PNG",
            png[..png.len() / 2].to_vec(),
            "invalid image",
        ),
        ("PNG declaring 60000x60000", bomb, "megapixels"),
        (
            "MP4 as a photo",
            testdata("media/clip-1080p.mp4")[..4096].to_vec(),
            "not an image",
        ),
    ];
    let all = ImageSettings::default();
    for (name, bytes, expected) in cases {
        match run(&bytes, &all) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => {
                assert!(e.is_permanent(), "{name}: {e} should not be retried");
                assert!(e.to_string().contains(expected), "{name}: {e}");
            }
        }
    }
    // The same resizer and process go on to handle a good file.
    assert!(run(&photo, &all).is_ok());
}

/// The centres of media/p3-patches.jpg's patches and the sRGB colours they were made in.
const P3_PATCHES_IN_SRGB: [((u32, u32), [u8; 3]); 6] = [
    ((100, 100), [255, 0, 0]),
    ((300, 100), [2, 255, 0]),
    ((500, 100), [0, 0, 254]),
    ((100, 300), [255, 255, 0]),
    ((300, 300), [2, 255, 255]),
    ((500, 300), [255, 0, 255]),
];

#[test]
fn embedded_icc_profiles_are_converted_to_srgb() {
    // Patches made in sRGB, stored in Display P3: converted back, they read as the sRGB originals.
    let bytes = testdata("media/p3-patches.jpg");
    let pixels = decode(&bytes, &sniff(&bytes, u64::MAX).unwrap(), u32::MAX).unwrap();
    for ((x, y), rgb) in P3_PATCHES_IN_SRGB {
        let got = pixel(&pixels, x, y);
        assert!(
            close(got, rgb, 3),
            "patch at ({x},{y}) is {got:?}, expected {rgb:?}"
        );
    }
    // Whole photos in Adobe RGB and Display P3 come out close to the sRGB original.
    let only = settings(&[1200], &[OutputFormat::Jpeg]);
    let reference = read_jpeg(
        &run(&testdata("exif-orientation/Landscape_1.jpg"), &only)
            .unwrap()
            .variants[0]
            .bytes,
    );
    for name in ["adobergb.jpg", "displayp3.jpg"] {
        let source = testdata(&format!("media/{name}"));
        let converted = read_jpeg(&run(&source, &only).unwrap().variants[0].bytes);
        let stored = decode_without_profile(&source);
        let (with, without) = (
            mean_diff(&converted, &reference),
            mean_diff(&stored, &reference),
        );
        assert!(
            with < without * 0.8,
            "{name}: {with:.2} converted vs {without:.2} unconverted"
        );
        assert!(with < 3.0, "{name}: {with:.2}");
    }
}

/// The stored pixels of a JPEG, ignoring its ICC profile (what a pipeline without colour management shows).
fn decode_without_profile(bytes: &[u8]) -> Pixels {
    let image = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB).unwrap();
    Pixels {
        width: image.width as u32,
        height: image.height as u32,
        channels: 3,
        data: image.pixels,
    }
}

/// `pixels` (RGB, or RGBA with straight alpha) encoded by libheif as HEIC (x265) or AVIF (aom),
/// the way phones and browsers save them; alpha goes into an auxiliary alpha image.
fn heif_encode(pixels: &Pixels, format: libheif_rs::CompressionFormat) -> Vec<u8> {
    heif_encode_alpha(pixels, format, false)
}

/// Like [`heif_encode`]; when `premultiplied`, the colour is stored multiplied by alpha and the
/// file says so (a `prem` property).
fn heif_encode_alpha(
    pixels: &Pixels,
    format: libheif_rs::CompressionFormat,
    premultiplied: bool,
) -> Vec<u8> {
    use libheif_rs::{Channel, ColorSpace, EncoderQuality, HeifContext, Image, LibHeif, RgbChroma};
    let (w, h) = (pixels.width, pixels.height);
    let chroma = match pixels.channels {
        3 => RgbChroma::Rgb,
        4 => RgbChroma::Rgba,
        n => panic!("{n} channels"),
    };
    let mut image = Image::new(w, h, ColorSpace::Rgb(chroma)).unwrap();
    let bits = 8 * pixels.channels;
    image
        .create_plane(Channel::Interleaved, w, h, bits)
        .unwrap();
    let plane = image.planes_mut().interleaved.unwrap();
    let row = w as usize * usize::from(pixels.channels);
    let mut data = pixels.data.clone();
    if premultiplied {
        for p in data.chunks_exact_mut(4) {
            for c in 0..3 {
                p[c] = ((u32::from(p[c]) * u32::from(p[3]) + 127) / 255) as u8;
            }
        }
    }
    for y in 0..h as usize {
        plane.data[y * plane.stride..y * plane.stride + row]
            .copy_from_slice(&data[y * row..(y + 1) * row]);
    }
    if premultiplied {
        image.set_premultiplied_alpha(true);
    }
    let lib = LibHeif::new();
    let mut context = HeifContext::new().unwrap();
    let mut encoder = lib.encoder_for_format(format).unwrap();
    encoder.set_quality(EncoderQuality::Lossy(90)).unwrap();
    context.encode_image(&image, &mut encoder, None).unwrap();
    context.write_to_bytes().unwrap()
}

#[test]
fn heic_and_avif_are_decoded_through_libheif() {
    use libheif_rs::CompressionFormat;
    // 600x400 keeps the AV1 encoder, slow in a test, to a few seconds.
    let photo = read_jpeg(&testdata("exif-orientation/Landscape_1.jpg"));
    let source =
        fleet_workers::media::image::resize(&mut Default::default(), &photo, 600, 400).unwrap();
    let only = settings(&[320], &[OutputFormat::Jpeg]);
    for (format, name) in [
        (CompressionFormat::Hevc, "heic"),
        (CompressionFormat::Av1, "avif"),
    ] {
        let bytes = heif_encode(&source, format);
        let sniffed = sniff(&bytes, u64::MAX).unwrap();
        assert_eq!(sniffed.format.as_str(), name);
        assert_eq!((sniffed.width, sniffed.height), (600, 400), "{name} header");
        let decoded = decode(&bytes, &sniffed, u32::MAX).unwrap();
        assert_eq!(
            (decoded.width, decoded.height, decoded.channels),
            (600, 400, 3)
        );
        let mean = decoded
            .data
            .iter()
            .zip(&source.data)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / source.data.len() as f64;
        assert!(
            mean < 4.0,
            "{name}: mean difference {mean:.2} from the encoded pixels"
        );
        let out = run(&bytes, &only).unwrap();
        assert_eq!(out.format.as_str(), name);
        assert_eq!((out.width, out.height), (600, 400));
        let v = &out.variants[0];
        assert_eq!((v.width, v.height), (320, 213));
        assert_eq!(read_jpeg(&v.bytes).width, 320);

        // The pixel limit is checked from the header, before decoding.
        let small = ImageSettings {
            max_pixels: 200_000,
            ..only.clone()
        };
        let err = run(&bytes, &small).unwrap_err().to_string();
        assert!(
            err.contains("600x400") && err.contains("megapixels"),
            "{name}: {err}"
        );
        // A truncated file fails with a reason, not retried.
        let err = run(&bytes[..bytes.len() / 2], &only).unwrap_err();
        assert!(err.is_permanent(), "{name}: {err}");
        assert!(
            err.to_string()
                .contains(&format!("cannot read the {name} image")),
            "{name}: {err}"
        );
    }
}

#[test]
fn heic_and_avif_alpha_is_kept_in_webp_and_flattened_onto_white_in_jpeg() {
    use libheif_rs::CompressionFormat;
    // Opaque-colour blue whose alpha ramps 0 -> 255 left to right, like media/alpha.png.
    let (w, h) = (400u32, 200u32);
    let ramp = |x: u32| (x * 255 / (w - 1)) as u8;
    let source = Pixels {
        width: w,
        height: h,
        channels: 4,
        data: (0..h)
            .flat_map(|_| (0..w).flat_map(move |x| [0, 0, 255, ramp(x)]))
            .collect(),
    };
    let both = settings(&[320], &[OutputFormat::Jpeg, OutputFormat::Webp]);
    for (format, premultiplied) in [
        (CompressionFormat::Av1, false),
        (CompressionFormat::Hevc, false),
        (CompressionFormat::Av1, true),
        (CompressionFormat::Hevc, true),
    ] {
        let bytes = heif_encode_alpha(&source, format, premultiplied);
        let name = match format {
            CompressionFormat::Av1 => "avif",
            _ => "heic",
        };
        let stored = libheif_rs::HeifContext::read_from_bytes(&bytes)
            .unwrap()
            .primary_image_handle()
            .unwrap()
            .is_premultiplied_alpha();
        assert_eq!(stored, premultiplied, "{name}: prem property");
        let name = if premultiplied {
            format!("{name} (premultiplied)")
        } else {
            name.to_owned()
        };
        let sniffed = sniff(&bytes, u64::MAX).unwrap();
        assert!(name.starts_with(sniffed.format.as_str()), "{name}");
        let decoded = decode(&bytes, &sniffed, u32::MAX).unwrap();
        assert_eq!(
            (decoded.width, decoded.height, decoded.channels),
            (w, h, 4),
            "{name}: decoded with its alpha"
        );
        for x in [w / 4, w / 2, 3 * w / 4, w - 1] {
            let at = (((h / 2) * w + x) * 4) as usize;
            let px = &decoded.data[at..at + 4];
            assert!(
                px[3].abs_diff(ramp(x)) <= 8,
                "{name}: alpha {} at x={x}, encoded {}",
                px[3],
                ramp(x)
            );
            // Straight colour wherever alpha leaves enough of it to tell.
            assert!(px[2] > 235, "{name}: {px:?} at x={x}");
        }

        let out = run(&bytes, &both).unwrap();
        let jpeg = read_jpeg(&out.variants[0].bytes);
        let webp = read_webp(&out.variants[1].bytes);
        let (vw, vh) = (jpeg.width, jpeg.height);
        assert_eq!((vw, vh), (320, 160), "{name}");
        assert_eq!(webp.dimensions(), (vw, vh), "{name}");
        let y = vh / 2;
        // Transparent left edge: white in JPEG, alpha ~0 in WebP.
        let left = pixel(&jpeg, 2, y);
        assert!(close(left, [255, 255, 255], 12), "{name}: JPEG {left:?}");
        assert!(
            webp.get_pixel(2, y)[3] < 12,
            "{name}: WebP {:?}",
            webp.get_pixel(2, y)
        );
        // Opaque right edge: the blue itself in both.
        let right = pixel(&jpeg, vw - 3, y);
        assert!(close(right, [0, 0, 255], 16), "{name}: JPEG {right:?}");
        let opaque = webp.get_pixel(vw - 3, y);
        assert!(opaque[3] > 243, "{name}: WebP {opaque:?}");
        assert!(
            close([opaque[0], opaque[1], opaque[2]], [0, 0, 255], 16),
            "{name}: WebP {opaque:?}"
        );
        // Half way: half transparent in WebP, blue half blended with white in JPEG.
        let half = webp.get_pixel(vw / 2, y);
        assert!(half[3].abs_diff(128) < 20, "{name}: WebP {half:?}");
        let blended = pixel(&jpeg, vw / 2, y);
        assert!(
            close(blended, [127, 127, 255], 20),
            "{name}: JPEG {blended:?}"
        );
    }
}

/// The boxes inside `buf[start..end]`: (type, start, end).
fn boxes_in(buf: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let size = match u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) {
            0 => end - at,
            1 => u64::from_be_bytes(buf[at + 8..at + 16].try_into().unwrap()) as usize,
            n => n as usize,
        };
        out.push((buf[at + 4..at + 8].try_into().unwrap(), at, at + size));
        at += size.max(8);
    }
    out
}

fn find_box(boxes: &[([u8; 4], usize, usize)], kind: &[u8; 4]) -> (usize, usize) {
    let (_, start, end) = boxes
        .iter()
        .find(|(k, ..)| k == kind)
        .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(kind)));
    (*start, *end)
}

fn read_be(buf: &[u8], at: usize, len: usize) -> u64 {
    buf[at..at + len]
        .iter()
        .fold(0, |n, b| (n << 8) | u64::from(*b))
}

fn add_be(buf: &mut [u8], at: usize, len: usize, delta: u64) {
    let value = read_be(buf, at, len) + delta;
    for i in 0..len {
        buf[at + i] = (value >> (8 * (len - 1 - i))) as u8;
    }
}

/// A HEIF file with an `irot` property (`quarter_turns` x 90 degrees anticlockwise) given to its
/// primary image, as a camera that stores the pixels as the sensor read them writes it.
fn with_irot(heif: &[u8], quarter_turns: u8) -> Vec<u8> {
    with_property(
        heif,
        &[0, 0, 0, 9, b'i', b'r', b'o', b't', quarter_turns & 3],
    )
}

/// A HEIF file whose primary image has an nclx `colr` property naming its colour space by code
/// (`primaries`, the sRGB curve, BT.601 matrix, full range), as Android phones write it.
fn with_nclx(heif: &[u8], primaries: u16) -> Vec<u8> {
    let mut colr = vec![0, 0, 0, 19];
    colr.extend_from_slice(b"colrnclx");
    for code in [primaries, 13, 6] {
        colr.extend_from_slice(&code.to_be_bytes());
    }
    colr.push(0x80);
    with_property(heif, &colr)
}

/// A HEIF file with `property` (a whole box) given to its primary image: `ipco` gains the
/// property, the primary item's `ipma` entry associates it (essential), the sizes of the boxes
/// around them grow, and `iloc`'s offsets into the `mdat` after `meta` move along.
fn with_property(heif: &[u8], property: &[u8]) -> Vec<u8> {
    let top = boxes_in(heif, 0, heif.len());
    let (meta, meta_end) = find_box(&top, b"meta");
    assert!(find_box(&top, b"mdat").0 > meta, "mdat after meta");
    let inside = boxes_in(heif, meta + 12, meta_end);
    let (pitm, _) = find_box(&inside, b"pitm");
    let primary = match heif[pitm + 8] {
        0 => read_be(heif, pitm + 12, 2),
        _ => read_be(heif, pitm + 12, 4),
    };
    let (iprp, iprp_end) = find_box(&inside, b"iprp");
    let props = boxes_in(heif, iprp + 8, iprp_end);
    let (ipco, ipco_end) = find_box(&props, b"ipco");
    let (ipma, _) = find_box(&props, b"ipma");
    assert!(ipco_end <= ipma, "ipco before ipma");
    let index = boxes_in(heif, ipco + 8, ipco_end).len() + 1;

    // The primary item's entry in ipma: where its count is and where its associations end.
    let (version, wide) = (heif[ipma + 8], heif[ipma + 11] & 1 == 1);
    let mut at = ipma + 16;
    let mut entry = None;
    for _ in 0..read_be(heif, ipma + 12, 4) {
        let id_len = if version < 1 { 2 } else { 4 };
        let id = read_be(heif, at, id_len);
        let count = usize::from(heif[at + id_len]);
        let end = at + id_len + 1 + count * if wide { 2 } else { 1 };
        if id == primary {
            entry = Some((at + id_len, end));
        }
        at = end;
    }
    let (count_at, associations_end) = entry.expect("an ipma entry for the primary item");
    let association = if wide {
        (0x8000 | index as u16).to_be_bytes().to_vec()
    } else {
        assert!(index < 128);
        vec![0x80 | index as u8]
    };
    let grown = (property.len() + association.len()) as u64;

    let mut out = heif.to_vec();
    // iloc: file offsets (construction method 0) at or past the end of meta move along.
    let (iloc, _) = find_box(&inside, b"iloc");
    let iloc_version = heif[iloc + 8];
    let (offset_size, length_size) = (
        usize::from(heif[iloc + 12] >> 4),
        usize::from(heif[iloc + 12] & 15),
    );
    let base_size = usize::from(heif[iloc + 13] >> 4);
    let index_size = if iloc_version >= 1 {
        usize::from(heif[iloc + 13] & 15)
    } else {
        0
    };
    let (items, mut at) = if iloc_version < 2 {
        (read_be(heif, iloc + 14, 2), iloc + 16)
    } else {
        (read_be(heif, iloc + 14, 4), iloc + 18)
    };
    let moved = |offset: u64| offset >= meta_end as u64;
    for _ in 0..items {
        at += if iloc_version < 2 { 2 } else { 4 };
        let method = if iloc_version >= 1 {
            at += 2;
            read_be(heif, at - 2, 2) & 15
        } else {
            0
        };
        at += 2; // data reference index
        let base_at = at;
        let base = read_be(heif, at, base_size);
        at += base_size;
        let extents = read_be(heif, at, 2);
        at += 2;
        if method == 0 && base_size > 0 && moved(base) {
            add_be(&mut out, base_at, base_size, grown);
        }
        for _ in 0..extents {
            at += index_size;
            if method == 0
                && !(base_size > 0 && moved(base))
                && moved(read_be(heif, at, offset_size))
            {
                add_be(&mut out, at, offset_size, grown);
            }
            at += offset_size + length_size;
        }
    }
    for (start, by) in [
        (meta, grown),
        (iprp, grown),
        (ipco, property.len() as u64),
        (ipma, association.len() as u64),
    ] {
        add_be(&mut out, start, 4, by);
    }
    out[count_at] += 1;
    // Inserted back to front, so the earlier position stays valid.
    out.splice(associations_end..associations_end, association);
    out.splice(ipco_end..ipco_end, property.iter().copied());
    out
}

#[test]
fn heic_tagged_display_p3_by_code_is_converted_to_srgb() {
    use libheif_rs::CompressionFormat;
    // The P3 patches' stored values, in a HEIC that names Display P3 by an nclx
    // tag (primaries 12, SMPTE EG 432-1; sRGB curve) instead of carrying a profile.
    let stored = decode_without_profile(&testdata("media/p3-patches.jpg"));
    let untagged = heif_encode(&stored, CompressionFormat::Hevc);
    let tagged = with_nclx(&untagged, 12);
    // The same tag with sRGB's own primaries (1) changes nothing.
    let srgb = with_nclx(&untagged, 1);
    let read = |bytes: &[u8]| decode(bytes, &sniff(bytes, u64::MAX).unwrap(), u32::MAX).unwrap();
    let (converted, kept, kept_srgb) = (read(&tagged), read(&untagged), read(&srgb));
    for ((x, y), rgb) in P3_PATCHES_IN_SRGB {
        let got = pixel(&converted, x, y);
        assert!(
            close(got, rgb, 6),
            "patch at ({x},{y}) is {got:?}, expected {rgb:?}"
        );
        // Untagged and sRGB-tagged pixels are kept as stored.
        let stored_px = pixel(&stored, x, y);
        for (name, image) in [("untagged", &kept), ("sRGB", &kept_srgb)] {
            assert!(
                close(pixel(image, x, y), stored_px, 6),
                "{name} patch at ({x},{y}) is {:?}, stored {stored_px:?}",
                pixel(image, x, y)
            );
        }
    }
    // The red patch is stored as 234,51,35: conversion is what makes it pure red.
    assert!(!close(pixel(&kept, 100, 100), [255, 0, 0], 6));
}

#[test]
fn heic_rotation_in_the_container_is_applied() {
    use libheif_rs::CompressionFormat;
    // The photo at 300x200 with a red 60x40 block in its stored top-left corner.
    let photo = read_jpeg(&testdata("exif-orientation/Landscape_1.jpg"));
    let mut stored =
        fleet_workers::media::image::resize(&mut Default::default(), &photo, 300, 200).unwrap();
    for y in 0..40 {
        for x in 0..60 {
            let i = (y * 300 + x) * 3;
            stored.data[i..i + 3].copy_from_slice(&[255, 0, 0]);
        }
    }
    let plain = heif_encode(&stored, CompressionFormat::Hevc);
    let count = |bytes: &[u8]| bytes.windows(4).filter(|w| w == b"irot").count();
    assert_eq!(count(&plain), 0);
    let only = settings(&[320], &[OutputFormat::Jpeg]);
    let red = |p: [u8; 3]| close(p, [255, 0, 0], 40);
    // irot turns anticlockwise; the EXIF orientation that asks for the same turn; where the
    // marker's centre (30, 20) lands, and the display size.
    for (turns, exif, marker, size) in [
        (1u8, 8u16, (20, 269), (200, 300)),
        (2, 3, (269, 179), (300, 200)),
        (3, 6, (179, 30), (200, 300)),
    ] {
        let bytes = with_irot(&plain, turns);
        assert_eq!(count(&bytes), 1);
        let sniffed = sniff(&bytes, u64::MAX).unwrap();
        assert_eq!(
            (sniffed.width, sniffed.height),
            size,
            "irot {turns}: header"
        );
        let decoded = decode(&bytes, &sniffed, u32::MAX).unwrap();
        assert_eq!((decoded.width, decoded.height), size, "irot {turns}");
        let expected = fleet_workers::media::image::apply_orientation(stored.clone(), exif);
        let diff = mean_diff(&decoded, &expected);
        assert!(
            diff < 4.0,
            "irot {turns}: differs by {diff:.1} from the stored pixels turned"
        );

        let out = run(&bytes, &only).unwrap();
        assert_eq!((out.width, out.height), size, "irot {turns}");
        let v = read_jpeg(&out.variants[0].bytes);
        assert_eq!((v.width, v.height), size, "irot {turns}: variant");
        let (w, h) = size;
        let corners = [(20, 20), (w - 21, 20), (20, h - 21), (w - 21, h - 21)];
        for (x, y) in corners {
            let near = x.abs_diff(marker.0) < 40 && y.abs_diff(marker.1) < 40;
            assert_eq!(
                red(pixel(&v, x, y)),
                near,
                "irot {turns}: ({x},{y}) is {:?}",
                pixel(&v, x, y)
            );
        }
        assert!(red(pixel(&v, marker.0, marker.1)), "irot {turns}");
    }
}
