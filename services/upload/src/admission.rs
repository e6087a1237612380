//! In-flight admission: how many videos one user may have queued or processing at once.
//!
//! A video takes its place **when its upload is admitted**, before a byte of the body is read: each user has a
//! record of reservations in the NATS KV bucket `upload_admission` (key: the user id; value: the reserved video
//! ids), changed only by compare-and-set, so N parallel uploads can never take more than the limit. A
//! reservation lasts while its video is in flight (queued, processing, retry scheduled), judged from the event
//! log when the next admission of that user prunes the record, so nothing has to remember to release it when a
//! job ends; a reservation whose video has no event yet (its body is still coming) lasts until its deadline,
//! and an upload that fails releases it at once. Reprocessing takes a place too.
//!
//! Only NATS is needed, never PostgreSQL: uploads, reprocess and delete keep being accepted while the read side
//! is down. If the event store cannot be read the check fails closed (503): the upload could not be registered
//! either.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use fiapx_domain::{UserId, Video, VideoId, VideoStatus};
use fiapx_http::ApiError;
use fiapx_nats::CommandHandler;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::warn;
use uuid::Uuid;

/// Compare-and-set rounds before an admission gives up (503): each lost round means another upload of the same
/// user was admitted meanwhile.
const MAX_ROUNDS: usize = 32;

/// One user's reservations: video id -> the unix second until which it holds while the video has no event.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Reservations {
    videos: BTreeMap<Uuid, i64>,
}

/// Whether a reservation was made by this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Reserved {
    /// Made now: release it if the work does not go ahead.
    New,
    /// The video held one already (e.g. a reprocess of a video still in flight): not this call's to release.
    Held,
    /// No limit is configured.
    Unlimited,
}

/// The per-user limit of videos in flight.
#[derive(Clone)]
pub struct InFlightLimit {
    store: Option<kv::Store>,
    handler: CommandHandler,
    limit: u64,
    retry_after_secs: u64,
}

impl InFlightLimit {
    /// `limit` videos per user (0 = no limit), reserved in the KV bucket `bucket` and judged from the event log
    /// of `handler`; a refusal asks to retry after `retry_after_secs`. Creates the bucket (idempotent).
    pub async fn open(
        handler: CommandHandler,
        js: &jetstream::Context,
        bucket: &str,
        replicas: usize,
        limit: u64,
        retry_after_secs: u64,
    ) -> Result<Self, jetstream::context::CreateKeyValueError> {
        let store = if limit == 0 {
            None
        } else {
            Some(
                fiapx_nats::kv_bucket(
                    js,
                    bucket,
                    "Videos in flight per user (admission reservations)",
                    None,
                    replicas,
                )
                .await?,
            )
        };
        Ok(Self {
            store,
            handler,
            limit,
            retry_after_secs,
        })
    }

    /// Takes a place for `video` of `owner`, held for `pending` while the video has no event. 429 when `owner`
    /// already has `limit` videos in flight or admitted.
    pub async fn reserve(
        &self,
        owner: UserId,
        video: VideoId,
        pending: Duration,
    ) -> Result<Reserved, ApiError> {
        let Some(store) = &self.store else {
            return Ok(Reserved::Unlimited);
        };
        let key = owner.to_string();
        let id = *video.as_uuid();
        for _ in 0..MAX_ROUNDS {
            let (mut reservations, revision) = read(store, &key).await?;
            if reservations.videos.contains_key(&id) {
                return Ok(Reserved::Held);
            }
            self.prune(&mut reservations).await?;
            let in_flight = reservations.videos.len() as u64;
            if in_flight >= self.limit {
                metrics::counter!("fiapx_upload_in_flight_limited_total").increment(1);
                return Err(ApiError::rate_limited(self.retry_after_secs).with_message(format!(
                    "you already have {in_flight} videos uploading, waiting or processing (limit {}); retry when \
                     some finish",
                    self.limit
                )));
            }
            let until = OffsetDateTime::now_utc().unix_timestamp()
                + i64::try_from(pending.as_secs()).unwrap_or(i64::MAX / 2);
            reservations.videos.insert(id, until);
            if write(store, &key, &reservations, revision).await? {
                return Ok(Reserved::New);
            }
        }
        Err(ApiError::unavailable(std::io::Error::other(
            "too many concurrent admissions for one user",
        )))
    }

