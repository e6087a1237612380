//! One event into every read model, and a batch of messages into a generation with its checkpoint.

use fiapx_schemas::StoredEvent;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, RuntimeErr, TransactionTrait};

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
    /// Events PostgreSQL refused for their data, recorded in `projection_errors`.
    pub refused: u64,
    /// The checkpoint after the batch.
    pub checkpoint: u64,
}

/// Applies `items` (in stream order) to `generation` of projection `name` and moves its checkpoint, all in the
/// caller's transaction. Messages at or below the checkpoint are skipped, so a redelivered batch changes nothing.
/// An undecodable message is recorded once in `projection_errors` and passed over: it must not block the
/// projection (the log is immutable, so waiting would never fix it).
///
/// The same goes for a decodable event that PostgreSQL refuses for its data (SQLSTATE class 22, data exception,
/// e.g. a NUL byte in a text; class 23, integrity constraint): it would fail the same way on every redelivery and
/// hold the whole projection. The batch runs inside a savepoint; when such a refusal comes, it is rolled back and
/// run again event by event, each in its own savepoint, and the refused event is recorded in `projection_errors`
/// and passed over. Any other failure (connection lost, serialization failure, timeout) is returned: the batch is
/// retried as a whole.
pub async fn apply_batch(
    tx: &DatabaseTransaction,
    name: &str,
    generation: Generation,
    items: &[Incoming],
) -> Result<BatchOutcome, DbErr> {
    let fast = tx.begin().await?;
    match apply_items(&fast, name, generation, items, false).await {
        Ok(outcome) => {
            fast.commit().await?;
            Ok(outcome)
        }
        Err(error) if refused_for_its_data(&error).is_some() => {
            fast.rollback().await?;
            apply_items(tx, name, generation, items, true).await
        }
        Err(error) => Err(error),
    }
}

/// The SQLSTATE of a statement PostgreSQL refused because of the data in it (class 22 or 23): the same event
/// is refused the same way every time.
fn refused_for_its_data(error: &DbErr) -> Option<String> {
    if let DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) = error
        && let sea_orm::sqlx::Error::Database(database) = &**inner
        && let Some(code) = database.code()
        && (code.starts_with("22") || code.starts_with("23"))
    {
        Some(code.into_owned())
    } else {
        None
    }
}

async fn record_error(
    tx: &DatabaseTransaction,
    name: &str,
    generation: Generation,
    sequence: u64,
    subject: &str,
    error: &str,
) -> Result<(), DbErr> {
    tx.execute_raw(statement(
        "INSERT INTO projection_errors (name, generation, sequence, subject, error) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [
            name.into(),
            generation.0.into(),
            sequence_value(sequence),
            subject.into(),
            error.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// [`apply_batch`]'s work; with `one_by_one`, each event in its own savepoint, refused ones recorded and passed.
async fn apply_items(
    tx: &DatabaseTransaction,
    name: &str,
    generation: Generation,
    items: &[Incoming],
    one_by_one: bool,
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
            Incoming::Event(stored) if one_by_one => {
                let savepoint = tx.begin().await?;
                match apply(&savepoint, generation, stored).await {
                    Ok(()) => {
                        savepoint.commit().await?;
                        outcome.applied += 1;
                    }
                    Err(error) => {
                        let Some(code) = refused_for_its_data(&error) else {
                            return Err(error);
                        };
                        savepoint.rollback().await?;
                        tracing::error!(
                            projection.name = name,
                            event.sequence = stored.sequence,
                            video.id = %stored.envelope.video_id,
                            sql.state = %code,
                            error = %error,
                            "event refused by PostgreSQL for its data; recorded in projection_errors and skipped"
                        );
                        // The subject without its configured prefix: `<video id>.<event type>`.
                        let subject = format!("{}.{}", stored.envelope.video_id, stored.envelope.event_type);
                        let why = format!("refused by PostgreSQL (SQLSTATE {code}): {error}");
                        record_error(tx, name, generation, stored.sequence, &subject, &why).await?;
                        outcome.refused += 1;
                    }
                }
            }
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
                record_error(tx, name, generation, *sequence, subject, error).await?;
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
