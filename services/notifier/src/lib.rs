//! The FIAP X notifier: tells a video's owner when processing failed for good (and, if they opted in, when the
//! frames are ready), by e-mail over SMTP and by signed webhooks they register.
//!
//! This crate owns the notification rules (which events, which channels, per-user [`store::Preferences`]), the
//! messages ([`message`]: e-mail in English or Brazilian Portuguese by the owner's locale, plain text + HTML;
//! the webhook JSON body), webhook signatures ([`webhook`]: HMAC-SHA256 over `"<t>.<body>"`), where webhooks
//! may go ([`egress`]: public addresses only, checked at registration and by the webhook client's DNS
//! resolver), signing secrets sealed at rest ([`secrets`]: XChaCha20-Poly1305 under a key from the settings,
//! opened only to sign a delivery), the record of every notification in PostgreSQL (one per event, channel and target: [`store`]), the worker ([`Notifier`]:
//! intake, a durable JetStream consumer on `failed` and `completed` events; the rules of who is told what; and a
//! sender that retries on a schedule)
//! and the HTTP API ([`NotifierApi`]: webhooks, their delivery log, redelivery, preferences, the failure code
//! table). It reads events through `fiapx-nats` and the owner's e-mail and locale from the `users` table; it
//! must not know about S3, FFmpeg or the read models, and never decides anything about a video. It is a
//! reactor: it never runs during a replay.

mod api;
pub mod egress;
mod intake;
pub mod message;
mod notifier;
mod rules;
pub mod secrets;
mod sender;
mod settings;
pub mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod webhook;
mod worker;

pub use api::{
    FailureCodeInfo, NotificationsExport, NotifierApi, account_export, failure_table, forget_account,
};
/// The failure codes of the API, shared with the query side (defined in `fiapx-http`).
pub use fiapx_http::FailureCodeName;
pub use notifier::{Notifier, NotifierError};
pub use settings::NotifierSettings;
