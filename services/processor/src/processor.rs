//! The processor: what its consumers share (the command handler, JetStream, storage, the engine, settings,
//! progress). How they run is `worker.rs`; each consumer's handler is `job.rs` or `advisories.rs`.

use std::sync::Arc;

use async_nats::jetstream;
use fiapx_frames::Extractor;
use fiapx_nats::{CommandHandler, NatsSettings};
use fiapx_storage::Storage;

use crate::progress::ProgressPublisher;
use crate::settings::ProcessorSettings;

/// Why the processor could not start or keep consuming.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The stream or consumer could not be reached or created.
    #[error("cannot set up the processor consumer: {0}")]
    Consumer(String),
}

/// Runs jobs from the `processor` consumer.
#[derive(Clone)]
pub struct Processor {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) handler: CommandHandler,
    /// JetStream on the processor's connection: consumers, the advisory stream, raw reads of job messages.
    pub(crate) js: jetstream::Context,
    pub(crate) storage: Storage,
    pub(crate) extractor: Extractor,
    pub(crate) nats: NatsSettings,
    pub(crate) settings: ProcessorSettings,
    pub(crate) progress: ProgressPublisher,
}

impl Processor {
    /// A processor writing events through `handler` and archives to `storage`.
    pub fn new(
        client: async_nats::Client,
        handler: CommandHandler,
        storage: Storage,
        nats: NatsSettings,
        settings: ProcessorSettings,
    ) -> Self {
        let extractor = Extractor::new(settings.limits.clone());
        let js = jetstream::ContextBuilder::new()
            .timeout(nats.request_timeout)
            .build(client.clone());
        let progress = ProgressPublisher::new(client, js.clone(), nats.progress_bucket.clone());
        Self {
            inner: Arc::new(Inner {
                handler,
                js,
                storage,
                extractor,
                nats,
                settings,
                progress,
            }),
        }
    }
}
