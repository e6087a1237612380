//! Version 1 of every event payload (the first release). The envelope carries id, video id and time.

use fiapx_domain::{
    ExtractionSpec, ImageFormat, Position as DomainPosition, Rational, Selection as DomainSelection,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `uploaded` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Uploaded {
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The stored source.
    pub source: Source,
    /// What to extract.
    pub spec: Spec,
}

/// The stored source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Object key in the bucket.
    pub key: String,
    /// The user's file name.
    pub file_name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Media type found by probing.
    pub content_type: String,
}

/// An extraction spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Which frames.
    pub selection: Selection,
    /// Which image format.
    pub format: Format,
    /// Maximum width in pixels, keeping aspect ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    /// Maximum height in pixels, keeping aspect ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
    /// Scrub previews, if asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard: Option<Storyboard>,
}

/// Sprite sheets of small frames with a WebVTT index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storyboard {
    /// Seconds between tiles.
    pub every: Ratio,
    /// Tile width in pixels.
    pub width: u32,
    /// Tiles per row.
    pub columns: u32,
    /// Rows per sheet.
    pub rows: u32,
}

/// The one mapping between the domain's spec and its v1 persisted form (an exact rational as `num`/`den`).
impl From<&ExtractionSpec> for Spec {
    fn from(spec: &ExtractionSpec) -> Self {
        Self {
            selection: match spec.selection {
                DomainSelection::Fps { fps: r } => Selection::Fps {
                    num: r.num,
                    den: r.den,
                },
                DomainSelection::Every { seconds: r } => Selection::Every {
                    num: r.num,
                    den: r.den,
                },
                DomainSelection::Count { count } => Selection::Count { count },
                DomainSelection::At { ref at } => Selection::At {
                    at: at.iter().map(|&p| p.into()).collect(),
                },
                DomainSelection::Scene { threshold, min_gap } => Selection::Scene {
                    threshold: threshold.into(),
                    min_gap: min_gap.into(),
                },
                DomainSelection::Keyframes => Selection::Keyframes,
            },
            format: match spec.format {
                ImageFormat::Png => Format::Png,
                ImageFormat::Jpeg { quality } => Format::Jpeg { quality },
                ImageFormat::Webp => Format::Webp,
            },
            max_width: spec.max_width,
            max_height: spec.max_height,
            storyboard: spec.storyboard.map(|s| Storyboard {
                every: s.every.into(),
                width: s.width,
                columns: s.columns,
                rows: s.rows,
            }),
        }
    }
}

impl From<Spec> for ExtractionSpec {
    fn from(spec: Spec) -> Self {
        Self {
            selection: match spec.selection {
                Selection::Fps { num, den } => DomainSelection::Fps {
                    fps: Rational::new(num, den),
                },
                Selection::Every { num, den } => DomainSelection::Every {
                    seconds: Rational::new(num, den),
                },
                Selection::Count { count } => DomainSelection::Count { count },
                Selection::At { at } => DomainSelection::At {
                    at: at.into_iter().map(Into::into).collect(),
                },
                Selection::Scene { threshold, min_gap } => DomainSelection::Scene {
                    threshold: threshold.into(),
                    min_gap: min_gap.into(),
                },
                Selection::Keyframes => DomainSelection::Keyframes,
            },
            format: match spec.format {
                Format::Png => ImageFormat::Png,
                Format::Jpeg { quality } => ImageFormat::Jpeg { quality },
                Format::Webp => ImageFormat::Webp,
            },
            max_width: spec.max_width,
            max_height: spec.max_height,
            storyboard: spec.storyboard.map(|s| fiapx_domain::Storyboard {
                every: s.every.into(),
                width: s.width,
                columns: s.columns,
                rows: s.rows,
            }),
        }
    }
}

/// Frame selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// `num/den` frames per second (FFmpeg `fps` filter semantics).
    Fps {
        /// Numerator.
        num: u32,
        /// Denominator.
        den: u32,
    },
    /// One frame every `num/den` seconds.
    Every {
        /// Numerator.
        num: u32,
        /// Denominator.
        den: u32,
    },
    /// `count` frames evenly spaced.
    Count {
        /// How many.
        count: u32,
    },
    /// One frame per position.
    At {
        /// The positions, in the order given.
        at: Vec<Position>,
    },
    /// Scene changes.
    Scene {
        /// Scene score a frame must exceed.
        threshold: Ratio,
        /// Least seconds between two frames kept.
        min_gap: Ratio,
    },
    /// Every keyframe.
    Keyframes,
}

/// An exact rational `num/den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ratio {
    /// Numerator.
    pub num: u32,
    /// Denominator.
    pub den: u32,
}

impl From<Rational> for Ratio {
    fn from(r: Rational) -> Self {
        Self {
            num: r.num,
            den: r.den,
        }
    }
}

impl From<Ratio> for Rational {
    fn from(r: Ratio) -> Self {
        Self::new(r.num, r.den)
    }
}

/// Where a frame is wanted (selection `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Position {
    /// The first frame.
    First,
    /// The last frame.
    Last,
    /// Microseconds from the start.
    Time {
        /// Microseconds.
        micros: u64,
    },
    /// `num/den` percent of the duration.
    Percent {
        /// Numerator.
        num: u32,
        /// Denominator.
        den: u32,
    },
}

impl From<DomainPosition> for Position {
    fn from(position: DomainPosition) -> Self {
        match position {
            DomainPosition::First => Self::First,
            DomainPosition::Last => Self::Last,
            DomainPosition::Time { micros } => Self::Time { micros },
            DomainPosition::Percent(r) => Self::Percent {
                num: r.num,
                den: r.den,
            },
        }
    }
}

impl From<Position> for DomainPosition {
    fn from(position: Position) -> Self {
        match position {
            Position::First => Self::First,
            Position::Last => Self::Last,
            Position::Time { micros } => Self::Time { micros },
            Position::Percent { num, den } => Self::Percent(Rational::new(num, den)),
        }
    }
}

/// Image format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Format {
    /// PNG.
    Png,
    /// JPEG with quality 1..=100.
    Jpeg {
        /// Quality.
        quality: u8,
    },
    /// Lossless WebP.
    Webp,
}

/// `processing_started` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessingStarted {
    /// Job number (0 = the upload, +1 per reprocess).
    pub job: u32,
    /// Delivery attempt, from 1.
    pub attempt: u32,
}

/// `completed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Completed {
    /// Job number.
    pub job: u32,
    /// Delivery attempt.
    pub attempt: u32,
    /// The stored archive.
    pub archive: Archive,
}

/// The ZIP of frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    /// Object key in the bucket.
    pub key: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Frames in the archive.
    pub frame_count: u32,
}

/// `failed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Failed {
    /// Job number.
    pub job: u32,
    /// Delivery attempt.
    pub attempt: u32,
    /// Stable failure code (see docs/failures.md).
    pub code: String,
    /// Detail for the user.
    pub message: String,
    /// Whether another attempt is scheduled.
    pub will_retry: bool,
}

/// `reprocess_requested` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReprocessRequested {
    /// The new job's number.
    pub job: u32,
    /// The spec of the new job.
    pub spec: Spec,
}

/// `deleted` v1 (no fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deleted {}
