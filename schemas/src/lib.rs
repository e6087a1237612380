//! The persisted form of FIAP X events.
//!
//! This crate owns what is written to the event log and read back from it: the envelope (carried as NATS message
//! headers), one versioned JSON payload per event type and version, the upcast path from every historical version
//! to the current `fiapx_domain::Event`, and the JSON Schemas committed under `schemas/json/`. Loads and replays go
//! through the same [`decode`]; nothing else turns bytes into domain events. It must not know about NATS clients,
//! databases or services: headers are plain name/value pairs here.
//!
//! It also owns the plain data every reader of the log shares ([`StoredEvent`]), the event store as a port
//! ([`EventStore`], implemented on JetStream by `fiapx-nats`), and the live progress message with its subject
//! ([`ProgressUpdate`], [`progress_subject`]), which is not an event but has one definition for its publisher
//! (the processor) and its reader (the query service).

mod codec;
mod envelope;
mod json_schema;
pub mod payload;
mod progress;
mod store;
mod stored;

pub use codec::{CURRENT_VERSIONS, EncodedEvent, SchemaError, decode, encode, spec_from_json, spec_to_json};
pub use envelope::{Envelope, EnvelopeError, header};
pub use json_schema::{SchemaFile, schema_files};
pub use progress::{ProgressStage, ProgressUpdate, progress_subject, progress_wildcard};
pub use store::{AppendError, EventStore, EventStream, LoadError, LoadedVideo, Metadata, PendingEvent};
pub use stored::StoredEvent;
