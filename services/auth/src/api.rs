//! The auth HTTP API: register, login, refresh, logout, `GET /me`, and shares.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use fiapx_domain::{UserId, VideoId, VideoStatus};
use fiapx_http::{ApiError, ErrorCode, Owner};
use fiapx_projections::entity::video;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use crate::accounts::{Accounts, AuthError, IssuedSession, NewAccount};
use crate::entity::{share, user};
use crate::limits::Limits;

#[derive(Tags)]
enum AuthTags {
    /// Accounts and sessions.
    Auth,
    /// Read-only links to one video.
    Sharing,
}

/// A new account.
#[derive(Object)]
pub struct RegisterRequest {
    /// E-mail address (case-insensitive; the sign-in name).
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// 10 to 128 characters; not one repeated character, not containing the e-mail.
    #[oai(validator(max_length = 1024))]
    pub password: String,
    /// Name shown to people.
    #[oai(validator(max_length = 100))]
    pub display_name: String,
    /// `en` (default) or `pt-BR`: the language of e-mails.
    pub locale: Option<String>,
}

/// E-mail and password.
#[derive(Object)]
pub struct LoginRequest {
    /// E-mail address.
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// Password.
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

/// The current password and the new one.
#[derive(Object)]
pub struct PasswordChange {
    /// The password in use now.
    #[oai(validator(max_length = 1024))]
    pub current_password: String,
    /// The new password: 10 to 128 characters, not one repeated character, not containing the e-mail's local
    /// part.
    #[oai(validator(max_length = 1024))]
    pub new_password: String,
}

/// A refresh token.
#[derive(Object)]
pub struct RefreshRequest {
    /// The `refresh_token` of the latest session answer.
    #[oai(validator(max_length = 200))]
    pub refresh_token: String,
}

/// An account as its owner sees it.
#[derive(Debug, Object)]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// E-mail address (normalised).
    pub email: String,
    /// Name shown to people.
    pub display_name: String,
    /// `en` or `pt-BR`.
    pub locale: String,
    /// When the account was created.
    pub created_at: OffsetDateTime,
}

impl From<&user::Model> for UserView {
    fn from(user: &user::Model) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            locale: user.locale.clone(),
            created_at: user.created_at,
        }
    }
}

/// Tokens of a signed-in session.
#[derive(Object)]
pub struct Session {
    /// Biscuit access token: send as `Authorization: Bearer <token>`. Short-lived.
    pub access_token: String,
    /// When the access token expires; refresh before (or on 401 `token_expired`).
    pub access_expires_at: OffsetDateTime,
    /// Single-use refresh token for `POST /api/v1/auth/refresh`; each use returns a new one.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: OffsetDateTime,
    /// Always `Bearer`.
    pub token_type: String,
    /// The signed-in user.
    pub user: UserView,
}

impl From<IssuedSession> for Session {
    fn from(issued: IssuedSession) -> Self {
        Self {
            access_token: issued.access_token,
            access_expires_at: issued.access_expires_at,
            refresh_token: issued.refresh_token,
            refresh_expires_at: issued.refresh_expires_at,
            token_type: "Bearer".into(),
            user: UserView::from(&issued.user),
        }
    }
}

/// How long a share link works.
#[derive(Debug, Object)]
pub struct ShareRequest {
    /// Seconds from now, 60 to 2592000 (30 days).
    #[oai(validator(minimum(value = "60")))]
    pub expires_in_secs: u64,
}

/// A read-only share of one video, as created: the only time its token is shown.
#[derive(Object)]
pub struct Share {
    /// The share's id (to revoke it: `DELETE /videos/{id}/shares/{share_id}`).
    pub id: Uuid,
    /// The video.
    pub video_id: Uuid,
    /// A token that only reads this video (`GET /videos/{id}`, `/timeline`, `/events`, `/download`), as a bearer
    /// token or as `?access_token=`.
    pub token: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// The download link with the token in it.
    pub download_path: String,
}

/// A share link as listed: everything but the token, which is shown once, when it is created.
#[derive(Debug, Object)]
pub struct ShareView {
    /// The share's id.
    pub id: Uuid,
    /// The video.
    pub video_id: Uuid,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When its token stops working.
    pub expires_at: OffsetDateTime,
    /// When its owner revoked it.
    pub revoked_at: Option<OffsetDateTime>,
    /// Whether its token works now (neither revoked nor expired).
    pub active: bool,
}

