//! Decoding an upload once and encoding every rendition from it: H.264
//! (libx264, CRF, yuv420p) and AAC in MP4 with the index (moov) first, the
//! picture turned upright, no metadata from the source. Also grabs the middle
//! frame for the poster.

use super::{
    Progress, VideoSettings,
    filters::{self, Chain},
    probe::{self, Probe},
    rendition::{self, Rendition},
};
use crate::media::{MediaError, image::Pixels};
use ffmpeg_next::{
    self as ffmpeg, ChannelLayout, Dictionary, Packet, Rational, codec, decoder, encoder, format,
    frame, picture,
};
use std::path::{Path, PathBuf};

/// Damaged packets tolerated (skipped) before the file is declared unreadable.
const MAX_BAD_PACKETS: u32 = 50;

/// AAC sample rates kept as they are; others are resampled to 48 kHz.
const AAC_RATES: [u32; 8] = [
    48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 11_025, 8_000,
];

/// One finished MP4 rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionFile {
    /// Its name and size.
    pub rendition: Rendition,
    /// Where it was written.
    pub path: PathBuf,
}

/// What [`transcode`] made.
#[derive(Debug, Clone)]
pub struct Transcoded {
    /// What the upload holds.
    pub probe: Probe,
    /// Upright display width of the source.
    pub width: u32,
    /// Upright display height of the source.
    pub height: u32,
    /// The MP4 renditions, smallest first.
    pub renditions: Vec<RenditionFile>,
    /// The middle frame, upright RGB, at most `poster_size` on its long side.
    pub poster: Pixels,
    /// Video frames decoded.
    pub frames: u64,
}

/// Transcodes the video at `input` into `dir/{rendition}.mp4` files, reporting frames done to
/// `progress` and stopping when it is cancelled. `poster_size` caps the poster's long side.
pub fn transcode(
    input: &Path,
    dir: &Path,
    settings: &VideoSettings,
    poster_size: u32,
    progress: &Progress,
) -> Result<Transcoded, MediaError> {
    let mut ictx = probe::open(input)?;
    let probe = probe::inspect(&ictx)?;
    probe.check(settings)?;
    let expected = probe.expected_frames();
    progress.set(0, expected);

    let stream = ictx
        .stream(probe.video.index)
        .ok_or_else(|| MediaError::Processing("the video stream vanished".to_owned()))?;
    let time_base = stream.time_base();
    let start = stream.start_time();
    let frame_rate = probe.video.frame_rate;
    let (width, height) = display_size(&probe, stream.parameters());
    let mut decoder = video_decoder(&stream, settings.threads)?;
    let mut audio = match &probe.audio {
        Some(a) => Some(AudioTrack::open(&ictx, a.index, settings)?),
        None => None,
    };
    let mut outputs = rendition::renditions(width, height, &settings.renditions)
        .into_iter()
        .map(|r| Output::create(dir, r, time_base, frame_rate, audio.as_ref(), settings))
        .collect::<Result<Vec<_>, _>>()?;

    let (poster_w, poster_h) = crate::media::image::fit(width, height, poster_size);
    let mut state = VideoState {
        rotation: probe.video.rotation,
        time_base,
        start: if start == ffmpeg::ffi::AV_NOPTS_VALUE {
            0
        } else {
            start
        },
        max_ms: settings.max_secs.saturating_mul(1000).saturating_add(1000),
        middle_ms: probe.duration_ms / 2,
        middle_frame: expected / 2,
        frames: 0,
        expected,
        poster: None,
        last: None,
        poster_size: (poster_w, poster_h),
    };

    let mut bad = 0u32;
    loop {
        if progress.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        let mut packet = Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                bad += 1;
                if bad > MAX_BAD_PACKETS {
                    return Err(damaged(state.frames));
                }
                continue;
            }
            Err(e) => {
                return Err(MediaError::InvalidVideo(format!(
                    "reading the file failed after {} frames: {e}",
                    state.frames
                )));
            }
        }
        if packet.stream() == probe.video.index {
            if decoder.send_packet(&packet).is_err() {
                bad += 1;
                if bad > MAX_BAD_PACKETS {
                    return Err(damaged(state.frames));
                }
                continue;
            }
            state.drain(&mut decoder, &mut outputs, progress)?;
        } else if let Some(track) = audio.as_mut().filter(|t| t.index == packet.stream()) {
            track.decode(&packet, &mut outputs)?;
        }
    }

    // Flush decoders, filters and encoders in order.
    decoder
        .send_eof()
        .map_err(processing("flushing the video decoder"))?;
    state.drain(&mut decoder, &mut outputs, progress)?;
    if let Some(track) = audio.as_mut() {
        track.finish(&mut outputs)?;
    }
    for output in &mut outputs {
        output.finish()?;
    }

    if state.frames == 0 {
        return Err(MediaError::InvalidVideo(
            "no frame of the video could be decoded".to_owned(),
        ));
    }
    if let Some(stored) = probe.video.frames
        && state.frames * 10 < stored * 9
    {
        return Err(MediaError::InvalidVideo(format!(
            "the video is truncated or damaged: only {} of its {stored} frames could be decoded",
            state.frames
        )));
    }
    progress.set(state.frames, state.frames);
    let poster_frame = match (state.poster.take(), state.last.take()) {
        (Some(p), _) => p,
        (None, Some(last)) => state.poster_pixels(&last)?,
        (None, None) => {
            return Err(MediaError::InvalidVideo(
                "no frame to make a poster from".to_owned(),
            ));
        }
    };
    let renditions = outputs
        .into_iter()
        .map(|o| RenditionFile {
            rendition: o.rendition,
            path: o.path,
        })
        .collect();
    Ok(Transcoded {
        probe,
        width,
        height,
        renditions,
        poster: poster_frame,
        frames: state.frames,
    })
}

