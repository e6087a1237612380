//! The upload body's reader: a size limit and a minimum rate, both enforced while the body streams.
//!
//! The size limit fails the read that goes past it ([`OverLimit`]). The minimum rate fails a body that trickles
//! ([`TooSlow`]): a client sending a byte now and then, never silent long enough for the idle timeout, would
//! otherwise hold a connection, an admission place and a part buffer for as long as it likes. Only the time the
//! reader spends waiting for the client counts: while the upload waits on S3 (its own back-pressure), the client
//! is not to blame and the clock does not run.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use fiapx_http::{ApiError, ErrorCode};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

/// The slowest a body may come in: at least `bytes_per_sec` on average over each `window` of waiting for the
/// client. `bytes_per_sec == 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes per second, on average over a window.
    pub bytes_per_sec: u64,
    /// The window.
    pub window: Duration,
}

impl MinRate {
    /// No minimum.
    pub const OFF: Self = Self {
        bytes_per_sec: 0,
        window: Duration::from_secs(1),
    };

    fn bytes_per_window(self) -> u64 {
        let per_window = u128::from(self.bytes_per_sec) * self.window.as_millis() / 1000;
        u64::try_from(per_window).unwrap_or(u64::MAX)
    }
}

/// The marker error a [`Limited`] reader fails with past its size limit; found again in the `io::Error` a storage
/// put returns.
#[derive(Debug, thiserror::Error)]
#[error("the body is over the size limit")]
pub struct OverLimit;

/// The marker error a [`Limited`] reader fails with when the body comes in under its [`MinRate`].
#[derive(Debug, thiserror::Error)]
#[error("the body came in at {received} bytes in {waited:?}, under the minimum of {minimum} bytes/s")]
pub struct TooSlow {
    received: u64,
    waited: Duration,
    minimum: u64,
}

/// True when `error` is the [`OverLimit`] of a [`Limited`] reader.
pub fn is_over_limit(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<OverLimit>())
}

/// The 408 `too_slow` for a body a [`Limited`] reader cut for its rate, if `error` is that; `kept` says what
/// becomes of what came.
pub fn too_slow(error: &io::Error, kept: &str) -> Option<ApiError> {
    let slow = error.get_ref()?.downcast_ref::<TooSlow>()?;
    Some(ApiError::new(
        ErrorCode::TooSlow,
        format!(
            "the body came in at {} bytes in {} s, under the minimum of {} bytes/s; {kept}",
            slow.received,
            slow.waited.as_secs(),
            slow.minimum
        ),
    ))
}

/// Fails with [`OverLimit`] as soon as more than `max` bytes came through, or with [`TooSlow`] when the body
/// comes in under its minimum rate; counts the bytes.
pub struct Limited<R> {
    inner: R,
    max: u64,
    read: u64,
    floor: MinRate,
    /// Time spent waiting for the client in the current window, and bytes received in it.
    waited: Duration,
    in_window: u64,
    /// Since when the inner reader has been pending, while it is.
    pending_since: Option<Instant>,
}

impl<R> Limited<R> {
    /// Wraps `inner` with a size limit and no minimum rate.
    pub const fn new(inner: R, max: u64) -> Self {
        Self {
            inner,
            max,
            read: 0,
            floor: MinRate::OFF,
            waited: Duration::ZERO,
            in_window: 0,
            pending_since: None,
        }
    }

    /// The same reader with a minimum rate.
    #[must_use]
    pub const fn with_min_rate(mut self, floor: MinRate) -> Self {
        self.floor = floor;
        self
    }

