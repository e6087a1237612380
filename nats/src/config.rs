//! Names and settings of what FIAP X keeps in JetStream, and the one way a process connects to NATS
//! ([`NatsSettings::connect`]: credentials and TLS from the settings).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

/// Where and how the event log and buckets live.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct NatsSettings {
    /// Server URL, e.g. `nats://127.0.0.1:14222` (credentials go in `user`/`password`, not here: the URL is
    /// logged).
    pub url: String,
    /// User name, for a server that asks for a user and password (with `password`); replies to this user come
    /// to inboxes under `_INBOX.<user>.`.
    pub user: Option<String>,
    /// Password of `user`. Never logged.
    pub password: Option<SecretString>,
    /// A NATS credentials file (a user JWT and its NKey seed, as `nsc` writes them), instead of a user and a
    /// password, for a server with decentralised (operator) auth.
    pub credentials_file: Option<PathBuf>,
    /// Use TLS to the server (with the system's roots, or `tls_ca_file`).
    pub tls_required: bool,
    /// A PEM file of the CA that signed the server's certificate (a private CA); implies `tls_required`.
    pub tls_ca_file: Option<PathBuf>,
    /// Name of the event-store stream.
    pub stream: String,
    /// Subject prefix of video events: `<prefix>.<video_id>.<event_type>`.
    pub subject_prefix: String,
    /// Stream replicas: 1 locally, 3 in a cluster.
    pub replicas: usize,
    /// How long the server remembers `Nats-Msg-Id`s to drop duplicate publishes.
    #[serde(with = "humantime_secs")]
    pub duplicate_window: Duration,
    /// KV bucket holding the latest progress of running jobs.
    pub progress_bucket: String,
    /// KV bucket of per-upload callback URLs (`<video id>` -> the URL), kept while the video exists.
    pub callbacks_bucket: String,
    /// How long a publish ack, a batch commit or a load may wait for the server.
    #[serde(with = "humantime_secs")]
    pub request_timeout: Duration,
    /// How many times the command handler reloads and decides again after a concurrent write.
    pub max_append_retries: u32,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:14222".into(),
            user: None,
            password: None,
            credentials_file: None,
            tls_required: false,
            tls_ca_file: None,
            stream: "VIDEOS".into(),
            subject_prefix: "videos".into(),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            progress_bucket: "video_progress".into(),
            callbacks_bucket: "video_callbacks".into(),
            request_timeout: Duration::from_secs(5),
            max_append_retries: 10,
        }
    }
}

/// Why a process could not connect to NATS.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `user` without `password`, or the other way round.
    #[error("nats.user and nats.password go together: set both or neither")]
    HalfCredentials,
    /// The credentials file cannot be read or parsed.
    #[error("cannot load the NATS credentials file {path}: {source}")]
    CredentialsFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached, refused the credentials, or the TLS handshake failed.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
}

impl NatsSettings {
    /// Connects to the server as `name` (shown in the server's connection list), with the credentials and TLS of
    /// these settings. Every FIAP X process connects through here.
    pub async fn connect(&self, name: &str) -> Result<async_nats::Client, ConnectError> {
        // async-nats builds its TLS configuration on rustls' process-wide provider, which rustls cannot pick by
        // itself when the build has more than one (other crates here bring aws-lc-rs): choose ring, async-nats'
        // own, unless one is installed already (then that one serves).
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut options = match &self.credentials_file {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path.clone())
                .await
                .map_err(|source| ConnectError::CredentialsFile {
                    path: path.display().to_string(),
                    source,
                })?,
            None => async_nats::ConnectOptions::new(),
        };
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => {
                // Replies come to an inbox of this user's own, so that a server can give each user the right to
                // read its own replies only (`_INBOX.<user>.>`) and one role cannot read another's.
                options = options
                    .user_and_password(user.clone(), password.expose_secret().to_owned())
                    .custom_inbox_prefix(format!("_INBOX.{user}"));
            }
            (None, None) => {}
            _ => return Err(ConnectError::HalfCredentials),
        }
        if let Some(ca) = &self.tls_ca_file {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        } else if self.tls_required {
            options = options.require_tls(true);
        }
        options
            .name(name)
            .connect(&self.url)
            .await
            .map_err(|source| ConnectError::Connect {
                url: self.url.clone(),
                source,
            })
    }
}

/// Durations in config are whole seconds.
mod humantime_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}
