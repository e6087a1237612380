//! Resumable upload sessions in the NATS KV bucket `upload_sessions` (shared by every upload replica).
//!
//! One record per upload, keyed by its video id: who owns it, how long it is, how far it got, the S3 multipart
//! upload holding its full parts, and the lease of the request writing it. Every change is a compare-and-set on
//! the record's revision, so two replicas can never both advance one upload. Records do not expire by
//! themselves: the sweeper removes an expired session together with what it holds in S3.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use fiapx_domain::{ExtractionSpec, UserId, VideoId};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How far a session got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Bytes are still coming.
    Receiving,
    /// Every byte is in the source object; the `uploaded` event is not stored yet.
    Assembled,
    /// The video is registered (job `job`): the upload is finished.
    Registered {
        /// The job the registration queued.
        job: u32,
    },
}

/// One resumable upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who created it (only they can see or write it).
    pub owner: Uuid,
    /// `Upload-Length`.
    pub length: u64,
    /// Bytes received and kept: the committed parts plus the tail.
    pub offset: u64,
    /// Bytes after the last full part, kept in the tail object.
    pub tail_len: u64,
    /// The cleaned file name from `Upload-Metadata`.
    pub file_name: String,
    /// The extraction spec from `Upload-Metadata` (or the default).
    pub spec: ExtractionSpec,
    /// The checked `callback_url` from `Upload-Metadata`, recorded when the video is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The container's media type, once the leading bytes were seen.
    pub content_type: Option<String>,
    /// The S3 multipart upload of the source, once a full part was received.
    pub multipart: Option<String>,
    /// The committed parts, `(number, etag)` in order.
    pub parts: Vec<(u32, String)>,
    /// Where it is.
    #[serde(flatten)]
    pub phase: Phase,
    /// Unix seconds after which the session (if unfinished) is removed.
    pub expires_at: i64,
    /// Unix seconds until which a request holds the right to write it.
    pub locked_until: Option<i64>,
}

impl Session {
    /// Bytes in committed parts.
    pub const fn parts_len(&self) -> u64 {
        self.offset - self.tail_len
    }

    /// True when `user` created it.
    pub fn is_owned_by(&self, user: UserId) -> bool {
        self.owner == *user.as_uuid()
    }
}

/// A failure of the session store.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Someone else changed the record since it was read.
    #[error("the upload session changed meanwhile")]
    Conflict,
    /// The KV bucket failed or could not be reached.
    #[error("upload sessions: {0}")]
    Store(String),
}

fn err(error: impl std::fmt::Display) -> SessionError {
    SessionError::Store(error.to_string())
}

/// The session records.
#[derive(Clone)]
pub struct Sessions {
    kv: kv::Store,
}

impl Sessions {
    /// Creates (or updates) the bucket.
    pub async fn open(js: &jetstream::Context, bucket: &str, replicas: usize) -> Result<Self, SessionError> {
        let kv = fiapx_nats::kv_bucket(
            js,
            bucket,
            "resumable (tus) upload sessions, by video id",
            None,
            replicas,
        )
        .await
        .map_err(err)?;
        Ok(Self { kv })
    }

    /// Stores a new session.
    pub async fn create(&self, video: VideoId, session: &Session) -> Result<u64, SessionError> {
        self.kv
            .create(video.to_string(), encode(session)?)
            .await
            .map_err(err)
    }

    /// The session and its revision, `None` when there is none.
    pub async fn get(&self, video: VideoId) -> Result<Option<(Session, u64)>, SessionError> {
        let Some(entry) = self.kv.entry(video.to_string()).await.map_err(err)? else {
            return Ok(None);
        };
        if !matches!(entry.operation, kv::Operation::Put) {
            return Ok(None);
        }
        let session = serde_json::from_slice(&entry.value).map_err(err)?;
        Ok(Some((session, entry.revision)))
    }

    /// Replaces the session if it is still at `revision`; returns the new revision.
    pub async fn update(
        &self,
        video: VideoId,
        session: &Session,
        revision: u64,
    ) -> Result<u64, SessionError> {
        match self
            .kv
            .update(video.to_string(), encode(session)?, revision)
            .await
        {
            Ok(revision) => Ok(revision),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(SessionError::Conflict)
            }
            Err(error) => Err(err(error)),
        }
    }

    /// Removes the session (a missing one too).
    pub async fn remove(&self, video: VideoId) -> Result<(), SessionError> {
        self.kv.purge(video.to_string()).await.map_err(err)
    }

    /// Every session's video id.
    pub async fn ids(&self) -> Result<Vec<VideoId>, SessionError> {
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(err)?
            .try_collect()
            .await
            .map_err(err)?;
        Ok(keys
            .iter()
            .filter_map(|key| key.parse::<Uuid>().ok().map(VideoId::from_uuid))
            .collect())
    }
}

fn encode(session: &Session) -> Result<bytes::Bytes, SessionError> {
    serde_json::to_vec(session).map(Into::into).map_err(err)
}

/// How long a lease lasts without being renewed.
pub const LEASE: Duration = Duration::from_secs(30);
