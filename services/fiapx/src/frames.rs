//! `fiapx frames`: the frame engine as a local command, with a progress bar.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use fiapx_domain::{
    DEFAULT_JPEG_QUALITY, ExtractionSpec, ImageFormat, Position, Rational, Selection, Storyboard,
};
use fiapx_frames::{Extractor, Limits, STORYBOARD_DIR, StoryboardOutput, sheet_file_name};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt;

/// Arguments of `fiapx frames`.
#[derive(Debug, Args)]
pub struct FramesArgs {
    /// Input video (any container FFmpeg recognises by content).
    input: PathBuf,
    /// Output ZIP.
    #[arg(short, long)]
    output: PathBuf,
    /// Frames per second, as an integer, decimal or fraction (default 1, like `ffmpeg -vf fps=1`).
    #[arg(long, group = "selection")]
    fps: Option<Rational>,
    /// One frame every N seconds.
    #[arg(long, group = "selection")]
    every: Option<Rational>,
    /// N frames evenly spaced over the video.
    #[arg(long, group = "selection")]
    count: Option<u32>,
    /// The frames shown at these positions, comma-separated: first, last, seconds (12.5), a time (01:02:03.250)
    /// or a share of the duration (10%).
    #[arg(long, group = "selection")]
    at: Option<String>,
    /// Scene changes: the first frame, then each frame whose scene score (0-1) is above this threshold.
    #[arg(long, group = "selection")]
    scene: Option<Rational>,
    /// With --scene: the least seconds between two frames kept.
    #[arg(long, requires = "scene", default_value = "0")]
    min_gap: Rational,
    /// Every keyframe and nothing else (only keyframes are decoded).
    #[arg(long, group = "selection")]
    keyframes: bool,
    /// Image format.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    format: Format,
    /// JPEG quality, 1-100.
    #[arg(long, default_value_t = DEFAULT_JPEG_QUALITY)]
    quality: u8,
    /// Scale down to at most this width, keeping the aspect ratio.
    #[arg(long)]
    max_width: Option<u32>,
    /// Scale down to at most this height, keeping the aspect ratio.
    #[arg(long)]
    max_height: Option<u32>,
    /// Also make a storyboard (scrub previews): a tile every N seconds, written to `<output>-storyboard/`
    /// (`storyboard.vtt` and its sprite sheets in `storyboard/`).
    #[arg(long, value_name = "SECONDS")]
    storyboard: Option<Rational>,
    /// Storyboard tile width in pixels.
    #[arg(long, requires = "storyboard", default_value_t = Storyboard::DEFAULT_WIDTH)]
    storyboard_width: u32,
    /// Storyboard tiles per row of a sheet.
    #[arg(long, requires = "storyboard", default_value_t = Storyboard::DEFAULT_SIDE)]
    storyboard_columns: u32,
    /// Storyboard rows of tiles per sheet.
    #[arg(long, requires = "storyboard", default_value_t = Storyboard::DEFAULT_SIDE)]
    storyboard_rows: u32,
    /// Hide the progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Png,
    Jpeg,
    Webp,
}

impl FramesArgs {
    fn spec(&self) -> anyhow::Result<ExtractionSpec> {
        let selection = if let Some(seconds) = self.every {
            Selection::Every { seconds }
        } else if let Some(count) = self.count {
            Selection::Count { count }
        } else if let Some(at) = &self.at {
            Selection::At {
                at: Position::parse_list(at).context("--at")?,
            }
        } else if let Some(threshold) = self.scene {
            Selection::Scene {
                threshold,
                min_gap: self.min_gap,
            }
        } else if self.keyframes {
            Selection::Keyframes
        } else {
            Selection::Fps {
                fps: self.fps.unwrap_or(Rational::new(1, 1)),
            }
        };
        let format = match self.format {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg {
                quality: self.quality,
            },
            Format::Webp => ImageFormat::Webp,
        };
        Ok(ExtractionSpec {
            selection,
            format,
            max_width: self.max_width,
            max_height: self.max_height,
            storyboard: self.storyboard.map(|every| Storyboard {
                every,
                width: self.storyboard_width,
                columns: self.storyboard_columns,
                rows: self.storyboard_rows,
            }),
        })
    }

    /// Where the storyboard goes: `<output without .zip>-storyboard/`.
    fn storyboard_dir(&self) -> PathBuf {
        let stem = self.output.file_stem().unwrap_or_default().to_string_lossy();
        self.output.with_file_name(format!("{stem}-storyboard"))
    }
}

/// Runs the extraction, writing the archive next to its final name and renaming it on success.
pub async fn run(args: FramesArgs) -> anyhow::Result<()> {
    let spec = args.spec()?;
    spec.validate().context("invalid options")?;
    let partial = args.output.with_extension("zip.partial");
    let file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("creating {}", partial.display()))?;
    let writer = tokio::io::BufWriter::with_capacity(1 << 20, file);

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    let started = Instant::now();
    let result = Extractor::new(Limits::default())
        .extract_path(&args.input, &spec, writer, |p| {
            bar.set_length(p.frames_expected);
            bar.set_position(p.frames_done);
        })
        .await;
    bar.finish_and_clear();
    let (mut writer, summary) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e).with_context(|| format!("extracting frames from {}", args.input.display()));
        }
    };
    writer.shutdown().await.context("closing the archive")?;
    tokio::fs::rename(&partial, &args.output)
        .await
        .with_context(|| format!("writing {}", args.output.display()))?;
    if let Some(storyboard) = &summary.storyboard {
        let dir = args.storyboard_dir();
        write_storyboard(&dir, storyboard)
            .await
            .with_context(|| format!("writing the storyboard into {}", dir.display()))?;
        if !args.quiet {
            eprintln!("{} storyboard tiles into {}", storyboard.tiles, dir.display());
        }
    }
    if !args.quiet {
        eprintln!(
            "{} frames from {:.1} s of video into {} in {:.2} s",
            summary.manifest.frame_count,
            summary.stats.decoded_seconds,
            args.output.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `dir/storyboard.vtt` and `dir/storyboard/<n>.jpg`, as the WebVTT file names them.
async fn write_storyboard(dir: &std::path::Path, storyboard: &StoryboardOutput) -> std::io::Result<()> {
    let sheets = dir.join(STORYBOARD_DIR);
    tokio::fs::create_dir_all(&sheets).await?;
    for (index, sheet) in storyboard.sheets.iter().enumerate() {
        tokio::fs::write(sheets.join(sheet_file_name(index)), sheet).await?;
    }
    tokio::fs::write(dir.join("storyboard.vtt"), &storyboard.vtt).await
}
