//! Every kind of bad input gives its typed error, quickly, without a panic or a hang.

use std::path::Path;

use fiapx_domain::{ExtractionSpec, Rational, Selection};
use fiapx_frames::test_support::*;
use fiapx_frames::{ExtractError, Extractor, Limits};

/// The default limits with one changed.
fn limits(set: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    set(&mut limits);
    limits
}

async fn failure(path: &Path, limits: Limits) -> ExtractError {
    extract(path, &ExtractionSpec::default(), limits)
        .await
        .expect_err("extraction must fail")
}

/// The failure of the H.264 clip under the default limits with one changed by `set`.
async fn h264_failure(set: impl FnOnce(&mut Limits)) -> ExtractError {
    failure(&clip(&H264), limits(set)).await
}

/// The failure of the first half of `source`, copied as `name`.
async fn first_half_failure(source: &Path, name: &str) -> ExtractError {
    let dir = tempfile::tempdir().unwrap();
    let path = damaged(source, dir.path(), name, |bytes| bytes.truncate(bytes.len() / 2));
    failure(&path, Limits::default()).await
}

#[tokio::test]
async fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.mp4");
    std::fs::write(&path, b"").unwrap();
    let err = failure(&path, Limits::default()).await;
    assert!(matches!(err, ExtractError::Empty), "{err:?}");
    assert!(err.is_bad_input());
}

#[tokio::test]
async fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed xorshift stream: random-looking, reproducible.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..300_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let path = dir.path().join("video.mp4");
    std::fs::write(&path, bytes).unwrap();
    let err = failure(&path, Limits::default()).await;
    assert!(matches!(err, ExtractError::UnrecognizedFormat { .. }), "{err:?}");
    assert!(err.is_bad_input());
}

#[tokio::test]
async fn audio_only() {
    let err = failure(&clip(&AUDIO_ONLY), Limits::default()).await;
    assert!(matches!(err, ExtractError::NoVideoStream), "{err:?}");
}

#[tokio::test]
async fn cover_art_is_not_a_video() {
    let err = failure(&clip(&COVER_ART_MP3), Limits::default()).await;
    assert!(matches!(err, ExtractError::NoVideoStream), "{err:?}");
}

#[tokio::test]
async fn zero_streams_of_video() {
    let err = failure(&subtitles_only(), Limits::default()).await;
    assert!(matches!(err, ExtractError::NoVideoStream), "{err:?}");
}

#[tokio::test]
async fn corrupt_middle_is_reported_not_concealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = damaged(&clip(&H264), dir.path(), "corrupt.mp4", |bytes| {
        let n = bytes.len();
        for (i, b) in bytes[n / 3..n / 3 + n / 10].iter_mut().enumerate() {
            *b = b.wrapping_mul(31).wrapping_add(i as u8) ^ 0x5a;
        }
    });
    let err = failure(&path, Limits::default()).await;
    assert!(matches!(err, ExtractError::Corrupt { .. }), "{err:?}");
    assert!(err.is_bad_input());
}

#[tokio::test]
async fn corrupt_input_is_tolerated_up_to_the_configured_error_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = damaged(&clip(&H264), dir.path(), "scratched.mp4", |bytes| {
        let n = bytes.len();
        for b in &mut bytes[n / 2..n / 2 + 64] {
            *b ^= 0xff;
        }
    });
    let lenient = Limits {
        max_decode_errors: 10_000,
        ..Limits::default()
    };
    let (_, summary) = extract(&path, &ExtractionSpec::default(), lenient).await.unwrap();
    assert_eq!(summary.manifest.frame_count, 10);
}

#[tokio::test]
async fn truncated_mp4_is_reported_as_truncated() {
    let err = first_half_failure(&clip(&H264), "cut.mp4").await;
    let ExtractError::Truncated {
        decoded_seconds,
        expected_seconds,
    } = err
    else {
        panic!("{err:?}")
    };
    assert!((expected_seconds - 10.32).abs() < 0.01, "{expected_seconds}");
    assert!(decoded_seconds < expected_seconds * 0.75, "{decoded_seconds}");
}

