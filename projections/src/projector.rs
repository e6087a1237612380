//! The projector: a durable pull consumer on the whole log that keeps the read models current.
//!
//! Error policy, per message batch (one PostgreSQL transaction per batch of ready messages):
//! - applied and committed (checkpoint included) -> `Ack` each message;
//! - PostgreSQL unavailable or any database error -> `Nak` with a growing delay (1 s .. 30 s) for the whole batch,
//!   and consumption pauses for that delay: events stay in the stream, nothing is lost, commands keep being
//!   accepted;
//! - undecodable message (it never gets better: the log is immutable) -> recorded in `projection_errors` in the
//!   same transaction, the checkpoint passes it, and it is acked like the others, so it cannot block the
//!   projection; the error is logged once, when recorded;
//! - everything at or below the checkpoint is acked without effect (redeliveries are harmless).
//!
//! A Nak lets later messages overtake the naked ones, and a crash leaves messages pending until `ack_wait` while
//! newer ones are delivered. Since the checkpoint must never pass an event that was not applied, the projector
//! fills any hole between the checkpoint and the first message it got by reading the missing sequences directly
//! from the stream (direct get) inside the same transaction. The consumer's filter `videos.>` covers the whole
//! stream, so every sequence in between is one of ours.
//!
//! The loop is supervised: any NATS error ends the session, the held messages are naked, and the consumer is
//! looked up or created again (idempotently) after a pause.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use fiapx_nats::{NatsSettings, decode_message};
use futures::{FutureExt, StreamExt};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tracing::{debug, error, info, warn};

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
        let shutdown = shutdown.shared();
        let mut backoff = MIN_BACKOFF;
        info!(consumer.name = %self.settings.consumer, "projector started");
        loop {
            let session = self.session(shutdown.clone());
            match session.await {
                Ok(()) => break,
                Err(error) => {
                    warn!(error = %error, retry.in_secs = backoff.as_secs(), "projector session ended; restarting");
                }
            }
            tokio::select! {
                () = shutdown.clone() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        info!("projector stopped");
    }

    async fn consumer(&self) -> Result<consumer::PullConsumer, SessionError> {
        let stream = self.js.get_stream(&self.nats.stream).await.map_err(nats_error)?;
        stream
            .get_or_create_consumer(
                &self.settings.consumer,
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
            .await
            .map_err(nats_error)
    }

    /// One consumer session: returns `Ok` on shutdown, `Err` when NATS fails.
    async fn session(&self, shutdown: impl Future<Output = ()> + Clone) -> Result<(), SessionError> {
        let consumer = self.consumer().await?;
        let stream = self.js.get_stream(&self.nats.stream).await.map_err(nats_error)?;
        let batch = self.settings.batch.max(1);
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(nats_error)?
            .ready_chunks(batch);
        let mut db_backoff = MIN_BACKOFF;
        let mut db_down = false;
        loop {
            let chunk = tokio::select! {
                () = shutdown.clone() => return Ok(()),
                chunk = messages.next() => chunk,
            };
            let Some(chunk) = chunk else {
                return Err(SessionError::Nats("message stream ended".into()));
            };
            let mut held = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for message in chunk {
                match message {
                    Ok(message) => held.push(message),
                    Err(error) => failure = Some(nats_error(error)),
                }
            }
            if !held.is_empty() {
                match self.apply(&stream, &held).await {
                    Ok(Applied { pending }) => {
                        if db_down {
                            info!("read-model database reachable again; projector resumed");
                            db_down = false;
                        }
                        db_backoff = MIN_BACKOFF;
                        for message in &held {
                            if let Err(error) = message.ack().await {
                                // Redelivered later and skipped by the checkpoint.
                                debug!(error = %error, "ack lost");
                            }
                        }
                        metrics::gauge!("fiapx_projection_lag", "projection" => VIDEOS).set(pending as f64);
                    }
                    Err(ApplyError::Database(error)) => {
                        if db_down {
                            debug!(error = %error, "read-model database still failing");
                        } else {
                            error!(error = %error, retry.in_secs = db_backoff.as_secs(),
                                "cannot apply events to the read models; naking them and pausing");
                            db_down = true;
                        }
                        metrics::counter!("fiapx_projection_apply_failures_total", "projection" => VIDEOS)
                            .increment(1);
                        nak_all(&held, db_backoff).await;
                        tokio::select! {
                            () = shutdown.clone() => return Ok(()),
                            () = tokio::time::sleep(db_backoff) => {}
                        }
                        db_backoff = (db_backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(ApplyError::Nats(error)) => {
                        nak_all(&held, Duration::ZERO).await;
                        return Err(error);
                    }
                }
            }
            if let Some(error) = failure {
                return Err(error);
            }
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

async fn nak_all(held: &[jetstream::Message], delay: Duration) {
    let delay = (!delay.is_zero()).then_some(delay);
    for message in held {
        if let Err(error) = message.ack_with(AckKind::Nak(delay)).await {
            debug!(error = %error, "nak lost; the message comes back after ack_wait");
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
