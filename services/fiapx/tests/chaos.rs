//! The chaos suite (issue 13 item 6): faults injected into a running FIAP X, each test on its own servers.
//!
//! FIAP X runs as the real `fiapx` binary (`fiapx serve <role>` child processes, configured by environment as an
//! operator would), so that it can be killed with SIGKILL or stopped with SIGSTOP like a process in production.
//! Its dependencies are real: a nats-server of the test's own (restartable on the same port with the same store),
//! a PostgreSQL database and an S3 bucket on the local stack, both reached through a [`FaultProxy`] that can cut
//! them (a stopped server: connections reset, new ones refused) or freeze them (no byte moves, as SIGSTOP does).
//!
//! Every test ends with the same checks ([`Chaos::nothing_lost`]): every accepted video reached `completed`
//! exactly once in the log, its archive is in S3, the read model shows it completed, no multipart upload is left
//! open in the bucket, and the read model equals a rebuild of it from the log.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clip;
use common::proxy::{FaultProxy, authority, upstream};
use fiapx_database::test_support::TestDatabase;
use fiapx_domain::testing::failures;
use fiapx_domain::{Event, FailureCode, Video, VideoId, VideoStatus};
use fiapx_identity::test_support::{bearer, test_root_key};
use fiapx_nats::test_support::TestNats;
use fiapx_notifier::test_support::test_secrets_key_hex;
use fiapx_storage::test_support::TestBucket;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;
use uuid::Uuid;

/// A clip whose job lasts a few seconds (every frame of 40 s, [`EVERY_FRAME`]), so that a fault lands while it
/// is extracted.
fn long_clip() -> (Vec<u8>, &'static str) {
    (clip("chaos_40s.mp4", "40", "640x360"), EVERY_FRAME)
}

/// The extraction spec of a long job: 25 fps of a 25 fps clip, 1000 frames.
const EVERY_FRAME: &str = "?fps=25";

/// One test's world: its servers, the proxies in front of PostgreSQL and S3, and its log directory.
struct Chaos {
    nats: TestNats,
    db: TestDatabase,
    bucket: TestBucket,
    pg: Arc<FaultProxy>,
    s3: Arc<FaultProxy>,
    logs: PathBuf,
    http: reqwest::Client,
}

/// A `fiapx serve <role>` child process; killed (SIGKILL) when dropped.
struct Fiapx {
    child: Child,
    /// `http://127.0.0.1:<port>` for roles with HTTP.
    base: String,
}

impl Fiapx {
    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGKILL, as a crash or the OOM killer would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }
}

impl Drop for Fiapx {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Chaos {
    async fn new(name: &str) -> Self {
        let nats = TestNats::start().await;
        let db = TestDatabase::create().await;
        let bucket = TestBucket::create().await;
        let pg = FaultProxy::start(upstream(&db.settings().url)).await;
        let s3 = FaultProxy::start(upstream(&bucket.settings().endpoint)).await;
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("chaos")
            .join(name);
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).unwrap();
        Self {
            nats,
            db,
            bucket,
            pg,
            s3,
            logs,
            http: reqwest::Client::new(),
        }
    }

