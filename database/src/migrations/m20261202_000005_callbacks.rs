//! Per-upload callbacks (the notifier): a third notification channel, `callback` (the URL an upload named, in
//! `target`), and each account's callback signing secret.

use super::sql_script::SqlScript;

/// Adds the `callback` channel and `callback_secrets`.
pub(crate) const MIGRATION: SqlScript = SqlScript::new(file!(), UP);

const UP: &str = r#"
ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check
    CHECK (channel IN ('email', 'webhook', 'callback'));
-- An account's callback delivery log, newest first.
CREATE INDEX notifications_callbacks ON notifications (owner_id, created_at DESC, id DESC) WHERE channel = 'callback';

-- The secret that signs an account's callbacks (HMAC-SHA256, as a webhook's own secret signs its deliveries):
-- shown to the user once, when made; making a new one replaces it.
CREATE TABLE callback_secrets (
    user_id    uuid PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"#;
