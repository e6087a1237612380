//! Names and settings of what FIAP X keeps in JetStream.

use std::time::Duration;

/// Where and how the event log and buckets live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct NatsSettings {
    /// Server URL, e.g. `nats://127.0.0.1:14222`.
    pub url: String,
    /// Name of the event-store stream.
    pub stream: String,
    /// Subject prefix of video events: `<prefix>.<video_id>.<event_type>`.
    pub subject_prefix: String,
    /// Stream replicas: 1 locally, 3 in a cluster.
    pub replicas: usize,
    /// How long the server remembers `Nats-Msg-Id`s to drop duplicate publishes.
    #[serde(with = "humantime_secs")]
    pub duplicate_window: Duration,
    /// KV bucket holding the latest progress of running jobs.
    pub progress_bucket: String,
    /// KV bucket of per-upload callback URLs (`<video id>` -> the URL), kept while the video exists.
    pub callbacks_bucket: String,
    /// How long a publish ack, a batch commit or a load may wait for the server.
    #[serde(with = "humantime_secs")]
    pub request_timeout: Duration,
    /// How many times the command handler reloads and decides again after a concurrent write.
    pub max_append_retries: u32,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:14222".into(),
            stream: "VIDEOS".into(),
            subject_prefix: "videos".into(),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            progress_bucket: "video_progress".into(),
            callbacks_bucket: "video_callbacks".into(),
            request_timeout: Duration::from_secs(5),
            max_append_retries: 10,
        }
    }
}

/// Durations in config are whole seconds.
mod humantime_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}
