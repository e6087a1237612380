//! Rebuild: replay the whole log into a fresh generation of a projection's tables, then switch the views to it.
//!
//! While the replay runs, the views (and so the query side) keep showing the active generation, and a running
//! projector keeps updating it. The switch is one transaction: it update-locks the generation row (which waits
//! for the projector's batch in flight and holds the next one), applies whatever the projector had applied
//! beyond the replay's position, repoints the views, records the new generation and commits. The projector's
//! next batch then writes to the new generation, whose checkpoint is at least the old one's. The old tables are
//! dropped afterwards. Only an ephemeral ordered consumer reads the log here: reactors (processor, notifier)
//! never see a replay.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use fiapx_nats::NatsSettings;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tracing::info;

use crate::apply::{Incoming, apply_batch};
use crate::generation::{
    Generation, Lock, PROJECTIONS, active_generation, checkpoint, lock_generation, statement,
};
use crate::projector::incoming;

/// Events applied per transaction during a replay.
const REPLAY_BATCH: usize = 512;
/// The longest wait for the next message of a replay before giving up.
const REPLAY_STALL: Duration = Duration::from_secs(30);

/// Why a rebuild did not switch (the active generation is untouched in every case; run it again).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// No projection has this name.
    #[error("unknown projection {0:?} (known: {known})", known = PROJECTIONS.join(", "))]
    UnknownProjection(String),
    /// The read-model database failed.
    #[error("read-model database: {0}")]
    Database(#[from] DbErr),
    /// The event stream could not be read.
    #[error("event stream: {0}")]
    Nats(String),
    /// Another rebuild switched the projection first.
    #[error("projection {name} moved from generation {expected} to {found} during the rebuild")]
    Concurrent {
        /// The projection.
        name: String,
        /// The generation this rebuild started from.
        expected: i32,
        /// The generation found at the switch.
        found: i32,
    },
}

fn nats_error(error: impl std::fmt::Display) -> RebuildError {
    RebuildError::Nats(error.to_string())
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The projection.
    pub name: String,
    /// The generation that served before.
    pub from: Generation,
    /// The generation serving now.
    pub to: Generation,
    /// Events applied to the new generation.
    pub events: u64,
    /// Its checkpoint at the switch.
    pub checkpoint: u64,
}

/// Replays the `VIDEOS` stream from its first sequence into a fresh generation of projection `name` and switches
/// the views to it; the old generation serves until the switch and is dropped after.
pub async fn rebuild(
    db: &DatabaseConnection,
    client: &async_nats::Client,
    nats: &NatsSettings,
    name: &str,
) -> Result<RebuildReport, RebuildError> {
    let Some(name) = PROJECTIONS.iter().copied().find(|known| *known == name) else {
        return Err(RebuildError::UnknownProjection(name.to_owned()));
    };
    let from = active_generation(db, name).await?;
    let to = from.next();
    prepare(db, name, from, to).await?;
    info!(
        projection.name = name,
        generation.from = from.0,
        generation.to = to.0,
        "rebuild started"
    );

    let js = jetstream::ContextBuilder::new()
        .timeout(nats.request_timeout)
        .build(client.clone());
    let mut stream = js.get_stream(&nats.stream).await.map_err(nats_error)?;
    let target = stream.info().await.map_err(nats_error)?.state.last_sequence;
    let mut replay = Replay {
        stream,
        filter: format!("{}.>", nats.subject_prefix),
        messages: None,
        position: 0,
        events: 0,
    };
    while replay.position < target {
        let tx = db.begin().await?;
        replay.apply_next(&tx, name, to).await?;
        tx.commit().await?;
    }

    let tx = db.begin().await?;
    let active = lock_generation(&tx, name, Lock::Update).await?;
    if active != from {
        return Err(RebuildError::Concurrent {
            name: name.to_owned(),
            expected: from.0,
            found: active.0,
        });
    }
    let live = checkpoint(&tx, name, from).await?;
    while replay.position < live {
        replay.apply_next(&tx, name, to).await?;
    }
    for (view, table) in to.views() {
        tx.execute_unprepared(&format!("CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table}"))
            .await?;
    }
    tx.execute_raw(statement(
        "UPDATE projection_generations SET generation = $2, switched_at = now() WHERE name = $1",
        [name.into(), to.0.into()],
    ))
    .await?;
    tx.commit().await?;
    info!(
        projection.name = name,
        generation = to.0,
        events = replay.events,
        "rebuild switched over"
    );

    drop_generation(db, name, from).await?;
    Ok(RebuildReport {
        name: name.to_owned(),
        from,
        to,
        events: replay.events,
        checkpoint: replay.position,
    })
}

