//! FIAP X frame engine: turns a video into a ZIP of images chosen by timestamp.
//!
//! Owns probing (by content), decoding with FFmpeg through rsmpeg on blocking threads, frame selection that
//! reproduces `ffmpeg -vf fps=N` exactly, conversion and image encoding on a worker pool, and streaming a Stored,
//! zip64-safe archive with a `manifest.json` into any `AsyncWrite`. Memory is bounded by a few decoded pictures,
//! whatever the video's length. What to extract is the domain's [`fiapx_domain::ExtractionSpec`]; what one
//! extraction may consume is [`Limits`] (configuration).
//!
//! It must not know NATS, S3, events or HTTP: the processor service streams sources in and archives out, and
//! `fiapx frames` and the benchmarks run it on local files.

mod archive;
mod convert;
mod decode;
mod encode;
mod error;
mod extract;
mod ffmpeg_ffi;
mod input;
mod limits;
mod rgb_image;
mod scene;
mod selection;
mod storyboard;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use archive::{MANIFEST_NAME, Manifest};
pub use convert::Orientation;
pub use decode::{DecodeStats, SourceInfo};
pub use encode::encode_image;
pub use error::ExtractError;
pub use extract::{ExtractionSummary, Extractor, Progress};
pub use fiapx_domain::{ManifestFrame, frame_file_name};
pub use limits::Limits;
pub use rgb_image::RgbImage;
pub use storyboard::{STORYBOARD_DIR, StoryboardOutput, sheet_file_name};
