//! FIAP X object storage on S3: where video sources and frame archives live, and how they are streamed.
//!
//! This crate owns the S3 client, the key layout ([`source_key`], [`archive_key`]) and streaming in both
//! directions with memory bounded by the part size ([`Storage::put_stream`], [`Storage::get_stream`]). It must not
//! know about HTTP, NATS or the video lifecycle beyond the ids in the keys.

mod keys;
mod settings;
mod storage;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use keys::{
    archive_key, archive_prefix, frame_key, manifest_key, source_key, storyboard_sheet_key,
    storyboard_vtt_key, upload_tail_key,
};
pub use settings::S3Settings;
pub use storage::{ObjectReader, PendingUpload, PutError, PutOptions, Storage, StorageError};
