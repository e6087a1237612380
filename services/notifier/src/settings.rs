//! How the notifier sends and retries.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// The `notifier` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotifierSettings {
    /// Durable consumer name shared by every notifier process.
    pub consumer: String,
    /// SMTP server, e.g. `smtp://127.0.0.1:12525` (plain, the local sink), `smtps://user:pass@host` or
    /// `smtp://host:587?tls=required`. May carry a password: never logged.
    pub smtp_url: SecretString,
    /// The `From:` address of e-mails.
    pub from: String,
    /// Base URL of the web app, for links to a video: `<public_url>/videos/<id>`.
    pub public_url: String,
    /// Delay before each retry of a webhook delivery, in seconds; one try, then one retry per entry.
    pub webhook_retry_secs: Vec<u64>,
    /// Delay before each retry of an e-mail, in seconds; one try, then one retry per entry.
    pub email_retry_secs: Vec<u64>,
    /// Allow loopback webhooks (tests and `make run`): `http://` or `https://` to `127.0.0.0/8`, `[::1]` or
    /// `localhost`, and loopback addresses from the webhook client's resolver. Otherwise only `https://` URLs to
    /// public hosts are accepted. No other non-public address is ever allowed ([`crate::egress`]).
    pub allow_insecure_webhooks: bool,
    /// How long one webhook request or one SMTP exchange may take, in seconds.
    pub send_timeout_secs: u64,
    /// How long a claimed notification stays with the process that claimed it before another may take it over
    /// (a process that crashed mid-send), in seconds. Longer than `send_timeout_secs`.
    pub lease_secs: u64,
    /// Notifications claimed at once by one process.
    pub batch_size: u32,
    /// How often due notifications are looked for when nothing wakes the sender, in milliseconds.
    pub poll_interval_ms: u64,
    /// Events older than this when first seen are not notified (a new consumer on an old log), in seconds.
    pub max_event_age_secs: u64,
    /// Deliveries of one event to intake before JetStream gives up on it (intake naks every 5 s while the
    /// database or the event store is down: the default is 24 h of that, as long as `max_event_age_secs`, after
    /// which the event would not be notified anyway).
    pub max_deliver: i64,
    /// The stream that keeps, for replay, the max-deliveries advisory of every event intake gave up on.
    pub dead_letter_stream: String,
    /// A file holding the 256-bit key (64 hex digits) that seals webhook and callback signing secrets in
    /// PostgreSQL ([`crate::secrets`]); refused when other users may read it (`chmod 600`). The notifier (worker
    /// and API) does not start without this or `secrets_key`. `fiapx keys generate-secrets-key --out FILE`
    /// writes one; `make run` keeps it in `.state/notifier/secrets.key`.
    pub secrets_key_file: Option<PathBuf>,
    /// The same key inline, in hex (wins over `secrets_key_file`). Never logged.
    pub secrets_key: Option<SecretString>,
    /// Files of keys that sealed secrets before the current one (rotation): what they sealed still opens, and is
    /// sealed again with the current key when the notifier starts (docs/notifications.md).
    pub secrets_previous_key_files: Vec<PathBuf>,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            consumer: "notifier".into(),
            smtp_url: SecretString::from("smtp://127.0.0.1:12525"),
            from: "FIAP X <no-reply@fiapx.localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            webhook_retry_secs: vec![10, 60, 300, 1800, 7200],
            email_retry_secs: vec![30, 120, 600, 3600],
            allow_insecure_webhooks: false,
            send_timeout_secs: 10,
            lease_secs: 60,
            batch_size: 16,
            poll_interval_ms: 1000,
            max_event_age_secs: 24 * 3600,
            max_deliver: 24 * 3600 / 5,
            dead_letter_stream: "NOTIFIER_DEAD_LETTERS".into(),
            secrets_key_file: None,
            secrets_key: None,
            secrets_previous_key_files: Vec::new(),
        }
    }
}

/// The delay before retry number `retry` (1 for the first retry), or `None` when the schedule is over.
pub(crate) fn retry_delay(schedule: &[u64], retry: u32) -> Option<std::time::Duration> {
    let index = usize::try_from(retry.checked_sub(1)?).ok()?;
    schedule
        .get(index)
        .map(|secs| std::time::Duration::from_secs(*secs))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::retry_delay;

    #[test]
    fn the_schedule_ends() {
        let schedule = [10, 60];
        assert_eq!(retry_delay(&schedule, 1), Some(Duration::from_secs(10)));
        assert_eq!(retry_delay(&schedule, 2), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(&schedule, 3), None);
        assert_eq!(retry_delay(&schedule, 0), None);
    }
}
