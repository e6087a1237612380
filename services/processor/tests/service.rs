//! The processor service against real servers: a per-test nats-server, the stack's S3 (a bucket per test).

use fiapx_frames::test_support as common;

use std::time::Duration;

use fiapx_domain::testing::{failures, register_upload};
use fiapx_domain::{AttemptFailure, Event, FailureCode, UserId, Video, VideoId, VideoStatus};
use fiapx_frames::Limits;
use fiapx_nats::Metadata;
use fiapx_nats::test_support::{TestNats, pull_until};
use fiapx_processor::{Processor, ProcessorSettings};
use fiapx_storage::test_support::TestBucket;
use fiapx_storage::{PutOptions, archive_key, archive_prefix, manifest_key, source_key};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct World {
    nats: TestNats,
    bucket: TestBucket,
}

async fn world() -> World {
    World {
        nats: TestNats::start().await,
        bucket: TestBucket::create().await,
    }
}

fn fast_retries() -> ProcessorSettings {
    ProcessorSettings {
        ack_wait_secs: 3,
        max_deliver: 3,
        backoff_secs: vec![1],
        progress_interval_ms: 50,
        shutdown_grace_secs: 5,
        ..ProcessorSettings::default()
    }
}

impl World {
    fn processor(&self, settings: ProcessorSettings) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let handler = self.nats.handler(10);
        let processor = Processor::new(
            self.nats.client.clone(),
            handler,
            self.bucket.storage().clone(),
            self.nats.settings.clone(),
            settings,
        );
        let token = CancellationToken::new();
        let stop = token.clone();
        let task = tokio::spawn(async move { processor.run(stop).await.unwrap() });
        (token, task)
    }

    /// Stores `bytes` as the source of a new video and appends `uploaded`.
    async fn upload(&self, bytes: Vec<u8>) -> VideoId {
        let video = VideoId::from_uuid(Uuid::now_v7());
        let key = source_key(video);
        let size = bytes.len() as u64;
        let mut reader = std::io::Cursor::new(bytes);
        self.bucket
            .storage()
            .put_stream(&key, "video/mp4", &mut reader, PutOptions::default())
            .await
            .unwrap();
        let owner = UserId::from_uuid(Uuid::from_u128(7));
        let command = register_upload(video, owner, "clip.mp4", size, OffsetDateTime::now_utc());
        self.nats
            .handler(3)
            .handle(video, command, Metadata::new_request())
            .await
            .unwrap();
        video
    }

    /// [`World::upload`] of a generated clip.
    async fn upload_clip(&self, clip: &common::Clip) -> VideoId {
        self.upload(std::fs::read(common::clip(clip)).unwrap()).await
    }

    /// Uploads an H.264 640x360 clip of `seconds` (long enough for a processor to be surely still working on
    /// it when the test acts), with these processor settings: the tests' fast retries, the default limits, and
    /// `max_deliver` deliveries.
    async fn upload_long(&self, seconds: &str, max_deliver: u32) -> (VideoId, ProcessorSettings) {
        let long = common::testsrc_h264("640x360", 30, seconds, "ultrafast");
        let video = self.upload(std::fs::read(long).unwrap()).await;
        let settings = ProcessorSettings {
            limits: Limits::default(),
            max_deliver,
            ..fast_retries()
        };
        (video, settings)
    }

    async fn events(&self, video: VideoId) -> Vec<Event> {
        self.nats.events(video).await
    }

    /// Waits (bounded) until the video reaches `status`, returning its events.
    async fn until(&self, video: VideoId, done: impl Fn(&Video) -> bool) -> Vec<Event> {
        for _ in 0..600 {
            let events = self.events(video).await;
            if done(&Video::from_events(&events)) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "video {video} never reached the expected state: {:?}",
            self.events(video).await
        );
    }
}

fn count(events: &[Event], kind: &str) -> usize {
    events.iter().filter(|e| e.event_type() == kind).count()
}

