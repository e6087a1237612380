//! Failures end to end: the real processor (FFmpeg, S3) and the real notifier (PostgreSQL, SMTP) started by
//! `fiapx::start` on a per-test nats-server, database, bucket and SMTP sink. Sources are put in S3 and
//! `uploaded` appended the way the upload service does it, so these tests do not depend on the HTTP layer.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fiapx::config::Settings;
use fiapx::{Started, Which, start};
use fiapx_domain::testing::{failures, register_upload};
use fiapx_domain::{
    AttemptFailure, Command, Event, FailureCode, Language, UserId, Video, VideoId, VideoStatus,
};
use fiapx_nats::{CommandHandler, Metadata};
use fiapx_notifier::NotifierSettings;
use fiapx_notifier::test_support::SmtpSink;
use fiapx_processor::ProcessorSettings;
use fiapx_storage::{PutOptions, source_key};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod common;
use common::proxy::{FaultProxy, upstream};
use common::{Stack, Workers, clip};

struct World {
    stack: Stack,
    smtp: SmtpSink,
    handler: CommandHandler,
    running: Vec<Workers>,
}

async fn world() -> World {
    let stack = Stack::new().await;
    let handler = stack.nats.handler(10);
    World {
        stack,
        smtp: SmtpSink::start(),
        handler,
        running: Vec::new(),
    }
}

impl World {
    fn settings(&self) -> Settings {
        Settings {
            processor: ProcessorSettings {
                ack_wait_secs: 5,
                max_deliver: 3,
                backoff_secs: vec![1],
                ..ProcessorSettings::default()
            },
            notifier: NotifierSettings {
                smtp_url: self.smtp.url().into(),
                public_url: "https://fiapx.test".into(),
                email_retry_secs: vec![1],
                poll_interval_ms: 100,
                ..self.stack.settings().notifier
            },
            ..self.stack.settings()
        }
    }

    async fn run(&mut self, which: Which, settings: &Settings) {
        let stop = CancellationToken::new();
        let Started { workers, .. } = start(which, settings, &stop).await.expect("starts");
        self.running.push(Workers::join(stop, workers));
    }

    async fn stop(mut self) {
        for workers in self.running.drain(..) {
            workers.stop().await;
        }
    }

    async fn user(&self, email: &str, locale: &str) -> UserId {
        UserId::from_uuid(self.stack.db.insert_user(email, "Owner", locale).await)
    }

    /// Stores `bytes` (if any) as the source and appends `uploaded`, as the upload service does.
    async fn upload(&self, owner: UserId, file_name: &str, bytes: Option<Vec<u8>>) -> VideoId {
        let video = VideoId::from_uuid(Uuid::now_v7());
        let key = source_key(video);
        let size = bytes.as_ref().map_or(1000, |b| b.len() as u64);
        if let Some(bytes) = bytes {
            let mut reader = std::io::Cursor::new(bytes);
            self.stack
                .bucket
                .storage()
                .put_stream(&key, "video/mp4", &mut reader, PutOptions::default())
                .await
                .unwrap();
        }
        let command = register_upload(video, owner, file_name, size, OffsetDateTime::now_utc());
        self.handler
            .handle(video, command, Metadata::new_request())
            .await
            .unwrap();
        video
    }

    async fn events(&self, video: VideoId) -> Vec<Event> {
        self.stack.nats.events(video).await
    }

