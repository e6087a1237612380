//! How the notifier runs: intake on [`fiapx_nats::ConsumerRunner`] and the sender's loop, side by side.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use fiapx_nats::{ConsumerRunner, ConsumerSpec, Pull};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::intake::Intake;
use crate::notifier::{Notifier, NotifierError};
use crate::secrets::seal_stored;

/// Events pulled at once by intake (also the most a stopping process hands back).
const INTAKE_BATCH: usize = 32;

impl Notifier {
    /// The durable consumer's configuration.
    pub fn consumer_config(&self) -> pull::Config {
        let prefix = &self.inner.nats.subject_prefix;
        pull::Config {
            durable_name: Some(self.inner.settings.consumer.clone()),
            description: Some("FIAP X notifications (final failures, completions)".into()),
            filter_subjects: vec![format!("{prefix}.*.failed"), format!("{prefix}.*.completed")],
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 256,
            max_deliver: self.inner.settings.max_deliver.max(1),
            ..Default::default()
        }
    }

    /// The dead-letter stream: it captures the server's max-deliveries advisories of the intake consumer (each
    /// names the stream sequence of the event given up on), kept 30 days for an operator to replay.
    pub fn dead_letter_stream_config(&self) -> jetstream::stream::Config {
        let settings = &self.inner.settings;
        fiapx_nats::max_deliveries_stream(
            &settings.dead_letter_stream,
            "Events the notifier gave up on (max-deliveries advisories), for replay",
            &self.inner.nats.stream,
            &settings.consumer,
            self.inner.nats.replicas,
            Duration::from_secs(30 * 24 * 3600),
        )
    }

    fn consumer(&self) -> ConsumerSpec {
        ConsumerSpec {
            pull: Pull::Stream {
                batch: Some(INTAKE_BATCH),
                heartbeat: None,
                expires: None,
            },
            restarts_metric: "fiapx_notifier_consumer_restarts_total",
            ..ConsumerSpec::new(self.inner.nats.stream.clone(), self.consumer_config())
        }
    }

    /// Seals, once at start-up, the stored signing secrets that are in plain text (rows from before sealing) or
    /// sealed with a previous key. On failure the sender still seals each one it reads.
    async fn seal_stored_secrets(&self) {
        match seal_stored(&self.inner.store, &self.inner.keyring).await {
            Ok(report) if report.unreadable > 0 => error!(
                secrets.sealed = report.sealed,
                secrets.unreadable = report.unreadable,
                key.id = self.inner.keyring.key_id(),
                "stored signing secrets do not open with the configured keys: their deliveries fail until the key \
                 that sealed them is configured (notifier.secrets_key_file, notifier.secrets_previous_key_files)"
            ),
            Ok(report) => info!(
                secrets.sealed = report.sealed,
                key.id = self.inner.keyring.key_id(),
                "every stored signing secret is sealed with the current key"
            ),
            Err(error) => {
                warn!(%error, "cannot seal stored signing secrets now; the sender seals each it reads")
            }
        }
    }

    /// Runs intake and the sender until `shutdown`. Each is supervised: a failure is logged, and it starts again
    /// after a pause. The sender finishes the batch it claimed before stopping.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), NotifierError> {
        let js = self.inner.events.jetstream();
        if let Err(error) = js.create_or_update_stream(self.dead_letter_stream_config()).await {
            // Intake works without it; only events given up on after `max_deliver` would go unrecorded.
            warn!(%error, "cannot set up the notifier's dead-letter stream; going on without it");
        }
        let intake = ConsumerRunner::new(js.clone(), self.consumer());
        tokio::join!(
            intake.run(Intake(self.clone()), shutdown.clone()),
            self.send_loop(shutdown.clone()),
            self.seal_stored_secrets()
        );
        info!("notifier stopped");
        Ok(())
    }
}
