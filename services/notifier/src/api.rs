//! The notifier's HTTP API: webhooks, their delivery log and redelivery, notification preferences, and the
//! failure code table.

use fiapx_domain::{FailureCode, Language};
use fiapx_http::egress::{UrlError, check_url};
use fiapx_http::{ApiError, FailureCodeName, Owner};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use sea_orm::DatabaseConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::notifier::NotifierError;
use crate::secrets::Keyring;
use crate::settings::NotifierSettings;
use crate::store::{
    Attempt, CallbackSecret, Deliveries, Delivery, Notification, Preferences, Store, Webhook,
};
use crate::webhook::new_secret;

#[derive(Tags)]
enum NotifierTags {
    /// Being told when processing ends: e-mail preferences and signed webhooks.
    Notifications,
}

/// How many deliveries of one webhook the log shows.
const DELIVERY_LOG_SIZE: u64 = 50;
/// How many webhooks one user may register.
const MAX_WEBHOOKS: usize = 10;

/// The notifier's HTTP API. Construct with [`NotifierApi::new`] and mount it (paths start with `/api/v1`).
#[derive(Clone, Debug)]
pub struct NotifierApi {
    store: Store,
    keyring: Keyring,
    allow_insecure_webhooks: bool,
}

impl NotifierApi {
    /// The API on the notifier's tables in `db`, with `settings`' `allow_insecure_webhooks` and secrets key (new
    /// signing secrets are stored sealed with it). Refuses to start without a usable key
    /// ([`NotifierError::SecretsKey`]).
    pub fn new(db: DatabaseConnection, settings: &NotifierSettings) -> Result<Self, NotifierError> {
        Ok(Self {
            store: Store::new(db),
            keyring: Keyring::from_settings(settings)?,
            allow_insecure_webhooks: settings.allow_insecure_webhooks,
        })
    }

    /// A new signing secret for `whose`: the secret itself (to show once) and its sealed form (to store).
    fn new_signing_secret(&self, whose: Deliveries) -> Result<(String, String), ApiError> {
        let secret = new_secret().map_err(|e| ApiError::internal(e.to_string()))?;
        let sealed = self
            .keyring
            .seal(whose, &secret)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok((secret, sealed))
    }
}

/// A refused webhook URL: 400 `bad_request` whatever the reason (the message says which); the shared error
/// codes have none for webhook URLs.
fn url_refused(error: UrlError) -> ApiError {
    ApiError::bad_request(error.to_string())
}

/// `at` without its fraction of a second (what the API shows of creation times).
fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

fn user(owner: &Owner) -> Result<Uuid, ApiError> {
    Ok(*owner.user_id()?.as_uuid())
}

/// One row of the failure code table.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "FailureCodeInfo")]
pub struct FailureCodeInfo {
    /// The stable code.
    pub code: FailureCodeName,
    /// Whether the processor retries it automatically (with backoff, up to `max_deliver` deliveries).
    pub retryable: bool,
    /// What the user is told, in English.
    pub message_en: String,
    /// What the user is told, in Brazilian Portuguese.
    pub message_pt_br: String,
}

/// The failure code table.
pub fn failure_table() -> Vec<FailureCodeInfo> {
    FailureCode::ALL
        .into_iter()
        .map(|code| FailureCodeInfo {
            code: FailureCodeName::from(code),
            retryable: code.is_retryable(),
            message_en: code.user_message(Language::English).to_owned(),
            message_pt_br: code.user_message(Language::PortugueseBrazil).to_owned(),
        })
        .collect()
}

/// A webhook to register.
#[derive(Debug, Clone, Object)]
pub struct NewWebhook {
    /// `https://` URL receiving `POST`s (JSON, signed in `X-Fiapx-Signature`). Its host must be public: an IP
    /// literal that is loopback, private, link-local, shared (CGNAT), multicast, documentation or otherwise
    /// reserved, and names such as `localhost`, `*.localhost`, `*.local`, `*.internal` or a name without a dot are
    /// refused (400 `bad_request`); names that resolve only to such addresses fail at delivery.
    pub url: String,
    /// A note for yourself (at most 200 characters).
    pub description: Option<String>,
}

/// A registered webhook.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Webhook")]
pub struct WebhookView {
    /// Id.
    pub id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// Your note.
    pub description: Option<String>,
    /// Registered at.
    pub created_at: OffsetDateTime,
}