    /// The environment of every child: this world's servers (PostgreSQL and S3 through their proxies), the test
    /// token key and secrets key, a short ack wait so that redeliveries come within seconds.
    fn env(&self) -> Vec<(String, String)> {
        let db_url = self.db.settings().url;
        let db_url = db_url.replace(authority(&db_url), &self.pg.addr.to_string());
        let s3 = self.bucket.settings();
        [
            ("FIAPX__NATS__URL", self.nats.settings.url.clone()),
            ("FIAPX__DATABASE__URL", db_url),
            ("FIAPX__S3__ENDPOINT", self.s3.url()),
            ("FIAPX__S3__BUCKET", s3.bucket),
            ("FIAPX__S3__REQUEST_TIMEOUT_SECS", "5".into()),
            (
                "FIAPX__AUTH__PRIVATE_KEY",
                test_root_key().private_hex().to_string(),
            ),
            ("FIAPX__NOTIFIER__SECRETS_KEY", test_secrets_key_hex().to_owned()),
            ("FIAPX__PROCESSOR__CONCURRENCY", "2".into()),
            ("FIAPX__PROCESSOR__ACK_WAIT_SECS", "5".into()),
            ("FIAPX__PROCESSOR__MAX_DELIVER", "10".into()),
            ("FIAPX__PROCESSOR__SUPERSEDE_CHECK_SECS", "1".into()),
            ("FIAPX__UPLOAD__MAX_VIDEOS_IN_FLIGHT", "100".into()),
            // Many processes on one machine: each its own metrics port.
            ("FIAPX__METRICS__BIND", "127.0.0.1:0".into()),
            ("RUST_LOG", "info".into()),
            ("RUST_BACKTRACE", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts `fiapx serve <role>` (under `wrapper`, a command that runs its arguments, when given) and, for a
    /// role with HTTP, waits until `/healthz` answers.
    async fn spawn_with(&self, role: &str, wrapper: &[&str], env: &[(&str, &str)]) -> Fiapx {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{role}.log")))
            .unwrap();
        let binary = env!("CARGO_BIN_EXE_fiapx");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", role])
            .envs(self.env())
            .env("FIAPX__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("FIAPX__HTTP__PUBLIC_URL", &base)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = command.spawn().expect("spawn fiapx");
        if matches!(role, "all" | "upload" | "query" | "auth" | "notifier") {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "fiapx serve {role} exited with {status}; see {}",
                        self.logs.display()
                    );
                }
                if let Ok(reply) = self.http.get(format!("{base}/healthz")).send().await
                    && reply.status().is_success()
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "fiapx serve {role} did not answer /healthz"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        } else {
            // Workers have no port: give them a moment to bind their consumers.
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "fiapx serve {role} exited with {status}; see {}",
                    self.logs.display()
                );
            }
        }
        Fiapx { child, base }
    }

    async fn spawn(&self, role: &str) -> Fiapx {
        self.spawn_with(role, &[], &[]).await
    }

    /// A raw upload of `body` with the spec in `query` (empty, or from `?`) by `owner` through `api`; 202 expected.
    async fn upload(&self, api: &Fiapx, owner: Uuid, name: &str, (body, query): (Vec<u8>, &str)) -> VideoId {
        let reply = self
            .http
            .post(format!("{}/api/v1/videos{query}", api.base))
            .header("authorization", bearer(owner))
            .header("content-type", "video/mp4")
            .header("X-Fiapx-Filename", name)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let json: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 202, "{json}");
        json["id"].as_str().unwrap().parse().unwrap()
    }

    /// Three uploads of `clip` by `owner` through `api`, one after the other (named `<name>-<i>.mp4`).
    async fn upload_three(
        &self,
        api: &Fiapx,
        owner: Uuid,
        name: &str,
        clip: (Vec<u8>, &str),
    ) -> Vec<VideoId> {
        let mut videos = Vec::new();
        for i in 0..3 {
            videos.push(
                self.upload(api, owner, &format!("{name}-{i}.mp4"), clip.clone())
                    .await,
            );
        }
        videos
    }

    async fn events(&self, video: VideoId) -> Vec<Event> {
        // The test's own client reconnects by itself after a NATS restart; a load during the gap is retried.
        for _ in 0..100 {
            if let Ok(loaded) = self.nats.store.load(video).await {
                return loaded.events.into_iter().map(|stored| stored.event).collect();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("cannot load the events of {video}");
    }

    /// Waits (at most `secs`) until the events of `video` satisfy `done`.
    async fn until(&self, video: VideoId, secs: u64, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let events = self.events(video).await;
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "{video} not there in {secs} s (logs in {}): {events:?}",
                self.logs.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn completed(&self, video: VideoId, secs: u64) -> Vec<Event> {
        self.until(video, secs, |e| {
            Video::from_events(e).status == VideoStatus::Completed
        })
        .await
    }

    /// The read model's rows of the `videos` view, by id (as JSON).
    async fn read_model(&self) -> BTreeMap<String, Value> {
        let rows = self
            .db
            .connection()
            .query_all_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT id::text AS id, to_jsonb(v)::text AS row FROM videos v ORDER BY id",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("", "id").unwrap();
                let json: String = row.try_get("", "row").unwrap();
                (id, serde_json::from_str(&json).unwrap())
            })
            .collect()
    }

    /// The checks every chaos test ends with, on the videos it had accepted.
    async fn nothing_lost(&self, videos: &[VideoId]) {
        for &video in videos {
            let events = self.completed(video, 180).await;
            let completed: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Completed { archive, .. } => Some(archive),
                    _ => None,
                })
                .collect();
            assert_eq!(
                completed.len(),
                1,
                "exactly one completed for {video}: {events:?}"
            );
            let stored = self.bucket.storage().size(&completed[0].key).await.unwrap();
            assert_eq!(
                stored,
                Some(completed[0].size_bytes),
                "the archive of {video} is in S3"
            );
        }
        // The read model catches up: every video completed there too.
        let deadline = Instant::now() + Duration::from_secs(60);
        let projected = loop {
            let rows = self.read_model().await;
            let done = videos.iter().all(|video| {
                rows.get(&video.to_string())
                    .is_some_and(|row| row["status"] == "completed")
            });
            if done {
                break rows;
            }
            assert!(
                Instant::now() < deadline,
                "the read model did not catch up: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // An upload that failed with S3 away is aborted in the background once S3 is back.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let pending = self.bucket.storage().pending_multipart_uploads("").await;
            if matches!(&pending, Ok(uploads) if uploads.is_empty()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no multipart upload left open: {pending:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // The read model is what a replay of the log makes of it.
        let report = fiapx_projections::rebuild(
            self.db.connection(),
            &self.nats.client,
            &self.nats.settings,
            "videos",
        )
        .await
        .expect("rebuild");
        assert!(report.events > 0);
        assert_eq!(
            self.read_model().await,
            projected,
            "the read model equals its rebuild"
        );
    }
}

/// `event: status` payloads of a live stream, read in the background; when the stream ends (a NATS restart may
/// end it) it reconnects with `Last-Event-ID`, as `EventSource` does.
fn live_statuses(
    http: reqwest::Client,
    url: String,
    token: String,
) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut last_id: Option<String> = None;
        loop {
            let mut request = http.get(&url).header("authorization", &token);
            if let Some(id) = &last_id {
                request = request.header("Last-Event-ID", id);
            }
            if let Ok(reply) = request.send().await
                && reply.status().is_success()
            {
                let mut body = reply.bytes_stream();
                let mut buffer = String::new();
                while let Some(Ok(chunk)) = body.next().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        let field = |name: &str| {
                            block
                                .lines()
                                .find_map(|line| line.strip_prefix(name))
                                .map(|value| value.trim().to_owned())
                        };
                        if field("event:").as_deref() == Some("status")
                            && let Some(data) = field("data:")
                        {
                            if let Some(id) = field("id:") {
                                last_id = Some(id);
                            }
                            if tx.send(serde_json::from_str(&data).unwrap()).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}

fn started(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::ProcessingStarted { .. }))
}

fn has_completed(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Completed { .. }))
}

