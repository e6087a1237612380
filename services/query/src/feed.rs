//! One live stream per user (`GET /api/v1/events`): a `status` event on every change of any of the caller's
//! videos, and their `progress`, on one connection.
//!
//! Lifecycle events come from the event log itself (an ordered consumer from a stream sequence, the event store's
//! `subscribe`), so each `status` event carries its stream sequence as the SSE `id` and a client that reconnects
//! with `Last-Event-ID` (or `last_event_id`) misses nothing: the feed starts again right after it. Progress is not
//! persisted (core subject `progress.videos.*`) and has no id. Whose a video is comes from its `uploaded` event, or,
//! for a video first seen later in its life, from the log folded up to that event (a progress message: from the
//! read model, or the log if the read model lags); what the feed learnt is remembered for the connection, bounded.
//!
//! Every process with an open feed reads every event of the log and drops what is not the caller's: cheap at
//! this project's scale (a few events per video); a deployment with very many concurrent feeds would filter on
//! the server instead (a consumer per owner needs the owner in the subject).

use std::collections::{HashMap, HashSet};

use fiapx_domain::UserId;
use fiapx_http::ApiError;
use fiapx_nats::JetStreamEventStore;
use fiapx_projections::entity::video;
use fiapx_projections::videos::{evolve, fold};
use fiapx_schemas::{LoadError, ProgressUpdate, StoredEvent, progress_wildcard};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use sea_orm::DatabaseConnection;
use tracing::warn;
use uuid::Uuid;

use crate::api::find_video;
use crate::state::State;
use crate::views::{LiveEvent, StatusUpdate};

/// Videos remembered per connection (the caller's and others'); past it, the others are forgotten and looked up
/// again when they show up.
const MAX_REMEMBERED: usize = 10_000;

enum Input {
    Event(Result<StoredEvent, LoadError>),
    Progress(async_nats::Message),
}

struct Feed {
    inputs: BoxStream<'static, Input>,
    owner: Uuid,
    db: DatabaseConnection,
    store: JetStreamEventStore,
    /// The caller's videos as this feed has shown them (the row after the last event sent).
    rows: HashMap<Uuid, video::Model>,
    /// Videos known to be the caller's (from a lookup for their progress) but not shown yet.
    owned: HashSet<Uuid>,
    /// Videos known to be someone else's.
    others: HashSet<Uuid>,
}

/// The feed of `owner`: every change after stream sequence `after` (default: from now on).
pub(crate) async fn user_events(
    state: &State,
    owner: UserId,
    after: Option<u64>,
) -> Result<BoxStream<'static, LiveEvent>, ApiError> {
    let progress = state
        .nats
        .subscribe(progress_wildcard())
        .await
        .map_err(ApiError::unavailable)?;
    let from = match after {
        Some(sequence) => sequence.saturating_add(1),
        None => state.store.head().await.map_err(ApiError::unavailable)? + 1,
    };
    let events = state.store.subscribe(from).await.map_err(ApiError::unavailable)?;
    let feed = Feed {
        inputs: stream::select(events.map(Input::Event), progress.map(Input::Progress)).boxed(),
        owner: *owner.as_uuid(),
        db: state.db.clone(),
        store: state.store.clone(),
        rows: HashMap::new(),
        owned: HashSet::new(),
        others: HashSet::new(),
    };
    Ok(stream::unfold(feed, next).boxed())
}

async fn next(mut feed: Feed) -> Option<(LiveEvent, Feed)> {
    loop {
        match feed.inputs.next().await? {
            Input::Event(Ok(stored)) => {
                if let Some(mut update) = feed.apply(&stored).await {
                    // The feed's position, not the row's: a row read ahead of it must not make a resuming
                    // client skip other videos' changes in between.
                    update.sequence = Some(stored.sequence);
                    return Some((LiveEvent::Status(update), feed));
                }
            }
            Input::Event(Err(LoadError::Corrupt { sequence, reason })) => {
                warn!(sequence, reason, "unreadable event skipped by a live feed");
            }
            Input::Event(Err(error)) => {
                // The log is unreachable: end the stream, the client reconnects with its Last-Event-ID.
                warn!(error = %error, "live feed lost the event log");
                return None;
            }
            Input::Progress(message) => {
                let Ok(update) = serde_json::from_slice::<ProgressUpdate>(&message.payload) else {
                    continue;
                };
                if feed.is_mine(update.video_id).await {
                    return Some((LiveEvent::Progress(update.into()), feed));
                }
            }
        }
    }
}

impl Feed {
    /// The status after `stored` if the video is the caller's and the event is news to this connection.
    async fn apply(&mut self, stored: &StoredEvent) -> Option<StatusUpdate> {
        let id = *stored.envelope.video_id.as_uuid();
        if self.others.contains(&id) {
            return None;
        }
        let row = if let Some(known) = self.rows.get(&id) {
            if known.last_sequence >= i64::try_from(stored.sequence).unwrap_or(i64::MAX) {
                return None;
            }
            evolve(Some(known.clone()), stored)?
        } else if matches!(stored.event, fiapx_domain::Event::Uploaded { .. }) {
            evolve(None, stored)?
        } else {
            // First seen mid-life (the feed started after its upload): its state right after this event, from
            // the log, so that every status sent is the one that event made.
            state_at(&self.store, id, stored.sequence).await?
        };
        if row.owner_id != self.owner {
            self.remember_other(id);
            return None;
        }
        let update = StatusUpdate::from(&row);
        if self.rows.len() >= MAX_REMEMBERED {
            self.rows.clear();
        }
        self.rows.insert(id, row);
        Some(update)
    }

    /// Whether `id` is the caller's, as far as a progress message needs to know.
    async fn is_mine(&mut self, id: Uuid) -> bool {
        if self.rows.contains_key(&id) || self.owned.contains(&id) {
            return true;
        }
        if self.others.contains(&id) {
            return false;
        }
        match find_video(&self.db, &self.store, id).await {
            Ok(Some(row)) if row.owner_id == self.owner => {
                if self.owned.len() >= MAX_REMEMBERED {
                    self.owned.clear();
                }
                self.owned.insert(id);
                true
            }
            Ok(Some(_)) => {
                self.remember_other(id);
                false
            }
            Ok(None) | Err(_) => false,
        }
    }

    fn remember_other(&mut self, id: Uuid) {
        if self.others.len() >= MAX_REMEMBERED {
            self.others.clear();
        }
        self.others.insert(id);
    }
}

/// The row of `id` right after the event at `sequence`, folded from the log; `None` when the log cannot be read
/// now (the event is skipped).
async fn state_at(store: &JetStreamEventStore, id: Uuid, sequence: u64) -> Option<video::Model> {
    match store.load(fiapx_domain::VideoId::from_uuid(id)).await {
        Ok(loaded) => fold(loaded.events.iter().filter(|e| e.sequence <= sequence)),
        Err(error) => {
            warn!(video.id = %id, error = %error, "live feed cannot read a video's events");
            None
        }
    }
}
