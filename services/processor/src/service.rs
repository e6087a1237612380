//! The processor service: a durable JetStream consumer that turns `uploaded` and `reprocess_requested` events
//! into frame archives in object storage.
//!
//! Error policy of the consumer (DESIGN.md section 3):
//! - bad input (corrupt, unsupported, over a limit) -> `failed{will_retry: false}` and `Term`;
//! - transient (object storage, an FFmpeg or internal fault) -> `failed{will_retry: true}` and `Nak` with the
//!   configured backoff; on the last delivery `failed{attempts_exhausted}` and `Term`;
//! - the event store itself unreachable -> `Nak` with delay and no event (the redelivery decides again);
//! - a job already done, deleted, or taken over by a newer delivery -> `Ack` (the domain rejects the stale step);
//! - an unreadable message -> logged and `Term` (it can never be processed).
//!
//! Nothing ends silently: when JetStream gives up on a job message (its last delivery crashed, timed out, or
//! could not reach the event store), the server publishes a max-deliveries advisory. The processor captures those
//! advisories in a small stream of their own (so none is lost while no processor runs) and ends each such job
//! with `failed{attempts_exhausted}` through the command handler ([`fiapx_domain::Command::AbandonJob`]); a job
//! that already reached a final event rejects it, so the advisory is idempotent.
//!
//! While a job runs the message is kept alive with `Progress` acks; progress is published on the core subject
//! `progress.videos.<id>` and kept in the `video_progress` KV bucket (live status, not events).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use fiapx_domain::{ArchiveObject, Command, Event, FailProcessing, FailureCode, VideoError, VideoId};
use fiapx_frames::{ExtractError, Extractor, Limits, Progress};
use fiapx_nats::{CommandHandler, HandleError, Metadata, NatsSettings, StoredEvent, decode_message};
use fiapx_storage::{PutOptions, Storage, archive_key};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// How the processor consumes and retries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProcessorSettings {
    /// Durable consumer name shared by every processor process.
    pub consumer: String,
    /// Jobs run at once by one process.
    pub concurrency: usize,
    /// Seconds without a `Progress` ack before JetStream redelivers a job to another process.
    pub ack_wait_secs: u64,
    /// Deliveries of one job message, the first included.
    pub max_deliver: u32,
    /// Delay before each retry of a transient failure, in seconds (the last value repeats).
    pub backoff_secs: Vec<u64>,
    /// Least time between two progress publications of one job, in milliseconds.
    pub progress_interval_ms: u64,
    /// How long a shutdown waits for running jobs before leaving them to redelivery, in seconds.
    pub shutdown_grace_secs: u64,
    /// Stream that keeps the consumer's max-deliveries advisories until they are handled.
    pub advisory_stream: String,
    /// Limits of one extraction.
    pub limits: Limits,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            consumer: "processor".into(),
            concurrency: 2,
            ack_wait_secs: 30,
            max_deliver: 4,
            backoff_secs: vec![5, 30, 120],
            progress_interval_ms: 500,
            shutdown_grace_secs: 20,
            advisory_stream: "VIDEOS_ADVISORIES".into(),
            limits: Limits::default(),
        }
    }
}

impl ProcessorSettings {
    fn retry_delay(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let secs = self
            .backoff_secs
            .get(index)
            .or(self.backoff_secs.last())
            .copied()
            .unwrap_or(5);
        Duration::from_secs(secs)
    }
}

/// Live progress of one job, as published on `progress.videos.<id>` and in the KV bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// The video.
    pub video_id: String,
    /// Job number.
    pub job: u32,
    /// Delivery attempt.
    pub attempt: u32,
    /// Images written so far.
    pub frames_done: u64,
    /// Images expected.
    pub frames_expected: u64,
    /// `extracting`, `completed` or `failed`.
    pub stage: String,
}

/// Why the processor could not start or keep consuming.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The stream or consumer could not be reached or created.
    #[error("cannot set up the processor consumer: {0}")]
    Consumer(String),
}

/// Runs jobs from the `processor` consumer.
#[derive(Clone)]
pub struct Processor {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    handler: CommandHandler,
    storage: Storage,
    extractor: Extractor,
    nats: NatsSettings,
    settings: ProcessorSettings,
    /// The progress bucket, looked up once (not on every progress publication).
    progress: tokio::sync::OnceCell<jetstream::kv::Store>,
}

enum Outcome {
    /// Done with this message for good.
    Ack,
    /// Try again later.
    Nak(Duration),
    /// Never deliver again.
    Term,
}