#[tokio::test]
async fn fiapx_killed_with_sigkill_mid_job_completes_every_job_once_after_a_restart() {
    let w = Chaos::new("sigkill").await;
    let mut all = w.spawn("all").await;
    let owner = Uuid::now_v7();
    let videos = w.upload_three(&all, owner, "kill", long_clip()).await;
    let events = w.until(videos[0], 60, started).await;
    all.kill();
    assert!(!has_completed(&events), "killed mid-job: {events:?}");
    let _all = w.spawn("all").await;
    w.nothing_lost(&videos).await;
    let events = w.events(videos[0]).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ProcessingStarted { attempt, .. } if *attempt > 1)),
        "the killed attempt was redelivered: {events:?}"
    );
}

#[tokio::test]
async fn nats_restarted_under_running_processors_and_an_open_live_stream_loses_nothing() {
    let mut w = Chaos::new("nats-restart").await;
    let all = w.spawn("all").await;
    let owner = Uuid::now_v7();
    let mut live = live_statuses(
        w.http.clone(),
        format!("{}/api/v1/events", all.base),
        bearer(owner),
    );
    let videos = w.upload_three(&all, owner, "nats", long_clip()).await;
    let events = w.until(videos[0], 60, started).await;
    w.nats.server.restart();
    assert!(!has_completed(&events), "restarted mid-job: {events:?}");
    w.nothing_lost(&videos).await;
    // The live stream (reconnecting with Last-Event-ID when it ended) told every completion.
    let mut told = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while told.len() < videos.len() {
        let status = tokio::time::timeout_at(deadline, live.recv())
            .await
            .expect("the live stream told every completion")
            .expect("live stream reader");
        if status["status"] == "completed" {
            told.insert(status["video_id"].as_str().unwrap().to_owned());
        }
    }
}

