//! The output ZIP: Stored entries written in order as frames are encoded, then `manifest.json`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_zip::{Compression, ZipDateTime, ZipDateTimeBuilder, ZipEntryBuilder, tokio::write::ZipFileWriter};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;
use tokio_util::compat::Compat;

use fiapx_domain::{ExtractionSpec, ManifestFrame, frame_file_name};

use crate::{decode::SourceInfo, error::ExtractError};

/// Name of the manifest entry, always the last one.
pub const MANIFEST_NAME: &str = "manifest.json";

/// `manifest.json`: what was extracted, from what, how.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    /// Manifest format version.
    pub version: u32,
    /// The spec the frames were selected and encoded with.
    pub spec: ExtractionSpec,
    /// The input.
    pub source: SourceInfo,
    /// Number of images.
    pub frame_count: u64,
    /// Every image, in order.
    pub frames: Vec<ManifestFrame>,
}

/// Writes entries one after another into any async writer. Zip64 records are added by `async_zip` as soon as an
/// offset or size needs them, so archives over 4 GiB or 65535 entries stay valid.
pub(crate) struct ArchiveWriter<W: AsyncWrite + Unpin> {
    zip: ZipFileWriter<Counted<W>>,
    modified: ZipDateTime,
    frames: Vec<ManifestFrame>,
    bytes: u64,
}

impl<W: AsyncWrite + Unpin> ArchiveWriter<W> {
    pub fn new(writer: W) -> Self {
        Self {
            zip: ZipFileWriter::with_tokio(Counted {
                inner: writer,
                written: 0,
            }),
            modified: zip_now(),
            frames: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds one encoded image as output `index`.
    pub async fn add_frame(
        &mut self,
        index: u64,
        pts: f64,
        extension: &str,
        data: &[u8],
        sha256: &str,
    ) -> Result<(), ExtractError> {
        let file = frame_file_name(index, extension);
        self.write(&file, data).await?;
        // An entry ends with its data (sizes are in the local header, no data descriptor follows).
        let size = data.len() as u64;
        let offset = self.zip.inner_mut().get_ref().written - size;
        self.frames.push(ManifestFrame {
            index,
            pts,
            file,
            size,
            sha256: sha256.to_owned(),
            offset: Some(offset),
        });
        Ok(())
    }

    /// Writes the manifest and the central directory, returning the writer and the frames written.
    pub async fn finish(
        mut self,
        spec: ExtractionSpec,
        source: SourceInfo,
    ) -> Result<(W, Manifest, u64), ExtractError> {
        let manifest = Manifest {
            version: 1,
            spec,
            source,
            frame_count: self.frames.len() as u64,
            frames: self.frames,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExtractError::Encode(e.to_string()))?;
        self.frames = Vec::new();
        let mut this = self;
        this.write(MANIFEST_NAME, &json).await?;
        let bytes = this.bytes;
        let writer: Compat<Counted<W>> = this.zip.close().await.map_err(zip_error)?;
        Ok((writer.into_inner().inner, manifest, bytes))
    }

    async fn write(&mut self, name: &str, data: &[u8]) -> Result<(), ExtractError> {
        let entry = ZipEntryBuilder::new(name.to_owned().into(), Compression::Stored)
            .last_modification_date(self.modified)
            .unix_permissions(0o644);
        self.zip.write_entry_whole(entry, data).await.map_err(zip_error)?;
        self.bytes += data.len() as u64;
        Ok(())
    }
}

/// A writer that counts what went through it: where the next entry starts.
pub(crate) struct Counted<W> {
    inner: W,
    written: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.written += n as u64;
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn zip_error(e: async_zip::error::ZipError) -> ExtractError {
    match e {
        async_zip::error::ZipError::UpstreamReadError(io) => ExtractError::Output(io),
        other => ExtractError::Output(std::io::Error::other(other)),
    }
}

/// The extraction time as a ZIP (MS-DOS, UTC) timestamp.
fn zip_now() -> ZipDateTime {
    let now = time::OffsetDateTime::now_utc();
    ZipDateTimeBuilder::new()
        .year(now.year())
        .month(u32::from(u8::from(now.month())))
        .day(u32::from(now.day()))
        .hour(u32::from(now.hour()))
        .minute(u32::from(now.minute()))
        .second(u32::from(now.second()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Orientation;

    fn source() -> SourceInfo {
        SourceInfo {
            container: "test".into(),
            codec: "none".into(),
            width: 1,
            height: 1,
            rotation: 0,
            orientation: Orientation::Upright,
            output_width: 1,
            output_height: 1,
            duration_seconds: None,
            frame_rate: None,
            size_bytes: 1,
        }
    }

    #[tokio::test]
    async fn more_entries_than_plain_zip_allows_switch_to_zip64() {
        // 65535 is the most a ZIP without zip64 records can count.
        let n = 65_600u64;
        let mut archive = ArchiveWriter::new(Vec::new());
        for index in 0..n {
            archive
                .add_frame(index, index as f64, "png", b"x", "00")
                .await
                .unwrap();
        }
        let (bytes, manifest, _) = archive.finish(ExtractionSpec::default(), source()).await.unwrap();
        assert_eq!(manifest.frame_count, n);
        // The zip64 end of central directory record is present...
        assert!(bytes.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x06]));
        // ...and a reader sees every entry, the manifest last.
        let reader = async_zip::base::read::mem::ZipFileReader::new(bytes)
            .await
            .unwrap();
        let entries = reader.file().entries();
        assert_eq!(entries.len() as u64, n + 1);
        assert_eq!(
            entries.last().unwrap().filename().as_str().unwrap(),
            MANIFEST_NAME
        );
        assert_eq!(entries[65_599].filename().as_str().unwrap(), "frame_65600.png");
    }

    #[tokio::test]
    async fn each_frame_offset_points_at_its_bytes() {
        let mut archive = ArchiveWriter::new(Vec::new());
        let images: [&[u8]; 3] = [b"first image", b"2nd", b"and the third one"];
        for (index, data) in images.iter().enumerate() {
            archive
                .add_frame(index as u64, index as f64, "png", data, &sha256_hex(data))
                .await
                .unwrap();
        }
        let (bytes, manifest, _) = archive.finish(ExtractionSpec::default(), source()).await.unwrap();
        for (frame, data) in manifest.frames.iter().zip(images) {
            let start = usize::try_from(frame.offset.unwrap()).unwrap();
            assert_eq!(&bytes[start..start + data.len()], data, "{}", frame.file);
        }
    }
}
