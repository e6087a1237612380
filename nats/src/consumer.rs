//! The one supervised JetStream consumer runner: every durable consumer of FIAP X runs on it.
//!
//! The runner owns the loop that each consumer used to write by hand: create or update the durable pull consumer
//! from its config (idempotently, on every start), pull messages, run the handler while sending `Progress` acks
//! (every third of `ack_wait`) so that slow work is not redelivered, settle the message with the handler's
//! [`Outcome`], and when anything on the NATS side fails, count the restart, pause (with backoff) and create the
//! consumer again. A [`CancellationToken`] stops it: nothing more is pulled, messages pulled but not started are
//! handed back (naked without delay, so another process gets them at once), and handlers still running after
//! the grace period are abandoned un-acked, so JetStream redelivers them.
//!
//! Handlers state the error policy; the runner only carries it out. Two shapes:
//! - [`Handler`], one message at a time, up to `concurrency` at once ([`ConsumerRunner::run`]). With
//!   [`Pull::OnePerSlot`] a slot is taken before anything is pulled, so a busy process leaves messages to others;
//! - [`BatchHandler`], the ready messages of a pull stream as one batch, in order ([`ConsumerRunner::run_batches`]).
//!
//! It knows nothing of events or of what handlers do with messages.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What to tell JetStream about a message once its handler is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done with it for good (a double ack, confirmed by the server, when the consumer asks for it).
    Ack,
    /// Deliver it again after the delay (zero: at once).
    Nak(Duration),
    /// Never deliver it again: it can never be handled (poison input).
    Term,
    /// Leave it un-acked: the handler took it over, or leaves it to redelivery after `ack_wait`.
    InProgress,
}

/// Handles one message at a time.
pub trait Handler: Send + Sync + 'static {
    /// Does the work a message calls for and says how to settle it.
    fn handle(&self, message: &jetstream::Message) -> impl Future<Output = Outcome> + Send;
}

/// Handles the ready messages of a pull stream as one batch.
pub trait BatchHandler: Send + Sync + 'static {
    /// Why a batch broke the consumer session (its messages are naked and the consumer is created again).
    type Error: std::fmt::Display + Send;

    /// Does the work the messages call for; the outcome settles every one of them. A batch naked as a whole
    /// means a dependency every message needs is down, so the runner also pauses pulling for the delay.
    fn handle_batch(
        &self,
        messages: &[jetstream::Message],
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;
}

/// How messages are pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// Take a handler slot, then fetch one message, waiting up to `expires` for it.
    OnePerSlot {
        /// How long one fetch waits for a message.
        expires: Duration,
    },
    /// A continuous pull stream; `None` keeps the client's default.
    Stream {
        /// Messages per pull request (also the largest batch of [`ConsumerRunner::run_batches`]).
        batch: Option<usize>,
        /// Idle heartbeat of the pull requests.
        heartbeat: Option<Duration>,
        /// Expiry of each pull request.
        expires: Option<Duration>,
    },
}

/// Pause before creating a consumer again: `first`, doubling up to `max` while failures repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

/// Everything the runner needs to know about one durable consumer.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The stream the consumer reads.
    pub stream: String,
    /// When set, the stream is created or updated with this config before the consumer (a stream of its own).
    pub ensure_stream: Option<jetstream::stream::Config>,
    /// The durable consumer (its `durable_name` names it in logs and metrics).
    pub config: pull::Config,
    /// How messages are pulled.
    pub pull: Pull,
    /// Handlers run at once ([`ConsumerRunner::run`]).
    pub concurrency: usize,
    /// Whether [`Outcome::Ack`] waits for the server to confirm it.
    pub double_ack: bool,
    /// Pause before a restart.
    pub restart: Backoff,
    /// How long a stop waits for running handlers before abandoning them un-acked.
    pub shutdown_grace: Duration,
    /// Counter of restarts (labelled `consumer`).
    pub restarts_metric: &'static str,
}

impl ConsumerSpec {
    /// A consumer of `stream` handling one message at a time from a default pull stream, restarted after 1 s.
    pub fn new(stream: impl Into<String>, config: pull::Config) -> Self {
        Self {
            stream: stream.into(),
            ensure_stream: None,
            config,
            pull: Pull::Stream {
                batch: None,
                heartbeat: None,
                expires: None,
            },
            concurrency: 1,
            double_ack: false,
            restart: Backoff {
                first: Duration::from_secs(1),
                max: Duration::from_secs(1),
            },
            shutdown_grace: Duration::from_secs(30),
            restarts_metric: "fiapx_consumer_restarts_total",
        }
    }

    fn name(&self) -> &str {
        self.config.durable_name.as_deref().unwrap_or("ephemeral")
    }

    /// Interval of `Progress` acks: a third of `ack_wait` (the server's 30 s when unset), at least a second.
    pub fn heartbeat_interval(&self) -> Duration {
        let ack_wait = if self.config.ack_wait.is_zero() {
            Duration::from_secs(30)
        } else {
            self.config.ack_wait
        };
        ack_wait.max(Duration::from_secs(3)) / 3
    }
}

