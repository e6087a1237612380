//! The notifier: what its parts share (the store, the event store, SMTP, the webhook client, settings). Intake
//! (`intake.rs`: the durable JetStream consumer's handler) records the notifications the rules (`rules.rs`) call
//! for; the sender (`sender.rs`) delivers them; `worker.rs` runs both. Guarantees: docs/notifications.md.

use std::sync::Arc;
use std::time::Duration;

use fiapx_nats::{JetStreamEventStore, NatsSettings, VideoCallbacks};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::egress::PublicResolver;
use crate::secrets::{Keyring, SecretsKeyError};
use crate::settings::NotifierSettings;
use crate::store::Store;

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
    /// The key sealing signing secrets is missing or unusable (`notifier.secrets_key_file`).
    #[error(transparent)]
    SecretsKey(#[from] SecretsKeyError),
}

/// Sends notifications about final failures (and completions, for users who opted in).
#[derive(Clone)]
pub struct Notifier {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) keyring: Keyring,
    pub(crate) events: JetStreamEventStore,
    pub(crate) callbacks: VideoCallbacks,
    pub(crate) nats: NatsSettings,
    pub(crate) settings: NotifierSettings,
    pub(crate) mailer: AsyncSmtpTransport<Tokio1Executor>,
    pub(crate) from: Mailbox,
    pub(crate) http: reqwest::Client,
    pub(crate) wake: Notify,
}

impl Notifier {
    /// A notifier reading events from the stream in `nats` and recording in `db`. Refuses to start without a
    /// usable secrets key ([`NotifierError::SecretsKey`]).
    pub fn new(
        db: DatabaseConnection,
        client: async_nats::Client,
        nats: &NatsSettings,
        settings: NotifierSettings,
    ) -> Result<Self, NotifierError> {
        let keyring = Keyring::from_settings(&settings)?;
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
                keyring,
                callbacks: VideoCallbacks::new(async_nats::jetstream::new(client.clone()), nats),
                events: JetStreamEventStore::new(client, nats),
                nats: nats.clone(),
                settings,
                mailer,
                from,
                http,
                wake: Notify::new(),
            }),
        })
    }
}
