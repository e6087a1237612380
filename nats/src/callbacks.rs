//! Per-upload callback URLs: the URL an upload asked to be called when its video completes or fails for good,
//! kept in the NATS KV bucket `video_callbacks` (key: the video id).
//!
//! Not in the event log on purpose: a callback URL is the user's (it may carry a token in its query) and the
//! log is append-only, so a URL written there could never be removed when the video or the account is deleted.
//! The upload side writes the entry before the `uploaded` event is appended (so the notifier, which reads it when
//! a `completed` or `failed` event arrives, always finds it), and removes it with the video. The bucket is opened
//! (created or updated) on first use.

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::config::NatsSettings;
use crate::provision::kv_bucket;

/// The callback bucket could not be reached or gave bytes that are no callback.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The bucket could not be created or opened.
    #[error("cannot open the callback bucket: {0}")]
    Open(#[from] jetstream::context::CreateKeyValueError),
    /// Reading an entry failed.
    #[error("cannot read a callback: {0}")]
    Read(#[from] kv::EntryError),
    /// Writing an entry failed.
    #[error("cannot store a callback: {0}")]
    Write(#[from] kv::PutError),
    /// Removing an entry failed.
    #[error("cannot remove a callback: {0}")]
    Remove(kv::PurgeError),
    /// The stored value is not a callback record.
    #[error("unreadable callback record: {0}")]
    Malformed(#[from] serde_json::Error),
}

#[derive(Serialize, Deserialize)]
struct Record {
    url: String,
}

/// The per-upload callback URLs (cheap to clone: the bucket handle is shared).
#[derive(Clone, Debug)]
pub struct VideoCallbacks {
    js: jetstream::Context,
    bucket: String,
    replicas: usize,
    store: std::sync::Arc<OnceCell<kv::Store>>,
}

impl VideoCallbacks {
    /// The bucket named in `settings`, on `js`.
    pub fn new(js: jetstream::Context, settings: &NatsSettings) -> Self {
        Self {
            js,
            bucket: settings.callbacks_bucket.clone(),
            replicas: settings.replicas,
            store: std::sync::Arc::default(),
        }
    }

    async fn store(&self) -> Result<&kv::Store, CallbackError> {
        Ok(self
            .store
            .get_or_try_init(|| {
                kv_bucket(
                    &self.js,
                    &self.bucket,
                    "Per-upload callback URLs (video id -> URL), removed with the video",
                    None,
                    self.replicas,
                )
            })
            .await?)
    }

    /// Records `url` as `video`'s callback (replacing any earlier one).
    pub async fn set(&self, video: Uuid, url: &str) -> Result<(), CallbackError> {
        let record = serde_json::to_vec(&Record { url: url.to_owned() })?;
        self.store().await?.put(video.to_string(), record.into()).await?;
        Ok(())
    }

    /// `video`'s callback URL, `None` when its upload named none (or it was removed).
    pub async fn get(&self, video: Uuid) -> Result<Option<String>, CallbackError> {
        let Some(bytes) = self.store().await?.get(video.to_string()).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice::<Record>(&bytes)?.url))
    }

    /// Forgets `video`'s callback (nothing happens when it has none). The entry's value is purged, so the URL
    /// is gone from the bucket, not only marked deleted.
    pub async fn remove(&self, video: Uuid) -> Result<(), CallbackError> {
        self.store()
            .await?
            .purge(video.to_string())
            .await
            .map_err(CallbackError::Remove)
    }
}
