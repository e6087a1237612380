//! The decoder thread: demux, decode only what can be selected, pick frames by timestamp, convert to RGB.
//!
//! Runs on a blocking thread and owns every FFmpeg object; nothing of FFmpeg crosses an `.await`. Chosen frames
//! leave through a bounded channel, so at most a few decoded pictures are alive whatever the video's length.

use std::collections::VecDeque;

use fiapx_domain::{ExtractionSpec, Selection};
use rsmpeg::{
    avcodec::{AVCodec, AVCodecContext, AVPacket},
    avformat::AVFormatContextInput,
    avutil::{AVDictionary, AVFrame},
    error::RsmpegError,
    ffi,
};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{
    convert::{Converter, Orientation, fit_within},
    error::ExtractError,
    ffmpeg_ffi::{self, av_error_text},
    input::{Guard, InputFile, open_demuxer},
    limits::Limits,
    rgb_image::RgbImage,
    selection::{Chosen, Selector, SkipPlanner, Slots, TimeBase, rescale},
};

/// Decode errors past the configured tolerance after which decoding stops at once: the input is hopeless, and
/// finishing it would only burn time. Below this, the end-of-stream verdict can still prefer "truncated".
const HOPELESS_DECODE_ERRORS: u32 = 64;

/// Packets read ahead of the decoder so a frame's rivals for its slot are known before it is decoded. B-frame
/// reordering rarely spans more than a handful of packets.
const LOOKAHEAD_PACKETS: usize = 16;

/// What the container says about the video, recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceInfo {
    /// Demuxer that recognised the content (e.g. `mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    /// Video codec (e.g. `h264`).
    pub codec: String,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Clockwise rotation applied to stand the picture upright.
    pub rotation: u32,
    /// Orientation applied, as FFmpeg's autorotate would.
    pub orientation: Orientation,
    /// Size of every output image.
    pub output_width: u32,
    /// Size of every output image.
    pub output_height: u32,
    /// Video duration in seconds, if the container announces it.
    pub duration_seconds: Option<f64>,
    /// Average frame rate, if known, as `num/den`.
    pub frame_rate: Option<String>,
    /// Input size in bytes.
    pub size_bytes: u64,
}

/// A frame chosen for outputs `outputs` (a run longer than one when the source has gaps).
#[derive(Debug)]
pub(crate) struct SelectedFrame {
    pub outputs: std::ops::Range<u64>,
    pub pts_seconds: f64,
    pub image: RgbImage,
}

/// Messages from the decoder thread, in order: one `Opened`, then frames.
#[derive(Debug)]
pub(crate) enum DecodeEvent {
    Opened { info: SourceInfo, expected_frames: u64 },
    Frame(SelectedFrame),
}

/// Counters of one decode, for logs and the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DecodeStats {
    /// Video packets demuxed.
    pub packets: u64,
    /// Packets sent with `skip_frame = nonref` because their frame could not be selected.
    pub packets_skippable: u64,
    /// Frames the decoder produced.
    pub frames_decoded: u64,
    /// Output images (counting repeats).
    pub frames_selected: u64,
    /// Seconds of video decoded, first frame to end of last.
    pub decoded_seconds: f64,
}

/// One decode of one input; `run` consumes it on a blocking thread.
pub(crate) struct Decode {
    pub input: InputFile,
    pub spec: ExtractionSpec,
    pub limits: Limits,
    pub guard: Guard,
}

struct VideoStream {
    index: i32,
    time_base: TimeBase,
    /// Added to every timestamp so the file starts at zero, like the CLI's default `-ss`-less offset.
    offset: i64,
    duration_seconds: Option<f64>,
    /// Whether `duration_seconds` is the video stream's own (exact) rather than the whole container's.
    duration_is_video_only: bool,
    frame_duration_fallback: i64,
}

