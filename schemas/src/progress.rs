//! The live progress message of a running job and the core subject it travels on.
//!
//! Progress is not an event (DESIGN.md section 3): the processor publishes it on `progress.videos.<id>` and keeps
//! the latest value in the `video_progress` KV bucket; the query service reads both for live status. This is the
//! one definition both sides use, so the publisher and the reader cannot drift apart.

use fiapx_domain::VideoId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Prefix of the progress subjects: `progress.videos.<video_id>`.
const PROGRESS_PREFIX: &str = "progress.videos";

/// The core subject on which the progress of `video` is published.
pub fn progress_subject(video: VideoId) -> String {
    format!("{PROGRESS_PREFIX}.{video}")
}

/// The subject matching the progress of every video (for a reader of all of them).
pub fn progress_wildcard() -> String {
    format!("{PROGRESS_PREFIX}.*")
}

/// What a job is doing, as carried in [`ProgressUpdate::stage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressStage {
    /// Frames are being decoded and written to the archive.
    Extracting,
    /// The archive is stored and the completion recorded.
    Completed,
    /// The attempt failed and the failure is recorded.
    Failed,
}

impl ProgressStage {
    /// The stable string on the wire (and in the API).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Extracting => "extracting",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// Live progress of one job, as published on [`progress_subject`] and stored in the progress bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressUpdate {
    /// The video.
    pub video_id: Uuid,
    /// Job number.
    pub job: u32,
    /// Delivery attempt.
    pub attempt: u32,
    /// Images written so far.
    pub frames_done: u64,
    /// Images expected in total. Optional for readers: a publisher may not know it yet.
    #[serde(default)]
    pub frames_expected: Option<u64>,
    /// What the job is doing.
    pub stage: ProgressStage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_what_the_processor_always_published() {
        let update = ProgressUpdate {
            video_id: Uuid::nil(),
            job: 2,
            attempt: 1,
            frames_done: 3,
            frames_expected: Some(10),
            stage: ProgressStage::Extracting,
        };
        let json = serde_json::to_value(&update).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "video_id": "00000000-0000-0000-0000-000000000000",
                "job": 2,
                "attempt": 1,
                "frames_done": 3,
                "frames_expected": 10,
                "stage": "extracting",
            })
        );
        assert_eq!(serde_json::from_value::<ProgressUpdate>(json).unwrap(), update);
    }

    #[test]
    fn stages_have_stable_strings() {
        for stage in [
            ProgressStage::Extracting,
            ProgressStage::Completed,
            ProgressStage::Failed,
        ] {
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.as_str());
        }
    }

    #[test]
    fn subjects() {
        let video = VideoId::from_uuid(Uuid::nil());
        assert_eq!(
            progress_subject(video),
            "progress.videos.00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(progress_wildcard(), "progress.videos.*");
    }
}
