//! Generations of a projection's tables, and its checkpoint per generation.
//!
//! The projection `videos` owns three tables per generation (`videos_g<n>`, `video_timeline_g<n>`,
//! `owner_video_counts_g<n>`); views with the plain names show the active generation, recorded in
//! `projection_generations`. Every apply transaction takes a share lock on that row, and a rebuild's switch takes
//! an update lock, so a switch never interleaves with an apply.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The projection holding the video list, the timelines and the per-owner counts (one checkpoint for the three:
/// they are applied in one transaction).
pub const VIDEOS: &str = "videos";

/// Every projection `rebuild` knows.
pub const PROJECTIONS: [&str; 1] = [VIDEOS];

/// A generation number of a projection's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub i32);

impl Generation {
    /// The `videos` table of this generation.
    pub fn videos(self) -> String {
        format!("videos_g{}", self.0)
    }

    /// The `video_timeline` table of this generation.
    pub fn timeline(self) -> String {
        format!("video_timeline_g{}", self.0)
    }

    /// The `owner_video_counts` table of this generation.
    pub fn owner_counts(self) -> String {
        format!("owner_video_counts_g{}", self.0)
    }

    /// `(view, table)` for every read model of the `videos` projection.
    pub(crate) fn views(self) -> [(&'static str, String); 3] {
        [
            ("videos", self.videos()),
            ("video_timeline", self.timeline()),
            ("owner_video_counts", self.owner_counts()),
        ]
    }

    /// The next generation.
    pub(crate) fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

pub(crate) fn statement(
    sql: impl Into<String>,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Row lock taken on the generation row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock {
    /// Nobody may switch until this transaction ends (applies).
    Share,
    /// Nobody may apply until this transaction ends (the switch).
    Update,
}

/// The generation the views show.
pub async fn active_generation(conn: &impl ConnectionTrait, name: &str) -> Result<Generation, DbErr> {
    read_generation(conn, name, None).await
}

/// The active generation, locked until the end of the caller's transaction.
pub(crate) async fn lock_generation(
    conn: &impl ConnectionTrait,
    name: &str,
    lock: Lock,
) -> Result<Generation, DbErr> {
    read_generation(conn, name, Some(lock)).await
}

async fn read_generation(
    conn: &impl ConnectionTrait,
    name: &str,
    lock: Option<Lock>,
) -> Result<Generation, DbErr> {
    let suffix = match lock {
        None => "",
        Some(Lock::Share) => " FOR SHARE",
        Some(Lock::Update) => " FOR UPDATE",
    };
    let row = conn
        .query_one_raw(statement(
            format!("SELECT generation FROM projection_generations WHERE name = $1{suffix}"),
            [name.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("projection {name} (run `fiapx migrate`)")))?;
    Ok(Generation(row.try_get("", "generation")?))
}

/// Last stream sequence applied to `generation` of projection `name` (0 when nothing was).
pub async fn checkpoint(
    conn: &impl ConnectionTrait,
    name: &str,
    generation: Generation,
) -> Result<u64, DbErr> {
    let row = conn
        .query_one_raw(statement(
            "SELECT last_sequence FROM projection_checkpoints WHERE name = $1 AND generation = $2",
            [name.into(), generation.0.into()],
        ))
        .await?;
    let sequence: i64 = match row {
        Some(row) => row.try_get("", "last_sequence")?,
        None => 0,
    };
    Ok(u64::try_from(sequence).unwrap_or_default())
}

/// The checkpoint, row-locked until the end of the caller's transaction: batches of one projection generation
/// are applied one at a time, even by several projector replicas.
pub(crate) async fn checkpoint_for_update(
    conn: &impl ConnectionTrait,
    name: &str,
    generation: Generation,
) -> Result<u64, DbErr> {
    conn.execute_raw(statement(
        "INSERT INTO projection_checkpoints (name, generation, last_sequence) VALUES ($1, $2, 0) \
         ON CONFLICT (name, generation) DO NOTHING",
        [name.into(), generation.0.into()],
    ))
    .await?;
    let row = conn
        .query_one_raw(statement(
            "SELECT last_sequence FROM projection_checkpoints WHERE name = $1 AND generation = $2 FOR UPDATE",
            [name.into(), generation.0.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("checkpoint of {name} g{}", generation.0)))?;
    let sequence: i64 = row.try_get("", "last_sequence")?;
    Ok(u64::try_from(sequence).unwrap_or_default())
}

/// Moves the checkpoint (inside the transaction that applied the events up to `sequence`).
pub(crate) async fn set_checkpoint(
    conn: &impl ConnectionTrait,
    name: &str,
    generation: Generation,
    sequence: u64,
) -> Result<(), DbErr> {
    conn.execute_raw(statement(
        "INSERT INTO projection_checkpoints (name, generation, last_sequence, updated_at) \
         VALUES ($1, $2, $3, now()) \
         ON CONFLICT (name, generation) DO UPDATE \
         SET last_sequence = EXCLUDED.last_sequence, updated_at = EXCLUDED.updated_at",
        [name.into(), generation.0.into(), sequence_value(sequence)],
    ))
    .await?;
    Ok(())
}

/// Stream sequences are `u64`; PostgreSQL has `bigint`. A stream never reaches 2^63 messages.
pub(crate) fn sequence_value(sequence: u64) -> sea_orm::Value {
    i64::try_from(sequence).unwrap_or(i64::MAX).into()
}
