//! The extraction pipeline: decoder thread -> encoder pool -> ZIP writer, each stage bounded.

use std::{path::Path, time::Duration};

use fiapx_domain::ExtractionSpec;
use futures::StreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    sync::mpsc,
    time::Instant,
};

use crate::{
    archive::{ArchiveWriter, Manifest, sha256_hex},
    decode::{Decode, DecodeEvent, DecodeStats, SelectedFrame},
    encode::encode_image,
    error::ExtractError,
    input::{Guard, InputFile},
    limits::Limits,
    storyboard::{SheetBuilder, StoryboardOutput},
};

/// Decoded frames waiting for an encoder. Small: each is a full RGB picture (6 MB at 1080p).
const FRAME_QUEUE: usize = 2;
/// How long past the decode budget the async side waits for a decoder stuck inside FFmpeg before giving up on it.
const STUCK_DECODER_GRACE: Duration = Duration::from_secs(5);

/// Live status: images written so far out of those expected (the expectation comes from the announced duration,
/// so it can be off by one either way until the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Images in the archive so far.
    pub frames_done: u64,
    /// Images expected in total (never below `frames_done`).
    pub frames_expected: u64,
}

/// What a finished extraction produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractionSummary {
    /// The manifest written into the archive.
    pub manifest: Manifest,
    /// Bytes of entry data (images and manifest) in the archive.
    pub entry_bytes: u64,
    /// Decoder counters.
    pub stats: DecodeStats,
    /// The storyboard, when the spec asks for one.
    pub storyboard: Option<StoryboardOutput>,
}

/// Extracts frames from videos into ZIP archives.
#[derive(Clone, Debug)]
pub struct Extractor {
    limits: Limits,
    encoders: usize,
    seek: bool,
}

