//! The processor worker: a durable JetStream consumer that turns `uploaded` and `reprocess_requested` events
//! into frame archives in object storage, and the advisory watcher beside it; both run on
//! [`fiapx_nats::ConsumerRunner`].
//!
//! Error policy of the job consumer (DESIGN.md section 3; the flow itself is `job.rs`):
//! - bad input (corrupt, unsupported, over a limit) -> `failed{will_retry: false}` and `Term`;
//! - transient (object storage, an FFmpeg or internal fault) -> `failed{will_retry: true}` and `Nak` with the
//!   configured backoff; on the last delivery `failed{attempts_exhausted}` and `Term`;
//! - the event store itself unreachable -> `Nak` with delay and no event (the redelivery decides again);
//! - a job already done, deleted, or taken over by a newer delivery -> `Ack` (double: confirmed by the server;
//!   the domain rejects the stale step);
//! - an unreadable message -> logged and `Term` (it can never be processed).
//!
//! Each process runs `concurrency` jobs at once and takes a slot before pulling, so a busy process leaves
//! messages to the others. While a job runs the runner keeps the message alive with `Progress` acks; jobs still
//! running after the shutdown grace period are left un-acked to redelivery. Jobs JetStream gives up on are ended
//! by the advisory watcher (`advisories.rs`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use fiapx_nats::{ConsumerRunner, ConsumerSpec, Pull};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::advisories::Advisories;
use crate::job::Jobs;
use crate::processor::{Processor, ProcessorError};

impl Processor {
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

    fn job_consumer(&self) -> ConsumerSpec {
        let s = &self.inner.settings;
        ConsumerSpec {
            pull: Pull::OnePerSlot {
                expires: Duration::from_secs(5),
            },
            concurrency: s.concurrency.max(1),
            double_ack: true,
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
            restarts_metric: "fiapx_processor_consumer_restarts_total",
            ..ConsumerSpec::new(self.inner.nats.stream.clone(), self.consumer_config())
        }
    }

    /// Consumes until `shutdown` is cancelled. Supervised: a broken consumer is recreated after a pause. Jobs
    /// still running after the grace period are abandoned un-acked, so JetStream redelivers them. The
    /// max-deliveries advisories of the consumer are watched alongside ([`Processor::watch_advisories`]).
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ProcessorError> {
        let jobs = ConsumerRunner::new(self.inner.js.clone(), self.job_consumer());
        tokio::join!(
            self.watch_advisories(shutdown.clone()),
            jobs.run(Jobs(self.clone()), shutdown.clone())
        );
        info!("processor stopped");
        Ok(())
    }

    /// Ends every job JetStream stopped delivering with `failed{attempts_exhausted}`, until `shutdown`.
    /// Supervised like the job consumer: any error recreates the consumer after a pause.
    pub async fn watch_advisories(&self, shutdown: CancellationToken) {
        ConsumerRunner::new(self.inner.js.clone(), self.advisory_consumer())
            .run(Advisories(self.clone()), shutdown)
            .await;
    }
}