impl Decode {
    pub fn run(self, tx: mpsc::Sender<DecodeEvent>) -> Result<DecodeStats, ExtractError> {
        ffmpeg_ffi::route_log_to_tracing();
        let Self {
            input,
            spec,
            limits,
            guard,
        } = self;
        let mut demuxer = open_demuxer(&input, &guard)?;
        let (stream, mut decoder, info, orientation) = open_video(&demuxer, &input, &spec, &limits)?;

        let slots = match spec.selection {
            Selection::Count { count } => {
                let seconds = stream.duration_seconds.ok_or_else(|| ExtractError::Corrupt {
                    detail: "the duration is unknown, so frames cannot be spread evenly".into(),
                })?;
                let ticks =
                    (seconds * stream.time_base.den as f64 / stream.time_base.num as f64).round() as i64;
                Slots::Count {
                    count: u64::from(count),
                    duration: ticks.max(1),
                }
            }
            selection => Slots::Rate {
                rate: selection.rate().expect("rate-based selection"),
                time_base: stream.time_base,
            },
        };
        let expected_frames = match (spec.selection, stream.duration_seconds) {
            (Selection::Count { count }, _) => u64::from(count),
            (selection, Some(seconds)) => {
                (seconds * selection.rate().expect("rate-based selection").as_f64())
                    .round()
                    .max(1.0) as u64
            }
            (_, None) => 0,
        };
        if expected_frames > limits.max_frames {
            return Err(ExtractError::TooManyFrames {
                frames: expected_frames,
                limit: limits.max_frames,
            });
        }
        tracing::debug!(
            video.codec = %info.codec, video.width = info.width, video.height = info.height,
            video.duration = ?info.duration_seconds, frames.expected = expected_frames, "opened video"
        );
        tx.blocking_send(DecodeEvent::Opened {
            info,
            expected_frames,
        })
        .map_err(|_| ExtractError::Cancelled)?;

        let mut run = Run {
            stream,
            slots: slots.clone(),
            selector: Selector::new(slots),
            planner: SkipPlanner::new(),
            converter: Converter::new(orientation, spec.max_width, spec.max_height),
            limits,
            tx,
            stats: DecodeStats::default(),
            skipping: false,
            decode_errors: 0,
            first_decode_error: None,
            content_end_seconds: 0.0,
            first_pts: None,
            end_pts: None,
        };
        let time_bases: Vec<TimeBase> = demuxer
            .streams()
            .into_iter()
            .map(|s| TimeBase {
                num: i64::from(s.time_base.num).max(1),
                den: i64::from(s.time_base.den).max(1),
            })
            .collect();
        let start_seconds = if demuxer.start_time == ffi::AV_NOPTS_VALUE {
            0.0
        } else {
            TimeBase::MICROS.seconds(demuxer.start_time)
        };
        let mut lookahead: VecDeque<AVPacket> = VecDeque::with_capacity(LOOKAHEAD_PACKETS + 1);
        loop {
            guard.check()?;
            let packet = match demuxer.read_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(e) => {
                    guard.check()?;
                    // The CLI treats a demuxer error as the end of input; a short result is caught below as truncation.
                    tracing::debug!(error = %e, "demuxer stopped early");
                    break;
                }
            };
            let ts = if packet.pts != ffi::AV_NOPTS_VALUE {
                packet.pts
            } else {
                packet.dts
            };
            if ts != ffi::AV_NOPTS_VALUE
                && let Some(tb) = time_bases.get(packet.stream_index as usize)
            {
                let end = tb.seconds(ts + packet.duration.max(0)) - start_seconds;
                run.content_end_seconds = run.content_end_seconds.max(end);
            }
            if packet.stream_index != run.stream.index {
                continue;
            }
            run.stats.packets += 1;
            if packet.pts != ffi::AV_NOPTS_VALUE {
                run.planner.observe(&run.slots, packet.pts + run.stream.offset);
            }
            lookahead.push_back(packet);
            if lookahead.len() > LOOKAHEAD_PACKETS {
                let packet = lookahead.pop_front().expect("lookahead is not empty");
                run.send(&mut decoder, Some(&packet))?;
            }
        }
        for packet in lookahead {
            guard.check()?;
            run.send(&mut decoder, Some(&packet))?;
        }
        run.send(&mut decoder, None)?;
        run.finish()
    }
}

