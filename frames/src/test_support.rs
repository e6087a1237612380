//! Test videos generated with the ffmpeg CLI (cached in the system temporary directory), and helpers to run the
//! engine and read its archives: shared by this crate's tests, the processor's, `fiapx`'s and the benchmarks.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use fiapx_domain::ExtractionSpec;

use crate::{ExtractError, ExtractionSummary, Extractor, Limits};

/// A generated clip: file name, the lavfi graphs of its inputs, the ffmpeg output options and the video
/// encoder's (one of the presets below, or none).
pub struct Clip {
    pub name: &'static str,
    pub inputs: &'static [&'static str],
    pub args: &'static [&'static str],
    pub encoder: &'static [&'static str],
}

/// H.264 in 4:2:0 by x264 at `veryfast`.
pub const X264_VERYFAST: &[&str] = &["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast"];

/// VP9 by libvpx at its fastest realtime setting.
pub const VP9_REALTIME: &[&str] = &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"];

/// 10.3 s of H.264 with B-frames: `fps=1` gives 10 frames.
pub const H264: Clip = Clip {
    name: "h264_10_3s.mp4",
    inputs: &["testsrc2=size=320x240:rate=25"],
    args: &["-t", "10.3", "-movflags", "+faststart"],
    encoder: X264_VERYFAST,
};

/// VP9 in WebM at 24 fps.
pub const VP9: Clip = Clip {
    name: "vp9_6_3s.webm",
    inputs: &["testsrc2=size=320x240:rate=24"],
    args: &["-t", "6.3", "-pix_fmt", "yuv420p"],
    encoder: VP9_REALTIME,
};

/// Odd width and height (VP9 allows them in 4:2:0).
pub const ODD: Clip = Clip {
    name: "odd_321x241.webm",
    inputs: &["testsrc2=size=320x240:rate=25"],
    args: &["-t", "4.2", "-vf", "scale=321:241", "-pix_fmt", "yuv420p"],
    encoder: VP9_REALTIME,
};

/// Variable frame rate: bursts of 20 frames out of every 47 at 30 fps, then steady.
pub const VFR: Clip = Clip {
    name: "vfr.mp4",
    inputs: &["testsrc2=size=320x240:rate=30"],
    args: &[
        "-t",
        "8",
        "-vf",
        "select='lt(mod(n\\,47)\\,20)+gt(n\\,200)'",
        "-fps_mode",
        "vfr",
    ],
    encoder: X264_VERYFAST,
};

/// MPEG-TS whose timestamps start at 3.3 s (plus the muxer's own offset).
pub const LATE_START: Clip = Clip {
    name: "late_start.ts",
    inputs: &["testsrc2=size=320x240:rate=25"],
    args: &["-t", "5.5", "-output_ts_offset", "3.3"],
    encoder: X264_VERYFAST,
};

/// H.264 with AAC audio.
pub const WITH_AUDIO: Clip = Clip {
    name: "with_audio.mp4",
    inputs: &["testsrc2=size=320x240:rate=30", "sine=f=440"],
    args: &["-t", "5.5", "-c:a", "aac", "-shortest"],
    encoder: X264_VERYFAST,
};

/// WebM whose audio (7 s) outlasts its video (4 s): the container's duration is the audio's.
pub const LONG_AUDIO: Clip = Clip {
    name: "long_audio.webm",
    inputs: &["testsrc2=size=160x120:rate=25:d=4", "sine=d=7"],
    args: &["-c:a", "libopus"],
    encoder: VP9_REALTIME,
};

/// Audio only.
pub const AUDIO_ONLY: Clip = Clip {
    name: "audio_only.m4a",
    inputs: &["sine=f=440:d=3"],
    args: &["-c:a", "aac"],
    encoder: &[],
};

/// An MP3 whose only picture is cover art (an `attached_pic` "video" stream).
pub const COVER_ART_MP3: Clip = Clip {
    name: "cover_art.mp3",
    inputs: &["sine=f=440:d=2", "testsrc2=size=64x64:d=1"],
    args: &[
        "-map",
        "0",
        "-map",
        "1",
        "-frames:v",
        "1",
        "-c:a",
        "libmp3lame",
        "-c:v",
        "mjpeg",
        "-disposition:v:0",
        "attached_pic",
    ],
    encoder: &[],
};

