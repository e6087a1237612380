//! Domain events to payload bytes and back, through every historical version.

use fiapx_domain::{ArchiveObject, AttemptFailure, Event, ExtractionSpec, FailureCode, SourceObject, UserId};
use serde::de::DeserializeOwned;

use crate::envelope::Envelope;
use crate::payload::v1;

/// The version each event type is written with today.
pub const CURRENT_VERSIONS: [(&str, u32); 6] = [
    ("uploaded", 1),
    ("processing_started", 1),
    ("completed", 1),
    ("failed", 1),
    ("reprocess_requested", 1),
    ("deleted", 1),
];

/// A domain event in its persisted form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// Stable type string.
    pub event_type: &'static str,
    /// Payload schema version.
    pub schema_version: u32,
    /// JSON payload.
    pub payload: Vec<u8>,
}

/// Bytes that cannot become a domain event.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No decoder for this type and version (written by a newer release, or garbage).
    #[error("unknown event {event_type} v{version}")]
    UnknownVersion {
        /// Event type.
        event_type: String,
        /// Schema version.
        version: u32,
    },
    /// The payload does not match its declared schema.
    #[error("malformed {event_type} v{version} payload: {source}")]
    Malformed {
        /// Event type.
        event_type: String,
        /// Schema version.
        version: u32,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A field holds a value the domain does not know (e.g. a failure code).
    #[error("invalid {event_type} payload: {reason}")]
    Invalid {
        /// Event type.
        event_type: String,
        /// What is wrong.
        reason: String,
    },
}

/// Encodes a domain event with the current version of its payload.
pub fn encode(event: &Event) -> EncodedEvent {
    let payload = match event {
        Event::Uploaded {
            owner, source, spec, ..
        } => to_json(&v1::Uploaded {
            owner_id: *owner.as_uuid(),
            source: v1::Source {
                key: source.key.clone(),
                file_name: source.file_name.clone(),
                size_bytes: source.size_bytes,
                content_type: source.content_type.clone(),
            },
            spec: v1::Spec::from(spec),
        }),
        Event::ProcessingStarted { job, attempt, .. } => to_json(&v1::ProcessingStarted {
            job: *job,
            attempt: *attempt,
        }),
        Event::Completed {
            job,
            attempt,
            archive,
            ..
        } => to_json(&v1::Completed {
            job: *job,
            attempt: *attempt,
            archive: v1::Archive {
                key: archive.key.clone(),
                size_bytes: archive.size_bytes,
                sha256: archive.sha256.clone(),
                frame_count: archive.frame_count,
            },
        }),
        Event::Failed(failure) => to_json(&v1::Failed {
            job: failure.job,
            attempt: failure.attempt,
            code: failure.code.as_str().to_owned(),
            message: failure.message.clone(),
            will_retry: failure.will_retry,
        }),
        Event::ReprocessRequested { job, spec, .. } => to_json(&v1::ReprocessRequested {
            job: *job,
            spec: v1::Spec::from(spec),
        }),
        Event::Deleted { .. } => to_json(&v1::Deleted {}),
    };
    EncodedEvent {
        event_type: event.event_type(),
        schema_version: 1,
        payload,
    }
}

/// Decodes (and upcasts) a stored event. The only way bytes become domain events: loads and replays share it.
pub fn decode(envelope: &Envelope, payload: &[u8]) -> Result<Event, SchemaError> {
    let at = envelope.occurred_at;
    let version = envelope.schema_version;
    let kind = envelope.event_type.as_str();
    let p = PayloadParser {
        event_type: kind,
        version,
        payload,
    };
    Ok(match (kind, version) {
        ("uploaded", 1) => {
            let v: v1::Uploaded = p.parse()?;
            Event::Uploaded {
                video_id: envelope.video_id,
                owner: UserId::from_uuid(v.owner_id),
                source: SourceObject {
                    key: v.source.key,
                    file_name: v.source.file_name,
                    size_bytes: v.source.size_bytes,
                    content_type: v.source.content_type,
                },
                spec: v.spec.into(),
                at,
            }
        }
        ("processing_started", 1) => {
            let v: v1::ProcessingStarted = p.parse()?;
            Event::ProcessingStarted {
                job: v.job,
                attempt: v.attempt,
                at,
            }
        }
        ("completed", 1) => {
            let v: v1::Completed = p.parse()?;
            Event::Completed {
                job: v.job,
                attempt: v.attempt,
                archive: ArchiveObject {
                    key: v.archive.key,
                    size_bytes: v.archive.size_bytes,
                    sha256: v.archive.sha256,
                    frame_count: v.archive.frame_count,
                },
                at,
            }
        }
        ("failed", 1) => {
            let v: v1::Failed = p.parse()?;
            let code = v.code.parse::<FailureCode>().map_err(|e| SchemaError::Invalid {
                event_type: kind.to_owned(),
                reason: e.to_string(),
            })?;
            Event::Failed(AttemptFailure {
                job: v.job,
                attempt: v.attempt,
                code,
                message: v.message,
                will_retry: v.will_retry,
                at,
            })
        }
        ("reprocess_requested", 1) => {
            let v: v1::ReprocessRequested = p.parse()?;
            Event::ReprocessRequested {
                job: v.job,
                spec: v.spec.into(),
                at,
            }
        }
        ("deleted", 1) => {
            let _: v1::Deleted = p.parse()?;
            Event::Deleted { at }
        }
        _ => {
            return Err(SchemaError::UnknownVersion {
                event_type: kind.to_owned(),
                version,
            });
        }
    })
}

struct PayloadParser<'a> {
    event_type: &'a str,
    version: u32,
    payload: &'a [u8],
}

impl PayloadParser<'_> {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, SchemaError> {
        serde_json::from_slice(self.payload).map_err(|source| SchemaError::Malformed {
            event_type: self.event_type.to_owned(),
            version: self.version,
            source,
        })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs (no maps with non-string keys, no failing Serialize impls) cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|e| unreachable!("payload serialisation failed: {e}"))
}

/// A spec in its persisted form (the `spec` object of the current `uploaded` payload), as read models store it.
pub fn spec_to_json(spec: &ExtractionSpec) -> serde_json::Value {
    serde_json::to_value(v1::Spec::from(spec))
        .unwrap_or_else(|e| unreachable!("spec serialisation failed: {e}"))
}

/// A spec stored by [`spec_to_json`] (or any v1 payload's `spec`) back in domain terms.
pub fn spec_from_json(value: &serde_json::Value) -> Result<ExtractionSpec, serde_json::Error> {
    <v1::Spec as serde::Deserialize>::deserialize(value).map(ExtractionSpec::from)
}
