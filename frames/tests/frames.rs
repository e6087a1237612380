//! The engine against ffmpeg itself: same frames, same pixels, and the archive and manifest it writes.

use fiapx_domain::{ExtractionSpec, ImageFormat, Position, Rational, Selection, Storyboard};
use fiapx_frames::test_support::*;
use fiapx_frames::{Extractor, Limits, MANIFEST_NAME, frame_file_name};
use sha2::{Digest, Sha256};

fn fps(num: u32, den: u32) -> ExtractionSpec {
    ExtractionSpec {
        selection: Selection::Fps {
            fps: Rational::new(num, den),
        },
        ..Default::default()
    }
}

/// Runs our `spec` and `ffmpeg -vf <filter>` on `path` and asserts identical images, in order; returns how many.
async fn assert_matches_ffmpeg(path: &std::path::Path, spec: &ExtractionSpec, filter: &str) -> usize {
    let expected = ffmpeg_frames(path, filter);
    let (zip, summary) = extract(path, spec, Limits::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let ours = decode_images(&entries(zip).await);
    assert_eq!(ours.len(), expected.len(), "frame count for {}", path.display());
    assert_eq!(
        summary.manifest.frame_count as usize,
        expected.len(),
        "manifest frame count for {}",
        path.display()
    );
    for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(
            a.dimensions(),
            b.dimensions(),
            "size of frame {i} of {}",
            path.display()
        );
        assert!(
            a.as_raw() == b.as_raw(),
            "pixels of frame {i} of {} differ from ffmpeg's",
            path.display()
        );
    }
    expected.len()
}

#[tokio::test]
async fn h264_default_spec_is_pixel_identical_to_ffmpeg_fps1() {
    let n = assert_matches_ffmpeg(&clip(&H264), &ExtractionSpec::default(), "fps=1").await;
    assert_eq!(n, 10, "10.3 s at fps=1");
}

#[tokio::test]
async fn other_codecs_sizes_and_timings_are_pixel_identical() {
    // VP9 in WebM, odd sizes, a variable frame rate, a non-zero start time.
    for source in [&VP9, &ODD, &VFR, &LATE_START] {
        assert_matches_ffmpeg(&clip(source), &ExtractionSpec::default(), "fps=1").await;
    }
}

#[tokio::test]
async fn rotated_phone_clips_are_turned_upright_like_ffmpeg() {
    for degrees in [90, 180, 270] {
        let path = rotated(&VP9, degrees);
        assert_matches_ffmpeg(&path, &ExtractionSpec::default(), "fps=1").await;
    }
    let (zip, summary) = extract_default(&rotated(&VP9, 90)).await;
    // Whichever way the tag turns it, a quarter turn swaps the axes and is recorded.
    assert!(
        [90, 270].contains(&summary.manifest.source.rotation),
        "{:?}",
        summary.manifest.source
    );
    assert_eq!(decode_images(&entries(zip).await)[0].dimensions(), (240, 320));
}

#[tokio::test]
async fn other_rates_match_ffmpeg() {
    let path = clip(&WITH_AUDIO);
    assert_matches_ffmpeg(&path, &fps(3, 1), "fps=3").await;
    assert_matches_ffmpeg(&path, &fps(1, 2), "fps=1/2").await;
    let every = ExtractionSpec {
        selection: Selection::Every {
            seconds: Rational::new(2, 1),
        },
        ..Default::default()
    };
    assert_matches_ffmpeg(&path, &every, "fps=1/2").await;
}

#[tokio::test]
async fn count_spreads_frames_evenly() {
    let spec = ExtractionSpec {
        selection: Selection::Count { count: 4 },
        ..Default::default()
    };
    let (_, summary) = extract(&clip(&H264), &spec, Limits::default()).await.unwrap();
    let pts: Vec<f64> = summary.manifest.frames.iter().map(|f| f.pts).collect();
    // Middles of four equal parts of 10.32 s, minus at most one frame (25 fps).
    let middles = [1.29, 3.87, 6.45, 9.03];
    assert_eq!(pts.len(), 4);
    for (p, m) in pts.iter().zip(middles) {
        assert!(*p <= m && m - p <= 0.04 + 1e-9, "{pts:?}");
    }
}

