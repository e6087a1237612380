//! The FIAP X access token format (biscuit, Ed25519) and its offline verification.
//!
//! Two kinds of token share one format and one verifier:
//! - a **user** token (minted at login/refresh) whose authority block says `user(<id>)`, `session(<family>)`,
//!   `issued(<t>)` and `expires(<t>)` with a matching time check: it may do anything its user may;
//! - a **share** token (minted by `POST /videos/{id}/shares`) whose authority block says `share(<video>)`,
//!   `owner(<user>)`, `issued(<t>)`, `expires(<t>)` and checks that the request reads that one video before that
//!   time.
//!
//! `issued` lets a user's revocation cover only what was minted before it (re-enabling an account does not revive
//! its old tokens); a token without it (minted before the fact existed) counts as issued at the epoch.
//!
//! Clocks differ between replicas: a token read through [`crate::TokenVerifier`] is judged with its clock-skew
//! leeway, as if it were that much earlier than this machine's clock says (its expiry check included), so a token
//! minted by a replica whose clock runs ahead is not refused early. [`VerifiedToken::parse`] alone has no leeway.
//!
//! Only facts of the authority block (signed with the root key) count: a holder may append blocks to narrow a
//! token, but the authorizer trusts no fact from an appended block, so appending `user(...)` or `share(...)`
//! grants nothing. The private key is needed only to mint; every service verifies with the public key.

use std::fmt;
use std::time::{Duration, SystemTime};

use biscuit_auth::macros::{authorizer, biscuit};
use biscuit_auth::{Algorithm, AuthorizerLimits, Biscuit, KeyPair, PrivateKey, PublicKey};
use fiapx_domain::{UserId, VideoId};
use uuid::Uuid;

/// Datalog evaluation limits. biscuit-auth's default time budget is 1 ms per evaluation: a thread paused for a
/// millisecond on a busy machine (a 2-core CI runner, a noisy neighbour) then refuses a valid token. Facts and
/// iterations stay at the library's bounds, so a crafted block still cannot make evaluation expensive.
fn limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_time: Duration::from_millis(50),
        ..AuthorizerLimits::default()
    }
}

/// A key could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid Ed25519 key: expected 64 hex characters")]
pub struct KeyError;

/// The root key pair, able to mint tokens. Its `Debug` never shows the private half.
pub struct RootKey(KeyPair);

impl RootKey {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        Self(KeyPair::new())
    }

    /// Reads a private key in hex (as written by `fiapx keys generate`).
    pub fn from_private_hex(hex: &str) -> Result<Self, KeyError> {
        let private = PrivateKey::from_bytes_hex(hex.trim(), Algorithm::Ed25519).map_err(|_| KeyError)?;
        Ok(Self(KeyPair::from(&private)))
    }

    /// The private key in hex: secret, for writing key files only.
    pub fn private_hex(&self) -> String {
        self.0.private().to_bytes_hex()
    }

    /// The public half, which is all a verifier needs.
    pub fn public(&self) -> PublicKey {
        self.0.public()
    }

    /// Mints a user token valid until `expires`.
    pub fn mint_user(&self, user: UserId, session: Uuid, expires: SystemTime) -> Result<String, TokenError> {
        let user = user.to_string();
        let session = session.to_string();
        let issued = SystemTime::now();
        biscuit!(
            r#"
            user({user});
            session({session});
            issued({issued});
            expires({expires});
            check if time($time), $time <= {expires};
            "#
        )
        .build(&self.0)
        .and_then(|token| token.to_base64())
        .map_err(|_| TokenError::Mint)
    }

    /// Mints a share token: read-only access to `video` (owned by `owner`) until `expires`. Returns the token
    /// and the revocation id of its authority block (hex), which is what revokes this one token.
    pub fn mint_share(
        &self,
        owner: UserId,
        video: VideoId,
        expires: SystemTime,
    ) -> Result<MintedShare, TokenError> {
        let owner = owner.to_string();
        let video = video.to_string();
        let issued = SystemTime::now();
        let token = biscuit!(
            r#"
            share({video});
            owner({owner});
            issued({issued});
            expires({expires});
            check if time($time), $time <= {expires};
            check if video($v), $v == {video};
            check if operation($op), ["read"].contains($op);
            "#
        )
        .build(&self.0)
        .map_err(|_| TokenError::Mint)?;
        let revocation_id = token
            .revocation_identifiers()
            .first()
            .map(hex::encode)
            .ok_or(TokenError::Mint)?;
        Ok(MintedShare {
            token: token.to_base64().map_err(|_| TokenError::Mint)?,
            revocation_id,
        })
    }
}

