//! The FIAP X processor service: the durable JetStream consumer that runs frame-extraction jobs.
//!
//! It streams a video's source from object storage into the frame engine (`fiapx-frames`) and the archive back,
//! appends the lifecycle events through the command handler, and maps the engine's [`fiapx_frames::ExtractError`]
//! to failure codes and retry decisions. It owns no extraction logic of its own and knows nothing of HTTP or
//! PostgreSQL. Split by job: `settings.rs` (how it consumes and retries), `processor.rs` (what the consumers
//! share), `worker.rs` (the consumers, on
//! `fiapx_nats::ConsumerRunner`), `job.rs` (one job's flow), `progress.rs` (live progress,
//! `fiapx_schemas::ProgressUpdate`) and `advisories.rs` (jobs JetStream gave up on).

mod advisories;
mod job;
mod processor;
mod progress;
mod settings;
mod worker;

pub use processor::{Processor, ProcessorError};
pub use settings::ProcessorSettings;
