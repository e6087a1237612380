//! Accounts and sessions: registration, login, refresh-token rotation with reuse detection, logout, operator
//! commands. HTTP-agnostic: [`crate::AuthApi`] and the `fiapx users` command both call this.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fiapx_domain::UserId;
use fiapx_identity::{Revocations, Revoked, RootKey, TokenError};
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr, TransactionTrait,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use crate::entity::{refresh_token, share, user};
use crate::password::{PasswordPolicyError, Passwords, check_policy};
use crate::settings::AuthSettings;

/// What can go wrong, kept apart from how HTTP shows it.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The e-mail is not an address.
    #[error("the e-mail address is not valid")]
    InvalidEmail,
    /// A field is empty or too long.
    #[error("{0}")]
    InvalidField(&'static str),
    /// The password breaks the policy.
    #[error(transparent)]
    WeakPassword(#[from] PasswordPolicyError),
    /// The e-mail is registered already.
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    /// Unknown e-mail or wrong password (one answer for both).
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// The current password given to change it is not the account's.
    #[error("the current password is not right")]
    WrongCurrentPassword,
    /// The refresh token is unknown.
    #[error("unknown refresh token")]
    UnknownRefreshToken,
    /// The refresh token expired.
    #[error("the refresh token has expired")]
    RefreshExpired,
    /// The refresh token (or its session, or its user) was revoked, or was reused.
    #[error("the session has been revoked")]
    Revoked,
    /// No such user (operator commands, `/me` after deletion).
    #[error("no such user")]
    NoSuchUser,
    /// The service has no private key and cannot mint.
    #[error("this process cannot issue tokens (no private key configured)")]
    CannotMint,
    /// Minting failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] crate::password::HashError),
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] DbErr),
    /// The revocation bucket failed.
    #[error(transparent)]
    Revocation(#[from] fiapx_identity::RevocationError),
}

/// Locales we write messages in.
pub const LOCALES: [&str; 2] = ["en", "pt-BR"];

/// A signed-in session's tokens. `Debug` leaves the tokens out.
#[derive(Clone)]
pub struct IssuedSession {
    /// The user.
    pub user: user::Model,
    /// Biscuit access token.
    pub access_token: String,
    /// When it expires.
    pub access_expires_at: OffsetDateTime,
    /// Opaque refresh token (only its hash is stored).
    pub refresh_token: String,
    /// When it expires.
    pub refresh_expires_at: OffsetDateTime,
}

/// A new account's fields, as typed by the user. `Debug` leaves the password out.
#[derive(Clone)]
pub struct NewAccount {
    /// E-mail (normalised here).
    pub email: String,
    /// Password in clear (hashed here, never stored or logged).
    pub password: String,
    /// Name shown to people.
    pub display_name: String,
    /// `en` or `pt-BR`; `None` for `en`.
    pub locale: Option<String>,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("user", &self.user)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("display_name", &self.display_name)
            .field("locale", &self.locale)
            .finish_non_exhaustive()
    }
}

/// Accounts, passwords and sessions over PostgreSQL, with revocations in NATS KV.
#[derive(Clone)]
pub struct Accounts {
    db: DatabaseConnection,
    passwords: Passwords,
    root: Option<Arc<RootKey>>,
    revocations: Revocations,
    settings: AuthSettings,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

/// Trims and lowercases an e-mail and checks its shape (one `@`, a dot in the domain, no spaces, at most 254).
pub fn normalise_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(AuthError::InvalidEmail)
    }
}

fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn to_system(at: OffsetDateTime) -> SystemTime {
    SystemTime::from(at)
}

impl Accounts {
    /// Builds the service. `root` is needed to sign in (mint tokens); without it only operator commands work.
    pub fn new(
        db: DatabaseConnection,
        passwords: Passwords,
        root: Option<Arc<RootKey>>,
        revocations: Revocations,
        settings: AuthSettings,
    ) -> Self {
        Self {
            db,
            passwords,
            root,
            revocations,
            settings,
        }
    }

