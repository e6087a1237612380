//! Configuration: defaults, then an optional TOML file, then the local stack's flat variables (`FIAPX_NATS_URL`,
//! `FIAPX_NATS_USER`, `FIAPX_NATS_PASSWORD`, `FIAPX_DATABASE_URL`, `FIAPX_S3_*`, `FIAPX_SMTP_URL`, as written to
//! `.state/env` by `make up`), then `FIAPX__SECTION__KEY` environment variables (highest).

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// Everything a FIAP X process can be told.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// NATS and the event store.
    pub nats: fiapx_nats::NatsSettings,
    /// PostgreSQL read models.
    pub database: fiapx_database::DatabaseSettings,
    /// Object storage.
    pub s3: fiapx_storage::S3Settings,
    /// Upload service.
    pub upload: fiapx_upload::UploadSettings,
    /// Processor service.
    pub processor: fiapx_processor::ProcessorSettings,
    /// Projector service.
    pub projector: fiapx_projections::ProjectorSettings,
    /// Notifier service (SMTP, webhooks, retry schedules).
    pub notifier: fiapx_notifier::NotifierSettings,
    /// Keys, tokens, passwords and abuse limits.
    pub auth: fiapx_auth::AuthSettings,
    /// The Prometheus metrics listener.
    pub metrics: MetricsSettings,
}

/// Where `/metrics` (Prometheus text) is served: a listener of its own, never the public one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// `host:port`; loopback by default (a scraper elsewhere needs e.g. `0.0.0.0:9464` behind a firewall). Each
    /// process needs its own port; empty turns the listener off.
    pub bind: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9464".into(),
        }
    }
}

/// Where the HTTP APIs listen.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// `host:port`; loopback by default.
    pub bind: String,
    /// Base URL printed for people (what they type in a browser).
    pub public_url: String,
    /// How long a shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_secs: u64,
    /// The built web app (`web/dist`, relative to the working directory) served at `/`; when missing, the APIs
    /// still work and `/` says how to build it.
    pub web_dir: std::path::PathBuf,
    /// Largest request body (bytes) of every route but the uploads (which have `upload.max_upload_bytes`):
    /// more, declared or streamed, is a 413 with memory bounded by it.
    pub max_body_bytes: u64,
    /// A connection with no byte read or written for this long (seconds) is cut: slow or silent clients cannot
    /// hold connections. Live streams write a keep-alive every 15 s and uploads keep reading; a request whose
    /// handler works longer than this without sending anything is cut too, hence the generous default.
    pub idle_timeout_secs: u64,
    /// Live streams (`GET /api/v1/events`, `GET /api/v1/videos/{id}/events`) one user may have open at once in
    /// this process; more get 429 with `Retry-After`.
    pub live_streams_per_user: u32,
    /// The same per client address (every account and share link together).
    pub live_streams_per_client: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            shutdown_grace_secs: 10,
            web_dir: "web/dist".into(),
            max_body_bytes: 64 * 1024,
            idle_timeout_secs: 120,
            live_streams_per_user: fiapx_query::DEFAULT_LIVE_STREAM_CAP.per_user,
            live_streams_per_client: fiapx_query::DEFAULT_LIVE_STREAM_CAP.per_client,
        }
    }
}

/// The flat variables of the local stack and the setting each one fills.
const STACK_VARIABLES: [(&str, &str); 9] = [
    ("FIAPX_NATS_URL", "nats.url"),
    ("FIAPX_NATS_USER", "nats.user"),
    ("FIAPX_NATS_PASSWORD", "nats.password"),
    ("FIAPX_DATABASE_URL", "database.url"),
    ("FIAPX_S3_ENDPOINT", "s3.endpoint"),
    ("FIAPX_S3_REGION", "s3.region"),
    ("FIAPX_S3_ACCESS_KEY", "s3.access_key"),
    ("FIAPX_S3_SECRET_KEY", "s3.secret_key"),
    ("FIAPX_SMTP_URL", "notifier.smtp_url"),
];

/// Loads the settings; `file` is optional (a missing path is an error when given explicitly).
pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
    let mut figment = Figment::new();
    if let Some(file) = file {
        anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
        figment = figment.merge(Toml::file(file));
    }
    let stack = Env::raw().only(&STACK_VARIABLES.map(|(var, _)| var)).map(|var| {
        let key = STACK_VARIABLES
            .iter()
            .find(|(name, _)| var.as_str().eq_ignore_ascii_case(name))
            .map_or(var.as_str(), |(_, key)| key);
        key.to_owned().into()
    });
    figment = figment.merge(stack).merge(Env::prefixed("FIAPX__").split("__"));
    figment
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment's Jail closures return figment::Error, sized by figment"
)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn layers_apply_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "fiapx.toml",
                "[http]\nbind = \"127.0.0.1:9000\"\n[processor]\nconcurrency = 3\n",
            )?;
            jail.set_env("FIAPX_NATS_URL", "nats://127.0.0.1:1");
            jail.set_env("FIAPX__PROCESSOR__CONCURRENCY", "5");
            let settings = load(Some(Path::new("fiapx.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.bind, "127.0.0.1:9000");
            assert_eq!(settings.nats.url, "nats://127.0.0.1:1");
            assert_eq!(
                settings.processor.concurrency, 5,
                "FIAPX__ variables win over the file"
            );
            assert_eq!(settings.nats.stream, "VIDEOS", "defaults fill the rest");
            Ok(())
        });
    }

    #[test]
    fn metrics_listen_apart_unless_turned_off_and_the_token_leeway_can_be_zero() {
        Jail::expect_with(|jail| {
            let defaults = load(None).map_err(|e| e.to_string())?;
            assert_eq!(defaults.metrics.bind, "127.0.0.1:9464");
            assert_ne!(defaults.metrics.bind, defaults.http.bind);
            assert_eq!(defaults.auth.clock_skew_secs, 30);
            jail.set_env("FIAPX__METRICS__BIND", "");
            jail.set_env("FIAPX__AUTH__CLOCK_SKEW_SECS", "0");
            let settings = load(None).map_err(|e| e.to_string())?;
            assert_eq!(settings.metrics.bind, "", "empty: no metrics listener");
            assert_eq!(settings.auth.clock_skew_secs, 0);
            Ok(())
        });
    }

    #[test]
    fn a_missing_explicit_file_and_a_bad_value_are_errors() {
        Jail::expect_with(|jail| {
            assert!(load(Some(Path::new("nope.toml"))).is_err());
            jail.set_env("FIAPX__PROCESSOR__CONCURRENCY", "many");
            let error = load(None).unwrap_err().to_string();
            assert!(error.to_lowercase().contains("concurrency"), "{error}");
            Ok(())
        });
    }
}