/// A Matroska file holding one subtitle track and no other stream.
pub fn subtitles_only() -> PathBuf {
    let srt = fixtures_dir().join(format!("subs.{}.srt", std::process::id()));
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n").unwrap();
    let path = generated(
        &fixtures_dir(),
        "subtitles_only.mkv",
        &["-i", srt.to_str().unwrap(), "-c:s", "srt"],
    );
    let _ = std::fs::remove_file(srt);
    path
}

/// H.264 by x264 with B-frames and a keyframe every second: what seeking works on.
pub const X264_GOP_1S: &[&str] = &[
    "-pix_fmt",
    "yuv420p",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-bf",
    "3",
    "-g",
    "25",
    "-keyint_min",
    "25",
];

/// Clips of 24 s with a keyframe every second, one per container (with and without an index), plus a variable
/// frame rate and a late start: a sparse selection on them seeks where the container allows.
pub const SPARSE: [Clip; 7] = [
    Clip {
        name: "sparse.mp4",
        inputs: &["testsrc2=size=160x120:rate=25"],
        args: &["-t", "24"],
        encoder: X264_GOP_1S,
    },
    Clip {
        name: "sparse.mkv",
        inputs: &["testsrc2=size=160x120:rate=25"],
        args: &["-t", "24"],
        encoder: X264_GOP_1S,
    },
    Clip {
        name: "sparse.webm",
        inputs: &["testsrc2=size=160x120:rate=25"],
        args: &["-t", "24", "-pix_fmt", "yuv420p", "-g", "25"],
        encoder: VP9_REALTIME,
    },
    Clip {
        name: "sparse.ts",
        inputs: &["testsrc2=size=160x120:rate=25"],
        args: &["-t", "24"],
        encoder: X264_GOP_1S,
    },
    Clip {
        name: "sparse.avi",
        inputs: &["testsrc2=size=160x120:rate=25"],
        args: &["-t", "24", "-c:v", "mpeg4", "-bf", "2", "-g", "25", "-q:v", "5"],
        encoder: &[],
    },
    Clip {
        name: "sparse_vfr.mp4",
        inputs: &["testsrc2=size=160x120:rate=30"],
        args: &[
            "-t",
            "24",
            "-vf",
            "select='lt(mod(n\\,47)\\,20)+gt(n\\,500)'",
            "-fps_mode",
            "vfr",
        ],
        encoder: X264_GOP_1S,
    },
    Clip {
        name: "sparse_late_start.mp4",
        inputs: &["testsrc2=size=160x120:rate=25"],
        args: &["-t", "24", "-output_ts_offset", "3.3"],
        encoder: X264_GOP_1S,
    },
];

/// Four hard cuts between pictures that move inside each scene: 2 s each of `testsrc2`, `smptebars`, `rgbtestsrc`
/// with noise, `mandelbrot`, and `testsrc2` again; 25 fps H.264 with B-frames.
pub const SCENES: Clip = Clip {
    name: "scenes.mp4",
    inputs: &[
        "testsrc2=size=160x120:rate=25:duration=2",
        "smptebars=size=160x120:rate=25:duration=2",
        "rgbtestsrc=size=160x120:rate=25:duration=2",
        "mandelbrot=size=160x120:rate=25",
        "testsrc2=size=160x120:rate=25:duration=2",
    ],
    args: &[
        "-filter_complex",
        "[2]noise=alls=30:allf=t[noisy];[3]trim=duration=2[fractal];[0][1][noisy][fractal][4]concat=n=5:v=1:a=0",
    ],
    encoder: X264_GOP_1S,
};

/// Path to `clip`, generating it on first use.
pub fn clip(clip: &Clip) -> PathBuf {
    let mut args: Vec<&str> = Vec::new();
    for graph in clip.inputs {
        args.extend_from_slice(&["-f", "lavfi", "-i", graph]);
    }
    args.extend_from_slice(clip.args);
    args.extend_from_slice(clip.encoder);
    generated(&fixtures_dir(), clip.name, &args)
}

/// `seconds` of the `testsrc2` pattern at `size` and `rate` fps in H.264 (yuv420p, x264 `preset`), generated once
/// in the fixtures directory and shared by name.
pub fn testsrc_h264(size: &str, rate: u32, seconds: &str, preset: &str) -> PathBuf {
    let source = format!("testsrc2=size={size}:rate={rate}");
    generated(
        &fixtures_dir(),
        &format!("h264_{size}_{rate}fps_{seconds}s_{preset}.mp4"),
        &[
            "-f", "lavfi", "-i", &source, "-t", seconds, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset",
            preset,
        ],
    )
}

