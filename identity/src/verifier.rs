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
        self.check(&verified)?;
        Ok(verified)
    }

    /// Checks an already verified token again, now: expiry and revocations (a long-lived request, such as a
    /// live stream, calls this while it is open).
    pub fn check(&self, verified: &VerifiedToken) -> Result<(), TokenError> {
        if verified.is_expired_at(SystemTime::now()) {
            return Err(TokenError::Expired);
        }
        let issued = verified.issued();
        let revoked = |what| self.revocations.is_revoked(what, issued);
        let revoked = verified
            .revocation_ids()
            .iter()
            .any(|id| revoked(Revoked::Token(id)))
            || match verified.principal() {
                Principal::User { user, session } => {
                    revoked(Revoked::Session(session)) || revoked(Revoked::User(*user.as_uuid()))
                }
                Principal::Share { owner, .. } => revoked(Revoked::User(*owner.as_uuid())),
            };
        if revoked {
            metrics::counter!("fiapx_auth_rejected_total", "reason" => "revoked").increment(1);
            return Err(TokenError::Revoked);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fiapx_domain::{UserId, VideoId};
    use uuid::Uuid;

    use super::*;
    use crate::token::{RootKey, VerifiedToken};

    /// A root key, an empty revocation set and a verifier on both, a time a minute from now, a user.
    struct Setup {
        root: RootKey,
        revocations: Revocations,
        verifier: TokenVerifier,
        later: SystemTime,
        user: UserId,
    }

    fn setup() -> Setup {
        let root = RootKey::generate();
        let revocations = Revocations::default();
        Setup {
            verifier: TokenVerifier::new(root.public(), revocations.clone()),
            root,
            revocations,
            later: SystemTime::now() + Duration::from_secs(60),
            user: UserId::from_uuid(Uuid::now_v7()),
        }
    }

    #[tokio::test]
    async fn revoking_a_session_or_the_owner_stops_its_tokens() {
        let Setup {
            root,
            revocations,
            verifier,
            later,
            user,
        } = setup();
        let session = Uuid::now_v7();
        let token = root.mint_user(user, session, later).unwrap();
        let share = root
            .mint_share(user, VideoId::from_uuid(Uuid::now_v7()), later)
            .unwrap()
            .token;
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

    #[tokio::test]
    async fn one_share_is_revoked_by_its_revocation_id() {
        let Setup {
            root,
            revocations,
            verifier,
            later,
            user,
        } = setup();
        let video = VideoId::from_uuid(Uuid::now_v7());
        let first = root.mint_share(user, video, later).unwrap();
        let second = root.mint_share(user, video, later).unwrap();
        let parsed = verifier.verify(&first.token).unwrap();
        assert_eq!(
            parsed.revocation_ids(),
            std::slice::from_ref(&first.revocation_id)
        );
        revocations
            .revoke(Revoked::Token(&first.revocation_id), later)
            .await
            .unwrap();
        assert_eq!(verifier.check(&parsed).unwrap_err(), TokenError::Revoked);
        assert!(
            verifier.verify(&second.token).is_ok(),
            "the other share still works"
        );
    }

    #[tokio::test]
    async fn a_user_revoked_before_a_time_keeps_older_tokens_out_and_lets_newer_ones_in() {
        let Setup {
            root,
            revocations,
            verifier,
            later,
            user,
        } = setup();
        let old = root.mint_user(user, Uuid::now_v7(), later).unwrap();
        let old_share = root
            .mint_share(user, VideoId::from_uuid(Uuid::now_v7()), later)
            .unwrap()
            .token;
        // Cut-offs are whole seconds: two seconds from now covers every token minted so far.
        revocations
            .revoke_issued_before(
                Revoked::User(*user.as_uuid()),
                SystemTime::now() + Duration::from_secs(2),
                later,
            )
            .await
            .unwrap();
        assert_eq!(verifier.verify(&old).unwrap_err(), TokenError::Revoked);
        assert_eq!(verifier.verify(&old_share).unwrap_err(), TokenError::Revoked);
        // A cut-off at the second they were minted covers none of them: minted at or after it, they work.
        let issued = VerifiedToken::parse(&old, root.public()).unwrap().issued();
        assert!(issued > SystemTime::UNIX_EPOCH);
        revocations
            .revoke_issued_before(Revoked::User(*user.as_uuid()), issued, later)
            .await
            .unwrap();
        assert!(verifier.verify(&old).is_ok());
        assert!(verifier.verify(&old_share).is_ok());
    }
}
