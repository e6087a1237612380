//! The extraction spec as callers write it (query parameters or a JSON object) and its mapping to the domain's
//! [`ExtractionSpec`].

use fiapx_domain::{ExtractionSpec, ImageFormat, Rational, Selection};
use fiapx_http::ApiError;
use poem_openapi::{Enum, Object};

/// JPEG quality when `format=jpeg` comes without `quality`.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

/// Image format of the extracted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum FormatName {
    /// Lossless PNG (default, like the old monolith).
    Png,
    /// JPEG with `quality`.
    Jpeg,
    /// Lossless WebP.
    Webp,
}

/// What to extract. Every field is optional; with none the old monolith's output is kept: one PNG per second.
/// At most one of `fps`, `every`, `count`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object)]
#[oai(rename = "ExtractionSpec", deny_unknown_fields)]
pub struct SpecInput {
    /// Frames per second, a number or a fraction: `1`, `0.5`, `30000/1001`.
    pub fps: Option<String>,
    /// One frame every N seconds, a number or a fraction: `2`, `2.5`, `5/2`.
    pub every: Option<String>,
    /// N frames evenly spaced over the video.
    pub count: Option<u32>,
    /// Image format (default `png`).
    pub format: Option<FormatName>,
    /// JPEG quality 1..=100 (default 85); only with `format=jpeg`.
    pub quality: Option<u8>,
    /// Scale down to at most this width (pixels, keeping the aspect ratio).
    pub max_width: Option<u32>,
    /// Scale down to at most this height (pixels, keeping the aspect ratio).
    pub max_height: Option<u32>,
}

impl SpecInput {
    /// True when nothing was given (a reprocess then keeps the current spec).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The validated domain spec; every mistake is a 400 `invalid_spec` saying what is wrong.
    pub fn to_spec(&self) -> Result<ExtractionSpec, ApiError> {
        let selection = match (&self.fps, &self.every, self.count) {
            (None, None, None) => ExtractionSpec::default().selection,
            (Some(fps), None, None) => Selection::Fps(parse_rational("fps", fps)?),
            (None, Some(every), None) => Selection::Every(parse_rational("every", every)?),
            (None, None, Some(count)) => Selection::Count(count),
            _ => return Err(ApiError::invalid_spec("give at most one of fps, every and count")),
        };
        let format = match (self.format, self.quality) {
            (None | Some(FormatName::Png), None) => ImageFormat::Png,
            (Some(FormatName::Webp), None) => ImageFormat::Webp,
            (Some(FormatName::Jpeg), quality) => ImageFormat::Jpeg {
                quality: quality.unwrap_or(DEFAULT_JPEG_QUALITY),
            },
            (_, Some(_)) => return Err(ApiError::invalid_spec("quality applies only to format=jpeg")),
        };
        let spec = ExtractionSpec {
            selection,
            format,
            max_width: self.max_width,
            max_height: self.max_height,
        };
        spec.validate()
            .map_err(|e| ApiError::invalid_spec(e.to_string()))?;
        Ok(spec)
    }
}

