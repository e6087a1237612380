//! Offline verification of a bearer token: the root public key and the revocation set, no network round trip.
//!
//! Replicas' clocks differ. A verifier with a clock-skew leeway judges every token at *now less the leeway*: its
//! expiry (the datalog check and [`VerifiedToken::is_expired_at`]) and how long the revocations that could hit it
//! last (`until`). Both move together, so the leeway never outlives a revocation: a revocation lasts until the
//! expiry of the tokens it covers, and at any instant where a token is accepted past that expiry the revocation
//! still counts too. The issue-time cut-off of a re-enabled user is not shifted: a token minted up to a leeway
//! before it stays revoked (a later sign-in gets a fresh one), because shifting it would let tokens minted
//! before a disable back in.

use std::time::{Duration, SystemTime};

use biscuit_auth::PublicKey;

use crate::revocation::{Revocations, Revoked};
use crate::token::{Principal, TokenError, VerifiedToken};

/// Verifies tokens: the root public key, the revocation set and the clock-skew leeway. Cheap to clone behind an
/// `Arc`.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    public: PublicKey,
    revocations: Revocations,
    clock_skew: Duration,
}

impl TokenVerifier {
    /// A verifier for tokens signed by the private half of `public`, with no clock-skew leeway.
    pub const fn new(public: PublicKey, revocations: Revocations) -> Self {
        Self {
            public,
            revocations,
            clock_skew: Duration::ZERO,
        }
    }

    /// The same verifier accepting a token whose expiry passed less than `leeway` ago on this machine's clock
    /// (the replica that minted it, or this one, may run ahead or behind).
    #[must_use]
    pub const fn with_clock_skew(mut self, leeway: Duration) -> Self {
        self.clock_skew = leeway;
        self
    }

