//! The per-video timeline read model: every event of a video, in log order, with what the owner may see of it.

use fiapx_domain::Event;
use fiapx_schemas::StoredEvent;
use sea_orm::sea_query::{Alias, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult, Iterable, ModelTrait};
use serde_json::json;

use crate::entity::timeline_entry::{self, Column};
use crate::generation::{Generation, statement};
use fiapx_schemas::spec_to_json;

/// Records `stored` in the timeline of its video. Keyed by `(video_id, sequence)`: applying it again is a no-op.
pub async fn apply(
    tx: &DatabaseTransaction,
    generation: Generation,
    stored: &StoredEvent,
) -> Result<(), DbErr> {
    let row = entry(stored);
    let columns: Vec<Column> = Column::iter().collect();
    let values: Vec<sea_orm::Value> = columns.iter().map(|column| row.get(*column)).collect();
    let insert = Query::insert()
        .into_table(Alias::new(generation.timeline()))
        .columns(columns)
        .values_panic(values.into_iter().map(Into::into))
        .on_conflict(
            OnConflict::columns([Column::VideoId, Column::Sequence])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    tx.execute(&insert).await?;
    Ok(())
}

/// The timeline row of one stored event.
pub fn entry(stored: &StoredEvent) -> timeline_entry::Model {
    timeline_entry::Model {
        video_id: *stored.envelope.video_id.as_uuid(),
        sequence: i64::try_from(stored.sequence).unwrap_or(i64::MAX),
        event_id: stored.envelope.event_id,
        event_type: stored.event.event_type().into(),
        occurred_at: stored.event.occurred_at(),
        summary: summary(&stored.event),
    }
}

/// What the owner may see of an event: no object keys, no owner id, nothing internal.
pub fn summary(event: &Event) -> serde_json::Value {
    match event {
        Event::Uploaded { source, spec, .. } => json!({
            "file_name": source.file_name,
            "size_bytes": source.size_bytes,
            "content_type": source.content_type,
            "spec": spec_to_json(spec),
        }),
        Event::ProcessingStarted { job, attempt, .. } => json!({ "job": job, "attempt": attempt }),
        Event::Completed {
            job,
            attempt,
            archive,
            ..
        } => json!({
            "job": job,
            "attempt": attempt,
            "frame_count": archive.frame_count,
            "size_bytes": archive.size_bytes,
            "sha256": archive.sha256,
        }),
        Event::Failed(failure) => json!({
            "job": failure.job,
            "attempt": failure.attempt,
            "code": failure.code.as_str(),
            "message": failure.message,
            "will_retry": failure.will_retry,
        }),
        Event::ReprocessRequested { job, spec, .. } => json!({ "job": job, "spec": spec_to_json(spec) }),
        Event::Deleted { .. } => json!({}),
    }
}

/// Reads every row of `generation`'s timeline table, in key order (for comparisons).
pub async fn all(
    conn: &impl ConnectionTrait,
    generation: Generation,
) -> Result<Vec<timeline_entry::Model>, DbErr> {
    timeline_entry::Model::find_by_statement(statement(
        format!(
            "SELECT * FROM {} ORDER BY video_id, sequence",
            generation.timeline()
        ),
        [],
    ))
    .all(conn)
    .await
}
