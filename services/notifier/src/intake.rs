//! The intake: the durable consumer's handler, turning final `failed` and `completed` events into recorded
//! notifications (e-mail, webhooks, and the upload's callback URL from `fiapx_nats::VideoCallbacks`).
//!
//! One notification per event, channel and target, recorded in PostgreSQL before anything is sent
//! (`UNIQUE (event_id, channel, target)`), so redelivered events and restarted notifiers find the record and
//! add nothing. Error policy: database, event store or callback bucket unavailable -> `Nak` after 5 s; an unreadable event ->
//! `Term`; anything else (recorded, or nothing to notify) -> `Ack`.

use std::time::Duration;

use async_nats::jetstream;
use fiapx_domain::{Video, VideoStatus};
use fiapx_nats::{Handler, Outcome, decode_message};
use fiapx_schemas::StoredEvent;
use time::OffsetDateTime;
use tracing::{Instrument, debug, error, info_span, warn};

use crate::message::Notice;
use crate::notifier::Notifier;
use crate::rules;

/// The notifier consumer's handler.
pub(crate) struct Intake(pub(crate) Notifier);

impl Handler for Intake {
    /// Records the notifications one event calls for.
    async fn handle(&self, message: &jetstream::Message) -> Outcome {
        let sequence = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(error) => {
                error!(%error, "event without JetStream metadata");
                return Outcome::Term;
            }
        };
        let stored = match decode_message(
            &message.subject,
            message.headers.as_ref(),
            &message.payload,
            sequence,
        ) {
            Ok(stored) => stored,
            Err(error) => {
                error!(%error, event.seq = sequence, "unreadable event; skipping it");
                return Outcome::Term;
            }
        };
        let span = info_span!("notify", video.id = %stored.envelope.video_id, event.seq = sequence);
        self.0.intents_for(stored).instrument(span).await
    }
}

impl Notifier {
    async fn intents_for(&self, stored: StoredEvent) -> Outcome {
        let retry = Outcome::Nak(Duration::from_secs(5));
        let Some((job, attempt, outcome)) = rules::outcome_of(&stored.event) else {
            return Outcome::Ack;
        };
        let age = OffsetDateTime::now_utc() - stored.envelope.occurred_at;
        if age.whole_seconds() > i64::try_from(self.inner.settings.max_event_age_secs).unwrap_or(i64::MAX) {
            debug!("event too old to notify");
            return Outcome::Ack;
        }
        let video = match self.inner.events.load(stored.envelope.video_id).await {
            Ok(loaded) => Video::from_events(loaded.events.iter().map(|e| &e.event)),
            Err(error) => {
                warn!(%error, "cannot load the video; retrying");
                return retry;
            }
        };
        let (Some(owner), Some(source)) = (video.owner, video.source.as_ref()) else {
            warn!("event of a video with no upload; skipping it");
            return Outcome::Ack;
        };
        if video.status == VideoStatus::Deleted {
            debug!("video deleted since; nothing to notify");
            return Outcome::Ack;
        }
        let owner = *owner.as_uuid();
        let (preferences, recipient, hooks) = match self.inner.store.audience(owner).await {
            Ok(audience) => audience,
            Err(error) => {
                warn!(%error, "database unavailable; retrying the event later");
                return retry;
            }
        };
        let video_id = *stored.envelope.video_id.as_uuid();
        let callback = match self.inner.callbacks.get(video_id).await {
            Ok(callback) => callback,
            Err(error) => {
                warn!(%error, "cannot read the upload's callback; retrying the event later");
                return retry;
            }
        };
        let notice = Notice {
            event_id: stored.envelope.event_id,
            occurred_at: stored.envelope.occurred_at,
            video_id,
            file_name: source.file_name.clone(),
            job,
            attempt,
            link: format!(
                "{}/videos/{video_id}",
                self.inner.settings.public_url.trim_end_matches('/')
            ),
            outcome,
        };
        let listeners = rules::Listeners { hooks, callback };
        let intents = rules::intents(&notice, owner, &preferences, recipient, listeners);
        if intents.is_empty() {
            return Outcome::Ack;
        }
        match self.inner.store.record(&intents).await {
            Ok(new) => {
                debug!(
                    notifications.new = new,
                    notifications.wanted = intents.len(),
                    "recorded"
                );
                self.inner.wake.notify_one();
                Outcome::Ack
            }
            Err(error) => {
                warn!(%error, "recording notifications failed; retrying the event later");
                retry
            }
        }
    }
}
