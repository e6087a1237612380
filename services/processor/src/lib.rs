//! FIAP X frame engine: turns a video into a ZIP of images chosen by timestamp.
//!
//! Owns probing (by content), decoding with FFmpeg through rsmpeg on blocking threads, frame selection that
//! reproduces `ffmpeg -vf fps=N` exactly, conversion and image encoding on a worker pool, and streaming a Stored,
//! zip64-safe archive with a `manifest.json` into any `AsyncWrite`. Memory is bounded by a few decoded pictures,
//! whatever the video's length.
//!
//! The engine modules know nothing of NATS, S3 or events. The service around it ([`Processor`]) is split by job:
//! `settings.rs` (how it consumes and retries), `worker.rs` (the consumers, on `fiapx_nats::ConsumerRunner`),
//! `job.rs` (one job's flow: it streams the source from object storage into the engine and the archive back,
//! appends the lifecycle events, and maps [`ExtractError`] to failure codes and retry decisions), `progress.rs`
//! (live progress, `fiapx_schemas::ProgressUpdate`) and `advisories.rs` (jobs JetStream gave up on).

mod advisories;
mod archive;
mod convert;
mod decode;
mod encode;
mod error;
mod extract;
mod ffmpeg_ffi;
mod input;
mod job;
mod limits;
mod progress;
mod selection;
mod settings;
mod spec;
mod worker;

pub use archive::{MANIFEST_NAME, Manifest, ManifestFrame, frame_file_name};
pub use convert::{Orientation, RgbImage};
pub use decode::{DecodeStats, SourceInfo};
pub use encode::encode_image;
pub use error::ExtractError;
pub use extract::{ExtractionSummary, Extractor, Progress};
pub use job::engine_spec;
pub use limits::Limits;
pub use settings::ProcessorSettings;
pub use spec::{DEFAULT_JPEG_QUALITY, ExtractionSpec, ImageFormat, Rational, Selection, SpecError};
pub use worker::{Processor, ProcessorError};