    /// Undoes [`reserve`](Self::reserve) for work that did not go ahead: only a reservation that call made
    /// (`New`) is given back.
    pub async fn undo(&self, owner: UserId, video: VideoId, reserved: Reserved) {
        if reserved == Reserved::New {
            self.release(owner, video).await;
        }
    }

    /// Gives back `video`'s place (nothing happens when it holds none). A failure is logged: the reservation
    /// then ends at its deadline.
    pub async fn release(&self, owner: UserId, video: VideoId) {
        let Some(store) = &self.store else {
            return;
        };
        let key = owner.to_string();
        for _ in 0..MAX_ROUNDS {
            let result = async {
                let (mut reservations, revision) = read(store, &key).await?;
                if reservations.videos.remove(video.as_uuid()).is_none() {
                    return Ok(true);
                }
                write(store, &key, &reservations, revision).await
            }
            .await;
            match result {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    warn!(video.id = %video, %error, "releasing an admission failed; it ends at its deadline");
                    return;
                }
            }
        }
        warn!(video.id = %video, "releasing an admission lost every round; it ends at its deadline");
    }

    /// Drops the reservations whose video left flight (completed, failed, deleted), or never came and is past
    /// its deadline.
    async fn prune(&self, reservations: &mut Reservations) -> Result<(), ApiError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let ids: Vec<(Uuid, i64)> = reservations
            .videos
            .iter()
            .map(|(id, until)| (*id, *until))
            .collect();
        let states = futures::future::join_all(ids.iter().map(|(id, _)| async {
            let loaded = self.handler.store().load(VideoId::from_uuid(*id)).await?;
            let state = Video::from_events(loaded.events.iter().map(|stored| &stored.event));
            Ok::<_, fiapx_nats::LoadError>(state.owner.map(|_| state.status))
        }))
        .await;
        for ((id, until), state) in ids.iter().zip(states) {
            let keep = match state.map_err(ApiError::unavailable)? {
                None => *until > now,
                Some(status) => VideoStatus::IN_FLIGHT.contains(&status),
            };
            if !keep {
                reservations.videos.remove(id);
            }
        }
        Ok(())
    }
}

/// The record and its revision (`None`: no record yet, or it was deleted).
async fn read(store: &kv::Store, key: &str) -> Result<(Reservations, Option<u64>), ApiError> {
    let entry = store.entry(key).await.map_err(ApiError::unavailable)?;
    match entry {
        Some(entry) if matches!(entry.operation, kv::Operation::Put) => {
            // An unreadable record (a format we do not know) is started afresh rather than blocking the user.
            let reservations = serde_json::from_slice(&entry.value).unwrap_or_default();
            Ok((reservations, Some(entry.revision)))
        }
        Some(entry) => Ok((Reservations::default(), Some(entry.revision))),
        None => Ok((Reservations::default(), None)),
    }
}

/// Writes the record if it is still at `revision`; `false` when someone else wrote it first.
async fn write(
    store: &kv::Store,
    key: &str,
    reservations: &Reservations,
    revision: Option<u64>,
) -> Result<bool, ApiError> {
    let value: bytes::Bytes = serde_json::to_vec(reservations)
        .map_err(ApiError::internal)?
        .into();
    match revision {
        Some(revision) => match store.update(key, value, revision).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(error) => Err(ApiError::unavailable(error)),
        },
        None => match store.create(key, value).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(ApiError::unavailable(error)),
        },
    }
}
