//! Offline verification of a bearer token: the root public key and the revocation set, no network round trip.

use std::time::SystemTime;

use biscuit_auth::PublicKey;

use crate::revocation::{Revocations, Revoked};
use crate::token::{Principal, TokenError, VerifiedToken};

/// Verifies tokens: the root public key and the revocation set. Cheap to clone behind an `Arc`.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    public: PublicKey,
    revocations: Revocations,
}

impl TokenVerifier {
    /// A verifier for tokens signed by the private half of `public`.
    pub const fn new(public: PublicKey, revocations: Revocations) -> Self {
        Self { public, revocations }
    }

    /// The revocation set it checks (and that logout writes to).
    pub const fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Verifies `token` now: signature, expiry, revocation of its blocks, session and user.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let verified = VerifiedToken::parse(token, self.public)?;
        if verified.is_expired_at(SystemTime::now()) {
            return Err(TokenError::Expired);
        }
        let revoked = verified
            .revocation_ids()
            .iter()
            .any(|id| self.revocations.is_revoked(Revoked::Token(id)))
            || match verified.principal() {
                Principal::User { user, session } => {
                    self.revocations.is_revoked(Revoked::Session(session))
                        || self.revocations.is_revoked(Revoked::User(*user.as_uuid()))
                }
                Principal::Share { owner, .. } => {
                    self.revocations.is_revoked(Revoked::User(*owner.as_uuid()))
                }
            };
        if revoked {
            metrics::counter!("fiapx_auth_rejected_total", "reason" => "revoked").increment(1);
            return Err(TokenError::Revoked);
        }
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fiapx_domain::{UserId, VideoId};
    use uuid::Uuid;

    use super::*;
    use crate::token::RootKey;

    #[tokio::test]
    async fn revoking_a_session_or_the_owner_stops_its_tokens() {
        let root = RootKey::generate();
        let revocations = Revocations::default();
        let verifier = TokenVerifier::new(root.public(), revocations.clone());
        let later = SystemTime::now() + Duration::from_secs(60);
        let user = UserId::from_uuid(Uuid::now_v7());
        let session = Uuid::now_v7();
        let token = root.mint_user(user, session, later).unwrap();
        let share = root
            .mint_share(user, VideoId::from_uuid(Uuid::now_v7()), later)
            .unwrap();
        assert!(verifier.verify(&token).is_ok());
        assert!(verifier.verify(&share).is_ok());
        revocations
            .revoke(Revoked::Session(session), later)
            .await
            .unwrap();
        assert_eq!(verifier.verify(&token).unwrap_err(), TokenError::Revoked);
        assert!(
            verifier.verify(&share).is_ok(),
            "a share outlives its owner's session"
        );
        revocations
            .revoke(Revoked::User(*user.as_uuid()), later)
            .await
            .unwrap();
        assert_eq!(verifier.verify(&share).unwrap_err(), TokenError::Revoked);
        let expired = root
            .mint_user(user, Uuid::now_v7(), SystemTime::now() - Duration::from_secs(1))
            .unwrap();
        assert_eq!(verifier.verify(&expired).unwrap_err(), TokenError::Expired);
        assert_eq!(verifier.verify("garbage").unwrap_err(), TokenError::Invalid);
    }
}
