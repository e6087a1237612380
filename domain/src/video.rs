//! The video aggregate: commands, events, state, and the two pure functions between them.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::failure::FailureCode;
use crate::ids::{UserId, VideoId};
use crate::spec::{ExtractionSpec, SpecError};

/// The uploaded source file, as stored in object storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// Object key of the source in the bucket.
    pub key: String,
    /// The name the user gave the file (display only; never used to guess the format).
    pub file_name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// The media type found by probing the content.
    pub content_type: String,
}

/// The ZIP of frames produced by a successful job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveObject {
    /// Object key of the archive in the bucket.
    pub key: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the archive.
    pub sha256: String,
    /// Number of frames in the archive.
    pub frame_count: u32,
}

/// One image of an archive, as its `manifest.json` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFrame {
    /// Output index, from 0.
    pub index: u64,
    /// Presentation time of the source frame, in seconds from the start of the file.
    pub pts: f64,
    /// Entry name in the archive.
    pub file: String,
    /// Entry size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the entry.
    pub sha256: String,
    /// Where the entry's bytes start in the archive (entries are stored uncompressed, so bytes
    /// `offset..offset + size` of the ZIP are the image). Absent in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Entry name of output frame `index` in an archive: `frame_0001.png` and up, as the monolith's
/// `frame_%04d.png`.
pub fn frame_file_name(index: u64, extension: &str) -> String {
    format!("frame_{:04}.{extension}", index + 1)
}

/// The failure report of one attempt: what a processor sends (`Command::FailProcessing`) and what the log
/// records (`Event::Failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// Job number the attempt belongs to.
    pub job: u32,
    /// Delivery attempt, from 1.
    pub attempt: u32,
    /// Typed cause.
    pub code: FailureCode,
    /// Human-readable detail (no internals: it is shown to the user).
    pub message: String,
    /// Whether the processor will try again; only allowed for retryable codes.
    pub will_retry: bool,
    /// When it failed.
    pub at: OffsetDateTime,
}

impl AttemptFailure {
    /// The status the video is in after this failure: waiting for a retry, or failed for good.
    pub const fn status(&self) -> VideoStatus {
        if self.will_retry {
            VideoStatus::RetryScheduled
        } else {
            VideoStatus::Failed
        }
    }
}

/// What someone asks the system to do to a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A new video was stored in object storage and should be processed with `spec`.
    RegisterUpload {
        /// The new video's id.
        video_id: VideoId,
        /// Who uploaded it.
        owner: UserId,
        /// The stored source.
        source: SourceObject,
        /// What to extract.
        spec: ExtractionSpec,
        /// When.
        at: OffsetDateTime,
    },
    /// A processor took delivery `attempt` of job `job`.
    StartProcessing {
        /// Job number (0 for the upload, +1 for each reprocess).
        job: u32,
        /// Delivery attempt, from 1.
        attempt: u32,
        /// When.
        at: OffsetDateTime,
    },
    /// A processor finished an attempt and stored the archive.
    CompleteProcessing {
        /// Job number.
        job: u32,
        /// Delivery attempt.
        attempt: u32,
        /// The stored archive.
        archive: ArchiveObject,
        /// When.
        at: OffsetDateTime,
    },
    /// A processor gave up on an attempt.
    FailProcessing(AttemptFailure),
    /// JetStream stopped delivering job `job` after `deliveries` deliveries (its max-deliveries advisory) while
    /// no final event was recorded, e.g. the last attempt crashed or could not reach the event store. Ends the
    /// job with `failed{attempts_exhausted}` so that nothing ends silently.
    AbandonJob {
        /// Job number named by the advisory's message.
        job: u32,
        /// Deliveries JetStream made (its `max_deliver`).
        deliveries: u32,
        /// When.
        at: OffsetDateTime,
    },
    /// The owner wants the frames extracted again, optionally with a new spec.
    RequestReprocess {
        /// Who asks.
        by: UserId,
        /// The new spec; `None` keeps the current one.
        spec: Option<ExtractionSpec>,
        /// When.
        at: OffsetDateTime,
    },
    /// The owner deletes the video (archive and source are removed from storage).
    DeleteVideo {
        /// Who asks.
        by: UserId,
        /// When.
        at: OffsetDateTime,
    },
}