fn damaged(frames: u64) -> MediaError {
    MediaError::InvalidVideo(format!(
        "the file is damaged: too many unreadable packets (after {frames} good frames)"
    ))
}

/// An FFmpeg failure on input that probed fine: ours, retried.
fn processing(what: &'static str) -> impl Fn(ffmpeg::Error) -> MediaError {
    move |e| MediaError::Processing(format!("{what}: {e}"))
}

/// The upright size in square pixels: coded size stretched by the sample aspect ratio, then rotated.
fn display_size(probe: &Probe, params: codec::Parameters) -> (u32, u32) {
    // SAFETY: `params` points at the stream's live AVCodecParameters.
    let sar = unsafe { (*params.as_ptr()).sample_aspect_ratio };
    let (mut w, h) = (probe.video.width, probe.video.height);
    if sar.num > 0 && sar.den > 0 && sar.num != sar.den {
        let stretched = (f64::from(w) * f64::from(sar.num) / f64::from(sar.den)).round();
        w = (stretched as u32).clamp(2, probe.video.width.saturating_mul(4));
    }
    if probe.video.rotation % 180 == 90 {
        (h, w)
    } else {
        (w, h)
    }
}

fn threading(threads: u32) -> codec::threading::Config {
    let mut config = codec::threading::Config::count(threads as usize);
    config.kind = codec::threading::Type::Frame;
    config
}

fn video_decoder(
    stream: &format::stream::Stream,
    threads: u32,
) -> Result<decoder::Video, MediaError> {
    let mut context = codec::context::Context::from_parameters(stream.parameters())
        .map_err(processing("reading the video parameters"))?;
    context.set_threading(threading(threads));
    let mut decoder = context.decoder().video().map_err(|e| {
        MediaError::InvalidVideo(format!("the video stream cannot be decoded: {e}"))
    })?;
    decoder.set_packet_time_base(stream.time_base());
    Ok(decoder)
}

/// Decoding state of the video stream.
struct VideoState {
    rotation: u32,
    time_base: Rational,
    start: i64,
    max_ms: u64,
    middle_ms: i64,
    middle_frame: u64,
    frames: u64,
    expected: u64,
    poster: Option<Pixels>,
    last: Option<frame::Video>,
    poster_size: (u32, u32),
}

