//! What the end-to-end tests (and the benchmarks in examples/) share: a per-test stack (nats-server, PostgreSQL database, S3 bucket), the settings
//! that point `fiapx::start` at it (with the test process's token key and secrets key), and clips made by the
//! ffmpeg CLI.

#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fiapx::config::Settings;
use fiapx_auth::{Argon2Settings, AuthSettings};
use fiapx_database::test_support::TestDatabase;
use fiapx_identity::test_support::test_root_key;
use fiapx_nats::test_support::TestNats;
use fiapx_notifier::NotifierSettings;
use fiapx_notifier::test_support::test_secrets_key;
use fiapx_processor::ProcessorSettings;
use fiapx_storage::test_support::TestBucket;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub mod proxy;

/// One test's own servers: removed when dropped.
pub struct Stack {
    pub nats: TestNats,
    pub db: TestDatabase,
    pub bucket: TestBucket,
}

impl Stack {
    pub async fn new() -> Self {
        Self {
            nats: TestNats::start().await,
            db: TestDatabase::create().await,
            bucket: TestBucket::create().await,
        }
    }

    /// Settings for `fiapx::start` on this stack: 2 processor slots, a short ack wait, tokens signed by
    /// [`test_root_key`], signing secrets sealed with [`test_secrets_key`] and cheap password hashing (production
    /// keeps the argon2 defaults).
    pub fn settings(&self) -> Settings {
        Settings {
            nats: self.nats.settings.clone(),
            database: self.db.settings(),
            s3: self.bucket.settings(),
            processor: ProcessorSettings {
                concurrency: 2,
                ack_wait_secs: 5,
                ..ProcessorSettings::default()
            },
            auth: AuthSettings {
                private_key: Some(test_root_key().private_hex().into()),
                argon2: Argon2Settings {
                    memory_kib: 1024,
                    iterations: 1,
                    parallelism: 1,
                },
                ..AuthSettings::default()
            },
            notifier: NotifierSettings {
                secrets_key: Some(test_secrets_key()),
                ..NotifierSettings::default()
            },
            ..Settings::default()
        }
    }
}

impl Stack {
    /// [`Stack::settings`] with at most `limit` videos in flight per user (0: no limit).
    pub fn settings_with_in_flight(&self, limit: u64) -> Settings {
        Settings {
            upload: fiapx_upload::UploadSettings {
                max_videos_in_flight: limit,
                ..fiapx_upload::UploadSettings::default()
            },
            ..self.settings()
        }
    }
}

/// The workers of a started `fiapx` (`Started::workers`), joined in one task: a worker that panics or fails
/// fails the test.
pub struct Workers {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Joins `workers`, which end when `stop` is cancelled.
    pub fn join(stop: CancellationToken, mut workers: JoinSet<anyhow::Result<&'static str>>) -> Self {
        let task = tokio::spawn(async move {
            while let Some(result) = workers.join_next().await {
                result.expect("worker panicked").expect("worker failed");
            }
        });
        Self { stop, task }
    }

    /// Cancels the workers and waits (bounded) until they end.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("workers stop")
            .unwrap();
    }
}

/// An H.264 MP4 of `seconds` at `size` from the ffmpeg CLI, made once per test run and shared by name.
pub fn clip(name: &str, seconds: &str, size: &str) -> Vec<u8> {
    // Cargo's temporary directory for tests; the system's for the benchmarks (examples), which share this module.
    let tmp = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tmp.join("fiapx-e2e-clips");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    if !path.exists() {
        let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
        let source = format!("testsrc2=size={size}:rate=25");
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", &source, "-t", seconds])
            .args([
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-f",
                "mp4",
            ])
            .arg(&tmp)
            .output()
            .expect("ffmpeg CLI");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::rename(&tmp, &path).unwrap();
    }
    std::fs::read(path).unwrap()
}
