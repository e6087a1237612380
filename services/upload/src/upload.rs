//! The streaming pieces of an upload: the size limit enforced on the stream and the leading bytes for the
//! content gate.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The marker error a [`Limited`] reader fails with; found again in the `io::Error` a storage put returns.
#[derive(Debug, thiserror::Error)]
#[error("the body is over the size limit")]
pub struct OverLimit;

/// True when `error` is the [`OverLimit`] of a [`Limited`] reader.
pub fn is_over_limit(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<OverLimit>())
}

/// Fails with [`OverLimit`] as soon as more than `max` bytes came through, and counts them.
pub struct Limited<R> {
    inner: R,
    max: u64,
    read: u64,
}

impl<R> Limited<R> {
    /// Wraps `inner`.
    pub const fn new(inner: R, max: u64) -> Self {
        Self { inner, max, read: 0 }
    }

    /// Bytes read so far.
    #[cfg(test)]
    pub const fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Limited<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read += (buf.filled().len() - before) as u64;
                if this.read > this.max {
                    // A failed read must not hand out bytes.
                    buf.set_filled(before);
                    Poll::Ready(Err(io::Error::other(OverLimit)))
                } else {
                    Poll::Ready(Ok(()))
                }
            }
            other => other,
        }
    }
}

/// Reads up to `len` leading bytes (fewer only at the end of the body).
pub async fn read_head<R: AsyncRead + Unpin>(reader: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0_u8; len];
    let mut filled = 0;
    while filled < len {
        let n = reader.read(&mut head[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok(head)
}

/// The file name from `X-Fiapx-Filename` (percent-encoded UTF-8) or a multipart part: the last path component,
/// control characters removed, at most 255 bytes; `video` when nothing usable is left.
pub fn clean_file_name(raw: Option<&str>, percent_encoded: bool) -> Result<String, &'static str> {
    let Some(raw) = raw else {
        return Ok("video".into());
    };
    let decoded = if percent_encoded {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| "X-Fiapx-Filename must be percent-encoded UTF-8")?
            .into_owned()
    } else {
        raw.to_owned()
    };
    let base = decoded.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = base.chars().filter(|c| !c.is_control()).collect();
    let name_trimmed = name.trim();
    if name_trimmed.is_empty() || name_trimmed == "." || name_trimmed == ".." {
        return Ok("video".into());
    }
    name = name_trimmed.to_owned();
    while name.len() > 255 {
        name.pop();
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_fails_the_stream_with_a_recognisable_error() {
        let data = vec![1_u8; 100];
        let mut exact = Limited::new(data.as_slice(), 100);
        let mut sink = Vec::new();
        exact.read_to_end(&mut sink).await.unwrap();
        assert_eq!(exact.bytes_read(), 100);

        let mut over = Limited::new(data.as_slice(), 99);
        let error = over.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(is_over_limit(&error));
        assert!(!is_over_limit(&io::Error::other("other")));
    }

    #[tokio::test]
    async fn head_reads_across_short_reads() {
        let data: Vec<u8> = (0..200).collect();
        let mut reader = tokio::io::BufReader::with_capacity(7, data.as_slice());
        assert_eq!(read_head(&mut reader, 64).await.unwrap(), data[..64]);
        let mut short = &data[..10];
        assert_eq!(read_head(&mut short, 64).await.unwrap(), data[..10]);
    }

    #[test]
    fn file_names() {
        assert_eq!(clean_file_name(None, true).unwrap(), "video");
        assert_eq!(
            clean_file_name(Some("f%C3%A9rias%20de%20ver%C3%A3o.mp4"), true).unwrap(),
            "férias de verão.mp4"
        );
        assert_eq!(
            clean_file_name(Some("..%2F..%2Fetc%2Fpasswd"), true).unwrap(),
            "passwd"
        );
        assert_eq!(
            clean_file_name(Some("C:\\videos\\a.mov"), false).unwrap(),
            "a.mov"
        );
        assert_eq!(clean_file_name(Some("a%0Ab.mp4"), true).unwrap(), "ab.mp4");
        assert_eq!(clean_file_name(Some("%2F"), true).unwrap(), "video");
        assert!(clean_file_name(Some("%FF%FE"), true).is_err());
        assert_eq!(clean_file_name(Some(&"é".repeat(200)), false).unwrap().len(), 254);
    }
}
