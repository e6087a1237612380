//! FIAP X on NATS JetStream: the streams and buckets as code, the event store, and the consumer runner.
//!
//! This crate owns every byte FIAP X writes to or reads from JetStream for its event log: provisioning of the
//! `VIDEOS` stream and the KV buckets ([`provision`]), appends with optimistic concurrency per video and atomic
//! batches, ordered loads and subscriptions ([`JetStreamEventStore`], the JetStream implementation of the
//! [`fiapx_schemas::EventStore`] port), the load -> decide -> append command loop over any event store
//! ([`CommandHandler`]), and the one supervised runner every durable consumer runs on ([`ConsumerRunner`]).
//! It must not know about HTTP, PostgreSQL, S3 or FFmpeg; payload formats come from `fiapx-schemas` and rules from
//! `fiapx-domain`.

mod callbacks;
mod command_handler;
mod config;
mod consumer;
mod event_store;
mod provision;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use callbacks::{CallbackError, VideoCallbacks};
pub use command_handler::{CommandHandler, HandleError, Handled};
pub use config::{ConnectError, NatsSettings};
pub use consumer::{Backoff, BatchHandler, ConsumerRunner, ConsumerSpec, Handler, Outcome, Pull};
pub use event_store::{DecodeError, JetStreamEventStore, decode_message};
/// Re-exported for compatibility: these are defined (and should be imported from) `fiapx-schemas`.
pub use fiapx_schemas::{
    AppendError, EventStore, LoadError, LoadedVideo, Metadata, PendingEvent, StoredEvent,
};
pub use provision::{ProvisionError, kv_bucket, max_deliveries_stream, provision, stream_config};
