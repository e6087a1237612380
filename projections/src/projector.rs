//! The projector: a durable pull consumer on the whole log that keeps the read models current.
//!
//! Error policy, per message batch (one PostgreSQL transaction per batch of ready messages):
//! - applied and committed (checkpoint included) -> `Ack` each message;
//! - PostgreSQL unavailable or any database error -> `Nak` with a growing delay (1 s .. 30 s) for the whole batch,
//!   and consumption pauses for that delay: events stay in the stream, nothing is lost, commands keep being
//!   accepted;
//! - undecodable message (it never gets better: the log is immutable) -> recorded in `projection_errors` in the
//!   same transaction, the checkpoint passes it, and it is acked like the others, so it cannot block the
//!   projection; the error is logged once, when recorded; a decodable event that PostgreSQL refuses for its data
//!   (SQLSTATE class 22 or 23: it would be refused on every redelivery) is recorded and passed the same way
//!   (`apply_batch`);
//! - everything at or below the checkpoint is acked without effect (redeliveries are harmless).
//!
//! A Nak lets later messages overtake the naked ones, and a crash leaves messages pending until `ack_wait` while
//! newer ones are delivered. Since the checkpoint must never pass an event that was not applied, the projector
//! fills any hole between the checkpoint and the first message it got by reading the missing sequences directly
//! from the stream (direct get) inside the same transaction. The consumer's filter `videos.>` covers the whole
//! stream, so every sequence in between is one of ours.
//!
//! The loop is [`fiapx_nats::ConsumerRunner::run_batches`]: any NATS error ends the session, the held messages
//! are naked, and the consumer is created or updated again (idempotently) after a pause (1 s doubling to 30 s).
//! A batch naked for the database also pauses pulling for its delay.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use fiapx_nats::{
    Backoff, BatchHandler, ConsumerRunner, ConsumerSpec, NatsSettings, Outcome, Pull, decode_message,
};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

use crate::apply::{Incoming, apply_batch};
use crate::generation::{Lock, VIDEOS, checkpoint_for_update, lock_generation};

/// How the projector consumes the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ProjectorSettings {
    /// Name of the durable consumer (and of nothing else: the projection is `videos`).
    pub consumer: String,
    /// Most messages applied in one transaction.
    pub batch: usize,
    /// Seconds the server waits for an ack before redelivering.
    pub ack_wait_secs: u64,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            consumer: "projector".into(),
            batch: 256,
            ack_wait_secs: 30,
        }
    }
}

/// Keeps the `videos` projection current from the `VIDEOS` stream.
#[derive(Debug, Clone)]
pub struct Projector {
    db: DatabaseConnection,
    js: jetstream::Context,
    nats: NatsSettings,
    settings: ProjectorSettings,
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("JetStream: {0}")]
    Nats(String),
}

fn nats_error(error: impl std::fmt::Display) -> SessionError {
    SessionError::Nats(error.to_string())
}

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Projector {
    /// A projector on `client`'s JetStream, writing to `db` (migrated with `fiapx migrate`).
    pub fn new(
        db: DatabaseConnection,
        client: async_nats::Client,
        nats: &NatsSettings,
        settings: ProjectorSettings,
    ) -> Self {
        let js = jetstream::ContextBuilder::new()
            .timeout(nats.request_timeout)
            .build(client);
        Self {
            db,
            js,
            nats: nats.clone(),
            settings,
        }
    }

    /// Runs until `shutdown` completes. Errors never end it: each is logged and the session starts again.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        info!(consumer.name = %self.settings.consumer, "projector started");
        let stop = CancellationToken::new();
        let runner = ConsumerRunner::new(self.js.clone(), self.consumer());
        let handler = Batches {
            projector: self,
            db: Mutex::new(DbHealth {
                backoff: MIN_BACKOFF,
                down: false,
            }),
            stream: tokio::sync::OnceCell::new(),
        };
        let stopping = async {
            shutdown.await;
            stop.cancel();
            // The runner returns once it has seen the cancellation.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = runner.run_batches(handler, stop.clone()) => {}
            () = stopping => {}
        }
        info!("projector stopped");
    }

    fn consumer(&self) -> ConsumerSpec {
        let batch = self.settings.batch.max(1);
        ConsumerSpec {
            pull: Pull::Stream {
                batch: Some(batch),
                heartbeat: Some(Duration::from_secs(5)),
                expires: Some(Duration::from_secs(30)),
            },
            restart: Backoff {
                first: MIN_BACKOFF,
                max: MAX_BACKOFF,
            },
            restarts_metric: "fiapx_projector_consumer_restarts_total",
            ..ConsumerSpec::new(
                self.nats.stream.clone(),
                consumer::pull::Config {
                    durable_name: Some(self.settings.consumer.clone()),
                    description: Some("FIAP X projector: read models in PostgreSQL".into()),
                    filter_subject: format!("{}.>", self.nats.subject_prefix),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(self.settings.ack_wait_secs),
                    deliver_policy: consumer::DeliverPolicy::All,
                    max_ack_pending: 4 * i64::try_from(self.settings.batch).unwrap_or(256),
                    ..Default::default()
                },
            )
        }
    }

    /// Applies the held messages, and whatever the stream holds between the checkpoint and them, in one
    /// transaction on the active generation.
    async fn apply(
        &self,
        stream: &jetstream::stream::Stream,
        held: &[jetstream::Message],
    ) -> Result<Applied, ApplyError> {
        let mut items = Vec::with_capacity(held.len());
        let mut pending = 0;
        for message in held {
            let info = message.info().map_err(|e| ApplyError::Nats(nats_error(e)))?;
            pending = info.pending;
            items.push(incoming(
                message.subject.as_str(),
                message.headers.as_ref(),
                &message.payload,
                info.stream_sequence,
            ));
        }
        items.sort_by_key(Incoming::sequence);
        items.dedup_by_key(|item| item.sequence());

        let tx = self.db.begin().await?;
        let generation = lock_generation(&tx, VIDEOS, Lock::Share).await?;
        let mut position = checkpoint_for_update(&tx, VIDEOS, generation).await?;
        let mut complete = Vec::with_capacity(items.len());
        for item in items {
            let sequence = item.sequence();
            if sequence <= position {
                continue;
            }
            for missing in position + 1..sequence {
                if let Some(filled) = direct_get(stream, missing).await? {
                    complete.push(filled);
                }
            }
            complete.push(item);
            position = sequence;
        }
        let outcome = apply_batch(&tx, VIDEOS, generation, &complete).await?;
        tx.commit().await?;
        metrics::counter!("fiapx_projection_events_total", "projection" => VIDEOS).increment(outcome.applied);
        if outcome.corrupt > 0 {
            metrics::counter!("fiapx_projection_corrupt_events_total", "projection" => VIDEOS)
                .increment(outcome.corrupt);
        }
        if outcome.refused > 0 {
            metrics::counter!("fiapx_projection_refused_events_total", "projection" => VIDEOS)
                .increment(outcome.refused);
        }
        Ok(Applied { pending })
    }
}