impl VideoState {
    /// Milliseconds from the start of the stream to `pts`.
    fn ms(&self, pts: i64) -> i64 {
        let (num, den) = (
            i128::from(self.time_base.numerator()),
            i128::from(self.time_base.denominator()).max(1),
        );
        let ms = (i128::from(pts) - i128::from(self.start)) * 1000 * num / den;
        ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Takes every frame the decoder has ready through the renditions.
    fn drain(
        &mut self,
        decoder: &mut decoder::Video,
        outputs: &mut [Output],
        progress: &Progress,
    ) -> Result<(), MediaError> {
        let mut decoded = frame::Video::empty();
        while decoder.receive_frame(&mut decoded).is_ok() {
            let pts = decoded.timestamp();
            decoded.set_pts(pts);
            decoded.set_kind(picture::Type::None);
            self.frames += 1;
            progress.set(self.frames, self.expected.max(self.frames));
            let ms = pts.map(|p| self.ms(p));
            if let Some(ms) = ms
                && ms > 0
                && ms as u64 > self.max_ms
            {
                return Err(MediaError::TooLarge(format!(
                    "the video runs past {} s, longer than its header said; the limit is {} s",
                    ms / 1000,
                    self.max_ms / 1000 - 1
                )));
            }
            if self.poster.is_none()
                && (self.frames > self.middle_frame || ms.is_some_and(|ms| ms >= self.middle_ms))
            {
                self.poster = Some(self.poster_pixels(&decoded)?);
            }
            if self.poster.is_none() {
                self.last = Some(decoded.clone());
            }
            for output in outputs.iter_mut() {
                output.encode_frame(&decoded, self.rotation)?;
            }
        }
        Ok(())
    }

    /// `frame` upright as RGB, scaled to the poster size.
    fn poster_pixels(&self, frame: &frame::Video) -> Result<Pixels, MediaError> {
        let (w, h) = self.poster_size;
        let spec = filters::poster_spec(self.rotation, w, h);
        let mut chain = Chain::video(frame, self.time_base, &spec)
            .map_err(processing("setting up the poster filter"))?;
        chain.push(frame).map_err(processing("poster filter"))?;
        chain.finish().map_err(processing("poster filter"))?;
        let mut rgb = frame::Video::empty();
        if !chain.pull(&mut rgb).map_err(processing("poster filter"))? {
            return Err(MediaError::Processing(
                "the poster filter made no frame".to_owned(),
            ));
        }
        let (width, height) = (rgb.width(), rgb.height());
        let stride = rgb.stride(0);
        let row = width as usize * 3;
        let plane = rgb.data(0);
        let mut data = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            let line = plane
                .get(y * stride..y * stride + row)
                .ok_or_else(|| MediaError::Processing("short poster frame".to_owned()))?;
            data.extend_from_slice(line);
        }
        Ok(Pixels {
            width,
            height,
            channels: 3,
            data,
        })
    }
}

/// One MP4 being written.
struct Output {
    rendition: Rendition,
    path: PathBuf,
    octx: format::context::Output,
    encoder: encoder::video::Encoder,
    encoder_tb: Rational,
    chain: Option<Chain>,
    video_tb: Rational,
    audio_tb: Option<Rational>,
    /// Time base of the frames the chain hands out (known once it exists).
    chain_tb: Rational,
}