impl From<&Webhook> for WebhookView {
    fn from(hook: &Webhook) -> Self {
        Self {
            id: hook.id,
            url: hook.url.clone(),
            description: hook.description.clone(),
            created_at: hook.created_at,
        }
    }
}

/// A webhook just registered, with its signing secret: shown this once, never again.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreatedWebhook")]
pub struct CreatedWebhookView {
    /// Id.
    pub id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// Your note.
    pub description: Option<String>,
    /// Registered at.
    pub created_at: OffsetDateTime,
    /// The HMAC-SHA256 signing secret of `X-Fiapx-Signature`. Store it now: it is not shown again.
    pub secret: String,
}

/// A callback signing secret just made: shown this once, never again.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreatedCallbackSecret")]
pub struct CreatedCallbackSecretView {
    /// The HMAC-SHA256 signing secret of your callbacks' `X-Fiapx-Signature`. Store it now: it is not shown
    /// again.
    pub secret: String,
    /// Made at.
    pub created_at: OffsetDateTime,
}

/// Your callback signing secret (the secret itself is only shown when made).
#[derive(Debug, Clone, Object)]
#[oai(rename = "CallbackSecret")]
pub struct CallbackSecretView {
    /// Made at.
    pub created_at: OffsetDateTime,
}

impl From<&CallbackSecret> for CallbackSecretView {
    fn from(made: &CallbackSecret) -> Self {
        Self {
            created_at: made.created_at,
        }
    }
}

/// Your webhooks.
#[derive(Debug, Clone, Object)]
#[oai(rename = "WebhookList")]
pub struct WebhookList {
    /// Newest first.
    pub items: Vec<WebhookView>,
}

/// State of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) try.
    Pending,
    /// Being sent now.
    Sending,
    /// The receiver answered 2xx.
    Sent,
    /// Every try of the schedule failed; `redeliver` to try again.
    Failed,
    /// The webhook (or the video) was deleted before it could be sent.
    Cancelled,
}

impl DeliveryStatus {
    fn of(status: &str) -> Self {
        match status {
            "pending" => Self::Pending,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            _ => Self::Cancelled,
        }
    }
}

/// One try of a delivery.
#[derive(Debug, Clone, Object)]
#[oai(rename = "DeliveryAttempt")]
pub struct AttemptView {
    /// Its number, from 1.
    pub attempt: u32,
    /// Started at.
    pub started_at: OffsetDateTime,
    /// Ended at.
    pub finished_at: OffsetDateTime,
    /// Whether the receiver took it (2xx).
    pub delivered: bool,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        Self {
            attempt: u32::try_from(a.attempt).unwrap_or_default(),
            started_at: a.started_at,
            finished_at: a.finished_at,
            delivered: a.outcome == "sent",
            status_code: a.status_code.and_then(|s| u16::try_from(s).ok()),
            error: a.error.clone(),
        }
    }
}

/// One delivery (one event to one webhook, or to one upload's callback URL) and its tries.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Delivery")]
pub struct DeliveryView {
    /// Id, also sent as `X-Fiapx-Delivery` (the same on every try).
    pub id: Uuid,
    /// `video.failed` or `video.completed`.
    pub event_type: String,
    /// The event in the video's log.
    pub event_id: Uuid,
    /// The video.
    pub video_id: Uuid,
    /// State.
    pub status: DeliveryStatus,
    /// Tries so far.
    pub attempts: u32,
    /// When the next try is due (while pending).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// Recorded at.
    pub created_at: OffsetDateTime,
    /// Delivered at.
    pub sent_at: Option<OffsetDateTime>,
    /// Every try, oldest first.
    pub tries: Vec<AttemptView>,
}

fn delivery_view(d: &Delivery, attempts: &[Attempt]) -> DeliveryView {
    let status = DeliveryStatus::of(&d.status);
    DeliveryView {
        id: d.id,
        event_type: d.event_type.clone(),
        event_id: d.event_id,
        video_id: d.video_id,
        status,
        attempts: u32::try_from(d.attempts).unwrap_or_default(),
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
        last_error: d.last_error.clone(),
        created_at: d.created_at,
        sent_at: d.sent_at,
        tries: attempts
            .iter()
            .filter(|a| a.notification_id == d.id)
            .map(AttemptView::from)
            .collect(),
    }
}