struct Applied {
    pending: u64,
}

enum ApplyError {
    Database(DbErr),
    Nats(SessionError),
}

impl From<DbErr> for ApplyError {
    fn from(error: DbErr) -> Self {
        Self::Database(error)
    }
}

/// Whether the read-model database is failing, and how long the next pause is.
struct DbHealth {
    backoff: Duration,
    down: bool,
}

/// The projector as the runner's batch handler: one transaction per batch of ready messages.
struct Batches {
    projector: Projector,
    db: Mutex<DbHealth>,
    /// The stream handle for direct gets, looked up once.
    stream: tokio::sync::OnceCell<jetstream::stream::Stream>,
}

impl BatchHandler for Batches {
    type Error = SessionError;

    async fn handle_batch(&self, held: &[jetstream::Message]) -> Result<Outcome, SessionError> {
        let projector = &self.projector;
        let stream = self
            .stream
            .get_or_try_init(|| projector.js.get_stream(&projector.nats.stream))
            .await
            .map_err(nats_error)?;
        match projector.apply(stream, held).await {
            Ok(Applied { pending }) => {
                let mut db = self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if db.down {
                    info!("read-model database reachable again; projector resumed");
                    db.down = false;
                }
                db.backoff = MIN_BACKOFF;
                metrics::gauge!("fiapx_projection_lag", "projection" => VIDEOS).set(pending as f64);
                Ok(Outcome::Ack)
            }
            Err(ApplyError::Database(error)) => {
                let mut db = self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if db.down {
                    debug!(error = %error, "read-model database still failing");
                } else {
                    error!(error = %error, retry.in_secs = db.backoff.as_secs(),
                        "cannot apply events to the read models; naking them and pausing");
                    db.down = true;
                }
                metrics::counter!("fiapx_projection_apply_failures_total", "projection" => VIDEOS)
                    .increment(1);
                let delay = db.backoff;
                db.backoff = (db.backoff * 2).min(MAX_BACKOFF);
                // The runner naks the whole batch with this delay and pauses pulling for as long.
                Ok(Outcome::Nak(delay))
            }
            Err(ApplyError::Nats(error)) => Err(error),
        }
    }
}

/// A message of the stream as the projection sees it.
pub(crate) fn incoming(
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
    sequence: u64,
) -> Incoming {
    match decode_message(subject, headers, payload, sequence) {
        Ok(stored) => Incoming::Event(Box::new(stored)),
        Err(error) => Incoming::Corrupt {
            sequence,
            subject: subject.to_owned(),
            error: error.to_string(),
        },
    }
}

/// The message at `sequence`, read straight from the stream; `None` if the stream has none there.
async fn direct_get(
    stream: &jetstream::stream::Stream,
    sequence: u64,
) -> Result<Option<Incoming>, ApplyError> {
    match stream.direct_get(sequence).await {
        Ok(message) => Ok(Some(incoming(
            message.subject.as_str(),
            Some(&message.headers),
            &message.payload,
            message.sequence,
        ))),
        Err(error) if matches!(error.kind(), jetstream::stream::DirectGetErrorKind::NotFound) => Ok(None),
        Err(error) => Err(ApplyError::Nats(nats_error(error))),
    }
}
