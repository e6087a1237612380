//! FIAP X users and access: accounts in PostgreSQL with argon2id passwords, sessions of biscuit access tokens
//! (minted with `fiapx-identity`) with single-use rotating refresh tokens, revocation through the shared NATS KV
//! set, read-only shares of one video, login/registration rate limits, and the operator commands behind
//! `fiapx users`.
//!
//! It is the only service that holds the root private key; every other service verifies tokens offline with the
//! public key (`fiapx_identity::TokenVerifier`). It must not know about the event store or storage: the share
//! endpoint checks ownership on the `videos` read model.

mod accounts;
mod api;
pub mod entity;
mod limits;
mod password;
mod settings;

pub use accounts::{Accounts, AuthError, IssuedSession, LOCALES, NewAccount, normalise_email};
pub use api::{AuthApi, ShareView, UserView, auth_error};
pub use limits::Limits;
pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordPolicyError, Passwords, check_policy};
pub use settings::{Argon2Settings, AuthSettings, LimitSettings};
