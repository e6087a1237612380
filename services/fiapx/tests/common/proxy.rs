//! A fault-injecting TCP proxy in front of a real server (S3, PostgreSQL): what the chaos tests and the S3 outage
//! test put between FIAP X and a dependency to make it fail the way real ones do, on one port that stays the same.
//!
//! - [`FaultProxy::close`]: the server is down: open connections are cut, new ones refused (a stopped PostgreSQL).
//! - [`FaultProxy::close_on_write`]: the same, by itself, on the first write request (`PUT`/`POST`) passing through.
//! - [`FaultProxy::freeze`]: the server hangs: connections are accepted and kept, but no byte moves either way
//!   until [`FaultProxy::thaw`], which is what a client sees of a server stopped with SIGSTOP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// `host:port` of a `scheme://[user:password@]host:port[/path]` URL (the stack's endpoints).
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// The socket address a URL of the stack points at (a loopback IP and port), for [`FaultProxy::start`].
pub fn upstream(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    authority(url)
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("no address for {url}: {e}"))
        .next()
        .unwrap_or_else(|| panic!("no address for {url}"))
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    running: Mutex<Option<CancellationToken>>,
    /// Connections accepted so far.
    pub connections: Arc<Mutex<usize>>,
    /// Set by [`Self::close_on_write`], cleared when it trips.
    pub armed: Arc<AtomicBool>,
    frozen: watch::Sender<bool>,
}

impl FaultProxy {
    /// A proxy on a free loopback port to `upstream`, open.
    pub async fn start(upstream: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            running: Mutex::new(None),
            connections: Arc::new(Mutex::new(0)),
            armed: Arc::new(AtomicBool::new(false)),
            frozen: watch::Sender::new(false),
        });
        proxy.serve(listener);
        proxy
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        let stop = CancellationToken::new();
        *self.running.lock().unwrap() = Some(stop.clone());
        let upstream = self.upstream;
        let connections = Arc::clone(&self.connections);
        let armed = Arc::clone(&self.armed);
        let frozen = self.frozen.clone();
        tokio::spawn(async move {
            let mut open = JoinSet::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((inbound, _)) = accepted else { continue };
                        *connections.lock().unwrap() += 1;
                        let (armed, trip) = (Arc::clone(&armed), stop.clone());
                        let (up_frozen, down_frozen) = (frozen.subscribe(), frozen.subscribe());
                        open.spawn(async move {
                            let Ok(outbound) = TcpStream::connect(upstream).await else { return };
                            let (from_client, to_client) = tokio::io::split(inbound);
                            let (from_server, to_server) = tokio::io::split(outbound);
                            let up = relay(from_client, to_server, up_frozen, Some((armed, trip)));
                            let down = relay(from_server, to_client, down_frozen, None);
                            tokio::select! {
                                () = up => {}
                                () = down => {}
                            }
                        });
                    }
                }
            }
            // Closing: the listener is dropped and every open connection is cut.
            open.abort_all();
        });
    }

    /// Closes on the next write request that passes through.
    pub fn close_on_write(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Closes now: open connections cut, new ones refused.
    pub fn close(&self) {
        if let Some(stop) = self.running.lock().unwrap().take() {
            stop.cancel();
        }
    }

    /// Opens again on the same port after [`Self::close`] or a tripped [`Self::close_on_write`].
    pub async fn open(&self) {
        // The closed listener's port is free again; bind it (retry briefly while the old task lets go).
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot reopen the proxy on {}", self.addr);
    }

    /// Stops moving bytes either way, on open and new connections, until [`Self::thaw`].
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Moves bytes again, from where they stopped.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

/// Copies `from` to `to`, holding each chunk while frozen; with `trip`, a write request while armed closes the
/// proxy instead of passing.
async fn relay(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut frozen: watch::Receiver<bool>,
    trip: Option<(Arc<AtomicBool>, CancellationToken)>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if let Some((armed, stop)) = &trip {
            let writes = chunk.windows(4).any(|w| w == b"PUT " || w == b"POST");
            if writes && armed.swap(false, Ordering::SeqCst) {
                stop.cancel();
                return;
            }
        }
        if frozen.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}