    async fn until(&self, video: VideoId, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        for _ in 0..900 {
            let events = self.events(video).await;
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("video {video} never got there: {:?}", self.events(video).await);
    }

    /// Waits (bounded) until every notification recorded so far was sent (or given up).
    async fn notifications_settled(&self, expected: i64) {
        for _ in 0..600 {
            let row = self
                .stack
                .db
                .row(
                    "SELECT count(*) AS total, count(*) FILTER (WHERE status IN ('pending', 'sending')) AS open \
                     FROM notifications",
                )
                .await;
            let total: i64 = row.try_get("", "total").unwrap();
            let open: i64 = row.try_get("", "open").unwrap();
            if total >= expected && open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("notifications did not settle");
    }
}

fn final_failure(events: &[Event]) -> Option<FailureCode> {
    match Video::from_events(events) {
        Video {
            status: VideoStatus::Failed,
            failure: Some((code, _)),
            ..
        } => Some(code),
        _ => None,
    }
}

#[tokio::test]
async fn a_corrupt_upload_sends_exactly_one_email_to_its_owner() {
    let mut w = world().await;
    let owner = w.user("owner@example.com", "pt-BR").await;
    let settings = w.settings();
    w.run(Which::Processor, &settings).await;
    w.run(Which::Notifier, &settings).await;

    let mut bytes = clip("n_3s.mp4", "3", "160x120");
    for byte in bytes.iter_mut().skip(2048) {
        *byte = byte.wrapping_mul(13).wrapping_add(5);
    }
    let video = w.upload(owner, "aniversário.mp4", Some(bytes)).await;
    let events = w.until(video, |e| final_failure(e).is_some()).await;
    let code = final_failure(&events).unwrap();
    assert!(!code.is_retryable(), "{code}");
    w.notifications_settled(1).await;
    let w = {
        let mails = w.smtp.messages();
        assert_eq!(mails.len(), 1, "{mails:?}");
        let mail = &mails[0];
        assert_eq!(mail.to, ["owner@example.com"]);
        assert!(mail.subject.contains("aniversário.mp4"), "{}", mail.subject);
        assert!(mail.text.contains(code.as_str()), "{}", mail.text);
        assert!(mail.text.contains(code.user_message(Language::PortugueseBrazil)));
        assert!(mail.text.contains(&format!("https://fiapx.test/videos/{video}")));
        w
    };
    w.stop().await;
}

#[tokio::test]
async fn a_poison_input_ends_after_max_deliver_with_attempts_exhausted_and_one_notification_then_reprocesses()
{
    let mut w = world().await;
    let owner = w.user("poison@example.com", "en").await;
    let settings = w.settings();
    w.run(Which::Processor, &settings).await;
    w.run(Which::Notifier, &settings).await;

    // The source never reaches storage: every delivery fails with a transient storage error.
    let video = w.upload(owner, "poison.mp4", None).await;
    let events = w.until(video, |e| final_failure(e).is_some()).await;
    assert_eq!(
        failures(&events),
        [
            (1, FailureCode::StorageUnavailable, true),
            (2, FailureCode::StorageUnavailable, true),
            (3, FailureCode::AttemptsExhausted, false),
        ]
    );
    w.notifications_settled(1).await;
    let mails = w.smtp.messages();
    assert_eq!(
        mails.len(),
        1,
        "one notification, for the final failure: {mails:?}"
    );
    assert!(mails[0].text.contains("attempts_exhausted"));
    assert!(mails[0].subject.contains("poison.mp4"));

    // A final failure is not the end: once the source is there, a reprocess (job 1) completes.
    let mut reader = std::io::Cursor::new(clip("n_3s.mp4", "3", "160x120"));
    w.stack
        .bucket
        .storage()
        .put_stream(
            &source_key(video),
            "video/mp4",
            &mut reader,
            PutOptions::default(),
        )
        .await
        .unwrap();
    let reprocess = Command::RequestReprocess {
        by: owner,
        spec: None,
        at: OffsetDateTime::now_utc(),
    };
    w.handler
        .handle(video, reprocess, Metadata::new_request())
        .await
        .unwrap();
    let events = w
        .until(video, |e| Video::from_events(e).status == VideoStatus::Completed)
        .await;
    assert!(
        matches!(events.last(), Some(Event::Completed { job: 1, .. })),
        "{events:?}"
    );
    w.stop().await;
}

#[tokio::test]
async fn an_s3_outage_during_a_job_is_retried_and_the_job_completes_when_s3_returns() {
    let mut w = world().await;
    let owner = w.user("outage@example.com", "en").await;
    let mut settings = w.settings();
    let proxy = FaultProxy::start(upstream(&settings.s3.endpoint)).await;
    settings.s3.endpoint = proxy.url();
    settings.processor.max_deliver = 4;
    w.run(Which::Processor, &settings).await;
    w.run(Which::Notifier, &settings).await;

    // S3 goes away while the job writes its archive (the source went in through the real endpoint).
    proxy.close_on_write();
    let video = w
        .upload(owner, "outage.mp4", Some(clip("n_3s.mp4", "3", "160x120")))
        .await;
    let events = w
        .until(video, |e| {
            e.iter().any(|e| matches!(e, Event::Failed(f) if f.will_retry))
        })
        .await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Failed(AttemptFailure {
                code: FailureCode::StorageUnavailable,
                will_retry: true,
                ..
            })
        )),
        "{events:?}"
    );
    assert!(
        matches!(events[1], Event::ProcessingStarted { attempt: 1, .. }),
        "the outage hit a running job: {events:?}"
    );
    assert!(
        !proxy.armed.load(Ordering::SeqCst),
        "the proxy closed on the archive write"
    );
    // S3 is back: a later delivery completes the job.
    proxy.open().await;
    let events = w
        .until(video, |e| Video::from_events(e).status == VideoStatus::Completed)
        .await;
    let completed = events
        .iter()
        .filter(|e| matches!(e, Event::Completed { .. }))
        .count();
    assert_eq!(completed, 1, "{events:?}");
    let Some(Event::Completed { archive, .. }) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(archive.frame_count, 3, "3 s at fps=1");
    let stored = w.stack.bucket.storage().size(&archive.key).await.unwrap();
    assert_eq!(stored, Some(archive.size_bytes));
    assert!(
        *proxy.connections.lock().unwrap() > 0,
        "S3 was reached through the proxy"
    );
    // A retried attempt and a completion (not opted in) notify nobody.
    w.notifications_settled(0).await;
    assert!(w.smtp.messages().is_empty());
    w.stop().await;
}
