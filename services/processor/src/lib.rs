//! FIAP X frame engine: turns a video into a ZIP of images chosen by timestamp.
//!
//! Owns probing (by content), decoding with FFmpeg through rsmpeg on blocking threads, frame selection that
//! reproduces `ffmpeg -vf fps=N` exactly, conversion and image encoding on a worker pool, and streaming a Stored,
//! zip64-safe archive with a `manifest.json` into any `AsyncWrite`. Memory is bounded by a few decoded pictures,
//! whatever the video's length.
//!
//! It knows nothing of NATS, S3 or events: the processor's job flow (another module) feeds it a byte stream and a
//! writer and maps [`ExtractError`] to retry decisions with [`ExtractError::is_bad_input`].

mod archive;
mod convert;
mod decode;
mod encode;
mod error;
mod extract;
mod ffmpeg_ffi;
mod input;
mod limits;
mod selection;
mod spec;

pub use archive::{MANIFEST_NAME, Manifest, ManifestFrame, frame_file_name};
pub use convert::{Orientation, RgbImage};
pub use decode::{DecodeStats, SourceInfo};
pub use encode::encode_image;
pub use error::ExtractError;
pub use extract::{ExtractionSummary, Extractor, Progress};
pub use limits::Limits;
pub use spec::{DEFAULT_JPEG_QUALITY, ExtractionSpec, ImageFormat, Rational, Selection, SpecError};
