//! The failure codes as they appear in the API: one enum in the OpenAPI document, shared by every service that
//! shows a failure (a video's `failure.code`, the failure code table, `video.failed` webhooks).
//!
//! The codes and their strings are the domain's table (`FailureCode::ALL`, `as_str`, `FromStr`); this is only
//! the OpenAPI view of it, so a code added to the domain appears here without being named twice.

use std::borrow::Cow;

use fiapx_domain::FailureCode;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// Every failure code (the `failure.code` of a video and of a `video.failed` webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCodeName(pub FailureCode);

impl From<FailureCode> for FailureCodeName {
    fn from(code: FailureCode) -> Self {
        Self(code)
    }
}

impl From<FailureCodeName> for FailureCode {
    fn from(name: FailureCodeName) -> Self {
        name.0
    }
}

impl FailureCodeName {
    /// The API name of a stored code string (a read-model column). A string that is no code (which only a bug or
    /// a hand-edited row can produce) is `None`.
    pub fn parse(stored: &str) -> Option<Self> {
        stored.parse::<FailureCode>().ok().map(Self)
    }
}

impl Type for FailureCodeName {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "FailureCodeName".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| MetaSchema {
            description: Some(
                "Every failure code (the `failure.code` of a video and of a `video.failed` webhook).",
            ),
            enum_items: FailureCode::ALL
                .iter()
                .map(|code| Value::from(code.as_str()))
                .collect(),
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

impl ParseFromJSON for FailureCodeName {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        match value.as_str().and_then(Self::parse) {
            Some(name) => Ok(name),
            None => Err(ParseError::expected_type(value)),
        }
    }
}

impl ToJSON for FailureCodeName {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    #[test]
    fn every_code_has_the_domain_string_in_the_api_and_maps_back() {
        for code in FailureCode::ALL {
            let name = FailureCodeName::from(code);
            assert_eq!(name.to_json(), Some(serde_json::Value::from(code.as_str())));
            assert_eq!(FailureCode::from(name), code);
            assert_eq!(FailureCodeName::parse(code.as_str()), Some(name));
            assert_eq!(FailureCodeName::parse_from_json(name.to_json()).ok(), Some(name));
        }
        assert_eq!(FailureCodeName::parse("no_such_code"), None);
        assert!(FailureCodeName::parse_from_json(Some(Value::from(3))).is_err());
    }
}