#[tokio::test]
async fn skips_decoding_frames_that_cannot_be_selected() {
    let (_, summary) = extract_default(&clip(&H264)).await;
    assert!(
        summary.stats.packets_skippable > summary.stats.packets / 2,
        "most packets are not needed at fps=1: {:?}",
        summary.stats
    );
    assert!(
        summary.stats.frames_decoded < summary.stats.packets,
        "{:?}",
        summary.stats
    );
}

/// Sparse selections (a few frames of a long video) seek past what cannot be selected on containers with an
/// index, and choose exactly the frames decoding through chooses: the same archive entries, byte for byte.
#[tokio::test]
async fn sparse_selections_seek_and_choose_the_frames_decoding_through_chooses() {
    let specs = [
        (
            "count=5",
            ExtractionSpec {
                selection: Selection::Count { count: 5 },
                ..Default::default()
            },
        ),
        (
            "every=7",
            ExtractionSpec {
                selection: Selection::Every {
                    seconds: Rational::new(7, 1),
                },
                ..Default::default()
            },
        ),
        ("fps=2/9", fps(2, 9)),
        (
            "at",
            ExtractionSpec {
                selection: Selection::At {
                    at: Position::parse_list("last, 17, first, 40%, 00:00:03.3").unwrap(),
                },
                ..Default::default()
            },
        ),
    ];
    for source in &SPARSE {
        let path = clip(source);
        for (label, spec) in &specs {
            let case = format!("{} {label}", source.name);
            let run = |extractor: Extractor| {
                let path = path.clone();
                async move {
                    extractor
                        .extract_path(&path, spec, Vec::new(), |_| {})
                        .await
                        .unwrap_or_else(|e| panic!("{e:?}"))
                }
            };
            let (seeking, summary) = run(Extractor::new(Limits::default())).await;
            let (through, through_summary) = run(Extractor::new(Limits::default()).decoding_through()).await;
            assert_eq!(through_summary.stats.seeks, 0, "{case}");
            let (ours, theirs) = (entries(seeking).await, entries(through).await);
            assert_eq!(
                ours.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                theirs.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                "{case}: entries"
            );
            for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
                if name != MANIFEST_NAME {
                    assert!(a == b, "{case}: {name} differs from decoding through");
                }
            }
            // Where the container has an index (or its demuxer seeks by itself), a handful of frames out of 24 s is
            // reached by seeking, with fewer packets read and fewer frames decoded; MPEG-TS decodes through.
            if source.name.ends_with(".ts") {
                assert_eq!(summary.stats.seeks, 0, "{case}");
            } else {
                assert!(summary.stats.seeks >= 1, "{case}: {:?}", summary.stats);
                assert!(
                    summary.stats.packets < through_summary.stats.packets
                        && summary.stats.frames_decoded < through_summary.stats.frames_decoded,
                    "{case}: {:?} vs {:?}",
                    summary.stats,
                    through_summary.stats
                );
            }
            assert_eq!(
                summary.manifest.frame_count, through_summary.manifest.frame_count,
                "{case}"
            );
        }
    }
}

fn selection(selection: Selection) -> ExtractionSpec {
    ExtractionSpec {
        selection,
        ..Default::default()
    }
}