#[tokio::test]
async fn truncated_webm_is_reported_as_truncated() {
    let err = first_half_failure(&clip(&VP9), "cut.webm").await;
    assert!(matches!(err, ExtractError::Truncated { .. }), "{err:?}");
}

#[tokio::test]
async fn audio_outlasting_the_video_is_not_truncation() {
    let path = clip(&LONG_AUDIO);
    let (_, summary) = extract_default(&path).await;
    assert_eq!(summary.manifest.frame_count, 4);
    let err = first_half_failure(&path, "cut.webm").await;
    assert!(matches!(err, ExtractError::Truncated { .. }), "{err:?}");
}

#[tokio::test]
async fn mp4_cut_before_its_index_is_corrupt() {
    // Without faststart the index is at the end: half a file has no index and no duration to compare with.
    let err = first_half_failure(&clip(&VFR), "cut.mp4").await;
    assert!(
        matches!(&err, ExtractError::Corrupt { detail } if detail.contains("mp4")),
        "{err:?}"
    );
}

#[tokio::test]
async fn over_the_duration_resolution_or_decode_time_limit() {
    type Case = (&'static str, fn(&mut Limits), fn(&ExtractError) -> bool);
    let cases: [Case; 3] = [
        (
            "duration",
            |l| l.max_duration_seconds = 5.0,
            |err| matches!(err, ExtractError::DurationTooLong { .. }),
        ),
        (
            "resolution",
            |l| l.max_width = 300,
            |err| {
                matches!(
                    err,
                    ExtractError::ResolutionTooLarge {
                        width: 320,
                        height: 240,
                        max_width: 300,
                        ..
                    }
                )
            },
        ),
        (
            "decode time",
            |l| l.max_decode_seconds = 0.0,
            |err| matches!(err, ExtractError::DecodeTimeout { .. }),
        ),
    ];
    for (limit, set, expected) in cases {
        let err = h264_failure(set).await;
        assert!(expected(&err), "over the {limit} limit: {err:?}");
    }
}

#[tokio::test]
async fn over_the_frame_limit() {
    let five_frames = |l: &mut Limits| l.max_frames = 5;
    let err = h264_failure(five_frames).await;
    assert!(
        matches!(err, ExtractError::TooManyFrames { frames: 10, limit: 5 }),
        "{err:?}"
    );
    let spec = ExtractionSpec {
        selection: Selection::Fps {
            fps: Rational::new(10, 1),
        },
        ..Default::default()
    };
    let err = extract(&clip(&VP9), &spec, limits(five_frames))
        .await
        .unwrap_err();
    assert!(matches!(err, ExtractError::TooManyFrames { .. }), "{err:?}");
}

#[tokio::test]
async fn over_the_input_size_limit() {
    let thousand_bytes = |l: &mut Limits| l.max_input_bytes = 1000;
    let err = h264_failure(thousand_bytes).await;
    assert!(
        matches!(err, ExtractError::InputTooLarge { limit: 1000 }),
        "{err:?}"
    );
    let file = tokio::fs::File::open(clip(&H264)).await.unwrap();
    let err = Extractor::new(limits(thousand_bytes))
        .extract_reader(file, &ExtractionSpec::default(), Vec::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ExtractError::InputTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_spec_is_refused_before_reading() {
    let spec = ExtractionSpec {
        selection: Selection::Count { count: 0 },
        ..Default::default()
    };
    let err = extract(Path::new("/nonexistent"), &spec, Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ExtractError::InvalidSpec(_)), "{err:?}");
    assert_eq!(err.code(), "invalid_spec");
}

#[tokio::test]
async fn a_failing_writer_stops_the_decoder() {
    #[derive(Debug)]
    struct Broken;
    impl tokio::io::AsyncWrite for Broken {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Err(std::io::Error::other("disk full")))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    let err = Extractor::new(Limits::default())
        .extract_path(&clip(&H264), &ExtractionSpec::default(), Broken, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ExtractError::Output(_)), "{err:?}");
    assert!(!err.is_bad_input());
}
