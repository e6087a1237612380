//! Versioned JSON payloads, one module per version. A version is never edited once released: a change of shape
//! is a new version plus an upcaster in `codec.rs`, and the old version stays decodable forever.

pub mod v1;
