//! The FIAP X processor service: the durable JetStream consumer that runs frame-extraction jobs.
//!
//! It streams a video's source from object storage into the frame engine (`fiapx-frames`) and the archive back,
//! appends the lifecycle events through the command handler, and maps the engine's [`fiapx_frames::ExtractError`]
//! to failure codes and retry decisions. It owns no extraction logic of its own and knows nothing of HTTP or
//! PostgreSQL.

mod service;

pub use service::{JobProgress, Processor, ProcessorError, ProcessorSettings};
