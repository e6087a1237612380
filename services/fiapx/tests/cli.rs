//! The `fiapx` binary as a user runs it: `fiapx frames` end to end (a generated clip in, a ZIP out; bad input gives
//! a non-zero exit and a message), and `scripts/run.sh` (what `make run` ends with) started twice on one checkout,
//! its Prometheus metrics on their own listener.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Stack;
use serde_json::{Value, json};

fn fiapx(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fiapx"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

#[test]
fn extracts_a_clip_into_a_zip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = fiapx_frames::test_support::testsrc_h264("160x120", 25, "3.2", "veryfast");
    let clip_s = clip.to_str().unwrap();
    let zip = dir.path().join("out.zip");
    let zip_s = zip.to_str().unwrap();

    let out = fiapx(&["frames", clip_s, "-o", zip_s, "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert!(!dir.path().join("out.zip.partial").exists());

    let out = fiapx(&[
        "frames",
        clip_s,
        "-o",
        zip_s,
        "--every",
        "2",
        "--format",
        "jpeg",
        "--quality",
        "70",
        "--max-width",
        "80",
        "-q",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jpeg_zip = std::fs::read(&zip).unwrap();
    assert!(jpeg_zip.len() < bytes.len());
    assert!(jpeg_zip.windows(14).any(|w| w == b"frame_0002.jpg"));
    assert!(
        !jpeg_zip.windows(14).any(|w| w == b"frame_0003.jpg"),
        "3.2 s at one frame every 2 s is 2 frames"
    );
}

#[test]
fn bad_input_fails_with_a_message_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.mp4");
    std::fs::write(
        &input,
        b"this is not a video at all, just some text pretending to be one",
    )
    .unwrap();
    let zip = dir.path().join("out.zip");
    let out = fiapx(&[
        "frames",
        input.to_str().unwrap(),
        "-o",
        zip.to_str().unwrap(),
        "-q",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a recognised video container"), "{stderr}");
    assert!(!zip.exists());
    assert!(!dir.path().join("out.zip.partial").exists());
}

#[test]
fn conflicting_selections_are_refused() {
    let out = fiapx(&["frames", "in.mp4", "-o", "out.zip", "--fps", "2", "--count", "3"]);
    assert!(!out.status.success());
}

/// `scripts/run.sh` (the last step of `make run`) started from the repository root against this test's own
/// servers, state directory and ports (the APIs', the metrics').
struct RunScript {
    child: Child,
    base: String,
    metrics: String,
}

impl RunScript {
    fn start(stack: &Stack, state: &Path, (port, metrics_port): (u16, u16)) -> Self {
        let settings = stack.settings();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(root.join("scripts/run.sh"))
            .arg(env!("CARGO_BIN_EXE_fiapx"))
            .current_dir(&root)
            .env("FIAPX_STATE", state)
            .env("FIAPX_NATS_URL", &settings.nats.url)
            .env("FIAPX_DATABASE_URL", &settings.database.url)
            .env("FIAPX__S3__BUCKET", &settings.s3.bucket)
            .env("FIAPX__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("FIAPX__HTTP__PUBLIC_URL", &base)
            .env("FIAPX__METRICS__BIND", format!("127.0.0.1:{metrics_port}"))
            .env("FIAPX__AUTH__ARGON2__MEMORY_KIB", "1024")
            .env("FIAPX__AUTH__ARGON2__ITERATIONS", "1")
            .env_remove("FIAPX__AUTH__PRIVATE_KEY")
            .env_remove("FIAPX__NOTIFIER__SECRETS_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scripts/run.sh");
        let metrics = format!("http://127.0.0.1:{metrics_port}/metrics");
        Self { child, base, metrics }
    }

    /// Waits until `/healthz` answers 200; panics if the script exits first or after 60 s.
    async fn healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("scripts/run.sh exited with {status} before serving");
            }
            let answer = reqwest::get(format!("{}/healthz", self.base)).await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "{} not healthy after 60 s", self.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM (the script execs the server), then waits for the exit; what the script printed.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "fiapx serve all stopped with {status}");
        let mut printed = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut stdout, &mut printed).unwrap();
        }
        printed
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap()
}

#[tokio::test]
async fn the_run_script_serves_every_time_on_the_same_checkout() {
    let stack = Stack::new().await;
    let state = tempfile::tempdir().unwrap();
    let ports = (free_port(), free_port());
    let client = reqwest::Client::new();

    let mut first = RunScript::start(&stack, state.path(), ports);
    first.healthy().await;
    let key = std::fs::read(state.path().join("auth/root.key")).expect("the first run makes the key");
    let secrets_key_file = state.path().join("notifier/secrets.key");
    let secrets_key = std::fs::read(&secrets_key_file).expect("the first run makes the secrets key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secrets_key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secrets key is its owner's only");
    }
    let registered = client
        .post(format!("{}/api/v1/auth/register", first.base))
        .header("content-type", "application/json")
        .body(
            json!({"email": "run@example.com", "password": "correct horse battery", "display_name": "Run"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let session: Value = serde_json::from_str(&registered.text().await.unwrap()).unwrap();
    let token = session["access_token"].as_str().unwrap().to_owned();

    // Prometheus text on the metrics listener, counting that registration; nothing of it on the public one.
    let scraped = client.get(&first.metrics).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("fiapx_auth_registrations_total") && line.ends_with(" 1")),
        "{text}"
    );
    assert!(
        text.contains("# TYPE fiapx_auth_registrations_total counter"),
        "{text}"
    );
    let public = client
        .get(format!("{}/metrics", first.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    assert_eq!(
        serde_json::from_str::<Value>(&public.text().await.unwrap()).unwrap()["code"],
        "not_found"
    );
    let metrics = first.metrics.clone();
    let printed = first.stop();
    assert!(printed.contains(&format!("metrics {metrics}")), "{printed}");
    assert!(
        client.get(&metrics).send().await.is_err(),
        "the metrics listener closes with the process"
    );

    // Again on the same state: migrations already applied, the key already there.
    let mut second = RunScript::start(&stack, state.path(), ports);
    second.healthy().await;
    assert_eq!(
        std::fs::read(state.path().join("auth/root.key")).unwrap(),
        key,
        "the second run keeps the key"
    );
    assert_eq!(
        std::fs::read(&secrets_key_file).unwrap(),
        secrets_key,
        "the second run keeps the secrets key"
    );
    let videos = client
        .get(format!("{}/api/v1/videos", second.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(videos.status(), 200, "a session of the first run still works");
    second.stop();
}
