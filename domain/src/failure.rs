//! Why a processing attempt failed, as a closed set of stable codes.

use std::fmt;
use std::str::FromStr;

/// A typed processing failure. The string form is stable: it is persisted in events and shown by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
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
    /// Object storage could not be reached (transient).
    StorageUnavailable,
    /// Every delivery of the job failed.
    AttemptsExhausted,
    /// A bug or an unclassified fault.
    Internal,
}

impl FailureCode {
    /// Every code, in a stable order.
    pub const ALL: [Self; 11] = [
        Self::UnsupportedFormat,
        Self::CorruptInput,
        Self::TruncatedInput,
        Self::TooLarge,
        Self::TooLong,
        Self::ResolutionTooHigh,
        Self::TooManyFrames,
        Self::DecodeTimeout,
        Self::StorageUnavailable,
        Self::AttemptsExhausted,
        Self::Internal,
    ];

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedFormat => "unsupported_format",
            Self::CorruptInput => "corrupt_input",
            Self::TruncatedInput => "truncated_input",
            Self::TooLarge => "too_large",
            Self::TooLong => "too_long",
            Self::ResolutionTooHigh => "resolution_too_high",
            Self::TooManyFrames => "too_many_frames",
            Self::DecodeTimeout => "decode_timeout",
            Self::StorageUnavailable => "storage_unavailable",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::Internal => "internal",
        }
    }

    /// Whether another attempt may succeed. Bad input never gets better by retrying, and a decode that blew its
    /// time budget is treated as a limit of the input (like duration or resolution), not as a transient fault.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::StorageUnavailable | Self::Internal)
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code string that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure code `{0}`")]
pub struct UnknownFailureCode(pub String);

impl FromStr for FailureCode {
    type Err = UnknownFailureCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownFailureCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_strings() {
        for code in FailureCode::ALL {
            assert_eq!(code.as_str().parse::<FailureCode>(), Ok(code));
        }
        assert!("nope".parse::<FailureCode>().is_err());
    }

    #[test]
    fn bad_input_is_never_retryable() {
        for code in [
            FailureCode::UnsupportedFormat,
            FailureCode::CorruptInput,
            FailureCode::TruncatedInput,
            FailureCode::TooLarge,
            FailureCode::TooLong,
            FailureCode::ResolutionTooHigh,
            FailureCode::TooManyFrames,
            FailureCode::DecodeTimeout,
            FailureCode::AttemptsExhausted,
        ] {
            assert!(!code.is_retryable(), "{code}");
        }
        assert!(FailureCode::StorageUnavailable.is_retryable());
    }
}
