//! Turning a decoded frame into packed 8-bit RGB, exactly as `ffmpeg -i in out.png` does.
//!
//! The conversion runs swscale through libavfilter's `scale` filter, configured the way the ffmpeg CLI configures
//! the one it inserts in front of the PNG encoder (`flags=bicubic`, output `rgb24`). Going through the filter rather
//! than calling `sws_scale` directly is what makes the pixels identical: the filter also sets the colour matrix and
//! range from each frame, the MPEG-2 chroma siting for 4:2:0, and takes the same code path for odd sizes.
//!
//! Rotated phone videos are turned upright like the CLI's autorotate: the stream's display matrix becomes
//! `transpose`/`hflip`/`vflip` in front of the scaler, on the YUV planes, as the CLI does.

use std::ffi::CString;

use rsmpeg::{
    avfilter::{AVFilter, AVFilterGraph, AVFilterInOut},
    avutil::AVFrame,
    error::RsmpegError,
};
use serde::Serialize;

use crate::{error::ExtractError, ffmpeg_ffi, rgb_image::RgbImage};

/// How to turn the coded picture upright, from the stream's display matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// As coded.
    #[default]
    Upright,
    /// Rotate 90 degrees clockwise.
    Clockwise,
    /// Rotate 90 degrees counter-clockwise.
    CounterClockwise,
    /// Transpose, then flip vertically (`transpose=cclock_flip`... as named by FFmpeg).
    ClockwiseFlip,
    /// `transpose=cclock_flip`.
    CounterClockwiseFlip,
    /// Rotate 180 degrees.
    UpsideDown,
    /// Mirror horizontally.
    HorizontalFlip,
    /// Mirror vertically.
    VerticalFlip,
}

impl Orientation {
    /// Reads a display matrix the way ffmpeg 5.1's `configure_input_video_filter` does.
    pub fn from_display_matrix(matrix: Option<[i32; 9]>) -> Self {
        let Some(m) = matrix else { return Self::Upright };
        let theta = rotation_degrees(&m);
        let near = |angle: f64| (theta - angle).abs() < 1.0;
        if near(90.0) {
            if m[3] > 0 {
                Self::CounterClockwiseFlip
            } else {
                Self::Clockwise
            }
        } else if near(180.0) {
            match (m[0] < 0, m[4] < 0) {
                (true, true) => Self::UpsideDown,
                (true, false) => Self::HorizontalFlip,
                (false, true) => Self::VerticalFlip,
                (false, false) => Self::Upright,
            }
        } else if near(270.0) {
            if m[3] < 0 {
                Self::ClockwiseFlip
            } else {
                Self::CounterClockwise
            }
        } else if theta.abs() < 1.0 && m[4] < 0 {
            Self::VerticalFlip
        } else {
            // Arbitrary angles (never produced by cameras) are left as coded rather than resampled.
            Self::Upright
        }
    }

    /// Whether width and height swap.
    pub fn swaps_axes(self) -> bool {
        matches!(
            self,
            Self::Clockwise | Self::CounterClockwise | Self::ClockwiseFlip | Self::CounterClockwiseFlip
        )
    }

    /// Degrees clockwise the picture is turned, for the manifest.
    pub fn degrees(self) -> u32 {
        match self {
            Self::Clockwise | Self::CounterClockwiseFlip => 90,
            Self::UpsideDown => 180,
            Self::CounterClockwise | Self::ClockwiseFlip => 270,
            _ => 0,
        }
    }

    fn filters(self) -> &'static str {
        match self {
            Self::Upright => "",
            Self::Clockwise => "transpose=clock,",
            Self::CounterClockwise => "transpose=cclock,",
            Self::ClockwiseFlip => "transpose=clock_flip,",
            Self::CounterClockwiseFlip => "transpose=cclock_flip,",
            Self::UpsideDown => "hflip,vflip,",
            Self::HorizontalFlip => "hflip,",
            Self::VerticalFlip => "vflip,",
        }
    }
}

/// `-round(av_display_rotation_get(m))` normalised to [0, 360), as fftools' `get_rotation`.
fn rotation_degrees(m: &[i32; 9]) -> f64 {
    let fixed = |v: i32| f64::from(v) / 65536.0;
    let scale0 = fixed(m[0]).hypot(fixed(m[3]));
    let scale1 = fixed(m[1]).hypot(fixed(m[4]));
    if scale0 == 0.0 || scale1 == 0.0 {
        return 0.0;
    }
    let rotation = (fixed(m[1]) / scale1).atan2(fixed(m[0]) / scale0).to_degrees();
    let theta = -(-rotation).round();
    theta - 360.0 * (theta / 360.0 + 0.9 / 360.0).floor()
}

/// Output size for a `width` x `height` upright picture bounded by `max_width` x `max_height`, never upscaled.
pub fn fit_within(width: u32, height: u32, max_width: Option<u32>, max_height: Option<u32>) -> (u32, u32) {
    let fx = max_width.map_or(1.0, |m| f64::from(m) / f64::from(width));
    let fy = max_height.map_or(1.0, |m| f64::from(m) / f64::from(height));
    let f = fx.min(fy);
    if f >= 1.0 {
        return (width, height);
    }
    let scaled = |v: u32| ((f64::from(v) * f).round() as u32).max(1);
    (scaled(width), scaled(height))
}

/// The frame properties a configured graph is valid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InputShape {
    width: i32,
    height: i32,
    format: i32,
    sar: (i32, i32),
}

