//! What to extract: the selection rule, the image format and an optional size bound.
//!
//! This is data carried on the `uploaded` event, so it is serde, validated, and its defaults reproduce the old
//! monolith (`ffmpeg -vf fps=1`, PNG).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest output rate accepted, in frames per second: more than any camera records.
const MAX_FPS: f64 = 240.0;
/// Largest `count` accepted; the frame-count limit of [`crate::Limits`] usually bites first.
const MAX_COUNT: u32 = 1_000_000;
/// Smallest bound on the output width or height.
const MIN_DIMENSION: u32 = 2;

/// A positive rational number such as `30000/1001`, written as `"num/den"`, an integer or a decimal (`"0.5"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    /// Numerator.
    pub num: u32,
    /// Denominator, never zero once validated.
    pub den: u32,
}

impl Rational {
    /// `num/den`.
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// The value as a float, for display and limits.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
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

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SpecError::BadRational(s.to_owned());
        let s = s.trim();
        if let Some((num, den)) = s.split_once('/') {
            let num = num.trim().parse().map_err(|_| bad())?;
            let den = den.trim().parse().map_err(|_| bad())?;
            return Ok(Self::new(num, den));
        }
        if let Some((int, frac)) = s.split_once('.') {
            // Decimals are kept exact (0.1 is 1/10, not the nearest double) so selection stays reproducible.
            if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let den = 10u32.pow(frac.len() as u32);
            let int: u32 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| bad())?
            };
            let frac: u32 = if frac.is_empty() {
                0
            } else {
                frac.parse().map_err(|_| bad())?
            };
            let num = int
                .checked_mul(den)
                .and_then(|n| n.checked_add(frac))
                .ok_or_else(bad)?;
            let g = gcd(num, den);
            return Ok(Self::new(num / g.max(1), den / g.max(1)));
        }
        Ok(Self::new(s.parse().map_err(|_| bad())?, 1))
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
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

/// Which frames to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// `fps` frames per second of video, exactly like FFmpeg's `fps` filter.
    Fps {
        /// Output rate.
        fps: Rational,
    },
    /// One frame every `seconds` seconds: the same as `fps = 1/seconds`.
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
}

impl Default for Selection {
    fn default() -> Self {
        Self::Fps {
            fps: Rational::new(1, 1),
        }
    }
}

impl Selection {
    /// The output rate for the rate-based modes.
    pub fn rate(&self) -> Option<Rational> {
        match *self {
            Self::Fps { fps } => Some(fps),
            Self::Every { seconds } => Some(Rational::new(seconds.den, seconds.num)),
            Self::Count { .. } => None,
        }
    }
}

/// Default JPEG quality: visually lossless for frames, about a tenth of the PNG size.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

fn default_jpeg_quality() -> u8 {
    DEFAULT_JPEG_QUALITY
}

/// The image format of every frame in the archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageFormat {
    /// Lossless PNG, 8-bit RGB, fast compression (the monolith's format).
    #[default]
    Png,
    /// Baseline JPEG with 4:2:0 chroma subsampling.
    Jpeg {
        /// 1 (worst) to 100 (best).
        #[serde(default = "default_jpeg_quality")]
        quality: u8,
    },
    /// Lossless WebP (the encoder available without C dependencies has no lossy mode).
    Webp,
}

impl ImageFormat {
    /// File name extension, without the dot.
    pub fn extension(&self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg { .. } => "jpg",
            Self::Webp => "webp",
        }
    }
}

/// The full extraction spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionSpec {
    /// Which frames.
    #[serde(default)]
    pub selection: Selection,
    /// Which image format.
    #[serde(default)]
    pub format: ImageFormat,
    /// Scale down (never up) to at most this width, keeping the aspect ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    /// Scale down (never up) to at most this height, keeping the aspect ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
}

