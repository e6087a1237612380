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
    use crate::token::{MintedShare, Operation, RootKey, VerifiedToken};

    const LEEWAY: Duration = Duration::from_secs(30);

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

    impl Setup {
        /// A verifier on the same key and revocation set, with [`LEEWAY`] of clock skew.
        fn lenient_verifier(&self) -> TokenVerifier {
            TokenVerifier::new(self.root.public(), self.revocations.clone()).with_clock_skew(LEEWAY)
        }

        /// A token of the user's `session`, expiring at `expires`.
        fn user_token(&self, session: Uuid, expires: SystemTime) -> String {
            self.root.mint_user(self.user, session, expires).unwrap()
        }

        /// A share of the user's `video`, expiring at `expires`.
        fn share(&self, video: VideoId, expires: SystemTime) -> MintedShare {
            self.root.mint_share(self.user, video, expires).unwrap()
        }

        /// Revokes `what` until `later`.
        async fn revoke(&self, what: Revoked<'_>) {
            self.revocations.revoke(what, self.later).await.unwrap();
        }

        /// Revokes the tokens of `user` issued before `cutoff`, until `later`.
        async fn revoke_issued_before(&self, user: UserId, cutoff: SystemTime) {
            self.revocations
                .revoke_issued_before(Revoked::User(*user.as_uuid()), cutoff, self.later)
                .await
                .unwrap();
        }
    }

    fn new_video() -> VideoId {
        VideoId::from_uuid(Uuid::now_v7())
    }

    fn ago(secs: u64) -> SystemTime {
        SystemTime::now() - Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn revoking_a_session_or_the_owner_stops_its_tokens() {
        let s = setup();
        let session = Uuid::now_v7();
        let token = s.user_token(session, s.later);
        let share = s.share(new_video(), s.later).token;
        assert!(s.verifier.verify(&token).is_ok());
        assert!(s.verifier.verify(&share).is_ok());
        s.revoke(Revoked::Session(session)).await;
        assert_eq!(s.verifier.verify(&token).unwrap_err(), TokenError::Revoked);
        assert!(
            s.verifier.verify(&share).is_ok(),
            "a share outlives its owner's session"
        );
        s.revoke(Revoked::User(*s.user.as_uuid())).await;
        assert_eq!(s.verifier.verify(&share).unwrap_err(), TokenError::Revoked);
        let expired = s.user_token(Uuid::now_v7(), ago(1));
        assert_eq!(s.verifier.verify(&expired).unwrap_err(), TokenError::Expired);
        assert_eq!(s.verifier.verify("garbage").unwrap_err(), TokenError::Invalid);
    }

    #[tokio::test]
    async fn one_share_is_revoked_by_its_revocation_id() {
        let s = setup();
        let video = new_video();
        let first = s.share(video, s.later);
        let second = s.share(video, s.later);
        let parsed = s.verifier.verify(&first.token).unwrap();
        assert_eq!(
            parsed.revocation_ids(),
            std::slice::from_ref(&first.revocation_id)
        );
        s.revoke(Revoked::Token(&first.revocation_id)).await;
        assert_eq!(s.verifier.check(&parsed).unwrap_err(), TokenError::Revoked);
        assert!(
            s.verifier.verify(&second.token).is_ok(),
            "the other share still works"
        );
    }

    #[tokio::test]
    async fn a_user_revoked_before_a_time_keeps_older_tokens_out_and_lets_newer_ones_in() {
        let s = setup();
        let old = s.user_token(Uuid::now_v7(), s.later);
        let old_share = s.share(new_video(), s.later).token;
        // Cut-offs are whole seconds: two seconds from now covers every token minted so far.
        s.revoke_issued_before(s.user, SystemTime::now() + Duration::from_secs(2))
            .await;
        assert_eq!(s.verifier.verify(&old).unwrap_err(), TokenError::Revoked);
        assert_eq!(s.verifier.verify(&old_share).unwrap_err(), TokenError::Revoked);
        // A cut-off at the second they were minted covers none of them: minted at or after it, they work.
        let issued = VerifiedToken::parse(&old, s.root.public()).unwrap().issued();
        assert!(issued > SystemTime::UNIX_EPOCH);
        s.revoke_issued_before(s.user, issued).await;
        assert!(s.verifier.verify(&old).is_ok());
        assert!(s.verifier.verify(&old_share).is_ok());
    }

    #[test]
    fn a_token_expired_less_than_the_leeway_ago_is_accepted_and_one_beyond_it_is_not() {
        let s = setup();
        let verifier = s.lenient_verifier();
        let video = new_video();
        // Expiries are whole seconds: 20 s and 40 s ago stay clear of the 30 s edge.
        let recent = s.user_token(Uuid::now_v7(), ago(20));
        let recent_share = s.share(video, ago(20)).token;
        let old = s.user_token(Uuid::now_v7(), ago(40));
        let old_share = s.share(video, ago(40)).token;

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
        let strict = TokenVerifier::new(s.root.public(), Revocations::default());
        assert_eq!(strict.verify(&recent).unwrap_err(), TokenError::Expired);
        let parsed = VerifiedToken::parse(&recent, s.root.public()).unwrap();
        assert_eq!(
            parsed.authorize(Operation::Account, SystemTime::now()),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_live_token_seen_by_a_clock_ahead_of_its_minter_lasts_the_leeway_and_no_more() {
        let s = setup();
        let verifier = s.lenient_verifier();
        let verified = verifier.verify(&s.user_token(Uuid::now_v7(), s.later)).unwrap();
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
        let s = setup();
        let verifier = s.lenient_verifier();
        // A share and a session token that expired 20 s ago (inside the leeway), each revoked only until its
        // expiry, as the auth service does (a share until its expiry, a session for one access lifetime): the
        // revocation has ended on this clock, but the token is judged 30 s back, where it still holds.
        let expired = ago(20);
        let share = s.share(new_video(), expired);
        let session = Uuid::now_v7();
        let token = s.user_token(session, expired);
        assert!(verifier.verify(&share.token).is_ok());
        assert!(verifier.verify(&token).is_ok());
        s.revocations
            .revoke(Revoked::Token(&share.revocation_id), expired)
            .await
            .unwrap();
        s.revocations
            .revoke(Revoked::Session(session), expired)
            .await
            .unwrap();
        assert_eq!(verifier.verify(&share.token).unwrap_err(), TokenError::Revoked);
        assert_eq!(verifier.verify(&token).unwrap_err(), TokenError::Revoked);

        // A user disabled and enabled again: what was minted before the enable stays revoked, even a second before
        // the cut-off (well inside the leeway): the issue-time cut-off is never shifted.
        let other = UserId::from_uuid(Uuid::now_v7());
        let before = s.root.mint_user(other, Uuid::now_v7(), s.later).unwrap();
        let issued = VerifiedToken::parse(&before, s.root.public()).unwrap().issued();
        s.revoke_issued_before(other, issued + Duration::from_secs(1))
            .await;
        assert_eq!(verifier.verify(&before).unwrap_err(), TokenError::Revoked);
    }
}
