//! The query endpoints.

use std::sync::Arc;
use std::time::Duration;

use fiapx_http::{
    ApiError, CapSettings, ConcurrencyCap, Cursor, Named, Owner, Page, StatusName, client_address, page_limit,
};
use fiapx_identity::TokenVerifier;
use fiapx_nats::{JetStreamEventStore, NatsSettings};
use fiapx_projections::entity::{timeline_entry, video};
use fiapx_projections::videos::fold;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::{ApiResponse, OpenApi, Tags};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::state::State;
use crate::{feed, frames, live};
use fiapx_domain::{UserId, VideoStatus, archive_file_name};

use crate::views::{
    FramePage, FrameView, LiveEvent, TimelineEntryView, TimelineView, VideoPage, VideoRecord, VideoView,
};

#[derive(Tags)]
enum QueryTags {
    /// Reading your videos: lists, details, timelines, downloads and live status.
    Query,
}

/// The read side HTTP API. Construct with [`QueryApi::new`] and mount it (paths start with `/api/v1`).
#[derive(Clone)]
pub struct QueryApi {
    state: Arc<State>,
    /// Live streams open at once per user and per address.
    live_streams: Arc<ConcurrencyCap>,
}

/// How long an SSE connection may stay silent before a keep-alive comment is sent.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

impl QueryApi {
    /// The API on the read models in `db`, live events from `nats` (subjects and bucket named in `nats_settings`)
    /// and archives in `storage`, whose download links are valid for `link_ttl` (a few minutes:
    /// `S3Settings::presign_ttl_secs`).
    pub fn new(
        db: DatabaseConnection,
        nats: async_nats::Client,
        nats_settings: &NatsSettings,
        storage: fiapx_storage::Storage,
        link_ttl: Duration,
    ) -> Self {
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(nats_settings.request_timeout)
            .build(nats.clone());
        let store = fiapx_nats::JetStreamEventStore::new(nats.clone(), nats_settings);
        Self {
            state: Arc::new(State {
                db,
                nats,
                js,
                subject_prefix: nats_settings.subject_prefix.clone(),
                progress_bucket: nats_settings.progress_bucket.clone(),
                store,
                storage,
                link_ttl,
            }),
            live_streams: ConcurrencyCap::new("live streams", DEFAULT_LIVE_STREAM_CAP),
        }
    }

    /// The same API with another cap on the live streams (`GET /events`, `GET /videos/{id}/events`) open at once
    /// per user and per client address.
    #[must_use]
    pub fn with_live_stream_cap(self, cap: CapSettings) -> Self {
        Self {
            live_streams: ConcurrencyCap::new("live streams", cap),
            ..self
        }
    }
}

/// Live streams open at once: a user's tabs and devices, and every account behind one address. A stream whose
/// client went away gives its place back when its next keep-alive finds no one to write to (within
/// [`KEEP_ALIVE`]), hence the `Retry-After`.
pub const DEFAULT_LIVE_STREAM_CAP: CapSettings = CapSettings {
    per_user: 8,
    per_client: 32,
    retry_after_secs: KEEP_ALIVE.as_secs(),
};

impl std::fmt::Debug for QueryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryApi").finish_non_exhaustive()
    }
}

/// The caller's video, if its token may read it, it exists, is its owner's and is not deleted: anything else is
/// the same 404.
///
/// The read model lags the log by a few milliseconds, so a video uploaded a moment ago (the `Location` of the
/// upload's 202, an `EventSource` opened right after it) may have no row yet: then its events are folded from the
/// log itself, the source of truth, and only a video the log does not know either is a 404.
pub(crate) async fn visible_video(state: &State, owner: &Owner, id: Uuid) -> Result<video::Model, ApiError> {
    let owner = *owner.reader_of(id)?.as_uuid();
    find_video(&state.db, &state.store, id)
        .await?
        .filter(|row| row.owner_id == owner && row.status != VideoStatus::Deleted.as_str())
        .ok_or_else(|| ApiError::not_found("video"))
}

