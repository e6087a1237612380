//! Videos per status of each owner.

use sea_orm::entity::prelude::*;

/// Counters of one owner, one per status a video can be in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "owner_video_counts")]
pub struct Model {
    /// The owner.
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: Uuid,
    /// Waiting for a processor.
    pub queued: i64,
    /// Being processed.
    pub processing: i64,
    /// Failed with a transient fault; another attempt will come.
    pub retry_scheduled: i64,
    /// Archive ready.
    pub completed: i64,
    /// Failed for good.
    pub failed: i64,
    /// Deleted.
    pub deleted: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