/// `at`: the frame shown at each position (the last presented at or before it), in time order, pixel-identical to
/// ffmpeg's own decode of those frames.
#[tokio::test]
async fn positions_pick_the_frame_shown_at_each() {
    let path = clip(&H264);
    let (_, probe) = extract_default(&path).await;
    let duration = probe.manifest.source.duration_seconds.unwrap();
    // 25 fps: frame n is shown from n / 25 s. Given out of order, with a time, a minute-second form, a
    // percentage, and the same frame twice.
    let spec = selection(Selection::At {
        at: Position::parse_list("last, 2.51, first, 0:05.03, 50%, 1.01, 1.02").unwrap(),
    });
    let half = ((duration * 0.5) * 25.0).floor() as u32;
    let mut wanted = vec![0, 25, 25, 62, 125, half, 257];
    wanted.sort_unstable();
    let filter = wanted
        .iter()
        .map(|n| format!("eq(n\\,{n})"))
        .collect::<Vec<_>>()
        .join("+");
    // The same frame twice comes once out of `select`; ours repeats it.
    let mut expected = ffmpeg_frames_with(
        &[],
        &path,
        &["-vf", &format!("select='{filter}'"), "-fps_mode", "passthrough"],
    );
    let repeat = expected[1].clone();
    expected.insert(1, repeat);
    let (zip, summary) = extract(&path, &spec, Limits::default()).await.unwrap();
    let ours = decode_images(&entries(zip).await);
    assert_eq!(ours.len(), 7);
    assert!(ours == expected, "frames differ from ffmpeg's frames {wanted:?}");
    let pts: Vec<f64> = summary.manifest.frames.iter().map(|f| f.pts).collect();
    let expected_pts: Vec<f64> = wanted.iter().map(|&n| f64::from(n) / 25.0).collect();
    for (a, b) in pts.iter().zip(&expected_pts) {
        assert!((a - b).abs() < 1e-6, "{pts:?} vs {expected_pts:?}");
    }

    let past = selection(Selection::At {
        at: vec![Position::First, Position::Time { micros: 11_000_000 }],
    });
    let error = extract(&path, &past, Limits::default()).await.unwrap_err();
    assert!(
        matches!(&error, fiapx_frames::ExtractError::PositionPastEnd { position, .. } if position == "00:00:11.000"),
        "{error:?}"
    );
    assert_eq!(error.code(), "position_past_end");
    assert!(error.is_bad_input());
}

/// `keyframes`: every keyframe, only keyframes decoded, the same pictures as ffmpeg's `select` of key frames (which
/// decodes everything; `-skip_frame nokey` would not do for VP9, whose decoder ignores it).
#[tokio::test]
async fn keyframes_are_the_ones_ffmpeg_selects_as_key() {
    for source in [&SPARSE[0], &SPARSE[1], &SPARSE[2], &SPARSE[4], &VP9] {
        let path = clip(source);
        let expected = ffmpeg_frames_with(
            &[],
            &path,
            &["-vf", "select='eq(key\\,1)'", "-fps_mode", "passthrough"],
        );
        let (zip, summary) = extract(&path, &selection(Selection::Keyframes), Limits::default())
            .await
            .unwrap();
        let ours = decode_images(&entries(zip).await);
        let pts: Vec<f64> = summary.manifest.frames.iter().map(|f| f.pts).collect();
        assert_eq!(
            ours.len(),
            expected.len(),
            "{}: {pts:?} {:?}",
            source.name,
            summary.stats
        );
        assert!(
            ours == expected,
            "{}: keyframes differ from ffmpeg's",
            source.name
        );
        assert_eq!(
            summary.stats.frames_decoded as usize,
            ours.len(),
            "{}",
            source.name
        );
        assert!(
            summary.stats.packets_skippable > summary.stats.packets / 2,
            "{:?}",
            summary.stats
        );
    }
    // 24 s with a keyframe every second.
    let (_, summary) = extract(
        &clip(&SPARSE[0]),
        &selection(Selection::Keyframes),
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary.manifest.frame_count, 24);
}

/// `scene`: the frames FFmpeg's `select` filter keeps for the same threshold (and minimum gap), plus the first.
#[tokio::test]
async fn scene_changes_are_the_ones_ffmpegs_select_filter_finds() {
    let path = clip(&SCENES);
    for (threshold, min_gap, expression, count) in [
        ("0.3", "0", "eq(n\\,0)+gt(scene\\,0.3)", 5),
        (
            "0.3",
            "3",
            "eq(n\\,0)+gt(scene\\,0.3)*gte(t-prev_selected_t\\,3)",
            3,
        ),
    ] {
        let spec = selection(Selection::Scene {
            threshold: threshold.parse().unwrap(),
            min_gap: min_gap.parse().unwrap(),
        });
        let expected = ffmpeg_frames_with(
            &[],
            &path,
            &[
                "-vf",
                &format!("select='{expression}'"),
                "-fps_mode",
                "passthrough",
            ],
        );
        let (zip, summary) = extract(&path, &spec, Limits::default()).await.unwrap();
        let ours = decode_images(&entries(zip).await);
        let pts: Vec<f64> = summary.manifest.frames.iter().map(|f| f.pts).collect();
        assert_eq!(ours.len(), count, "min_gap {min_gap}: {pts:?}");
        assert_eq!(ours.len(), expected.len(), "min_gap {min_gap}: {pts:?}");
        assert!(
            ours == expected,
            "min_gap {min_gap}: pictures differ from ffmpeg's"
        );
        // Every frame is decoded to score it.
        assert_eq!(summary.stats.packets_skippable, 0);
    }
}