impl Processor {
    /// A processor writing events through `handler` and archives to `storage`.
    pub fn new(
        client: async_nats::Client,
        handler: CommandHandler,
        storage: Storage,
        nats: NatsSettings,
        settings: ProcessorSettings,
    ) -> Self {
        let extractor = Extractor::new(settings.limits.clone());
        Self {
            inner: Arc::new(Inner {
                client,
                handler,
                storage,
                extractor,
                nats,
                settings,
                progress: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The durable consumer's configuration (created or updated idempotently at start).
    pub fn consumer_config(&self) -> pull::Config {
        let s = &self.inner.settings;
        let prefix = &self.inner.nats.subject_prefix;
        pull::Config {
            durable_name: Some(s.consumer.clone()),
            description: Some("FIAP X frame extraction jobs".into()),
            filter_subjects: vec![
                format!("{prefix}.*.uploaded"),
                format!("{prefix}.*.reprocess_requested"),
            ],
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(s.ack_wait_secs),
            max_deliver: i64::from(s.max_deliver),
            max_ack_pending: i64::try_from(s.concurrency.max(1) * 2).unwrap_or(i64::MAX),
            ..Default::default()
        }
    }

    /// Consumes until `shutdown` is cancelled. Supervised: a broken consumer is recreated after a pause. Jobs
    /// still running after the grace period are abandoned un-acked, so JetStream redelivers them. The
    /// max-deliveries advisories of the consumer are watched alongside ([`Processor::watch_advisories`]).
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ProcessorError> {
        let ((), jobs) = tokio::join!(self.watch_advisories(shutdown.clone()), self.run_jobs(&shutdown));
        jobs
    }

    async fn run_jobs(&self, shutdown: &CancellationToken) -> Result<(), ProcessorError> {
        let shutdown = shutdown.clone();
        let slots = Arc::new(Semaphore::new(self.inner.settings.concurrency.max(1)));
        let mut jobs = JoinSet::new();
        while !shutdown.is_cancelled() {
            if let Err(error) = self.consume(&shutdown, &slots, &mut jobs).await {
                metrics::counter!("fiapx_processor_consumer_restarts_total").increment(1);
                warn!(%error, "processor consumer failed; recreating it");
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        let grace = Duration::from_secs(self.inner.settings.shutdown_grace_secs);
        if tokio::time::timeout(grace, async { while jobs.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            warn!(
                jobs.running = jobs.len(),
                "shutdown grace over; running jobs are left to redelivery"
            );
            jobs.abort_all();
        }
        info!("processor stopped");
        Ok(())
    }

    /// The subject on which the server announces that the job consumer gave up on a message.
    pub fn advisory_subject(&self) -> String {
        format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}",
            self.inner.nats.stream, self.inner.settings.consumer
        )
    }

    /// The stream capturing [`Processor::advisory_subject`] (created or updated idempotently).
    pub fn advisory_stream_config(&self) -> jetstream::stream::Config {
        jetstream::stream::Config {
            name: self.inner.settings.advisory_stream.clone(),
            description: Some("Max-deliveries advisories of the processor consumer, until handled".into()),
            subjects: vec![self.advisory_subject()],
            storage: jetstream::stream::StorageType::File,
            retention: jetstream::stream::RetentionPolicy::Limits,
            num_replicas: self.inner.nats.replicas,
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        }
    }

    /// Ends every job JetStream stopped delivering with `failed{attempts_exhausted}`, until `shutdown`.
    /// Supervised like the job consumer: any error recreates the consumer after a pause.
    pub async fn watch_advisories(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.consume_advisories(&shutdown).await {
                metrics::counter!("fiapx_processor_consumer_restarts_total").increment(1);
                warn!(%error, "advisory consumer failed; recreating it");
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    async fn consume_advisories(&self, shutdown: &CancellationToken) -> Result<(), ProcessorError> {
        let js = self.inner.handler.store().jetstream();
        js.create_or_update_stream(self.advisory_stream_config())
            .await
            .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
        let stream = js
            .get_stream(&self.inner.settings.advisory_stream)
            .await
            .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .create_consumer(pull::Config {
                durable_name: Some(format!("{}_advisories", self.inner.settings.consumer)),
                description: Some("Ends jobs the processor consumer gave up on".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let message = match next {
                None => return Err(ProcessorError::Consumer("advisory consumer ended".into())),
                Some(Err(error)) => return Err(ProcessorError::Consumer(error.to_string())),
                Some(Ok(message)) => message,
            };
            let outcome = self.handle_advisory(&message.payload).await;
            let ack = match outcome {
                Outcome::Ack => message.ack().await,
                Outcome::Nak(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
                Outcome::Term => message.ack_with(AckKind::Term).await,
            };
            if let Err(error) = ack {
                warn!(%error, "acknowledging an advisory failed");
            }
        }
    }

    async fn handle_advisory(&self, payload: &[u8]) -> Outcome {
        let advisory: MaxDeliveriesAdvisory = match serde_json::from_slice(payload) {
            Ok(advisory) => advisory,
            Err(error) => {
                error!(%error, "unreadable max-deliveries advisory; dropping it");
                return Outcome::Term;
            }
        };
        let retry = Outcome::Nak(self.inner.settings.retry_delay(1));
        let js = self.inner.handler.store().jetstream();
        let raw = match js.get_stream(&self.inner.nats.stream).await {
            Ok(stream) => stream.get_raw_message(advisory.stream_seq).await,
            Err(error) => {
                warn!(%error, "event store unavailable; handling the advisory later");
                return retry;
            }
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err(error) => {
                warn!(%error, event.seq = advisory.stream_seq, "cannot read the abandoned job message; retrying");
                return retry;
            }
        };
        let stored = match decode_message(
            &raw.subject,
            Some(&raw.headers),
            &raw.payload,
            advisory.stream_seq,
        ) {
            Ok(stored) => stored,
            Err(error) => {
                error!(%error, event.seq = advisory.stream_seq, "abandoned job message is unreadable");
                return Outcome::Term;
            }
        };
        let video = stored.envelope.video_id;
        let job = match stored.event {
            Event::Uploaded { .. } => 0,
            Event::ReprocessRequested { job, .. } => job,
            _ => return Outcome::Ack,
        };
        let command = Command::AbandonJob {
            job,
            deliveries: advisory.deliveries,
            at: now(),
        };
        let metadata = Metadata::caused_by(&stored.envelope);
        match self.inner.handler.handle(video, command, metadata).await {
            Ok(_) => {
                metrics::counter!("fiapx_processor_jobs_total", "outcome" => "abandoned").increment(1);
                warn!(
                    video.id = %video,
                    job,
                    deliveries = advisory.deliveries,
                    "JetStream gave up on a job without a final event; recorded attempts_exhausted"
                );
                Outcome::Ack
            }
            Err(HandleError::Rejected(reason)) => {
                info!(video.id = %video, job, %reason, "abandoned job already ended");
                Outcome::Ack
            }
            Err(error) => {
                warn!(video.id = %video, %error, "recording an abandoned job failed; retrying");
                retry
            }
        }
    }

    async fn consume(
        &self,
        shutdown: &CancellationToken,
        slots: &Arc<Semaphore>,
        jobs: &mut JoinSet<()>,
    ) -> Result<(), ProcessorError> {
        let js = self.inner.handler.store().jetstream();
        let stream = js
            .get_stream(&self.inner.nats.stream)
            .await
            .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
        let consumer = stream
            .create_consumer(self.consumer_config())
            .await
            .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
        info!(consumer = %self.inner.settings.consumer, "processor consuming");
        loop {
            // Take a slot before pulling, so that a busy process leaves messages to the others.
            let permit = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                permit = Arc::clone(slots).acquire_owned() => permit.map_err(|e| ProcessorError::Consumer(e.to_string()))?,
            };
            let batch = consumer
                .fetch()
                .max_messages(1)
                .expires(Duration::from_secs(5))
                .messages()
                .await
                .map_err(|e| ProcessorError::Consumer(e.to_string()))?;
            let mut batch = std::pin::pin!(batch);
            let next = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = batch.next() => next,
            };
            while jobs.try_join_next().is_some() {}
            match next {
                None => {}
                Some(Err(error)) => return Err(ProcessorError::Consumer(error.to_string())),
                Some(Ok(message)) => {
                    let this = self.clone();
                    jobs.spawn(async move {
                        this.handle(message).await;
                        drop(permit);
                    });
                }
            }
        }
    }

    async fn handle(&self, message: jetstream::Message) {
        let (sequence, attempt) = match message.info() {
            Ok(info) => (
                info.stream_sequence,
                u32::try_from(info.delivered).unwrap_or(u32::MAX),
            ),
            Err(error) => {
                error!(%error, "job message without JetStream metadata");
                return;
            }
        };
        let outcome = match decode_message(
            &message.subject,
            message.headers.as_ref(),
            &message.payload,
            sequence,
        ) {
            Ok(stored) => {
                let span =
                    info_span!("job", video.id = %stored.envelope.video_id, event.seq = sequence, attempt);
                self.run_job(&message, stored, attempt).instrument(span).await
            }
            Err(error) => {
                error!(%error, event.seq = sequence, "unreadable job message; terminating it");
                Outcome::Term
            }
        };
        let ack = match outcome {
            Outcome::Ack => message.double_ack().await,
            Outcome::Nak(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
            Outcome::Term => message.ack_with(AckKind::Term).await,
        };
        if let Err(error) = ack {
            // The job's events are stored; a lost ack only means a redelivery that the domain will skip.
            warn!(%error, event.seq = sequence, "acknowledging the job message failed");
        }
    }

    async fn run_job(&self, message: &jetstream::Message, stored: StoredEvent, attempt: u32) -> Outcome {
        let video = stored.envelope.video_id;
        let (job, spec) = match stored.event {
            Event::Uploaded { spec, .. } => (0, spec),
            Event::ReprocessRequested { job, spec, .. } => (job, spec),
            other => {
                warn!(event.type = other.event_type(), "not a job event; ignoring it");
                return Outcome::Ack;
            }
        };
        let metadata = Metadata::caused_by(&stored.envelope);
        let handler = &self.inner.handler;
        let started = handler
            .handle(
                video,
                Command::StartProcessing {
                    job,
                    attempt,
                    at: now(),
                },
                metadata.clone(),
            )
            .await;
        let state = match started {
            Ok(handled) => handled.state,
            Err(HandleError::Rejected(reason)) => {
                info!(%reason, "job needs no work (done, deleted or taken over)");
                return Outcome::Ack;
            }
            Err(error) => {
                warn!(%error, "event store unavailable; retrying the job later");
                return Outcome::Nak(self.inner.settings.retry_delay(attempt));
            }
        };
        let Some(source) = state.source else {
            error!("started video has no source");
            return Outcome::Term;
        };
        metrics::counter!("fiapx_processor_jobs_started_total").increment(1);
        let started_at = std::time::Instant::now();

        let (progress_tx, progress_rx) = watch::channel(Progress {
            frames_done: 0,
            frames_expected: 0,
        });
        let keepalive = self.keep_alive(message, video, job, attempt, progress_rx);
        let result = tokio::select! {
            result = self.extract(video, job, &source.key, &spec, progress_tx) => result,
            () = keepalive => unreachable!("the keep-alive loop never ends on its own"),
        };
        metrics::histogram!("fiapx_processor_job_seconds").record(started_at.elapsed().as_secs_f64());

        match result {
            Ok(archive) => self.complete(video, job, attempt, archive, metadata).await,
            Err(failure) => self.fail(video, job, attempt, failure, metadata).await,
        }
    }

    /// Sends `Progress` acks every third of `ack_wait` and publishes progress at most every interval.
    async fn keep_alive(
        &self,
        message: &jetstream::Message,
        video: VideoId,
        job: u32,
        attempt: u32,
        mut progress: watch::Receiver<Progress>,
    ) {
        let settings = &self.inner.settings;
        let mut heartbeat = tokio::time::interval(Duration::from_secs(settings.ack_wait_secs.max(3)) / 3);
        let throttle = Duration::from_millis(settings.progress_interval_ms);
        let mut last_publish = tokio::time::Instant::now() - throttle;
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        warn!(%error, "progress ack failed");
                    }
                }
                changed = progress.changed() => {
                    if changed.is_err() {
                        // The extraction finished; keep acking until the caller's select drops us.
                        std::future::pending::<()>().await;
                    }
                    if last_publish.elapsed() >= throttle {
                        last_publish = tokio::time::Instant::now();
                        let p = *progress.borrow_and_update();
                        self.publish_progress(video, job, attempt, p, "extracting").await;
                    }
                }
            }
        }
    }

    async fn publish_progress(
        &self,
        video: VideoId,
        job: u32,
        attempt: u32,
        progress: Progress,
        stage: &str,
    ) {
        let body = JobProgress {
            video_id: video.to_string(),
            job,
            attempt,
            frames_done: progress.frames_done,
            frames_expected: progress.frames_expected,
            stage: stage.into(),
        };
        let Ok(payload) = serde_json::to_vec(&body) else {
            return;
        };
        let client = &self.inner.client;
        if let Err(error) = client
            .publish(format!("progress.videos.{video}"), payload.clone().into())
            .await
        {
            warn!(%error, "publishing progress failed");
        }
        let js = self.inner.handler.store().jetstream();
        let bucket = &self.inner.nats.progress_bucket;
        match self
            .inner
            .progress
            .get_or_try_init(|| js.get_key_value(bucket))
            .await
        {
            Ok(kv) => {
                if let Err(error) = kv.put(video.to_string(), payload.into()).await {
                    warn!(%error, "storing progress failed");
                }
            }
            Err(error) => warn!(%error, "progress bucket unavailable"),
        }
    }

    /// Streams the source from storage through the engine into a multipart upload of the archive.
    async fn extract(
        &self,
        video: VideoId,
        job: u32,
        source_key: &str,
        spec: &fiapx_domain::ExtractionSpec,
        progress: watch::Sender<Progress>,
    ) -> Result<ArchiveObject, JobFailure> {
        let storage = &self.inner.storage;
        let source = storage
            .get_stream(source_key)
            .await
            .map_err(JobFailure::storage)?;
        let key = archive_key(video, job);
        let (writer, mut reader) = tokio::io::duplex(256 * 1024);
        let upload_storage = storage.clone();
        let upload_key = key.clone();
        let upload = tokio::spawn(async move {
            upload_storage
                .put_stream(&upload_key, "application/zip", &mut reader, PutOptions::default())
                .await
        });
        let extracted = self
            .inner
            .extractor
            .extract_reader(source, spec, HashingWriter::new(writer), |p| {
                progress.send_replace(p);
            })
            .await;
        let (mut writer, summary) = match extracted {
            Ok(done) => done,
            Err(error) => {
                // Dropping the pipe's writer would let the upload complete a truncated object: abort it first.
                upload.abort();
                let _ = upload.await;
                return Err(JobFailure::from(error));
            }
        };
        writer
            .shutdown()
            .await
            .map_err(|e| JobFailure::transient(FailureCode::StorageUnavailable, e))?;
        let (size_bytes, sha256) = writer.finish();
        let stored = upload
            .await
            .map_err(|e| JobFailure::transient(FailureCode::Internal, e))?
            .map_err(|e| JobFailure::transient(FailureCode::StorageUnavailable, e))?;
        if stored != size_bytes {
            return Err(JobFailure::transient(
                FailureCode::StorageUnavailable,
                format!("stored {stored} bytes of a {size_bytes}-byte archive"),
            ));
        }
        let frame_count = u32::try_from(summary.manifest.frames.len()).unwrap_or(u32::MAX);
        metrics::counter!("fiapx_processor_frames_total").increment(u64::from(frame_count));
        Ok(ArchiveObject {
            key,
            size_bytes,
            sha256,
            frame_count,
        })
    }

    async fn complete(
        &self,
        video: VideoId,
        job: u32,
        attempt: u32,
        archive: ArchiveObject,
        metadata: Metadata,
    ) -> Outcome {
        let key = archive.key.clone();
        let frames = archive.frame_count;
        let command = Command::CompleteProcessing {
            job,
            attempt,
            archive,
            at: now(),
        };
        match self.inner.handler.handle(video, command, metadata).await {
            Ok(_) => {
                metrics::counter!("fiapx_processor_jobs_total", "outcome" => "completed").increment(1);
                info!(frames, "job completed");
                self.publish_progress(
                    video,
                    job,
                    attempt,
                    Progress {
                        frames_done: frames.into(),
                        frames_expected: frames.into(),
                    },
                    "completed",
                )
                .await;
                Outcome::Ack
            }
            Err(HandleError::Rejected(VideoError::Deleted)) => {
                info!("video deleted while processing; removing the archive");
                if let Err(error) = self.inner.storage.delete(&key).await {
                    warn!(%error, s3.key = %key, "removing the archive of a deleted video failed");
                }
                Outcome::Ack
            }
            Err(HandleError::Rejected(reason)) => {
                // A newer delivery owns the job now; it writes the same archive key.
                info!(%reason, "completion superseded");
                Outcome::Ack
            }
            Err(error) => {
                warn!(%error, "recording the completion failed; the job will run again");
                Outcome::Nak(self.inner.settings.retry_delay(attempt))
            }
        }
    }

    async fn fail(
        &self,
        video: VideoId,
        job: u32,
        attempt: u32,
        failure: JobFailure,
        metadata: Metadata,
    ) -> Outcome {
        let settings = &self.inner.settings;
        let last = attempt >= settings.max_deliver;
        let (code, will_retry, outcome) = match (failure.code.is_retryable(), last) {
            (false, _) => (failure.code, false, Outcome::Term),
            (true, false) => (failure.code, true, Outcome::Nak(settings.retry_delay(attempt))),
            (true, true) => (FailureCode::AttemptsExhausted, false, Outcome::Term),
        };
        warn!(failure.code = %failure.code, failure.detail = %failure.detail, will_retry, "job failed");
        metrics::counter!("fiapx_processor_jobs_total", "outcome" => if will_retry { "retry" } else { "failed" }).increment(1);
        let message = match code {
            FailureCode::AttemptsExhausted => {
                format!("gave up after {attempt} attempts: {}", failure.message)
            }
            _ => failure.message,
        };
        let command = Command::FailProcessing(FailProcessing {
            job,
            attempt,
            code,
            message,
            will_retry,
            at: now(),
        });
        match self.inner.handler.handle(video, command, metadata).await {
            Ok(_) => {
                self.publish_progress(
                    video,
                    job,
                    attempt,
                    Progress {
                        frames_done: 0,
                        frames_expected: 0,
                    },
                    "failed",
                )
                .await;
                outcome
            }
            Err(HandleError::Rejected(reason)) => {
                info!(%reason, "failure superseded");
                Outcome::Ack
            }
            Err(error) => {
                warn!(%error, "recording the failure failed; retrying the job later");
                Outcome::Nak(settings.retry_delay(attempt))
            }
        }
    }
}

/// `io.nats.jetstream.advisory.v1.max_deliver`: the fields used here.
#[derive(Debug, Deserialize)]
struct MaxDeliveriesAdvisory {
    /// Stream sequence of the message the consumer gave up on.
    stream_seq: u64,
    /// How many times it was delivered.
    deliveries: u32,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A classified job failure: the code decides retry, the message is for the user (no internals).
#[derive(Debug)]
struct JobFailure {
    code: FailureCode,
    message: String,
    detail: String,
}

impl JobFailure {
    fn transient(code: FailureCode, detail: impl std::fmt::Display) -> Self {
        let message = match code {
            FailureCode::StorageUnavailable => "object storage was unavailable".to_owned(),
            _ => "an internal error interrupted processing".to_owned(),
        };
        Self {
            code,
            message,
            detail: detail.to_string(),
        }
    }

    fn storage(error: impl std::fmt::Display) -> Self {
        Self::transient(FailureCode::StorageUnavailable, error)
    }
}

impl From<ExtractError> for JobFailure {
    fn from(error: ExtractError) -> Self {
        let code = match &error {
            ExtractError::Empty | ExtractError::Corrupt { .. } => FailureCode::CorruptInput,
            ExtractError::UnrecognizedFormat { .. }
            | ExtractError::NoVideoStream
            | ExtractError::UnsupportedCodec { .. } => FailureCode::UnsupportedFormat,
            ExtractError::Truncated { .. } => FailureCode::TruncatedInput,
            ExtractError::InputTooLarge { .. } => FailureCode::TooLarge,
            ExtractError::DurationTooLong { .. } => FailureCode::TooLong,
            ExtractError::ResolutionTooLarge { .. } => FailureCode::ResolutionTooHigh,
            ExtractError::TooManyFrames { .. } => FailureCode::TooManyFrames,
            ExtractError::DecodeTimeout { .. } => FailureCode::DecodeTimeout,
            ExtractError::Input(_) | ExtractError::Output(_) => FailureCode::StorageUnavailable,
            ExtractError::InvalidSpec(_)
            | ExtractError::Encode(_)
            | ExtractError::Ffmpeg { .. }
            | ExtractError::Cancelled => FailureCode::Internal,
        };
        // Bad-input messages describe the input (safe and useful to show); others stay generic.
        if error.is_bad_input() {
            Self {
                code,
                message: error.to_string(),
                detail: error.to_string(),
            }
        } else {
            Self::transient(code, &error)
        }
    }
}

/// Counts and hashes what passes through to the archive upload.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.size, hex::encode(self.hasher.finalize()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HashingWriter<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let poll = std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(written)) = poll {
            this.hasher.update(&buf[..written]);
            this.size += written as u64;
        }
        poll
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
