//! Who a caller is: the FIAP X access token format (biscuit, Ed25519) — [`RootKey`] mints user and share tokens,
//! [`VerifiedToken`] reads and authorizes them, [`TokenVerifier`] checks one offline with the root public key and
//! the shared [`Revocations`] (a NATS KV bucket followed in memory) — and where the root key comes from
//! ([`KeySource`], [`generate_key_file`]) and how any key file is kept ([`read_key_file`], [`write_key_file`]).
//!
//! It must not know HTTP (no poem, no status codes: callers map [`TokenError`] to their own answers), the
//! accounts database, the event store or storage.

mod key_file;
mod revocation;
#[cfg(feature = "test-support")]
pub mod test_support;
mod token;
mod verifier;

pub use biscuit_auth::PublicKey;
pub use key_file::{KeyFileError, KeyLoadError, KeySource, generate_key_file, read_key_file, write_key_file};
pub use revocation::{RevocationError, Revocations, Revoked};
pub use token::{
    KeyError, MintedShare, Operation, Principal, RootKey, TokenError, VerifiedToken, public_key_from_hex,
    seconds_until,
};
pub use verifier::TokenVerifier;