/// A storyboard: the tiles are the frames of `every N` at the tile width (JPEG, so compared within its loss), laid
/// out row by row on sheets that the WebVTT cues address, one cue per tile over the whole duration.
#[tokio::test]
async fn a_storyboard_tiles_the_frames_of_its_interval() {
    let path = clip(&SPARSE[0]);
    let storyboard = Storyboard {
        every: Rational::new(5, 1),
        width: 80,
        columns: 2,
        rows: 2,
    };
    let spec = ExtractionSpec {
        selection: Selection::Count { count: 1 },
        storyboard: Some(storyboard),
        ..Default::default()
    };
    let (zip, summary) = extract(&path, &spec, Limits::default()).await.unwrap();
    assert_eq!(
        decode_images(&entries(zip).await).len(),
        1,
        "the frames are the spec's"
    );
    let out = summary.storyboard.expect("a storyboard");
    // The same frames, JPEG-encoded one by one at the sheets' quality.
    let (zip, _) = extract(&path, &storyboard.frames(), Limits::default())
        .await
        .unwrap();
    let expected = decode_images(&entries(zip).await);
    // 24 s every 5 s: the `fps` filter's 5 outputs, on two sheets of 2x2.
    assert_eq!((out.tiles, out.sheets.len()), (5, 2));
    assert_eq!((out.tile_width, out.tile_height), (80, 60));
    let sheets: Vec<_> = out
        .sheets
        .iter()
        .map(|s| image::load_from_memory(s).unwrap().to_rgb8())
        .collect();
    let cues: Vec<&str> = out.vtt.lines().filter(|l| l.contains("#xywh=")).collect();
    assert_eq!(cues.len(), 5, "{}", out.vtt);
    assert!(out.vtt.starts_with("WEBVTT\n"));
    assert!(
        out.vtt.contains("00:00:20.000 --> 00:00:24.000"),
        "the last cue ends with the video: {}",
        out.vtt
    );
    let mean_difference = |a: &image::RgbImage, b: &image::RgbImage| {
        let diff: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        diff as f64 / a.as_raw().len() as f64
    };
    for (i, cue) in cues.iter().enumerate() {
        let (file, xywh) = cue.split_once("#xywh=").unwrap();
        let sheet = file.trim_start_matches("storyboard/").trim_end_matches(".jpg");
        let sheet = &sheets[sheet.parse::<usize>().unwrap()];
        let v: Vec<u32> = xywh.split(',').map(|n| n.parse().unwrap()).collect();
        let tile = image::imageops::crop_imm(sheet, v[0], v[1], v[2], v[3]).to_image();
        assert_eq!(tile.dimensions(), expected[i].dimensions());
        // Within JPEG's loss of its own frame, and nearer to it than to any other frame of the interval.
        let differences: Vec<f64> = expected
            .iter()
            .map(|frame| mean_difference(&tile, frame))
            .collect();
        let nearest = (0..differences.len())
            .min_by(|&a, &b| differences[a].total_cmp(&differences[b]))
            .unwrap();
        assert_eq!(nearest, i, "{cue}: {differences:?}");
        assert!(differences[i] < 10.0, "{cue}: {differences:?}");
    }
}

/// Seeking stays off where it cannot gain: the default `fps=1` reads every packet.
#[tokio::test]
async fn dense_selections_do_not_seek() {
    let (_, summary) = extract(&clip(&SPARSE[0]), &ExtractionSpec::default(), Limits::default())
        .await
        .unwrap();
    assert_eq!(summary.stats.seeks, 0);
}

