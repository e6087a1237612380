//! How the processor consumes and retries: the `processor` section of the configuration.

use std::time::Duration;

use serde::Deserialize;

use fiapx_frames::Limits;

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
    /// How often a running attempt reads its video's log to see whether it still holds the job, in seconds. One
    /// that no longer does (a newer attempt started after it was thought dead, the video was deleted) stops
    /// extracting within this time instead of running to the end for nothing.
    pub supersede_check_secs: u64,
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
            supersede_check_secs: 5,
            limits: Limits::default(),
        }
    }
}

impl ProcessorSettings {
    /// The pause before retry `attempt` of a transient failure.
    pub(crate) fn retry_delay(&self, attempt: u32) -> Duration {
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
