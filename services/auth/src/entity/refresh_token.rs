//! A refresh token of a sign-in session (family); only its SHA-256 is stored.

use sea_orm::entity::prelude::*;

/// One refresh token.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Token id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The session: every token rotated from the same login.
    pub family_id: Uuid,
    /// Whose.
    pub user_id: Uuid,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Not accepted after this.
    pub expires_at: TimeDateTimeWithTimeZone,
    /// Set when it was exchanged for the next one.
    pub used_at: Option<TimeDateTimeWithTimeZone>,
    /// Set when its family was revoked (logout, reuse).
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
    /// Issued.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
