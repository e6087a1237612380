//! What to extract from a video: which frames, in which image format, at which size.

use std::fmt;

/// A positive rational number, e.g. `30000/1001` frames per second.
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

/// Which frames to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Selection {
    /// A fixed output rate, with the semantics of FFmpeg's `fps` filter.
    Fps(Rational),
    /// One frame every `seconds` (a rational, so `every 0.5` is `1/2`).
    Every(Rational),
    /// `n` frames evenly spaced over the duration.
    Count(u32),
}

/// The image format of extracted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// Lossless PNG (the old monolith's output).
    Png,
    /// Baseline JPEG, 4:2:0, with the given quality (1..=100).
    Jpeg {
        /// Encoder quality, 1..=100.
        quality: u8,
    },
    /// Lossless WebP.
    Webp,
}

impl ImageFormat {
    /// The file extension of frames in the archive.
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg { .. } => "jpg",
            Self::Webp => "webp",
        }
    }
}

/// The full extraction spec carried by `uploaded` and `reprocess_requested`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtractionSpec {
    /// Which frames.
    pub selection: Selection,
    /// Which image format.
    pub format: ImageFormat,
    /// Scale down (keeping aspect ratio) to at most this width.
    pub max_width: Option<u32>,
    /// Scale down (keeping aspect ratio) to at most this height.
    pub max_height: Option<u32>,
}

impl Default for ExtractionSpec {
    /// The old monolith's `ffmpeg -vf fps=1` to PNG.
    fn default() -> Self {
        Self {
            selection: Selection::Fps(Rational::new(1, 1)),
            format: ImageFormat::Png,
            max_width: None,
            max_height: None,
        }
    }
}

/// Upper bounds that keep a spec sane whatever the video.
impl ExtractionSpec {
    /// The highest frame rate a spec may ask for.
    pub const MAX_FPS: u32 = 240;
    /// The most frames a `count` spec may ask for.
    pub const MAX_COUNT: u32 = 100_000;
    /// The smallest frame side a spec may ask for.
    pub const MIN_SIDE: u32 = 16;
    /// The largest frame side a spec may ask for.
    pub const MAX_SIDE: u32 = 16_384;

    /// Checks the spec; every rule a caller can break has its own error.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self.selection {
            Selection::Fps(rate) => {
                if rate.num == 0 || rate.den == 0 {
                    return Err(SpecError::NonPositiveRate);
                }
                if u64::from(rate.num) > u64::from(rate.den) * u64::from(Self::MAX_FPS) {
                    return Err(SpecError::RateTooHigh { max: Self::MAX_FPS });
                }
            }
            Selection::Every(period) => {
                if period.num == 0 || period.den == 0 {
                    return Err(SpecError::NonPositiveRate);
                }
                if u64::from(period.den) > u64::from(period.num) * u64::from(Self::MAX_FPS) {
                    return Err(SpecError::RateTooHigh { max: Self::MAX_FPS });
                }
            }
            Selection::Count(n) => {
                if n == 0 || n > Self::MAX_COUNT {
                    return Err(SpecError::CountOutOfRange { max: Self::MAX_COUNT });
                }
            }
        }
        if let ImageFormat::Jpeg { quality } = self.format
            && !(1..=100).contains(&quality)
        {
            return Err(SpecError::QualityOutOfRange);
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
}

/// A spec that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A zero rate, period or denominator.
    #[error("frame rate and interval must be positive")]
    NonPositiveRate,
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

    #[test]
    fn default_is_the_monolith_fps_1_png() {
        let spec = ExtractionSpec::default();
        assert_eq!(spec.selection, Selection::Fps(Rational::new(1, 1)));
        assert_eq!(spec.format, ImageFormat::Png);
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn rejects_each_broken_rule() {
        assert_eq!(
            spec(Selection::Fps(Rational::new(0, 1))).validate(),
            Err(SpecError::NonPositiveRate)
        );
        assert_eq!(
            spec(Selection::Fps(Rational::new(1, 0))).validate(),
            Err(SpecError::NonPositiveRate)
        );
        assert_eq!(
            spec(Selection::Every(Rational::new(0, 1))).validate(),
            Err(SpecError::NonPositiveRate)
        );
        assert_eq!(
            spec(Selection::Fps(Rational::new(241, 1))).validate(),
            Err(SpecError::RateTooHigh { max: 240 })
        );
        assert_eq!(
            spec(Selection::Every(Rational::new(1, 1000))).validate(),
            Err(SpecError::RateTooHigh { max: 240 })
        );
        assert!(matches!(
            spec(Selection::Count(0)).validate(),
            Err(SpecError::CountOutOfRange { .. })
        ));
        assert!(matches!(
            spec(Selection::Count(100_001)).validate(),
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
    }

    #[test]
    fn accepts_fractional_rates_and_periods() {
        assert_eq!(
            spec(Selection::Fps(Rational::new(30000, 1001))).validate(),
            Ok(())
        );
        assert_eq!(spec(Selection::Every(Rational::new(5, 2))).validate(), Ok(()));
        assert_eq!(spec(Selection::Count(10)).validate(), Ok(()));
    }
}
