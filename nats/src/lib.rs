//! FIAP X on NATS JetStream: the streams and buckets as code, and the event store.
//!
//! This crate owns every byte FIAP X writes to or reads from JetStream for its event log: provisioning of the
//! `VIDEOS` stream and the KV buckets ([`provision`]), appends with optimistic concurrency per video and atomic
//! batches ([`EventStore`]), ordered loads, and the load -> decide -> append command loop ([`CommandHandler`]).
//! It must not know about HTTP, PostgreSQL, S3 or FFmpeg; payload formats come from `fiapx-schemas` and rules from
//! `fiapx-domain`.

mod command_handler;
mod config;
mod event_store;
mod provision;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use command_handler::{CommandHandler, HandleError, Handled};
pub use config::NatsSettings;
pub use event_store::{
    AppendError, DecodeError, EventStore, LoadError, LoadedVideo, Metadata, PendingEvent, StoredEvent,
    decode_message,
};
pub use provision::{ProvisionError, provision};
