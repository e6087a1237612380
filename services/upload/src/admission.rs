//! In-flight admission: how many videos one user may have queued or processing at once.
//!
//! Counted on the `videos` read model, so a burst faster than the projector may briefly exceed the limit; without
//! a read model there is no per-user limit.

use fiapx_domain::{UserId, VideoStatus};
use fiapx_http::ApiError;
use fiapx_projections::entity::video;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

/// The per-user limit of videos in flight.
#[derive(Clone)]
pub struct InFlightLimit {
    read_model: Option<DatabaseConnection>,
    limit: u64,
    retry_after_secs: u64,
}

impl InFlightLimit {
    /// `limit` videos per user (0 = no limit), counted on `read_model`; a refusal asks to retry after
    /// `retry_after_secs`.
    pub const fn new(read_model: Option<DatabaseConnection>, limit: u64, retry_after_secs: u64) -> Self {
        Self {
            read_model,
            limit,
            retry_after_secs,
        }
    }

    /// 429 when `owner` already has `limit` videos queued or processing.
    pub async fn admit(&self, owner: UserId) -> Result<(), ApiError> {
        let (Some(db), limit) = (&self.read_model, self.limit) else {
            return Ok(());
        };
        if limit == 0 {
            return Ok(());
        }
        let in_flight = video::Entity::find()
            .filter(video::Column::OwnerId.eq(*owner.as_uuid()))
            .filter(video::Column::Status.is_in(VideoStatus::IN_FLIGHT.map(VideoStatus::as_str)))
            .count(db)
            .await
            .map_err(ApiError::from)?;
        if in_flight >= limit {
            metrics::counter!("fiapx_upload_in_flight_limited_total").increment(1);
            return Err(ApiError::rate_limited(self.retry_after_secs).with_message(format!(
                "you already have {in_flight} videos waiting or processing (limit {limit}); retry when some finish"
            )));
        }
        Ok(())
    }
}
