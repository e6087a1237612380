//! The key layout of the bucket.

use fiapx_domain::VideoId;

/// Where a video's uploaded source lives: `sources/<video_id>`.
pub fn source_key(video: VideoId) -> String {
    format!("sources/{video}")
}

/// Where a resumable upload keeps the bytes it received after its last full part (less than one part):
/// `uploads/<video_id>.tail`.
pub fn upload_tail_key(video: VideoId) -> String {
    format!("uploads/{video}.tail")
}

/// Where the archive of job `job` of a video lives: `archives/<video_id>/<job>.zip`.
pub fn archive_key(video: VideoId, job: u32) -> String {
    format!("{}{job}.zip", archive_prefix(video))
}

/// Where the `manifest.json` of job `job`'s archive is also stored on its own (so that its frames can be listed
/// without reading the ZIP): `archives/<video_id>/<job>.manifest.json`.
pub fn manifest_key(video: VideoId, job: u32) -> String {
    format!("{}{job}.manifest.json", archive_prefix(video))
}

/// Where one frame of job `job`'s archive is copied when it is asked for on its own:
/// `archives/<video_id>/<job>/<file>`.
pub fn frame_key(video: VideoId, job: u32, file: &str) -> String {
    format!("{}{job}/{file}", archive_prefix(video))
}

/// Where the storyboard's WebVTT index of job `job` lives: `archives/<video_id>/<job>.storyboard.vtt`. It names
/// its sheets `storyboard/<n>.jpg`, relative to the API path that serves it.
pub fn storyboard_vtt_key(video: VideoId, job: u32) -> String {
    format!("{}{job}.storyboard.vtt", archive_prefix(video))
}

/// Where sheet `file` of job `job`'s storyboard lives: `archives/<video_id>/<job>/storyboard/<file>`.
pub fn storyboard_sheet_key(video: VideoId, job: u32, file: &str) -> String {
    format!("{}{job}/storyboard/{file}", archive_prefix(video))
}

/// The prefix of every archive, manifest, frame copy and storyboard of a video: `archives/<video_id>/`.
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
        assert_eq!(
            manifest_key(video, 2),
            "archives/0190a5a8-0000-7000-8000-000000000001/2.manifest.json"
        );
        assert_eq!(
            frame_key(video, 2, "frame_0001.png"),
            "archives/0190a5a8-0000-7000-8000-000000000001/2/frame_0001.png"
        );
        assert_eq!(
            storyboard_vtt_key(video, 2),
            "archives/0190a5a8-0000-7000-8000-000000000001/2.storyboard.vtt"
        );
        assert_eq!(
            storyboard_sheet_key(video, 2, "0.jpg"),
            "archives/0190a5a8-0000-7000-8000-000000000001/2/storyboard/0.jpg"
        );
        for key in [
            archive_key(video, 0),
            manifest_key(video, 0),
            frame_key(video, 0, "f.png"),
            storyboard_vtt_key(video, 0),
            storyboard_sheet_key(video, 0, "0.jpg"),
        ] {
            assert!(key.starts_with(&archive_prefix(video)), "{key}");
        }
    }
}
