//! What the query endpoints and the live stream share: the read models, NATS, the event store and the link signer.

use std::sync::Arc;
use std::time::Duration;

use fiapx_nats::NatsSettings;
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

impl State {
    /// See [`crate::QueryApi::new`].
    pub(crate) fn new(
        db: DatabaseConnection,
        nats: async_nats::Client,
        nats_settings: &NatsSettings,
        links: impl ArchiveLinks,
        link_ttl: Duration,
    ) -> Self {
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(nats_settings.request_timeout)
            .build(nats.clone());
        let store = fiapx_nats::JetStreamEventStore::new(nats.clone(), nats_settings);
        Self {
            db,
            nats,
            js,
            subject_prefix: nats_settings.subject_prefix.clone(),
            progress_bucket: nats_settings.progress_bucket.clone(),
            store,
            links: Arc::new(links),
            link_ttl,
        }
    }
}
