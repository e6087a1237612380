//! The answer to an accepted upload or reprocess: the video, its job and where to follow it.
//!
//! The routes send it, the intake builds it after `RegisterUpload`, and the idempotency records keep it so that a
//! retry gets the first answer back.

use fiapx_domain::VideoId;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where to follow a video.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct VideoLinks {
    /// The video.
    #[oai(rename = "self")]
    #[serde(rename = "self")]
    pub self_: String,
    /// Its event timeline.
    pub timeline: String,
    /// Live status (Server-Sent Events).
    pub events: String,
    /// The frames archive, once completed.
    pub download: String,
}

/// A command was accepted: the video is queued for (re)processing.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct VideoAccepted {
    /// The video id.
    pub id: Uuid,
    /// Its status after the command (`queued`).
    pub status: String,
    /// The job the command opened (0 for the upload, +1 per reprocess).
    pub job: u32,
    /// Where to follow it.
    pub links: VideoLinks,
}

impl VideoAccepted {
    /// `video` queued for `job`.
    pub(crate) fn queued(video: VideoId, job: u32) -> Self {
        let base = location(video);
        Self {
            id: *video.as_uuid(),
            status: "queued".into(),
            job,
            links: VideoLinks {
                timeline: format!("{base}/timeline"),
                events: format!("{base}/events"),
                download: format!("{base}/download"),
                self_: base,
            },
        }
    }
}

fn location(video: VideoId) -> String {
    format!("/api/v1/videos/{video}")
}
