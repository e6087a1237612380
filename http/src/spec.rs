//! The extraction spec as the API shows it: one flat object (or the same names as query parameters) that the
//! upload and reprocess commands accept and the query side returns, so a client can send a video's `spec` back
//! to process it again. It is a thin view of the domain's [`ExtractionSpec`], which owns the rules and limits.

use fiapx_domain::{ExtractionSpec, ImageFormat, Position, Rational, Selection, SpecError, Storyboard};
use poem_openapi::{Enum, Object};

use crate::ApiError;

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
/// At most one selection: `fps`, `every`, `count`, `at`, `scene` (with `min_gap`) or `keyframes`. Limits: at most
/// 240 frames per second, `count` from 1 to 100000 and `at` from 1 to 1000 positions (and no more than the
/// processors' configured frames per archive), `scene` above 0 and at most 1, `quality` from 1 to 100,
/// `max_width`/`max_height` from 16 to 16384 pixels. A video's `spec` has this same shape, with its selection and
/// `format` always present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object)]
#[oai(rename = "ExtractionSpec", deny_unknown_fields, skip_serializing_if_is_none)]
pub struct SpecForm {
    /// Frames per second, a number or a fraction: `1`, `0.5`, `30000/1001`.
    #[oai(validator(pattern = r"^\s*(\d+(\.\d{1,6})?|\.\d{1,6}|\d+\s*/\s*\d+)\s*$"))]
    pub fps: Option<String>,
    /// One frame every N seconds, a number or a fraction: `2`, `2.5`, `5/2`.
    #[oai(validator(pattern = r"^\s*(\d+(\.\d{1,6})?|\.\d{1,6}|\d+\s*/\s*\d+)\s*$"))]
    pub every: Option<String>,
    /// N frames evenly spaced over the video.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub count: Option<u32>,
    /// The frames shown at these positions, separated by commas: `first`, `last`, seconds (`12.5`), a time
    /// (`1:05`, `01:02:03.250`) or a share of the duration (`10%`). Frames come in time order.
    #[oai(validator(min_length = 1, max_length = 32000))]
    pub at: Option<String>,
    /// Scene changes: the first frame, then each frame whose scene score (0 to 1, as FFmpeg's `select` filter)
    /// is above this threshold, e.g. `0.3`. Every frame is decoded.
    #[oai(validator(pattern = r"^\s*(\d+(\.\d{1,6})?|\.\d{1,6}|\d+\s*/\s*\d+)\s*$"))]
    pub scene: Option<String>,
    /// With `scene`: the least seconds between two frames kept (default 0), e.g. `2`.
    #[oai(validator(pattern = r"^\s*(\d+(\.\d{1,6})?|\.\d{1,6}|\d+\s*/\s*\d+)\s*$"))]
    pub min_gap: Option<String>,
    /// `true`: every keyframe and nothing else (only keyframes are decoded; the fastest mode).
    pub keyframes: Option<bool>,
    /// Image format (default `png`).
    pub format: Option<FormatName>,
    /// JPEG quality 1..=100 (default 85); only with `format=jpeg`.
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub quality: Option<u8>,
    /// Scale down to at most this width (pixels, keeping the aspect ratio).
    #[oai(validator(minimum(value = "16"), maximum(value = "16384")))]
    pub max_width: Option<u32>,
    /// Scale down to at most this height (pixels, keeping the aspect ratio).
    #[oai(validator(minimum(value = "16"), maximum(value = "16384")))]
    pub max_height: Option<u32>,
    /// Scrub previews next to the frames: a small frame every N seconds (1 to 600, e.g. `10`), tiled into JPEG
    /// sprite sheets with a WebVTT index (`GET /api/v1/videos/{id}/storyboard.vtt`).
    #[oai(validator(pattern = r"^\s*(\d+(\.\d{1,6})?|\.\d{1,6}|\d+\s*/\s*\d+)\s*$"))]
    pub storyboard: Option<String>,
    /// With `storyboard`: tile width in pixels (default 160).
    #[oai(validator(minimum(value = "32"), maximum(value = "640")))]
    pub storyboard_width: Option<u32>,
    /// With `storyboard`: tiles per row of a sheet (default 5).
    #[oai(validator(minimum(value = "1"), maximum(value = "20")))]
    pub storyboard_columns: Option<u32>,
    /// With `storyboard`: rows of tiles per sheet (default 5).
    #[oai(validator(minimum(value = "1"), maximum(value = "20")))]
    pub storyboard_rows: Option<u32>,
}

