//! What to extract from a video: which frames, in which image format, at which size.
//!
//! This is the one extraction spec of FIAP X. It is data on the `uploaded` and `reprocess_requested` events (the
//! persisted v1 payload in `fiapx-schemas` maps to and from it), the input of the frame engine, what the HTTP API
//! accepts and returns (a flat view of it in `fiapx-http`), and what `manifest.json` records (its serde form
//! below). Its defaults reproduce the old monolith: `ffmpeg -vf fps=1` to PNG.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A positive rational number such as `30000/1001`, written as `"num/den"`, an integer or a decimal (`"0.5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    /// Numerator.
    pub num: u32,
    /// Denominator, never zero in a valid spec.
    pub den: u32,
}

impl Rational {
    /// `num/den`.
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// The value as a float (for display and estimates only; selection uses exact arithmetic).
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// `1/self`: the period of a rate, or the rate of a period.
    pub const fn recip(self) -> Self {
        Self::new(self.den, self.num)
    }

    /// Zero (`0/1`).
    pub const fn zero() -> Self {
        Self::new(0, 1)
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for Rational {
    type Err = SpecError;

    /// `"3"`, `"0.5"`, `".25"` or `"30000/1001"`. Decimals are kept exact (0.1 is 1/10, not the nearest double) so
    /// that selection stays reproducible; at most six decimal places.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SpecError::BadRational(text.to_owned());
        let s = text.trim();
        if let Some((num, den)) = s.split_once('/') {
            let num = num.trim().parse().map_err(|_| bad())?;
            let den = den.trim().parse().map_err(|_| bad())?;
            return Ok(Self::new(num, den));
        }
        if let Some((whole, frac)) = s.split_once('.') {
            if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let den = 10_u64.pow(frac.len() as u32);
            let num = whole
                .checked_mul(den)
                .and_then(|n| n.checked_add(frac.parse::<u64>().ok()?))
                .ok_or_else(bad)?;
            let divisor = gcd(num, den).max(1);
            return Ok(Self::new(
                u32::try_from(num / divisor).map_err(|_| bad())?,
                u32::try_from(den / divisor).map_err(|_| bad())?,
            ));
        }
        s.parse().map(|n| Self::new(n, 1)).map_err(|_| bad())
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Serialize for Rational {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rational {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(u32),
            Text(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Int(n) => Ok(Self::new(n, 1)),
            Repr::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A point of a video a frame is wanted at (selection mode `at`): written `first`, `last`, a time (`12.5`,
/// `1:05`, `01:02:03.250`: seconds with up to six decimals, optionally behind minutes and hours) or a share of the
/// duration (`10%`, `12.5%`). The frame chosen for it is the one shown at that time: the last frame presented at or
/// before it (the first frame for a time before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The first frame.
    First,
    /// The last frame.
    Last,
    /// A time from the start of the video, in microseconds.
    Time {
        /// Microseconds from the start.
        micros: u64,
    },
    /// A share of the video's duration, in percent (0 to 100, exact).
    Percent(Rational),
}

impl Position {
    /// Parses a list of positions separated by commas (`"first, 10%, 00:01:30, last"`), in the order given.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, SpecError> {
        text.split(',').map(str::parse).collect()
    }

    /// `positions` as [`parse_list`](Self::parse_list) reads them back.
    pub fn format_list(positions: &[Self]) -> String {
        positions
            .iter()
            .map(Self::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::First => f.write_str("first"),
            Self::Last => f.write_str("last"),
            Self::Time { micros } => {
                let (seconds, fraction) = (micros / 1_000_000, micros % 1_000_000);
                let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
                write!(f, "{hours:02}:{minutes:02}:{seconds:02}")?;
                if fraction % 1000 == 0 {
                    write!(f, ".{:03}", fraction / 1000)
                } else {
                    write!(f, ".{fraction:06}")
                }
            }
            Self::Percent(share) => {
                // Exact decimals for the shares written as decimals; a fraction otherwise.
                let decimal = (0..=6).find_map(|places| {
                    let scale = 10_u64.pow(places);
                    let scaled = u64::from(share.num) * scale;
                    (scaled % u64::from(share.den) == 0).then(|| (scaled / u64::from(share.den), places))
                });
                match decimal {
                    Some((scaled, 0)) => write!(f, "{scaled}%"),
                    Some((scaled, places)) => {
                        let scale = 10_u64.pow(places);
                        let fraction = format!("{:0width$}", scaled % scale, width = places as usize);
                        write!(f, "{}.{}%", scaled / scale, fraction.trim_end_matches('0'))
                    }
                    None => write!(f, "{share}%"),
                }
            }
        }
    }
}

impl FromStr for Position {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SpecError::BadPosition(text.trim().to_owned());
        let s = text.trim();
        match s {
            "first" => return Ok(Self::First),
            "last" => return Ok(Self::Last),
            _ => {}
        }
        if let Some(percent) = s.strip_suffix('%') {
            // Above 100 % parses, and is refused by validation (so that a spec reads back as it was written).
            return percent.trim().parse().map(Self::Percent).map_err(|_| bad());
        }
        // [[H:]M:]S[.ffffff], minutes and seconds below 60 behind a larger unit.
        let mut parts = s.rsplit(':');
        let seconds = parts.next().ok_or_else(bad)?;
        let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.len() > 6 || (seconds.contains('.') && !digits(fraction)) {
            return Err(bad());
        }
        let micros_fraction: u64 = if fraction.is_empty() {
            0
        } else {
            format!("{fraction:0<6}").parse().map_err(|_| bad())?
        };
        let mut total: u64 = whole.parse().map_err(|_| bad())?;
        let mut unit = 1_u64;
        for part in parts {
            if !digits(part) || total >= 60 * unit {
                return Err(bad());
            }
            unit *= 60;
            if unit > 3600 {
                return Err(bad());
            }
            total = part
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(unit))
                .and_then(|n| n.checked_add(total))
                .ok_or_else(bad)?;
        }
        let micros = total
            .checked_mul(1_000_000)
            .and_then(|n| n.checked_add(micros_fraction))
            .ok_or_else(bad)?;
        Ok(Self::Time { micros })
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which frames to keep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// `fps` frames per second of video, with the semantics of FFmpeg's `fps` filter.
    Fps {
        /// Output rate.
        fps: Rational,
    },
    /// One frame every `seconds` (a rational, so `every 0.5` is `1/2`): the same as `fps = 1/seconds`.
    Every {
        /// Interval between frames.
        seconds: Rational,
    },
    /// `count` frames evenly spaced over the duration (the frame shown at the middle of each of `count` equal
    /// intervals).
    Count {
        /// Number of frames.
        count: u32,
    },
    /// One frame per position, in time order whatever the order given (see [`Position`]).
    At {
        /// The positions, as given.
        at: Vec<Position>,
    },
    /// Scene changes: the first frame, then every frame whose scene score (FFmpeg's `select` filter `scene`: the
    /// mean absolute difference from the previous frame, less the previous difference, from 0 to 1) is above
    /// `threshold`, at least `min_gap` seconds after the previous frame kept. Every frame is decoded.
    Scene {
        /// Scene score a frame must exceed, above 0 and at most 1 (0.3 to 0.4 finds hard cuts).
        threshold: Rational,
        /// Least seconds between two frames kept.
        #[serde(default = "Rational::zero")]
        min_gap: Rational,
    },
    /// Every keyframe (intra frame) and nothing else: only keyframes are decoded.
    Keyframes,
}

impl Default for Selection {
    fn default() -> Self {
        Self::Fps {
            fps: Rational::new(1, 1),
        }
    }
}

impl Selection {
    /// The output rate of the rate-based modes (`every` N seconds is `1/N` frames per second).
    pub fn rate(&self) -> Option<Rational> {
        match *self {
            Self::Fps { fps } => Some(fps),
            Self::Every { seconds } => Some(seconds.recip()),
            _ => None,
        }
    }

    /// How many frames the selection gives whatever the video, if that is known before decoding.
    pub fn fixed_count(&self) -> Option<u64> {
        match self {
            Self::Count { count } => Some(u64::from(*count)),
            Self::At { at } => Some(at.len() as u64),
            _ => None,
        }
    }
}

/// JPEG quality when none is given: visually lossless for frames, about a tenth of the PNG size.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

fn default_jpeg_quality() -> u8 {
    DEFAULT_JPEG_QUALITY
}

/// The image format of extracted frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageFormat {
    /// Lossless PNG, 8-bit RGB (the old monolith's output).
    #[default]
    Png,
    /// Baseline JPEG, 4:2:0, with the given quality.
    Jpeg {
        /// Encoder quality, 1 (worst) ..= 100 (best).
        #[serde(default = "default_jpeg_quality")]
        quality: u8,
    },
    /// Lossless WebP (the encoder available without C dependencies has no lossy mode).
    Webp,
}

impl ImageFormat {
    /// The file extension of frames in the archive, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg { .. } => "jpg",
            Self::Webp => "webp",
        }
    }

    /// The media type of frames in this format (`Content-Type` of a single frame).
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg { .. } => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
}

/// Scrub previews: small frames every `every` seconds tiled into sprite sheets (JPEG), with a WebVTT file mapping
/// each time range to its tile (`storyboard/0.jpg#xywh=0,0,160,90`), the format video players read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storyboard {
    /// Seconds between two tiles (the `fps` filter at `1/every`).
    pub every: Rational,
    /// Tile width in pixels; the height keeps the aspect ratio.
    #[serde(default = "Storyboard::default_width")]
    pub width: u32,
    /// Tiles per row of a sheet.
    #[serde(default = "Storyboard::default_side")]
    pub columns: u32,
    /// Rows of tiles per sheet.
    #[serde(default = "Storyboard::default_side")]
    pub rows: u32,
}

