//! The notifier's rows in PostgreSQL (schema: `fiapx-database`, `m20261122_000003_notifications`).
//!
//! Every notification is recorded as an intent (`pending`) before anything is sent; a sender claims due rows
//! with a lease (`sending`, `FOR UPDATE SKIP LOCKED`, so processes never share one), and records the outcome
//! with a guard on the attempt it claimed (a process whose lease was taken over cannot overwrite the outcome).

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, SelectModel, SelectorRaw,
    Statement, TransactionTrait,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// `email`, `webhook` or `callback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// E-mail to the video's owner.
    Email,
    /// A webhook the owner registered.
    Webhook,
    /// The callback URL the video's upload named.
    Callback,
}

impl Channel {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Callback => "callback",
        }
    }
}

/// Whose deliveries: one webhook's, or one account's callbacks. Each is signed by its own secret, so this also
/// names the row a signing secret is stored in (`webhooks`, `callback_secrets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deliveries {
    /// To this webhook.
    Webhook(Uuid),
    /// To the callback URLs of this owner's uploads.
    Callbacks(Uuid),
}

impl Deliveries {
    /// The condition on `notifications` (its id is `$1`).
    const fn condition(self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook_id = $1",
            Self::Callbacks(_) => "owner_id = $1 AND channel = 'callback'",
        }
    }

    const fn id(self) -> Uuid {
        match self {
            Self::Webhook(id) | Self::Callbacks(id) => id,
        }
    }

    /// The table and key column of the signing secret.
    const fn secret_row(self) -> (&'static str, &'static str) {
        match self {
            Self::Webhook(_) => ("webhooks", "id"),
            Self::Callbacks(_) => ("callback_secrets", "user_id"),
        }
    }
}

fn statement(sql: &str, values: impl IntoIterator<Item = sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// What a [`Webhook`] is read from (table `webhooks`).
const WEBHOOK_COLUMNS: &str = "id, owner_id, url, secret, description, created_at";

/// What a [`Delivery`] is read from (table `notifications`).
const DELIVERY_COLUMNS: &str =
    "id, event_id, event_type, video_id, status, attempts, next_attempt_at, last_error, created_at, sent_at";

/// Runs `sql` with `values` on `db`; how many rows it changed.
async fn execute(
    db: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Result<u64, DbErr> {
    Ok(db.execute_raw(statement(sql, values)).await?.rows_affected())
}

/// The rows `sql` with `values` selects, as `T`s (`.one(db)` or `.all(db)` runs it).
fn select<T: FromQueryResult>(
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> SelectorRaw<SelectModel<T>> {
    T::find_by_statement(statement(sql, values))
}

/// A row limit as a query value (PostgreSQL's `bigint`; larger limits saturate).
fn limit_value(limit: u64) -> sea_orm::Value {
    i64::try_from(limit).unwrap_or(i64::MAX).into()
}

/// Notification preferences of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct Preferences {
    /// E-mail when processing fails for good.
    pub email_on_failure: bool,
    /// E-mail when the frames are ready.
    pub email_on_completion: bool,
    /// Webhooks also get `video.completed`.
    pub webhook_on_completion: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            email_on_failure: true,
            email_on_completion: false,
            webhook_on_completion: false,
        }
    }
}

/// Who a video's owner is, for e-mail.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Recipient {
    /// Address.
    pub email: String,
    /// Name to greet.
    pub display_name: String,
    /// `en` or `pt-BR`.
    pub locale: String,
}

/// A registered webhook (the secret only where it is needed).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Webhook {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub owner_id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// Signing secret as stored: sealed (`sealed:v1:...`, [`crate::secrets`]), or plain text in a row written
    /// before sealing.
    pub secret: String,
    /// The owner's note.
    pub description: Option<String>,
    /// Registered at.
    pub created_at: OffsetDateTime,
}

/// The secret signing an account's callbacks.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct CallbackSecret {
    /// The HMAC key (`whsec_` and 64 hex digits, like a webhook's) as stored: sealed, or plain text in a row
    /// written before sealing.
    pub secret: String,
    /// Made at.
    pub created_at: OffsetDateTime,
}

