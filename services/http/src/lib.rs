//! What every FIAP X HTTP API shares: the JSON error type with stable codes ([`ApiError`], [`ErrorCode`],
//! [`json_error`]), the caller's identity ([`Owner`]: a biscuit bearer token verified offline by
//! [`TokenVerifier`] with the root public key and the shared [`Revocations`]), the token format itself
//! ([`RootKey`] mints, [`VerifiedToken`] reads) keyset pagination cursors ([`Cursor`], [`page_limit`], [`Page`]) and the API's view of an extraction spec
//! ([`SpecForm`]).
//!
//! It must not know about any service's resources, the event store, the read models or S3: services map their
//! own failures into [`ApiError`].

mod auth;
mod cursor;
mod error;
mod failure;
mod revocation;
mod spec;
#[cfg(feature = "test-support")]
pub mod test_support;
mod token;

pub use auth::{Owner, TokenVerifier, access_token_from_query, token_error};
pub use cursor::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, page_limit};
pub use error::{ApiError, ErrorBody, ErrorCode, json_error};
pub use failure::FailureCodeName;
pub use revocation::{RevocationError, Revocations, Revoked};
pub use spec::{FormatName, SpecForm, invalid_spec};
pub use token::{
    KeyError, Operation, Principal, RootKey, TokenError, VerifiedToken, public_key_from_hex, seconds_until,
};