    /// The revocation set it checks (and that logout writes to).
    pub const fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Verifies `token` now: signature, expiry, revocation of its blocks, session and user. The token it returns
    /// is authorized with this verifier's leeway.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let verified = VerifiedToken::parse(token, self.public)?.with_clock_skew(self.clock_skew);
        self.check(&verified)?;
        Ok(verified)
    }

    /// Checks an already verified token again, now: expiry and revocations (a long-lived request, such as a
    /// live stream, calls this while it is open).
    pub fn check(&self, verified: &VerifiedToken) -> Result<(), TokenError> {
        self.check_at(verified, SystemTime::now())
    }

    /// [`Self::check`] when this machine's clock says `now`.
    fn check_at(&self, verified: &VerifiedToken, now: SystemTime) -> Result<(), TokenError> {
        // One instant for the expiry and the revocations' lifetimes: see the module's documentation.
        let at = now.checked_sub(self.clock_skew).unwrap_or(SystemTime::UNIX_EPOCH);
        if at > verified.expires() {
            return Err(TokenError::Expired);
        }
        let issued = verified.issued();
        let revoked = |what| self.revocations.is_revoked(what, issued, at);
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
    use fiapx_domain::{UserId, VideoId};
    use uuid::Uuid;

    use super::*;
    use crate::token::{Operation, RootKey, VerifiedToken};

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

    const LEEWAY: Duration = Duration::from_secs(30);

    fn ago(secs: u64) -> SystemTime {
        SystemTime::now() - Duration::from_secs(secs)
    }

    #[test]
    fn a_token_expired_less_than_the_leeway_ago_is_accepted_and_one_beyond_it_is_not() {
        let Setup {
            root,
            revocations,
            user,
            ..
        } = setup();
        let verifier = TokenVerifier::new(root.public(), revocations).with_clock_skew(LEEWAY);
        let video = VideoId::from_uuid(Uuid::now_v7());
        // Expiries are whole seconds: 20 s and 40 s ago stay clear of the 30 s edge.
        let recent = root.mint_user(user, Uuid::now_v7(), ago(20)).unwrap();
        let recent_share = root.mint_share(user, video, ago(20)).unwrap().token;
        let old = root.mint_user(user, Uuid::now_v7(), ago(40)).unwrap();
        let old_share = root.mint_share(user, video, ago(40)).unwrap().token;

        let accepted = verifier.verify(&recent).unwrap();
        assert_eq!(
            accepted.authorize(Operation::Account, SystemTime::now()),
            Ok(accepted.principal()),
            "the token's own datalog expiry check is judged with the leeway too"
        );
        let share = verifier.verify(&recent_share).unwrap();
        assert_eq!(
            share.authorize(Operation::Read(video), SystemTime::now()),
            Ok(share.principal())
        );
        assert_eq!(verifier.verify(&old).unwrap_err(), TokenError::Expired);
        assert_eq!(verifier.verify(&old_share).unwrap_err(), TokenError::Expired);
        // Checked again later (a live stream does, every second), the accepted one lapses past the leeway.
        assert_eq!(
            verifier.check_at(&accepted, SystemTime::now() + Duration::from_secs(20)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            accepted.authorize(Operation::Account, SystemTime::now() + Duration::from_secs(20)),
            Err(TokenError::Expired)
        );

        // Without a leeway (a verifier's default, and a token only parsed) expiry is exact.
        let strict = TokenVerifier::new(root.public(), Revocations::default());
        assert_eq!(strict.verify(&recent).unwrap_err(), TokenError::Expired);
        let parsed = VerifiedToken::parse(&recent, root.public()).unwrap();
        assert_eq!(
            parsed.authorize(Operation::Account, SystemTime::now()),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_live_token_seen_by_a_clock_ahead_of_its_minter_lasts_the_leeway_and_no_more() {
        let Setup {
            root,
            revocations,
            user,
            later,
            ..
        } = setup();
        let verifier = TokenVerifier::new(root.public(), revocations).with_clock_skew(LEEWAY);
        let verified = verifier
            .verify(&root.mint_user(user, Uuid::now_v7(), later).unwrap())
            .unwrap();
        // `later` is a minute from now (whole seconds in the token): 80 s on, this machine's clock says it expired
        // 20 s ago; 100 s on, 40 s ago.
        let within = SystemTime::now() + Duration::from_secs(80);
        let beyond = SystemTime::now() + Duration::from_secs(100);
        assert!(!verified.is_expired_at(within));
        assert_eq!(verifier.check_at(&verified, within), Ok(()));
        assert_eq!(
            verified.authorize(Operation::Account, within),
            Ok(verified.principal())
        );
        assert!(verified.is_expired_at(beyond));
        assert_eq!(verifier.check_at(&verified, beyond), Err(TokenError::Expired));
        assert_eq!(
            verified.authorize(Operation::Account, beyond),
            Err(TokenError::Expired)
        );
    }

    #[tokio::test]
    async fn the_leeway_never_brings_a_revoked_token_back() {
        let Setup {
            root,
            revocations,
            later,
            user,
            ..
        } = setup();
        let verifier = TokenVerifier::new(root.public(), revocations.clone()).with_clock_skew(LEEWAY);
        // A share and a session token that expired 20 s ago (inside the leeway), each revoked only until its
        // expiry, as the auth service does (a share until its expiry, a session for one access lifetime): the
        // revocation has ended on this clock, but the token is judged 30 s back, where it still holds.
        let expired = ago(20);
        let share = root
            .mint_share(user, VideoId::from_uuid(Uuid::now_v7()), expired)
            .unwrap();
        let session = Uuid::now_v7();
        let token = root.mint_user(user, session, expired).unwrap();
        assert!(verifier.verify(&share.token).is_ok());
        assert!(verifier.verify(&token).is_ok());
        revocations
            .revoke(Revoked::Token(&share.revocation_id), expired)
            .await
            .unwrap();
        revocations
            .revoke(Revoked::Session(session), expired)
            .await
            .unwrap();
        assert_eq!(verifier.verify(&share.token).unwrap_err(), TokenError::Revoked);
        assert_eq!(verifier.verify(&token).unwrap_err(), TokenError::Revoked);

        // A user disabled and enabled again: what was minted before the enable stays revoked, even a second before
        // the cut-off (well inside the leeway): the issue-time cut-off is never shifted.
        let other = UserId::from_uuid(Uuid::now_v7());
        let before = root.mint_user(other, Uuid::now_v7(), later).unwrap();
        let issued = VerifiedToken::parse(&before, root.public()).unwrap().issued();
        revocations
            .revoke_issued_before(
                Revoked::User(*other.as_uuid()),
                issued + Duration::from_secs(1),
                later,
            )
            .await
            .unwrap();
        assert_eq!(verifier.verify(&before).unwrap_err(), TokenError::Revoked);
    }
}
