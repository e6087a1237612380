//! What the query API answers: read-model rows shaped for owners (no object keys, no internal ids).

use fiapx_domain::VideoStatus;
use fiapx_http::{FailureCodeName, SpecForm, StatusName};
use fiapx_projections::entity::{timeline_entry, video};
use poem_openapi::{Object, Union};
use time::OffsetDateTime;
use uuid::Uuid;

/// Why the current job failed.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FailureView {
    /// Stable failure code (the table is `GET /api/v1/failure-codes`).
    pub code: FailureCodeName,
    /// Detail for the user.
    pub message: String,
    /// Whether another attempt is scheduled.
    pub will_retry: bool,
}

/// One video of the caller.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Video")]
pub struct VideoView {
    /// Video id.
    pub id: Uuid,
    /// The uploaded file's name.
    pub file_name: String,
    /// Media type found by probing the content.
    pub content_type: String,
    /// Size of the uploaded file in bytes.
    pub size_bytes: u64,
    /// Lifecycle status.
    pub status: StatusName,
    /// The extraction spec of the current job, in the shape uploads and `reprocess` accept (so it can be sent
    /// back as it is).
    pub spec: SpecForm,
    /// Current job: 0 for the upload, +1 per reprocess.
    pub job: u32,
    /// Latest attempt of the current job (0 = not started).
    pub attempt: u32,
    /// Frames in the archive of the last completed job.
    pub frame_count: Option<u32>,
    /// Size of that archive in bytes.
    pub archive_size_bytes: Option<u64>,
    /// Lowercase hex SHA-256 of that archive.
    pub archive_sha256: Option<String>,
    /// Present while the current job is failed or waiting for a retry.
    pub failure: Option<FailureView>,
    /// The latest progress of the running attempt (stage, frames done and expected), while it is processing; only
    /// in `GET /videos/{id}` (lists leave it out), so that polling clients see what the live stream shows.
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<ProgressView>,
    /// When it was uploaded.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

fn failure(row: &video::Model) -> Option<FailureView> {
    let stored = row.failure_code.as_deref()?;
    let code = FailureCodeName::parse(stored).unwrap_or_else(|| {
        // The projector only writes codes the domain knows; anything else is a bug, shown as `internal`.
        tracing::warn!(video = %row.id, code = stored, "read model holds an unknown failure code");
        FailureCodeName::from(fiapx_domain::FailureCode::Internal)
    });
    Some(FailureView {
        code,
        message: row.failure_message.clone().unwrap_or_default(),
        will_retry: row.will_retry.unwrap_or(false),
    })
}

/// The row's status. `new` is never in the API (a row exists once a video is uploaded): a string the domain does
/// not know, which only a bug writes, reads as `queued`.
fn status(row: &video::Model) -> StatusName {
    match fiapx_projections::videos::parse_status(&row.status) {
        VideoStatus::New => StatusName::from(VideoStatus::Queued),
        known => StatusName::from(known),
    }
}

fn spec(row: &video::Model) -> SpecForm {
    match fiapx_schemas::spec_from_json(&row.spec) {
        Ok(spec) => SpecForm::from(&spec),
        Err(error) => {
            // The projector only writes specs it decoded from the log; anything else is a bug, shown as the default.
            tracing::warn!(video = %row.id, %error, "read model holds an unreadable spec");
            SpecForm::from(&fiapx_domain::ExtractionSpec::default())
        }
    }
}

fn unsigned<T: TryFrom<i64> + Default>(value: i64) -> T {
    T::try_from(value).unwrap_or_default()
}

impl From<&video::Model> for VideoView {
    fn from(row: &video::Model) -> Self {
        Self {
            id: row.id,
            file_name: row.file_name.clone(),
            content_type: row.content_type.clone(),
            size_bytes: unsigned(row.source_size_bytes),
            status: status(row),
            spec: spec(row),
            job: unsigned(i64::from(row.job)),
            attempt: unsigned(i64::from(row.attempt)),
            frame_count: row.frame_count.map(|n| unsigned(i64::from(n))),
            archive_size_bytes: row.archive_size_bytes.map(unsigned),
            archive_sha256: row.archive_sha256.clone(),
            failure: failure(row),
            progress: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One page of the caller's videos, newest first.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct VideoPage {
    /// Up to `limit` videos.
    pub items: Vec<VideoView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One of the caller's videos with its whole timeline (the account export).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "VideoRecord")]
pub struct VideoRecord {
    /// The video as `GET /videos/{id}` shows it (deleted ones included).
    pub video: VideoView,
    /// Everything that happened to it, oldest first.
    pub timeline: Vec<TimelineEntryView>,
}

/// One image of a completed video's archive, as its `manifest.json` lists it.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Frame")]
pub struct FrameView {
    /// Output index, from 0 (`GET /videos/{id}/frames/{index}` serves it).
    pub index: u64,
    /// Presentation time of the source frame, in seconds from the start of the video.
    pub pts: f64,
    /// Its file name in the archive (`frame_0001.png` and up).
    pub file_name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the image.
    pub sha256: String,
}

impl From<&fiapx_domain::ManifestFrame> for FrameView {
    fn from(frame: &fiapx_domain::ManifestFrame) -> Self {
        Self {
            index: frame.index,
            pts: frame.pts,
            file_name: frame.file.clone(),
            size_bytes: frame.size,
            sha256: frame.sha256.clone(),
        }
    }
}

/// One page of a video's frames, in order.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct FramePage {
    /// Frames in the archive in all.
    pub frame_count: u64,
    /// Up to `limit` frames.
    pub items: Vec<FrameView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One event of a video's life.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "TimelineEntry")]
pub struct TimelineEntryView {
    /// Position in the event log (orders the entries).
    pub sequence: u64,
    /// Event id.
    pub event_id: Uuid,
    /// Event type: `uploaded`, `processing_started`, `completed`, `failed`, `reprocess_requested`, `deleted`.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: OffsetDateTime,
    /// What happened, by type (job, attempt, failure code, frame count, spec...).
    pub summary: serde_json::Value,
}

impl From<timeline_entry::Model> for TimelineEntryView {
    fn from(row: timeline_entry::Model) -> Self {
        Self {
            sequence: unsigned(row.sequence),
            event_id: row.event_id,
            event_type: row.event_type,
            occurred_at: row.occurred_at,
            summary: row.summary,
        }
    }
}

/// A video's timeline, oldest event first.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Timeline")]
pub struct TimelineView {
    /// The video.
    pub video_id: Uuid,
    /// Its events.
    pub entries: Vec<TimelineEntryView>,
}

/// The status of a video, sent first and on every lifecycle change.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct StatusUpdate {
    /// The video.
    pub video_id: Uuid,
    /// Its status.
    pub status: StatusName,
    /// Current job.
    pub job: u32,
    /// Latest attempt.
    pub attempt: u32,
    /// Frames in the archive, once completed.
    pub frame_count: Option<u32>,
    /// Why the current job failed, if it did.
    pub failure: Option<FailureView>,
    /// When the status last changed.
    pub updated_at: OffsetDateTime,
    /// Event log position of the change, when known (a video's own stream learns of changes from the bus, without
    /// it). On `GET /events` it is always there and is also the SSE `id`: reconnecting with it as `Last-Event-ID`
    /// (or `last_event_id`) resumes right after it.
    pub sequence: Option<u64>,
}

impl From<&video::Model> for StatusUpdate {
    fn from(row: &video::Model) -> Self {
        let view = VideoView::from(row);
        Self {
            video_id: view.id,
            status: view.status,
            job: view.job,
            attempt: view.attempt,
            frame_count: view.frame_count,
            failure: view.failure,
            updated_at: view.updated_at,
            sequence: u64::try_from(row.last_sequence).ok().filter(|&n| n > 0),
        }
    }
}

// The API's view of `fiapx_schemas::ProgressUpdate`, the message the processor publishes (the one definition of
// it); a plain comment, not a doc, so the OpenAPI document (name `ProgressUpdate`, description) stays as it was.
/// Progress of the running attempt (not persisted: live only).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ProgressUpdate")]
pub struct ProgressView {
    /// The video.
    pub video_id: Uuid,
    /// Job number.
    pub job: u32,
    /// Attempt number.
    pub attempt: u32,
    /// Frames written so far.
    pub frames_done: u64,
    /// Frames the spec will produce, when known.
    pub frames_expected: Option<u64>,
    /// What the processor is doing, e.g. `downloading`, `extracting`, `uploading`.
    pub stage: Option<String>,
}

impl From<fiapx_schemas::ProgressUpdate> for ProgressView {
    fn from(update: fiapx_schemas::ProgressUpdate) -> Self {
        Self {
            video_id: update.video_id,
            job: update.job,
            attempt: update.attempt,
            frames_done: update.frames_done,
            frames_expected: update.frames_expected,
            stage: Some(update.stage.as_str().to_owned()),
        }
    }
}

/// A live event of `GET /api/v1/videos/{id}/events` (SSE event name = `type`).
#[derive(Debug, Clone, PartialEq, Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum LiveEvent {
    /// The status (first event, then on every change).
    #[oai(mapping = "status")]
    Status(StatusUpdate),
    /// Progress of the running attempt.
    #[oai(mapping = "progress")]
    Progress(ProgressView),
}

impl LiveEvent {
    /// The SSE `id`: a status change's log position; progress has none.
    pub const fn id(&self) -> Option<u64> {
        match self {
            Self::Status(update) => update.sequence,
            Self::Progress(_) => None,
        }
    }

    /// The SSE event name.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Progress(_) => "progress",
        }
    }
}
