//! Live status of one video: the current status, then lifecycle changes and progress as they happen.
//!
//! Subscriptions come first, then the video's events are loaded from the log (not the read model, which may lag):
//! the fold of the loaded events is the first status, and a subscribed event already among the loaded ones is
//! skipped by its event id, so nothing between the load and the subscription is lost or doubled. Lifecycle events
//! arrive on the stream's own subjects (`videos.<id>.*`: JetStream delivers every stored message to core
//! subscribers too), progress on core subject `progress.videos.<id>` (not persisted), and the latest progress of a
//! running job is read once from the `video_progress` bucket.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fiapx_http::ApiError;
use fiapx_identity::{TokenVerifier, VerifiedToken};
use fiapx_nats::decode_message;
use fiapx_projections::entity::video;
use fiapx_projections::videos::{evolve, fold};
use fiapx_schemas::{ProgressUpdate, progress_subject};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tracing::debug;
use uuid::Uuid;

use crate::state::State;
use fiapx_domain::VideoStatus;

use crate::views::{LiveEvent, ProgressView, StatusUpdate};

enum Message {
    Lifecycle(async_nats::Message),
    Progress(async_nats::Message),
}

struct Live {
    messages: BoxStream<'static, Message>,
    row: video::Model,
    seen: HashSet<Uuid>,
    ended: bool,
}

/// How often an open stream checks its token again.
const RECHECK: Duration = Duration::from_secs(1);

/// Resolves once `token` no longer verifies (expired, or revoked: a share link revoked by its owner, a session
/// signed out, an account disabled); checked every second against the in-memory revocation set, so it costs no
/// I/O. A live stream ends then.
pub(crate) async fn token_lapsed(verifier: Arc<TokenVerifier>, token: VerifiedToken) {
    let mut every = tokio::time::interval(RECHECK);
    loop {
        every.tick().await;
        if let Err(error) = verifier.check(&token) {
            debug!(reason = %error, "live stream closed: its token no longer verifies");
            return;
        }
    }
}

/// The live event stream of a video the caller may see (`row` is its read-model row).
pub(crate) async fn events(
    state: &State,
    row: video::Model,
) -> Result<BoxStream<'static, LiveEvent>, ApiError> {
    let id = row.id;
    let lifecycle = state
        .nats
        .subscribe(format!("{}.{id}.*", state.subject_prefix))
        .await
        .map_err(ApiError::unavailable)?;
    let progress = state
        .nats
        .subscribe(progress_subject(fiapx_domain::VideoId::from_uuid(id)))
        .await
        .map_err(ApiError::unavailable)?;
    // The server must know the subscriptions before the load, or an event in between would be missed.
    state.nats.flush().await.map_err(ApiError::unavailable)?;

    let loaded = state
        .store
        .load(fiapx_domain::VideoId::from_uuid(id))
        .await
        .map_err(ApiError::unavailable)?;
    let seen: HashSet<Uuid> = loaded
        .events
        .iter()
        .map(|stored| stored.envelope.event_id)
        .collect();
    let row = fold(&loaded.events).unwrap_or(row);

    let mut first = vec![LiveEvent::Status(StatusUpdate::from(&row))];
    if let Some(progress) = current_progress(state, &row).await {
        first.push(LiveEvent::Progress(progress));
    }
    let ended = row.status == VideoStatus::Deleted.as_str();
    let messages = stream::select(lifecycle.map(Message::Lifecycle), progress.map(Message::Progress)).boxed();
    let live = Live {
        messages,
        row,
        seen,
        ended,
    };
    Ok(stream::iter(first).chain(stream::unfold(live, next)).boxed())
}

async fn next(mut live: Live) -> Option<(LiveEvent, Live)> {
    if live.ended {
        return None;
    }
    loop {
        match live.messages.next().await? {
            Message::Lifecycle(message) => {
                let Ok(stored) = decode_message(
                    message.subject.as_str(),
                    message.headers.as_ref(),
                    &message.payload,
                    0,
                ) else {
                    continue;
                };
                if !live.seen.insert(stored.envelope.event_id) {
                    continue;
                }
                let Some(row) = evolve(Some(live.row.clone()), &stored) else {
                    continue;
                };
                live.row = row;
                live.ended = live.row.status == VideoStatus::Deleted.as_str();
                return Some((LiveEvent::Status(StatusUpdate::from(&live.row)), live));
            }
            Message::Progress(message) => {
                if let Ok(progress) = serde_json::from_slice::<ProgressUpdate>(&message.payload) {
                    return Some((LiveEvent::Progress(progress.into()), live));
                }
            }
        }
    }
}

/// The latest progress of the attempt running now (from the `video_progress` bucket), if the video is processing
/// and the stored progress belongs to its current job and attempt; `None` otherwise, also when the bucket cannot be
/// read (progress is a hint, never a reason to fail a request).
pub(crate) async fn current_progress(state: &State, row: &video::Model) -> Option<ProgressView> {
    if row.status != VideoStatus::Processing.as_str() {
        return None;
    }
    let bucket = state.js.get_key_value(&state.progress_bucket).await.ok()?;
    let value = bucket.get(row.id.to_string()).await.ok()??;
    let update = serde_json::from_slice::<ProgressUpdate>(&value).ok()?;
    let current =
        i64::from(update.job) == i64::from(row.job) && i64::from(update.attempt) == i64::from(row.attempt);
    current.then(|| ProgressView::from(update))
}
