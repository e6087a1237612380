//! Auth service settings.

use std::path::PathBuf;
use std::time::Duration;

use fiapx_identity::KeySource;
use secrecy::SecretString;
use serde::Deserialize;

/// Keys, token lifetimes, password hashing cost and abuse limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// The root private key in hex (64 characters). Only the auth service needs it; prefer `private_key_file`.
    pub private_key: Option<SecretString>,
    /// A file holding the root private key in hex (written by `fiapx keys generate`).
    pub private_key_file: Option<PathBuf>,
    /// The root public key in hex: all that services other than auth need (derived from the private key when
    /// that is given).
    pub public_key: Option<String>,
    /// NATS KV bucket of revoked tokens, sessions and users.
    pub revocations_bucket: String,
    /// Access token lifetime (seconds).
    pub access_ttl_secs: u64,
    /// Refresh token lifetime (seconds); also the lifetime of a revocation entry.
    pub refresh_ttl_secs: u64,
    /// How long a spent refresh token may still be presented (seconds) for a new pair of its session instead of
    /// being taken for a stolen copy: a page reloaded while its renewal was in flight never saw the new pair and
    /// presents the old token again. Past it, reuse revokes the session. 0 turns the grace off.
    pub refresh_reuse_grace_secs: u64,
    /// Longest share a user may create (seconds).
    pub max_share_ttl_secs: u64,
    /// Clock-skew leeway (seconds): a token whose expiry passed less than this long ago on this machine's clock is
    /// still accepted (the replica that minted it may run ahead). Revocations last as long (see
    /// `fiapx_identity::TokenVerifier`). 0 makes expiry exact.
    pub clock_skew_secs: u64,
    /// argon2id cost.
    pub argon2: Argon2Settings,
    /// Abuse limits.
    pub limits: LimitSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            private_key: None,
            private_key_file: None,
            public_key: None,
            revocations_bucket: "auth_revocations".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_reuse_grace_secs: 30,
            max_share_ttl_secs: 30 * 24 * 3600,
            clock_skew_secs: 30,
            argon2: Argon2Settings::default(),
            limits: LimitSettings::default(),
        }
    }
}

impl AuthSettings {
    /// Where this process finds the root key.
    pub fn keys(&self) -> KeySource<'_> {
        KeySource {
            private_key: self.private_key.as_ref(),
            private_key_file: self.private_key_file.as_deref(),
            public_key: self.public_key.as_deref(),
        }
    }

    /// The clock-skew leeway of token checks.
    pub const fn clock_skew(&self) -> Duration {
        Duration::from_secs(self.clock_skew_secs)
    }

    /// How long the revocation bucket keeps an entry: the longest token lifetime, plus the leeway past it during
    /// which a token is still accepted (and its revocation must still be there).
    pub fn revocation_max_age(&self) -> Duration {
        let longest = self
            .refresh_ttl_secs
            .max(self.access_ttl_secs)
            .max(self.max_share_ttl_secs);
        Duration::from_secs(longest.saturating_add(self.clock_skew_secs))
    }
}

/// argon2id parameters (OWASP's first recommended set by default: 19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct Argon2Settings {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Attempts allowed before 429 (a burst of `attempts`, refilled evenly over `window_secs`), per process: see
/// docs/architecture.md (limits are per replica).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Login attempts per e-mail per login window.
    pub login_attempts_per_email: u32,
    /// Login attempts per client address per login window.
    pub login_attempts_per_client: u32,
    /// The login window (seconds).
    pub login_window_secs: u64,
    /// Registrations per client address per register window.
    pub register_attempts_per_client: u32,
    /// The register window (seconds).
    pub register_window_secs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_attempts_per_email: 5,
            login_attempts_per_client: 30,
            login_window_secs: 60,
            register_attempts_per_client: 20,
            register_window_secs: 3600,
        }
    }
}