/// The delivery log of a webhook, or of your callbacks.
#[derive(Debug, Clone, Object)]
#[oai(rename = "DeliveryList")]
pub struct DeliveryList {
    /// The latest deliveries, newest first (at most 50).
    pub items: Vec<DeliveryView>,
}

/// What you want to be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object)]
#[oai(rename = "NotificationPreferences")]
pub struct PreferencesView {
    /// E-mail when processing fails for good (default true).
    pub email_on_failure: bool,
    /// E-mail when the frames are ready (default false).
    pub email_on_completion: bool,
    /// Webhooks also get `video.completed` (default false; they always get `video.failed`).
    pub webhook_on_completion: bool,
}

impl From<Preferences> for PreferencesView {
    fn from(p: Preferences) -> Self {
        Self {
            email_on_failure: p.email_on_failure,
            email_on_completion: p.email_on_completion,
            webhook_on_completion: p.webhook_on_completion,
        }
    }
}

/// A notification of yours, by e-mail, to a webhook or to an upload's callback URL (in the account export).
#[derive(Debug, Clone, Object)]
#[oai(rename = "NotificationRecord")]
pub struct NotificationView {
    /// Id (for a webhook or callback, also its `X-Fiapx-Delivery`).
    pub id: Uuid,
    /// `email`, `webhook` or `callback`.
    pub channel: String,
    /// The e-mail address, the webhook's id or the callback URL.
    pub target: String,
    /// `video.failed` or `video.completed`.
    pub event_type: String,
    /// The video.
    pub video_id: Uuid,
    /// State.
    pub status: DeliveryStatus,
    /// Tries so far.
    pub attempts: u32,
    /// Recorded at.
    pub created_at: OffsetDateTime,
    /// Delivered at.
    pub sent_at: Option<OffsetDateTime>,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        Self {
            id: n.id,
            channel: n.channel.clone(),
            target: n.target.clone(),
            event_type: n.event_type.clone(),
            video_id: n.video_id,
            status: DeliveryStatus::of(&n.status),
            attempts: u32::try_from(n.attempts).unwrap_or_default(),
            created_at: n.created_at,
            sent_at: n.sent_at,
        }
    }
}

/// What the notifier holds of a user: preferences, webhooks and callback secret (never the secrets) and every
/// notification.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NotificationsExport")]
pub struct NotificationsExport {
    /// What you want to be told.
    pub preferences: PreferencesView,
    /// Your webhooks.
    pub webhooks: Vec<WebhookView>,
    /// Your callback signing secret (when made; never the secret).
    pub callback_secret: Option<CallbackSecretView>,
    /// Every notification recorded for your videos, newest first.
    pub notifications: Vec<NotificationView>,
}

/// The notifier's part of `owner`'s account export.
pub async fn account_export(db: &DatabaseConnection, owner: Uuid) -> Result<NotificationsExport, ApiError> {
    let store = Store::new(db.clone());
    let preferences = store.preferences(owner).await?;
    let webhooks = store.webhooks(owner).await?;
    let notifications = store.notifications(owner).await?;
    let callback_secret = store.callback_secret(owner).await?;
    Ok(NotificationsExport {
        preferences: preferences.into(),
        webhooks: webhooks.iter().map(WebhookView::from).collect(),
        callback_secret: callback_secret.as_ref().map(CallbackSecretView::from),
        notifications: notifications.iter().map(NotificationView::from).collect(),
    })
}

/// Removes what the notifier holds of `owner` (an account deletion): notifications, webhooks, preferences, the
/// callback secret.
pub async fn forget_account(db: &DatabaseConnection, owner: Uuid) -> Result<(), ApiError> {
    Store::new(db.clone()).forget(owner).await.map_err(ApiError::from)
}