impl From<&share::Model> for ShareView {
    fn from(row: &share::Model) -> Self {
        Self {
            id: row.id,
            video_id: row.video_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            active: row.revoked_at.is_none() && row.expires_at > OffsetDateTime::now_utc(),
        }
    }
}

/// A video's share links, newest first (the latest 100).
#[derive(Debug, Object)]
pub struct ShareList {
    /// The shares.
    pub items: Vec<ShareView>,
}

/// Most shares listed for one video.
const MAX_LISTED_SHARES: u64 = 100;

#[derive(ApiResponse)]
enum Created<T: poem_openapi::types::ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// The auth API (`#[OpenApi]`).
#[derive(Clone)]
pub struct AuthApi {
    accounts: Accounts,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for AuthApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthApi").finish_non_exhaustive()
    }
}

impl AuthApi {
    /// The API over `accounts`, with its own rate limiters (from `accounts.settings().limits`).
    pub fn new(accounts: Accounts) -> Self {
        let limits = Arc::new(Limits::new(accounts.settings().limits));
        let sweeper = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(limits) = sweeper.upgrade() else { return };
                limits.shrink();
            }
        });
        Self { accounts, limits }
    }

    /// Checks the signed-in `user`'s `password` for an action they must confirm (closing the account): attempts
    /// are rate-limited per user and client like logins (429), a wrong password is 401 `invalid_credentials`.
    pub async fn confirm_password(
        &self,
        request: &Request,
        user: UserId,
        password: String,
    ) -> Result<crate::entity::user::Model, ApiError> {
        self.limit_attempts(request, user)?;
        self.accounts
            .confirm_password(user, password)
            .await
            .map_err(auth_error)
    }

    /// One more password attempt by `user` from this client, or 429.
    fn limit_attempts(&self, request: &Request, user: UserId) -> Result<(), ApiError> {
        self.limits
            .login(&user.to_string(), client_ip(request))
            .map_err(too_many)
    }

    /// `id` as a video of `owner` that the read model shows and that is not deleted; 404 otherwise.
    async fn own_video(&self, owner: UserId, id: Uuid) -> Result<VideoId, ApiError> {
        let visible = video::Entity::find_by_id(id)
            .filter(video::Column::OwnerId.eq(*owner.as_uuid()))
            .filter(video::Column::Status.ne(VideoStatus::Deleted.as_str()))
            .one(self.accounts.db())
            .await
            .map_err(ApiError::from)?;
        visible
            .map(|_| VideoId::from_uuid(id))
            .ok_or_else(|| ApiError::not_found("video"))
    }
}

/// Passwords and tokens never appear in `Debug` output (and so never in a log line that formats these).
macro_rules! redacted_debug {
    ($($type:ident { $($shown:ident),* }),* $(,)?) => {
        $(impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($shown), &self.$shown))*
                    .finish_non_exhaustive()
            }
        })*
    };
}

redacted_debug!(
    RegisterRequest { display_name, locale },
    LoginRequest {},
    PasswordChange {},
    RefreshRequest {},
    Session {
        access_expires_at,
        refresh_expires_at,
        user
    },
    Share {
        id,
        video_id,
        expires_at
    },
);

fn client_ip(request: &Request) -> Option<IpAddr> {
    request.remote_addr().as_socket_addr().map(|addr| addr.ip())
}

/// Maps an auth failure to its API error; internals are logged, never sent.
pub fn auth_error(error: AuthError) -> ApiError {
    match error {
        AuthError::InvalidEmail | AuthError::InvalidField(_) => ApiError::bad_request(error.to_string()),
        AuthError::WeakPassword(_) => ApiError::new(ErrorCode::WeakPassword, error.to_string()),
        AuthError::EmailTaken => ApiError::new(ErrorCode::EmailTaken, error.to_string()),
        AuthError::InvalidCredentials | AuthError::WrongCurrentPassword => {
            ApiError::new(ErrorCode::InvalidCredentials, error.to_string())
        }
        AuthError::UnknownRefreshToken => ApiError::new(ErrorCode::InvalidToken, error.to_string()),
        AuthError::RefreshExpired => ApiError::new(ErrorCode::TokenExpired, error.to_string()),
        AuthError::Revoked => ApiError::new(ErrorCode::TokenRevoked, error.to_string()),
        AuthError::NoSuchUser => ApiError::not_found("user"),
        AuthError::Database(error) => ApiError::from(error),
        AuthError::Revocation(_) => ApiError::unavailable(error),
        AuthError::CannotMint | AuthError::Token(_) | AuthError::Hash(_) => ApiError::internal(error),
    }
}

