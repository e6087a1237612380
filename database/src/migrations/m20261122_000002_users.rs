//! Accounts and sign-in sessions (the auth service). Not event-sourced: users are plain rows.

use super::sql_script::SqlScript;

/// Creates `users` and `refresh_tokens`.
pub(crate) const MIGRATION: SqlScript = SqlScript::new(file!(), UP);

const UP: &str = r#"
-- One row per account. The e-mail is stored normalised (trimmed, lowercased) and is unique.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    locale        text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'pt-BR')),
    -- argon2id, PHC string format (parameters inside).
    password_hash text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens: only their SHA-256 is kept. Each login starts a family (a session); each refresh marks the
-- presented token used and issues the next one in the family. Presenting a used token again revokes the family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
"#;