/// `"3"`, `"0.5"` or `"30000/1001"` as an exact rational.
pub fn parse_rational(field: &str, text: &str) -> Result<Rational, ApiError> {
    let invalid = || {
        ApiError::invalid_spec(format!(
            "{field} must be a positive number or a fraction like 30000/1001, got {text:?}"
        ))
    };
    let text = text.trim();
    if let Some((num, den)) = text.split_once('/') {
        let num = num.trim().parse::<u32>().map_err(|_| invalid())?;
        let den = den.trim().parse::<u32>().map_err(|_| invalid())?;
        return Ok(Rational::new(num, den));
    }
    if let Some((whole, frac)) = text.split_once('.') {
        if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let whole = if whole.is_empty() {
            0
        } else {
            whole.parse::<u64>().map_err(|_| invalid())?
        };
        let den = 10_u64.pow(frac.len() as u32);
        let num = whole
            .checked_mul(den)
            .and_then(|n| n.checked_add(frac.parse::<u64>().ok()?))
            .ok_or_else(invalid)?;
        let divisor = gcd(num, den).max(1);
        let (num, den) = (num / divisor, den / divisor);
        return Ok(Rational::new(
            u32::try_from(num).map_err(|_| invalid())?,
            u32::try_from(den).map_err(|_| invalid())?,
        ));
    }
    text.parse::<u32>()
        .map(|n| Rational::new(n, 1))
        .map_err(|_| invalid())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use fiapx_http::ErrorCode;

    use super::*;

    #[test]
    fn nothing_given_is_the_monolith_default() {
        assert!(SpecInput::default().is_empty());
        assert_eq!(SpecInput::default().to_spec().unwrap(), ExtractionSpec::default());
    }

    #[test]
    fn maps_every_field() {
        let input = SpecInput {
            fps: Some("30000/1001".into()),
            format: Some(FormatName::Jpeg),
            quality: Some(70),
            max_width: Some(640),
            max_height: Some(360),
            ..SpecInput::default()
        };
        let spec = input.to_spec().unwrap();
        assert_eq!(spec.selection, Selection::Fps(Rational::new(30000, 1001)));
        assert_eq!(spec.format, ImageFormat::Jpeg { quality: 70 });
        assert_eq!((spec.max_width, spec.max_height), (Some(640), Some(360)));

        let every = SpecInput {
            every: Some("2.5".into()),
            format: Some(FormatName::Webp),
            ..SpecInput::default()
        };
        assert_eq!(
            every.to_spec().unwrap().selection,
            Selection::Every(Rational::new(5, 2))
        );
        assert_eq!(every.to_spec().unwrap().format, ImageFormat::Webp);
        let count = SpecInput {
            count: Some(10),
            format: Some(FormatName::Jpeg),
            ..SpecInput::default()
        };
        assert_eq!(count.to_spec().unwrap().selection, Selection::Count(10));
        assert_eq!(
            count.to_spec().unwrap().format,
            ImageFormat::Jpeg {
                quality: DEFAULT_JPEG_QUALITY
            }
        );
    }

    #[test]
    fn rationals() {
        assert_eq!(parse_rational("fps", "1").unwrap(), Rational::new(1, 1));
        assert_eq!(parse_rational("fps", "0.5").unwrap(), Rational::new(1, 2));
        assert_eq!(parse_rational("fps", ".25").unwrap(), Rational::new(1, 4));
        assert_eq!(
            parse_rational("fps", " 24000/1001 ").unwrap(),
            Rational::new(24000, 1001)
        );
        for bad in ["", "x", "1/", "/2", "-1", "1.", "1.2.3", "1e3", "99999999999"] {
            assert_eq!(
                parse_rational("fps", bad).unwrap_err().code(),
                ErrorCode::InvalidSpec,
                "{bad}"
            );
        }
    }

    #[test]
    fn broken_rules_are_invalid_spec_with_a_message() {
        let cases = [
            SpecInput {
                fps: Some("1".into()),
                count: Some(3),
                ..SpecInput::default()
            },
            SpecInput {
                quality: Some(80),
                ..SpecInput::default()
            },
            SpecInput {
                fps: Some("1000".into()),
                ..SpecInput::default()
            },
            SpecInput {
                fps: Some("1/0".into()),
                ..SpecInput::default()
            },
            SpecInput {
                count: Some(0),
                ..SpecInput::default()
            },
            SpecInput {
                format: Some(FormatName::Jpeg),
                quality: Some(0),
                ..SpecInput::default()
            },
            SpecInput {
                max_width: Some(4),
                ..SpecInput::default()
            },
        ];
        for input in cases {
            let error = input.to_spec().unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidSpec, "{input:?}");
            assert!(!error.message().is_empty());
        }
    }
}
