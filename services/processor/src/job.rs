//! One job's flow: start it, stream the source from object storage through the frame engine into a multipart
//! upload of the archive, record the completion or the classified failure, and say how to settle the message.
//!
//! The decisions are the domain's: a step of a job already done or deleted is rejected and acked; one of a
//! superseded delivery (a newer attempt has started) is rejected and left unsettled, because JetStream acks by
//! stream sequence and the message belongs to the newer attempt now. This file maps engine
//! errors to failure codes and retry decisions (see `worker.rs` for the policy).

use std::time::Duration;

use async_nats::jetstream;
use fiapx_domain::{
    ArchiveObject, AttemptFailure, Command, Event, FailureCode, VideoError, VideoId, VideoStatus,
};
use fiapx_nats::{HandleError, Handler, Outcome, decode_message};
use fiapx_schemas::{Metadata, ProgressStage, StoredEvent};
use fiapx_storage::{
    PutOptions, archive_key, archive_prefix, manifest_key, storyboard_sheet_key, storyboard_vtt_key,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, debug, error, info, info_span, warn};

use time::OffsetDateTime;

use crate::processor::Processor;
use crate::progress::JobRef;
use fiapx_frames::{ExtractError, Progress};

/// The job consumer's handler.
pub(crate) struct Jobs(pub(crate) Processor);

impl Handler for Jobs {
    async fn handle(&self, message: &jetstream::Message) -> Outcome {
        let (sequence, attempt) = match message.info() {
            Ok(info) => (
                info.stream_sequence,
                u32::try_from(info.delivered).unwrap_or(u32::MAX),
            ),
            Err(error) => {
                // Not a JetStream delivery: nothing to settle.
                error!(%error, "job message without JetStream metadata");
                return Outcome::InProgress;
            }
        };
        match decode_message(
            &message.subject,
            message.headers.as_ref(),
            &message.payload,
            sequence,
        ) {
            Ok(stored) => {
                let span =
                    info_span!("job", video.id = %stored.envelope.video_id, event.seq = sequence, attempt);
                self.0.run_job(stored, attempt).instrument(span).await
            }
            Err(error) => {
                error!(%error, event.seq = sequence, "unreadable job message; terminating it");
                Outcome::Term
            }
        }
    }
}

/// How to settle the message of a job step (`step`: start, completion, failure) the domain refused. A superseded
/// attempt (a newer delivery has started) leaves it unsettled: JetStream acks by stream sequence, not by
/// delivery, so an ack would settle the newer attempt's message, and if that attempt then died the video would
/// stay `processing` for good; left alone, it comes back after `ack_wait` if its holder is gone. Anything else
/// (the job is done or the video deleted) needs no more work: ack.
fn refused(step: &str, reason: &VideoError) -> Outcome {
    if matches!(reason, VideoError::AttemptSuperseded { .. }) {
        info!(%reason, step, "attempt superseded; leaving the message to the current attempt");
        Outcome::InProgress
    } else {
        info!(%reason, step, "nothing more to do (done or deleted)");
        Outcome::Ack
    }
}