/// A stored signing secret and the id of its row (a webhook's id, or the user id of a callback secret).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct StoredSecret {
    /// The row.
    pub id: Uuid,
    /// As stored.
    pub secret: String,
}

/// A notification to record.
#[derive(Debug, Clone)]
pub struct Intent {
    /// Id (also the webhook delivery id, `X-Fiapx-Delivery`).
    pub id: Uuid,
    /// The event it is about.
    pub event_id: Uuid,
    /// Channel.
    pub channel: Channel,
    /// E-mail address, webhook id or callback URL.
    pub target: String,
    /// The webhook, for that channel.
    pub webhook_id: Option<Uuid>,
    /// The video's owner.
    pub owner_id: Uuid,
    /// The video.
    pub video_id: Uuid,
    /// `video.failed` or `video.completed`.
    pub event_type: String,
    /// What is sent: the rendered e-mail (JSON) or the webhook body (exact bytes signed).
    pub body: String,
}

/// A notification claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Claimed {
    /// Id.
    pub id: Uuid,
    /// `email` or `webhook`.
    pub channel: String,
    /// E-mail address, webhook id or callback URL.
    pub target: String,
    /// The webhook, for that channel.
    pub webhook_id: Option<Uuid>,
    /// The video's owner.
    pub owner_id: Uuid,
    /// `video.failed` or `video.completed`.
    pub event_type: String,
    /// What to send.
    pub body: String,
    /// This attempt's number (from 1, over every round).
    pub attempts: i32,
    /// Attempts made before the current round (a redeliver starts a new round).
    pub round_start: i32,
}

/// One delivery as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Delivery {
    /// Id (`X-Fiapx-Delivery`).
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// `video.failed` or `video.completed`.
    pub event_type: String,
    /// The video.
    pub video_id: Uuid,
    /// `pending`, `sending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// Tries so far.
    pub attempts: i32,
    /// When the next try is due (while pending).
    pub next_attempt_at: OffsetDateTime,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// Recorded at.
    pub created_at: OffsetDateTime,
    /// Delivered at.
    pub sent_at: Option<OffsetDateTime>,
}

/// A notification of a user's, on either channel (the account export).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Notification {
    /// `email` or `webhook`.
    pub channel: String,
    /// The e-mail address, or the webhook's id.
    pub target: String,
    /// Id.
    pub id: Uuid,
    /// `video.failed` or `video.completed`.
    pub event_type: String,
    /// The video.
    pub video_id: Uuid,
    /// `pending`, `sending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// Tries so far.
    pub attempts: i32,
    /// Recorded at.
    pub created_at: OffsetDateTime,
    /// Delivered at.
    pub sent_at: Option<OffsetDateTime>,
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Attempt {
    /// The delivery.
    pub notification_id: Uuid,
    /// Its number.
    pub attempt: i32,
    /// Started at.
    pub started_at: OffsetDateTime,
    /// Ended at.
    pub finished_at: OffsetDateTime,
    /// `sent` or `failed`.
    pub outcome: String,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
}

/// How one try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryOutcome {
    /// Delivered.
    Sent {
        /// HTTP status for webhooks.
        status_code: Option<i32>,
    },
    /// Not delivered; retry after the delay, or give up when `None`.
    Failed {
        /// HTTP status for webhooks, if the receiver answered.
        status_code: Option<i32>,
        /// Why.
        error: String,
        /// When to try again, if the schedule allows.
        retry_in: Option<std::time::Duration>,
    },
    /// Nothing to send any more (the webhook was deleted).
    Cancelled,
}

