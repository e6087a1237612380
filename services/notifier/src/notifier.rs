//! The notifier worker: intake (a durable JetStream consumer turning final `failed` and `completed` events into
//! recorded notifications) and the sender (claims due notifications, sends them, records the outcome, retries
//! on the schedule).
//!
//! Guarantees (docs/notifications.md): one notification per event, channel and target, recorded in PostgreSQL
//! before anything is sent (`UNIQUE (event_id, channel, target)`), so redelivered events and restarted
//! notifiers find the record and add nothing. Sending is at-least-once at one boundary only: a process that
//! dies after the SMTP server or the webhook receiver accepted a message but before the outcome is recorded
//! leaves the row leased; after the lease another process sends it again, with the same `Message-ID` /
//! `X-Fiapx-Delivery`, so the receiver can recognise the repeat.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use fiapx_domain::{Event, Video, VideoStatus};
use fiapx_nats::{EventStore, NatsSettings, StoredEvent, decode_message};
use futures::StreamExt;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};
use uuid::Uuid;

use crate::egress::{self, PublicResolver};
use crate::message::{self, Email, Notice, Outcome};
use crate::settings::{NotifierSettings, retry_delay};
use crate::store::{Channel, Claimed, Intent, Store, TryOutcome};
use crate::webhook::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_header};

/// Events pulled at once by intake (also the most a stopping process hands back).
const INTAKE_BATCH: usize = 32;

/// On shutdown, naks (without delay) what was pulled but not taken, so that another process gets it at once
/// rather than after `ack_wait`. Bounded: a second at most.
async fn hand_back(messages: &mut jetstream::consumer::pull::Stream) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    for _ in 0..INTAKE_BATCH * 2 {
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(50)),
            messages.next(),
        )
        .await;
        match next {
            Ok(Some(Ok(message))) => {
                if let Err(error) = message.ack_with(AckKind::Nak(None)).await {
                    debug!(%error, "handing an event back failed; it returns after ack_wait");
                }
            }
            _ => break,
        }
    }
}

/// Why the notifier cannot start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// `smtp_url` or `from` is not usable (the URL itself is never shown: it may hold a password).
    #[error("invalid SMTP settings: {0}")]
    Smtp(String),
    /// The HTTP client for webhooks could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    Http(String),
    /// The stream or consumer could not be reached or created.
    #[error("cannot set up the notifier consumer: {0}")]
    Consumer(String),
}

/// Sends notifications about final failures (and completions, for users who opted in).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: EventStore,
    nats: NatsSettings,
    settings: NotifierSettings,
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    http: reqwest::Client,
    wake: Notify,
}

/// What to tell JetStream about an event.
enum Reply {
    Ack,
    Nak(Duration),
    Term,
}