impl Processor {
    async fn run_job(&self, stored: StoredEvent, attempt: u32) -> Outcome {
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
                    at: OffsetDateTime::now_utc(),
                },
                metadata.clone(),
            )
            .await;
        let state = match started {
            Ok(handled) => handled.state,
            Err(HandleError::Rejected(reason)) => return refused("start", &reason),
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
        // This attempt holds the job now: an archive upload an earlier attempt left open (killed mid-write, or
        // cut from S3 when its abort could not pass) is aborted, so that its parts do not stay in the bucket.
        self.abort_leftover_uploads(video, job).await;

        let (progress_tx, progress_rx) = watch::channel(Progress {
            frames_done: 0,
            frames_expected: 0,
        });
        let throttle = Duration::from_millis(self.inner.settings.progress_interval_ms);
        let reports = async {
            self.inner
                .progress
                .follow(JobRef { video, job, attempt }, progress_rx, throttle)
                .await;
            // The extraction finished; its result wins the select below.
            std::future::pending::<()>().await;
        };
        let result = tokio::select! {
            result = self.extract(video, job, &source.key, &spec, progress_tx) => result,
            () = reports => unreachable!("progress reports never end on their own"),
            reason = self.superseded(video, job, attempt) => {
                // Dropping the extraction stops the decoder and aborts this attempt's archive upload.
                info!(%reason, "attempt superseded while extracting; stopped, leaving the message to the current attempt");
                metrics::counter!("fiapx_processor_attempts_stopped_total").increment(1);
                return Outcome::InProgress;
            }
        };
        metrics::histogram!("fiapx_processor_job_seconds").record(started_at.elapsed().as_secs_f64());

        match result {
            Ok(archive) => {
                let outcome = self.complete(video, job, attempt, archive, metadata).await;
                // A superseded attempt still writing the same archive (it woke up late) is cut short.
                self.abort_leftover_uploads(video, job).await;
                outcome
            }
            Err(failure) => self.fail(video, job, attempt, failure, metadata).await,
        }
    }

    /// Resolves (with the reason) once this attempt no longer holds its job in the log: a newer attempt started
    /// (this one was thought dead: stopped, cut off), the job ended, or the video was deleted. Reads the log every
    /// `supersede_check_secs`; a read that fails is tried again at the next tick while the attempt goes on.
    async fn superseded(&self, video: VideoId, job: u32, attempt: u32) -> String {
        let every = Duration::from_secs(self.inner.settings.supersede_check_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            match self.inner.handler.state(video).await {
                Ok(state)
                    if state.status == VideoStatus::Processing
                        && state.job == job
                        && state.attempt == attempt => {}
                Ok(state) => {
                    return format!(
                        "the log has the video {} at job {} attempt {}",
                        state.status, state.job, state.attempt
                    );
                }
                Err(error) => debug!(%error, "cannot read the log to check the attempt; going on"),
            }
        }
    }

    /// Aborts the multipart uploads left open under the job's archive key (best effort: a failure is logged, and
    /// the next attempt or job tries again).
    async fn abort_leftover_uploads(&self, video: VideoId, job: u32) {
        let key = archive_key(video, job);
        match self.inner.storage.abort_pending_multipart_uploads(&key).await {
            Ok(0) => {}
            Ok(aborted) => info!(
                s3.key = key,
                aborted, "aborted archive uploads left by an earlier attempt"
            ),
            Err(error) => warn!(s3.key = key, %error, "could not list or abort leftover archive uploads"),
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
        // Aborted if this future is dropped (the attempt was superseded): the pipe's writer going away must not
        // let the upload complete a truncated archive.
        let mut upload = AbortOnDropHandle::new(tokio::spawn(async move {
            upload_storage
                .put_stream(&upload_key, "application/zip", &mut reader, PutOptions::default())
                .await
        }));
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
                let _ = (&mut upload).await;
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
        // The manifest also on its own, so that the API can list and serve single frames without the ZIP.
        let manifest = serde_json::to_vec(&summary.manifest)
            .map_err(|e| JobFailure::transient(FailureCode::Internal, e))?;
        storage
            .put_bytes(&manifest_key(video, job), "application/json", &manifest)
            .await
            .map_err(|e| JobFailure::transient(FailureCode::StorageUnavailable, e))?;
        // The storyboard's sheets first, then its index: an index is only there once every sheet it names is.
        if let Some(storyboard) = &summary.storyboard {
            for (index, sheet) in storyboard.sheets.iter().enumerate() {
                let file = fiapx_frames::sheet_file_name(index);
                storage
                    .put_bytes(&storyboard_sheet_key(video, job, &file), "image/jpeg", sheet)
                    .await
                    .map_err(JobFailure::storage)?;
            }
            storage
                .put_bytes(
                    &storyboard_vtt_key(video, job),
                    "text/vtt",
                    storyboard.vtt.as_bytes(),
                )
                .await
                .map_err(JobFailure::storage)?;
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
        let frames = archive.frame_count;
        let command = Command::CompleteProcessing {
            job,
            attempt,
            archive,
            at: OffsetDateTime::now_utc(),
        };
        match self.inner.handler.handle(video, command, metadata).await {
            Ok(_) => {
                metrics::counter!("fiapx_processor_jobs_total", "outcome" => "completed").increment(1);
                info!(frames, "job completed");
                let job = JobRef { video, job, attempt };
                let done = Progress {
                    frames_done: frames.into(),
                    frames_expected: frames.into(),
                };
                self.inner
                    .progress
                    .publish(job, done, ProgressStage::Completed)
                    .await;
                Outcome::Ack
            }
            Err(HandleError::Rejected(VideoError::Deleted)) => {
                info!("video deleted while processing; removing the archive and its manifest");
                let prefix = archive_prefix(video);
                if let Err(error) = self.inner.storage.delete_prefix(&prefix).await {
                    warn!(%error, s3.prefix = %prefix, "removing the archive of a deleted video failed");
                }
                Outcome::Ack
            }
            // A newer delivery owns the job now (it writes the same archive key), or it is done.
            Err(HandleError::Rejected(reason)) => refused("completion", &reason),
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
        let command = Command::FailProcessing(AttemptFailure {
            job,
            attempt,
            code,
            message,
            will_retry,
            at: OffsetDateTime::now_utc(),
        });
        match self.inner.handler.handle(video, command, metadata).await {
            Ok(_) => {
                let job = JobRef { video, job, attempt };
                let none = Progress {
                    frames_done: 0,
                    frames_expected: 0,
                };
                self.inner
                    .progress
                    .publish(job, none, ProgressStage::Failed)
                    .await;
                outcome
            }
            Err(HandleError::Rejected(reason)) => refused("failure", &reason),
            Err(error) => {
                warn!(%error, "recording the failure failed; retrying the job later");
                Outcome::Nak(settings.retry_delay(attempt))
            }
        }
    }
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
            FailureCode::DiskFull => "the processor's local disk was full".to_owned(),
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
            ExtractError::PositionPastEnd { .. } => FailureCode::PositionPastEnd,
            ExtractError::DecodeTimeout { .. } => FailureCode::DecodeTimeout,
            ExtractError::Input(io) | ExtractError::Output(io) if is_disk_full(io) => FailureCode::DiskFull,
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

/// A local disk out of space or over its quota (the source's spool is written to `$TMPDIR`): std maps ENOSPC and
/// EDQUOT to these kinds.
fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_local_disk_is_disk_full_and_other_io_faults_storage_unavailable() {
        let code = |error: std::io::Error| JobFailure::from(ExtractError::Input(error)).code;
        assert_eq!(code(std::io::Error::from_raw_os_error(28)), FailureCode::DiskFull);
        assert_eq!(
            code(std::io::Error::from_raw_os_error(122)),
            FailureCode::DiskFull
        );
        assert_eq!(
            code(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            FailureCode::StorageUnavailable
        );
        let full = JobFailure::from(ExtractError::Input(std::io::Error::from_raw_os_error(28)));
        assert_eq!(full.message, "the processor's local disk was full");
        assert!(full.code.is_retryable());
    }
}