impl Storyboard {
    /// Tile width when none is given.
    pub const DEFAULT_WIDTH: u32 = 160;
    /// Tiles per row and rows per sheet when none are given.
    pub const DEFAULT_SIDE: u32 = 5;
    /// The narrowest and widest tile.
    pub const WIDTH_RANGE: (u32, u32) = (32, 640);
    /// The most tiles per row or column of a sheet.
    pub const MAX_SIDE: u32 = 20;
    /// The JPEG quality of the sheets.
    pub const QUALITY: u8 = 80;

    /// Tiles every `every` seconds with the default size and grid.
    pub const fn every(every: Rational) -> Self {
        Self {
            every,
            width: Self::DEFAULT_WIDTH,
            columns: Self::DEFAULT_SIDE,
            rows: Self::DEFAULT_SIDE,
        }
    }

    const fn default_width() -> u32 {
        Self::DEFAULT_WIDTH
    }

    const fn default_side() -> u32 {
        Self::DEFAULT_SIDE
    }

    /// The spec of its frames: one every `every` seconds, at most `width` wide.
    pub fn frames(&self) -> ExtractionSpec {
        ExtractionSpec {
            selection: Selection::Every { seconds: self.every },
            format: ImageFormat::Jpeg {
                quality: Self::QUALITY,
            },
            max_width: Some(self.width),
            max_height: None,
            storyboard: None,
        }
    }