/// A fact of the video's life. The stable type strings are the last token of the event's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The video was uploaded.
    Uploaded {
        /// Its id.
        video_id: VideoId,
        /// Its owner.
        owner: UserId,
        /// The stored source.
        source: SourceObject,
        /// What to extract.
        spec: ExtractionSpec,
        /// When.
        at: OffsetDateTime,
    },
    /// A processor started an attempt.
    ProcessingStarted {
        /// Job number.
        job: u32,
        /// Delivery attempt.
        attempt: u32,
        /// When.
        at: OffsetDateTime,
    },
    /// The frames archive is ready.
    Completed {
        /// Job number.
        job: u32,
        /// Delivery attempt.
        attempt: u32,
        /// The archive.
        archive: ArchiveObject,
        /// When.
        at: OffsetDateTime,
    },
    /// An attempt failed; final unless `will_retry`.
    Failed(AttemptFailure),
    /// A new job was requested.
    ReprocessRequested {
        /// The new job's number.
        job: u32,
        /// The spec of the new job.
        spec: ExtractionSpec,
        /// When.
        at: OffsetDateTime,
    },
    /// The video was deleted.
    Deleted {
        /// When.
        at: OffsetDateTime,
    },
}

impl Event {
    /// Every event type string, in lifecycle order.
    pub const TYPES: [&'static str; 6] = [
        "uploaded",
        "processing_started",
        "completed",
        "failed",
        "reprocess_requested",
        "deleted",
    ];

    /// The stable snake_case type, independent of Rust identifiers.
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::Uploaded { .. } => "uploaded",
            Self::ProcessingStarted { .. } => "processing_started",
            Self::Completed { .. } => "completed",
            Self::Failed { .. } => "failed",
            Self::ReprocessRequested { .. } => "reprocess_requested",
            Self::Deleted { .. } => "deleted",
        }
    }

    /// When the fact happened.
    pub const fn occurred_at(&self) -> OffsetDateTime {
        match self {
            Self::Uploaded { at, .. }
            | Self::ProcessingStarted { at, .. }
            | Self::Completed { at, .. }
            | Self::Failed(AttemptFailure { at, .. })
            | Self::ReprocessRequested { at, .. }
            | Self::Deleted { at } => *at,
        }
    }
}

/// Where a video is in its life. The string forms are stable: read models store them and the API shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VideoStatus {
    /// Nothing was uploaded under this id.
    #[default]
    New,
    /// Waiting for a processor (after upload or reprocess).
    Queued,
    /// A processor is working on it.
    Processing,
    /// An attempt failed with a transient fault; another delivery will come.
    RetryScheduled,
    /// The archive is ready.
    Completed,
    /// Failed for good (until reprocessed).
    Failed,
    /// Deleted; nothing more can happen.
    Deleted,
}

