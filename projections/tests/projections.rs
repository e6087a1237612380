//! The read models against real PostgreSQL (a database per test) and a real nats-server (one per test).

use std::collections::BTreeMap;
use std::time::Duration;

use fiapx_database::test_support::TestDatabase;
use fiapx_domain::testing::{now_ms as now, register_upload};
use fiapx_domain::{
    ArchiveObject, AttemptFailure, Command, ExtractionSpec, FailureCode, ImageFormat, Rational, Selection,
    UserId, Video, VideoId, VideoStatus,
};
use fiapx_nats::test_support::TestNats;
use fiapx_projections::entity::{owner_counts, projection_error, timeline_entry, video};
use fiapx_projections::{
    Generation, Incoming, Projector, ProjectorSettings, VIDEOS, active_generation, apply, apply_batch,
    checkpoint, rebuild, timeline, videos,
};
use pretty_assertions::assert_eq;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

struct Fixture {
    db: TestDatabase,
    nats: TestNats,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create().await;
    let nats = TestNats::start().await;
    Fixture { db, nats }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Fixture {
    fn db(&self) -> &DatabaseConnection {
        self.db.connection()
    }

    fn start_projector(&self) -> Running {
        let projector = Projector::new(
            self.db().clone(),
            self.nats.client.clone(),
            &self.nats.settings,
            ProjectorSettings {
                batch: 16,
                ..ProjectorSettings::default()
            },
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(projector.run(async move {
            let _ = stopped.await;
        }));
        Running { stop, task }
    }

    async fn upload(&self, owner: UserId) -> VideoId {
        let video = VideoId::from_uuid(Uuid::now_v7());
        let file_name = format!("{video}.mp4");
        self.nats
            .run(video, register_upload(video, owner, &file_name, 1_234_567, now()))
            .await;
        video
    }

    /// Runs a projector until it has applied the whole log, then stops it.
    async fn project_the_log(&self) {
        let projector = self.start_projector();
        self.caught_up().await;
        projector.stop().await;
    }

    async fn last_sequence(&self) -> u64 {
        let js = self.nats.jetstream();
        let mut stream = js.get_stream(&self.nats.settings.stream).await.unwrap();
        stream.info().await.unwrap().state.last_sequence
    }

    /// Waits until the active generation's checkpoint reaches the end of the log (bounded, so a bug fails the
    /// test instead of hanging it; no timing is asserted).
    async fn caught_up(&self) {
        let target = self.last_sequence().await;
        for _ in 0..600 {
            let generation = active_generation(self.db(), VIDEOS).await.unwrap();
            if checkpoint(self.db(), VIDEOS, generation).await.unwrap() >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("projector did not reach sequence {target}");
    }

    /// Every video of the log folded by the domain, by id.
    async fn folds(&self, ids: &[VideoId]) -> BTreeMap<Uuid, (Video, Vec<fiapx_schemas::StoredEvent>)> {
        let mut folds = BTreeMap::new();
        for id in ids {
            let loaded = self.nats.store.load(*id).await.unwrap();
            let video = Video::from_events(loaded.events.iter().map(|stored| &stored.event));
            folds.insert(*id.as_uuid(), (video, loaded.events));
        }
        folds
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

fn archive(video: VideoId, job: u32) -> ArchiveObject {
    ArchiveObject {
        key: format!("archives/{video}/{job}.zip"),
        size_bytes: 4096,
        sha256: "ab".repeat(32),
        frame_count: 12,
    }
}

fn start(job: u32, attempt: u32) -> Command {
    Command::StartProcessing {
        job,
        attempt,
        at: now(),
    }
}

/// Completes `job` of `video` with [`archive`].
fn complete(video: VideoId, job: u32, attempt: u32) -> Command {
    Command::CompleteProcessing {
        job,
        attempt,
        archive: archive(video, job),
        at: now(),
    }
}

fn fail(job: u32, attempt: u32, code: FailureCode, will_retry: bool) -> Command {
    Command::FailProcessing(AttemptFailure {
        job,
        attempt,
        code,
        message: format!("{code} on attempt {attempt}"),
        will_retry,
        at: now(),
    })
}

/// Asserts that a read-model row says what the domain fold of the same events says.
#[track_caller]
fn assert_row_matches(row: &video::Model, fold: &Video, events: usize, timeline: &[timeline_entry::Model]) {
    let source = fold.source.as_ref().unwrap();
    assert_eq!(row.owner_id, *fold.owner.unwrap().as_uuid());
    assert_eq!(row.status, fold.status.as_str());
    assert_eq!(row.file_name, source.file_name);
    assert_eq!(row.source_size_bytes, source.size_bytes as i64);
    assert_eq!(row.spec, fiapx_schemas::spec_to_json(&fold.spec));
    assert_eq!(row.job, fold.job as i32);
    assert_eq!(row.attempt, fold.attempt as i32);
    assert_eq!(row.archive_key, fold.archive.as_ref().map(|a| a.key.clone()));
    assert_eq!(
        row.frame_count,
        fold.archive.as_ref().map(|a| a.frame_count as i32)
    );
    assert_eq!(
        row.failure_code,
        fold.failure.as_ref().map(|(code, _)| code.as_str().to_owned())
    );
    assert_eq!(
        row.failure_message,
        fold.failure.as_ref().map(|(_, message)| message.clone())
    );
    let entries: Vec<_> = timeline.iter().filter(|entry| entry.video_id == row.id).collect();
    assert_eq!(entries.len(), events, "timeline of {}", row.id);
}

/// Every table of a generation.
#[derive(Debug, PartialEq)]
struct Snapshot {
    videos: Vec<video::Model>,
    timeline: Vec<timeline_entry::Model>,
    counts: Vec<owner_counts::Model>,
}

async fn snapshot(db: &impl ConnectionTrait, generation: Generation) -> Snapshot {
    Snapshot {
        videos: videos::all(db, generation).await.unwrap(),
        timeline: timeline::all(db, generation).await.unwrap(),
        counts: fiapx_projections::owner_counts::all(db, generation)
            .await
            .unwrap(),
    }
}

/// Runs a mixed history: every event type, retries, a reprocess with a new spec, a deletion.
async fn mixed_history(f: &Fixture, owner: UserId) -> Vec<VideoId> {
    let a = f.upload(owner).await;
    f.nats.run(a, start(0, 1)).await;
    f.nats
        .run(a, fail(0, 1, FailureCode::StorageUnavailable, true))
        .await;
    f.nats.run(a, start(0, 2)).await;
    f.nats.run(a, complete(a, 0, 2)).await;
    let spec = ExtractionSpec {
        selection: Selection::Every {
            seconds: Rational::new(1, 2),
        },
        format: ImageFormat::Jpeg { quality: 80 },
        max_width: Some(640),
        max_height: None,
        storyboard: None,
    };
    f.nats
        .run(
            a,
            Command::RequestReprocess {
                by: owner,
                spec: Some(spec),
                at: now(),
            },
        )
        .await;
    f.nats.run(a, start(1, 1)).await;
    f.nats.run(a, fail(1, 1, FailureCode::CorruptInput, false)).await;

    let b = f.upload(owner).await;
    f.nats.run(b, start(0, 1)).await;
    f.nats.run(b, Command::DeleteVideo { by: owner, at: now() }).await;

    let c = f.upload(owner).await;
    f.nats.run(c, start(0, 1)).await;
    f.nats.run(c, complete(c, 0, 1)).await;

    let d = f.upload(UserId::from_uuid(Uuid::now_v7())).await;
    vec![a, b, c, d]
}

#[tokio::test]
async fn every_event_type_is_reflected_in_the_read_models() {
    let f = fixture().await;
    let owner = UserId::from_uuid(Uuid::now_v7());
    let ids = mixed_history(&f, owner).await;
    f.project_the_log().await;

    let rows = video::Entity::find().all(f.db()).await.unwrap();
    let entries = timeline_entry::Entity::find().all(f.db()).await.unwrap();
    let folds = f.folds(&ids).await;
    assert_eq!(rows.len(), ids.len());
    for row in &rows {
        let (fold, events) = &folds[&row.id];
        assert_row_matches(row, fold, events.len(), &entries);
    }

    let a = rows.iter().find(|row| row.id == *ids[0].as_uuid()).unwrap();
    assert_eq!(a.status, "failed");
    assert_eq!(a.failure_code.as_deref(), Some("corrupt_input"));
    assert_eq!(a.will_retry, Some(false));
    assert_eq!(
        a.archive_key,
        Some(format!("archives/{}/0.zip", ids[0])),
        "the last archive stays"
    );
    assert_eq!(a.spec["selection"]["mode"], "every");
    let a_types: Vec<_> = entries
        .iter()
        .filter(|entry| entry.video_id == a.id)
        .map(|entry| entry.event_type.as_str())
        .collect();
    assert_eq!(
        a_types,
        [
            "uploaded",
            "processing_started",
            "failed",
            "processing_started",
            "completed",
            "reprocess_requested",
            "processing_started",
            "failed"
        ]
    );
    let retry = entries
        .iter()
        .find(|entry| entry.video_id == a.id && entry.event_type == "failed")
        .unwrap();
    assert_eq!(retry.summary["code"], "storage_unavailable");
    assert_eq!(retry.summary["will_retry"], true);

    let counts = owner_counts::Entity::find_by_id(*owner.as_uuid())
        .one(f.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            counts.queued,
            counts.processing,
            counts.retry_scheduled,
            counts.completed,
            counts.failed,
            counts.deleted
        ),
        (0, 0, 0, 1, 1, 1)
    );
}

#[tokio::test]
async fn applying_the_same_event_twice_changes_nothing() {
    let f = fixture().await;
    let ids = mixed_history(&f, UserId::from_uuid(Uuid::now_v7())).await;
    let mut events: Vec<_> = f
        .folds(&ids)
        .await
        .into_values()
        .flat_map(|(_, events)| events)
        .collect();
    events.sort_by_key(|stored| stored.sequence);
    let g1 = Generation(1);

    // Straight through `apply`, twice, without the checkpoint: each row model is idempotent on its own.
    let tx = f.db().begin().await.unwrap();
    for stored in &events {
        apply(&tx, g1, stored).await.unwrap();
    }
    tx.commit().await.unwrap();
    let once = snapshot(f.db(), g1).await;
    let tx = f.db().begin().await.unwrap();
    for stored in &events {
        apply(&tx, g1, stored).await.unwrap();
        apply(&tx, g1, stored).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(snapshot(f.db(), g1).await, once);

    // Through `apply_batch`: the checkpoint moves once, a redelivered batch is skipped.
    let items: Vec<_> = events
        .iter()
        .cloned()
        .map(|stored| Incoming::Event(Box::new(stored)))
        .collect();
    for _ in 0..2 {
        let tx = f.db().begin().await.unwrap();
        apply_batch(&tx, VIDEOS, g1, &items).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(snapshot(f.db(), g1).await, once);
    assert_eq!(
        checkpoint(f.db(), VIDEOS, g1).await.unwrap(),
        events.last().unwrap().sequence
    );
}

#[tokio::test]
async fn a_stopped_projector_catches_up_with_nothing_missing() {
    let f = fixture().await;
    let owners: Vec<UserId> = (0..3).map(|_| UserId::from_uuid(Uuid::now_v7())).collect();
    let projector = f.start_projector();
    let mut ids = Vec::new();
    for owner in &owners {
        ids.push(f.upload(*owner).await);
    }
    f.caught_up().await;
    projector.stop().await;

    // 50 events while nobody projects.
    let mut written = 0;
    for round in 0..5_u32 {
        for (i, owner) in owners.iter().enumerate() {
            let video = f.upload(*owner).await;
            ids.push(video);
            f.nats.run(video, start(0, 1)).await;
            written += 2;
            match (round + i as u32) % 3 {
                0 => f.nats.run(video, complete(video, 0, 1)).await,
                1 => f.nats.run(video, fail(0, 1, FailureCode::TooLong, false)).await,
                _ => {
                    f.nats
                        .run(
                            video,
                            Command::DeleteVideo {
                                by: *owner,
                                at: now(),
                            },
                        )
                        .await
                }
            }
            written += 1;
        }
    }
    for video in &ids[..3] {
        f.nats.run(*video, start(0, 1)).await;
        written += 1;
    }
    f.nats
        .run(
            ids[0],
            Command::DeleteVideo {
                by: owners[0],
                at: now(),
            },
        )
        .await;
    f.nats
        .run(ids[1], fail(0, 1, FailureCode::StorageUnavailable, true))
        .await;
    written += 2;
    assert_eq!(written, 50);

    f.project_the_log().await;

    let rows = video::Entity::find().all(f.db()).await.unwrap();
    let entries = timeline_entry::Entity::find().all(f.db()).await.unwrap();
    let folds = f.folds(&ids).await;
    assert_eq!(rows.len(), ids.len());
    assert_eq!(
        entries.len() as u64,
        f.last_sequence().await,
        "one timeline entry per event"
    );
    let mut expected_counts: BTreeMap<Uuid, [i64; 6]> = BTreeMap::new();
    for row in &rows {
        let (fold, events) = &folds[&row.id];
        assert_row_matches(row, fold, events.len(), &entries);
        let slot = match fold.status {
            VideoStatus::Queued => 0,
            VideoStatus::Processing => 1,
            VideoStatus::RetryScheduled => 2,
            VideoStatus::Completed => 3,
            VideoStatus::Failed => 4,
            VideoStatus::Deleted => 5,
            VideoStatus::New => unreachable!(),
        };
        expected_counts.entry(row.owner_id).or_default()[slot] += 1;
    }
    let counts: BTreeMap<Uuid, [i64; 6]> = owner_counts::Entity::find()
        .all(f.db())
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.owner_id,
                [
                    c.queued,
                    c.processing,
                    c.retry_scheduled,
                    c.completed,
                    c.failed,
                    c.deleted,
                ],
            )
        })
        .collect();
    assert_eq!(counts, expected_counts);
}

#[tokio::test]
async fn a_rebuild_yields_the_same_read_model_and_the_projector_follows_it() {
    let f = fixture().await;
    let owner = UserId::from_uuid(Uuid::now_v7());
    let mut ids = mixed_history(&f, owner).await;
    let projector = f.start_projector();
    f.caught_up().await;
    let before = snapshot(f.db(), Generation(1)).await;
    assert!(!before.videos.is_empty());

    let report = rebuild(f.db(), &f.nats.client, &f.nats.settings, VIDEOS)
        .await
        .unwrap();
    assert_eq!((report.from, report.to), (Generation(1), Generation(2)));
    assert_eq!(report.checkpoint, f.last_sequence().await);
    assert_eq!(active_generation(f.db(), VIDEOS).await.unwrap(), Generation(2));
    assert_eq!(
        snapshot(f.db(), Generation(2)).await,
        before,
        "the rebuild equals the original"
    );
    assert_eq!(
        video::Entity::find().all(f.db()).await.unwrap().len(),
        before.videos.len()
    );
    assert!(
        f.db.value::<bool>("SELECT to_regclass('videos_g1') IS NULL AS gone", "gone")
            .await,
        "the old generation is dropped"
    );

    // The running projector moves on with the new generation.
    ids.push(f.upload(owner).await);
    f.caught_up().await;
    projector.stop().await;
    let rows = video::Entity::find().all(f.db()).await.unwrap();
    assert_eq!(rows.len(), ids.len());

    assert!(matches!(
        rebuild(f.db(), &f.nats.client, &f.nats.settings, "nope").await,
        Err(fiapx_projections::RebuildError::UnknownProjection(_))
    ));
}

#[tokio::test]
async fn a_corrupt_event_is_recorded_once_and_does_not_block_the_projection() {
    let f = fixture().await;
    let owner = UserId::from_uuid(Uuid::now_v7());
    let first = f.upload(owner).await;
    let js = f.nats.jetstream();
    js.publish(
        format!("videos.{}.uploaded", Uuid::now_v7()),
        "not json, no headers".into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let second = f.upload(owner).await;

    f.project_the_log().await;

    let rows = video::Entity::find().all(f.db()).await.unwrap();
    let mut seen: Vec<_> = rows.iter().map(|row| row.id).collect();
    seen.sort();
    assert_eq!(seen, [*first.as_uuid(), *second.as_uuid()]);
    let errors = projection_error::Entity::find().all(f.db()).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].sequence, 2);
    assert_eq!(errors[0].generation, 1);
}

#[tokio::test]
async fn a_database_outage_delays_the_projection_and_loses_nothing() {
    let f = fixture().await;
    let owner = UserId::from_uuid(Uuid::now_v7());
    let projector = f.start_projector();
    let mut ids = vec![f.upload(owner).await];
    f.caught_up().await;

    // Every apply now fails, as with PostgreSQL unreachable: the projector naks and backs off.
    f.db()
        .execute_unprepared("ALTER TABLE projection_generations RENAME TO projection_generations_away")
        .await
        .unwrap();
    for _ in 0..5 {
        ids.push(f.upload(owner).await);
    }
    // Give it time to fail at least once (nothing is asserted about timing).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    f.db()
        .execute_unprepared("ALTER TABLE projection_generations_away RENAME TO projection_generations")
        .await
        .unwrap();

    f.caught_up().await;
    projector.stop().await;
    let rows = video::Entity::find().all(f.db()).await.unwrap();
    let mut seen: Vec<_> = rows.iter().map(|row| row.id).collect();
    seen.sort();
    let mut expected: Vec<_> = ids.iter().map(|id| *id.as_uuid()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let counts = owner_counts::Entity::find_by_id(*owner.as_uuid())
        .one(f.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counts.queued, 6);
}

#[tokio::test]
async fn events_overtaken_by_later_ones_are_read_from_the_stream_not_skipped() {
    let f = fixture().await;
    let owner = UserId::from_uuid(Uuid::now_v7());
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(*f.upload(owner).await.as_uuid());
    }
    // A crashed projector took the first event and never acked it: until its ack_wait expires, the server hands
    // the later events out first. The checkpoint must not pass the first one.
    let js = f.nats.jetstream();
    let stream = js.get_stream(&f.nats.settings.stream).await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            "projector",
            async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("projector".into()),
                filter_subject: "videos.>".into(),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut taken = consumer.fetch().max_messages(1).messages().await.unwrap();
    let held = futures::StreamExt::next(&mut taken).await.unwrap().unwrap();
    assert_eq!(held.info().unwrap().stream_sequence, 1);

    f.project_the_log().await;
    let mut seen: Vec<_> = video::Entity::find()
        .all(f.db())
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    seen.sort();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn an_event_postgresql_refuses_for_its_data_is_recorded_and_does_not_block_the_projection() {
    let f = fixture().await;
    let owner = UserId::from_uuid(Uuid::now_v7());
    let first = f.upload(owner).await;
    // A file name with a NUL byte: valid in the log, refused by PostgreSQL's text type (SQLSTATE 22021) on
    // every try. Uploads clean names, but the log may hold anything an older release or a tool wrote.
    let poison = VideoId::from_uuid(Uuid::now_v7());
    f.nats
        .run(poison, register_upload(poison, owner, "bad\0name.mp4", 10, now()))
        .await;
    let second = f.upload(owner).await;
    f.nats.run(second, start(0, 1)).await;

    f.project_the_log().await;

    let rows = video::Entity::find().all(f.db()).await.unwrap();
    let mut seen: Vec<_> = rows.iter().map(|row| row.id).collect();
    seen.sort();
    assert_eq!(
        seen,
        [*first.as_uuid(), *second.as_uuid()],
        "the rest is projected"
    );
    let second_row = rows.iter().find(|row| row.id == *second.as_uuid()).unwrap();
    assert_eq!(
        second_row.status, "processing",
        "events after the refused one too"
    );
    let errors = projection_error::Entity::find().all(f.db()).await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].sequence, 2);
    assert!(errors[0].error.contains("SQLSTATE 22021"), "{}", errors[0].error);
    assert!(errors[0].subject.starts_with(&poison.to_string()));
}
