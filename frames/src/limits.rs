//! Resource limits for one extraction, from configuration.

use serde::{Deserialize, Serialize};

/// Bounds on what one extraction may consume; exceeding one is a typed, non-retryable error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest input accepted, in bytes (also bounds the spool file of a streamed source).
    pub max_input_bytes: u64,
    /// Longest video accepted, in seconds.
    pub max_duration_seconds: f64,
    /// Widest coded picture accepted.
    pub max_width: u32,
    /// Tallest coded picture accepted.
    pub max_height: u32,
    /// Most frames one archive may hold.
    pub max_frames: u64,
    /// Wall-clock budget for the whole decode, in seconds.
    pub max_decode_seconds: f64,
    /// Decode errors tolerated before the input is declared corrupt. FFmpeg conceals damage, so without a bound a
    /// broken file would silently yield smeared frames.
    pub max_decode_errors: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 8 << 30,
            max_duration_seconds: 4.0 * 3600.0,
            max_width: 7680,
            max_height: 4320,
            max_frames: 50_000,
            max_decode_seconds: 3600.0,
            max_decode_errors: 0,
        }
    }
}
