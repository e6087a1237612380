//! One event into every read model, and a batch of messages into a generation with its checkpoint.

use fiapx_schemas::StoredEvent;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use crate::generation::{Generation, checkpoint_for_update, sequence_value, set_checkpoint, statement};
use crate::{owner_counts, timeline, videos};

/// A message of the event stream, decoded or not.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A valid event.
    Event(Box<StoredEvent>),
    /// A message that is not a valid event (bad subject, headers or payload).
    Corrupt {
        /// Its stream sequence.
        sequence: u64,
        /// Its subject.
        subject: String,
        /// Why it could not be decoded.
        error: String,
    },
}

impl Incoming {
    /// Stream sequence of the message.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Event(stored) => stored.sequence,
            Self::Corrupt { sequence, .. } => *sequence,
        }
    }
}

/// Applies one event to every read model of `generation`, in the caller's transaction.
///
/// Idempotent without the checkpoint: a `videos` row skips events at or below its last sequence, timeline rows
/// are keyed by `(video_id, sequence)`, and counters move only when the `videos` row really changed status.
pub async fn apply(
    tx: &DatabaseTransaction,
    generation: Generation,
    stored: &StoredEvent,
) -> Result<(), DbErr> {
    let transition = videos::apply(tx, generation, stored).await?;
    timeline::apply(tx, generation, stored).await?;
    if let Some(transition) = transition {
        owner_counts::apply(tx, generation, &transition).await?;
    }
    Ok(())
}

/// What [`apply_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Events applied (skipped ones, at or below the checkpoint, not counted).
    pub applied: u64,
    /// Undecodable messages recorded in `projection_errors`.
    pub corrupt: u64,
    /// The checkpoint after the batch.
    pub checkpoint: u64,
}

/// Applies `items` (in stream order) to `generation` of projection `name` and moves its checkpoint, all in the
/// caller's transaction. Messages at or below the checkpoint are skipped, so a redelivered batch changes nothing.
/// An undecodable message is recorded once in `projection_errors` and passed over: it must not block the
/// projection (the log is immutable, so waiting would never fix it).
pub async fn apply_batch(
    tx: &DatabaseTransaction,
    name: &str,
    generation: Generation,
    items: &[Incoming],
) -> Result<BatchOutcome, DbErr> {
    let mut outcome = BatchOutcome {
        checkpoint: checkpoint_for_update(tx, name, generation).await?,
        ..BatchOutcome::default()
    };
    let start = outcome.checkpoint;
    for item in items {
        if item.sequence() <= outcome.checkpoint {
            continue;
        }
        match item {
            Incoming::Event(stored) => {
                apply(tx, generation, stored).await?;
                outcome.applied += 1;
            }
            Incoming::Corrupt {
                sequence,
                subject,
                error,
            } => {
                tracing::error!(
                    projection.name = name,
                    event.sequence = sequence,
                    event.subject = %subject,
                    error = %error,
                    "undecodable event recorded in projection_errors and skipped"
                );
                tx.execute_raw(statement(
                    "INSERT INTO projection_errors (name, generation, sequence, subject, error) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    [
                        name.into(),
                        generation.0.into(),
                        sequence_value(*sequence),
                        subject.as_str().into(),
                        error.as_str().into(),
                    ],
                ))
                .await?;
                outcome.corrupt += 1;
            }
        }
        outcome.checkpoint = item.sequence();
    }
    if outcome.checkpoint > start {
        set_checkpoint(tx, name, generation, outcome.checkpoint).await?;
    }
    Ok(outcome)
}