/// A freshly minted share token.
pub struct MintedShare {
    /// The token (base64), shown to the owner once.
    pub token: String,
    /// Hex revocation id of its authority block: `Revoked::Token(revocation_id)` stops it.
    pub revocation_id: String,
}

impl fmt::Debug for MintedShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token itself.
        f.debug_struct("MintedShare")
            .field("revocation_id", &self.revocation_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootKey(public: {})", self.0.public().to_bytes_hex())
    }
}

/// Reads a public key in hex.
pub fn public_key_from_hex(hex: &str) -> Result<PublicKey, KeyError> {
    PublicKey::from_bytes_hex(hex.trim(), Algorithm::Ed25519).map_err(|_| KeyError)
}

/// Why a token was refused. The HTTP toolkit maps each to a stable API code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a biscuit, not signed by our root key, tampered with, or missing the facts we mint.
    #[error("the token is malformed or not signed by this service")]
    Invalid,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
    /// Revoked (logout, refresh-token reuse, disabled user).
    #[error("the token has been revoked")]
    Revoked,
    /// A valid token without the right for this request.
    #[error("the token does not allow this request")]
    Denied,
    /// Minting failed (a bug).
    #[error("a token could not be minted")]
    Mint,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user (session = refresh-token family).
    User {
        /// The user.
        user: UserId,
        /// The session (refresh-token family) the token was minted in.
        session: Uuid,
    },
    /// A share: read access to one video of its owner.
    Share {
        /// The video's owner.
        owner: UserId,
        /// The one video.
        video: VideoId,
    },
}

/// What a request does, as told to the authorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Read one video (view, timeline, live status, download).
    Read(VideoId),
    /// Change one video (reprocess, delete, share).
    Write(VideoId),
    /// Act as the user without naming a video (list, upload, settings).
    Account,
}

impl Operation {
    const fn name(self) -> &'static str {
        match self {
            Self::Read(_) => "read",
            Self::Write(_) => "write",
            Self::Account => "account",
        }
    }

    const fn video(self) -> Option<VideoId> {
        match self {
            Self::Read(video) | Self::Write(video) => Some(video),
            Self::Account => None,
        }
    }
}