impl SpecForm {
    /// True when nothing was given (a reprocess then keeps the current spec).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The domain spec, validated and admitted against an engine that keeps at most `max_frames` frames per
    /// archive; every mistake is a 400 `invalid_spec` saying what is wrong.
    pub fn to_spec(&self, max_frames: u64) -> Result<ExtractionSpec, ApiError> {
        let rational = |field: &str, text: &str| {
            text.parse::<Rational>()
                .map_err(|e| ApiError::invalid_spec(format!("{field}: {e}")))
        };
        if self.min_gap.is_some() && self.scene.is_none() {
            return Err(ApiError::invalid_spec("min_gap applies only to scene"));
        }
        let keyframes = self.keyframes == Some(true);
        let given = [
            self.fps.is_some(),
            self.every.is_some(),
            self.count.is_some(),
            self.at.is_some(),
            self.scene.is_some(),
            keyframes,
        ];
        if given.iter().filter(|&&g| g).count() > 1 {
            return Err(ApiError::invalid_spec(
                "give at most one of fps, every, count, at, scene and keyframes",
            ));
        }
        let selection = if let Some(fps) = &self.fps {
            Selection::Fps {
                fps: rational("fps", fps)?,
            }
        } else if let Some(every) = &self.every {
            Selection::Every {
                seconds: rational("every", every)?,
            }
        } else if let Some(count) = self.count {
            Selection::Count { count }
        } else if let Some(at) = &self.at {
            Selection::At {
                at: Position::parse_list(at).map_err(|e| ApiError::invalid_spec(format!("at: {e}")))?,
            }
        } else if let Some(scene) = &self.scene {
            Selection::Scene {
                threshold: rational("scene", scene)?,
                min_gap: match &self.min_gap {
                    Some(gap) => rational("min_gap", gap)?,
                    None => Rational::zero(),
                },
            }
        } else if keyframes {
            Selection::Keyframes
        } else {
            Selection::default()
        };
        let format = match (self.format, self.quality) {
            (None | Some(FormatName::Png), None) => ImageFormat::Png,
            (Some(FormatName::Webp), None) => ImageFormat::Webp,
            (Some(FormatName::Jpeg), None) => ImageFormat::Jpeg {
                quality: fiapx_domain::DEFAULT_JPEG_QUALITY,
            },
            (Some(FormatName::Jpeg), Some(quality)) => ImageFormat::Jpeg { quality },
            (_, Some(_)) => return Err(ApiError::invalid_spec("quality applies only to format=jpeg")),
        };
        let storyboard = match &self.storyboard {
            Some(every) => Some(Storyboard {
                every: rational("storyboard", every)?,
                width: self.storyboard_width.unwrap_or(Storyboard::DEFAULT_WIDTH),
                columns: self.storyboard_columns.unwrap_or(Storyboard::DEFAULT_SIDE),
                rows: self.storyboard_rows.unwrap_or(Storyboard::DEFAULT_SIDE),
            }),
            None if self.storyboard_width.is_some()
                || self.storyboard_columns.is_some()
                || self.storyboard_rows.is_some() =>
            {
                return Err(ApiError::invalid_spec(
                    "storyboard_width, storyboard_columns and storyboard_rows apply only with storyboard",
                ));
            }
            None => None,
        };
        let spec = ExtractionSpec {
            selection,
            format,
            max_width: self.max_width,
            max_height: self.max_height,
            storyboard,
        };
        spec.admit(max_frames).map_err(invalid_spec)?;
        Ok(spec)
    }
}

/// A domain spec in the API's shape: what [`SpecForm::to_spec`] turns back into the same spec.
impl From<&ExtractionSpec> for SpecForm {
    fn from(spec: &ExtractionSpec) -> Self {
        let mut form = Self::default();
        match &spec.selection {
            Selection::Fps { fps } => form.fps = Some(fps.to_string()),
            Selection::Every { seconds } => form.every = Some(seconds.to_string()),
            Selection::Count { count } => form.count = Some(*count),
            Selection::At { at } => form.at = Some(Position::format_list(at)),
            Selection::Scene { threshold, min_gap } => {
                form.scene = Some(threshold.to_string());
                form.min_gap = Some(min_gap.to_string());
            }
            Selection::Keyframes => form.keyframes = Some(true),
        }
        let (format, quality) = match spec.format {
            ImageFormat::Png => (FormatName::Png, None),
            ImageFormat::Jpeg { quality } => (FormatName::Jpeg, Some(quality)),
            ImageFormat::Webp => (FormatName::Webp, None),
        };
        if let Some(storyboard) = &spec.storyboard {
            form.storyboard = Some(storyboard.every.to_string());
            form.storyboard_width = Some(storyboard.width);
            form.storyboard_columns = Some(storyboard.columns);
            form.storyboard_rows = Some(storyboard.rows);
        }
        Self {
            format: Some(format),
            quality,
            max_width: spec.max_width,
            max_height: spec.max_height,
            ..form
        }
    }
}