#[derive(ApiResponse)]
enum Created {
    /// Registered; the secret is in the body, this once.
    #[oai(status = 201)]
    Webhook(Json<CreatedWebhookView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted: nothing more is sent to it.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum SecretMade {
    /// Made; the secret is in the body, this once.
    #[oai(status = 201)]
    Created(Json<CreatedCallbackSecretView>),
}

#[derive(ApiResponse)]
enum Redelivered {
    /// Due now: it is sent again (same delivery id), with a new round of the retry schedule.
    #[oai(status = 202)]
    Accepted(Json<DeliveryView>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "NotifierTags::Notifications")]
impl NotifierApi {
    /// Registers a webhook. Its signing secret is in this answer only.
    #[oai(path = "/webhooks", method = "post", operation_id = "createWebhook")]
    async fn create_webhook(&self, owner: Owner, body: Json<NewWebhook>) -> Result<Created, ApiError> {
        let owner = user(&owner)?;
        let url = check_url(&body.url, self.allow_insecure_webhooks).map_err(url_refused)?;
        let description = body.description.as_ref().map(|d| d.trim().to_owned());
        if description.as_ref().is_some_and(|d| d.chars().count() > 200) {
            return Err(ApiError::bad_request("description is longer than 200 characters"));
        }
        let existing = self.store.webhooks(owner).await?;
        if existing.len() >= MAX_WEBHOOKS {
            return Err(ApiError::conflict(format!(
                "at most {MAX_WEBHOOKS} webhooks; delete one first"
            )));
        }
        let id = Uuid::now_v7();
        let (secret, sealed) = self.new_signing_secret(Deliveries::Webhook(id))?;
        let hook = Webhook {
            id,
            owner_id: owner,
            url: url.to_string(),
            secret: sealed,
            description,
            created_at: whole_seconds(OffsetDateTime::now_utc()),
        };
        self.store.create_webhook(&hook).await?;
        let location = format!("/api/v1/webhooks/{}", hook.id);
        Ok(Created::Webhook(
            Json(CreatedWebhookView {
                id: hook.id,
                url: hook.url,
                description: hook.description,
                created_at: hook.created_at,
                secret,
            }),
            location,
        ))
    }

    /// Your webhooks (without their secrets).
    #[oai(path = "/webhooks", method = "get", operation_id = "listWebhooks")]
    async fn list_webhooks(&self, owner: Owner) -> Result<Json<WebhookList>, ApiError> {
        let owner = user(&owner)?;
        let hooks = self.store.webhooks(owner).await?;
        Ok(Json(WebhookList {
            items: hooks.iter().map(WebhookView::from).collect(),
        }))
    }

    /// One of your webhooks.
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "getWebhook")]
    async fn get_webhook(&self, owner: Owner, id: Path<Uuid>) -> Result<Json<WebhookView>, ApiError> {
        let owner = user(&owner)?;
        let hook = self.own_webhook(owner, id.0).await?;
        Ok(Json(WebhookView::from(&hook)))
    }

