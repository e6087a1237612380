//! The `Idempotency-Key` flow of an upload: claim the key before the body is read, answer a replay with the first
//! result, take over an attempt that stalled, and after the upload record its answer or release the key.
//!
//! The records themselves (pending/done, per owner, in the `upload_idempotency` KV bucket) are [`store`]'s.

mod store;

use std::time::Duration;

use fiapx_domain::{UserId, VideoId};
use fiapx_http::ApiError;
use fiapx_nats::JetStreamEventStore;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::accepted::VideoAccepted;
pub use store::IdempotencyError;
use store::{Claim, IdempotencyStore, MAX_KEY_LEN};

/// What an upload with an `Idempotency-Key` does next.
pub enum NextAction {
    /// The key is this attempt's: go on with the upload.
    StartUpload,
    /// An earlier attempt already answered: send this.
    ReturnAnswer(VideoAccepted),
}

/// `Idempotency-Key` handling for uploads.
#[derive(Clone)]
pub struct Idempotency {
    store: IdempotencyStore,
    events: JetStreamEventStore,
    pending_timeout: time::Duration,
}

impl Idempotency {
    /// Creates (or updates) the KV bucket `bucket`, whose records expire after `ttl`; a pending attempt older than
    /// `pending_timeout_secs` may be taken over. `events` tells whether a stalled attempt stored its video.
    pub async fn open(
        events: JetStreamEventStore,
        bucket: &str,
        ttl: Duration,
        pending_timeout_secs: u64,
        replicas: usize,
    ) -> Result<Self, IdempotencyError> {
        let store = IdempotencyStore::open(events.jetstream(), bucket, ttl, replicas).await?;
        Ok(Self {
            store,
            events,
            pending_timeout: time::Duration::seconds(pending_timeout_secs as i64),
        })
    }

    /// 400 unless `key` is 1 to [`MAX_KEY_LEN`] bytes.
    pub fn check_key(key: &str) -> Result<(), ApiError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} bytes"
            )));
        }
        Ok(())
    }

    /// Claims `key` for an upload of `video`; 409 while another attempt holds it.
    pub async fn begin(&self, owner: UserId, key: &str, video: VideoId) -> Result<NextAction, ApiError> {
        match self
            .store
            .claim(owner, key, video)
            .await
            .map_err(ApiError::unavailable)?
        {
            Claim::Fresh => Ok(NextAction::StartUpload),
            Claim::Replay(accepted) => {
                info!(video.id = %accepted.id, owner.id = %owner, "idempotent replay");
                Ok(NextAction::ReturnAnswer(accepted))
            }
            Claim::InProgress {
                video_id,
                revision,
                started_at,
            } => {
                // The earlier attempt may have stored its event without recording the answer.
                let loaded = self.events.load(video_id).await.map_err(ApiError::unavailable)?;
                if !loaded.events.is_empty() {
                    let accepted = VideoAccepted::queued(video_id, 0);
                    self.succeeded(owner, key, &accepted).await;
                    return Ok(NextAction::ReturnAnswer(accepted));
                }
                let stale = OffsetDateTime::now_utc() - started_at > self.pending_timeout;
                let taken = stale
                    && self
                        .store
                        .take_over(owner, key, revision, video)
                        .await
                        .map_err(ApiError::unavailable)?;
                if taken {
                    Ok(NextAction::StartUpload)
                } else {
                    Err(ApiError::conflict(
                        "an upload with this Idempotency-Key is still in progress",
                    ))
                }
            }
        }
    }

    /// Records the answer of the upload that held `key`.
    pub async fn succeeded(&self, owner: UserId, key: &str, accepted: &VideoAccepted) {
        // The upload itself succeeded: a lost record only means a retry is checked against the event store.
        if let Err(error) = self.store.finish(owner, key, accepted).await {
            warn!(video.id = %accepted.id, owner.id = %owner, error = %error, "recording an idempotent answer failed");
        }
    }

    /// Releases `key` after a failed upload, so that a retry starts over.
    pub async fn failed(&self, owner: UserId, key: &str) {
        if let Err(error) = self.store.release(owner, key).await {
            warn!(owner.id = %owner, error = %error, "releasing an idempotency key failed");
        }
    }
}