/// A broken spec rule as the API's error.
fn invalid_spec(error: SpecError) -> ApiError {
    ApiError::invalid_spec(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const NO_LIMIT: u64 = u64::MAX;

    #[test]
    fn nothing_given_is_the_monolith_default() {
        assert!(SpecForm::default().is_empty());
        assert_eq!(
            SpecForm::default().to_spec(NO_LIMIT).unwrap(),
            ExtractionSpec::default()
        );
    }

    #[test]
    fn maps_every_field() {
        let input = SpecForm {
            fps: Some("30000/1001".into()),
            format: Some(FormatName::Jpeg),
            quality: Some(70),
            max_width: Some(640),
            max_height: Some(360),
            ..SpecForm::default()
        };
        let spec = input.to_spec(NO_LIMIT).unwrap();
        assert_eq!(
            spec.selection,
            Selection::Fps {
                fps: Rational::new(30000, 1001)
            }
        );
        assert_eq!(spec.format, ImageFormat::Jpeg { quality: 70 });
        assert_eq!((spec.max_width, spec.max_height), (Some(640), Some(360)));

        let every = SpecForm {
            every: Some("2.5".into()),
            format: Some(FormatName::Webp),
            ..SpecForm::default()
        };
        assert_eq!(
            every.to_spec(NO_LIMIT).unwrap().selection,
            Selection::Every {
                seconds: Rational::new(5, 2)
            }
        );
        assert_eq!(every.to_spec(NO_LIMIT).unwrap().format, ImageFormat::Webp);
        let count = SpecForm {
            count: Some(10),
            format: Some(FormatName::Jpeg),
            ..SpecForm::default()
        };
        assert_eq!(
            count.to_spec(NO_LIMIT).unwrap().selection,
            Selection::Count { count: 10 }
        );
        assert_eq!(
            count.to_spec(NO_LIMIT).unwrap().format,
            ImageFormat::Jpeg {
                quality: fiapx_domain::DEFAULT_JPEG_QUALITY
            }
        );
    }

    #[test]
    fn a_returned_spec_can_be_sent_back_unchanged() {
        let specs = [
            SpecForm::default(),
            SpecForm {
                fps: Some("30000/1001".into()),
                format: Some(FormatName::Jpeg),
                quality: Some(70),
                max_width: Some(640),
                ..SpecForm::default()
            },
            SpecForm {
                every: Some("0.5".into()),
                format: Some(FormatName::Webp),
                max_height: Some(90),
                ..SpecForm::default()
            },
            SpecForm {
                count: Some(7),
                ..SpecForm::default()
            },
            SpecForm {
                at: Some("last, 12.5%, 1:05.5, first".into()),
                ..SpecForm::default()
            },
            SpecForm {
                scene: Some("0.3".into()),
                min_gap: Some("2".into()),
                ..SpecForm::default()
            },
            SpecForm {
                scene: Some("1".into()),
                ..SpecForm::default()
            },
            SpecForm {
                keyframes: Some(true),
                format: Some(FormatName::Jpeg),
                ..SpecForm::default()
            },
            SpecForm {
                storyboard: Some("10".into()),
                ..SpecForm::default()
            },
            SpecForm {
                count: Some(3),
                storyboard: Some("2.5".into()),
                storyboard_width: Some(96),
                storyboard_columns: Some(4),
                storyboard_rows: Some(2),
                ..SpecForm::default()
            },
        ];
        for form in specs {
            let spec = form.to_spec(NO_LIMIT).unwrap();
            let shown = SpecForm::from(&spec);
            assert_eq!(
                shown.to_spec(NO_LIMIT).unwrap(),
                spec,
                "{form:?} shown as {shown:?}"
            );
            assert_eq!(SpecForm::from(&shown.to_spec(NO_LIMIT).unwrap()), shown);
        }
    }

    #[test]
    fn rationals_name_the_field() {
        for bad in ["", "x", "1/", "/2", "-1", "1.", "1.2.3", "1e3", "99999999999"] {
            let error = SpecForm {
                fps: Some(bad.into()),
                ..SpecForm::default()
            }
            .to_spec(NO_LIMIT)
            .unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidSpec, "{bad}");
            assert!(error.message().starts_with("fps: "), "{}", error.message());
        }
    }

    #[test]
    fn the_new_modes_map_and_name_their_field() {
        let at = SpecForm {
            at: Some("first, 00:00:02.5, 50%".into()),
            ..SpecForm::default()
        };
        assert_eq!(
            at.to_spec(NO_LIMIT).unwrap().selection,
            Selection::At {
                at: vec![
                    Position::First,
                    Position::Time { micros: 2_500_000 },
                    Position::Percent(Rational::new(50, 1))
                ]
            }
        );
        assert_eq!(
            SpecForm::from(&at.to_spec(NO_LIMIT).unwrap()).at.as_deref(),
            Some("first,00:00:02.500,50%")
        );
        let error = SpecForm {
            at: Some("1, 2, later".into()),
            ..SpecForm::default()
        }
        .to_spec(NO_LIMIT)
        .unwrap_err();
        assert!(error.message().starts_with("at: `later`"), "{}", error.message());
        let keyframes_off = SpecForm {
            keyframes: Some(false),
            ..SpecForm::default()
        };
        assert_eq!(
            keyframes_off.to_spec(NO_LIMIT).unwrap(),
            ExtractionSpec::default()
        );
        let too_many = SpecForm {
            at: Some("1,2,3".into()),
            ..SpecForm::default()
        };
        assert!(too_many.to_spec(2).unwrap_err().message().contains("at most 2"));
    }

    #[test]
    fn a_count_over_the_engine_limit_is_refused_at_admission() {
        let form = SpecForm {
            count: Some(60_000),
            ..SpecForm::default()
        };
        assert!(form.to_spec(NO_LIMIT).is_ok());
        let error = form.to_spec(50_000).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidSpec);
        assert!(error.message().contains("50000"), "{}", error.message());
    }

    #[test]
    fn the_documented_limits_are_the_domains() {
        use poem_openapi::registry::{MetaSchemaRef, Registry};
        use poem_openapi::types::Type;
        let mut registry = Registry::new();
        SpecForm::register(&mut registry);
        let schema = &registry.schemas["ExtractionSpec"];
        let bounds = |field: &str| {
            let (_, MetaSchemaRef::Inline(property)) =
                schema.properties.iter().find(|(name, _)| *name == field).unwrap()
            else {
                panic!("{field} is inline")
            };
            (property.minimum, property.maximum)
        };
        let spec = |min: u32, max: u32| (Some(f64::from(min)), Some(f64::from(max)));
        assert_eq!(bounds("count"), spec(1, ExtractionSpec::MAX_COUNT));
        assert_eq!(
            bounds("quality"),
            spec(
                ExtractionSpec::MIN_QUALITY.into(),
                ExtractionSpec::MAX_QUALITY.into()
            )
        );
        for side in ["max_width", "max_height"] {
            assert_eq!(
                bounds(side),
                spec(ExtractionSpec::MIN_SIDE, ExtractionSpec::MAX_SIDE)
            );
        }
    }

    #[test]
    fn broken_rules_are_invalid_spec_with_a_message() {
        let cases = [
            SpecForm {
                fps: Some("1".into()),
                count: Some(3),
                ..SpecForm::default()
            },
            SpecForm {
                quality: Some(80),
                ..SpecForm::default()
            },
            SpecForm {
                fps: Some("1000".into()),
                ..SpecForm::default()
            },
            SpecForm {
                fps: Some("1/0".into()),
                ..SpecForm::default()
            },
            SpecForm {
                count: Some(0),
                ..SpecForm::default()
            },
            SpecForm {
                count: Some(100_001),
                ..SpecForm::default()
            },
            SpecForm {
                format: Some(FormatName::Jpeg),
                quality: Some(0),
                ..SpecForm::default()
            },
            SpecForm {
                max_width: Some(4),
                ..SpecForm::default()
            },
            SpecForm {
                at: Some("10%, soon".into()),
                ..SpecForm::default()
            },
            SpecForm {
                at: Some("150%".into()),
                ..SpecForm::default()
            },
            SpecForm {
                at: Some("1".into()),
                keyframes: Some(true),
                ..SpecForm::default()
            },
            SpecForm {
                scene: Some("0".into()),
                ..SpecForm::default()
            },
            SpecForm {
                scene: Some("1.5".into()),
                ..SpecForm::default()
            },
            SpecForm {
                min_gap: Some("2".into()),
                ..SpecForm::default()
            },
            SpecForm {
                storyboard_width: Some(100),
                ..SpecForm::default()
            },
            SpecForm {
                storyboard: Some("0.5".into()),
                ..SpecForm::default()
            },
            SpecForm {
                storyboard: Some("10".into()),
                storyboard_rows: Some(21),
                ..SpecForm::default()
            },
        ];
        for input in cases {
            let error = input.to_spec(NO_LIMIT).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidSpec, "{input:?}");
            assert!(!error.message().is_empty());
        }
    }
}