    /// The settings in use.
    pub const fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The database.
    pub const fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates an account (not signed in).
    pub async fn create_user(&self, account: NewAccount) -> Result<user::Model, AuthError> {
        let email = normalise_email(&account.email)?;
        let display_name = account.display_name.trim().to_owned();
        if display_name.is_empty() || display_name.chars().count() > 100 {
            return Err(AuthError::InvalidField(
                "the display name must have 1 to 100 characters",
            ));
        }
        let locale = account.locale.unwrap_or_else(|| "en".into());
        if !LOCALES.contains(&locale.as_str()) {
            return Err(AuthError::InvalidField("the locale must be en or pt-BR"));
        }
        check_policy(&account.password, &email)?;
        let password_hash = self.passwords.hash(account.password).await?;
        let now = OffsetDateTime::now_utc();
        let inserted = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email),
            display_name: Set(display_name),
            locale: Set(locale),
            password_hash: Set(password_hash),
            disabled_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await;
        match inserted {
            Ok(user) => {
                metrics::counter!("fiapx_auth_registrations_total").increment(1);
                info!(user.id = %user.id, "account created");
                Ok(user)
            }
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(AuthError::EmailTaken)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Creates an account and signs it in.
    pub async fn register(&self, account: NewAccount) -> Result<IssuedSession, AuthError> {
        let root = self.root()?;
        let user = self.create_user(account).await?;
        self.start_session(root, user).await
    }

    fn root(&self) -> Result<&RootKey, AuthError> {
        self.root.as_deref().ok_or(AuthError::CannotMint)
    }

    /// Checks the password and starts a session. An unknown e-mail, a wrong password and a disabled account give
    /// the same error, after the same argon2 work.
    pub async fn login(&self, email: &str, password: String) -> Result<IssuedSession, AuthError> {
        let root = self.root()?;
        let found = match normalise_email(email) {
            Ok(email) => {
                user::Entity::find()
                    .filter(user::Column::Email.eq(email))
                    .one(&self.db)
                    .await?
            }
            Err(_) => None,
        };
        let hash = found.as_ref().map(|user| user.password_hash.clone());
        let matches = self.passwords.verify(password, hash).await;
        match found {
            Some(user) if matches && user.disabled_at.is_none() => {
                metrics::counter!("fiapx_auth_logins_total", "outcome" => "ok").increment(1);
                info!(user.id = %user.id, "signed in");
                self.start_session(root, user).await
            }
            _ => {
                metrics::counter!("fiapx_auth_logins_total", "outcome" => "refused").increment(1);
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    async fn start_session(&self, root: &RootKey, user: user::Model) -> Result<IssuedSession, AuthError> {
        let family = Uuid::now_v7();
        let (refresh_token, refresh_expires_at) = self.insert_refresh(&self.db, family, user.id).await?;
        self.issue(root, user, family, refresh_token, refresh_expires_at)
    }

    async fn insert_refresh<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
        family: Uuid,
        user: Uuid,
    ) -> Result<(String, OffsetDateTime), AuthError> {
        let token = new_refresh_token();
        let now = OffsetDateTime::now_utc();
        let expires_at = now + Duration::from_secs(self.settings.refresh_ttl_secs);
        refresh_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            family_id: Set(family),
            user_id: Set(user),
            token_hash: Set(hash_refresh(&token)),
            expires_at: Set(expires_at),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
        }
        .insert(db)
        .await?;
        Ok((token, expires_at))
    }

    fn issue(
        &self,
        root: &RootKey,
        user: user::Model,
        family: Uuid,
        refresh_token: String,
        refresh_expires_at: OffsetDateTime,
    ) -> Result<IssuedSession, AuthError> {
        let access_expires_at =
            OffsetDateTime::now_utc() + Duration::from_secs(self.settings.access_ttl_secs);
        let access_token =
            root.mint_user(UserId::from_uuid(user.id), family, to_system(access_expires_at))?;
        Ok(IssuedSession {
            user,
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at,
        })
    }

    /// Exchanges a refresh token for a new pair. The presented token is spent; presenting it again within
    /// `refresh_reuse_grace_secs` gives another pair of the same session (a reloaded page that lost the new pair),
    /// and later revokes its whole session (someone else may hold a copy).
    pub async fn refresh(&self, token: &str) -> Result<IssuedSession, AuthError> {
        let root = self.root()?;
        let now = OffsetDateTime::now_utc();
        let txn = self.db.begin().await?;
        let Some(found) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(hash_refresh(token.trim())))
            .one(&txn)
            .await?
        else {
            return Err(AuthError::UnknownRefreshToken);
        };
        if found.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        // Marking it used only if nobody did first also settles two concurrent refreshes: one wins.
        let marked = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(found.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if marked.rows_affected == 0 {
            // Spent already. Within the grace it is the same client again (its page reloaded before it could
            // store the new pair): another pair of the same session. The newer pair stays valid; each stays
            // single-use.
            let grace = Duration::from_secs(self.settings.refresh_reuse_grace_secs);
            let spent_at = refresh_token::Entity::find_by_id(found.id)
                .one(&txn)
                .await?
                .and_then(|row| row.used_at);
            if spent_at.is_none_or(|at| now - at > grace) {
                drop(txn);
                warn!(session.id = %found.family_id, user.id = %found.user_id, "refresh token reused; revoking the session");
                metrics::counter!("fiapx_auth_refresh_reuse_total").increment(1);
                self.revoke_family(found.family_id).await?;
                return Err(AuthError::Revoked);
            }
            metrics::counter!("fiapx_auth_refresh_grace_total").increment(1);
        }
        if found.expires_at < now {
            return Err(AuthError::RefreshExpired);
        }
        let user = user::Entity::find_by_id(found.user_id)
            .one(&txn)
            .await?
            .ok_or(AuthError::Revoked)?;
        if user.disabled_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let (refresh_token, refresh_expires_at) = self.insert_refresh(&txn, found.family_id, user.id).await?;
        txn.commit().await?;
        self.issue(root, user, found.family_id, refresh_token, refresh_expires_at)
    }

    /// Ends the session the refresh token belongs to: its refresh tokens stop working and so do the access
    /// tokens minted in it. An unknown token is not an error (logging out twice is fine).
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let found = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(hash_refresh(token.trim())))
            .one(&self.db)
            .await?;
        if let Some(found) = found {
            self.revoke_family(found.family_id).await?;
            info!(session.id = %found.family_id, user.id = %found.user_id, "signed out");
        }
        Ok(())
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), AuthError> {
        refresh_token::Entity::update_many()
            .col_expr(
                refresh_token::Column::RevokedAt,
                Expr::value(OffsetDateTime::now_utc()),
            )
            .filter(refresh_token::Column::FamilyId.eq(family))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        // Access tokens of the session live at most one access lifetime more.
        let until = SystemTime::now() + Duration::from_secs(self.settings.access_ttl_secs);
        self.revocations.revoke(Revoked::Session(family), until).await?;
        Ok(())
    }

