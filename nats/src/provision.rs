//! Idempotent provisioning of the stream and buckets: running it again converges to the same configuration.

use async_nats::jetstream::{self, kv, stream};
use tracing::info;

use crate::config::NatsSettings;

/// The server refused a stream or bucket configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The event-store stream could not be created or updated.
    #[error("cannot provision stream {name}: {source}")]
    Stream {
        /// Stream name.
        name: String,
        /// Server error.
        source: jetstream::context::CreateStreamError,
    },
    /// A KV bucket could not be created or updated.
    #[error("cannot provision KV bucket {name}: {source}")]
    Bucket {
        /// Bucket name.
        name: String,
        /// Server error.
        source: jetstream::context::CreateKeyValueError,
    },
}

/// The stream configuration of the event log.
pub fn stream_config(settings: &NatsSettings) -> stream::Config {
    stream::Config {
        name: settings.stream.clone(),
        description: Some("FIAP X video lifecycle events (the event store)".into()),
        subjects: vec![format!("{}.*.*", settings.subject_prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        // The log is append-only: nothing may delete or purge an event.
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        allow_atomic_publish: true,
        ..Default::default()
    }
}

/// A stream of our kind that keeps the server's max-deliveries advisories of one consumer of `stream` (each names
/// the stream sequence of the message the consumer gave up on), for `max_age`: the processor ends such jobs from
/// it, the notifier keeps them as dead letters for replay. Every such stream of FIAP X is configured here.
pub fn max_deliveries_stream(
    name: &str,
    description: &str,
    stream: &str,
    consumer: &str,
    replicas: usize,
    max_age: std::time::Duration,
) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        subjects: vec![format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
        )],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: replicas.max(1),
        max_age,
        allow_direct: true,
        ..Default::default()
    }
}

/// Creates (or updates to this configuration) a KV bucket of our kind: one value per key (history 1), on file,
/// `replicas` copies, values expiring after `max_age` (`None`: never). Every KV bucket of FIAP X is made here.
pub async fn kv_bucket(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    max_age: Option<std::time::Duration>,
    replicas: usize,
) -> Result<kv::Store, jetstream::context::CreateKeyValueError> {
    js.create_or_update_key_value(kv::Config {
        bucket: bucket.to_owned(),
        description: description.to_owned(),
        history: 1,
        max_age: max_age.unwrap_or_default(),
        storage: stream::StorageType::File,
        num_replicas: replicas.max(1),
        ..Default::default()
    })
    .await
}

/// Creates or updates the `VIDEOS` stream and the KV buckets.
pub async fn provision(js: &jetstream::Context, settings: &NatsSettings) -> Result<(), ProvisionError> {
    let info = js
        .create_or_update_stream(stream_config(settings))
        .await
        .map_err(|source| ProvisionError::Stream {
            name: settings.stream.clone(),
            source,
        })?;
    info!(stream.name = %info.config.name, stream.messages = info.state.messages, "event store stream ready");
    kv_bucket(
        js,
        &settings.progress_bucket,
        "Latest progress of each running job (not an event: live status only)",
        Some(std::time::Duration::from_secs(24 * 3600)),
        settings.replicas,
    )
    .await
    .map_err(|source| ProvisionError::Bucket {
        name: settings.progress_bucket.clone(),
        source,
    })?;
    info!(kv.bucket = %settings.progress_bucket, "progress bucket ready");
    Ok(())
}