#[tokio::test]
async fn jpeg_webp_and_max_width() {
    let path = clip(&H264);
    for format in [ImageFormat::Jpeg { quality: 85 }, ImageFormat::Webp] {
        let spec = ExtractionSpec {
            format,
            max_width: Some(160),
            ..Default::default()
        };
        let (zip, summary) = extract(&path, &spec, Limits::default()).await.unwrap();
        let entries = entries(zip).await;
        assert_eq!(entries.len(), 11);
        assert!(entries[0].0.ends_with(format.extension()), "{}", entries[0].0);
        let images = decode_images(&entries);
        assert!(images.iter().all(|i| i.dimensions() == (160, 120)));
        assert_eq!(
            (
                summary.manifest.source.output_width,
                summary.manifest.source.output_height
            ),
            (160, 120)
        );
    }
    // Lossless WebP at full size is the same picture as the PNG.
    let webp = ExtractionSpec {
        format: ImageFormat::Webp,
        ..Default::default()
    };
    let (a, _) = extract(&path, &webp, Limits::default()).await.unwrap();
    let (b, _) = extract_default(&path).await;
    assert_eq!(decode_images(&entries(a).await), decode_images(&entries(b).await));
}

#[tokio::test]
async fn manifest_describes_every_frame() {
    let path = clip(&WITH_AUDIO);
    let (zip, summary) = extract_default(&path).await;
    let entries = entries(zip).await;
    let (last_name, manifest_bytes) = entries.last().unwrap();
    assert_eq!(last_name, MANIFEST_NAME);
    let manifest: serde_json::Value = serde_json::from_slice(manifest_bytes).unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(
        manifest["spec"],
        serde_json::to_value(ExtractionSpec::default()).unwrap()
    );
    assert_eq!(manifest["source"]["codec"], "h264");
    assert_eq!(manifest["source"]["width"], 320);
    assert_eq!(manifest["source"]["height"], 240);
    assert_eq!(manifest["source"]["frame_rate"], "30/1");
    assert_eq!(
        manifest["source"]["size_bytes"],
        std::fs::metadata(&path).unwrap().len()
    );
    let frames = manifest["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6);
    assert_eq!(manifest["frame_count"], 6);
    let mut previous = -1.0;
    for (i, frame) in frames.iter().enumerate() {
        let (name, data) = &entries[i];
        assert_eq!(frame["index"], i);
        assert_eq!(frame["file"], name.as_str());
        assert_eq!(*name, frame_file_name(i as u64, "png"));
        assert_eq!(frame["size"], data.len());
        assert_eq!(frame["sha256"], hex::encode(Sha256::digest(data)));
        let pts = frame["pts"].as_f64().unwrap();
        // fps=1 takes the last frame before n + 0.5 s, at 30 fps.
        assert!(
            pts > previous && pts < i as f64 + 0.5 && pts >= i as f64 + 0.5 - 1.0 / 30.0 - 1e-9,
            "{pts}"
        );
        previous = pts;
    }
    assert_eq!(serde_json::to_value(&summary.manifest).unwrap(), manifest);
}

#[tokio::test]
async fn zip_entries_carry_the_extraction_time() {
    let (zip, _) = extract_default(&clip(&VP9)).await;
    let reader = async_zip::base::read::mem::ZipFileReader::new(zip).await.unwrap();
    let year = time::OffsetDateTime::now_utc().year();
    for entry in reader.file().entries() {
        assert_eq!(entry.last_modification_date().year(), year);
    }
}

#[tokio::test]
async fn streamed_source_gives_the_same_archive_entries() {
    let path = clip(&VP9);
    let file = tokio::fs::File::open(&path).await.unwrap();
    let extractor = Extractor::new(Limits::default());
    let (streamed, _) = extractor
        .extract_reader(file, &ExtractionSpec::default(), Vec::new(), |_| {})
        .await
        .unwrap();
    let (direct, _) = extract_default(&path).await;
    let strip = |e: Vec<(String, Vec<u8>)>| {
        e.into_iter()
            .filter(|(n, _)| n != MANIFEST_NAME)
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(entries(streamed).await), strip(entries(direct).await));
}

#[tokio::test]
async fn progress_counts_up_to_the_total() {
    let mut seen = Vec::new();
    Extractor::new(Limits::default())
        .extract_path(&clip(&H264), &ExtractionSpec::default(), Vec::new(), |p| {
            seen.push(p)
        })
        .await
        .unwrap();
    assert!(seen.windows(2).all(|w| w[0].frames_done <= w[1].frames_done));
    assert!(seen.iter().all(|p| p.frames_done <= p.frames_expected));
    let last = seen.last().unwrap();
    assert_eq!((last.frames_done, last.frames_expected), (10, 10));
}