impl ExtractionSpec {
    /// Checks every field; the engine refuses an invalid spec before opening the input.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self.selection {
            Selection::Fps { fps: r } | Selection::Every { seconds: r } => {
                if r.num == 0 || r.den == 0 {
                    return Err(SpecError::NonPositive(r));
                }
            }
            Selection::Count { count } => {
                if count == 0 || count > MAX_COUNT {
                    return Err(SpecError::BadCount(count));
                }
            }
        }
        if let Some(rate) = self.selection.rate()
            && rate.as_f64() > MAX_FPS
        {
            return Err(SpecError::RateTooHigh(rate));
        }
        if let ImageFormat::Jpeg { quality } = self.format
            && !(1..=100).contains(&quality)
        {
            return Err(SpecError::BadQuality(quality));
        }
        for bound in [self.max_width, self.max_height].into_iter().flatten() {
            if bound < MIN_DIMENSION {
                return Err(SpecError::BadDimension(bound));
            }
        }
        Ok(())
    }
}

/// Why a spec was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not a number, a fraction or a decimal.
    #[error("`{0}` is not a rational number (use 2, 0.5 or 30000/1001)")]
    BadRational(String),
    /// Zero or a zero denominator.
    #[error("{0} must be greater than zero")]
    NonPositive(Rational),
    /// More than [`MAX_FPS`] frames per second.
    #[error("{0} frames per second is more than the maximum of {MAX_FPS}")]
    RateTooHigh(Rational),
    /// `count` of zero or absurdly large.
    #[error("count must be between 1 and {MAX_COUNT}, got {0}")]
    BadCount(u32),
    /// JPEG quality outside 1..=100.
    #[error("JPEG quality must be between 1 and 100, got {0}")]
    BadQuality(u8),
    /// A size bound too small to hold an image.
    #[error("max width/height must be at least {MIN_DIMENSION}, got {0}")]
    BadDimension(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_one_png_per_second() {
        let spec: ExtractionSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, ExtractionSpec::default());
        assert_eq!(spec.selection.rate(), Some(Rational::new(1, 1)));
        assert_eq!(spec.format, ImageFormat::Png);
        spec.validate().unwrap();
    }

    #[test]
    fn round_trips_through_json() {
        let spec = ExtractionSpec {
            selection: Selection::Fps {
                fps: Rational::new(30000, 1001),
            },
            format: ImageFormat::Jpeg { quality: 70 },
            max_width: Some(640),
            max_height: None,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"selection":{"mode":"fps","fps":"30000/1001"},"format":{"type":"jpeg","quality":70},"max_width":640}"#
        );
        assert_eq!(serde_json::from_str::<ExtractionSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn parses_rationals() {
        assert_eq!("2".parse::<Rational>().unwrap(), Rational::new(2, 1));
        assert_eq!("0.5".parse::<Rational>().unwrap(), Rational::new(1, 2));
        assert_eq!("1.25".parse::<Rational>().unwrap(), Rational::new(5, 4));
        assert_eq!(
            " 24000/1001 ".parse::<Rational>().unwrap(),
            Rational::new(24000, 1001)
        );
        assert!("abc".parse::<Rational>().is_err());
        assert!("-1".parse::<Rational>().is_err());
        let every: Selection = serde_json::from_str(r#"{"mode":"every","seconds":2}"#).unwrap();
        assert_eq!(every.rate(), Some(Rational::new(1, 2)));
    }

    #[test]
    fn rejects_invalid_specs() {
        let with = |selection, format| ExtractionSpec {
            selection,
            format,
            ..Default::default()
        };
        let fps = |num, den| Selection::Fps {
            fps: Rational::new(num, den),
        };
        assert_eq!(
            with(fps(0, 1), ImageFormat::Png).validate(),
            Err(SpecError::NonPositive(Rational::new(0, 1)))
        );
        assert_eq!(
            with(fps(1, 0), ImageFormat::Png).validate(),
            Err(SpecError::NonPositive(Rational::new(1, 0)))
        );
        assert!(matches!(
            with(fps(1000, 1), ImageFormat::Png).validate(),
            Err(SpecError::RateTooHigh(_))
        ));
        assert_eq!(
            with(Selection::Count { count: 0 }, ImageFormat::Png).validate(),
            Err(SpecError::BadCount(0))
        );
        assert_eq!(
            with(Selection::default(), ImageFormat::Jpeg { quality: 0 }).validate(),
            Err(SpecError::BadQuality(0))
        );
        let tiny = ExtractionSpec {
            max_width: Some(1),
            ..Default::default()
        };
        assert_eq!(tiny.validate(), Err(SpecError::BadDimension(1)));
        assert!(serde_json::from_str::<ExtractionSpec>(r#"{"colour":"red"}"#).is_err());
    }
}