#[tokio::test]
async fn s3_frozen_while_jobs_run_delays_them_and_loses_nothing() {
    let w = Chaos::new("s3-frozen").await;
    let all = w.spawn("all").await;
    let owner = Uuid::now_v7();
    let videos = w.upload_three(&all, owner, "s3", long_clip()).await;
    w.until(videos[0], 60, started).await;
    w.s3.freeze();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during: Vec<_> = futures::future::join_all(videos.iter().map(|&v| w.events(v))).await;
    w.s3.thaw();
    assert!(
        during.iter().any(|events| !has_completed(events)),
        "S3 froze while a job was still running"
    );
    w.nothing_lost(&videos).await;
}

#[tokio::test]
async fn postgresql_stopped_while_uploads_arrive_accepts_them_and_catches_up() {
    let w = Chaos::new("pg-stopped").await;
    let all = w.spawn("all").await;
    let owner = Uuid::now_v7();
    w.pg.close();
    let videos = w
        .upload_three(&all, owner, "pg", (clip("chaos_4s.mp4", "4", "320x240"), ""))
        .await;
    // Processing does not need PostgreSQL: the jobs complete in the log while it is down.
    for &video in &videos {
        w.completed(video, 120).await;
    }
    w.pg.open().await;
    w.nothing_lost(&videos).await;
}

#[tokio::test]
async fn two_processors_racing_on_a_redelivered_job_complete_it_once() {
    let w = Chaos::new("race").await;
    let api = w.spawn("upload").await;
    let _projector = w.spawn("projector").await;
    let first = w.spawn("processor").await;
    let owner = Uuid::now_v7();
    let video = w.upload(&api, owner, "race.mp4", long_clip()).await;
    w.until(video, 60, |e| {
        e.iter()
            .any(|e| matches!(e, Event::ProcessingStarted { attempt: 1, .. }))
    })
    .await;
    // The first processor hangs mid-job (no heartbeat); after the ack wait the job goes to the second one (a
    // delivery may first go to the hung one's outstanding pull request, and be redelivered again).
    first.signal("STOP");
    let _second = w.spawn("processor").await;
    let events = w
        .until(video, 60, |e| {
            e.iter()
                .any(|e| matches!(e, Event::ProcessingStarted { attempt, .. } if *attempt > 1))
        })
        .await;
    // The first wakes up while the second is extracting: both run the job at once.
    first.signal("CONT");
    assert!(
        !has_completed(&events),
        "the race started before any completion: {events:?}"
    );
    // The woken attempt reads the log, sees it no longer holds the job, and stops extracting (within
    // `supersede_check_secs`, 1 s here) instead of running to the end for nothing.
    let log = w.logs.join("processor.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("attempt superseded while extracting; stopped")
    {
        assert!(
            Instant::now() < deadline,
            "the woken attempt never stopped; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.nothing_lost(&[video]).await;
    let events = w.events(video).await;
    let completed = events
        .iter()
        .filter(|e| matches!(e, Event::Completed { .. }))
        .count();
    assert_eq!(completed, 1, "{events:?}");
}

#[tokio::test]
async fn a_full_spool_disk_fails_the_attempt_as_disk_full_and_another_processor_completes_it() {
    let w = Chaos::new("disk-full").await;
    let api = w.spawn("upload").await;
    let _projector = w.spawn("projector").await;
    // A processor whose spool ($TMPDIR) is a 256 KiB tmpfs, mounted in a mount namespace of its own.
    let spool = tempfile::tempdir().unwrap();
    let spool_dir: &Path = spool.path();
    let mut full = w
        .spawn_with(
            "processor",
            &[
                "unshare",
                "--mount",
                "--map-root-user",
                "sh",
                "-c",
                r#"mount -t tmpfs -o size=256k fiapx-spool "$TMPDIR" && exec "$@""#,
                "sh",
            ],
            &[("TMPDIR", spool_dir.to_str().unwrap())],
        )
        .await;
    let owner = Uuid::now_v7();
    let video = w.upload(&api, owner, "full.mp4", long_clip()).await;
    let events = w.until(video, 60, |e| !failures(e).is_empty()).await;
    assert_eq!(
        failures(&events)[0],
        (1, FailureCode::DiskFull, true),
        "typed, and retried: {events:?}"
    );
    full.kill();
    let _healthy = w.spawn("processor").await;
    w.nothing_lost(&[video]).await;
}
