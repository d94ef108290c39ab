//! libavfilter chains: decoded video to upright, scaled yuv420p (or RGB for
//! the poster), decoded audio to AAC-ready samples. Each chain is built from
//! the first frame it gets, as the FFmpeg CLI does, so it knows the real
//! pixel or sample format.

use ffmpeg_next::{self as ffmpeg, Frame, Rational, ffi, filter, frame};

/// A configured filter graph with one input and one output.
pub struct Chain {
    // Keeps the filter contexts below alive.
    _graph: filter::Graph,
    source: filter::Context,
    sink: filter::Context,
}

impl Chain {
    /// A video chain fed with frames like `first` (timestamps in `time_base`) running `spec`.
    pub fn video(
        first: &frame::Video,
        time_base: Rational,
        spec: &str,
    ) -> Result<Chain, ffmpeg::Error> {
        let sar = first.aspect_ratio();
        let sar = if sar.numerator() > 0 && sar.denominator() > 0 {
            sar
        } else {
            Rational::new(1, 1)
        };
        let pix_fmt: ffi::AVPixelFormat = first.format().into();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            first.width(),
            first.height(),
            pix_fmt as i32,
            time_base.numerator(),
            time_base.denominator().max(1),
            sar.numerator(),
            sar.denominator()
        );
        Chain::build("buffer", "buffersink", &args, spec)
    }

    /// An audio chain fed with frames like `first` (timestamps in `time_base`) running `spec`.
    pub fn audio(
        first: &frame::Audio,
        time_base: Rational,
        spec: &str,
    ) -> Result<Chain, ffmpeg::Error> {
        let mut args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channels={}",
            time_base.numerator(),
            time_base.denominator().max(1),
            first.rate(),
            first.format().name(),
            first.channels()
        );
        let layout = first.channel_layout().bits();
        if layout != 0 {
            args.push_str(&format!(":channel_layout=0x{layout:x}"));
        }
        Chain::build("abuffer", "abuffersink", &args, spec)
    }

    fn build(source: &str, sink: &str, args: &str, spec: &str) -> Result<Chain, ffmpeg::Error> {
        let mut graph = filter::Graph::new();
        let find = |name: &str| filter::find(name).ok_or(ffmpeg::Error::FilterNotFound);
        let source = graph.add(&find(source)?, "in", args)?;
        let sink = graph.add(&find(sink)?, "out", "")?;
        graph.output("in", 0)?.input("out", 0)?.parse(spec)?;
        graph.validate()?;
        Ok(Chain {
            _graph: graph,
            source,
            sink,
        })
    }

    /// Makes the sink hand out frames of exactly `samples` samples (AAC takes 1024).
    pub fn set_frame_size(&mut self, samples: u32) {
        self.sink.sink().set_frame_size(samples);
    }

    /// Time base of the frames coming out.
    pub fn time_base(&mut self) -> Rational {
        self.sink.sink().time_base()
    }

    /// Feeds one frame; `frame` keeps its picture (the same decoded frame feeds several chains).
    pub fn push(&mut self, frame: &Frame) -> Result<(), ffmpeg::Error> {
        // SAFETY: both pointers are live; with KEEP_REF the source takes a new reference to the
        // frame's buffers and leaves `frame` untouched, so casting away `const` is sound.
        let ret = unsafe {
            ffi::av_buffersrc_add_frame_flags(
                self.source.as_mut_ptr(),
                frame.as_ptr() as *mut ffi::AVFrame,
                ffi::AV_BUFFERSRC_FLAG_KEEP_REF as i32,
            )
        };
        if ret < 0 {
            return Err(ffmpeg::Error::from(ret));
        }
        Ok(())
    }

    /// Signals the end of the input.
    pub fn finish(&mut self) -> Result<(), ffmpeg::Error> {
        self.source.source().flush()
    }

    /// The next filtered frame, or `None` when the chain needs more input (or is done).
    pub fn pull(&mut self, frame: &mut Frame) -> Result<bool, ffmpeg::Error> {
        match self.sink.sink().frame(frame) {
            Ok(()) => Ok(true),
            Err(ffmpeg::Error::Eof) => Ok(false),
            Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// The filters that turn a decoded picture rotated `rotation` degrees clockwise upright.
pub fn upright(rotation: u32) -> &'static str {
    match rotation {
        90 => "transpose=clock,",
        180 => "hflip,vflip,",
        270 => "transpose=cclock,",
        _ => "",
    }
}

/// Video chain spec: upright, scaled to `width` x `height` (square pixels), yuv420p.
pub fn rendition_spec(rotation: u32, width: u32, height: u32) -> String {
    format!(
        "{}scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p",
        upright(rotation)
    )
}

/// Poster chain spec: upright at `width` x `height` (square pixels), 8-bit RGB.
pub fn poster_spec(rotation: u32, width: u32, height: u32) -> String {
    format!(
        "{}scale={width}:{height}:flags=bicubic,setsar=1,format=rgb24",
        upright(rotation)
    )
}

/// Audio chain spec: float planar samples at `rate` Hz, mono or stereo.
pub fn audio_spec(rate: u32, mono: bool) -> String {
    let layout = if mono { "mono" } else { "stereo" };
    format!(
        "aresample={rate},aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts={layout}"
    )
}
