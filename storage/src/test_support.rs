//! A bucket per test on the stack's S3, removed with everything in it when dropped.

use uuid::Uuid;

use crate::{S3Settings, Storage};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `make up` and `set -a; . .state/env; set +a` (tests need the real S3)")
    })
}

/// The stack's S3 settings from `FIAPX_S3_*` (panics with a hint when missing; tests never skip silently).
pub fn settings_from_env() -> S3Settings {
    S3Settings {
        endpoint: env("FIAPX_S3_ENDPOINT"),
        region: std::env::var("FIAPX_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
        bucket: "fiapx".into(),
        access_key: env("FIAPX_S3_ACCESS_KEY"),
        secret_key: env("FIAPX_S3_SECRET_KEY").into(),
        presign_ttl_secs: 300,
        request_timeout_secs: 60,
    }
}

/// A fresh bucket, emptied and removed on drop.
#[derive(Debug)]
pub struct TestBucket {
    storage: Storage,
}

impl TestBucket {
    /// Creates `fiapx-test-<random>`.
    pub async fn create() -> Self {
        let mut settings = settings_from_env();
        settings.bucket = format!("fiapx-test-{}", Uuid::now_v7().simple());
        let storage = Storage::new(&settings).expect("S3 settings");
        storage.ensure_bucket().await.expect("create the test bucket");
        Self { storage }
    }

    /// The settings naming this bucket.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: self.storage.bucket_name(),
            ..settings_from_env()
        }
    }

    /// The client on this bucket.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Every key in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        self.storage.list("").await.expect("list the test bucket")
    }
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        let settings = self.settings();
        // Drop cannot await, and may run inside a runtime: clean up on a thread with its own runtime and its own
        // client (the test's client has connections bound to the test's runtime, which is blocked right here).
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let (Ok(runtime), Ok(storage)) = (runtime, Storage::new(&settings)) {
                runtime.block_on(async {
                    let _ = storage.delete_prefix("").await;
                    let _ = storage.delete_bucket().await;
                });
            }
        });
        let _ = cleanup.join();
    }
}
