//! The account as a whole, across the services that hold a part of it: `GET /api/v1/me/export` and
//! `DELETE /api/v1/me`.
//!
//! Each service keeps its own tables and says what of them belongs to a user (`fiapx_auth::Accounts`,
//! `fiapx_query::account_export`, `fiapx_notifier::account_export` and `forget_account`,
//! `fiapx_upload::delete_video`, `fiapx_projections::videos::forget_owner`); this API, served with the auth API
//! (the account's home), puts the parts together. Nothing secret is in the export: no password hash, no refresh
//! or share token, no webhook secret.

use fiapx_auth::{Accounts, AuthApi, ShareView, UserView, auth_error};
use fiapx_domain::{UserId, VideoId};
use fiapx_http::{ApiError, Owner};
use fiapx_nats::{CommandHandler, VideoCallbacks};
use fiapx_notifier::NotificationsExport;
use fiapx_projections::entity::video;
use fiapx_query::VideoRecord;
use fiapx_storage::Storage;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QuerySelect as _};
use time::OffsetDateTime;
use tracing::{info, warn};

#[derive(Tags)]
enum AccountTags {
    /// Your account as a whole.
    Account,
}

/// Version of the export's shape.
const EXPORT_FORMAT: u32 = 1;

/// Everything FIAP X holds of an account.
#[derive(Debug, Object)]
pub struct AccountExport {
    /// Version of this document's shape.
    pub format: u32,
    /// When it was made.
    pub exported_at: OffsetDateTime,
    /// The account.
    pub user: UserView,
    /// Every video, newest first, each with its timeline.
    pub videos: Vec<VideoRecord>,
    /// Every share link made, newest first (their tokens are not kept).
    pub shares: Vec<ShareView>,
    /// Notification preferences, webhooks (without secrets) and every notification sent or due.
    pub notifications: NotificationsExport,
}

/// What closing an account asks for.
#[derive(Debug, Object)]
pub struct DeleteAccountRequest {
    /// Your password, to confirm.
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

#[derive(ApiResponse)]
enum Closed {
    /// The account and everything of it are gone; every token it held stops working.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
enum Export {
    /// The account's data, saved by browsers as `fiapx-account-<date>.json`.
    #[oai(status = 200)]
    Ok(
        Json<AccountExport>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The account API. Construct with [`AccountApi::new`] over the auth service's [`Accounts`] and API.
#[derive(Clone)]
pub struct AccountApi {
    accounts: Accounts,
    /// Confirms passwords with the auth API's own attempt limits.
    auth: AuthApi,
    handler: CommandHandler,
    storage: Storage,
    callbacks: VideoCallbacks,
}

impl AccountApi {
    /// The API over `accounts` (and the database it holds, where the other services' tables are too), `auth`
    /// (which confirms passwords), the command handler that records deletions, the bucket of sources and
    /// archives and the videos' callback URLs.
    pub const fn new(
        accounts: Accounts,
        auth: AuthApi,
        handler: CommandHandler,
        storage: Storage,
        callbacks: VideoCallbacks,
    ) -> Self {
        Self {
            accounts,
            auth,
            handler,
            storage,
            callbacks,
        }
    }

    /// Deletes every video of `user` (a `deleted` event each, source and archives removed), then what the other
    /// services hold.
    async fn forget(&self, user: UserId) -> Result<usize, ApiError> {
        let db = self.accounts.db();
        let ids: Vec<uuid::Uuid> = video::Entity::find()
            .select_only()
            .column(video::Column::Id)
            .filter(video::Column::OwnerId.eq(*user.as_uuid()))
            .into_tuple()
            .all(db)
            .await
            .map_err(ApiError::from)?;
        for id in &ids {
            let video = VideoId::from_uuid(*id);
            fiapx_upload::delete_video(&self.handler, &self.storage, &self.callbacks, user, video).await?;
        }
        fiapx_notifier::forget_account(db, *user.as_uuid()).await?;
        fiapx_projections::videos::forget_owner(db, *user.as_uuid())
            .await
            .map_err(ApiError::from)?;
        Ok(ids.len())
    }
}

impl std::fmt::Debug for AccountApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountApi").finish_non_exhaustive()
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "AccountTags::Account")]
impl AccountApi {
    /// Delete your account
    ///
    /// Closes the account for good, after your password confirms it: every video is deleted (a `deleted` event
    /// each, sources and archives removed, its rows gone from the read models), and so are your share links,
    /// webhooks, notifications, preferences and the account itself. Every token of it stops working at once.
    /// 401 `invalid_credentials` for a wrong password; a share token gets 403.
    #[oai(path = "/me", method = "delete", operation_id = "deleteAccount")]
    async fn delete(
        &self,
        owner: Owner,
        body: Json<DeleteAccountRequest>,
        request: &Request,
    ) -> Result<Closed, ApiError> {
        let user = owner.user_id()?;
        let account = self.auth.confirm_password(request, user, body.0.password).await?;
        // Signed out everywhere and unable to sign in or upload before anything is removed.
        self.accounts
            .set_disabled(&account.email, true)
            .await
            .map_err(auth_error)?;
        let videos = match self.forget(user).await {
            Ok(videos) => videos,
            Err(error) => {
                // Let the owner sign in again and ask again, which finishes it (every step can be repeated).
                warn!(user.id = %user, %error, "closing an account failed half-way; the account is enabled again");
                self.accounts
                    .set_disabled(&account.email, false)
                    .await
                    .map_err(auth_error)?;
                return Err(error);
            }
        };
        self.accounts.delete_user(user).await.map_err(auth_error)?;
        info!(user.id = %user, videos, "account closed");
        Ok(Closed::Done)
    }

    /// Export your data
    ///
    /// Everything FIAP X holds of your account as one JSON document: the account, every video with its
    /// timeline, your share links, notification preferences, webhooks and notifications. Secrets are left out
    /// (password, tokens, webhook secrets). The frames themselves are in each video's download. A share token
    /// gets 403.
    #[oai(path = "/me/export", method = "get", operation_id = "exportAccount")]
    async fn export(&self, owner: Owner) -> Result<Export, ApiError> {
        let user = owner.user_id()?;
        let account = self.accounts.user(user).await.map_err(auth_error)?;
        let db = self.accounts.db();
        let videos = fiapx_query::account_export(db, user).await?;
        let shares = self.accounts.shares(user, None, None).await.map_err(auth_error)?;
        let notifications = fiapx_notifier::account_export(db, *user.as_uuid()).await?;
        let exported_at = OffsetDateTime::now_utc();
        let date = exported_at.date();
        let name = format!("fiapx-account-{date}.json");
        Ok(Export::Ok(
            Json(AccountExport {
                format: EXPORT_FORMAT,
                exported_at,
                user: UserView::from(&account),
                videos,
                shares: shares.iter().map(ShareView::from).collect(),
                notifications,
            }),
            fiapx_http::disposition::attachment(&name),
            "no-store".into(),
        ))
    }
}
