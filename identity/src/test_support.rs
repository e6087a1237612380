//! For tests of services that verify tokens: one root key per test process, bearer values for any user, and the
//! verifier to attach to the application under test.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use fiapx_domain::UserId;
use uuid::Uuid;

use crate::{Revocations, RootKey, TokenVerifier};

/// The test process's root key.
pub fn test_root_key() -> &'static RootKey {
    static KEY: OnceLock<RootKey> = OnceLock::new();
    KEY.get_or_init(RootKey::generate)
}

/// A verifier for tokens of [`test_root_key`], with no revocations.
pub fn test_verifier() -> Arc<TokenVerifier> {
    Arc::new(TokenVerifier::new(
        test_root_key().public(),
        Revocations::default(),
    ))
}

/// An access token for `user`, valid for an hour.
pub fn token_for(user: Uuid) -> String {
    test_root_key()
        .mint_user(
            UserId::from_uuid(user),
            Uuid::now_v7(),
            SystemTime::now() + Duration::from_secs(3600),
        )
        .expect("mint a test token")
}

/// `Bearer <token>` for `user`: the value of an `Authorization` header.
pub fn bearer(user: Uuid) -> String {
    format!("Bearer {}", token_for(user))
}
