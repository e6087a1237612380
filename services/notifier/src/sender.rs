//! The sender: claims due notifications, delivers them (SMTP e-mail, signed webhooks), records each outcome and
//! retries on the channel's schedule.
//!
//! Sending is at-least-once at one boundary only: a process that dies after the SMTP server or the webhook
//! receiver accepted a message but before the outcome is recorded leaves the row leased; after the lease another
//! process sends it again, with the same `Message-ID` / `X-Fiapx-Delivery`, so the receiver can recognise the
//! repeat.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncTransport, Message};
use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::egress;
use crate::message::Email;
use crate::notifier::Notifier;
use crate::secrets::reseal;
use crate::settings::retry_delay;
use crate::store::{Claimed, Deliveries, TryOutcome};
use crate::webhook::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_header};

impl Notifier {
    pub(crate) async fn send_loop(&self, shutdown: CancellationToken) {
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
                "callback" => self.send_callback(claimed).await,
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
            Err(error) => return given_up(format!("unreadable stored e-mail: {error}")),
        };
        let to = match email.to.parse() {
            Ok(address) => Mailbox::new(Some(email.to_name.clone()), address),
            Err(error) => return given_up(format!("invalid recipient address: {error}")),
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
            Err(error) => return given_up(format!("cannot build the e-mail: {error}")),
        };
        match self.inner.mailer.send(message).await {
            Ok(_) => TryOutcome::Sent { status_code: None },
            Err(error) if error.is_permanent() => given_up(format!("rejected by the SMTP server: {error}")),
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
        let whose = Deliveries::Webhook(hook.id);
        self.post_signed(claimed, schedule, &hook.url, whose, &hook.secret, "webhook")
            .await
    }

    /// Opens the stored signing secret of `whose` to sign one delivery; a plain-text one (written before
    /// sealing) or one sealed with a previous key is sealed with the current key on the way. The error is what
    /// the delivery log shows (no key id, no secret); the details go to the log.
    async fn signing_secret(&self, whose: Deliveries, stored: &str) -> Result<SecretString, String> {
        let opened = self.inner.keyring.open(whose, stored).map_err(|error| {
            error!(%error, "a signing secret does not open with the configured keys");
            "the signing secret cannot be opened with the server's key (an operator must fix \
             notifier.secrets_key_file)"
                .to_owned()
        })?;
        if opened.stale
            && let Err(error) = reseal(&self.inner.store, &self.inner.keyring, whose, stored).await
        {
            // Signing goes on; the next delivery or start-up seals it.
            warn!(%error, "cannot seal a stored signing secret now");
        }
        Ok(opened.secret)
    }

    /// A callback: a POST to the URL the upload named (the notification's target), signed with the owner's
    /// callback secret. Without one it fails for good, saying how to make one; a redeliver after that sends it.
    async fn send_callback(&self, claimed: &Claimed) -> TryOutcome {
        let schedule = &self.inner.settings.webhook_retry_secs;
        let stored = match self.inner.store.callback_secret(claimed.owner_id).await {
            Ok(Some(secret)) => secret.secret,
            Ok(None) => {
                return given_up(
                    "the account has no callback signing secret: make one with POST \
                     /api/v1/me/callback-secret, then redeliver",
                );
            }
            Err(error) => return self.failed(claimed, schedule, None, format!("database: {error}")),
        };
        let whose = Deliveries::Callbacks(claimed.owner_id);
        self.post_signed(claimed, schedule, &claimed.target, whose, &stored, "callback")
            .await
    }

    /// POSTs the claimed body to `url`, signed (`X-Fiapx-Signature`) with the stored secret of `whose` (opened
    /// with [`Self::signing_secret`]), with the event and delivery headers; `what` names the kind of receiver in
    /// errors (`webhook`, `callback`).
    async fn post_signed(
        &self,
        claimed: &Claimed,
        schedule: &[u64],
        url: &str,
        whose: Deliveries,
        stored: &str,
        what: &str,
    ) -> TryOutcome {
        let secret = match self.signing_secret(whose, stored).await {
            Ok(secret) => secret,
            Err(error) => return self.failed(claimed, schedule, None, error),
        };
        let Ok(url) = url::Url::parse(url) else {
            return given_up(format!("the stored {what} URL is not a valid URL"));
        };
        // The client connects to IP literals without asking the resolver, so they are checked here; a URL
        // registered before the address rules (or while insecure webhooks were allowed) can never succeed.
        if fiapx_http::egress::literal_ip(&url).is_some_and(|ip| {
            !fiapx_http::egress::is_allowed(ip, self.inner.settings.allow_insecure_webhooks)
        }) {
            return given_up(format!("the {what} address is not a public internet address"));
        }
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature_header(secret.expose_secret(), timestamp, claimed.body.as_bytes());
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

/// A try that failed for good: nothing to retry (the schedule is not consulted), no HTTP status.
fn given_up(error: impl Into<String>) -> TryOutcome {
    TryOutcome::Failed {
        status_code: None,
        error: error.into(),
        retry_in: None,
    }
}
