//! Upload service settings.

use std::time::Duration;

use fiapx_http::CapSettings;
use serde::Deserialize;

use crate::limits::MinRate;

/// Limits and tuning of the upload service.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct UploadSettings {
    /// Largest accepted body (bytes); larger uploads get 413 and leave nothing in storage.
    pub max_upload_bytes: u64,
    /// Multipart part size (bytes, at least 5 MiB); memory per upload is a few parts.
    pub part_size_bytes: usize,
    /// Parts uploading to S3 while the next one is read from the client.
    pub parts_in_flight: usize,
    /// NATS KV bucket of `Idempotency-Key` records.
    pub idempotency_bucket: String,
    /// How long an `Idempotency-Key` is remembered (seconds).
    pub idempotency_ttl_secs: u64,
    /// After this long (seconds) an unfinished attempt's key may be taken over by a retry.
    pub idempotency_pending_timeout_secs: u64,
    /// Videos one user may have uploading, queued or processing at once; more uploads (and reprocesses) get 429
    /// (0 = no limit). Each takes its place when admitted, in the KV bucket `admission_bucket`.
    pub max_videos_in_flight: u64,
    /// NATS KV bucket of the per-user admission reservations.
    pub admission_bucket: String,
    /// How long a plain upload's place is held while its video has no event yet (seconds): the body is still
    /// coming, or the process died before it could register or release it. A resumable upload's place is held
    /// `resumable_ttl_secs`.
    pub admission_pending_secs: u64,
    /// `Retry-After` (seconds) answered with that 429.
    pub in_flight_retry_after_secs: u64,
    /// NATS KV bucket of resumable (tus) upload sessions.
    pub sessions_bucket: String,
    /// How long an unfinished resumable upload is kept after its last request (seconds); then the sweeper
    /// removes it and every byte of it.
    pub resumable_ttl_secs: u64,
    /// A PATCH body silent for this long (seconds) is taken as broken off: what came is kept.
    pub resumable_idle_timeout_secs: u64,
    /// How often each upload replica sweeps expired resumable uploads (seconds).
    pub resumable_sweep_interval_secs: u64,
    /// The slowest an upload body may come in, in bytes per second on average over each
    /// `min_rate_window_secs` of waiting for the client (0 = no minimum): a slower body is cut with 408
    /// `too_slow` (a resumable upload keeps what came). Time the upload waits on S3 does not count.
    pub min_rate_bytes_per_sec: u64,
    /// The window of `min_rate_bytes_per_sec` (seconds).
    pub min_rate_window_secs: u64,
    /// Upload requests (`POST /videos`, a resumable upload's `PATCH`) one user may have sending a body at once,
    /// in this process; more get 429 `rate_limited` with `Retry-After: concurrent_retry_after_secs`. 0 (the
    /// default) = no cap of its own: every upload body needs an admitted place, so `max_videos_in_flight`
    /// already bounds them.
    pub concurrent_per_user: u32,
    /// The same per client address (every account together; 0 = no cap).
    pub concurrent_per_client: u32,
    /// `Retry-After` (seconds) of that 429.
    pub concurrent_retry_after_secs: u64,
    /// The most frames the processors keep in one archive (their `processor.limits.max_frames`): a `count`
    /// spec above it is refused at admission (400 `invalid_spec`) instead of failing later. Not a setting of its
    /// own: the binary fills it from the processors' limits.
    #[serde(skip)]
    pub engine_max_frames: u64,
    /// Whether a callback URL may be loopback `http` (the notifier's `allow_insecure_webhooks`, for tests and
    /// `make run`): the notifier is what calls it, so its rule is the one checked at upload. Filled by the binary.
    #[serde(skip)]
    pub allow_insecure_callbacks: bool,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            part_size_bytes: 8 * 1024 * 1024,
            parts_in_flight: 1,
            idempotency_bucket: "upload_idempotency".into(),
            idempotency_ttl_secs: 24 * 3600,
            idempotency_pending_timeout_secs: 3600,
            max_videos_in_flight: 10,
            admission_bucket: "upload_admission".into(),
            admission_pending_secs: 3600,
            in_flight_retry_after_secs: 30,
            sessions_bucket: "upload_sessions".into(),
            resumable_ttl_secs: 24 * 3600,
            resumable_idle_timeout_secs: 60,
            resumable_sweep_interval_secs: 600,
            min_rate_bytes_per_sec: 1024,
            min_rate_window_secs: 30,
            concurrent_per_user: 0,
            concurrent_per_client: 32,
            concurrent_retry_after_secs: 5,
            engine_max_frames: u64::MAX,
            allow_insecure_callbacks: false,
        }
    }
}

impl UploadSettings {
    /// The cap on upload bodies read at once.
    pub const fn concurrency(&self) -> CapSettings {
        CapSettings {
            per_user: self.concurrent_per_user,
            per_client: self.concurrent_per_client,
            retry_after_secs: self.concurrent_retry_after_secs,
        }
    }

    /// The minimum rate of an upload body.
    pub fn min_rate(&self) -> MinRate {
        MinRate {
            bytes_per_sec: self.min_rate_bytes_per_sec,
            window: Duration::from_secs(self.min_rate_window_secs.max(1)),
        }
    }
}
