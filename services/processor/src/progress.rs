//! Progress publishing of running jobs: the core subject `progress.videos.<id>` for live readers and the latest
//! value in the `video_progress` KV bucket for readers that arrive mid-job. Live status only, never events; the
//! message itself is [`fiapx_schemas::ProgressUpdate`].

use std::time::Duration;

use async_nats::jetstream;
use fiapx_domain::VideoId;
use fiapx_schemas::{ProgressStage, ProgressUpdate, progress_subject};
use tokio::sync::{OnceCell, watch};
use tracing::warn;

use fiapx_frames::Progress;

/// Publishes the progress of jobs; failures are logged and never fail a job.
pub(crate) struct ProgressPublisher {
    client: async_nats::Client,
    js: jetstream::Context,
    bucket: String,
    /// The progress bucket, looked up once (not on every progress publication).
    kv: OnceCell<jetstream::kv::Store>,
}

/// Which job a progress report is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobRef {
    pub(crate) video: VideoId,
    pub(crate) job: u32,
    pub(crate) attempt: u32,
}

impl ProgressPublisher {
    pub(crate) fn new(client: async_nats::Client, js: jetstream::Context, bucket: String) -> Self {
        Self {
            client,
            js,
            bucket,
            kv: OnceCell::new(),
        }
    }

    /// Publishes one progress value of `job`.
    pub(crate) async fn publish(&self, job: JobRef, progress: Progress, stage: ProgressStage) {
        let body = ProgressUpdate {
            video_id: *job.video.as_uuid(),
            job: job.job,
            attempt: job.attempt,
            frames_done: progress.frames_done,
            frames_expected: Some(progress.frames_expected),
            stage,
        };
        let Ok(payload) = serde_json::to_vec(&body) else {
            return;
        };
        if let Err(error) = self
            .client
            .publish(progress_subject(job.video), payload.clone().into())
            .await
        {
            warn!(%error, "publishing progress failed");
        }
        match self
            .kv
            .get_or_try_init(|| self.js.get_key_value(&self.bucket))
            .await
        {
            Ok(kv) => {
                if let Err(error) = kv.put(job.video.to_string(), payload.into()).await {
                    warn!(%error, "storing progress failed");
                }
            }
            Err(error) => warn!(%error, "progress bucket unavailable"),
        }
    }

    /// Publishes the extraction's progress as it changes, at most once per `throttle`, until the sender is gone.
    pub(crate) async fn follow(
        &self,
        job: JobRef,
        mut progress: watch::Receiver<Progress>,
        throttle: Duration,
    ) {
        let mut last_publish = tokio::time::Instant::now() - throttle;
        while progress.changed().await.is_ok() {
            if last_publish.elapsed() >= throttle {
                last_publish = tokio::time::Instant::now();
                let p = *progress.borrow_and_update();
                self.publish(job, p, ProgressStage::Extracting).await;
            }
        }
    }
}