    /// Deletes one of your webhooks; deliveries still waiting are cancelled.
    #[oai(path = "/webhooks/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete_webhook(&self, owner: Owner, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        let owner = user(&owner)?;
        if self.store.delete_webhook(owner, id.0).await? {
            Ok(Deleted::NoContent)
        } else {
            Err(ApiError::not_found("webhook"))
        }
    }

    /// The delivery log of one of your webhooks: the latest 50 deliveries, newest first, with every try.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(&self, owner: Owner, id: Path<Uuid>) -> Result<Json<DeliveryList>, ApiError> {
        let owner = user(&owner)?;
        let hook = self.own_webhook(owner, id.0).await?;
        self.delivery_log(Deliveries::Webhook(hook.id)).await
    }

    /// Sends a delivery again now (same delivery id and body, a fresh signature), with a new round of the retry
    /// schedule. 409 while it is being sent.
    #[oai(
        path = "/webhooks/:id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliverWebhookDelivery"
    )]
    async fn redeliver(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> Result<Redelivered, ApiError> {
        let owner = user(&owner)?;
        let hook = self.own_webhook(owner, id.0).await?;
        self.reopen(Deliveries::Webhook(hook.id), delivery_id.0).await
    }

    /// Makes a new signing secret for your uploads' callbacks, replacing the one before (which stops signing at
    /// once). Callbacks (`callback_url` on an upload) are signed with it in `X-Fiapx-Signature`, exactly as
    /// webhook deliveries are with their own secret. The secret is in this answer only.
    #[oai(
        path = "/me/callback-secret",
        method = "post",
        operation_id = "createCallbackSecret"
    )]
    async fn create_callback_secret(&self, owner: Owner) -> Result<SecretMade, ApiError> {
        let owner = user(&owner)?;
        let (secret, sealed) = self.new_signing_secret(Deliveries::Callbacks(owner))?;
        let made = CallbackSecret {
            secret: sealed,
            created_at: whole_seconds(OffsetDateTime::now_utc()),
        };
        self.store.replace_callback_secret(owner, &made).await?;
        Ok(SecretMade::Created(Json(CreatedCallbackSecretView {
            secret,
            created_at: made.created_at,
        })))
    }

    /// Whether you have a callback signing secret, and since when (never the secret itself). 404 `not_found`
    /// until you make one.
    #[oai(
        path = "/me/callback-secret",
        method = "get",
        operation_id = "getCallbackSecret"
    )]
    async fn get_callback_secret(&self, owner: Owner) -> Result<Json<CallbackSecretView>, ApiError> {
        let owner = user(&owner)?;
        let secret = self
            .store
            .callback_secret(owner)
            .await?
            .ok_or_else(|| ApiError::not_found("callback secret"))?;
        Ok(Json(CallbackSecretView::from(&secret)))
    }

    /// The delivery log of your uploads' callbacks: the latest 50 deliveries, newest first, with every try.
    #[oai(
        path = "/me/callbacks",
        method = "get",
        operation_id = "listCallbackDeliveries"
    )]
    async fn callback_deliveries(&self, owner: Owner) -> Result<Json<DeliveryList>, ApiError> {
        let owner = user(&owner)?;
        self.delivery_log(Deliveries::Callbacks(owner)).await
    }

    /// Sends a callback delivery again now (same delivery id and body, a fresh signature with the current
    /// secret), with a new round of the retry schedule. 409 while it is being sent.
    #[oai(
        path = "/me/callbacks/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliverCallbackDelivery"
    )]
    async fn redeliver_callback(
        &self,
        owner: Owner,
        delivery_id: Path<Uuid>,
    ) -> Result<Redelivered, ApiError> {
        let owner = user(&owner)?;
        self.reopen(Deliveries::Callbacks(owner), delivery_id.0).await
    }

    /// Your notification preferences (defaults until you change them).
    #[oai(
        path = "/me/notifications",
        method = "get",
        operation_id = "getNotificationPreferences"
    )]
    async fn get_preferences(&self, owner: Owner) -> Result<Json<PreferencesView>, ApiError> {
        let owner = user(&owner)?;
        let preferences = self.store.preferences(owner).await?;
        Ok(Json(preferences.into()))
    }

    /// Replaces your notification preferences.
    #[oai(
        path = "/me/notifications",
        method = "put",
        operation_id = "putNotificationPreferences"
    )]
    async fn put_preferences(
        &self,
        owner: Owner,
        body: Json<PreferencesView>,
    ) -> Result<Json<PreferencesView>, ApiError> {
        let owner = user(&owner)?;
        let preferences = Preferences {
            email_on_failure: body.email_on_failure,
            email_on_completion: body.email_on_completion,
            webhook_on_completion: body.webhook_on_completion,
        };
        self.store.save_preferences(owner, preferences).await?;
        Ok(Json(preferences.into()))
    }

    /// The failure codes a video can end with: whether each is retried automatically, and what users are told
    /// (English and Brazilian Portuguese). No credentials needed.
    #[oai(path = "/failure-codes", method = "get", operation_id = "listFailureCodes")]
    async fn failure_codes(&self) -> Json<Vec<FailureCodeInfo>> {
        Json(failure_table())
    }
}

impl NotifierApi {
    async fn delivery_log(&self, whose: Deliveries) -> Result<Json<DeliveryList>, ApiError> {
        let deliveries = self.store.deliveries(whose, DELIVERY_LOG_SIZE).await?;
        let attempts = self.store.attempts(whose, DELIVERY_LOG_SIZE).await?;
        Ok(Json(DeliveryList {
            items: deliveries.iter().map(|d| delivery_view(d, &attempts)).collect(),
        }))
    }

    async fn reopen(&self, whose: Deliveries, delivery: Uuid) -> Result<Redelivered, ApiError> {
        match self.store.redeliver(whose, delivery).await? {
            None => return Err(ApiError::not_found("delivery")),
            Some(false) => return Err(ApiError::conflict("the delivery is being sent right now")),
            Some(true) => {}
        }
        let delivery = self
            .store
            .delivery(whose, delivery)
            .await?
            .ok_or_else(|| ApiError::not_found("delivery"))?;
        Ok(Redelivered::Accepted(Json(delivery_view(&delivery, &[]))))
    }

    async fn own_webhook(&self, owner: Uuid, id: Uuid) -> Result<Webhook, ApiError> {
        self.store
            .webhook(owner, id)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))
    }
}
