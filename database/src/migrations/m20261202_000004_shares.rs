//! Share links (the auth service): which read-only tokens exist for a video, so that its owner can list and
//! revoke them. Verifying a share needs no lookup (the token is signed); revoking one writes its revocation id
//! to the revocation bucket that every service follows.

use super::sql_script::SqlScript;

/// Creates `shares`.
pub(crate) const MIGRATION: SqlScript = SqlScript::new(file!(), UP);

const UP: &str = r#"
-- One row per share token minted. The token itself is never stored: only the biscuit revocation id of its
-- authority block, which is what revokes it.
CREATE TABLE shares (
    id             uuid PRIMARY KEY,
    video_id       uuid NOT NULL,
    owner_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revocation_id  text NOT NULL UNIQUE,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
CREATE INDEX shares_video ON shares (video_id, created_at DESC);
"#;
