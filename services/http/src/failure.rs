//! The failure codes as they appear in the API: one enum in the OpenAPI document, shared by every service that
//! shows a failure (a video's `failure.code`, the failure code table, `video.failed` webhooks).

use fiapx_domain::FailureCode;
use poem_openapi::Enum;

/// Every failure code (the `failure.code` of a video and of a `video.failed` webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum FailureCodeName {
    /// The content is not a video container/codec we can decode.
    UnsupportedFormat,
    /// The file is damaged beyond decoding.
    CorruptInput,
    /// The file ends before its declared duration.
    TruncatedInput,
    /// Larger (in bytes) than the configured maximum.
    TooLarge,
    /// Longer than the configured maximum duration.
    TooLong,
    /// Larger than the configured maximum resolution.
    ResolutionTooHigh,
    /// The spec would produce more frames than allowed.
    TooManyFrames,
    /// Decoding took longer than the configured maximum.
    DecodeTimeout,
    /// Object storage could not be reached (transient: retried).
    StorageUnavailable,
    /// Every delivery of the job failed (final; reprocess to try again).
    AttemptsExhausted,
    /// A bug or an unclassified fault (transient: retried).
    Internal,
}

impl From<FailureCode> for FailureCodeName {
    fn from(code: FailureCode) -> Self {
        // Exhaustive both ways: a code added to the domain does not compile until it is named here.
        match code {
            FailureCode::UnsupportedFormat => Self::UnsupportedFormat,
            FailureCode::CorruptInput => Self::CorruptInput,
            FailureCode::TruncatedInput => Self::TruncatedInput,
            FailureCode::TooLarge => Self::TooLarge,
            FailureCode::TooLong => Self::TooLong,
            FailureCode::ResolutionTooHigh => Self::ResolutionTooHigh,
            FailureCode::TooManyFrames => Self::TooManyFrames,
            FailureCode::DecodeTimeout => Self::DecodeTimeout,
            FailureCode::StorageUnavailable => Self::StorageUnavailable,
            FailureCode::AttemptsExhausted => Self::AttemptsExhausted,
            FailureCode::Internal => Self::Internal,
        }
    }
}

impl From<FailureCodeName> for FailureCode {
    fn from(name: FailureCodeName) -> Self {
        match name {
            FailureCodeName::UnsupportedFormat => Self::UnsupportedFormat,
            FailureCodeName::CorruptInput => Self::CorruptInput,
            FailureCodeName::TruncatedInput => Self::TruncatedInput,
            FailureCodeName::TooLarge => Self::TooLarge,
            FailureCodeName::TooLong => Self::TooLong,
            FailureCodeName::ResolutionTooHigh => Self::ResolutionTooHigh,
            FailureCodeName::TooManyFrames => Self::TooManyFrames,
            FailureCodeName::DecodeTimeout => Self::DecodeTimeout,
            FailureCodeName::StorageUnavailable => Self::StorageUnavailable,
            FailureCodeName::AttemptsExhausted => Self::AttemptsExhausted,
            FailureCodeName::Internal => Self::Internal,
        }
    }
}

impl FailureCodeName {
    /// The API name of a stored code string (a read-model column). A string that is no code (which only a bug or
    /// a hand-edited row can produce) is `None`.
    pub fn parse(stored: &str) -> Option<Self> {
        stored.parse::<FailureCode>().ok().map(Self::from)
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
        }
        assert_eq!(FailureCodeName::parse("no_such_code"), None);
    }
}
