//! `Idempotency-Key` records in the NATS KV bucket `upload_idempotency` (shared by every upload replica).
//!
//! A key is scoped by owner: the KV key is `<owner>.<sha256(key)>`, so the same key sent by another owner is
//! another record and can never return someone else's video. A record is `pending` (with the video id chosen for
//! the attempt) while the upload runs and `done` (with the response) after it; a failed attempt removes its
//! record so that a retry starts over. Records expire with the bucket's max age (24 h by default).

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use fiapx_domain::{UserId, VideoId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accepted::VideoAccepted;

/// Longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    Pending { video_id: Uuid, started_at: i64 },
    Done { response: VideoAccepted },
}

/// The outcome of claiming a key.
pub enum Claim {
    /// The key is ours: go ahead with this video id.
    Fresh,
    /// The key already produced this answer.
    Replay(VideoAccepted),
    /// Another request holds the key; it started with this video id.
    InProgress {
        video_id: VideoId,
        revision: u64,
        started_at: OffsetDateTime,
    },
}

/// Idempotency records.
#[derive(Clone)]
pub struct IdempotencyStore {
    kv: kv::Store,
}

/// A failure of the KV bucket.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct IdempotencyError(String);

fn err(error: impl std::fmt::Display) -> IdempotencyError {
    IdempotencyError(error.to_string())
}

impl IdempotencyStore {
    /// Creates (or updates) the bucket: history 1, records expire after `ttl`.
    pub async fn open(
        js: &jetstream::Context,
        bucket: &str,
        ttl: Duration,
        replicas: usize,
    ) -> Result<Self, IdempotencyError> {
        let kv = fiapx_nats::kv_bucket(
            js,
            bucket,
            "Idempotency-Key -> first result of an upload (per owner)",
            Some(ttl),
            replicas,
        )
        .await
        .map_err(err)?;
        Ok(Self { kv })
    }

    fn kv_key(owner: UserId, key: &str) -> String {
        format!("{owner}.{}", hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// Claims `key` for `video_id`, or says who has it.
    pub async fn claim(
        &self,
        owner: UserId,
        key: &str,
        video_id: VideoId,
    ) -> Result<Claim, IdempotencyError> {
        let kv_key = Self::kv_key(owner, key);
        let pending = Record::Pending {
            video_id: *video_id.as_uuid(),
            started_at: OffsetDateTime::now_utc().unix_timestamp(),
        };
        match self.kv.create(&kv_key, encode(&pending)?).await {
            Ok(_) => return Ok(Claim::Fresh),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(error) => return Err(err(error)),
        }
        let Some(entry) = self.kv.entry(kv_key.clone()).await.map_err(err)? else {
            // Expired in between: claim again (once).
            self.kv.create(&kv_key, encode(&pending)?).await.map_err(err)?;
            return Ok(Claim::Fresh);
        };
        match serde_json::from_slice::<Record>(&entry.value).map_err(err)? {
            Record::Done { response } => Ok(Claim::Replay(response)),
            Record::Pending { video_id, started_at } => Ok(Claim::InProgress {
                video_id: VideoId::from_uuid(video_id),
                revision: entry.revision,
                started_at: OffsetDateTime::from_unix_timestamp(started_at).map_err(err)?,
            }),
        }
    }

    /// Takes over a stale pending record (same revision) for a new attempt.
    pub async fn take_over(
        &self,
        owner: UserId,
        key: &str,
        revision: u64,
        video_id: VideoId,
    ) -> Result<bool, IdempotencyError> {
        let pending = Record::Pending {
            video_id: *video_id.as_uuid(),
            started_at: OffsetDateTime::now_utc().unix_timestamp(),
        };
        match self
            .kv
            .update(Self::kv_key(owner, key), encode(&pending)?, revision)
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(error) => Err(err(error)),
        }
    }

    /// Records the answer of a finished upload.
    pub async fn finish(
        &self,
        owner: UserId,
        key: &str,
        response: &VideoAccepted,
    ) -> Result<(), IdempotencyError> {
        let done = Record::Done {
            response: response.clone(),
        };
        self.kv
            .put(Self::kv_key(owner, key), encode(&done)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Forgets a failed attempt so that a retry starts over.
    pub async fn release(&self, owner: UserId, key: &str) -> Result<(), IdempotencyError> {
        self.kv.delete(Self::kv_key(owner, key)).await.map_err(err)
    }
}

fn encode(record: &Record) -> Result<bytes::Bytes, IdempotencyError> {
    serde_json::to_vec(record).map(Into::into).map_err(err)
}
