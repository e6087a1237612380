//! Getting the bytes of a video in front of FFmpeg.
//!
//! Every input reaches the demuxer through a custom `AVIOContext` over a `std::fs::File`, never through an FFmpeg
//! URL: the format is probed by content only (no file name, so no extension bonus), and a user-supplied name can
//! never reach FFmpeg's network or `concat:` protocols.
//!
//! A streamed source (an `AsyncRead`, e.g. an S3 object body) is spooled to an anonymous temporary file first. MP4
//! files written without `faststart` keep their index at the end, so demuxing needs random access; a pipe bridge
//! would have to buffer the whole file in memory for those. The spool costs disk, bounded by
//! [`crate::Limits::max_input_bytes`], and keeps memory flat. A local path skips the spool and is read in place.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rsmpeg::{
    avformat::{AVFormatContextInput, AVIOContextContainer, AVIOContextCustom},
    avutil::AVMem,
    error::RsmpegError,
    ffi,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::error::ExtractError;

/// FFmpeg reads in blocks of this size; large enough that the syscall count is irrelevant next to decoding.
const IO_BUFFER: usize = 256 * 1024;
/// Bytes kept for naming the container in error messages.
const PROBE_BYTES: usize = 64 * 1024;

/// A seekable input file, possibly an anonymous spool that disappears when dropped.
#[derive(Debug)]
pub(crate) struct InputFile {
    file: File,
    size: u64,
    /// The first bytes, for naming the container when the demuxer refuses the file.
    head: Vec<u8>,
}

impl InputFile {
    /// Opens a local file in place.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, ExtractError> {
        let file = File::open(path).map_err(ExtractError::Input)?;
        let size = file.metadata().map_err(ExtractError::Input)?.len();
        Self::checked(file, size, max_bytes)
    }

    /// Copies a stream into an anonymous temporary file, refusing more than `max_bytes`.
    pub async fn spool<R: AsyncRead + Unpin>(reader: R, max_bytes: u64) -> Result<Self, ExtractError> {
        let spool = tempfile::tempfile().map_err(ExtractError::Input)?;
        let mut writer = tokio::io::BufWriter::with_capacity(IO_BUFFER, tokio::fs::File::from_std(spool));
        // One byte over the limit is enough to know the input is too large.
        let mut limited = reader.take(max_bytes.saturating_add(1));
        let size = tokio::io::copy(&mut limited, &mut writer)
            .await
            .map_err(ExtractError::Input)?;
        writer.flush().await.map_err(ExtractError::Input)?;
        let mut file = writer.into_inner().into_std().await;
        file.seek(SeekFrom::Start(0)).map_err(ExtractError::Input)?;
        Self::checked(file, size, max_bytes)
    }

    fn checked(mut file: File, size: u64, max_bytes: u64) -> Result<Self, ExtractError> {
        if size == 0 {
            return Err(ExtractError::Empty);
        }
        if size > max_bytes {
            return Err(ExtractError::InputTooLarge { limit: max_bytes });
        }
        let mut head = Vec::with_capacity(PROBE_BYTES);
        (&mut file)
            .take(PROBE_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(ExtractError::Input)?;
        file.seek(SeekFrom::Start(0)).map_err(ExtractError::Input)?;
        Ok(Self { file, size, head })
    }

    /// Size in bytes.
    /// Another handle on the same file, for a second pass (each pass's demuxer starts from the beginning).
    pub fn try_clone(&self) -> Result<Self, ExtractError> {
        Ok(Self {
            file: self.file.try_clone().map_err(ExtractError::Input)?,
            size: self.size,
            head: self.head.clone(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Stops a decode: by deadline, or because whoever wanted the frames went away.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    deadline: Instant,
    budget: Duration,
    cancelled: Arc<AtomicBool>,
}

impl Guard {
    pub fn new(budget: Duration) -> Self {
        let deadline = Instant::now()
            .checked_add(budget)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        Self {
            deadline,
            budget,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Fails once the decode must stop.
    pub fn check(&self) -> Result<(), ExtractError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(ExtractError::Cancelled);
        }
        if Instant::now() >= self.deadline {
            return Err(ExtractError::DecodeTimeout {
                limit_seconds: self.budget.as_secs_f64(),
            });
        }
        Ok(())
    }
}

/// Opens the demuxer on `input`, probing by content, and reads stream info.
pub(crate) fn open_demuxer(input: &InputFile, guard: &Guard) -> Result<AVFormatContextInput, ExtractError> {
    // Reads and seeks go through two handles of one open file description, so they share the position.
    let mut reader = input.file.try_clone().map_err(ExtractError::Input)?;
    let mut seeker = input.file.try_clone().map_err(ExtractError::Input)?;
    seeker.seek(SeekFrom::Start(0)).map_err(ExtractError::Input)?;
    let size = input.size;
    let read_guard = guard.clone();
    let io = AVIOContextCustom::alloc_context(
        AVMem::new(IO_BUFFER),
        false,
        Vec::new(),
        Some(Box::new(move |_, buf| {
            // Checking here also bounds demuxers that loop on I/O inside a single FFmpeg call.
            if read_guard.check().is_err() {
                return ffi::AVERROR_EXIT;
            }
            loop {
                match reader.read(buf) {
                    Ok(0) => return ffi::AVERROR_EOF,
                    Ok(n) => return n as i32,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return ffi::AVERROR(e.raw_os_error().unwrap_or(libc_eio()) as u32),
                }
            }
        })),
        None,
        Some(Box::new(move |_, offset, whence| {
            if whence & ffi::AVSEEK_SIZE as i32 != 0 {
                return size as i64;
            }
            let target = match whence & !(ffi::AVSEEK_FORCE as i32) {
                0 => SeekFrom::Start(offset.max(0) as u64),
                1 => SeekFrom::Current(offset),
                2 => SeekFrom::End(offset),
                _ => return i64::from(ffi::AVERROR(22)),
            };
            match seeker.seek(target) {
                Ok(position) => position as i64,
                Err(_) => i64::from(ffi::AVERROR(22)),
            }
        })),
    );
    AVFormatContextInput::from_io_context(AVIOContextContainer::Custom(io)).map_err(|e| {
        guard.check().err().unwrap_or_else(|| match e {
            RsmpegError::OpenInputError(code) => match crate::ffmpeg_ffi::probe_format(&input.head) {
                // The content looks like a known container whose header cannot be read: typically an MP4 cut
                // before its index (written at the end unless `faststart`), which leaves no duration to compare.
                Some(container) => ExtractError::Corrupt {
                    detail: format!(
                        "{container} header unreadable, the file is truncated or damaged: {}",
                        crate::ffmpeg_ffi::av_error_text(code)
                    ),
                },
                None => ExtractError::UnrecognizedFormat {
                    detail: crate::ffmpeg_ffi::av_error_text(code),
                },
            },
            RsmpegError::FindStreamInfoError(code) => ExtractError::Corrupt {
                detail: format!("reading stream info: {}", crate::ffmpeg_ffi::av_error_text(code)),
            },
            other => ExtractError::Ffmpeg {
                context: "opening the input",
                message: other.to_string(),
            },
        })
    })
}

/// `EIO`, for read errors without an OS code.
const fn libc_eio() -> i32 {
    5
}