impl Notifier {
    /// A notifier reading events from the stream in `nats` and recording in `db`.
    pub fn new(
        db: DatabaseConnection,
        client: async_nats::Client,
        nats: &NatsSettings,
        settings: NotifierSettings,
    ) -> Result<Self, NotifierError> {
        let timeout = Duration::from_secs(settings.send_timeout_secs.max(1));
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose_secret())
            .map_err(|_| NotifierError::Smtp("smtp_url is not a valid smtp:// or smtps:// URL".into()))?
            .timeout(Some(timeout))
            .build();
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| NotifierError::Smtp(format!("from address: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect could lead a delivery anywhere, past the address checks.
            .redirect(reqwest::redirect::Policy::none())
            // Connect only to public addresses (loopback too when insecure webhooks are allowed), whatever a host
            // name resolves to when the delivery is made (docs/notifications.md, SSRF).
            .dns_resolver(Arc::new(PublicResolver::new(settings.allow_insecure_webhooks)))
            // No proxy from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY): through a proxy the target is
            // resolved by the proxy, and the resolver above would only ever see the proxy's own name.
            .no_proxy()
            .user_agent(concat!("fiapx-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifierError::Http(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: Store::new(db),
                events: EventStore::new(client, nats),
                nats: nats.clone(),
                settings,
                mailer,
                from,
                http,
                wake: Notify::new(),
            }),
        })
    }

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
            ..Default::default()
        }
    }

    /// Runs intake and the sender until `shutdown`. Each is supervised: a failure is logged, and it starts again
    /// after a pause. The sender finishes the batch it claimed before stopping.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), NotifierError> {
        tokio::join!(self.intake(shutdown.clone()), self.send_loop(shutdown.clone()));
        info!("notifier stopped");
        Ok(())
    }

    async fn intake(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.consume(&shutdown).await {
                metrics::counter!("fiapx_notifier_consumer_restarts_total").increment(1);
                warn!(%error, "notifier consumer failed; recreating it");
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), NotifierError> {
        let js = self.inner.events.jetstream();
        let stream = js
            .get_stream(&self.inner.nats.stream)
            .await
            .map_err(|e| NotifierError::Consumer(e.to_string()))?;
        let consumer = stream
            .create_consumer(self.consumer_config())
            .await
            .map_err(|e| NotifierError::Consumer(e.to_string()))?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(INTAKE_BATCH)
            .messages()
            .await
            .map_err(|e| NotifierError::Consumer(e.to_string()))?;
        info!(consumer = %self.inner.settings.consumer, "notifier consuming");
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => {
                    hand_back(&mut messages).await;
                    return Ok(());
                }
                next = messages.next() => next,
            };
            let message = match next {
                None => return Err(NotifierError::Consumer("message stream ended".into())),
                Some(Err(error)) => return Err(NotifierError::Consumer(error.to_string())),
                Some(Ok(message)) => message,
            };
            let outcome = self.take(&message).await;
            let acked = match outcome {
                Reply::Ack => message.ack().await,
                Reply::Nak(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
                Reply::Term => message.ack_with(AckKind::Term).await,
            };
            if let Err(error) = acked {
                // The intents are recorded; a redelivery finds them and adds nothing.
                warn!(%error, "acknowledging an event failed");
            }
        }
    }

    /// Records the notifications one event calls for.
    async fn take(&self, message: &jetstream::Message) -> Reply {
        let sequence = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(error) => {
                error!(%error, "event without JetStream metadata");
                return Reply::Term;
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
                return Reply::Term;
            }
        };
        let span = info_span!("notify", video.id = %stored.envelope.video_id, event.seq = sequence);
        self.intents_for(stored).instrument(span).await
    }

    async fn intents_for(&self, stored: StoredEvent) -> Reply {
        let retry = Reply::Nak(Duration::from_secs(5));
        let (job, attempt, outcome) = match &stored.event {
            Event::Failed { will_retry: true, .. } => return Reply::Ack,
            Event::Failed {
                job,
                attempt,
                code,
                message,
                ..
            } => (
                *job,
                *attempt,
                Outcome::Failed {
                    code: *code,
                    detail: message.clone(),
                },
            ),
            Event::Completed {
                job,
                attempt,
                archive,
                ..
            } => (
                *job,
                *attempt,
                Outcome::Completed {
                    frame_count: archive.frame_count,
                    size_bytes: archive.size_bytes,
                    sha256: archive.sha256.clone(),
                },
            ),
            _ => return Reply::Ack,
        };
        let age = OffsetDateTime::now_utc() - stored.envelope.occurred_at;
        if age.whole_seconds() > i64::try_from(self.inner.settings.max_event_age_secs).unwrap_or(i64::MAX) {
            debug!("event too old to notify");
            return Reply::Ack;
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
            return Reply::Ack;
        };
        if video.status == VideoStatus::Deleted {
            debug!("video deleted since; nothing to notify");
            return Reply::Ack;
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
        let failed = matches!(notice.outcome, Outcome::Failed { .. });
        let mut intents = Vec::new();
        let wants_email = if failed {
            preferences.email_on_failure
        } else {
            preferences.email_on_completion
        };
        match (wants_email, recipient) {
            (true, Some(recipient)) => {
                let email = message::email(
                    &notice,
                    &recipient.email,
                    &recipient.display_name,
                    &recipient.locale,
                );
                intents.push(Intent {
                    id: Uuid::now_v7(),
                    event_id: notice.event_id,
                    channel: Channel::Email,
                    target: recipient.email.to_lowercase(),
                    webhook_id: None,
                    owner_id: owner,
                    video_id,
                    event_type: notice.outcome.event_type().to_owned(),
                    body: serde_json::to_string(&email).unwrap_or_default(),
                });
            }
            (true, None) => info!(user.id = %owner, "owner has no user record; no e-mail"),
            (false, _) => {}
        }
        if failed || preferences.webhook_on_completion {
            for hook in hooks {
                let id = Uuid::now_v7();
                intents.push(Intent {
                    id,
                    event_id: notice.event_id,
                    channel: Channel::Webhook,
                    target: hook.id.to_string(),
                    webhook_id: Some(hook.id),
                    owner_id: owner,
                    video_id,
                    event_type: notice.outcome.event_type().to_owned(),
                    body: message::webhook_body(id, &notice),
                });
            }
        }
        if intents.is_empty() {
            return Reply::Ack;
        }
        match self.inner.store.record(&intents).await {
            Ok(new) => {
                debug!(
                    notifications.new = new,
                    notifications.wanted = intents.len(),
                    "recorded"
                );
                self.inner.wake.notify_one();
                Reply::Ack
            }
            Err(error) => {
                warn!(%error, "recording notifications failed; retrying the event later");
                retry
            }
        }
    }

    async fn send_loop(&self, shutdown: CancellationToken) {
        let settings = &self.inner.settings;
        let lease = Duration::from_secs(settings.lease_secs.max(settings.send_timeout_secs + 5));
        let idle = Duration::from_millis(settings.poll_interval_ms.max(10));
        while !shutdown.is_cancelled() {
            let claimed = match self.inner.store.claim(settings.batch_size.max(1), lease).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    warn!(%error, "cannot claim notifications; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = self.inner.wake.notified() => {}
                    () = tokio::time::sleep(idle) => {}
                }
                continue;
            }
            // Finish what was claimed even when a shutdown comes: the lease would otherwise delay it.
            futures::future::join_all(claimed.iter().map(|c| self.send_one(c))).await;
        }
    }

    async fn send_one(&self, claimed: &Claimed) {
        let started_at = OffsetDateTime::now_utc();
        let clock = std::time::Instant::now();
        let channel = claimed.channel.as_str();
        let span = info_span!(
            "send",
            notification.id = %claimed.id,
            notification.channel = channel,
            notification.attempt = claimed.attempts
        );
        let outcome = async {
            match channel {
                "email" => self.send_email(claimed).await,
                _ => self.send_webhook(claimed).await,
            }
        }
        .instrument(span.clone())
        .await;
        metrics::histogram!("fiapx_notification_send_seconds", "channel" => channel.to_owned())
            .record(clock.elapsed().as_secs_f64());
        let label = match &outcome {
            TryOutcome::Sent { .. } => "sent",
            TryOutcome::Failed {
                retry_in: Some(_), ..
            } => "retry",
            TryOutcome::Failed { retry_in: None, .. } => "failed",
            TryOutcome::Cancelled => "cancelled",
        };
        metrics::counter!("fiapx_notifications_total", "channel" => channel.to_owned(), "outcome" => label)
            .increment(1);
        let _entered = span.enter();
        match &outcome {
            TryOutcome::Sent { .. } => info!("notification sent"),
            TryOutcome::Failed { error, retry_in, .. } => warn!(
                notification.error = %error,
                retry_in_secs = retry_in.map(|d| d.as_secs()),
                "notification not delivered"
            ),
            TryOutcome::Cancelled => info!("webhook deleted; delivery cancelled"),
        }
        if let Err(error) = self.inner.store.finish(claimed, started_at, &outcome).await {
            // The lease runs out and the notification is tried again (the at-least-once boundary).
            error!(%error, "recording the outcome failed");
        }
    }

    fn failed(
        &self,
        claimed: &Claimed,
        schedule: &[u64],
        status_code: Option<i32>,
        error: String,
    ) -> TryOutcome {
        let retry = u32::try_from(claimed.attempts - claimed.round_start).unwrap_or(u32::MAX);
        TryOutcome::Failed {
            status_code,
            error,
            retry_in: retry_delay(schedule, retry),
        }
    }

    async fn send_email(&self, claimed: &Claimed) -> TryOutcome {
        let schedule = &self.inner.settings.email_retry_secs;
        let email: Email = match serde_json::from_str(&claimed.body) {
            Ok(email) => email,
            Err(error) => {
                return TryOutcome::Failed {
                    status_code: None,
                    error: format!("unreadable stored e-mail: {error}"),
                    retry_in: None,
                };
            }
        };
        let to = match email.to.parse() {
            Ok(address) => Mailbox::new(Some(email.to_name.clone()), address),
            Err(error) => {
                return TryOutcome::Failed {
                    status_code: None,
                    error: format!("invalid recipient address: {error}"),
                    retry_in: None,
                };
            }
        };
        let message = Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(email.subject)
            // The same id on every try: a repeat after a crash is recognisable as such.
            .message_id(Some(format!("<{}@fiapx.notifier>", claimed.id)))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html));
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                return TryOutcome::Failed {
                    status_code: None,
                    error: format!("cannot build the e-mail: {error}"),
                    retry_in: None,
                };
            }
        };
        match self.inner.mailer.send(message).await {
            Ok(_) => TryOutcome::Sent { status_code: None },
            Err(error) if error.is_permanent() => TryOutcome::Failed {
                status_code: None,
                error: format!("rejected by the SMTP server: {error}"),
                retry_in: None,
            },
            Err(error) => self.failed(claimed, schedule, None, format!("SMTP: {error}")),
        }
    }

    async fn send_webhook(&self, claimed: &Claimed) -> TryOutcome {
        let schedule = &self.inner.settings.webhook_retry_secs;
        let Some(webhook_id) = claimed.webhook_id else {
            return TryOutcome::Cancelled;
        };
        let hook = match self.inner.store.live_webhook(webhook_id).await {
            Ok(Some(hook)) => hook,
            Ok(None) => return TryOutcome::Cancelled,
            Err(error) => return self.failed(claimed, schedule, None, format!("database: {error}")),
        };
        let Ok(url) = url::Url::parse(&hook.url) else {
            return TryOutcome::Failed {
                status_code: None,
                error: "the stored webhook URL is not a valid URL".into(),
                retry_in: None,
            };
        };
        // The client connects to IP literals without asking the resolver, so they are checked here; a URL
        // registered before the address rules (or while insecure webhooks were allowed) can never succeed.
        if egress::literal_ip(&url)
            .is_some_and(|ip| !egress::is_allowed(ip, self.inner.settings.allow_insecure_webhooks))
        {
            return TryOutcome::Failed {
                status_code: None,
                error: "the webhook address is not a public internet address".into(),
                retry_in: None,
            };
        }
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature_header(&hook.secret, timestamp, claimed.body.as_bytes());
        let response = self
            .inner
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, &claimed.event_type)
            .header(DELIVERY_HEADER, claimed.id.to_string())
            .body(claimed.body.clone())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => TryOutcome::Sent {
                status_code: Some(i32::from(response.status().as_u16())),
            },
            Ok(response) => {
                let status = response.status();
                self.failed(
                    claimed,
                    schedule,
                    Some(i32::from(status.as_u16())),
                    format!("receiver answered {status}"),
                )
            }
            // Only the kind of failure: the URL may carry tokens in its query.
            Err(error) => {
                // Names that resolve only to addresses we do not call, or not at all: retried like a refused
                // connection (DNS may change), with the resolver's own text, which names no host.
                if let Some(refusal) = egress::resolve_error(&error) {
                    return self.failed(claimed, schedule, None, refusal.to_string());
                }
                let kind = if error.is_timeout() {
                    "timed out"
                } else if error.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                self.failed(claimed, schedule, None, kind.to_owned())
            }
        }
    }
}
