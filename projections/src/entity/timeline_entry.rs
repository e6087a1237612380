//! The per-video timeline: every event, in log order, with a short summary.

use sea_orm::entity::prelude::*;

/// One event of a video's life.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "video_timeline")]
pub struct Model {
    /// The video.
    #[sea_orm(primary_key, auto_increment = false)]
    pub video_id: Uuid,
    /// Stream sequence of the event (global log order).
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    /// The event id.
    pub event_id: Uuid,
    /// Stable event type, e.g. `processing_started`.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: TimeDateTimeWithTimeZone,
    /// What the owner may see of the event (see [`crate::timeline::summary`]).
    #[sea_orm(column_type = "JsonBinary")]
    pub summary: Json,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