impl Output {
    fn create(
        dir: &Path,
        rendition: Rendition,
        time_base: Rational,
        frame_rate: Option<Rational>,
        audio: Option<&AudioTrack>,
        settings: &VideoSettings,
    ) -> Result<Output, MediaError> {
        let path = dir.join(format!("{}.mp4", rendition.name));
        let mut octx = format::output_as(&path, "mp4").map_err(processing("creating the MP4"))?;
        let x264 = encoder::find_by_name("libx264").ok_or_else(|| {
            MediaError::Processing("this FFmpeg build has no libx264 encoder".to_owned())
        })?;
        let mut enc = codec::context::Context::new_with_codec(x264)
            .encoder()
            .video()
            .map_err(processing("creating the H.264 encoder"))?;
        enc.set_width(rendition.width);
        enc.set_height(rendition.height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_aspect_ratio(Rational::new(1, 1));
        enc.set_time_base(time_base);
        enc.set_frame_rate(frame_rate);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut options = Dictionary::new();
        options.set("preset", &settings.preset);
        options.set("crf", &settings.crf.to_string());
        options.set("threads", &thread_option(settings.threads));
        let encoder = enc
            .open_with(options)
            .map_err(processing("opening the H.264 encoder"))?;
        let mut video = octx
            .add_stream(x264)
            .map_err(processing("adding the video track"))?;
        video.set_parameters(&encoder);
        video.set_time_base(time_base);
        if let Some(track) = audio {
            let mut stream = octx
                .add_stream(track.codec)
                .map_err(processing("adding the audio track"))?;
            stream.set_parameters(&track.encoder);
            stream.set_time_base(track.encoder_tb);
        }
        let mut options = Dictionary::new();
        options.set("movflags", "+faststart");
        octx.write_header_with(options)
            .map_err(processing("writing the MP4 header"))?;
        let tb = |i: usize| octx.stream(i).map(|s| s.time_base());
        let video_tb = tb(0).unwrap_or(time_base);
        let audio_tb = audio.and_then(|_| tb(1));
        Ok(Output {
            rendition,
            path,
            octx,
            encoder,
            encoder_tb: time_base,
            chain: None,
            video_tb,
            audio_tb,
            chain_tb: time_base,
        })
    }

    /// Filters one decoded frame to this rendition's size and encodes it.
    fn encode_frame(&mut self, frame: &frame::Video, rotation: u32) -> Result<(), MediaError> {
        let chain = match &mut self.chain {
            Some(chain) => chain,
            None => {
                let spec =
                    filters::rendition_spec(rotation, self.rendition.width, self.rendition.height);
                let mut chain = Chain::video(frame, self.encoder_tb, &spec)
                    .map_err(processing("setting up the video filter"))?;
                self.chain_tb = chain.time_base();
                self.chain.insert(chain)
            }
        };
        chain.push(frame).map_err(processing("video filter"))?;
        self.pull_and_encode()
    }

    fn pull_and_encode(&mut self) -> Result<(), MediaError> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        let mut filtered = frame::Video::empty();
        while chain
            .pull(&mut filtered)
            .map_err(processing("video filter"))?
        {
            if self.chain_tb != self.encoder_tb
                && let Some(pts) = filtered.pts()
            {
                filtered.set_pts(Some(rescale(pts, self.chain_tb, self.encoder_tb)));
            }
            filtered.set_kind(picture::Type::None);
            self.encoder
                .send_frame(&filtered)
                .map_err(processing("H.264 encoder"))?;
            write_packets(
                &mut self.encoder,
                &mut self.octx,
                0,
                self.encoder_tb,
                self.video_tb,
            )?;
        }
        Ok(())
    }

    /// Flushes the filter and encoder and writes the index.
    fn finish(&mut self) -> Result<(), MediaError> {
        if let Some(chain) = self.chain.as_mut() {
            chain.finish().map_err(processing("video filter"))?;
        }
        self.pull_and_encode()?;
        self.encoder
            .send_eof()
            .map_err(processing("H.264 encoder"))?;
        write_packets(
            &mut self.encoder,
            &mut self.octx,
            0,
            self.encoder_tb,
            self.video_tb,
        )?;
        self.octx
            .write_trailer()
            .map_err(processing("writing the MP4 index"))
    }
}

fn thread_option(threads: u32) -> String {
    if threads == 0 {
        "auto".to_owned()
    } else {
        threads.to_string()
    }
}

fn rescale(pts: i64, from: Rational, to: Rational) -> i64 {
    use ffmpeg::Rescale;
    pts.rescale(from, to)
}

/// Moves every packet the encoder has ready into track `index` of `octx`.
fn write_packets(
    encoder: &mut encoder::Encoder,
    octx: &mut format::context::Output,
    index: usize,
    from: Rational,
    to: Rational,
) -> Result<(), MediaError> {
    let mut packet = Packet::empty();
    while encoder.receive_packet(&mut packet).is_ok() {
        packet.set_stream(index);
        packet.rescale_ts(from, to);
        packet
            .write_interleaved(octx)
            .map_err(processing("writing the MP4"))?;
    }
    Ok(())
}

/// The audio stream: decoded once, encoded once to AAC, written to every rendition.
struct AudioTrack {
    index: usize,
    decoder: decoder::Audio,
    input_tb: Rational,
    chain: Option<Chain>,
    chain_tb: Rational,
    codec: ffmpeg::Codec,
    encoder: encoder::audio::Encoder,
    encoder_tb: Rational,
    rate: u32,
    mono: bool,
    bad: u32,
}