    /// Changes `user`'s password after checking the current one, and ends every other session of the user
    /// (their refresh tokens and the access tokens minted in them); `keep` (the session asking) stays signed in.
    /// A wrong current password is [`AuthError::WrongCurrentPassword`].
    pub async fn change_password(
        &self,
        user: UserId,
        keep: Uuid,
        current: String,
        new: String,
    ) -> Result<(), AuthError> {
        let Ok(found) = self.confirm_password(user, current).await else {
            metrics::counter!("fiapx_auth_password_changes_total", "outcome" => "refused").increment(1);
            return Err(AuthError::WrongCurrentPassword);
        };
        check_policy(&new, &found.email)?;
        let password_hash = self.passwords.hash(new).await?;
        let mut active: user::ActiveModel = found.into();
        active.password_hash = Set(password_hash);
        active.updated_at = Set(OffsetDateTime::now_utc());
        active.update(&self.db).await?;
        let others: Vec<Uuid> = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .distinct()
            .filter(refresh_token::Column::UserId.eq(*user.as_uuid()))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .filter(refresh_token::Column::FamilyId.ne(keep))
            .into_tuple()
            .all(&self.db)
            .await?;
        for family in &others {
            self.revoke_family(*family).await?;
        }
        metrics::counter!("fiapx_auth_password_changes_total", "outcome" => "ok").increment(1);
        info!(user.id = %user, sessions_ended = others.len(), "password changed");
        Ok(())
    }

    /// `user`, if `password` is theirs; [`AuthError::WrongCurrentPassword`] otherwise (for what a signed-in user
    /// confirms: a password change, closing the account).
    pub async fn confirm_password(&self, user: UserId, password: String) -> Result<user::Model, AuthError> {
        let found = self.user(user).await?;
        if self
            .passwords
            .verify(password, Some(found.password_hash.clone()))
            .await
        {
            Ok(found)
        } else {
            Err(AuthError::WrongCurrentPassword)
        }
    }

    /// Closes an account: every token it holds stops working at once and it cannot sign in (if it was not
    /// disabled already), then its row goes, and with it its refresh tokens and shares (`ON DELETE CASCADE`).
    /// What the other services hold of it is theirs to remove first (`services/fiapx/src/account.rs`).
    pub async fn delete_user(&self, user: UserId) -> Result<(), AuthError> {
        let found = self.user(user).await?;
        if found.disabled_at.is_none() {
            self.set_disabled(&found.email, true).await?;
        }
        user::Entity::delete_by_id(found.id).exec(&self.db).await?;
        info!(user.id = %found.id, "account deleted");
        Ok(())
    }

    /// One user.
    pub async fn user(&self, id: UserId) -> Result<user::Model, AuthError> {
        user::Entity::find_by_id(*id.as_uuid())
            .one(&self.db)
            .await?
            .ok_or(AuthError::NoSuchUser)
    }