/// Runs one durable consumer until stopped (see the module documentation).
#[derive(Debug, Clone)]
pub struct ConsumerRunner {
    js: jetstream::Context,
    spec: ConsumerSpec,
}

/// Why a consumer session ended (it is created again).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SessionError(String);

fn session_error(error: impl std::fmt::Display) -> SessionError {
    SessionError(error.to_string())
}

impl ConsumerRunner {
    /// A runner of `spec` on `js`.
    pub fn new(js: jetstream::Context, spec: ConsumerSpec) -> Self {
        Self { js, spec }
    }

    /// The consumer's spec.
    pub fn spec(&self) -> &ConsumerSpec {
        &self.spec
    }

    /// Runs `handler` on every message until `shutdown`, up to `concurrency` at once, then waits for running
    /// handlers up to the grace period.
    pub async fn run<H: Handler>(&self, handler: H, shutdown: CancellationToken) {
        let handler = Arc::new(handler);
        let slots = Arc::new(Semaphore::new(self.spec.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut restart = self.spec.restart.first;
        while !shutdown.is_cancelled() {
            let session = match self.consumer().await {
                Ok(consumer) => {
                    // Reachable again: the next failure starts the backoff over instead of at its last pause.
                    restart = self.spec.restart.first;
                    self.session(&consumer, &handler, &slots, &mut tasks, &shutdown)
                        .await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = session {
                self.pause(&error, &mut restart, &shutdown).await;
            }
        }
        let grace = self.spec.shutdown_grace;
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            warn!(
                consumer.name = self.spec.name(),
                handlers.running = tasks.len(),
                "shutdown grace over; running handlers are left to redelivery"
            );
            tasks.abort_all();
        }
    }

    /// Runs `handler` on each batch of ready messages, in order, until `shutdown` (a running batch finishes).
    pub async fn run_batches<H: BatchHandler>(&self, handler: H, shutdown: CancellationToken) {
        let mut restart = self.spec.restart.first;
        while !shutdown.is_cancelled() {
            let session = match self.consumer().await {
                Ok(consumer) => {
                    restart = self.spec.restart.first;
                    self.batch_session(&consumer, &handler, &shutdown).await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = session {
                self.pause(&error, &mut restart, &shutdown).await;
            }
        }
    }

    /// Creates or updates the durable consumer (and its stream, when the spec owns one).
    async fn consumer(&self) -> Result<jetstream::consumer::PullConsumer, SessionError> {
        if let Some(config) = &self.spec.ensure_stream {
            self.js
                .create_or_update_stream(config.clone())
                .await
                .map_err(session_error)?;
        }
        let stream = self
            .js
            .get_stream(&self.spec.stream)
            .await
            .map_err(session_error)?;
        let consumer = stream
            .create_consumer(self.spec.config.clone())
            .await
            .map_err(session_error)?;
        info!(consumer.name = self.spec.name(), stream.name = %self.spec.stream, "consumer ready");
        Ok(consumer)
    }

    async fn pause(&self, error: &SessionError, restart: &mut Duration, shutdown: &CancellationToken) {
        metrics::counter!(self.spec.restarts_metric, "consumer" => self.spec.name().to_owned()).increment(1);
        warn!(
            consumer.name = self.spec.name(),
            error = %error,
            retry.in_secs = restart.as_secs_f64(),
            "consumer failed; recreating it"
        );
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(*restart) => {}
        }
        *restart = (*restart * 2).min(self.spec.restart.max.max(self.spec.restart.first));
    }

    async fn session<H: Handler>(
        &self,
        consumer: &jetstream::consumer::PullConsumer,
        handler: &Arc<H>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let mut stream = match &self.spec.pull {
            Pull::OnePerSlot { .. } => None,
            Pull::Stream { .. } => Some(self.open_stream(consumer).await?),
        };
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => return self.stop(stream.as_mut()).await,
                permit = Arc::clone(slots).acquire_owned() => permit.map_err(session_error)?,
            };
            let next = tokio::select! {
                () = shutdown.cancelled() => return self.stop(stream.as_mut()).await,
                next = self.next(consumer, stream.as_mut()) => next?,
            };
            while tasks.try_join_next().is_some() {}
            let Some(message) = next else { continue };
            let handler = Arc::clone(handler);
            let settle = Settle::of(&self.spec);
            tasks.spawn(async move {
                let outcome = heartbeats(
                    std::slice::from_ref(&message),
                    settle.every,
                    handler.handle(&message),
                )
                .await;
                settle.apply(&message, outcome).await;
                drop(permit);
            });
        }
    }

    /// The next message: `None` when a fetch found nothing in time.
    async fn next(
        &self,
        consumer: &jetstream::consumer::PullConsumer,
        stream: Option<&mut pull::Stream>,
    ) -> Result<Option<jetstream::Message>, SessionError> {
        let next = match (stream, &self.spec.pull) {
            (Some(stream), _) => match stream.next().await {
                None => return Err(SessionError("message stream ended".into())),
                Some(next) => next.map_err(session_error),
            },
            (None, Pull::OnePerSlot { expires }) => {
                let batch = consumer
                    .fetch()
                    .max_messages(1)
                    .expires(*expires)
                    .messages()
                    .await
                    .map_err(session_error)?;
                let mut batch = std::pin::pin!(batch);
                match batch.next().await {
                    None => return Ok(None),
                    Some(next) => next.map_err(session_error),
                }
            }
            (None, Pull::Stream { .. }) => unreachable!("a pull stream is opened with the session"),
        };
        next.map(Some)
    }

    async fn open_stream(
        &self,
        consumer: &jetstream::consumer::PullConsumer,
    ) -> Result<pull::Stream, SessionError> {
        let mut builder = consumer.stream();
        if let Pull::Stream {
            batch,
            heartbeat,
            expires,
        } = &self.spec.pull
        {
            if let Some(batch) = batch {
                builder = builder.max_messages_per_batch(*batch);
            }
            if let Some(heartbeat) = heartbeat {
                builder = builder.heartbeat(*heartbeat);
            }
            if let Some(expires) = expires {
                builder = builder.expires(*expires);
            }
        }
        builder.messages().await.map_err(session_error)
    }

    /// Ends a session on shutdown: what was pulled but not started goes back to the server.
    async fn stop(&self, stream: Option<&mut pull::Stream>) -> Result<(), SessionError> {
        if let Some(stream) = stream {
            hand_back(stream, self.batch_size()).await;
        }
        Ok(())
    }

    fn batch_size(&self) -> usize {
        match &self.spec.pull {
            Pull::Stream {
                batch: Some(batch), ..
            } => (*batch).max(1),
            // The client's default pull batch.
            _ => 200,
        }
    }

    async fn batch_session<H: BatchHandler>(
        &self,
        consumer: &jetstream::consumer::PullConsumer,
        handler: &H,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let mut messages = self.open_stream(consumer).await?.ready_chunks(self.batch_size());
        let settle = Settle::of(&self.spec);
        loop {
            let chunk = tokio::select! {
                () = shutdown.cancelled() => return self.stop(Some(messages.get_mut())).await,
                chunk = messages.next() => chunk,
            };
            let Some(chunk) = chunk else {
                return Err(SessionError("message stream ended".into()));
            };
            let mut held = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for message in chunk {
                match message {
                    Ok(message) => held.push(message),
                    Err(error) => failure = Some(session_error(error)),
                }
            }
            if !held.is_empty() {
                match heartbeats(&held, settle.every, handler.handle_batch(&held)).await {
                    Ok(outcome) => {
                        for message in &held {
                            settle.apply(message, outcome).await;
                        }
                        if let Outcome::Nak(delay) = outcome {
                            tokio::select! {
                                () = shutdown.cancelled() => return Ok(()),
                                () = tokio::time::sleep(delay) => {}
                            }
                        }
                    }
                    Err(error) => {
                        for message in &held {
                            settle.apply(message, Outcome::Nak(Duration::ZERO)).await;
                        }
                        return Err(session_error(error));
                    }
                }
            }
            if let Some(error) = failure {
                return Err(error);
            }
        }
    }
}

/// How a finished handler's outcome is sent, and how often `Progress` goes out before that.
#[derive(Clone)]
struct Settle {
    consumer: String,
    double_ack: bool,
    every: Duration,
}

impl Settle {
    fn of(spec: &ConsumerSpec) -> Self {
        Self {
            consumer: spec.name().to_owned(),
            double_ack: spec.double_ack,
            every: spec.heartbeat_interval(),
        }
    }

    async fn apply(&self, message: &jetstream::Message, outcome: Outcome) {
        let sent = match outcome {
            Outcome::Ack if self.double_ack => message.double_ack().await,
            Outcome::Ack => message.ack().await,
            Outcome::Nak(delay) => {
                message
                    .ack_with(AckKind::Nak((!delay.is_zero()).then_some(delay)))
                    .await
            }
            Outcome::Term => message.ack_with(AckKind::Term).await,
            Outcome::InProgress => Ok(()),
        };
        if let Err(error) = sent {
            // Whatever the handler stored is stored; a lost ack only means a redelivery the handler skips.
            warn!(consumer.name = %self.consumer, %error, "settling a message failed; it comes back after ack_wait");
        }
    }
}

/// Runs `work`, sending `Progress` for `messages` every `every` until it is done.
async fn heartbeats<F: Future>(messages: &[jetstream::Message], every: Duration, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticks.tick() => {
                for message in messages {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        warn!(%error, "progress ack failed");
                    }
                }
            }
        }
    }
}

/// Naks (without delay) what the stream already pulled, so that another process gets it at once rather than
/// after `ack_wait`. Bounded: a second at most.
async fn hand_back(messages: &mut pull::Stream, batch: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    for _ in 0..batch.saturating_mul(2) {
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(50)),
            messages.next(),
        )
        .await;
        match next {
            Ok(Some(Ok(message))) => {
                if let Err(error) = message.ack_with(AckKind::Nak(None)).await {
                    debug!(%error, "handing a message back failed; it returns after ack_wait");
                }
            }
            _ => break,
        }
    }
}