impl Extractor {
    /// An extractor with these limits and one image encoder per core.
    pub fn new(limits: Limits) -> Self {
        let encoders = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            limits,
            encoders,
            seek: true,
        }
    }

    /// Decodes every reference frame instead of seeking past stretches no selected frame comes from (the same
    /// frames, more slowly): the baseline of the benchmarks and of the tests that prove seeking changes nothing.
    pub fn decoding_through(mut self) -> Self {
        self.seek = false;
        self
    }

    /// Sets how many images are encoded at once (at least one).
    pub fn with_encoders(mut self, encoders: usize) -> Self {
        self.encoders = encoders.max(1);
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Extracts from a local file, read in place. Returns the writer (flushed, not shut down) and a summary.
    pub async fn extract_path<W>(
        &self,
        path: &Path,
        spec: &ExtractionSpec,
        output: W,
        progress: impl FnMut(Progress),
    ) -> Result<(W, ExtractionSummary), ExtractError>
    where
        W: AsyncWrite + Unpin,
    {
        spec.validate()?;
        let path = path.to_owned();
        let max = self.limits.max_input_bytes;
        let input = tokio::task::spawn_blocking(move || InputFile::open(&path, max))
            .await
            .map_err(|e| ExtractError::Input(std::io::Error::other(e)))??;
        self.extract_input(input, spec, output, progress).await
    }

    /// Extracts from any byte stream (e.g. an object-store download), spooled to a temporary file first.
    pub async fn extract_reader<R, W>(
        &self,
        reader: R,
        spec: &ExtractionSpec,
        output: W,
        progress: impl FnMut(Progress),
    ) -> Result<(W, ExtractionSummary), ExtractError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        spec.validate()?;
        let input = InputFile::spool(reader, self.limits.max_input_bytes).await?;
        self.extract_input(input, spec, output, progress).await
    }

    async fn extract_input<W>(
        &self,
        input: InputFile,
        spec: &ExtractionSpec,
        output: W,
        mut progress: impl FnMut(Progress),
    ) -> Result<(W, ExtractionSummary), ExtractError>
    where
        W: AsyncWrite + Unpin,
    {
        let budget = Duration::from_secs_f64(self.limits.max_decode_seconds.clamp(0.0, 1e9));
        let guard = Guard::new(budget);
        let give_up_at = Instant::from_std(guard.deadline()) + STUCK_DECODER_GRACE;
        let _stop_decoder = CancelOnDrop(guard.clone());
        let (tx, mut rx) = mpsc::channel(FRAME_QUEUE);
        let second_pass = match spec.storyboard {
            Some(storyboard) => Some((input.try_clone()?, storyboard)),
            None => None,
        };
        let decode = Decode {
            input,
            spec: spec.clone(),
            limits: self.limits.clone(),
            guard: guard.clone(),
            seek: self.seek,
        };
        let mut decoder = tokio::task::spawn_blocking(move || decode.run(tx));
        let timeout = || ExtractError::DecodeTimeout {
            limit_seconds: budget.as_secs_f64(),
        };

        let (source, expected) = match tokio::time::timeout_at(give_up_at, rx.recv())
            .await
            .map_err(|_| timeout())?
        {
            Some(DecodeEvent::Opened {
                info,
                expected_frames,
            }) => (info, expected_frames),
            Some(DecodeEvent::Frame(_)) => unreachable!("the decoder announces the stream before any frame"),
            None => {
                let result = tokio::time::timeout_at(give_up_at, &mut decoder)
                    .await
                    .map_err(|_| timeout())?;
                return Err(joined(result).err().unwrap_or(ExtractError::Cancelled));
            }
        };

        let format = spec.format;
        let extension = format.extension();
        let frames = futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|event| (event, rx)) },
        );
        let mut encoded = std::pin::pin!(
            frames
                .map(move |event| {
                    tokio::task::spawn_blocking(move || {
                        let DecodeEvent::Frame(SelectedFrame {
                            outputs,
                            pts_seconds,
                            image,
                        }) = event
                        else {
                            unreachable!("the decoder announces the stream once");
                        };
                        let data = encode_image(&image, format)?;
                        let sha256 = sha256_hex(&data);
                        Ok::<_, ExtractError>((outputs, pts_seconds, data, sha256))
                    })
                })
                .buffered(self.encoders)
        );

        let mut archive = ArchiveWriter::new(output);
        let mut done = 0;
        while let Some(joined_encode) = tokio::time::timeout_at(give_up_at, encoded.next())
            .await
            .map_err(|_| timeout())?
        {
            let (outputs, pts, data, sha256) =
                joined_encode.map_err(|e| ExtractError::Encode(e.to_string()))??;
            for index in outputs {
                archive.add_frame(index, pts, extension, &data, &sha256).await?;
                done = index + 1;
                progress(Progress {
                    frames_done: done,
                    frames_expected: expected.max(done),
                });
            }
        }
        let stats = joined(
            tokio::time::timeout_at(give_up_at, &mut decoder)
                .await
                .map_err(|_| timeout())?,
        )?;
        let duration = source.duration_seconds;
        let (mut output, manifest, entry_bytes) = archive.finish(spec.clone(), source).await?;
        output.flush().await.map_err(ExtractError::Output)?;
        let storyboard = match second_pass {
            Some((input, storyboard)) => Some(
                tokio::time::timeout_at(give_up_at, self.storyboard(input, storyboard, duration, &guard))
                    .await
                    .map_err(|_| timeout())??,
            ),
            None => None,
        };
        progress(Progress {
            frames_done: done,
            frames_expected: done,
        });
        tracing::info!(
            frames = manifest.frame_count,
            archive.entry_bytes = entry_bytes,
            video.decoded_seconds = stats.decoded_seconds,
            "frames extracted"
        );
        Ok((
            output,
            ExtractionSummary {
                manifest,
                entry_bytes,
                stats,
                storyboard,
            },
        ))
    }

    /// Decodes the storyboard's frames from `input` (a second pass, in the same decode budget) and tiles them.
    async fn storyboard(
        &self,
        input: InputFile,
        storyboard: fiapx_domain::Storyboard,
        duration_seconds: Option<f64>,
        guard: &Guard,
    ) -> Result<StoryboardOutput, ExtractError> {
        let (tx, mut rx) = mpsc::channel(FRAME_QUEUE);
        let decode = Decode {
            input,
            spec: storyboard.frames(),
            limits: self.limits.clone(),
            guard: guard.clone(),
            seek: self.seek,
        };
        let decoder = tokio::task::spawn_blocking(move || decode.run(tx));
        // Tiling copies pixels and encodes a JPEG per full sheet: CPU work, kept off the async threads.
        let tiler = tokio::task::spawn_blocking(move || {
            let mut sheets = SheetBuilder::new(storyboard, duration_seconds);
            while let Some(event) = rx.blocking_recv() {
                if let DecodeEvent::Frame(SelectedFrame { outputs, image, .. }) = event {
                    for index in outputs {
                        sheets.add(index, &image)?;
                    }
                }
            }
            sheets.finish()
        });
        // A tiler that failed dropped the channel and cancelled the decoder: its error is the one to report.
        let tiled = tiler.await.map_err(|e| ExtractError::Encode(e.to_string()))?;
        let decoded = joined(decoder.await);
        let out = tiled?;
        decoded?;
        tracing::info!(tiles = out.tiles, sheets = out.sheets.len(), "storyboard made");
        Ok(out)
    }
}

fn joined<T>(result: Result<Result<T, ExtractError>, tokio::task::JoinError>) -> Result<T, ExtractError> {
    match result {
        Ok(inner) => inner,
        Err(e) if e.is_panic() => Err(ExtractError::Ffmpeg {
            context: "decoding",
            message: "the decoder thread panicked".into(),
        }),
        Err(_) => Err(ExtractError::Cancelled),
    }
}

/// Tells the decoder thread to stop when the pipeline is dropped early (error, timeout or caller cancellation).
struct CancelOnDrop(Guard);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
