//! The engine's error type, split into bad input (never retry) and everything else.

use fiapx_domain::SpecError;

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The spec was refused before any work.
    #[error("invalid extraction spec: {0}")]
    InvalidSpec(#[from] SpecError),
    /// Zero bytes.
    #[error("the input is empty")]
    Empty,
    /// More bytes than [`crate::Limits::max_input_bytes`].
    #[error("the input exceeds the limit of {limit} bytes")]
    InputTooLarge {
        /// The limit.
        limit: u64,
    },
    /// No demuxer recognised the content.
    #[error("the input is not a recognised video container: {detail}")]
    UnrecognizedFormat {
        /// FFmpeg's reason.
        detail: String,
    },
    /// A container without a (non-cover-art) video stream, e.g. audio only.
    #[error("the input has no video stream")]
    NoVideoStream,
    /// A video stream no decoder in this FFmpeg build handles.
    #[error("the video codec `{codec}` is not supported")]
    UnsupportedCodec {
        /// Codec name.
        codec: String,
    },
    /// The container or bitstream is damaged.
    #[error("the input is corrupt: {detail}")]
    Corrupt {
        /// What was found.
        detail: String,
    },
    /// The stream ends well before the duration its container announces.
    #[error(
        "the input is truncated: it decodes to {decoded_seconds:.3} s of the {expected_seconds:.3} s announced"
    )]
    Truncated {
        /// Seconds of video actually decoded.
        decoded_seconds: f64,
        /// Seconds announced by the container.
        expected_seconds: f64,
    },
    /// Longer than [`crate::Limits::max_duration_seconds`].
    #[error("the video lasts {seconds:.1} s, more than the limit of {limit_seconds} s")]
    DurationTooLong {
        /// Duration found.
        seconds: f64,
        /// The limit.
        limit_seconds: f64,
    },
    /// Larger than [`crate::Limits::max_width`] x [`crate::Limits::max_height`].
    #[error("the video is {width}x{height}, more than the limit of {max_width}x{max_height}")]
    ResolutionTooLarge {
        /// Coded width.
        width: u32,
        /// Coded height.
        height: u32,
        /// Width limit.
        max_width: u32,
        /// Height limit.
        max_height: u32,
    },
    /// The spec would produce more than [`crate::Limits::max_frames`] frames.
    #[error("the extraction would produce {frames} frames, more than the limit of {limit}")]
    TooManyFrames {
        /// Frames expected (or reached).
        frames: u64,
        /// The limit.
        limit: u64,
    },
    /// A position of an `at` selection lies past the end of the video.
    #[error("the position {position} is past the end of the video ({duration_seconds:.3} s)")]
    PositionPastEnd {
        /// The position, as written.
        position: String,
        /// The video's duration.
        duration_seconds: f64,
    },
    /// Decoding ran past [`crate::Limits::max_decode_seconds`].
    #[error("decoding took longer than the limit of {limit_seconds} s")]
    DecodeTimeout {
        /// The limit.
        limit_seconds: f64,
    },
    /// Reading or spooling the input failed.
    #[error("reading the input failed")]
    Input(#[source] std::io::Error),
    /// Writing the archive failed.
    #[error("writing the archive failed")]
    Output(#[source] std::io::Error),
    /// An image encoder failed (a bug or resource exhaustion, not bad input).
    #[error("encoding a frame failed: {0}")]
    Encode(String),
    /// FFmpeg failed in a way that is not the input's fault.
    #[error("FFmpeg failed while {context}: {message}")]
    Ffmpeg {
        /// What the engine was doing.
        context: &'static str,
        /// FFmpeg's error.
        message: String,
    },
    /// The consumer of the frames went away.
    #[error("the extraction was cancelled")]
    Cancelled,
}

impl ExtractError {
    /// True when retrying the same input can never succeed: the job must fail for good.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidSpec(_)
                | Self::Empty
                | Self::InputTooLarge { .. }
                | Self::UnrecognizedFormat { .. }
                | Self::NoVideoStream
                | Self::UnsupportedCodec { .. }
                | Self::Corrupt { .. }
                | Self::Truncated { .. }
                | Self::DurationTooLong { .. }
                | Self::ResolutionTooLarge { .. }
                | Self::TooManyFrames { .. }
                | Self::PositionPastEnd { .. }
                | Self::DecodeTimeout { .. }
        )
    }

    /// Stable machine-readable code, used in `failed` events and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSpec(_) => "invalid_spec",
            Self::Empty => "empty_input",
            Self::InputTooLarge { .. } => "input_too_large",
            Self::UnrecognizedFormat { .. } => "unrecognized_format",
            Self::NoVideoStream => "no_video_stream",
            Self::UnsupportedCodec { .. } => "unsupported_codec",
            Self::Corrupt { .. } => "corrupt_input",
            Self::Truncated { .. } => "truncated_input",
            Self::DurationTooLong { .. } => "duration_too_long",
            Self::ResolutionTooLarge { .. } => "resolution_too_large",
            Self::TooManyFrames { .. } => "too_many_frames",
            Self::PositionPastEnd { .. } => "position_past_end",
            Self::DecodeTimeout { .. } => "decode_timeout",
            Self::Input(_) => "input_io",
            Self::Output(_) => "output_io",
            Self::Encode(_) => "encode_failed",
            Self::Ffmpeg { .. } => "ffmpeg_failed",
            Self::Cancelled => "cancelled",
        }
    }
}
