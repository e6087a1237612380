//! The decoder thread: demux, decode only what can be selected, pick frames by timestamp, convert to RGB.
//!
//! Runs on a blocking thread and owns every FFmpeg object; nothing of FFmpeg crosses an `.await`. Chosen frames
//! leave through a bounded channel, so at most a few decoded pictures are alive whatever the video's length.

use std::collections::VecDeque;

use fiapx_domain::{ExtractionSpec, Position, Selection};
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
    scene::SceneCut,
    selection::{Chosen, Selector, SkipPlanner, Slots, TimeBase, rescale},
};

/// Decode errors past the configured tolerance after which decoding stops at once: the input is hopeless, and
/// finishing it would only burn time. Below this, the end-of-stream verdict can still prefer "truncated".
const HOPELESS_DECODE_ERRORS: u32 = 64;

/// Packets read ahead of the decoder so a frame's rivals for its slot are known before it is decoded. B-frame
/// reordering rarely spans more than a handful of packets.
const LOOKAHEAD_PACKETS: usize = 16;

/// The least stretch of video a seek must skip to be worth it, in seconds: a seek throws away the decoder's
/// pipeline and the read-ahead, so below this decoding through is as fast.
const MIN_SEEK_GAP_SECONDS: f64 = 2.0;

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
    /// Packets not decoded in full because their frame could not be selected: sent with `skip_frame = nonref`, or
    /// (keyframes only) not sent at all.
    pub packets_skippable: u64,
    /// Frames the decoder produced.
    pub frames_decoded: u64,
    /// Output images (counting repeats).
    pub frames_selected: u64,
    /// Seconds of video decoded, first frame to end of last.
    pub decoded_seconds: f64,
    /// Seeks past stretches whose frames could not be selected (sparse selections on indexed containers).
    pub seeks: u64,
}

/// One decode of one input; `run` consumes it on a blocking thread.
pub(crate) struct Decode {
    pub input: InputFile,
    pub spec: ExtractionSpec,
    pub limits: Limits,
    pub guard: Guard,
    /// Seek past stretches of the video no selected frame can come from (see [`Run::seek_plan`]); off, every
    /// packet is read and every reference frame decoded. The choice of frames is the same either way.
    pub seek: bool,
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
    /// Frames a decoder may hold back for reordering (B-frames): how far a keyframe's presentation time may lie
    /// past the decode time an index may give for it.
    video_delay: i64,
}