/// `dir/name`, made on first use by ffmpeg with `args` (the muxer follows from the name's extension). Safe under
/// parallel test processes: written to a unique temporary name and renamed into place.
pub fn generated(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    if !path.exists() {
        let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
        let ext = Path::new(name).extension().unwrap().to_str().unwrap();
        let mut all: Vec<&str> = vec!["-v", "error", "-y"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-f", muxer_for(ext)]);
        ffmpeg(&all, &tmp);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn muxer_for(ext: &str) -> &'static str {
    match ext {
        "mp4" | "m4a" => "mp4",
        "mp3" => "mp3",
        "webm" => "webm",
        "ts" => "mpegts",
        "mkv" => "matroska",
        "avi" => "avi",
        other => panic!("no muxer for .{other}"),
    }
}

/// A copy of `clip` with the display matrix of a phone held upright (rotation 90), made by stream copy as phones
/// write them.
pub fn rotated(source: &Clip, degrees: u32) -> PathBuf {
    let src = clip(source);
    let rotate = format!("rotate={degrees}");
    generated(
        &fixtures_dir(),
        // MP4, whatever the source's container: the display matrix is an MP4 box.
        &format!(
            "rot{degrees}_{}.mp4",
            Path::new(source.name).file_stem().unwrap().to_str().unwrap()
        ),
        &[
            "-i",
            src.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &rotate,
        ],
    )
}

/// Runs ffmpeg with `args` then `output`, panicking with its stderr on failure.
pub fn ffmpeg(args: &[&str], output: &Path) {
    fiapx_domain::testing::run_tool(
        Command::new("ffmpeg").args(args).arg(output),
        &format!("ffmpeg {args:?}"),
    );
}

pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("fiapx-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A damaged copy of `source` made by `damage`, in `dir`.
pub fn damaged(source: &Path, dir: &Path, name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(source).unwrap();
    damage(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs the engine on a file into memory.
pub async fn extract(
    path: &Path,
    spec: &ExtractionSpec,
    limits: Limits,
) -> Result<(Vec<u8>, ExtractionSummary), ExtractError> {
    Extractor::new(limits)
        .extract_path(path, spec, Vec::new(), |_| {})
        .await
}

/// Runs the engine on a file with the default spec and limits, into memory; panics when it fails.
pub async fn extract_default(path: &Path) -> (Vec<u8>, ExtractionSummary) {
    extract(path, &ExtractionSpec::default(), Limits::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

/// Every entry of a ZIP, in order, as (name, bytes); asserts each is Stored.
pub async fn entries(zip: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let reader = async_zip::base::read::mem::ZipFileReader::new(zip).await.unwrap();
    let mut out = Vec::new();
    for (i, entry) in reader.file().entries().iter().enumerate() {
        assert_eq!(entry.compression(), async_zip::Compression::Stored);
        let name = entry.filename().as_str().unwrap().to_owned();
        let mut data = Vec::new();
        reader
            .reader_with_entry(i)
            .await
            .unwrap()
            .read_to_end_checked(&mut data)
            .await
            .unwrap();
        out.push((name, data));
    }
    out
}

/// ffmpeg's own output for `-vf <filter>` as decoded RGB images, in order.
pub fn ffmpeg_frames(input: &Path, filter: &str) -> Vec<image::RgbImage> {
    ffmpeg_frames_with(&[], input, &["-vf", filter])
}

/// ffmpeg's own output with `input_options` before `-i input` and `output_options` after it, as decoded RGB
/// images, in order.
pub fn ffmpeg_frames_with(
    input_options: &[&str],
    input: &Path,
    output_options: &[&str],
) -> Vec<image::RgbImage> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["-v", "error"];
    args.extend_from_slice(input_options);
    args.extend_from_slice(&["-i", input.to_str().unwrap()]);
    args.extend_from_slice(output_options);
    ffmpeg(&args, &dir.path().join("%04d.png"));
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| image::open(f).unwrap().to_rgb8()).collect()
}

/// Decodes our archive's images (everything but the manifest).
pub fn decode_images(entries: &[(String, Vec<u8>)]) -> Vec<image::RgbImage> {
    entries
        .iter()
        .filter(|(name, _)| name != crate::MANIFEST_NAME)
        .map(|(_, data)| image::load_from_memory(data).unwrap().to_rgb8())
        .collect()
}
