//! Messages a projection could not decode, recorded once and skipped.

use sea_orm::entity::prelude::*;

/// One undecodable message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projection_errors")]
pub struct Model {
    /// The projection.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Its generation.
    #[sea_orm(primary_key, auto_increment = false)]
    pub generation: i32,
    /// Stream sequence of the message.
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    /// Its subject.
    pub subject: String,
    /// Why it could not be decoded.
    pub error: String,
    /// When it was recorded.
    pub recorded_at: TimeDateTimeWithTimeZone,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