/// Fresh, empty tables for `to`, shaped like `from`'s (columns, defaults, keys and indexes), so that the shape
/// is always whatever the migrations made of the active generation. Leftovers of an interrupted rebuild go first.
async fn prepare(db: &DatabaseConnection, name: &str, from: Generation, to: Generation) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    for ((_, old), (_, new)) in from.views().into_iter().zip(to.views()) {
        tx.execute_unprepared(&format!("DROP TABLE IF EXISTS {new}"))
            .await?;
        tx.execute_unprepared(&format!("CREATE TABLE {new} (LIKE {old} INCLUDING ALL)"))
            .await?;
    }
    for table in ["projection_checkpoints", "projection_errors"] {
        tx.execute_raw(statement(
            format!("DELETE FROM {table} WHERE name = $1 AND generation = $2"),
            [name.into(), to.0.into()],
        ))
        .await?;
    }
    tx.execute_raw(statement(
        "INSERT INTO projection_checkpoints (name, generation, last_sequence) VALUES ($1, $2, 0)",
        [name.into(), to.0.into()],
    ))
    .await?;
    tx.commit().await
}

async fn drop_generation(db: &DatabaseConnection, name: &str, generation: Generation) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    for (_, table) in generation.views() {
        tx.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
            .await?;
    }
    tx.execute_raw(statement(
        "DELETE FROM projection_checkpoints WHERE name = $1 AND generation = $2",
        [name.into(), generation.0.into()],
    ))
    .await?;
    tx.commit().await
}

/// An in-order read of the whole stream with an ephemeral ordered consumer, created on first use.
struct Replay {
    stream: jetstream::stream::Stream,
    filter: String,
    messages: Option<futures::stream::ReadyChunks<consumer::pull::Ordered>>,
    position: u64,
    events: u64,
}

impl Replay {
    /// Applies the next ready chunk of messages to `generation` in `tx`.
    async fn apply_next(
        &mut self,
        tx: &DatabaseTransaction,
        name: &str,
        generation: Generation,
    ) -> Result<(), RebuildError> {
        if self.messages.is_none() {
            let consumer = self
                .stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: self.filter.clone(),
                    deliver_policy: consumer::DeliverPolicy::All,
                    ..Default::default()
                })
                .await
                .map_err(nats_error)?;
            self.messages = Some(
                consumer
                    .messages()
                    .await
                    .map_err(nats_error)?
                    .ready_chunks(REPLAY_BATCH),
            );
        }
        let Some(messages) = self.messages.as_mut() else {
            return Err(RebuildError::Nats("replay consumer missing".into()));
        };
        let chunk = tokio::time::timeout(REPLAY_STALL, messages.next())
            .await
            .map_err(|_| RebuildError::Nats("replay stalled".into()))?
            .ok_or_else(|| RebuildError::Nats("replay stream ended".into()))?;
        let mut items: Vec<Incoming> = Vec::with_capacity(chunk.len());
        for message in chunk {
            let message = message.map_err(nats_error)?;
            let info = message.info().map_err(nats_error)?;
            items.push(incoming(
                message.subject.as_str(),
                message.headers.as_ref(),
                &message.payload,
                info.stream_sequence,
            ));
        }
        let outcome = apply_batch(tx, name, generation, &items).await?;
        self.events += outcome.applied;
        self.position = outcome.checkpoint;
        Ok(())
    }
}