    fn validate(&self) -> Result<(), SpecError> {
        let r = self.every;
        if r.num == 0 || r.den == 0 {
            return Err(SpecError::NonPositive(r));
        }
        // At most one tile per second, and a tile every 10 minutes at the least.
        if u64::from(r.num) < u64::from(r.den) || u64::from(r.num) > 600 * u64::from(r.den) {
            return Err(SpecError::StoryboardIntervalOutOfRange);
        }
        let (min, max) = Self::WIDTH_RANGE;
        if !(min..=max).contains(&self.width)
            || !(1..=Self::MAX_SIDE).contains(&self.columns)
            || !(1..=Self::MAX_SIDE).contains(&self.rows)
        {
            return Err(SpecError::StoryboardSizeOutOfRange {
                min_width: min,
                max_width: max,
                max_side: Self::MAX_SIDE,
            });
        }
        Ok(())
    }
}

/// The full extraction spec carried by `uploaded` and `reprocess_requested`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionSpec {
    /// Which frames.
    #[serde(default)]
    pub selection: Selection,
    /// Which image format (and its quality).
    #[serde(default)]
    pub format: ImageFormat,
    /// Scale down (never up, keeping the aspect ratio) to at most this width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    /// Scale down (never up, keeping the aspect ratio) to at most this height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
    /// Scrub previews made next to the frames, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard: Option<Storyboard>,
}

