//! FIAP X frame engine: turns a video into a ZIP of images chosen by timestamp.
//!
//! Owns probing (by content), decoding with FFmpeg through rsmpeg on blocking threads, frame selection that
//! reproduces `ffmpeg -vf fps=N` exactly, conversion and image encoding on a worker pool, and streaming a Stored,
//! zip64-safe archive with a `manifest.json` into any `AsyncWrite`. Memory is bounded by a few decoded pictures,
//! whatever the video's length.
//!
//! The engine modules know nothing of NATS, S3 or events. The job flow ([`Processor`], `service.rs`) is the
//! JetStream consumer around it: it streams the source from object storage into the engine and the archive back,
//! appends the lifecycle events, and maps [`ExtractError`] to failure codes and retry decisions.

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
mod service;
mod spec;

pub use archive::{MANIFEST_NAME, Manifest, ManifestFrame, frame_file_name};
pub use convert::{Orientation, RgbImage};
pub use decode::{DecodeStats, SourceInfo};
pub use encode::encode_image;
pub use error::ExtractError;
pub use extract::{ExtractionSummary, Extractor, Progress};
pub use limits::Limits;
pub use service::{JobProgress, Processor, ProcessorError, ProcessorSettings, engine_spec};
pub use spec::{DEFAULT_JPEG_QUALITY, ExtractionSpec, ImageFormat, Rational, Selection, SpecError};
