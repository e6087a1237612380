//! JSON Schemas of the envelope and of every payload version, as committed under `schemas/json/`.

use schemars::{JsonSchema, schema_for};

use crate::envelope::Envelope;
use crate::payload::v1;

/// One generated schema file.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// File name under `schemas/json/`, e.g. `uploaded.v1.schema.json`.
    pub file_name: String,
    /// Pretty-printed JSON, ending with a newline.
    pub contents: String,
}

fn file<T: JsonSchema>(file_name: &str) -> SchemaFile {
    let schema = schema_for!(T);
    let mut contents = serde_json::to_string_pretty(&schema).unwrap_or_default();
    contents.push('\n');
    SchemaFile {
        file_name: file_name.to_owned(),
        contents,
    }
}

/// Every schema: the envelope, then each event type at each version ever released.
pub fn schema_files() -> Vec<SchemaFile> {
    vec![
        file::<Envelope>("envelope.schema.json"),
        file::<v1::Uploaded>("uploaded.v1.schema.json"),
        file::<v1::ProcessingStarted>("processing_started.v1.schema.json"),
        file::<v1::Completed>("completed.v1.schema.json"),
        file::<v1::Failed>("failed.v1.schema.json"),
        file::<v1::ReprocessRequested>("reprocess_requested.v1.schema.json"),
        file::<v1::Deleted>("deleted.v1.schema.json"),
    ]
}