#[tokio::test]
async fn an_uploaded_video_becomes_an_archive_of_its_frames() {
    let w = world().await;
    let video = w.upload_clip(&common::H264).await;
    let mut progress = w
        .nats
        .client
        .subscribe(fiapx_schemas::progress_subject(video))
        .await
        .unwrap();
    let (stop, task) = w.processor(fast_retries());

    let events = w.until(video, |v| v.status == VideoStatus::Completed).await;
    stop.cancel();
    task.await.unwrap();

    assert_eq!(count(&events, "processing_started"), 1);
    let Some(Event::Completed {
        archive,
        job: 0,
        attempt: 1,
        ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!(archive.frame_count, 10, "10.3 s at fps=1 gives 10 frames");
    let zip = w.bucket.storage().get_bytes(&archive.key).await.unwrap();
    assert_eq!(zip.len() as u64, archive.size_bytes);
    assert_eq!(
        archive.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&zip))
    );
    let entries = common::entries(zip.clone()).await;
    assert_eq!(
        entries.iter().filter(|(name, _)| name.ends_with(".png")).count(),
        10
    );
    assert!(
        entries
            .iter()
            .any(|(name, _)| name == fiapx_frames::MANIFEST_NAME)
    );
    // The manifest on its own: every frame, where its bytes are in the ZIP.
    let sidecar = w
        .bucket
        .storage()
        .get_bytes(&manifest_key(video, 0))
        .await
        .unwrap();
    let sidecar: serde_json::Value = serde_json::from_slice(&sidecar).unwrap();
    let frames: Vec<fiapx_frames::ManifestFrame> = serde_json::from_value(sidecar["frames"].clone()).unwrap();
    assert_eq!(frames.len(), 10);
    for frame in &frames {
        let (_, data) = entries.iter().find(|(name, _)| *name == frame.file).unwrap();
        let start = usize::try_from(frame.offset.unwrap()).unwrap();
        assert_eq!(&zip[start..start + data.len()], data.as_slice(), "{}", frame.file);
    }

    let first = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut progress)).await;
    let message = first.expect("progress was published").unwrap();
    let body: fiapx_schemas::ProgressUpdate = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body.video_id, *video.as_uuid());
    let kv = w.nats.jetstream().get_key_value("video_progress").await.unwrap();
    let latest: fiapx_schemas::ProgressUpdate =
        serde_json::from_slice(&kv.get(video.to_string()).await.unwrap().unwrap()).unwrap();
    assert_eq!((latest.stage.as_str(), latest.frames_done), ("completed", 10));
}

