//! The command loop: load -> decide -> append, and on a concurrent write reload and decide again (bounded).
//!
//! It runs over any [`EventStore`]; the JetStream one is the default so that callers can name `CommandHandler`.

use fiapx_domain::{Command, Event, Video, VideoError, VideoId, decide};
use tracing::debug;

use fiapx_schemas::{AppendError, EventStore, LoadError, Metadata, PendingEvent};

use crate::event_store::JetStreamEventStore;

/// The outcome of an accepted command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The events appended (empty if the command decided nothing).
    pub events: Vec<Event>,
    /// The state after them.
    pub state: Video,
    /// The video's version after the append.
    pub version: u64,
}

/// Why a command did not produce stored events.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The domain rejected it (nothing was stored).
    #[error(transparent)]
    Rejected(#[from] VideoError),
    /// Other writers kept winning; the command may be retried later.
    #[error("video {video} kept changing: gave up after {attempts} attempts")]
    TooMuchContention {
        /// The video.
        video: VideoId,
        /// How many decisions were tried.
        attempts: u32,
    },
    /// Loading failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Appending failed for a reason other than a conflict.
    #[error(transparent)]
    Append(AppendError),
}

/// Runs commands against the event store.
#[derive(Clone, Debug)]
pub struct CommandHandler<S: EventStore = JetStreamEventStore> {
    store: S,
    max_retries: u32,
}

impl<S: EventStore> CommandHandler<S> {
    /// A handler that retries a conflicting decision up to `max_retries` times.
    pub fn new(store: S, max_retries: u32) -> Self {
        Self { store, max_retries }
    }

    /// The store behind the handler.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The latest state of `video`, folded from its events in the log.
    pub async fn state(&self, video: VideoId) -> Result<Video, LoadError> {
        let loaded = self.store.load(video).await?;
        Ok(Video::from_events(
            loaded.events.iter().map(|stored| &stored.event),
        ))
    }

    /// Decides `command` on the latest state of `video` and appends the events, retrying on conflicts.
    pub async fn handle(
        &self,
        video: VideoId,
        command: Command,
        metadata: Metadata,
    ) -> Result<Handled, HandleError> {
        let attempts = self.max_retries + 1;
        for attempt in 1..=attempts {
            let loaded = self.store.load(video).await?;
            let state = Video::from_events(loaded.events.iter().map(|stored| &stored.event));
            let events = decide(&state, command.clone())?;
            let pending: Vec<PendingEvent> = events
                .iter()
                .cloned()
                .map(|event| PendingEvent::new(event, metadata.clone()))
                .collect();
            match self.store.append(video, loaded.version, &pending).await {
                Ok(version) => {
                    let state = events.iter().fold(state, fiapx_domain::evolve);
                    return Ok(Handled {
                        events,
                        state,
                        version,
                    });
                }
                Err(AppendError::Conflict { .. }) => {
                    debug!(video.id = %video, attempt, "concurrent write; reloading");
                    // A short, growing pause spreads out writers that keep colliding.
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt.min(10)) * 2))
                        .await;
                }
                Err(other) => return Err(HandleError::Append(other)),
            }
        }
        metrics::counter!("fiapx_command_contention_exhausted_total").increment(1);
        Err(HandleError::TooMuchContention { video, attempts })
    }
}