/// A token whose signature checked out against the root public key, with what its authority block says.
#[derive(Clone)]
pub struct VerifiedToken {
    token: Biscuit,
    principal: Principal,
    issued: SystemTime,
    expires: SystemTime,
    revocation_ids: Vec<String>,
    /// How far behind this machine's clock the token is judged (zero unless a verifier set it).
    clock_skew: Duration,
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token itself.
        f.debug_struct("VerifiedToken")
            .field("principal", &self.principal)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl VerifiedToken {
    /// Checks the signature (public key only) and reads the authority block. Does not look at revocation.
    pub fn parse(token: &str, root: PublicKey) -> Result<Self, TokenError> {
        let token = Biscuit::from_base64(token.trim(), root).map_err(|_| TokenError::Invalid)?;
        let mut reader = authorizer!("")
            .set_limits(limits())
            .build(&token)
            .map_err(|_| TokenError::Invalid)?;
        let strings =
            |reader: &mut biscuit_auth::Authorizer, rule: &str| -> Result<Vec<String>, TokenError> {
                let rows: Vec<(String,)> = reader.query(rule).map_err(|_| TokenError::Invalid)?;
                Ok(rows.into_iter().map(|(value,)| value).collect())
            };
        let one_uuid = |values: Vec<String>| -> Result<Option<Uuid>, TokenError> {
            match values.as_slice() {
                [] => Ok(None),
                [value] => value.parse().map(Some).map_err(|_| TokenError::Invalid),
                _ => Err(TokenError::Invalid),
            }
        };
        let user = one_uuid(strings(&mut reader, "data($u) <- user($u)")?)?;
        let session = one_uuid(strings(&mut reader, "data($s) <- session($s)")?)?;
        let share = one_uuid(strings(&mut reader, "data($v) <- share($v)")?)?;
        let owner = one_uuid(strings(&mut reader, "data($o) <- owner($o)")?)?;
        let expires: Vec<(SystemTime,)> = reader
            .query("data($e) <- expires($e)")
            .map_err(|_| TokenError::Invalid)?;
        let [(expires,)] = expires.as_slice() else {
            return Err(TokenError::Invalid);
        };
        let issued: Vec<(SystemTime,)> = reader
            .query("data($i) <- issued($i)")
            .map_err(|_| TokenError::Invalid)?;
        let issued = match issued.as_slice() {
            [] => SystemTime::UNIX_EPOCH,
            [(issued,)] => *issued,
            _ => return Err(TokenError::Invalid),
        };
        let principal = match (user, session, share, owner) {
            (Some(user), Some(session), None, None) => Principal::User {
                user: UserId::from_uuid(user),
                session,
            },
            (None, None, Some(video), Some(owner)) => Principal::Share {
                owner: UserId::from_uuid(owner),
                video: VideoId::from_uuid(video),
            },
            _ => return Err(TokenError::Invalid),
        };
        let revocation_ids = token.revocation_identifiers().iter().map(hex::encode).collect();
        Ok(Self {
            token,
            principal,
            issued,
            expires: *expires,
            revocation_ids,
            clock_skew: Duration::ZERO,
        })
    }

    /// The same token, judged with `leeway` of clock skew from now on (set by [`crate::TokenVerifier`]).
    pub(crate) const fn with_clock_skew(mut self, leeway: Duration) -> Self {
        self.clock_skew = leeway;
        self
    }

    /// The instant the token is judged at when this machine's clock says `now`: `now` less the leeway.
    fn judged_at(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.clock_skew).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Who the token speaks for.
    pub const fn principal(&self) -> Principal {
        self.principal
    }

    /// When it was minted (the epoch for tokens minted before `issued` existed).
    pub const fn issued(&self) -> SystemTime {
        self.issued
    }

    /// When it stops working.
    pub const fn expires(&self) -> SystemTime {
        self.expires
    }

    /// Whether it has expired at `now` (on this machine's clock): its expiry lies more than the clock-skew leeway
    /// before `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.judged_at(now) > self.expires
    }

    /// The revocation ids of every block, hex-encoded.
    pub fn revocation_ids(&self) -> &[String] {
        &self.revocation_ids
    }

    /// Runs the authorizer for `operation` at `now`: every check of every block must pass, and a policy must
    /// allow it (a user token for anything; a share token only to read its own video). The authorizer's
    /// `time` is `now` less the clock-skew leeway, for the token's own expiry check and any a holder appended.
    pub fn authorize(&self, operation: Operation, now: SystemTime) -> Result<Principal, TokenError> {
        let op = operation.name();
        let time = self.judged_at(now);
        let video = operation
            .video()
            .map(|video| video.to_string())
            .unwrap_or_default();
        let mut builder = authorizer!(
            r#"
            time({time});
            operation({op});
            allow if user($u);
            allow if share($v), video($v), operation("read");
            "#
        );
        if operation.video().is_some() {
            builder = builder
                .fact(biscuit_auth::macros::fact!("video({video})"))
                .map_err(|_| TokenError::Invalid)?;
        }
        let mut authorizer = builder
            .set_limits(limits())
            .build(&self.token)
            .map_err(|_| TokenError::Invalid)?;
        authorizer.authorize().map_err(|_| {
            if self.is_expired_at(now) {
                TokenError::Expired
            } else {
                TokenError::Denied
            }
        })?;
        Ok(self.principal)
    }
}

/// Seconds from `now` to `then` (0 if past); for `expires_in` fields.
pub fn seconds_until(then: SystemTime, now: SystemTime) -> u64 {
    then.duration_since(now).unwrap_or(Duration::ZERO).as_secs()
}

#[cfg(test)]
mod tests {
    use biscuit_auth::macros::block;

    use super::*;

    fn ids() -> (UserId, VideoId, VideoId) {
        (
            UserId::from_uuid(Uuid::now_v7()),
            VideoId::from_uuid(Uuid::now_v7()),
            VideoId::from_uuid(Uuid::now_v7()),
        )
    }

    fn later(secs: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(secs)
    }

    /// A new root key and a share token it minted for a minute: (root, owner, the shared video, another video,
    /// token).
    fn minted_share() -> (RootKey, UserId, VideoId, VideoId, String) {
        let root = RootKey::generate();
        let (owner, video, other) = ids();
        let token = root.mint_share(owner, video, later(60)).unwrap().token;
        (root, owner, video, other, token)
    }

