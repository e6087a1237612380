//! The domain's closed sets of stable strings (failure codes, video statuses) as OpenAPI string enums.
//!
//! The values and their strings are the domain's (`ALL`, `as_str`); [`Named`] is only their API view, so a value
//! added to the domain appears in the document and the API without being named twice.

use std::borrow::Cow;

use fiapx_domain::{FailureCode, VideoStatus};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A domain enum with stable snake_case strings, shown in the API as a string enum of those strings.
pub trait StableName: Copy + PartialEq + Send + Sync + 'static {
    /// The schema's name in the OpenAPI document.
    const SCHEMA_NAME: &'static str;
    /// The schema's description.
    const DESCRIPTION: &'static str;
    /// Every value the API shows, in a stable order.
    fn all() -> &'static [Self];
    /// The stable string.
    fn as_str(self) -> &'static str;
}

impl StableName for FailureCode {
    const SCHEMA_NAME: &'static str = "FailureCodeName";
    const DESCRIPTION: &'static str =
        "Every failure code (the `failure.code` of a video and of a `video.failed` webhook).";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        FailureCode::as_str(self)
    }
}

impl StableName for VideoStatus {
    const SCHEMA_NAME: &'static str = "VideoStatus";
    const DESCRIPTION: &'static str = "Where a video is in its life: `queued` (waiting for a processor), \
        `processing`, `retry_scheduled` (a transient fault; another attempt will come), `completed` (the archive \
        is ready), `failed` (for good, see `failure`; can be reprocessed), `deleted`.";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        VideoStatus::as_str(self)
    }
}

/// The API view of a [`StableName`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<T>(pub T);

/// A failure code in the API.
pub type FailureCodeName = Named<FailureCode>;
/// A video status in the API.
pub type StatusName = Named<VideoStatus>;

impl<T: StableName> Named<T> {
    /// The API value of a stored string (a read-model column). A string that is none of the values (which only
    /// a bug or a hand-edited row can produce) is `None`.
    pub fn parse(stored: &str) -> Option<Self> {
        T::all()
            .iter()
            .copied()
            .find(|value| value.as_str() == stored)
            .map(Self)
    }
}

impl<T> From<T> for Named<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: StableName> Type for Named<T> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        T::SCHEMA_NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(T::SCHEMA_NAME.to_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(T::SCHEMA_NAME.to_owned(), |_| MetaSchema {
            description: Some(T::DESCRIPTION),
            enum_items: T::all().iter().map(|value| Value::from(value.as_str())).collect(),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<T: StableName> ParseFromJSON for Named<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        match value.as_str().and_then(Self::parse) {
            Some(named) => Ok(named),
            None => Err(ParseError::expected_type(value)),
        }
    }
}

impl<T: StableName> ParseFromParameter for Named<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value).ok_or_else(|| ParseError::custom(format!("`{value}` is not a {}", T::SCHEMA_NAME)))
    }
}

impl<T: StableName> ToJSON for Named<T> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: StableName + std::fmt::Debug>() {
        for &value in T::all() {
            let named = Named::from(value);
            assert_eq!(named.to_json(), Some(Value::from(value.as_str())));
            assert_eq!(Named::<T>::parse(value.as_str()), Some(named));
            assert_eq!(Named::<T>::parse_from_json(named.to_json()).ok(), Some(named));
            assert_eq!(Named::<T>::parse_from_parameter(value.as_str()).ok(), Some(named));
        }
        assert_eq!(Named::<T>::parse("no_such_value"), None);
        assert!(Named::<T>::parse_from_json(Some(Value::from(3))).is_err());
        assert!(Named::<T>::parse_from_parameter("Queued").is_err());
    }

    #[test]
    fn every_value_has_the_domain_string_in_the_api_and_maps_back() {
        round_trips::<FailureCode>();
        round_trips::<VideoStatus>();
        assert_eq!(StatusName::parse("new"), None, "a video the API shows exists");
    }
}
