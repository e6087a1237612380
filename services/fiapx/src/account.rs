//! The account as a whole, across the services that hold a part of it: `GET /api/v1/me/export`.
//!
//! Each service keeps its own tables and says what of them belongs to a user (`fiapx_auth::Accounts`,
//! `fiapx_query::account_export`, `fiapx_notifier::account_export`); this API, served with the auth API (the
//! account's home, which needs only the database), puts the parts together. Nothing secret is in it: no password
//! hash, no refresh or share token, no webhook secret.

use fiapx_auth::{Accounts, ShareView, UserView, auth_error};
use fiapx_http::{ApiError, Owner};
use fiapx_notifier::NotificationsExport;
use fiapx_query::VideoRecord;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use time::OffsetDateTime;

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

/// The account API. Construct with [`AccountApi::new`] over the auth service's [`Accounts`].
#[derive(Clone)]
pub struct AccountApi {
    accounts: Accounts,
}

impl AccountApi {
    /// The API over `accounts` (and the database it holds, where the other services' tables are too).
    pub const fn new(accounts: Accounts) -> Self {
        Self { accounts }
    }
}

impl std::fmt::Debug for AccountApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountApi").finish_non_exhaustive()
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "AccountTags::Account")]
impl AccountApi {
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
        let shares = self.accounts.all_shares(user).await.map_err(auth_error)?;
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