/// Picks the video stream, checks the limits and opens its decoder.
fn open_video(
    demuxer: &AVFormatContextInput,
    input: &InputFile,
    spec: &ExtractionSpec,
    limits: &Limits,
) -> Result<(VideoStream, AVCodecContext, SourceInfo, Orientation), ExtractError> {
    // Cover art in audio files is a "video" stream of one picture: not a video.
    let stream = demuxer
        .streams()
        .into_iter()
        .filter(|s| {
            s.codecpar().codec_type == ffi::AVMediaType_AVMEDIA_TYPE_VIDEO
                && s.disposition & ffi::AV_DISPOSITION_ATTACHED_PIC as i32 == 0
        })
        // The largest picture, the first of equals: the CLI's default choice.
        .max_by_key(|s| {
            (
                i64::from(s.codecpar().width) * i64::from(s.codecpar().height),
                std::cmp::Reverse(s.index),
            )
        })
        .ok_or(ExtractError::NoVideoStream)?;
    let par = stream.codecpar();
    let codec = ffmpeg_ffi::codec_name(par.codec_id);
    let (width, height) = (par.width.max(0) as u32, par.height.max(0) as u32);
    if width == 0 || height == 0 {
        return Err(ExtractError::Corrupt {
            detail: "the video stream has no picture size".into(),
        });
    }
    if width > limits.max_width || height > limits.max_height {
        return Err(ExtractError::ResolutionTooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    let time_base = TimeBase {
        num: i64::from(stream.time_base.num),
        den: i64::from(stream.time_base.den),
    };
    if time_base.num <= 0 || time_base.den <= 0 {
        return Err(ExtractError::Corrupt {
            detail: "the video stream has no time base".into(),
        });
    }
    let offset = if demuxer.start_time == ffi::AV_NOPTS_VALUE {
        0
    } else {
        -rescale(demuxer.start_time, TimeBase::MICROS, time_base)
    };
    let duration_seconds = if stream.duration > 0 && stream.duration != ffi::AV_NOPTS_VALUE {
        Some(time_base.seconds(stream.duration))
    } else if demuxer.duration > 0 && demuxer.duration != ffi::AV_NOPTS_VALUE {
        Some(TimeBase::MICROS.seconds(demuxer.duration))
    } else {
        None
    };
    if let Some(seconds) = duration_seconds
        && seconds > limits.max_duration_seconds
    {
        return Err(ExtractError::DurationTooLong {
            seconds,
            limit_seconds: limits.max_duration_seconds,
        });
    }
    let rate = stream.avg_frame_rate;
    let frame_rate = (rate.num > 0 && rate.den > 0).then(|| format!("{}/{}", rate.num, rate.den));
    let frame_duration_fallback = if rate.num > 0 && rate.den > 0 {
        rescale(
            1,
            TimeBase {
                num: i64::from(rate.den),
                den: i64::from(rate.num),
            },
            time_base,
        )
        .max(1)
    } else {
        1
    };
    let orientation = Orientation::from_display_matrix(ffmpeg_ffi::display_matrix(&stream));
    let (upright_w, upright_h) = if orientation.swaps_axes() {
        (height, width)
    } else {
        (width, height)
    };
    let (output_width, output_height) = fit_within(upright_w, upright_h, spec.max_width, spec.max_height);

    let decoder = AVCodec::find_decoder(par.codec_id)
        .ok_or_else(|| ExtractError::UnsupportedCodec { codec: codec.clone() })?;
    let mut context = AVCodecContext::new(&decoder);
    context.apply_codecpar(&par).map_err(|e| ExtractError::Ffmpeg {
        context: "configuring the decoder",
        message: e.to_string(),
    })?;
    ffmpeg_ffi::set_pkt_timebase(&mut context, stream.time_base);
    // Frame threads with one thread per core (plus one), as the CLI's default `-threads auto`.
    // `explode` turns damage the decoder would silently conceal into errors, which are counted against
    // `max_decode_errors`.
    let options = AVDictionary::new(c"threads", c"auto", 0).set(c"err_detect", c"+explode", 0);
    context.open(Some(options)).map_err(|e| match e {
        RsmpegError::CodecOpenError(code) => ExtractError::UnsupportedCodec {
            codec: format!("{codec} ({})", av_error_text(code)),
        },
        other => ExtractError::Ffmpeg {
            context: "opening the decoder",
            message: other.to_string(),
        },
    })?;

    let info = SourceInfo {
        container: ffmpeg_ffi::container_name(demuxer),
        codec,
        width,
        height,
        rotation: orientation.degrees(),
        orientation,
        output_width,
        output_height,
        duration_seconds,
        frame_rate,
        size_bytes: input.size(),
    };
    let duration_is_video_only = stream.duration > 0 && stream.duration != ffi::AV_NOPTS_VALUE;
    let video = VideoStream {
        index: stream.index,
        time_base,
        offset,
        duration_seconds,
        duration_is_video_only,
        frame_duration_fallback,
    };
    Ok((video, context, info, orientation))
}

/// State of the decode loop.
struct Run {
    stream: VideoStream,
    slots: Slots,
    selector: Selector<(i64, AVFrame)>,
    planner: SkipPlanner,
    converter: Converter,
    limits: Limits,
    tx: mpsc::Sender<DecodeEvent>,
    stats: DecodeStats,
    skipping: bool,
    decode_errors: u32,
    first_decode_error: Option<String>,
    /// Latest end time of any packet of any stream, in seconds from the start of the file.
    content_end_seconds: f64,
    first_pts: Option<i64>,
    /// Where the CLI would put end of stream: last frame's timestamp plus its duration, via microseconds.
    end_pts: Option<i64>,
}

impl Run {
    /// Sends one packet (or the flush) and takes every frame that comes out.
    fn send(&mut self, decoder: &mut AVCodecContext, packet: Option<&AVPacket>) -> Result<(), ExtractError> {
        if let Some(packet) = packet {
            let skip = packet.pts != ffi::AV_NOPTS_VALUE
                && !self.planner.needed(&self.slots, packet.pts + self.stream.offset);
            if skip != self.skipping {
                let discard = if skip {
                    ffi::AVDiscard_AVDISCARD_NONREF
                } else {
                    ffi::AVDiscard_AVDISCARD_DEFAULT
                };
                ffmpeg_ffi::set_skip_frame(decoder, discard);
                self.skipping = skip;
            }
            self.stats.packets_skippable += u64::from(skip);
        }
        loop {
            match decoder.send_packet(packet) {
                Ok(()) => break,
                Err(RsmpegError::DecoderFullError) => self.receive(decoder)?,
                Err(RsmpegError::DecoderFlushedError) => break,
                Err(RsmpegError::SendPacketError(code)) => {
                    self.decode_error(format!("packet rejected: {}", av_error_text(code)))?;
                    break;
                }
                Err(other) => {
                    return Err(ExtractError::Ffmpeg {
                        context: "decoding",
                        message: other.to_string(),
                    });
                }
            }
        }
        self.receive(decoder)
    }

    fn receive(&mut self, decoder: &mut AVCodecContext) -> Result<(), ExtractError> {
        loop {
            match decoder.receive_frame() {
                Ok(frame) => self.on_frame(frame)?,
                Err(RsmpegError::DecoderDrainError | RsmpegError::DecoderFlushedError) => return Ok(()),
                Err(RsmpegError::ReceiveFrameError(code)) => {
                    self.decode_error(format!("frame lost: {}", av_error_text(code)))?;
                }
                Err(other) => {
                    return Err(ExtractError::Ffmpeg {
                        context: "decoding",
                        message: other.to_string(),
                    });
                }
            }
        }
    }

    fn decode_error(&mut self, detail: String) -> Result<(), ExtractError> {
        self.decode_errors += 1;
        let first = self.first_decode_error.get_or_insert(detail);
        if self.decode_errors
            > self
                .limits
                .max_decode_errors
                .saturating_add(HOPELESS_DECODE_ERRORS)
        {
            return Err(ExtractError::Corrupt {
                detail: format!("{} decode errors, the first: {first}", self.decode_errors),
            });
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: AVFrame) -> Result<(), ExtractError> {
        self.stats.frames_decoded += 1;
        if frame.decode_error_flags != 0 || frame.flags & ffi::AV_FRAME_FLAG_CORRUPT as i32 != 0 {
            self.decode_error(format!(
                "damaged picture at timestamp {}",
                frame.best_effort_timestamp
            ))?;
        }
        if frame.best_effort_timestamp == ffi::AV_NOPTS_VALUE {
            return Ok(());
        }
        let pts = frame.best_effort_timestamp + self.stream.offset;
        let tb = self.stream.time_base;
        let duration = if frame.pkt_duration > 0 {
            frame.pkt_duration
        } else {
            self.stream.frame_duration_fallback
        };
        let end_micros = rescale(pts, tb, TimeBase::MICROS) + rescale(duration, tb, TimeBase::MICROS);
        self.end_pts = Some(rescale(end_micros, TimeBase::MICROS, tb));
        self.first_pts.get_or_insert(pts);
        let seconds = tb.seconds(pts);
        if seconds > self.limits.max_duration_seconds {
            return Err(ExtractError::DurationTooLong {
                seconds,
                limit_seconds: self.limits.max_duration_seconds,
            });
        }
        if let Some(chosen) = self.selector.push(pts, (pts, frame)) {
            self.emit(chosen)?;
        }
        // Slots two behind the one being decoded can no longer gain frames.
        self.planner.forget_before(self.slots.slot(pts) - 2);
        Ok(())
    }

    fn emit(&mut self, chosen: Chosen<(i64, AVFrame)>) -> Result<(), ExtractError> {
        let Chosen {
            item: (pts, frame),
            outputs,
        } = chosen;
        if outputs.end > self.limits.max_frames {
            return Err(ExtractError::TooManyFrames {
                frames: outputs.end,
                limit: self.limits.max_frames,
            });
        }
        self.stats.frames_selected += outputs.end - outputs.start;
        let image = self.converter.convert(frame)?;
        let pts_seconds = self.stream.time_base.seconds(pts);
        self.tx
            .blocking_send(DecodeEvent::Frame(SelectedFrame {
                outputs,
                pts_seconds,
                image,
            }))
            .map_err(|_| ExtractError::Cancelled)
    }

    fn finish(mut self) -> Result<DecodeStats, ExtractError> {
        let (Some(first), Some(end)) = (self.first_pts, self.end_pts) else {
            return Err(ExtractError::Corrupt {
                detail: "no picture could be decoded".into(),
            });
        };
        if let Some(chosen) = self.selector.finish(self.slots.slot(end)) {
            self.emit(chosen)?;
        }
        let decoded = self.stream.time_base.seconds(end - first);
        self.stats.decoded_seconds = decoded;
        if let Some(expected) = self.stream.duration_seconds {
            // Containers round durations and audio may outlast video a little; a real cut loses far more.
            let tolerance = (expected * 0.02).max(1.0);
            // A container-wide duration may be set by an audio track that simply outlasts the video; then the file
            // is only cut if no stream reaches that far either.
            let content_short =
                self.stream.duration_is_video_only || self.content_end_seconds + tolerance < expected;
            if decoded + tolerance < expected && content_short {
                return Err(ExtractError::Truncated {
                    decoded_seconds: decoded,
                    expected_seconds: expected,
                });
            }
        }
        tracing::debug!(
            packets = self.stats.packets,
            packets.skippable = self.stats.packets_skippable,
            frames.decoded = self.stats.frames_decoded,
            frames.selected = self.stats.frames_selected,
            "decode finished"
        );
        Ok(self.stats)
    }
}