/// The one set of bounds on a spec, whatever the video. What a machine can afford (frames per archive, input
/// size, duration) is the frame engine's configuration instead, checked against a spec by
/// [`ExtractionSpec::admit`].
impl ExtractionSpec {
    /// The highest frame rate a spec may ask for: more than any camera records.
    pub const MAX_FPS: u32 = 240;
    /// The most frames a `count` spec may ask for.
    pub const MAX_COUNT: u32 = 100_000;
    /// The most positions an `at` spec may list.
    pub const MAX_POSITIONS: usize = 1000;
    /// The smallest frame side a spec may ask for.
    pub const MIN_SIDE: u32 = 16;
    /// The largest frame side a spec may ask for.
    pub const MAX_SIDE: u32 = 16_384;
    /// The lowest JPEG quality.
    pub const MIN_QUALITY: u8 = 1;
    /// The highest JPEG quality.
    pub const MAX_QUALITY: u8 = 100;

    /// Checks the spec; every rule a caller can break has its own error.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self.selection {
            Selection::Fps { fps: r } | Selection::Every { seconds: r } => {
                if r.num == 0 || r.den == 0 {
                    return Err(SpecError::NonPositive(r));
                }
            }
            Selection::Count { count } => {
                if count == 0 || count > Self::MAX_COUNT {
                    return Err(SpecError::CountOutOfRange { max: Self::MAX_COUNT });
                }
            }
            Selection::At { ref at } => {
                if at.is_empty() || at.len() > Self::MAX_POSITIONS {
                    return Err(SpecError::PositionsOutOfRange {
                        max: Self::MAX_POSITIONS,
                    });
                }
                for position in at {
                    if let Position::Percent(share) = *position
                        && (share.den == 0 || u64::from(share.num) > 100 * u64::from(share.den))
                    {
                        return Err(SpecError::PercentOutOfRange(position.to_string()));
                    }
                }
            }
            Selection::Scene { threshold, min_gap } => {
                if threshold.num == 0 || threshold.den == 0 || threshold.num > threshold.den {
                    return Err(SpecError::ThresholdOutOfRange);
                }
                if min_gap.den == 0 {
                    return Err(SpecError::BadRational(min_gap.to_string()));
                }
            }
            Selection::Keyframes => {}
        }
        if let Some(rate) = self.selection.rate()
            && u64::from(rate.num) > u64::from(rate.den) * u64::from(Self::MAX_FPS)
        {
            return Err(SpecError::RateTooHigh { max: Self::MAX_FPS });
        }
        if let ImageFormat::Jpeg { quality } = self.format
            && !(Self::MIN_QUALITY..=Self::MAX_QUALITY).contains(&quality)
        {
            return Err(SpecError::QualityOutOfRange);
        }
        if let Some(storyboard) = &self.storyboard {
            storyboard.validate()?;
        }
        for side in [self.max_width, self.max_height].into_iter().flatten() {
            if !(Self::MIN_SIDE..=Self::MAX_SIDE).contains(&side) {
                return Err(SpecError::SizeOutOfRange {
                    min: Self::MIN_SIDE,
                    max: Self::MAX_SIDE,
                });
            }
        }
        Ok(())
    }

    /// [`validate`](Self::validate), then what is certain to fail on an engine that keeps at most `max_frames`
    /// frames per archive: a `count` above it. (A rate may or may not exceed it, depending on the duration, which
    /// only the engine's probe knows.) Commands check this at admission so that nothing accepted is sure to fail.
    pub fn admit(&self, max_frames: u64) -> Result<(), SpecError> {
        self.validate()?;
        if let Some(count) = self.selection.fixed_count()
            && count > max_frames
        {
            return Err(SpecError::CountOverEngineLimit { max: max_frames });
        }
        Ok(())
    }
}