impl Decode {
    pub fn run(self, tx: mpsc::Sender<DecodeEvent>) -> Result<DecodeStats, ExtractError> {
        ffmpeg_ffi::route_log_to_tracing();
        let Self {
            input,
            spec,
            limits,
            guard,
            seek,
        } = self;
        let mut demuxer = open_demuxer(&input, &guard)?;
        let (stream, mut decoder, info, orientation) = open_video(&demuxer, &input, &spec, &limits)?;

        let duration_ticks = |why: &str| {
            let seconds = stream.duration_seconds.ok_or_else(|| ExtractError::Corrupt {
                detail: format!("the duration is unknown, so {why}"),
            })?;
            Ok::<_, ExtractError>(
                ((seconds * stream.time_base.den as f64 / stream.time_base.num as f64).round() as i64).max(1),
            )
        };
        let picker = match &spec.selection {
            Selection::Count { count } => Picker::slots(Slots::Count {
                count: u64::from(*count),
                duration: duration_ticks("frames cannot be spread evenly")?,
            }),
            Selection::At { at } => Picker::slots(Slots::Points {
                points: resolve_positions(at, &stream, duration_ticks)?,
            }),
            Selection::Keyframes => Picker::Each {
                keyframes_only: true,
                scene: None,
                next_output: 0,
                sent_keys: VecDeque::new(),
            },
            Selection::Scene { threshold, min_gap } => Picker::Each {
                keyframes_only: false,
                scene: Some(SceneCut::new(
                    threshold.as_f64(),
                    rescale(
                        i64::from(min_gap.num),
                        TimeBase {
                            num: 1,
                            den: i64::from(min_gap.den.max(1)),
                        },
                        stream.time_base,
                    ),
                )),
                next_output: 0,
                sent_keys: VecDeque::new(),
            },
            selection => Picker::slots(Slots::Rate {
                rate: selection.rate().expect("rate-based selection"),
                time_base: stream.time_base,
            }),
        };
        let expected_frames = match (
            spec.selection.fixed_count(),
            spec.selection.rate(),
            stream.duration_seconds,
        ) {
            (Some(count), _, _) => count,
            (None, Some(rate), Some(seconds)) => (seconds * rate.as_f64()).round().max(1.0) as u64,
            // Scene changes and keyframes are known only once decoded.
            _ => 0,
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

        let seek = seek && matches!(picker, Picker::Slots { .. });
        let mut run = Run {
            stream,
            picker,
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
            seeking: Seeking {
                enabled: seek,
                ..Seeking::default()
            },
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
            if let Some(keyframe) = run.seek_plan(&demuxer) {
                run.seek(&mut demuxer, &mut decoder, &mut lookahead, keyframe)?;
            }
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
            if !run.landed(&mut demuxer, &mut decoder, &mut lookahead, &packet)? {
                continue;
            }
            run.stats.packets += 1;
            if packet.pts != ffi::AV_NOPTS_VALUE && packet.dts != ffi::AV_NOPTS_VALUE {
                run.seeking.reorder_lead = run.seeking.reorder_lead.max(packet.pts - packet.dts);
            }
            if packet.pts != ffi::AV_NOPTS_VALUE {
                let pts = packet.pts + run.stream.offset;
                if let Picker::Slots { slots, planner, .. } = &mut run.picker {
                    planner.observe(slots, pts);
                }
                run.seeking.read_up_to = Some(run.seeking.read_up_to.map_or(pts, |read| read.max(pts)));
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
        video_delay: i64::from(par.video_delay.max(0)),
    };
    Ok((video, context, info, orientation))
}

/// The times of an `at` selection in ticks from the start of the file, sorted: `first` before every frame, `last`
/// after every frame, a share of the duration rounded to the nearest tick. A time past the end is an error.
fn resolve_positions(
    at: &[Position],
    stream: &VideoStream,
    duration_ticks: impl Fn(&str) -> Result<i64, ExtractError>,
) -> Result<Vec<i64>, ExtractError> {
    let mut points = at
        .iter()
        .map(|position| match *position {
            Position::First => Ok(i64::MIN),
            Position::Last => Ok(i64::MAX),
            Position::Time { micros } => {
                let ticks = rescale(
                    i64::try_from(micros).unwrap_or(i64::MAX / 2),
                    TimeBase::MICROS,
                    stream.time_base,
                );
                match stream.duration_seconds {
                    Some(seconds) if micros as f64 / 1e6 > seconds => Err(ExtractError::PositionPastEnd {
                        position: position.to_string(),
                        duration_seconds: seconds,
                    }),
                    _ => Ok(ticks),
                }
            }
            Position::Percent(share) => {
                let duration = duration_ticks("a percentage of it cannot be placed")?;
                let num = i128::from(duration) * i128::from(share.num);
                let den = i128::from(share.den.max(1)) * 100;
                Ok(((num + den / 2) / den) as i64)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    points.sort_unstable();
    Ok(points)
}

/// How decoded frames become outputs.
enum Picker {
    /// By slot (rates, `count`, `at`): the `fps` filter's rule, with skipping and seeking.
    Slots {
        slots: Slots,
        selector: Selector<(i64, AVFrame)>,
        planner: SkipPlanner,
    },
    /// Frame by frame (keyframes, scene changes): each frame the decoder gives is one output or none.
    Each {
        /// Only keyframes are sent to the decoder.
        keyframes_only: bool,
        /// Scene detection; without it every frame decoded is kept.
        scene: Option<SceneCut>,
        next_output: u64,
        /// Keyframes only: the times of the keyframe packets sent and not yet out of the decoder.
        sent_keys: VecDeque<i64>,
    },
}

impl Picker {
    fn slots(slots: Slots) -> Self {
        Self::Slots {
            selector: Selector::new(slots.clone()),
            slots,
            planner: SkipPlanner::new(),
        }
    }

    /// Takes a decoded frame; returns what it fills, if anything (for slots, the frame before it).
    fn push(&mut self, pts: i64, frame: AVFrame) -> Option<Chosen<(i64, AVFrame)>> {
        match self {
            Self::Slots {
                slots,
                selector,
                planner,
            } => {
                let chosen = selector.push(pts, (pts, frame));
                // Slots two behind the one being decoded can no longer gain frames.
                planner.forget_before(slots.slot(pts) - 2);
                chosen
            }
            Self::Each {
                scene, next_output, ..
            } => {
                if let Some(scene) = scene
                    && !scene.keep(&frame, pts)
                {
                    return None;
                }
                *next_output += 1;
                Some(Chosen {
                    item: (pts, frame),
                    outputs: *next_output - 1..*next_output,
                })
            }
        }
    }

    /// Ends the stream at `end` (the last frame's end time): the held-back frame, for slots.
    fn finish(&mut self, end: i64) -> Option<Chosen<(i64, AVFrame)>> {
        match self {
            Self::Slots { slots, selector, .. } => selector.finish(slots.slot(end)),
            Self::Each { .. } => None,
        }
    }

    /// Whether a packet presented at `pts` (offset applied) can give a selected frame; `key`: it is a keyframe.
    fn needed(&self, pts: Option<i64>, key: bool) -> Packet {
        match self {
            Self::Slots { slots, planner, .. } => match pts {
                Some(pts) if !planner.needed(slots, pts) => Packet::Skippable,
                _ => Packet::Decode,
            },
            Self::Each {
                keyframes_only: true, ..
            } if !key => Packet::Drop,
            Self::Each { .. } => Packet::Decode,
        }
    }
}

/// What to do with a packet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Packet {
    /// Decode it.
    Decode,
    /// Decode it only if other frames refer to it (`skip_frame = nonref`).
    Skippable,
    /// Do not send it (keyframes only).
    Drop,
}

/// State of the decode loop.
struct Run {
    stream: VideoStream,
    picker: Picker,
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
    seeking: Seeking,
}

/// The state of seeking past frames that cannot be selected.
///
/// Output `n` is the last frame whose slot is at most `n` ([`Slots`]). Once a frame of slot `s` is decoded, every
/// later frame before the first timestamp of slot `s + 1` (the boundary) can only be overtaken by the last of
/// them. So when the index has a keyframe before the boundary and past everything read so far, the demuxer jumps
/// to it and decoding resumes there: what is skipped (packets read ahead, frames inside the decoder, packets not
/// read) all lies inside slot `s` and before that keyframe, so the frame chosen for slot `s` and every later one
/// are the ones decoding through would choose, decoded from the same keyframe. When no slot is left (a `count`
/// filled, or the end of a rate-based selection), the jump is to the last keyframe, whose stretch gives the last
/// frame and the end of the stream. Timestamps are the decoder's output (`best_effort_timestamp`), as without seeks.
#[derive(Debug, Default)]
struct Seeking {
    enabled: bool,
    /// The latest presentation timestamp (offset applied) of a video packet read so far.
    read_up_to: Option<i64>,
    /// The last frame handed to the selector.
    last_pushed: Option<i64>,
    /// After a seek: the boundary the landing keyframe must come before, until the first keyframe is read.
    landing_before: Option<i64>,
    /// After a seek: frames at or before this (already selected from, or leading pictures of the landing
    /// keyframe's open GOP) are dropped.
    drop_up_to: Option<i64>,
    /// The last frame a plan was made after: the plan cannot change until another frame comes (reading on only
    /// narrows the gap).
    planned_after: Option<i64>,
    /// The timestamp the last seek asked for: asking again would land on the same keyframe.
    sought: Option<i64>,
    /// The largest lead of a packet's presentation time over its decode time seen so far: an index of decode
    /// times (MP4) puts a keyframe up to that much before it is shown.
    reorder_lead: i64,
}

impl Run {
    /// Where to seek now, if anywhere: a timestamp before the next slot boundary whose keyframe is far enough past
    /// what was read (see [`Seeking`]).
    fn seek_plan(&mut self, demuxer: &AVFormatContextInput) -> Option<i64> {
        let seeking = &mut self.seeking;
        if !seeking.enabled
            || seeking.landing_before.is_some()
            || seeking.planned_after == seeking.last_pushed
        {
            return None;
        }
        seeking.planned_after = seeking.last_pushed;
        let (last, read) = (seeking.last_pushed?, seeking.read_up_to?);
        let boundary = self.boundary_after(last);
        let wanted = boundary.map_or(i64::MAX / 4, |b| b - 1 - self.index_margin()) - self.stream.offset;
        let streams = demuxer.streams();
        let stream = streams.into_iter().find(|s| s.index == self.stream.index)?;
        let min_gap = self.ticks(MIN_SEEK_GAP_SECONDS);
        let (keyframe, target) = match ffmpeg_ffi::indexed_keyframe_at_or_before(&stream, wanted) {
            // An index reaching past what was read knows the keyframe. The demuxer is asked for the last tick before
            // the next keyframe rather than for the entry's own timestamp: MP4 shifts the asked time back by its
            // edit list when it seeks, and the entry's timestamp would land one keyframe earlier.
            Some(index) if index.last + self.stream.offset > read => {
                let keyframe = index.at_or_before?;
                (keyframe, index.next.map_or(wanted.max(keyframe), |next| next - 1))
            }
            // Without one (yet), a demuxer that seeks by its own means finds the keyframe itself (where it lands is
            // checked when the first packet comes, see `landed`); FFmpeg's generic search is not used.
            // The gap is judged against the end of the video when the wanted time lies past it (the last stretch).
            _ if ffmpeg_ffi::demuxer_seeks_itself(demuxer) => {
                let end = self
                    .stream
                    .duration_seconds
                    .map_or(i64::MAX, |seconds| self.ticks(seconds) - self.stream.offset);
                (wanted.min(end), wanted)
            }
            _ => return None,
        };
        // One seek per boundary: asking again would land on the same keyframe.
        if keyframe + self.stream.offset - read < min_gap || self.seeking.sought == Some(wanted) {
            return None;
        }
        self.seeking.sought = Some(wanted);
        Some(target)
    }

    /// How far before a wanted presentation time to look up the index: an index may give a keyframe's decode
    /// time, which comes before its presentation time by up to the reorder delay (the codec's, or the largest lead
    /// seen in the packets read, whichever is longer).
    fn index_margin(&self) -> i64 {
        ((self.stream.video_delay + 2) * self.stream.frame_duration_fallback).max(self.seeking.reorder_lead)
    }

    /// `seconds` in ticks of the video stream.
    fn ticks(&self, seconds: f64) -> i64 {
        (seconds * self.stream.time_base.den as f64 / self.stream.time_base.num as f64) as i64
    }

    /// The first timestamp past `pts` whose slot is later than `pts`'s; `None` when no later slot can be filled.
    fn boundary_after(&self, pts: i64) -> Option<i64> {
        let Picker::Slots { slots, .. } = &self.picker else {
            return None;
        };
        let slot = slots.slot(pts);
        let mut step = self.stream.frame_duration_fallback.max(1);
        let mut high = pts;
        loop {
            high = high.checked_add(step)?;
            if slots.slot(high) > slot {
                break;
            }
            step = step.checked_mul(2)?;
            if step > i64::MAX / 8 {
                return None;
            }
        }
        let mut low = pts;
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if slots.slot(mid) > slot {
                high = mid;
            } else {
                low = mid;
            }
        }
        Some(high)
    }

    /// Seeks to the keyframe at or before `keyframe` (stream time base) and drops what the decoder and the
    /// read-ahead hold.
    fn seek(
        &mut self,
        demuxer: &mut AVFormatContextInput,
        decoder: &mut AVCodecContext,
        lookahead: &mut VecDeque<AVPacket>,
        keyframe: i64,
    ) -> Result<(), ExtractError> {
        let last = self.seeking.last_pushed.expect("seeks come after a frame");
        let boundary = self.boundary_after(last).unwrap_or(i64::MAX);
        lookahead.clear();
        ffmpeg_ffi::flush_decoder(decoder);
        self.seeking.drop_up_to = Some(last);
        match ffmpeg_ffi::seek_to_keyframe(demuxer, self.stream.index, keyframe) {
            Ok(()) => {
                self.stats.seeks += 1;
                self.seeking.landing_before = Some(boundary);
                Ok(())
            }
            Err(code) => {
                tracing::debug!(error = %av_error_text(code), "seek failed; decoding through from the last frame");
                self.seeking.enabled = false;
                self.seeking.landing_before = Some(last + 1);
                self.seek_back(demuxer, last)
            }
        }
    }

    /// Seeks back to a keyframe presented at or before `pts`, to decode through from there (seeking is off by
    /// then, and frames up to the last one selected from are dropped again).
    fn seek_back(&mut self, demuxer: &mut AVFormatContextInput, pts: i64) -> Result<(), ExtractError> {
        let wanted = pts - self.index_margin() - self.stream.offset;
        let streams = demuxer.streams();
        let keyframe = streams
            .into_iter()
            .find(|s| s.index == self.stream.index)
            .and_then(|stream| ffmpeg_ffi::indexed_keyframe_at_or_before(&stream, wanted))
            .and_then(|index| index.at_or_before)
            .unwrap_or(wanted);
        ffmpeg_ffi::seek_to_keyframe(demuxer, self.stream.index, keyframe).map_err(|code| {
            ExtractError::Ffmpeg {
                context: "seeking back after a failed seek",
                message: av_error_text(code),
            }
        })
    }

    /// Whether a video packet read after a seek is to be decoded: packets before the first keyframe are not; that
    /// keyframe must come before the boundary (an index whose timestamps were off makes it land later, and then
    /// this seeks back and decodes through).
    fn landed(
        &mut self,
        demuxer: &mut AVFormatContextInput,
        decoder: &mut AVCodecContext,
        lookahead: &mut VecDeque<AVPacket>,
        packet: &AVPacket,
    ) -> Result<bool, ExtractError> {
        let Some(before) = self.seeking.landing_before else {
            return Ok(true);
        };
        if packet.flags & ffi::AV_PKT_FLAG_KEY as i32 == 0 {
            return Ok(false);
        }
        let ts = if packet.pts != ffi::AV_NOPTS_VALUE {
            packet.pts
        } else {
            packet.dts
        };
        if ts != ffi::AV_NOPTS_VALUE && ts + self.stream.offset < before {
            self.seeking.landing_before = None;
            // Frames presented before the landing keyframe are its leading pictures (an open GOP), which may
            // refer to pictures before it: they lie in the slot being skipped and are overtaken by it anyway.
            let leading = ts + self.stream.offset - 1;
            self.seeking.drop_up_to = self.seeking.drop_up_to.map(|last| last.max(leading));
            return Ok(true);
        }
        lookahead.clear();
        ffmpeg_ffi::flush_decoder(decoder);
        if self.seeking.enabled {
            tracing::debug!("a seek landed past the slot boundary; decoding through from the last frame");
            let last = self.seeking.last_pushed.expect("seeks come after a frame");
            self.seeking.enabled = false;
            self.seeking.landing_before = Some(last + 1);
            self.seek_back(demuxer, last)?;
        } else {
            // Seeking back landed past the last selected frame too: go back further, before this keyframe.
            let landed_at = ts + self.stream.offset;
            if ts == ffi::AV_NOPTS_VALUE || landed_at <= self.first_pts.unwrap_or(0) {
                return Err(ExtractError::Ffmpeg {
                    context: "seeking back after a failed seek",
                    message: "no keyframe before the last selected frame could be reached".into(),
                });
            }
            self.seek_back(demuxer, landed_at - 1)?;
        }
        Ok(false)
    }

    /// Sends one packet (or the flush) and takes every frame that comes out.
    fn send(&mut self, decoder: &mut AVCodecContext, packet: Option<&AVPacket>) -> Result<(), ExtractError> {
        if let Some(packet) = packet {
            let pts = (packet.pts != ffi::AV_NOPTS_VALUE).then(|| packet.pts + self.stream.offset);
            let need = self
                .picker
                .needed(pts, packet.flags & ffi::AV_PKT_FLAG_KEY as i32 != 0);
            if need == Packet::Drop {
                self.stats.packets_skippable += 1;
                return Ok(());
            }
            if let Picker::Each {
                keyframes_only: true,
                sent_keys,
                ..
            } = &mut self.picker
            {
                let ts = if packet.pts != ffi::AV_NOPTS_VALUE {
                    packet.pts
                } else {
                    packet.dts
                };
                if ts != ffi::AV_NOPTS_VALUE {
                    sent_keys.push_back(ts);
                }
            }
            let skip = need == Packet::Skippable;
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
        if frame.best_effort_timestamp != ffi::AV_NOPTS_VALUE
            && let Some(dropped) = self.seeking.drop_up_to
        {
            if frame.best_effort_timestamp + self.stream.offset <= dropped {
                return Ok(());
            }
            self.seeking.drop_up_to = None;
        }
        if frame.decode_error_flags != 0 || frame.flags & ffi::AV_FRAME_FLAG_CORRUPT as i32 != 0 {
            self.decode_error(format!(
                "damaged picture at timestamp {}",
                frame.best_effort_timestamp
            ))?;
        }
        let sent_key = match &mut self.picker {
            Picker::Each {
                keyframes_only: true,
                sent_keys,
                ..
            } => sent_keys.pop_front(),
            _ => None,
        };
        // Fed keyframes alone, a decoder that delays output for B-frames may not know the first one's time: it is
        // the time of the keyframe packet it came from (keyframes are never reordered among themselves).
        let timestamp = match (frame.best_effort_timestamp, sent_key) {
            (ffi::AV_NOPTS_VALUE, Some(sent)) => sent,
            (ffi::AV_NOPTS_VALUE, None) => return Ok(()),
            (timestamp, _) => timestamp,
        };
        let pts = timestamp + self.stream.offset;
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
        self.seeking.last_pushed = Some(pts);
        if let Some(chosen) = self.picker.push(pts, frame) {
            self.emit(chosen)?;
        }
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
        // Keyframes only: the frames after the last keyframe were read, not decoded; the stream ends with them.
        let end = match self.picker {
            Picker::Each {
                keyframes_only: true, ..
            } => self
                .seeking
                .read_up_to
                .map_or(end, |read| end.max(read + self.stream.frame_duration_fallback)),
            _ => end,
        };
        if let Some(chosen) = self.picker.finish(end) {
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
