//! What the query endpoints and the live stream share: the read models, NATS, the event store and the bucket.

use std::time::Duration;

use sea_orm::DatabaseConnection;

/// The connections behind [`crate::QueryApi`].
pub(crate) struct State {
    pub(crate) db: DatabaseConnection,
    pub(crate) nats: async_nats::Client,
    pub(crate) js: async_nats::jetstream::Context,
    pub(crate) subject_prefix: String,
    pub(crate) progress_bucket: String,
    pub(crate) store: fiapx_nats::JetStreamEventStore,
    /// The archives' bucket: presigned downloads, manifests, single-frame copies.
    pub(crate) storage: fiapx_storage::Storage,
    pub(crate) link_ttl: Duration,
}
