//! The persisted form of FIAP X events.
//!
//! This crate owns what is written to the event log and read back from it: the envelope (carried as NATS message
//! headers), one versioned JSON payload per event type and version, the upcast path from every historical version
//! to the current `fiapx_domain::Event`, and the JSON Schemas committed under `schemas/json/`. Loads and replays go
//! through the same [`decode`]; nothing else turns bytes into domain events. It must not know about NATS clients,
//! databases or services: headers are plain name/value pairs here.

mod codec;
mod envelope;
mod json_schema;
pub mod payload;

pub use codec::{CURRENT_VERSIONS, EncodedEvent, SchemaError, decode, encode, spec_from_json, spec_to_json};
pub use envelope::{Envelope, EnvelopeError, header};
pub use json_schema::{SchemaFile, schema_files};