fn too_many(retry_after_secs: u64) -> ApiError {
    metrics::counter!("fiapx_auth_rate_limited_total").increment(1);
    ApiError::rate_limited(retry_after_secs).with_message("too many attempts; retry later")
}

#[OpenApi(prefix_path = "/api/v1")]
impl AuthApi {
    /// Create an account
    ///
    /// Creates the account and signs it in. 409 `email_taken` if the e-mail is registered, 422
    /// `weak_password` if the password breaks the policy, 429 when a client registers too often.
    #[oai(
        path = "/auth/register",
        method = "post",
        operation_id = "register",
        tag = "AuthTags::Auth"
    )]
    async fn register(
        &self,
        request: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<Created<Session>, ApiError> {
        self.limits.register(client_ip(request)).map_err(too_many)?;
        let body = body.0;
        let issued = self
            .accounts
            .register(NewAccount {
                email: body.email,
                password: body.password,
                display_name: body.display_name,
                locale: body.locale,
            })
            .await
            .map_err(auth_error)?;
        Ok(Created::Created(Json(issued.into())))
    }

    /// Sign in
    ///
    /// 401 `invalid_credentials` for an unknown e-mail and for a wrong password alike; 429 with `Retry-After`
    /// after too many attempts for one e-mail or from one client.
    #[oai(
        path = "/auth/login",
        method = "post",
        operation_id = "login",
        tag = "AuthTags::Auth"
    )]
    async fn login(&self, request: &Request, body: Json<LoginRequest>) -> Result<Json<Session>, ApiError> {
        let body = body.0;
        let key = body.email.trim().to_lowercase();
        self.limits.login(&key, client_ip(request)).map_err(too_many)?;
        let issued = self
            .accounts
            .login(&body.email, body.password)
            .await
            .map_err(auth_error)?;
        Ok(Json(issued.into()))
    }

    /// Refresh a session
    ///
    /// Exchanges the refresh token for a new access token and a new refresh token. A refresh token works once;
    /// presented again within 30 s (a page reloaded before it stored the new pair) it gives another pair of the
    /// same session, and later it revokes the session (401 `token_revoked`).
    #[oai(
        path = "/auth/refresh",
        method = "post",
        operation_id = "refreshSession",
        tag = "AuthTags::Auth"
    )]
    async fn refresh(&self, body: Json<RefreshRequest>) -> Result<Json<Session>, ApiError> {
        let issued = self
            .accounts
            .refresh(&body.0.refresh_token)
            .await
            .map_err(auth_error)?;
        Ok(Json(issued.into()))
    }

    /// Sign out
    ///
    /// Revokes the session of the refresh token: its refresh tokens and the access tokens minted in it stop
    /// working. Signing out twice is not an error.
    #[oai(
        path = "/auth/logout",
        method = "post",
        operation_id = "logout",
        tag = "AuthTags::Auth"
    )]
    async fn logout(&self, body: Json<RefreshRequest>) -> Result<NoContent, ApiError> {
        self.accounts
            .logout(&body.0.refresh_token)
            .await
            .map_err(auth_error)?;
        Ok(NoContent::Done)
    }

    /// Change the password
    ///
    /// Checks the current password (401 `invalid_credentials` when wrong; attempts are rate-limited per user
    /// like logins, 429), applies the password policy to the new one (422 `weak_password`), then ends every other session
    /// of the account: their refresh and access tokens stop working. The session asking stays signed in.
    #[oai(
        path = "/me/password",
        method = "post",
        operation_id = "changePassword",
        tag = "AuthTags::Auth"
    )]
    async fn change_password(
        &self,
        request: &Request,
        owner: Owner,
        body: Json<PasswordChange>,
    ) -> Result<NoContent, ApiError> {
        let (user, session) = owner.user_session()?;
        self.limit_attempts(request, user)?;
        let body = body.0;
        self.accounts
            .change_password(user, session, body.current_password, body.new_password)
            .await
            .map_err(auth_error)?;
        Ok(NoContent::Done)
    }

    /// The signed-in user
    #[oai(path = "/me", method = "get", operation_id = "getMe", tag = "AuthTags::Auth")]
    async fn me(&self, owner: Owner) -> Result<Json<UserView>, ApiError> {
        let user = self
            .accounts
            .user(owner.user_id()?)
            .await
            .map_err(|error| match error {
                // The account is gone: the token no longer stands for anyone.
                AuthError::NoSuchUser => {
                    ApiError::new(ErrorCode::TokenRevoked, "the account no longer exists")
                }
                other => auth_error(other),
            })?;
        Ok(Json(UserView::from(&user)))
    }

    /// Share a video
    ///
    /// Returns a token (and a download path carrying it) that only reads this one video until it expires. It
    /// cannot list, upload, change, or reach any other video, even with blocks appended by its holder.
    #[oai(
        path = "/videos/:id/shares",
        method = "post",
        operation_id = "shareVideo",
        tag = "AuthTags::Sharing"
    )]
    async fn share(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        body: Json<ShareRequest>,
    ) -> Result<Created<Share>, ApiError> {
        let owner = owner.writer_of(id.0)?;
        let max = self.accounts.settings().max_share_ttl_secs;
        if body.0.expires_in_secs > max {
            return Err(ApiError::bad_request(format!(
                "expires_in_secs must be at most {max}"
            )));
        }
        let video = self.own_video(owner, id.0).await?;
        let (record, token) = self
            .accounts
            .share(owner, video, Duration::from_secs(body.0.expires_in_secs))
            .await
            .map_err(auth_error)?;
        info!(video.id = %id.0, owner.id = %owner, share.id = %record.id, share.expires_at = %record.expires_at, "share created");
        let download_path = format!("/api/v1/videos/{}/download?access_token={}", id.0, token);
        Ok(Created::Created(Json(Share {
            id: record.id,
            video_id: id.0,
            token,
            expires_at: record.expires_at,
            download_path,
        })))
    }

    /// List a video's share links
    ///
    /// Newest first, revoked and expired ones included (the latest 100); tokens are not shown again.
    #[oai(
        path = "/videos/:id/shares",
        method = "get",
        operation_id = "listVideoShares",
        tag = "AuthTags::Sharing"
    )]
    async fn shares(&self, owner: Owner, id: Path<Uuid>) -> Result<Json<ShareList>, ApiError> {
        let owner = owner.writer_of(id.0)?;
        let video = self.own_video(owner, id.0).await?;
        let rows = self
            .accounts
            .shares(owner, Some(video), Some(MAX_LISTED_SHARES))
            .await
            .map_err(auth_error)?;
        Ok(Json(ShareList {
            items: rows.iter().map(ShareView::from).collect(),
        }))
    }

    /// Revoke a share link
    ///
    /// Its token stops working at once everywhere, also for live streams it has open. Revoking it again is not
    /// an error; an unknown share is 404.
    #[oai(
        path = "/videos/:id/shares/:share_id",
        method = "delete",
        operation_id = "revokeVideoShare",
        tag = "AuthTags::Sharing"
    )]
    async fn revoke_share(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        share_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let owner = owner.writer_of(id.0)?;
        let video = self.own_video(owner, id.0).await?;
        self.accounts
            .revoke_share(owner, video, share_id.0)
            .await
            .map_err(auth_error)?
            .ok_or_else(|| ApiError::not_found("share"))?;
        Ok(NoContent::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_passwords_or_tokens() {
        let register = RegisterRequest {
            email: "maria@example.com".into(),
            password: "hunter2-hunter2".into(),
            display_name: "Maria".into(),
            locale: None,
        };
        let login = LoginRequest {
            email: "maria@example.com".into(),
            password: "hunter2-hunter2".into(),
        };
        let refresh = RefreshRequest {
            refresh_token: "rt_secret-refresh".into(),
        };
        let share = Share {
            id: Uuid::nil(),
            video_id: Uuid::nil(),
            token: "secret-share-token".into(),
            expires_at: OffsetDateTime::UNIX_EPOCH,
            download_path: "/api/v1/videos/x/download?access_token=secret-share-token".into(),
        };
        let shown = format!("{register:?} {login:?} {refresh:?} {share:?}");
        for secret in ["hunter2", "rt_secret", "secret-share-token"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("Maria"), "{shown}");
    }
}
