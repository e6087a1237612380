//! The max-deliveries advisory watcher: nothing ends silently.
//!
//! When JetStream gives up on a job message (its last delivery crashed, timed out, or could not reach the event
//! store), the server publishes a max-deliveries advisory. The processor captures those advisories in a small
//! stream of their own (so none is lost while no processor runs) and ends each such job with
//! `failed{attempts_exhausted}` through the command handler ([`fiapx_domain::Command::AbandonJob`]); a job that
//! already reached a final event rejects it, so the advisory is idempotent.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use fiapx_domain::{Command, Event};
use fiapx_nats::{ConsumerSpec, HandleError, Handler, Outcome, Pull, decode_message};
use fiapx_schemas::Metadata;
use serde::Deserialize;
use tracing::{error, info, warn};

use time::OffsetDateTime;

use crate::processor::Processor;

/// `io.nats.jetstream.advisory.v1.max_deliver`: the fields used here.
#[derive(Debug, Deserialize)]
struct MaxDeliveriesAdvisory {
    /// Stream sequence of the message the consumer gave up on.
    stream_seq: u64,
    /// How many times it was delivered.
    deliveries: u32,
}

/// The advisory consumer's handler.
pub(crate) struct Advisories(pub(crate) Processor);

impl Handler for Advisories {
    async fn handle(&self, message: &jetstream::Message) -> Outcome {
        self.0.handle_advisory(&message.payload).await
    }
}

impl Processor {
    /// The stream capturing the max-deliveries advisories of the job consumer (created or updated idempotently).
    pub fn advisory_stream_config(&self) -> jetstream::stream::Config {
        fiapx_nats::max_deliveries_stream(
            &self.inner.settings.advisory_stream,
            "Max-deliveries advisories of the processor consumer, until handled",
            &self.inner.nats.stream,
            &self.inner.settings.consumer,
            self.inner.nats.replicas,
            Duration::from_secs(7 * 24 * 3600),
        )
    }

    /// The advisory consumer, on the advisory stream it creates or updates first.
    pub(crate) fn advisory_consumer(&self) -> ConsumerSpec {
        let settings = &self.inner.settings;
        ConsumerSpec {
            ensure_stream: Some(self.advisory_stream_config()),
            // The client's default pull stream, as `Consumer::messages` sets it up.
            pull: Pull::Stream {
                batch: None,
                heartbeat: Some(Duration::from_secs(15)),
                expires: None,
            },
            restarts_metric: "fiapx_processor_consumer_restarts_total",
            ..ConsumerSpec::new(
                settings.advisory_stream.clone(),
                pull::Config {
                    durable_name: Some(format!("{}_advisories", settings.consumer)),
                    description: Some("Ends jobs the processor consumer gave up on".into()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    ..Default::default()
                },
            )
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
        let raw = match self.inner.js.get_stream(&self.inner.nats.stream).await {
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
            at: OffsetDateTime::now_utc(),
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
}
