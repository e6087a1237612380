//! The event store as a port: append with an expected version, load a video, subscribe from a position.
//!
//! DESIGN.md section 2 keeps the event store behind a small trait so that another backend can be added where one
//! is reachable. The trait and its data (what is appended, what is loaded, why either failed) live here, next to
//! the persisted form they carry, so that a second backend depends on `fiapx-schemas` only and never on a NATS
//! client. The JetStream implementation is `fiapx_nats::JetStreamEventStore`.

use std::future::Future;

use fiapx_domain::{Event, VideoId};
use futures::stream::BoxStream;
use uuid::Uuid;

use crate::{Envelope, StoredEvent};

/// Request-scoped metadata stamped on every event of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Shared by every event caused by one user request.
    pub correlation_id: Uuid,
    /// The event or request that caused these events.
    pub causation_id: Option<Uuid>,
    /// W3C trace context of the caller.
    pub traceparent: Option<String>,
}

impl Metadata {
    /// Metadata for a fresh request: a new correlation id, no cause.
    pub fn new_request() -> Self {
        Self {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            traceparent: None,
        }
    }

    /// Metadata for events caused by a stored event: same correlation, caused by it.
    pub fn caused_by(envelope: &Envelope) -> Self {
        Self {
            correlation_id: envelope.correlation_id,
            causation_id: Some(envelope.event_id),
            traceparent: envelope.traceparent.clone(),
        }
    }
}

/// An event about to be appended, with its id fixed so that retries are de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Event id (the backend's de-duplication key).
    pub event_id: Uuid,
    /// The domain event.
    pub event: Event,
    /// Request metadata.
    pub metadata: Metadata,
}

impl PendingEvent {
    /// Gives a decided event a new id (UUID v7).
    pub fn new(event: Event, metadata: Metadata) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event,
            metadata,
        }
    }
}

/// All events of one video and the version to append after.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadedVideo {
    /// Events, oldest first.
    pub events: Vec<StoredEvent>,
    /// Position of the last event (0 when there is none): the expected version of the next append.
    pub version: u64,
}

/// Why an append did not store the events.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone appended to this video since `expected` was read: reload, decide again.
    #[error("video {video} changed after version {expected}")]
    Conflict {
        /// The video.
        video: VideoId,
        /// The version the caller decided on.
        expected: u64,
    },
    /// The server could not be reached or did not answer in time; nothing is known to be stored.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The server refused the events for another reason (stream missing, limits, batch rules).
    #[error("event store refused the append: {0}")]
    Refused(String),
}

/// Why a video (or a subscription) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The server could not be reached or did not answer in time.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// A stored message is not a valid event.
    #[error("stored event at sequence {sequence} is unreadable: {reason}")]
    Corrupt {
        /// Where.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Stored events in log order, as a subscription yields them.
pub type EventStream = BoxStream<'static, Result<StoredEvent, LoadError>>;

/// An append-only log of video events with optimistic concurrency per video.
///
/// Versions are positions in the log: 0 means "no event yet", and an append after version `v` succeeds only if
/// the video's last event is still at `v`. Implementations must make a retried append of the same event ids
/// idempotent.
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` after `expected_version` (0 for a new video), all or nothing. Returns the new version.
    fn append(
        &self,
        video: VideoId,
        expected_version: u64,
        events: &[PendingEvent],
    ) -> impl Future<Output = Result<u64, AppendError>> + Send;

    /// Loads every event of a video, oldest first, with the version to append after.
    fn load(&self, video: VideoId) -> impl Future<Output = Result<LoadedVideo, LoadError>> + Send;

    /// Every event of the log from position `from` (1 for the beginning) on, in order, then new ones as they are
    /// appended: what a live reader or a replay tool reads.
    fn subscribe(&self, from: u64) -> impl Future<Output = Result<EventStream, LoadError>> + Send;
}
