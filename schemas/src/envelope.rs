//! Event metadata, carried as message headers next to the JSON payload.

use fiapx_domain::VideoId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Header names. `Nats-Msg-Id` carries the event id so that a retried publish is de-duplicated by the server.
pub mod header {
    /// The event id (also the de-duplication key).
    pub const EVENT_ID: &str = "Nats-Msg-Id";
    /// The event type, e.g. `uploaded` (also the subject's last token).
    pub const EVENT_TYPE: &str = "Fiapx-Event-Type";
    /// The payload's schema version.
    pub const SCHEMA_VERSION: &str = "Fiapx-Schema-Version";
    /// RFC 3339 time of the fact.
    pub const OCCURRED_AT: &str = "Fiapx-Occurred-At";
    /// The id shared by every event caused by one user request.
    pub const CORRELATION_ID: &str = "Fiapx-Correlation-Id";
    /// The id of the event or request that caused this one.
    pub const CAUSATION_ID: &str = "Fiapx-Causation-Id";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
}

/// Everything about an event except its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Unique id of this event (UUID v7).
    pub event_id: Uuid,
    /// The video (aggregate) the event belongs to.
    #[schemars(with = "Uuid")]
    #[serde(with = "video_id_serde")]
    pub video_id: VideoId,
    /// Stable snake_case event type.
    pub event_type: String,
    /// Version of the payload schema, from 1.
    pub schema_version: u32,
    /// When the fact happened (RFC 3339).
    #[schemars(with = "String")]
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Groups every event caused by one request.
    pub correlation_id: Uuid,
    /// The event or request that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// W3C `traceparent` of the producing span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// Headers that are missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A required header is absent.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// A header does not parse.
    #[error("malformed header {name}: {value:?}")]
    Malformed {
        /// Header name.
        name: &'static str,
        /// What it held.
        value: String,
    },
}

impl Envelope {
    /// The headers that carry this envelope (the video id travels in the subject instead).
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (header::EVENT_ID, self.event_id.to_string()),
            (header::EVENT_TYPE, self.event_type.clone()),
            (header::SCHEMA_VERSION, self.schema_version.to_string()),
            (
                header::OCCURRED_AT,
                self.occurred_at.format(&Rfc3339).unwrap_or_default(),
            ),
            (header::CORRELATION_ID, self.correlation_id.to_string()),
        ];
        if let Some(causation) = self.causation_id {
            headers.push((header::CAUSATION_ID, causation.to_string()));
        }
        if let Some(traceparent) = &self.traceparent {
            headers.push((header::TRACEPARENT, traceparent.clone()));
        }
        headers
    }

    /// Rebuilds an envelope from headers found by `get` and the video id from the subject.
    pub fn from_headers<'a>(
        video_id: VideoId,
        get: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, EnvelopeError> {
        let required = |name| get(name).ok_or(EnvelopeError::Missing(name));
        let malformed = |name: &'static str, value: &str| EnvelopeError::Malformed {
            name,
            value: value.to_owned(),
        };
        let uuid = |name| {
            let value = required(name)?;
            Uuid::parse_str(value).map_err(|_| malformed(name, value))
        };
        let version = required(header::SCHEMA_VERSION)?;
        let occurred = required(header::OCCURRED_AT)?;
        Ok(Self {
            event_id: uuid(header::EVENT_ID)?,
            video_id,
            event_type: required(header::EVENT_TYPE)?.to_owned(),
            schema_version: version
                .parse()
                .map_err(|_| malformed(header::SCHEMA_VERSION, version))?,
            occurred_at: OffsetDateTime::parse(occurred, &Rfc3339)
                .map_err(|_| malformed(header::OCCURRED_AT, occurred))?,
            correlation_id: uuid(header::CORRELATION_ID)?,
            causation_id: match get(header::CAUSATION_ID) {
                None => None,
                Some(value) => {
                    Some(Uuid::parse_str(value).map_err(|_| malformed(header::CAUSATION_ID, value))?)
                }
            },
            traceparent: get(header::TRACEPARENT).map(str::to_owned),
        })
    }
}

mod video_id_serde {
    use fiapx_domain::VideoId;
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub(super) fn serialize<S: Serializer>(id: &VideoId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<VideoId, D::Error> {
        Uuid::deserialize(deserializer).map(VideoId::from_uuid)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            event_id: Uuid::from_u128(7),
            video_id: VideoId::from_uuid(Uuid::from_u128(1)),
            event_type: "uploaded".into(),
            schema_version: 1,
            occurred_at: time::macros::datetime!(2026-11-22 10:00:00.123 UTC),
            correlation_id: Uuid::from_u128(8),
            causation_id: Some(Uuid::from_u128(9)),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        }
    }

    #[test]
    fn headers_round_trip() {
        let env = envelope();
        let headers: HashMap<_, _> = env.to_headers().into_iter().collect();
        let back =
            Envelope::from_headers(env.video_id, |name| headers.get(name).map(String::as_str)).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let env = envelope();
        let mut headers: HashMap<_, _> = env.to_headers().into_iter().collect();
        headers.remove(header::CORRELATION_ID);
        let err =
            Envelope::from_headers(env.video_id, |name| headers.get(name).map(String::as_str)).unwrap_err();
        assert_eq!(err, EnvelopeError::Missing(header::CORRELATION_ID));
        headers.insert(header::CORRELATION_ID, "x".into());
        headers.insert(header::SCHEMA_VERSION, "one".into());
        let err =
            Envelope::from_headers(env.video_id, |name| headers.get(name).map(String::as_str)).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::Malformed {
                name: header::SCHEMA_VERSION,
                value: "one".into()
            }
        );
    }
}