/// The notifier's database.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// The store on `db`.
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// A user's preferences, defaults when none were saved.
    pub async fn preferences(&self, user: Uuid) -> Result<Preferences, DbErr> {
        preferences(&self.db, user).await
    }

    /// Saves a user's preferences.
    pub async fn save_preferences(&self, user: Uuid, p: Preferences) -> Result<(), DbErr> {
        execute(
            &self.db,
            "INSERT INTO notification_preferences (user_id, email_on_failure, email_on_completion, \
             webhook_on_completion, updated_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT (user_id) DO UPDATE \
             SET email_on_failure = $2, email_on_completion = $3, webhook_on_completion = $4, updated_at = now()",
            [
                user.into(),
                p.email_on_failure.into(),
                p.email_on_completion.into(),
                p.webhook_on_completion.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Registers a webhook.
    pub async fn create_webhook(&self, hook: &Webhook) -> Result<(), DbErr> {
        execute(
            &self.db,
            "INSERT INTO webhooks (id, owner_id, url, secret, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                hook.id.into(),
                hook.owner_id.into(),
                hook.url.clone().into(),
                hook.secret.clone().into(),
                hook.description.clone().into(),
                hook.created_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// The owner's live webhooks, newest first.
    pub async fn webhooks(&self, owner: Uuid) -> Result<Vec<Webhook>, DbErr> {
        webhooks(&self.db, owner).await
    }

    /// One live webhook of the owner.
    pub async fn webhook(&self, owner: Uuid, id: Uuid) -> Result<Option<Webhook>, DbErr> {
        select(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL"
            ),
            [id.into(), owner.into()],
        )
        .one(&self.db)
        .await
    }

    /// Deletes a webhook (nothing more is sent to it); false if the owner has no such webhook.
    pub async fn delete_webhook(&self, owner: Uuid, id: Uuid) -> Result<bool, DbErr> {
        let tx = self.db.begin().await?;
        let deleted = execute(
            &tx,
            "UPDATE webhooks SET deleted_at = now() WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
            [id.into(), owner.into()],
        )
        .await?;
        execute(
            &tx,
            "UPDATE notifications SET status = 'cancelled', lease_until = NULL \
             WHERE webhook_id = $1 AND status = 'pending'",
            [id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// The latest deliveries of `whose`, newest first.
    pub async fn deliveries(&self, whose: Deliveries, limit: u64) -> Result<Vec<Delivery>, DbErr> {
        select(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM notifications WHERE {} ORDER BY created_at DESC, id DESC LIMIT $2",
                whose.condition()
            ),
            [whose.id().into(), limit_value(limit)],
        )
        .all(&self.db)
        .await
    }

    /// Removes everything held of `owner`: notifications (with their tries), webhooks, preferences and the
    /// callback secret.
    pub async fn forget(&self, owner: Uuid) -> Result<(), DbErr> {
        let tx = self.db.begin().await?;
        for sql in [
            "DELETE FROM notification_attempts WHERE notification_id IN \
             (SELECT id FROM notifications WHERE owner_id = $1)",
            "DELETE FROM notifications WHERE owner_id = $1",
            "DELETE FROM webhooks WHERE owner_id = $1",
            "DELETE FROM notification_preferences WHERE user_id = $1",
            "DELETE FROM callback_secrets WHERE user_id = $1",
        ] {
            execute(&tx, sql, [owner.into()]).await?;
        }
        tx.commit().await
    }

    /// Every notification recorded for `owner`'s videos, on both channels, newest first.
    pub async fn notifications(&self, owner: Uuid) -> Result<Vec<Notification>, DbErr> {
        select(
            "SELECT channel, target, id, event_type, video_id, status, attempts, created_at, sent_at \
             FROM notifications WHERE owner_id = $1 ORDER BY created_at DESC, id DESC",
            [owner.into()],
        )
        .all(&self.db)
        .await
    }

    /// The tries of the latest `limit` deliveries of `whose`, oldest first.
    pub async fn attempts(&self, whose: Deliveries, limit: u64) -> Result<Vec<Attempt>, DbErr> {
        select(
            &format!(
                "SELECT notification_id, attempt, started_at, finished_at, outcome, status_code, error \
                 FROM notification_attempts WHERE notification_id IN (SELECT id FROM notifications \
                 WHERE {} ORDER BY created_at DESC, id DESC LIMIT $2) ORDER BY notification_id, attempt",
                whose.condition()
            ),
            [whose.id().into(), limit_value(limit)],
        )
        .all(&self.db)
        .await
    }

    /// Reopens a delivery for one more round of the retry schedule, due now. `None` if `whose` has no such
    /// delivery; a delivery being sent right now is left alone (`Some(false)`).
    pub async fn redeliver(&self, whose: Deliveries, delivery: Uuid) -> Result<Option<bool>, DbErr> {
        if self.delivery(whose, delivery).await?.is_none() {
            return Ok(None);
        }
        let updated = execute(
            &self.db,
            &format!(
                "UPDATE notifications SET status = 'pending', round_start = attempts, next_attempt_at = now(), \
                 lease_until = NULL WHERE id = $2 AND {} AND status <> 'sending'",
                whose.condition()
            ),
            [whose.id().into(), delivery.into()],
        )
        .await?;
        Ok(Some(updated == 1))
    }

    /// One delivery of `whose`.
    pub async fn delivery(&self, whose: Deliveries, delivery: Uuid) -> Result<Option<Delivery>, DbErr> {
        select(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM notifications WHERE id = $2 AND {}",
                whose.condition()
            ),
            [whose.id().into(), delivery.into()],
        )
        .one(&self.db)
        .await
    }

    /// The secret signing `owner`'s callbacks, `None` until they make one.
    pub async fn callback_secret(&self, owner: Uuid) -> Result<Option<CallbackSecret>, DbErr> {
        select(
            "SELECT secret, created_at FROM callback_secrets WHERE user_id = $1",
            [owner.into()],
        )
        .one(&self.db)
        .await
    }

    /// Makes `secret` the one signing `owner`'s callbacks from now on (the previous one stops at once).
    pub async fn replace_callback_secret(&self, owner: Uuid, secret: &CallbackSecret) -> Result<(), DbErr> {
        execute(
            &self.db,
            "INSERT INTO callback_secrets (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3",
            [
                owner.into(),
                secret.secret.clone().into(),
                secret.created_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Up to `limit` stored secrets of the kind of `kind` (its id is ignored) that do not start with `prefix`,
    /// with row ids after `after`, in id order.
    pub async fn secrets_not_sealed_with(
        &self,
        kind: Deliveries,
        prefix: &str,
        after: Uuid,
        limit: u64,
    ) -> Result<Vec<StoredSecret>, DbErr> {
        let (table, key) = kind.secret_row();
        select(
            &format!(
                "SELECT {key} AS id, secret FROM {table} WHERE {key} > $1 AND NOT starts_with(secret, $2) \
                 ORDER BY {key} LIMIT $3"
            ),
            [after.into(), prefix.into(), limit_value(limit)],
        )
        .all(&self.db)
        .await
    }

    /// Replaces the stored secret of `whose` with `new` if it still is `old`; false when it changed meanwhile.
    pub async fn replace_stored_secret(
        &self,
        whose: Deliveries,
        old: &str,
        new: &str,
    ) -> Result<bool, DbErr> {
        let (table, key) = whose.secret_row();
        let replaced = execute(
            &self.db,
            &format!("UPDATE {table} SET secret = $3 WHERE {key} = $1 AND secret = $2"),
            [whose.id().into(), old.into(), new.into()],
        )
        .await?;
        Ok(replaced == 1)
    }

    /// What intake needs about a video's owner: preferences, e-mail recipient (if a user row exists and is not
    /// disabled) and live webhooks.
    pub async fn audience(
        &self,
        owner: Uuid,
    ) -> Result<(Preferences, Option<Recipient>, Vec<Webhook>), DbErr> {
        let preferences = preferences(&self.db, owner).await?;
        let recipient = select(
            "SELECT email, display_name, locale FROM users WHERE id = $1 AND disabled_at IS NULL",
            [owner.into()],
        )
        .one(&self.db)
        .await?;
        let hooks = webhooks(&self.db, owner).await?;
        Ok((preferences, recipient, hooks))
    }

    /// Records intents; one that exists already (same event, channel and target) is kept as it is. Returns how
    /// many are new.
    pub async fn record(&self, intents: &[Intent]) -> Result<u64, DbErr> {
        let tx = self.db.begin().await?;
        let mut new = 0;
        for intent in intents {
            new += execute(
                &tx,
                "INSERT INTO notifications (id, event_id, channel, target, webhook_id, owner_id, video_id, \
                 event_type, body, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending') \
                 ON CONFLICT (event_id, channel, target) DO NOTHING",
                [
                    intent.id.into(),
                    intent.event_id.into(),
                    intent.channel.as_str().into(),
                    intent.target.clone().into(),
                    intent.webhook_id.into(),
                    intent.owner_id.into(),
                    intent.video_id.into(),
                    intent.event_type.clone().into(),
                    intent.body.clone().into(),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Claims up to `limit` due notifications for `lease` (pending and due, or sending with an expired lease).
    pub async fn claim(&self, limit: u32, lease: std::time::Duration) -> Result<Vec<Claimed>, DbErr> {
        select(
            "UPDATE notifications SET status = 'sending', attempts = attempts + 1, \
             lease_until = now() + make_interval(secs => $1) \
             WHERE id IN (SELECT id FROM notifications \
                 WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND lease_until < now()) \
                 ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id, channel, target, webhook_id, owner_id, event_type, body, attempts, round_start",
            [lease.as_secs_f64().into(), i64::from(limit).into()],
        )
        .all(&self.db)
        .await
    }

    /// The live webhook a claimed delivery goes to (`None` once deleted).
    pub async fn live_webhook(&self, id: Uuid) -> Result<Option<Webhook>, DbErr> {
        select(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND deleted_at IS NULL"),
            [id.into()],
        )
        .one(&self.db)
        .await
    }

    /// Records how the claimed try ended; ignored if another process took the lease over since.
    pub async fn finish(
        &self,
        claimed: &Claimed,
        started_at: OffsetDateTime,
        outcome: &TryOutcome,
    ) -> Result<(), DbErr> {
        let tx = self.db.begin().await?;
        let guard = [claimed.id.into(), claimed.attempts.into()];
        let (update, values): (&str, Vec<sea_orm::Value>) = match outcome {
            TryOutcome::Sent { .. } => (
                "UPDATE notifications SET status = 'sent', sent_at = now(), lease_until = NULL, last_error = NULL \
                 WHERE id = $1 AND attempts = $2 AND status = 'sending'",
                guard.to_vec(),
            ),
            TryOutcome::Failed {
                error,
                retry_in: Some(delay),
                ..
            } => (
                "UPDATE notifications SET status = 'pending', lease_until = NULL, last_error = $3, \
                 next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1 AND attempts = $2 AND status = 'sending'",
                [
                    guard.to_vec(),
                    vec![error.clone().into(), delay.as_secs_f64().into()],
                ]
                .concat(),
            ),
            TryOutcome::Failed {
                error,
                retry_in: None,
                ..
            } => (
                "UPDATE notifications SET status = 'failed', lease_until = NULL, last_error = $3 \
                 WHERE id = $1 AND attempts = $2 AND status = 'sending'",
                [guard.to_vec(), vec![error.clone().into()]].concat(),
            ),
            TryOutcome::Cancelled => (
                "UPDATE notifications SET status = 'cancelled', lease_until = NULL \
                 WHERE id = $1 AND attempts = $2 AND status = 'sending'",
                guard.to_vec(),
            ),
        };
        let updated = execute(&tx, update, values).await?;
        if updated == 1 {
            let (result, status_code, error) = match outcome {
                TryOutcome::Sent { status_code } => ("sent", *status_code, None),
                TryOutcome::Failed {
                    status_code, error, ..
                } => ("failed", *status_code, Some(error.clone())),
                TryOutcome::Cancelled => {
                    tx.commit().await?;
                    return Ok(());
                }
            };
            execute(
                &tx,
                "INSERT INTO notification_attempts (notification_id, attempt, started_at, finished_at, outcome, \
                 status_code, error) VALUES ($1, $2, $3, now(), $4, $5, $6) ON CONFLICT DO NOTHING",
                [
                    claimed.id.into(),
                    claimed.attempts.into(),
                    started_at.into(),
                    result.into(),
                    status_code.into(),
                    error.into(),
                ],
            )
            .await?;
        }
        tx.commit().await
    }
}

async fn preferences(db: &impl ConnectionTrait, user: Uuid) -> Result<Preferences, DbErr> {
    Ok(select(
        "SELECT email_on_failure, email_on_completion, webhook_on_completion FROM notification_preferences \
         WHERE user_id = $1",
        [user.into()],
    )
    .one(db)
    .await?
    .unwrap_or_default())
}

async fn webhooks(db: &impl ConnectionTrait, owner: Uuid) -> Result<Vec<Webhook>, DbErr> {
    select(
        &format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks \
             WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC"
        ),
        [owner.into()],
    )
    .all(db)
    .await
}