/// A spec that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not a number, a fraction or a decimal.
    #[error("`{0}` is not a positive number or fraction (use 2, 0.5 or 30000/1001)")]
    BadRational(String),
    /// A zero rate, period or denominator.
    #[error("{0} must be greater than zero (frame rate and interval must be positive)")]
    NonPositive(Rational),
    /// More frames per second than allowed.
    #[error("at most {max} frames per second can be extracted")]
    RateTooHigh {
        /// The limit.
        max: u32,
    },
    /// `count` outside 1..=max.
    #[error("frame count must be between 1 and {max}")]
    CountOutOfRange {
        /// The limit.
        max: u32,
    },
    /// `count` (or the number of positions) above what the frame engine is configured to keep in one archive.
    #[error("frame count must be at most {max} (the most frames one archive may hold here)")]
    CountOverEngineLimit {
        /// The engine's limit.
        max: u64,
    },
    /// A position that is not `first`, `last`, a time or a percentage.
    #[error(
        "`{0}` is not a position (use first, last, seconds such as 12.5, a time such as 01:02:03.250, or a percentage such as 10%)"
    )]
    BadPosition(String),
    /// A percentage above 100.
    #[error("`{0}` is not a percentage from 0% to 100%")]
    PercentOutOfRange(String),
    /// An empty list of positions, or too long a one.
    #[error("give from 1 to {max} positions")]
    PositionsOutOfRange {
        /// The limit.
        max: usize,
    },
    /// A storyboard interval outside 1 s ..= 10 min.
    #[error("the storyboard interval must be from 1 to 600 seconds")]
    StoryboardIntervalOutOfRange,
    /// A storyboard tile width or grid out of range.
    #[error(
        "storyboard tiles must be {min_width} to {max_width} pixels wide, in a grid of 1 to {max_side} columns and rows"
    )]
    StoryboardSizeOutOfRange {
        /// Narrowest tile.
        min_width: u32,
        /// Widest tile.
        max_width: u32,
        /// Most columns or rows.
        max_side: u32,
    },
    /// A scene threshold outside (0, 1].
    #[error("the scene threshold must be above 0 and at most 1")]
    ThresholdOutOfRange,
    /// JPEG quality outside 1..=100.
    #[error("JPEG quality must be between 1 and 100")]
    QualityOutOfRange,
    /// A max width/height outside min..=max.
    #[error("maximum width and height must be between {min} and {max} pixels")]
    SizeOutOfRange {
        /// The lower limit.
        min: u32,
        /// The upper limit.
        max: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(selection: Selection) -> ExtractionSpec {
        ExtractionSpec {
            selection,
            ..ExtractionSpec::default()
        }
    }

    fn fps(num: u32, den: u32) -> Selection {
        Selection::Fps {
            fps: Rational::new(num, den),
        }
    }

    #[test]
    fn default_is_the_monolith_fps_1_png() {
        let spec = ExtractionSpec::default();
        assert_eq!(spec.selection, fps(1, 1));
        assert_eq!(spec.selection.rate(), Some(Rational::new(1, 1)));
        assert_eq!(spec.format, ImageFormat::Png);
        assert_eq!(spec.validate(), Ok(()));
        let parsed: ExtractionSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, spec);
    }

    #[test]
    fn rejects_each_broken_rule() {
        assert_eq!(
            spec(fps(0, 1)).validate(),
            Err(SpecError::NonPositive(Rational::new(0, 1)))
        );
        assert_eq!(
            spec(fps(1, 0)).validate(),
            Err(SpecError::NonPositive(Rational::new(1, 0)))
        );
        assert!(matches!(
            spec(Selection::Every {
                seconds: Rational::new(0, 1)
            })
            .validate(),
            Err(SpecError::NonPositive(_))
        ));
        assert_eq!(
            spec(fps(241, 1)).validate(),
            Err(SpecError::RateTooHigh { max: 240 })
        );
        assert_eq!(spec(fps(240, 1)).validate(), Ok(()));
        assert_eq!(
            spec(Selection::Every {
                seconds: Rational::new(1, 1000)
            })
            .validate(),
            Err(SpecError::RateTooHigh { max: 240 })
        );
        assert!(matches!(
            spec(Selection::Count { count: 0 }).validate(),
            Err(SpecError::CountOutOfRange { .. })
        ));
        assert!(matches!(
            spec(Selection::Count { count: 100_001 }).validate(),
            Err(SpecError::CountOutOfRange { .. })
        ));
        let jpeg0 = ExtractionSpec {
            format: ImageFormat::Jpeg { quality: 0 },
            ..ExtractionSpec::default()
        };
        assert_eq!(jpeg0.validate(), Err(SpecError::QualityOutOfRange));
        let tiny = ExtractionSpec {
            max_width: Some(8),
            ..ExtractionSpec::default()
        };
        assert!(matches!(tiny.validate(), Err(SpecError::SizeOutOfRange { .. })));
        let huge = ExtractionSpec {
            max_height: Some(16_385),
            ..ExtractionSpec::default()
        };
        assert!(matches!(huge.validate(), Err(SpecError::SizeOutOfRange { .. })));
    }

    #[test]
    fn admission_refuses_a_count_the_engine_cannot_hold() {
        let count = |count| spec(Selection::Count { count });
        assert_eq!(count(50_000).admit(50_000), Ok(()));
        assert_eq!(
            count(60_000).admit(50_000),
            Err(SpecError::CountOverEngineLimit { max: 50_000 })
        );
        assert!(matches!(
            count(0).admit(50_000),
            Err(SpecError::CountOutOfRange { .. })
        ));
        assert_eq!(
            spec(fps(240, 1)).admit(10),
            Ok(()),
            "a rate depends on the duration"
        );
    }

    #[test]
    fn accepts_fractional_rates_and_periods() {
        assert_eq!(spec(fps(30000, 1001)).validate(), Ok(()));
        assert_eq!(
            spec(Selection::Every {
                seconds: Rational::new(5, 2)
            })
            .validate(),
            Ok(())
        );
        assert_eq!(spec(Selection::Count { count: 10 }).validate(), Ok(()));
    }

    #[test]
    fn parses_rationals() {
        let parse = |s: &str| s.parse::<Rational>();
        assert_eq!(parse("1"), Ok(Rational::new(1, 1)));
        assert_eq!(parse("2"), Ok(Rational::new(2, 1)));
        assert_eq!(parse("0.5"), Ok(Rational::new(1, 2)));
        assert_eq!(parse(".25"), Ok(Rational::new(1, 4)));
        assert_eq!(parse("1.25"), Ok(Rational::new(5, 4)));
        assert_eq!(parse(" 24000/1001 "), Ok(Rational::new(24000, 1001)));
        for bad in [
            "",
            "x",
            "abc",
            "1/",
            "/2",
            "-1",
            "1.",
            "1.2.3",
            "1e3",
            "99999999999",
            "0.1234567",
        ] {
            assert_eq!(parse(bad), Err(SpecError::BadRational(bad.into())), "{bad}");
        }
        let every: Selection = serde_json::from_str(r#"{"mode":"every","seconds":2}"#).unwrap();
        assert_eq!(every.rate(), Some(Rational::new(1, 2)));
    }

    #[test]
    fn serde_form_is_the_manifest_form() {
        let spec = ExtractionSpec {
            selection: fps(30000, 1001),
            format: ImageFormat::Jpeg { quality: 70 },
            max_width: Some(640),
            max_height: None,
            storyboard: None,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"selection":{"mode":"fps","fps":"30000/1001"},"format":{"type":"jpeg","quality":70},"max_width":640}"#
        );
        assert_eq!(serde_json::from_str::<ExtractionSpec>(&json).unwrap(), spec);
        let jpeg: ImageFormat = serde_json::from_str(r#"{"type":"jpeg"}"#).unwrap();
        assert_eq!(
            jpeg,
            ImageFormat::Jpeg {
                quality: DEFAULT_JPEG_QUALITY
            }
        );
        assert!(serde_json::from_str::<ExtractionSpec>(r#"{"colour":"red"}"#).is_err());
    }

    #[test]
    fn parses_and_shows_positions() {
        let parse = |s: &str| s.parse::<Position>();
        let time = |micros| Ok(Position::Time { micros });
        assert_eq!(parse("first"), Ok(Position::First));
        assert_eq!(parse(" last "), Ok(Position::Last));
        assert_eq!(parse("0"), time(0));
        assert_eq!(parse("12.5"), time(12_500_000));
        assert_eq!(parse("1:05"), time(65_000_000));
        assert_eq!(parse("01:02:03.250"), time(3_723_250_000));
        assert_eq!(parse("90"), time(90_000_000), "seconds alone may pass 59");
        assert_eq!(parse("0.000001"), time(1));
        assert_eq!(parse("10%"), Ok(Position::Percent(Rational::new(10, 1))));
        assert_eq!(parse("12.5%"), Ok(Position::Percent(Rational::new(25, 2))));
        assert_eq!(parse("100%"), Ok(Position::Percent(Rational::new(100, 1))));
        for bad in [
            "",
            "x",
            "1:60",
            "1:2:3:4",
            "-1",
            "1.",
            "1.2.3",
            "1e3",
            "%",
            "ten%",
            "1.1234567",
            "61:00:00:00",
        ] {
            assert_eq!(parse(bad), Err(SpecError::BadPosition(bad.into())), "{bad}");
        }
        assert_eq!(
            spec(Selection::At {
                at: vec![parse("100.5%").unwrap()]
            })
            .validate(),
            Err(SpecError::PercentOutOfRange("100.5%".into()))
        );
        for (text, shown) in [
            ("first", "first"),
            ("1:05", "00:01:05.000"),
            ("3723.25", "01:02:03.250"),
            ("0.000001", "00:00:00.000001"),
            ("12.5%", "12.5%"),
            ("33%", "33%"),
            ("100/3%", "100/3%"),
        ] {
            let position = parse(text).unwrap();
            assert_eq!(position.to_string(), shown);
            assert_eq!(parse(shown), Ok(position), "{shown} reads back");
        }
        let list = Position::parse_list("last, 10% ,0:30").unwrap();
        assert_eq!(
            list,
            [
                Position::Last,
                Position::Percent(Rational::new(10, 1)),
                Position::Time { micros: 30_000_000 }
            ]
        );
        assert_eq!(Position::format_list(&list), "last,10%,00:00:30.000");
        assert_eq!(
            Position::parse_list("1,,2"),
            Err(SpecError::BadPosition(String::new()))
        );
    }

    #[test]
    fn validates_the_new_modes() {
        let at = |at: Vec<Position>| spec(Selection::At { at });
        assert_eq!(at(vec![Position::First, Position::Last]).validate(), Ok(()));
        assert_eq!(
            at(vec![]).validate(),
            Err(SpecError::PositionsOutOfRange { max: 1000 })
        );
        assert!(at(vec![Position::First; 1001]).validate().is_err());
        assert_eq!(at(vec![Position::First; 1000]).admit(1000), Ok(()));
        assert_eq!(
            at(vec![Position::First; 3]).admit(2),
            Err(SpecError::CountOverEngineLimit { max: 2 })
        );
        assert!(matches!(
            at(vec![Position::Percent(Rational::new(101, 1))]).validate(),
            Err(SpecError::PercentOutOfRange(_))
        ));
        let scene = |threshold, min_gap| spec(Selection::Scene { threshold, min_gap });
        assert_eq!(scene(Rational::new(3, 10), Rational::zero()).validate(), Ok(()));
        assert_eq!(scene(Rational::new(1, 1), Rational::new(2, 1)).validate(), Ok(()));
        for threshold in [Rational::zero(), Rational::new(11, 10), Rational::new(1, 0)] {
            assert_eq!(
                scene(threshold, Rational::zero()).validate(),
                Err(SpecError::ThresholdOutOfRange)
            );
        }
        assert!(
            scene(Rational::new(1, 2), Rational::new(1, 0))
                .validate()
                .is_err()
        );
        assert_eq!(spec(Selection::Keyframes).validate(), Ok(()));
        assert_eq!(
            spec(Selection::Keyframes).admit(1),
            Ok(()),
            "the number of keyframes depends on the video"
        );
    }

    #[test]
    fn the_new_modes_have_a_manifest_form() {
        for (selection, json) in [
            (
                Selection::At {
                    at: vec![
                        Position::Percent(Rational::new(50, 1)),
                        Position::Time { micros: 1_500_000 },
                        Position::Last,
                    ],
                },
                r#"{"mode":"at","at":["50%","00:00:01.500","last"]}"#,
            ),
            (
                Selection::Scene {
                    threshold: Rational::new(3, 10),
                    min_gap: Rational::new(2, 1),
                },
                r#"{"mode":"scene","threshold":"3/10","min_gap":"2"}"#,
            ),
            (Selection::Keyframes, r#"{"mode":"keyframes"}"#),
        ] {
            assert_eq!(serde_json::to_string(&selection).unwrap(), json);
            assert_eq!(serde_json::from_str::<Selection>(json).unwrap(), selection);
        }
        let no_gap: Selection = serde_json::from_str(r#"{"mode":"scene","threshold":"0.4"}"#).unwrap();
        assert_eq!(
            no_gap,
            Selection::Scene {
                threshold: Rational::new(2, 5),
                min_gap: Rational::zero()
            }
        );
        assert!(serde_json::from_str::<Selection>(r#"{"mode":"at","at":["soon"]}"#).is_err());
    }

    #[test]
    fn storyboards_are_validated_and_have_defaults() {
        let with = |storyboard: Storyboard| ExtractionSpec {
            storyboard: Some(storyboard),
            ..ExtractionSpec::default()
        };
        let ten = Storyboard::every(Rational::new(10, 1));
        assert_eq!(with(ten).validate(), Ok(()));
        assert_eq!(
            serde_json::from_str::<Storyboard>(r#"{"every":"10"}"#).unwrap(),
            ten,
            "width and grid default"
        );
        for every in [Rational::new(1, 2), Rational::new(601, 1)] {
            assert_eq!(
                with(Storyboard::every(every)).validate(),
                Err(SpecError::StoryboardIntervalOutOfRange)
            );
        }
        assert!(matches!(
            with(Storyboard::every(Rational::new(0, 1))).validate(),
            Err(SpecError::NonPositive(_))
        ));
        for broken in [
            Storyboard { width: 16, ..ten },
            Storyboard { width: 641, ..ten },
            Storyboard { columns: 0, ..ten },
            Storyboard { rows: 21, ..ten },
        ] {
            assert!(
                matches!(
                    with(broken).validate(),
                    Err(SpecError::StoryboardSizeOutOfRange { .. })
                ),
                "{broken:?}"
            );
        }
        let frames = ten.frames();
        assert_eq!(frames.selection.rate(), Some(Rational::new(1, 10)));
        assert_eq!(frames.max_width, Some(160));
        assert_eq!(frames.validate(), Ok(()));
    }
}
