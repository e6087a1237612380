//! The video list/status read model: one row per video, folded from its events.

use fiapx_domain::{Event, VideoStatus};
use fiapx_schemas::StoredEvent;
use sea_orm::sea_query::{Alias, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult, Iterable, ModelTrait};

use crate::entity::video::{self, Column};
use crate::generation::{Generation, statement};

/// A change of a video's status, for the per-owner counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The owner.
    pub owner: uuid::Uuid,
    /// Status before the event (`None` for a new video).
    pub from: Option<VideoStatus>,
    /// Status after it.
    pub to: VideoStatus,
}

/// Applies one event to the `videos` table of `generation`. Returns the status change, if any.
///
/// Idempotent on its own: a row remembers the sequence of the last event applied to it, and an event at or below
/// it changes nothing.
pub async fn apply(
    tx: &DatabaseTransaction,
    generation: Generation,
    stored: &StoredEvent,
) -> Result<Option<Transition>, DbErr> {
    let table = generation.videos();
    let id = *stored.envelope.video_id.as_uuid();
    let current = video::Model::find_by_statement(statement(
        format!("SELECT * FROM {table} WHERE id = $1 FOR UPDATE"),
        [id.into()],
    ))
    .one(tx)
    .await?;
    if current
        .as_ref()
        .is_some_and(|row| row.last_sequence >= sequence_i64(stored.sequence))
    {
        return Ok(None);
    }
    let from = current.as_ref().map(|row| parse_status(&row.status));
    let Some(next) = evolve(current, stored) else {
        tracing::warn!(
            video.id = %stored.envelope.video_id,
            event.type = stored.event.event_type(),
            event.sequence = stored.sequence,
            "event for a video the read model does not know; skipped"
        );
        return Ok(None);
    };
    upsert(tx, &table, &next).await?;
    let to = parse_status(&next.status);
    Ok((from != Some(to)).then_some(Transition {
        owner: next.owner_id,
        from,
        to,
    }))
}

async fn upsert(tx: &DatabaseTransaction, table: &str, row: &video::Model) -> Result<(), DbErr> {
    let columns: Vec<Column> = Column::iter().collect();
    let values: Vec<sea_orm::Value> = columns.iter().map(|column| row.get(*column)).collect();
    let update: Vec<Column> = columns
        .iter()
        .copied()
        .filter(|c| !matches!(c, Column::Id))
        .collect();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns)
        .values_panic(values.into_iter().map(Into::into))
        .on_conflict(OnConflict::column(Column::Id).update_columns(update).to_owned())
        .to_owned();
    tx.execute(&insert).await?;
    Ok(())
}

/// The row the projector writes for a video after all of `events` (its log, in order): what the read model will
/// hold once it catches up. An event that cannot apply is skipped, as [`apply`] skips it. `None`: no `uploaded`.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Option<video::Model> {
    events
        .into_iter()
        .fold(None, |row, stored| evolve(row.clone(), stored).or(row))
}

/// The row after `stored`, given the row before (`None`: no row yet). `None` when the event cannot apply: a
/// second `uploaded`, or an event for a video with no `uploaded` (neither is possible in a log written through
/// the domain). Mirrors `fiapx_domain::evolve`.
pub fn evolve(current: Option<video::Model>, stored: &StoredEvent) -> Option<video::Model> {
    let sequence = sequence_i64(stored.sequence);
    let at = stored.event.occurred_at();
    let mut row = match (&stored.event, current) {
        (
            Event::Uploaded {
                video_id,
                owner,
                source,
                spec,
                at,
            },
            None,
        ) => {
            return Some(video::Model {
                id: *video_id.as_uuid(),
                owner_id: *owner.as_uuid(),
                file_name: source.file_name.clone(),
                content_type: source.content_type.clone(),
                source_key: source.key.clone(),
                source_size_bytes: i64::try_from(source.size_bytes).unwrap_or(i64::MAX),
                status: VideoStatus::Queued.as_str().into(),
                spec: fiapx_schemas::spec_to_json(spec),
                job: 0,
                attempt: 0,
                archive_key: None,
                archive_size_bytes: None,
                archive_sha256: None,
                frame_count: None,
                failure_code: None,
                failure_message: None,
                will_retry: None,
                created_at: *at,
                updated_at: *at,
                last_sequence: sequence,
            });
        }
        (Event::Uploaded { .. }, Some(_)) | (_, None) => return None,
        (_, Some(row)) => row,
    };
    match &stored.event {
        Event::Uploaded { .. } => unreachable!("handled above"),
        Event::ProcessingStarted { job, attempt, .. } => {
            row.status = VideoStatus::Processing.as_str().into();
            set_job(&mut row, *job, *attempt);
            clear_failure(&mut row);
        }
        Event::Completed {
            job,
            attempt,
            archive,
            ..
        } => {
            row.status = VideoStatus::Completed.as_str().into();
            set_job(&mut row, *job, *attempt);
            row.archive_key = Some(archive.key.clone());
            row.archive_size_bytes = Some(i64::try_from(archive.size_bytes).unwrap_or(i64::MAX));
            row.archive_sha256 = Some(archive.sha256.clone());
            row.frame_count = Some(i32::try_from(archive.frame_count).unwrap_or(i32::MAX));
            clear_failure(&mut row);
        }
        Event::Failed(failure) => {
            row.status = failure.status().as_str().into();
            set_job(&mut row, failure.job, failure.attempt);
            row.failure_code = Some(failure.code.as_str().into());
            row.failure_message = Some(failure.message.clone());
            row.will_retry = Some(failure.will_retry);
        }
        Event::ReprocessRequested { job, spec, .. } => {
            row.status = VideoStatus::Queued.as_str().into();
            set_job(&mut row, *job, 0);
            row.spec = fiapx_schemas::spec_to_json(spec);
            clear_failure(&mut row);
        }
        Event::Deleted { .. } => row.status = VideoStatus::Deleted.as_str().into(),
    }
    row.updated_at = at;
    row.last_sequence = sequence;
    Some(row)
}

fn set_job(row: &mut video::Model, job: u32, attempt: u32) {
    row.job = i32::try_from(job).unwrap_or(i32::MAX);
    row.attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
}

fn clear_failure(row: &mut video::Model) {
    row.failure_code = None;
    row.failure_message = None;
    row.will_retry = None;
}

fn sequence_i64(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

/// The status stored in a row (`VideoStatus::as_str`), back as the domain value.
pub fn parse_status(status: &str) -> VideoStatus {
    status.parse().unwrap_or_default()
}

/// Reads every row of `generation`'s `videos` table, by id (for comparisons).
pub async fn all(conn: &impl ConnectionTrait, generation: Generation) -> Result<Vec<video::Model>, DbErr> {
    video::Model::find_by_statement(statement(
        format!("SELECT * FROM {} ORDER BY id", generation.videos()),
        [],
    ))
    .all(conn)
    .await
}

/// Removes every read-model row of `owner`'s videos (an account deletion, after their `deleted` events): their
/// rows, timelines and in-flight count, in the active generation. The log is append-only, so a rebuild from it
/// makes their rows again, as `deleted` (never listed nor shown).
pub async fn forget_owner(db: &sea_orm::DatabaseConnection, owner: uuid::Uuid) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
    let tx = db.begin().await?;
    for sql in [
        "DELETE FROM video_timeline WHERE video_id IN (SELECT id FROM videos WHERE owner_id = $1)",
        "DELETE FROM videos WHERE owner_id = $1",
        "DELETE FROM owner_video_counts WHERE owner_id = $1",
    ] {
        tx.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            [owner.into()],
        ))
        .await?;
    }
    tx.commit().await
}
