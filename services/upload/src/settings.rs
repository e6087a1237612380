//! Upload service settings.

use serde::Deserialize;

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
            engine_max_frames: u64::MAX,
            allow_insecure_callbacks: false,
        }
    }
}