impl VideoStatus {
    /// Every status of a video that exists (not [`VideoStatus::New`]), in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Processing,
        Self::RetryScheduled,
        Self::Completed,
        Self::Failed,
        Self::Deleted,
    ];

    /// The statuses of a video whose job is not over yet (what the per-user in-flight limit counts).
    pub const IN_FLIGHT: [Self; 3] = [Self::Queued, Self::Processing, Self::RetryScheduled];

    /// The stable snake_case name used by read models and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::RetryScheduled => "retry_scheduled",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for VideoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VideoStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        std::iter::once(Self::New)
            .chain(Self::ALL)
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A status string that is none of [`VideoStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown video status `{0}`")]
pub struct UnknownStatus(pub String);

/// The state of one video, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Video {
    /// Lifecycle status.
    pub status: VideoStatus,
    /// The video's id, once uploaded.
    pub id: Option<VideoId>,
    /// The owner, once uploaded.
    pub owner: Option<UserId>,
    /// The stored source, once uploaded.
    pub source: Option<SourceObject>,
    /// The spec of the current job.
    pub spec: ExtractionSpec,
    /// The current job (0 for the upload, +1 per reprocess).
    pub job: u32,
    /// The latest attempt started for the current job (0 = none yet).
    pub attempt: u32,
    /// The archive of the last completed job, if any.
    pub archive: Option<ArchiveObject>,
    /// The last failure of the current job, if any.
    pub failure: Option<(FailureCode, String)>,
}

/// Why a command was rejected. A rejection emits no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// The command needs an uploaded video and there is none.
    #[error("video not found")]
    NotFound,
    /// An upload reused an existing video id.
    #[error("video already exists")]
    AlreadyExists,
    /// The video was deleted.
    #[error("video was deleted")]
    Deleted,
    /// The requester does not own the video (shown to callers as not found).
    #[error("video not found")]
    NotOwner,
    /// The spec is invalid.
    #[error("invalid extraction spec: {0}")]
    InvalidSpec(#[from] SpecError),
    /// Attempts are numbered from 1.
    #[error("attempt numbers start at 1")]
    InvalidAttempt,
    /// The command is about another job than the current one.
    #[error("job {got} is not the current job {current}")]
    StaleJob {
        /// The current job.
        current: u32,
        /// The job named by the command.
        got: u32,
    },
    /// A later attempt has already started.
    #[error("attempt {got} was superseded by attempt {current}")]
    AttemptSuperseded {
        /// The latest attempt.
        current: u32,
        /// The attempt named by the command.
        got: u32,
    },
    /// The job already completed.
    #[error("video is already completed")]
    AlreadyCompleted,
    /// The job already failed for good.
    #[error("video processing already failed")]
    AlreadyFailed,
    /// Completion or failure reported while no attempt runs.
    #[error("video is not being processed (status {0:?})")]
    NotProcessing(VideoStatus),
    /// `will_retry` with a code that retrying cannot fix.
    #[error("failure code {0} cannot be retried")]
    NotRetryable(FailureCode),
    /// Reprocess asked while a job is still pending or running.
    #[error("video cannot be reprocessed while {}", .0.as_str())]
    ReprocessNotAllowed(VideoStatus),
}

/// Decides which events a command produces in the current state, or why it is rejected.
pub fn decide(video: &Video, command: Command) -> Result<Vec<Event>, VideoError> {
    if let Command::RegisterUpload {
        video_id,
        owner,
        source,
        spec,
        at,
    } = command
    {
        return match video.status {
            VideoStatus::New => {
                spec.validate()?;
                Ok(vec![Event::Uploaded {
                    video_id,
                    owner,
                    source,
                    spec,
                    at,
                }])
            }
            VideoStatus::Deleted => Err(VideoError::Deleted),
            _ => Err(VideoError::AlreadyExists),
        };
    }
    match video.status {
        VideoStatus::New => return Err(VideoError::NotFound),
        VideoStatus::Deleted => return Err(VideoError::Deleted),
        _ => {}
    }
    match command {
        Command::RegisterUpload { .. } => unreachable!("handled above"),
        Command::StartProcessing { job, attempt, at } => {
            video.check_job(job)?;
            if attempt == 0 {
                return Err(VideoError::InvalidAttempt);
            }
            match video.status {
                VideoStatus::Completed => Err(VideoError::AlreadyCompleted),
                VideoStatus::Failed => Err(VideoError::AlreadyFailed),
                _ if attempt <= video.attempt => Err(VideoError::AttemptSuperseded {
                    current: video.attempt,
                    got: attempt,
                }),
                // Queued, or a redelivery taking over a stale or retried attempt.
                _ => Ok(vec![Event::ProcessingStarted { job, attempt, at }]),
            }
        }
        Command::CompleteProcessing {
            job,
            attempt,
            archive,
            at,
        } => {
            video.check_running(job, attempt)?;
            Ok(vec![Event::Completed {
                job,
                attempt,
                archive,
                at,
            }])
        }
        Command::FailProcessing(failure) => {
            video.check_running(failure.job, failure.attempt)?;
            if failure.will_retry && !failure.code.is_retryable() {
                return Err(VideoError::NotRetryable(failure.code));
            }
            Ok(vec![Event::Failed(failure)])
        }
        Command::AbandonJob { job, deliveries, at } => {
            video.check_job(job)?;
            match video.status {
                VideoStatus::Completed => Err(VideoError::AlreadyCompleted),
                VideoStatus::Failed => Err(VideoError::AlreadyFailed),
                // Queued (no attempt ever started), Processing (the last attempt died) or RetryScheduled.
                _ => Ok(vec![Event::Failed(AttemptFailure {
                    job,
                    attempt: video.attempt.max(deliveries).max(1),
                    code: FailureCode::AttemptsExhausted,
                    message: format!("gave up after {deliveries} deliveries without a result"),
                    will_retry: false,
                    at,
                })]),
            }
        }
        Command::RequestReprocess { by, spec, at } => {
            video.check_owner(by)?;
            match video.status {
                VideoStatus::Completed | VideoStatus::Failed => {
                    let spec = spec.clone().unwrap_or_else(|| video.spec.clone());
                    spec.validate()?;
                    Ok(vec![Event::ReprocessRequested {
                        job: video.job + 1,
                        spec,
                        at,
                    }])
                }
                other => Err(VideoError::ReprocessNotAllowed(other)),
            }
        }
        Command::DeleteVideo { by, at } => {
            video.check_owner(by)?;
            Ok(vec![Event::Deleted { at }])
        }
    }
}

/// Folds one event into the state. Total: it never panics, whatever the log holds.
pub fn evolve(mut video: Video, event: &Event) -> Video {
    match event {
        Event::Uploaded {
            video_id,
            owner,
            source,
            spec,
            ..
        } => {
            video = Video {
                status: VideoStatus::Queued,
                id: Some(*video_id),
                owner: Some(*owner),
                source: Some(source.clone()),
                spec: spec.clone(),
                ..Video::default()
            };
        }
        Event::ProcessingStarted { job, attempt, .. } => {
            video.status = VideoStatus::Processing;
            video.job = *job;
            video.attempt = *attempt;
            video.failure = None;
        }
        Event::Completed {
            job,
            attempt,
            archive,
            ..
        } => {
            video.status = VideoStatus::Completed;
            video.job = *job;
            video.attempt = *attempt;
            video.archive = Some(archive.clone());
            video.failure = None;
        }
        Event::Failed(failure) => {
            video.status = failure.status();
            video.job = failure.job;
            video.attempt = failure.attempt;
            video.failure = Some((failure.code, failure.message.clone()));
        }
        Event::ReprocessRequested { job, spec, .. } => {
            video.status = VideoStatus::Queued;
            video.job = *job;
            video.attempt = 0;
            video.spec = spec.clone();
            video.failure = None;
        }
        Event::Deleted { .. } => video.status = VideoStatus::Deleted,
    }
    video
}

impl Video {
    /// Folds a whole history, oldest first.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        events.into_iter().fold(Self::default(), evolve)
    }

    fn check_job(&self, job: u32) -> Result<(), VideoError> {
        if job == self.job {
            Ok(())
        } else {
            Err(VideoError::StaleJob {
                current: self.job,
                got: job,
            })
        }
    }

    fn check_running(&self, job: u32, attempt: u32) -> Result<(), VideoError> {
        self.check_job(job)?;
        if self.status != VideoStatus::Processing {
            return Err(VideoError::NotProcessing(self.status));
        }
        if attempt != self.attempt {
            return Err(VideoError::AttemptSuperseded {
                current: self.attempt,
                got: attempt,
            });
        }
        Ok(())
    }

    fn check_owner(&self, by: UserId) -> Result<(), VideoError> {
        if self.owner == Some(by) {
            Ok(())
        } else {
            Err(VideoError::NotOwner)
        }
    }

    /// Checks the structural invariants every reachable state satisfies; returns the first one broken.
    pub fn invariant_violation(&self) -> Option<&'static str> {
        let uploaded = self.id.is_some() && self.owner.is_some() && self.source.is_some();
        match self.status {
            VideoStatus::New if self.id.is_some() || self.owner.is_some() => {
                Some("a new video has no identity")
            }
            VideoStatus::New => None,
            _ if !uploaded => Some("every uploaded video has an id, owner and source"),
            VideoStatus::Queued if self.attempt != 0 => Some("a queued job has not started an attempt"),
            VideoStatus::Processing | VideoStatus::RetryScheduled | VideoStatus::Failed
                if self.attempt == 0 =>
            {
                Some("a started job has an attempt number")
            }
            VideoStatus::Completed if self.archive.is_none() => Some("a completed video has an archive"),
            VideoStatus::RetryScheduled | VideoStatus::Failed if self.failure.is_none() => {
                Some("a failed job has a cause")
            }
            VideoStatus::Queued | VideoStatus::Processing | VideoStatus::Completed
                if self.failure.is_some() =>
            {
                Some("only failed jobs carry a cause")
            }
            _ if self.spec.validate().is_err() => Some("the spec is valid"),
            _ => None,
        }
    }
}