    #[test]
    fn a_user_token_round_trips_and_allows_its_user_everything() {
        let root = RootKey::generate();
        let (user, video, _) = ids();
        let session = Uuid::now_v7();
        let token = root.mint_user(user, session, later(60)).unwrap();
        let verified = VerifiedToken::parse(&token, root.public()).unwrap();
        assert_eq!(verified.principal(), Principal::User { user, session });
        for op in [
            Operation::Account,
            Operation::Read(video),
            Operation::Write(video),
        ] {
            assert_eq!(
                verified.authorize(op, SystemTime::now()),
                Ok(verified.principal())
            );
        }
        assert_eq!(verified.revocation_ids().len(), 1);
    }

    #[test]
    fn another_root_key_or_a_flipped_byte_is_invalid() {
        let root = RootKey::generate();
        let (user, _, _) = ids();
        let token = root.mint_user(user, Uuid::now_v7(), later(60)).unwrap();
        let other = RootKey::generate();
        assert_eq!(
            VerifiedToken::parse(&token, other.public()).unwrap_err(),
            TokenError::Invalid
        );
        let mut bytes = token.into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            VerifiedToken::parse(&tampered, root.public()).unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            VerifiedToken::parse("not a token", root.public()).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn an_expired_token_says_so() {
        let root = RootKey::generate();
        let (user, _, _) = ids();
        let expires = SystemTime::now() - Duration::from_secs(1);
        let token = root.mint_user(user, Uuid::now_v7(), expires).unwrap();
        let verified = VerifiedToken::parse(&token, root.public()).unwrap();
        assert!(verified.is_expired_at(SystemTime::now()));
        assert_eq!(
            verified.authorize(Operation::Account, SystemTime::now()),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_share_token_reads_its_video_only() {
        let (root, owner, video, other, token) = minted_share();
        let verified = VerifiedToken::parse(&token, root.public()).unwrap();
        let now = SystemTime::now();
        assert_eq!(
            verified.authorize(Operation::Read(video), now),
            Ok(Principal::Share { owner, video })
        );
        for op in [
            Operation::Read(other),
            Operation::Write(video),
            Operation::Account,
        ] {
            assert_eq!(verified.authorize(op, now), Err(TokenError::Denied), "{op:?}");
        }
        assert_eq!(
            verified.authorize(Operation::Read(video), later(61)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn blocks_appended_by_the_holder_grant_nothing() {
        let (root, owner, video, other, token) = minted_share();
        let parsed = Biscuit::from_base64(&token, root.public()).unwrap();
        let (someone, other_text) = (owner.to_string(), other.to_string());
        let widened = parsed
            .append(block!(
                r#"
                user({someone});
                share({other_text});
                operation("write");
                "#
            ))
            .unwrap()
            .to_base64()
            .unwrap();
        let verified = VerifiedToken::parse(&widened, root.public()).unwrap();
        let now = SystemTime::now();
        assert_eq!(verified.principal(), Principal::Share { owner, video });
        assert_eq!(
            verified.authorize(Operation::Read(other), now),
            Err(TokenError::Denied)
        );
        assert_eq!(
            verified.authorize(Operation::Account, now),
            Err(TokenError::Denied)
        );
        assert_eq!(
            verified.authorize(Operation::Write(video), now),
            Err(TokenError::Denied)
        );
        // Narrowing still works: the holder may add a check that makes the token stricter.
        let narrowed = parsed
            .append(block!(r#"check if operation("nothing");"#))
            .unwrap()
            .to_base64()
            .unwrap();
        let verified = VerifiedToken::parse(&narrowed, root.public()).unwrap();
        assert_eq!(verified.revocation_ids().len(), 2);
        assert_eq!(
            verified.authorize(Operation::Read(video), now),
            Err(TokenError::Denied)
        );
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let root = RootKey::generate();
        let again = RootKey::from_private_hex(&root.private_hex()).unwrap();
        assert_eq!(again.public(), root.public());
        let public = public_key_from_hex(&root.public().to_bytes_hex()).unwrap();
        assert_eq!(public, root.public());
        assert!(RootKey::from_private_hex("zz").is_err());
        assert!(!format!("{root:?}").contains(&root.private_hex()));
    }
}