/// Converts frames to RGB; rebuilds its filter graph when the stream changes size or format mid-way.
pub(crate) struct Converter {
    orientation: Orientation,
    max_width: Option<u32>,
    max_height: Option<u32>,
    graph: Option<(InputShape, AVFilterGraph)>,
}

impl Converter {
    pub fn new(orientation: Orientation, max_width: Option<u32>, max_height: Option<u32>) -> Self {
        Self {
            orientation,
            max_width,
            max_height,
            graph: None,
        }
    }

    pub fn convert(&mut self, frame: AVFrame) -> Result<RgbImage, ExtractError> {
        let shape = InputShape {
            width: frame.width,
            height: frame.height,
            format: frame.format,
            sar: (frame.sample_aspect_ratio.num, frame.sample_aspect_ratio.den),
        };
        if self.graph.as_ref().is_none_or(|(s, _)| *s != shape) {
            self.graph = Some((shape, self.build(shape)?));
        }
        let (_, graph) = self.graph.as_mut().expect("graph was just built");
        let ffmpeg_err = |context| {
            move |e: RsmpegError| ExtractError::Ffmpeg {
                context,
                message: e.to_string(),
            }
        };
        graph
            .get_filter(c"in")
            .expect("the graph has an `in` filter")
            .buffersrc_add_frame(Some(frame), None)
            .map_err(ffmpeg_err("feeding the scaler"))?;
        let rgb = graph
            .get_filter(c"out")
            .expect("the graph has an `out` filter")
            .buffersink_get_frame(None)
            .map_err(ffmpeg_err("reading the scaler"))?;
        Ok(ffmpeg_ffi::packed_rgb24(&rgb))
    }

    fn build(&self, shape: InputShape) -> Result<AVFilterGraph, ExtractError> {
        let ffmpeg_err = |e: RsmpegError| ExtractError::Ffmpeg {
            context: "configuring the scaler",
            message: e.to_string(),
        };
        let pix_fmt = ffmpeg_ffi::pix_fmt_name(shape.format).ok_or_else(|| ExtractError::Corrupt {
            detail: format!("unknown pixel format {}", shape.format),
        })?;
        let (sar_num, sar_den) = if shape.sar.1 == 0 { (0, 1) } else { shape.sar };
        let args = format!(
            "video_size={}x{}:pix_fmt={pix_fmt}:time_base=1/1:pixel_aspect={sar_num}/{sar_den}",
            shape.width, shape.height
        );
        let (mut w, mut h) = (shape.width.max(1) as u32, shape.height.max(1) as u32);
        if self.orientation.swaps_axes() {
            (w, h) = (h, w);
        }
        let (ow, oh) = fit_within(w, h, self.max_width, self.max_height);
        let size = if (ow, oh) == (w, h) {
            String::new()
        } else {
            format!("w={ow}:h={oh}:")
        };
        let chain = format!(
            "{}scale={size}flags=bicubic,format=rgb24",
            self.orientation.filters()
        );

        let graph = AVFilterGraph::new();
        {
            let buffer = AVFilter::get_by_name(c"buffer").map_err(ffmpeg_err)?;
            let sink = AVFilter::get_by_name(c"buffersink").map_err(ffmpeg_err)?;
            let args = CString::new(args).expect("no NUL in filter args");
            let mut src = graph
                .create_filter_context(&buffer, c"in", Some(&args))
                .map_err(ffmpeg_err)?;
            let mut out = graph
                .create_filter_context(&sink, c"out", None)
                .map_err(ffmpeg_err)?;
            let outputs = AVFilterInOut::new(c"in", &mut src, 0);
            let inputs = AVFilterInOut::new(c"out", &mut out, 0);
            let chain = CString::new(chain).expect("no NUL in filter chain");
            graph
                .parse_ptr(&chain, Some(inputs), Some(outputs))
                .map_err(ffmpeg_err)?;
        }
        graph.config().map_err(ffmpeg_err)?;
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Matrices as `av_display_rotation_set(m, angle)` writes them (angle counter-clockwise).
    fn rotation(angle: f64) -> [i32; 9] {
        let r = angle.to_radians();
        let fixed = |v: f64| (v * 65536.0).round() as i32;
        [
            fixed(r.cos()),
            fixed(-r.sin()),
            0,
            fixed(r.sin()),
            fixed(r.cos()),
            0,
            0,
            0,
            1 << 30,
        ]
    }

    #[test]
    fn reads_phone_rotations_like_ffmpeg() {
        assert_eq!(Orientation::from_display_matrix(None), Orientation::Upright);
        assert_eq!(
            Orientation::from_display_matrix(Some(rotation(0.0))),
            Orientation::Upright
        );
        // A portrait phone clip is stored landscape with a -90 degree matrix: ffmpeg turns it clockwise.
        assert_eq!(
            Orientation::from_display_matrix(Some(rotation(-90.0))),
            Orientation::Clockwise
        );
        assert_eq!(
            Orientation::from_display_matrix(Some(rotation(90.0))),
            Orientation::CounterClockwise
        );
        assert_eq!(
            Orientation::from_display_matrix(Some(rotation(180.0))),
            Orientation::UpsideDown
        );
    }

    #[test]
    fn fits_without_upscaling() {
        assert_eq!(fit_within(1920, 1080, Some(640), None), (640, 360));
        assert_eq!(fit_within(1920, 1080, Some(640), Some(100)), (178, 100));
        assert_eq!(fit_within(320, 240, Some(640), Some(480)), (320, 240));
        assert_eq!(fit_within(321, 241, Some(160), None), (160, 120));
    }
}
