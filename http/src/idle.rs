//! Connections on which nothing moves are cut: an [`Acceptor`] wrapper whose connections fail with
//! `TimedOut` once no byte has been read or written for the idle timeout while the server waits.
//!
//! poem's own `Server::idle_timeout` asks hyper for a graceful shutdown, which waits for a request that has
//! started, so a client that sends half its headers and goes silent holds the connection for ever. Here the
//! read itself fails, and hyper drops the connection at once. Any byte in either direction starts the clock
//! again: an upload that keeps sending and a live stream that writes its keep-alives stay open.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// An acceptor whose connections are cut after `timeout` without traffic.
pub struct IdleTimeout<A> {
    inner: A,
    timeout: Duration,
}

impl<A> IdleTimeout<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<A: Acceptor> Acceptor for IdleTimeout<A> {
    type Io = IdleIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)>> + Send {
        let timeout = self.timeout;
        let accepted = self.inner.accept();
        async move {
            let (io, local, remote, scheme) = accepted.await?;
            Ok((IdleIo::new(io, timeout), local, remote, scheme))
        }
    }
}

/// One connection with its idle deadline.
pub struct IdleIo<T> {
    inner: T,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> IdleIo<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no traffic on the connection within the idle timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
