//! `fiapx frames` end to end: a generated clip in, a ZIP out; bad input gives a non-zero exit and a message.

use std::process::Command;

fn fiapx(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fiapx"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

#[test]
fn extracts_a_clip_into_a_zip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = fiapx_frames::test_support::testsrc_h264("160x120", 25, "3.2", "veryfast");
    let clip_s = clip.to_str().unwrap();
    let zip = dir.path().join("out.zip");
    let zip_s = zip.to_str().unwrap();

    let out = fiapx(&["frames", clip_s, "-o", zip_s, "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert!(!dir.path().join("out.zip.partial").exists());

    let out = fiapx(&[
        "frames",
        clip_s,
        "-o",
        zip_s,
        "--every",
        "2",
        "--format",
        "jpeg",
        "--quality",
        "70",
        "--max-width",
        "80",
        "-q",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jpeg_zip = std::fs::read(&zip).unwrap();
    assert!(jpeg_zip.len() < bytes.len());
    assert!(jpeg_zip.windows(14).any(|w| w == b"frame_0002.jpg"));
    assert!(
        !jpeg_zip.windows(14).any(|w| w == b"frame_0003.jpg"),
        "3.2 s at one frame every 2 s is 2 frames"
    );
}

#[test]
fn bad_input_fails_with_a_message_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.mp4");
    std::fs::write(
        &input,
        b"this is not a video at all, just some text pretending to be one",
    )
    .unwrap();
    let zip = dir.path().join("out.zip");
    let out = fiapx(&[
        "frames",
        input.to_str().unwrap(),
        "-o",
        zip.to_str().unwrap(),
        "-q",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a recognised video container"), "{stderr}");
    assert!(!zip.exists());
    assert!(!dir.path().join("out.zip.partial").exists());
}

#[test]
fn conflicting_selections_are_refused() {
    let out = fiapx(&["frames", "in.mp4", "-o", "out.zip", "--fps", "2", "--count", "3"]);
    assert!(!out.status.success());
}