    /// Every user, oldest first (operators).
    pub async fn list_users(&self) -> Result<Vec<user::Model>, AuthError> {
        Ok(user::Entity::find()
            .order_by_asc(user::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Disables (or re-enables) an account by e-mail. Disabling revokes its sessions and makes every token it
    /// holds (shares included) fail at the next check.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> Result<user::Model, AuthError> {
        let email = normalise_email(email)?;
        let found = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await?
            .ok_or(AuthError::NoSuchUser)?;
        let now = OffsetDateTime::now_utc();
        let mut active: user::ActiveModel = found.clone().into();
        active.disabled_at = Set(disabled.then_some(now));
        active.updated_at = Set(now);
        let updated = active.update(&self.db).await?;
        let key = Revoked::User(found.id);
        // Every token the user holds (sessions, shares) has expired by then.
        let until = to_system(now)
            + Duration::from_secs(
                self.settings
                    .access_ttl_secs
                    .max(self.settings.max_share_ttl_secs),
            );
        if disabled {
            refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
                .filter(refresh_token::Column::UserId.eq(found.id))
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&self.db)
                .await?;
            self.revocations.revoke(key, until).await?;
            info!(user.id = %found.id, "account disabled");
        } else {
            // Not lifted: what was minted before now (sessions, shares) stays revoked; new sign-ins work.
            self.revocations
                .revoke_issued_before(key, to_system(now), until)
                .await?;
            info!(user.id = %found.id, "account enabled");
        }
        Ok(updated)
    }

    /// Mints a share token for `video` of `owner`, valid for `ttl` (at most `max_share_ttl_secs`), and records
    /// it (without the token) so that the owner can list and revoke it. Returns the record and the token.
    pub async fn share(
        &self,
        owner: UserId,
        video: fiapx_domain::VideoId,
        ttl: Duration,
    ) -> Result<(share::Model, String), AuthError> {
        let root = self.root()?;
        let now = OffsetDateTime::now_utc();
        let expires_at = now + ttl;
        let minted = root.mint_share(owner, video, to_system(expires_at))?;
        let record = share::ActiveModel {
            id: Set(Uuid::now_v7()),
            video_id: Set(*video.as_uuid()),
            owner_id: Set(*owner.as_uuid()),
            revocation_id: Set(minted.revocation_id),
            expires_at: Set(expires_at),
            created_at: Set(now),
            revoked_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok((record, minted.token))
    }

    /// The shares of `owner`, of `video` or (`None`) of every video, newest first (revoked and expired ones
    /// included), at most `limit` of them when given.
    pub async fn shares(
        &self,
        owner: UserId,
        video: Option<fiapx_domain::VideoId>,
        limit: Option<u64>,
    ) -> Result<Vec<share::Model>, AuthError> {
        let mut select = share::Entity::find().filter(share::Column::OwnerId.eq(*owner.as_uuid()));
        if let Some(video) = video {
            select = select.filter(share::Column::VideoId.eq(*video.as_uuid()));
        }
        Ok(select
            .order_by_desc(share::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Revokes one share of `video` of `owner`: its token stops working in every service at once (the revocation
    /// bucket). Revoking it again changes nothing. `None` when there is no such share.
    pub async fn revoke_share(
        &self,
        owner: UserId,
        video: fiapx_domain::VideoId,
        id: Uuid,
    ) -> Result<Option<share::Model>, AuthError> {
        let Some(found) = share::Entity::find_by_id(id)
            .filter(share::Column::VideoId.eq(*video.as_uuid()))
            .filter(share::Column::OwnerId.eq(*owner.as_uuid()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        // The revocation first: if the row update fails after it, the share is revoked and shows as active until
        // the owner revokes it again, never the other way round.
        self.revocations
            .revoke(Revoked::Token(&found.revocation_id), to_system(found.expires_at))
            .await?;
        if found.revoked_at.is_some() {
            return Ok(Some(found));
        }
        let mut active: share::ActiveModel = found.into();
        active.revoked_at = Set(Some(OffsetDateTime::now_utc()));
        let updated = active.update(&self.db).await?;
        info!(share.id = %id, video.id = %video, owner.id = %owner, "share revoked");
        Ok(Some(updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email("  Maria@Example.COM ").unwrap(),
            "maria@example.com"
        );
        for bad in [
            "",
            "maria",
            "maria@",
            "@example.com",
            "ma ria@example.com",
            "a@b",
            "a@b@c.io",
            "a@.io",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_account_never_shows_its_password() {
        let account = NewAccount {
            email: "maria@example.com".into(),
            password: "hunter2-hunter2".into(),
            display_name: "Maria".into(),
            locale: None,
        };
        assert!(!format!("{account:?}").contains("hunter2"));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let first = new_refresh_token();
        assert!(first.starts_with("rt_") && first.len() > 40);
        assert_ne!(first, new_refresh_token());
        assert_eq!(hash_refresh(&first).len(), 32);
        assert_ne!(hash_refresh(&first), first.as_bytes());
    }
}