/// The row of `id`, whoever owns it, deleted or not: the read model's, or (while it has none yet) the one the
/// projector will write, folded from the log. `None`: the log has no such video.
pub(crate) async fn find_video(
    db: &DatabaseConnection,
    store: &JetStreamEventStore,
    id: Uuid,
) -> Result<Option<video::Model>, ApiError> {
    if let Some(row) = video::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(ApiError::from)?
    {
        return Ok(Some(row));
    }
    let loaded = store
        .load(fiapx_domain::VideoId::from_uuid(id))
        .await
        .map_err(ApiError::unavailable)?;
    metrics::counter!("fiapx_query_read_model_misses_total", "found" => (!loaded.events.is_empty()).to_string())
        .increment(1);
    Ok(fold(&loaded.events))
}

/// The query side's part of `owner`'s account export: every video of theirs the read model holds (deleted ones
/// too, as long as their rows last), newest first, each with its timeline.
pub async fn account_export(db: &DatabaseConnection, owner: UserId) -> Result<Vec<VideoRecord>, ApiError> {
    let rows = video::Entity::find()
        .filter(video::Column::OwnerId.eq(*owner.as_uuid()))
        .order_by_desc(video::Column::CreatedAt)
        .order_by_desc(video::Column::Id)
        .all(db)
        .await
        .map_err(ApiError::from)?;
    let entries = timeline_entry::Entity::find()
        .filter(timeline_entry::Column::VideoId.is_in(rows.iter().map(|row| row.id)))
        .order_by_asc(timeline_entry::Column::Sequence)
        .all(db)
        .await
        .map_err(ApiError::from)?;
    let mut timelines: std::collections::HashMap<Uuid, Vec<TimelineEntryView>> =
        std::collections::HashMap::new();
    for entry in entries {
        timelines
            .entry(entry.video_id)
            .or_default()
            .push(TimelineEntryView::from(entry));
    }
    Ok(rows
        .iter()
        .map(|row| VideoRecord {
            video: VideoView::from(row),
            timeline: timelines.remove(&row.id).unwrap_or_default(),
        })
        .collect())
}

