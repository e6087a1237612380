//! The key layout of the bucket.

use fiapx_domain::VideoId;

/// Where a video's uploaded source lives: `sources/<video_id>`.
pub fn source_key(video: VideoId) -> String {
    format!("sources/{video}")
}

/// Where the archive of job `job` of a video lives: `archives/<video_id>/<job>.zip`.
pub fn archive_key(video: VideoId, job: u32) -> String {
    format!("{}{job}.zip", archive_prefix(video))
}

/// The prefix of every archive of a video: `archives/<video_id>/`.
pub fn archive_prefix(video: VideoId) -> String {
    format!("archives/{video}/")
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn layout() {
        let video = VideoId::from_uuid(Uuid::from_u128(0x0190_a5a8_0000_7000_8000_0000_0000_0001));
        assert_eq!(source_key(video), "sources/0190a5a8-0000-7000-8000-000000000001");
        assert_eq!(
            archive_key(video, 2),
            "archives/0190a5a8-0000-7000-8000-000000000001/2.zip"
        );
        assert!(archive_key(video, 0).starts_with(&archive_prefix(video)));
    }
}
