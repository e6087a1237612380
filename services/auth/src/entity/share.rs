//! A share link of a video: a read-only token minted for it. Only the token's revocation id is stored.

use sea_orm::entity::prelude::*;

/// One share.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shares")]
pub struct Model {
    /// Share id (what the API lists and revokes).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The video it reads.
    pub video_id: Uuid,
    /// Whose video.
    pub owner_id: Uuid,
    /// Hex biscuit revocation id of the token's authority block.
    pub revocation_id: String,
    /// The token stops working then.
    pub expires_at: TimeDateTimeWithTimeZone,
    /// Minted.
    pub created_at: TimeDateTimeWithTimeZone,
    /// Set when its owner revoked it.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