/// Server-Sent Events of `stream`: each event named by its kind, with its `id` when it has one, and keep-alive
/// comments.
fn sse(stream: BoxStream<'static, LiveEvent>) -> EventStream<BoxStream<'static, LiveEvent>> {
    EventStream::new(stream).keep_alive(KEEP_ALIVE).to_event(|event| {
        use poem_openapi::types::ToJSON;
        let message = poem::web::sse::Event::message(event.to_json_string()).event_type(event.name());
        match event.id() {
            Some(id) => message.id(id.to_string()),
            None => message,
        }
    })
}

/// A storyboard's WebVTT index.
#[derive(ApiResponse)]
enum WebVtt {
    /// `WEBVTT` cues mapping time ranges to tiles: `storyboard/<n>.jpg#xywh=x,y,w,h`, relative to this path.
    #[oai(status = 200, content_type = "text/vtt; charset=utf-8")]
    Ok(
        poem_openapi::payload::PlainText<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum Download {
    /// Follow `Location` (a presigned URL valid for a few minutes).
    #[oai(status = 302)]
    Found(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(prefix_path = "/api/v1", tag = "QueryTags::Query")]
impl QueryApi {
    /// Lists the caller's videos, newest first, optionally by status (deleted videos are never listed).
    #[oai(path = "/videos", method = "get", operation_id = "listVideos")]
    async fn list(
        &self,
        owner: Owner,
        /// Only videos in this status.
        status: Query<Option<StatusName>>,
        /// Page size: default 20, at most 100.
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<VideoPage>, ApiError> {
        let owner = owner.user_id()?;
        let limit = page_limit(limit.0)?;
        let cursor = Cursor::decode_opt(cursor.0.as_deref())?;
        let mut select = video::Entity::find().filter(video::Column::OwnerId.eq(*owner.as_uuid()));
        select = match status.0 {
            Some(Named(VideoStatus::Deleted)) => {
                return Err(ApiError::bad_request("deleted videos are not listed"));
            }
            Some(status) => select.filter(video::Column::Status.eq(status.0.as_str())),
            None => select.filter(video::Column::Status.ne(VideoStatus::Deleted.as_str())),
        };
        if let Some(cursor) = cursor {
            // A row comparison, so that the (owner_id[, status], created_at DESC, id DESC) indexes serve it.
            select = select.filter(Expr::cust_with_values(
                "(created_at, id) < ($1, $2)",
                [sea_orm::Value::from(cursor.at), sea_orm::Value::from(cursor.id)],
            ));
        }
        let rows = select
            .order_by_desc(video::Column::CreatedAt)
            .order_by_desc(video::Column::Id)
            .limit(limit + 1)
            .all(&self.state.db)
            .await
            .map_err(ApiError::from)?;
        let page = Page::from_rows(rows, limit, |row| Cursor::new(row.created_at, row.id));
        Ok(Json(VideoPage {
            items: page.items.iter().map(VideoView::from).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// One of the caller's videos.
    #[oai(path = "/videos/:id", method = "get", operation_id = "getVideo")]
    async fn get(&self, owner: Owner, id: Path<Uuid>) -> Result<Json<VideoView>, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let mut view = VideoView::from(&row);
        view.progress = live::current_progress(&self.state, &row).await;
        Ok(Json(view))
    }

    /// Everything that happened to one of the caller's videos, oldest first.
    #[oai(
        path = "/videos/:id/timeline",
        method = "get",
        operation_id = "getVideoTimeline"
    )]
    async fn timeline(&self, owner: Owner, id: Path<Uuid>) -> Result<Json<TimelineView>, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let entries = timeline_entry::Entity::find()
            .filter(timeline_entry::Column::VideoId.eq(row.id))
            .order_by_asc(timeline_entry::Column::Sequence)
            .all(&self.state.db)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(TimelineView {
            video_id: row.id,
            entries: entries.into_iter().map(TimelineEntryView::from).collect(),
        }))
    }

    /// Redirects to the frames archive (a presigned URL valid for a few minutes, whose response names the file
    /// `<uploaded name without extension>-frames.zip` in its `Content-Disposition`); 409 `not_ready` until the
    /// video is completed.
    #[oai(
        path = "/videos/:id/download",
        method = "get",
        operation_id = "downloadVideoFrames"
    )]
    async fn download(&self, owner: Owner, id: Path<Uuid>) -> Result<Download, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let key = frames::completed_archive(&row)?;
        let disposition = fiapx_http::disposition::attachment(&archive_file_name(&row.file_name));
        let url = self
            .state
            .storage
            .presign_get(key, self.state.link_ttl, Some(&disposition))
            .await
            .map_err(ApiError::unavailable)?;
        Ok(Download::Found(url, "no-store".into()))
    }

    /// The frames of one of the caller's completed videos, in order, from its archive's manifest (index,
    /// presentation time, file name, size, SHA-256): a client can show them without the ZIP. 409 `not_ready` until
    /// the video is completed.
    #[oai(path = "/videos/:id/frames", method = "get", operation_id = "listVideoFrames")]
    async fn frames(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        /// Page size: default 20, at most 100.
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<FramePage>, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let limit = page_limit(limit.0)?;
        let start = match cursor.0.as_deref() {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this API returned"))?,
        };
        let index = frames::index(&self.state, &row).await?;
        let total = index.frames.len() as u64;
        let end = start.saturating_add(limit).min(total);
        Ok(Json(FramePage {
            frame_count: total,
            items: index
                .frames
                .iter()
                .skip(usize::try_from(start).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(FrameView::from)
                .collect(),
            next_cursor: (end < total).then(|| end.to_string()),
        }))
    }

    /// Redirects to one frame of one of the caller's completed videos (a presigned URL of that image, valid for a
    /// few minutes, with its media type): a poster or a preview without the ZIP. 404 for an index past the last
    /// frame, 409 `not_ready` until the video is completed.
    #[oai(
        path = "/videos/:id/frames/:index",
        method = "get",
        operation_id = "getVideoFrame"
    )]
    async fn frame(&self, owner: Owner, id: Path<Uuid>, index: Path<u64>) -> Result<Download, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let url = frames::frame_url(&self.state, &row, index.0).await?;
        Ok(Download::Found(url, "no-store".into()))
    }

    /// The storyboard of one of the caller's completed videos whose spec asked for one: a WebVTT file whose cues map
    /// time ranges to tiles of JPEG sprite sheets (`storyboard/0.jpg#xywh=0,0,160,90`, relative to this path), the
    /// format players read for scrub previews. 404 when the spec had no storyboard, 409 `not_ready` until the
    /// video is completed.
    #[oai(
        path = "/videos/:id/storyboard.vtt",
        method = "get",
        operation_id = "getVideoStoryboard"
    )]
    async fn storyboard(&self, owner: Owner, id: Path<Uuid>) -> Result<WebVtt, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let vtt = frames::storyboard_vtt(&self.state, &row).await?;
        Ok(WebVtt::Ok(
            poem_openapi::payload::PlainText(vtt),
            "no-store".into(),
        ))
    }

    /// Redirects to one sprite sheet of a storyboard (`<n>.jpg`, as the WebVTT file names it; a presigned URL
    /// valid for a few minutes). 404 for a sheet that does not exist.
    #[oai(
        path = "/videos/:id/storyboard/:file",
        method = "get",
        operation_id = "getVideoStoryboardSheet"
    )]
    async fn storyboard_sheet(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        file: Path<String>,
    ) -> Result<Download, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        let url = frames::storyboard_sheet_url(&self.state, &row, &file.0).await?;
        Ok(Download::Found(url, "no-store".into()))
    }

    /// Live status of all the caller's videos as Server-Sent Events, on one connection: a `status` event on every
    /// change of any of them (its `id` is the change's log position) and `progress` events while they are
    /// processed. Reconnecting with `Last-Event-ID` (EventSource does it by itself) or `last_event_id` resumes right
    /// after that change, with nothing missed; without either it starts now (fetch the list first, or after
    /// opening the stream). Ends when the client disconnects or within a second of its token expiring or being
    /// revoked; keep-alive comments every 15 s. A share token gets 403. 429 while the account or the address has
    /// as many live streams open as it may.
    #[oai(path = "/events", method = "get", operation_id = "streamEvents")]
    async fn feed(
        &self,
        owner: Owner,
        request: &Request,
        #[oai(name = "Last-Event-ID")] last_event_id_header: Header<Option<u64>>,
        /// Resume after this change (for clients that cannot set `Last-Event-ID`).
        last_event_id: Query<Option<u64>>,
        verifier: Data<&Arc<TokenVerifier>>,
    ) -> Result<EventStream<BoxStream<'static, LiveEvent>>, ApiError> {
        let user = owner.user_id()?;
        let place = self.live_streams.acquire(user, client_address(request))?;
        let after = last_event_id_header.0.or(last_event_id.0);
        let stream = feed::user_events(&self.state, user, after)
            .await?
            .take_until(live::token_lapsed(Arc::clone(verifier.0), owner.0));
        let stream = place.hold_over(stream).boxed();
        Ok(sse(stream))
    }

    /// Live status of one of the caller's videos as Server-Sent Events: the current status first, then
    /// `progress` events while it is processed and a `status` event on every change. Ends after `deleted`, when
    /// the client disconnects, or within a second of its token expiring or being revoked (a revoked share link,
    /// a signed-out session, a disabled account); keep-alive comments every 15 s. 429 while the account (or, for
    /// a share link, the address) has as many live streams open as it may.
    #[oai(
        path = "/videos/:id/events",
        method = "get",
        operation_id = "streamVideoEvents"
    )]
    async fn events(
        &self,
        owner: Owner,
        request: &Request,
        id: Path<Uuid>,
        verifier: Data<&Arc<TokenVerifier>>,
    ) -> Result<EventStream<BoxStream<'static, LiveEvent>>, ApiError> {
        let row = visible_video(&self.state, &owner, id.0).await?;
        // A share link's holder is no user of ours: only its address counts.
        let place = self
            .live_streams
            .acquire_for(owner.user_id().ok(), client_address(request))?;
        let stream = live::events(&self.state, row)
            .await?
            .take_until(live::token_lapsed(Arc::clone(verifier.0), owner.0));
        let stream = place.hold_over(stream).boxed();
        Ok(sse(stream))
    }
}