#[tokio::test]
async fn a_corrupt_video_fails_once_with_its_code_and_is_not_retried() {
    let w = world().await;
    let mut bytes = std::fs::read(common::clip(&common::H264)).unwrap();
    // Keep the container header, garble everything after it.
    for byte in bytes.iter_mut().skip(4096) {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    let video = w.upload(bytes).await;
    let (stop, task) = w.processor(fast_retries());
    w.until(video, |v| v.status == VideoStatus::Failed).await;
    // Give a wrongly scheduled retry time to show up, then read the whole log.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    task.await.unwrap();
    let events = w.events(video).await;
    assert_eq!(
        count(&events, "processing_started"),
        1,
        "bad input is never retried: {events:?}"
    );
    let Some(Event::Failed(AttemptFailure {
        code,
        will_retry: false,
        ..
    })) = events.last()
    else {
        panic!("{events:?}")
    };
    assert!(
        matches!(
            code,
            FailureCode::CorruptInput | FailureCode::UnsupportedFormat | FailureCode::TruncatedInput
        ),
        "{code}"
    );
    assert!(
        w.bucket.keys().await.iter().all(|k| !k.starts_with("archives/")),
        "no archive for a failed job"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_until_attempts_are_exhausted() {
    let w = world().await;
    let video = w.upload_clip(&common::H264).await;
    // The source disappears from storage: every attempt fails with a storage error.
    w.bucket.storage().delete(&source_key(video)).await.unwrap();
    let (stop, task) = w.processor(fast_retries());
    let events = w.until(video, |v| v.status == VideoStatus::Failed).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        failures(&events),
        vec![
            (1, FailureCode::StorageUnavailable, true),
            (2, FailureCode::StorageUnavailable, true),
            (3, FailureCode::AttemptsExhausted, false),
        ]
    );
}

#[tokio::test]
async fn a_processor_killed_mid_job_is_replaced_and_the_job_completes_once() {
    let w = world().await;
    // A longer clip, so the first processor is surely still working when it dies.
    let (video, settings) = w.upload_long("40", fast_retries().max_deliver).await;
    let (_first_stop, first) = w.processor(settings.clone());
    w.until(video, |v| v.status == VideoStatus::Processing).await;
    first.abort(); // a crash: no ack, no failure event
    let _ = first.await;

    let (stop, second) = w.processor(settings);
    let events = w.until(video, |v| v.status == VideoStatus::Completed).await;
    stop.cancel();
    second.await.unwrap();
    assert_eq!(count(&events, "completed"), 1, "{events:?}");
    assert_eq!(
        count(&events, "processing_started"),
        2,
        "the redelivery took over the dead attempt: {events:?}"
    );
    let mut stored = w.bucket.storage().list(&archive_prefix(video)).await.unwrap();
    stored.sort();
    assert_eq!(
        stored,
        [manifest_key(video, 0), archive_key(video, 0)],
        "one archive and its manifest: {stored:?}"
    );
}

#[tokio::test]
async fn a_job_whose_deliveries_run_out_without_a_result_ends_attempts_exhausted() {
    let w = world().await;
    let video = w.upload_clip(&common::H264).await;
    let settings = ProcessorSettings {
        ack_wait_secs: 1,
        max_deliver: 2,
        ..fast_retries()
    };
    let processor = Processor::new(
        w.nats.client.clone(),
        w.nats.handler(10),
        w.bucket.storage().clone(),
        w.nats.settings.clone(),
        settings,
    );
    // Only the advisory watcher runs; the job deliveries go to "processors" that crash (never ack).
    let stop = CancellationToken::new();
    let watcher = {
        let processor = processor.clone();
        let stop = stop.clone();
        tokio::spawn(async move { processor.watch_advisories(stop).await })
    };
    let consumer = w.nats.consumer(processor.consumer_config()).await;
    // Keep a pull request open: the server announces max deliveries when it would deliver again.
    let (deliveries, done) = pull_until(&consumer, Duration::from_millis(500), false, async || {
        let state = Video::from_events(&w.events(video).await);
        (state.status == VideoStatus::Failed).then_some(state)
    })
    .await;
    stop.cancel();
    watcher.await.unwrap();
    let state = done.expect("the advisory ended the job");
    assert_eq!(deliveries, 2, "max_deliver deliveries, then none");
    assert_eq!(
        state.failure.map(|(code, _)| code),
        Some(FailureCode::AttemptsExhausted)
    );
    let events = w.events(video).await;
    assert_eq!(count(&events, "failed"), 1, "{events:?}");
    assert_eq!(
        count(&events, "processing_started"),
        0,
        "no attempt ever reported a start"
    );
}

#[tokio::test]
async fn a_superseded_attempt_never_settles_the_message_so_the_job_still_completes() {
    let w = world().await;
    // Long enough that the first attempt is still extracting when a newer attempt is recorded.
    let (video, settings) = w.upload_long("20", 5).await;
    let (stop, task) = w.processor(settings);
    w.until(video, |v| v.status == VideoStatus::Processing).await;
    // Another processor took a redelivery of the job (attempt 2) and died right after recording its start: its
    // delivery will never be settled by anyone.
    w.nats
        .handler(3)
        .handle(
            video,
            fiapx_domain::Command::StartProcessing {
                job: 0,
                attempt: 2,
                at: OffsetDateTime::now_utc(),
            },
            Metadata::new_request(),
        )
        .await
        .unwrap();
    // Attempt 1 finishes and is refused as superseded. Had it acked (JetStream acks the stream sequence, not the
    // delivery) the message would be gone and the video `processing` for good; left unsettled, it comes back
    // after ack_wait and a later attempt completes the job.
    let events = w.until(video, |v| v.status == VideoStatus::Completed).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(count(&events, "completed"), 1, "{events:?}");
    let Some(Event::Completed { attempt, .. }) = events.iter().rev().find(|e| e.event_type() == "completed")
    else {
        unreachable!()
    };
    assert!(*attempt > 2, "completed by a later delivery: {events:?}");
}
