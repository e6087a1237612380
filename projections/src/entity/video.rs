//! One row per video: what the list and the detail pages show.

use sea_orm::entity::prelude::*;

/// A video as the owner sees it. Deleted videos keep their row with status `deleted` and are never shown.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "videos")]
pub struct Model {
    /// The video id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who uploaded it.
    pub owner_id: Uuid,
    /// The user's file name (display only).
    pub file_name: String,
    /// Media type found by probing the content.
    pub content_type: String,
    /// Object key of the source.
    pub source_key: String,
    /// Size of the source in bytes.
    pub source_size_bytes: i64,
    /// `fiapx_domain::VideoStatus::as_str`.
    pub status: String,
    /// The spec of the current job, in its persisted (v1 payload) JSON form.
    #[sea_orm(column_type = "JsonBinary")]
    pub spec: Json,
    /// Current job (0 for the upload, +1 per reprocess).
    pub job: i32,
    /// Latest attempt started for the current job (0 = none yet).
    pub attempt: i32,
    /// Object key of the archive of the last completed job.
    pub archive_key: Option<String>,
    /// Its size in bytes.
    pub archive_size_bytes: Option<i64>,
    /// Its lowercase hex SHA-256.
    pub archive_sha256: Option<String>,
    /// Frames in it.
    pub frame_count: Option<i32>,
    /// Failure code of the current job, while failed or retry scheduled.
    pub failure_code: Option<String>,
    /// Failure detail for the user.
    pub failure_message: Option<String>,
    /// Whether another attempt is scheduled after the failure.
    pub will_retry: Option<bool>,
    /// When it was uploaded.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When the last event happened.
    pub updated_at: TimeDateTimeWithTimeZone,
    /// Stream sequence of the last event applied to this row (makes a re-applied event a no-op).
    pub last_sequence: i64,
}

/// No relations: the read models are denormalised on purpose.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