impl AudioTrack {
    fn open(
        ictx: &format::context::Input,
        index: usize,
        settings: &VideoSettings,
    ) -> Result<AudioTrack, MediaError> {
        let stream = ictx
            .stream(index)
            .ok_or_else(|| MediaError::Processing("the audio stream vanished".to_owned()))?;
        let context = codec::context::Context::from_parameters(stream.parameters())
            .map_err(processing("reading the audio parameters"))?;
        let mut decoder = context.decoder().audio().map_err(|e| {
            MediaError::InvalidVideo(format!("the audio stream cannot be decoded: {e}"))
        })?;
        decoder.set_packet_time_base(stream.time_base());
        let rate = if AAC_RATES.contains(&decoder.rate()) {
            decoder.rate()
        } else {
            48_000
        };
        let mono = decoder.channels() == 1;
        let codec = encoder::find(codec::Id::AAC).ok_or_else(|| {
            MediaError::Processing("this FFmpeg build has no AAC encoder".to_owned())
        })?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(processing("creating the AAC encoder"))?;
        let layout = if mono {
            ChannelLayout::MONO
        } else {
            ChannelLayout::STEREO
        };
        enc.set_rate(rate as i32);
        enc.set_channel_layout(layout);
        enc.set_channels(layout.channels());
        enc.set_format(format::Sample::F32(format::sample::Type::Planar));
        enc.set_bit_rate(settings.audio_kbps as usize * 1000);
        enc.set_time_base(Rational::new(1, rate as i32));
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let encoder = enc
            .open_as(codec)
            .map_err(processing("opening the AAC encoder"))?;
        Ok(AudioTrack {
            index,
            decoder,
            input_tb: stream.time_base(),
            chain: None,
            chain_tb: Rational::new(1, rate as i32),
            codec,
            encoder,
            encoder_tb: Rational::new(1, rate as i32),
            rate,
            mono,
            bad: 0,
        })
    }

    fn decode(&mut self, packet: &Packet, outputs: &mut [Output]) -> Result<(), MediaError> {
        if self.decoder.send_packet(packet).is_err() {
            // A damaged audio packet is skipped (a short silence), as players do.
            self.bad += 1;
            if self.bad > MAX_BAD_PACKETS {
                return Err(MediaError::InvalidVideo(
                    "the audio track is damaged: too many unreadable packets".to_owned(),
                ));
            }
            return Ok(());
        }
        self.drain(outputs)
    }

    fn drain(&mut self, outputs: &mut [Output]) -> Result<(), MediaError> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let pts = decoded.timestamp();
            decoded.set_pts(pts);
            let chain = match &mut self.chain {
                Some(chain) => chain,
                None => {
                    let spec = filters::audio_spec(self.rate, self.mono);
                    let mut chain = Chain::audio(&decoded, self.input_tb, &spec)
                        .map_err(processing("setting up the audio filter"))?;
                    chain.set_frame_size(self.encoder.frame_size().max(1));
                    self.chain_tb = chain.time_base();
                    self.chain.insert(chain)
                }
            };
            chain.push(&decoded).map_err(processing("audio filter"))?;
            self.encode(outputs)?;
        }
        Ok(())
    }

    fn encode(&mut self, outputs: &mut [Output]) -> Result<(), MediaError> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        let mut filtered = frame::Audio::empty();
        while chain
            .pull(&mut filtered)
            .map_err(processing("audio filter"))?
        {
            if self.chain_tb != self.encoder_tb
                && let Some(pts) = filtered.pts()
            {
                filtered.set_pts(Some(rescale(pts, self.chain_tb, self.encoder_tb)));
            }
            self.encoder
                .send_frame(&filtered)
                .map_err(processing("AAC encoder"))?;
            write_audio(&mut self.encoder, self.encoder_tb, outputs)?;
        }
        Ok(())
    }

    fn finish(&mut self, outputs: &mut [Output]) -> Result<(), MediaError> {
        self.decoder
            .send_eof()
            .map_err(processing("flushing the audio decoder"))?;
        self.drain(outputs)?;
        if let Some(chain) = self.chain.as_mut() {
            chain.finish().map_err(processing("audio filter"))?;
        }
        self.encode(outputs)?;
        self.encoder.send_eof().map_err(processing("AAC encoder"))?;
        write_audio(&mut self.encoder, self.encoder_tb, outputs)
    }
}

/// Copies every AAC packet `encoder` has ready into each rendition's audio track.
fn write_audio(
    encoder: &mut encoder::Encoder,
    encoder_tb: Rational,
    outputs: &mut [Output],
) -> Result<(), MediaError> {
    let mut packet = Packet::empty();
    while encoder.receive_packet(&mut packet).is_ok() {
        for output in outputs.iter_mut() {
            let Some(tb) = output.audio_tb else { continue };
            let mut copy = packet.clone();
            copy.set_stream(1);
            copy.rescale_ts(encoder_tb, tb);
            copy.write_interleaved(&mut output.octx)
                .map_err(processing("writing the MP4"))?;
        }
    }
    Ok(())
}