    /// Bytes read so far.
    #[cfg(test)]
    pub const fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Accounts for a read that brought `n` bytes after waiting `waited`; the error when the window it closes
    /// came in under the floor.
    fn account(&mut self, n: u64, waited: Duration) -> Result<(), TooSlow> {
        self.in_window += n;
        if self.floor.bytes_per_sec == 0 {
            return Ok(());
        }
        self.waited += waited;
        if self.waited < self.floor.window {
            return Ok(());
        }
        // The minimum scales with the time really waited: a window closed late by one long wait asks for more.
        let wanted = MinRate {
            window: self.waited,
            ..self.floor
        }
        .bytes_per_window();
        if self.in_window < wanted {
            return Err(TooSlow {
                received: self.in_window,
                waited: self.waited,
                minimum: self.floor.bytes_per_sec,
            });
        }
        self.waited = Duration::ZERO;
        self.in_window = 0;
        Ok(())
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
                let n = (buf.filled().len() - before) as u64;
                this.read += n;
                let waited = this
                    .pending_since
                    .take()
                    .map_or(Duration::ZERO, |since| since.elapsed());
                let outcome = if this.read > this.max {
                    Err(io::Error::other(OverLimit))
                } else if n == 0 {
                    // The end of the body: nothing more to wait for.
                    Ok(())
                } else {
                    this.account(n, waited).map_err(io::Error::other)
                };
                if outcome.is_err() {
                    // A failed read must not hand out bytes.
                    buf.set_filled(before);
                }
                Poll::Ready(outcome)
            }
            Poll::Pending => {
                this.pending_since.get_or_insert_with(Instant::now);
                Poll::Pending
            }
            Poll::Ready(Err(error)) => {
                this.pending_since = None;
                Poll::Ready(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        assert!(too_slow(&error, "").is_none());
    }

    const FLOOR: MinRate = MinRate {
        bytes_per_sec: 100,
        window: Duration::from_secs(10),
    };

    /// A client sending `chunk` bytes every `every` on a pipe, `times` times, then closing it.
    fn client(chunk: usize, every: Duration, times: usize) -> tokio::io::DuplexStream {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            for _ in 0..times {
                tokio::time::sleep(every).await;
                if client.write_all(&vec![7; chunk]).await.is_err() {
                    return;
                }
            }
        });
        server
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_as_too_slow() {
        // 10 bytes every 2 s: 5 bytes/s against a floor of 100.
        let mut reader = Limited::new(client(10, Duration::from_secs(2), 100), u64::MAX).with_min_rate(FLOOR);
        let error = reader.read_to_end(&mut Vec::new()).await.unwrap_err();
        let answer = too_slow(&error, "nothing is kept").expect("a too-slow error");
        assert_eq!(answer.code(), ErrorCode::TooSlow);
        assert_eq!(answer.status(), poem::http::StatusCode::REQUEST_TIMEOUT);
        assert!(
            answer.message().contains("minimum of 100 bytes/s"),
            "{}",
            answer.message()
        );
        // Cut at the end of the first window, not after the whole body.
        assert!(reader.bytes_read() <= 60, "{}", reader.bytes_read());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_floor_or_with_the_floor_off_is_read_whole() {
        // 250 bytes every 2 s: 125 bytes/s, over the floor of 100, for 40 s.
        let mut steady = Limited::new(client(250, Duration::from_secs(2), 20), u64::MAX).with_min_rate(FLOOR);
        let mut body = Vec::new();
        steady.read_to_end(&mut body).await.unwrap();
        assert_eq!(body.len(), 5000);

        let mut unlimited = Limited::new(client(10, Duration::from_secs(2), 20), u64::MAX);
        let mut body = Vec::new();
        unlimited.read_to_end(&mut body).await.unwrap();
        assert_eq!(body.len(), 200);
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_server_spends_elsewhere_is_not_held_against_the_client() {
        // The whole body is there at once; the server reads it slowly (as when S3 pushes back).
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(&[1; 3000]).await.unwrap();
        drop(client);
        let mut reader = Limited::new(server, u64::MAX).with_min_rate(FLOOR);
        let mut chunk = [0; 100];
        let mut total = 0;
        loop {
            let n = reader.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        assert_eq!(total, 3000);
    }
}
