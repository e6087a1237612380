//! What the query endpoints and the live stream share: the read models, NATS, the event store and the link signer.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::links::ArchiveLinks;

/// The connections behind [`crate::QueryApi`].
pub(crate) struct State {
    pub(crate) db: DatabaseConnection,
    pub(crate) nats: async_nats::Client,
    pub(crate) js: async_nats::jetstream::Context,
    pub(crate) subject_prefix: String,
    pub(crate) progress_bucket: String,
    pub(crate) store: fiapx_nats::JetStreamEventStore,
    pub(crate) links: Arc<dyn ArchiveLinks>,
    pub(crate) link_ttl: Duration,
}
