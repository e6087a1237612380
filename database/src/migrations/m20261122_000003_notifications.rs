//! The notifier's tables: webhooks users register, notification preferences, one row per notification (event x
//! channel x target: the intent recorded before sending and its outcome), and the log of delivery attempts.

use super::sql_script::SqlScript;

/// Creates the notifier's tables.
pub(crate) const MIGRATION: SqlScript = SqlScript::new(file!(), UP);

const UP: &str = r#"
-- What each user wants to be told. No row = the defaults.
CREATE TABLE notification_preferences (
    user_id               uuid PRIMARY KEY,
    email_on_failure      boolean NOT NULL DEFAULT true,
    email_on_completion   boolean NOT NULL DEFAULT false,
    webhook_on_completion boolean NOT NULL DEFAULT false,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Webhook endpoints. The secret signs deliveries (HMAC-SHA256), so it is kept (shown to the user once).
-- A deleted webhook keeps its row (its delivery log stays readable by nobody, and nothing is sent to it).
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY,
    owner_id    uuid NOT NULL,
    url         text NOT NULL,
    secret      text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX webhooks_owner ON webhooks (owner_id, created_at DESC) WHERE deleted_at IS NULL;

-- One notification per event, channel and target: recorded (status 'pending') before anything is sent, so that
-- redeliveries of the event and restarts of the notifier find it and send nothing twice. 'sending' rows are
-- leased to one process until lease_until; 'sent' and 'failed' are final (a redeliver command reopens a webhook
-- delivery, starting a new round of the retry schedule at attempts = round_start).
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    target          text NOT NULL,
    webhook_id      uuid REFERENCES webhooks (id),
    owner_id        uuid NOT NULL,
    video_id        uuid NOT NULL,
    event_type      text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    round_start     integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (event_id, channel, target)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_webhook ON notifications (webhook_id, created_at DESC, id DESC) WHERE webhook_id IS NOT NULL;

-- Every try of every notification: the delivery log users read for their webhooks.
CREATE TABLE notification_attempts (
    notification_id uuid NOT NULL REFERENCES notifications (id),
    attempt         integer NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('sent', 'failed')),
    status_code     integer,
    error           text,
    PRIMARY KEY (notification_id, attempt)
);
"#;
