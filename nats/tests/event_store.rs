//! The event store against a real nats-server (one per test, on a free port with a temporary store).

use std::collections::HashSet;
use std::sync::Arc;

use async_nats::HeaderMap;
use fiapx_domain::testing::{now_ms as now, register_upload};
use fiapx_domain::{ArchiveObject, Command, Event, UserId, Video, VideoError, VideoId, VideoStatus, decide};
use fiapx_nats::test_support::{NatsServer, TestNats};
use fiapx_nats::{CommandHandler, HandleError, JetStreamEventStore, NatsSettings, provision};
use fiapx_schemas::{AppendError, LoadError, Metadata, PendingEvent};
use futures::StreamExt;
use pretty_assertions::assert_eq;
use uuid::Uuid;

fn new_video() -> VideoId {
    VideoId::from_uuid(Uuid::now_v7())
}

fn owner() -> UserId {
    UserId::from_uuid(Uuid::from_u128(42))
}

fn register(video: VideoId) -> Command {
    register_upload(video, owner(), "clip.mp4", 1024, now())
}

/// The event the domain records for [`register`].
fn uploaded(video: VideoId) -> Event {
    let mut events = decide(&Video::default(), register(video)).expect("a valid upload");
    events.remove(0)
}

/// A new video whose `uploaded` event is appended, and the version after it.
async fn uploaded_video(f: &TestNats) -> (VideoId, u64) {
    let video = new_video();
    let version = f
        .store
        .append(video, 0, &[pending(uploaded(video))])
        .await
        .unwrap();
    (video, version)
}

fn started(attempt: u32) -> Event {
    Event::ProcessingStarted {
        job: 0,
        attempt,
        at: now(),
    }
}

fn pending(event: Event) -> PendingEvent {
    PendingEvent::new(event, Metadata::new_request())
}

#[tokio::test]
async fn provisioning_is_idempotent_and_the_log_is_append_only() {
    let f = TestNats::start().await;
    let js = async_nats::jetstream::new(f.client.clone());
    provision(&js, &f.settings)
        .await
        .expect("second provisioning converges");
    let mut stream = js.get_stream(&f.settings.stream).await.unwrap();
    let info = stream.info().await.unwrap();
    assert!(info.config.deny_delete && info.config.deny_purge && info.config.allow_direct);
    assert!(info.config.allow_atomic_publish);
    assert_eq!(info.config.subjects, vec!["videos.*.*".to_string()]);

    let (video, seq) = uploaded_video(&f).await;
    assert!(
        stream.delete_message(seq).await.is_err(),
        "deleting an event must be refused"
    );
    assert!(stream.purge().await.is_err(), "purging the log must be refused");
    assert_eq!(f.store.load(video).await.unwrap().events.len(), 1);
}

#[tokio::test]
async fn events_read_back_equal_events_written() {
    let f = TestNats::start().await;
    let video = new_video();
    let other = new_video();
    let metadata = Metadata {
        correlation_id: Uuid::now_v7(),
        causation_id: Some(Uuid::now_v7()),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    };
    let written: Vec<PendingEvent> = vec![
        PendingEvent::new(uploaded(video), metadata.clone()),
        PendingEvent::new(started(1), metadata.clone()),
        PendingEvent::new(
            Event::Completed {
                job: 0,
                attempt: 1,
                archive: ArchiveObject {
                    key: "a.zip".into(),
                    size_bytes: 7,
                    sha256: "0".repeat(64),
                    frame_count: 3,
                },
                at: now(),
            },
            metadata.clone(),
        ),
    ];
    let mut version = 0;
    for event in &written {
        version = f
            .store
            .append(video, version, std::slice::from_ref(event))
            .await
            .unwrap();
        // Interleave another video's events: per-video versions must ignore them.
        let other_version = f.store.load(other).await.unwrap().version;
        let other_event = if other_version == 0 {
            uploaded(other)
        } else {
            started(u32::try_from(other_version).unwrap())
        };
        f.store
            .append(other, other_version, &[pending(other_event)])
            .await
            .unwrap();
    }
    let loaded = f.store.load(video).await.unwrap();
    assert_eq!(loaded.version, version);
    assert_eq!(loaded.events.len(), written.len());
    for (stored, sent) in loaded.events.iter().zip(&written) {
        assert_eq!(stored.event, sent.event);
        assert_eq!(stored.envelope.event_id, sent.event_id);
        assert_eq!(stored.envelope.video_id, video);
        assert_eq!(stored.envelope.correlation_id, metadata.correlation_id);
        assert_eq!(stored.envelope.causation_id, metadata.causation_id);
        assert_eq!(stored.envelope.traceparent, metadata.traceparent);
        assert_eq!(stored.envelope.schema_version, 1);
    }
    let sequences: Vec<u64> = loaded.events.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "events come back in stream order: {sequences:?}"
    );
}

#[tokio::test]
async fn a_video_with_no_events_loads_empty_at_version_zero() {
    let f = TestNats::start().await;
    let loaded = f.store.load(new_video()).await.unwrap();
    assert!(loaded.events.is_empty());
    assert_eq!(loaded.version, 0);
}

#[tokio::test]
async fn loads_page_through_long_histories() {
    let f = TestNats::start().await;
    let (video, mut version) = uploaded_video(&f).await;
    for attempt in 1..=300 {
        version = f
            .store
            .append(video, version, &[pending(started(attempt))])
            .await
            .unwrap();
    }
    let loaded = f.store.load(video).await.unwrap();
    assert_eq!(loaded.events.len(), 301);
    assert_eq!(loaded.version, version);
    assert!(matches!(
        loaded.events.last().unwrap().event,
        Event::ProcessingStarted { attempt: 300, .. }
    ));
}

#[tokio::test]
async fn a_stale_append_is_rejected_and_stores_nothing() {
    let f = TestNats::start().await;
    let (video, v1) = uploaded_video(&f).await;
    f.store.append(video, v1, &[pending(started(1))]).await.unwrap();
    let stale = f.store.append(video, v1, &[pending(started(2))]).await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { expected, .. }) if expected == v1),
        "{stale:?}"
    );
    let fresh = f.store.append(video, 0, &[pending(uploaded(video))]).await;
    assert!(
        matches!(fresh, Err(AppendError::Conflict { .. })),
        "version 0 means a new video: {fresh:?}"
    );
    assert_eq!(f.store.load(video).await.unwrap().events.len(), 2);
}

#[tokio::test]
async fn fifty_concurrent_appends_at_the_same_version_have_exactly_one_winner() {
    let f = TestNats::start().await;
    let (video, version) = uploaded_video(&f).await;
    let store = Arc::new(f.store.clone());
    let tasks: Vec<_> = (1..=50)
        .map(|attempt| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.append(video, version, &[pending(started(attempt))]).await })
        })
        .collect();
    let mut wins = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(AppendError::Conflict { .. }) => conflicts += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 49));
    assert_eq!(f.store.load(video).await.unwrap().events.len(), 2);
}

#[tokio::test]
async fn the_command_handlers_retry_converges_under_contention() {
    let f = TestNats::start().await;
    let video = new_video();
    let handler = CommandHandler::new(f.store.clone(), 100);
    handler
        .handle(video, register(video), Metadata::new_request())
        .await
        .unwrap();
    // 20 deliveries race to start; a higher attempt always supersedes a lower one, so after every reload the
    // command is decided again on the new state: each either lands or is rejected as superseded.
    let tasks: Vec<_> = (1..=20u32)
        .map(|attempt| {
            let handler = handler.clone();
            tokio::spawn(async move {
                let command = Command::StartProcessing {
                    job: 0,
                    attempt,
                    at: now(),
                };
                (
                    attempt,
                    handler.handle(video, command, Metadata::new_request()).await,
                )
            })
        })
        .collect();
    let mut landed = HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            (attempt, Ok(handled)) => {
                assert_eq!(handled.events.len(), 1);
                landed.insert(attempt);
            }
            (_, Err(HandleError::Rejected(VideoError::AttemptSuperseded { .. }))) => {}
            (attempt, Err(other)) => panic!("attempt {attempt}: {other}"),
        }
    }
    assert!(
        landed.contains(&20),
        "the highest attempt can never be superseded, so it must land"
    );
    let loaded = f.store.load(video).await.unwrap();
    let attempts: Vec<u32> = loaded
        .events
        .iter()
        .filter_map(|e| match e.event {
            Event::ProcessingStarted { attempt, .. } => Some(attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts.len(), landed.len());
    assert!(
        attempts.windows(2).all(|w| w[0] < w[1]),
        "attempts only grow in the log: {attempts:?}"
    );
    let state = fiapx_domain::Video::from_events(loaded.events.iter().map(|e| &e.event));
    assert_eq!((state.status, state.attempt), (VideoStatus::Processing, 20));
}

#[tokio::test]
async fn rejected_commands_store_nothing() {
    let f = TestNats::start().await;
    let handler = CommandHandler::new(f.store.clone(), 3);
    let video = new_video();
    let result = handler
        .handle(
            video,
            Command::StartProcessing {
                job: 0,
                attempt: 1,
                at: now(),
            },
            Metadata::new_request(),
        )
        .await;
    assert!(
        matches!(result, Err(HandleError::Rejected(VideoError::NotFound))),
        "{result:?}"
    );
    assert_eq!(f.store.load(video).await.unwrap().version, 0);
}

#[tokio::test]
async fn a_retried_publish_with_the_same_event_id_is_stored_once() {
    let f = TestNats::start().await;
    let video = new_video();
    let event = pending(uploaded(video));
    let first = f
        .store
        .append(video, 0, std::slice::from_ref(&event))
        .await
        .unwrap();
    // The ack was "lost": the writer retries the very same event at the version it decided on.
    let retried = f
        .store
        .append(video, 0, std::slice::from_ref(&event))
        .await
        .unwrap();
    assert_eq!(retried, first, "the server answers with the original sequence");
    let loaded = f.store.load(video).await.unwrap();
    assert_eq!(loaded.events.len(), 1);
    assert_eq!(loaded.events[0].envelope.event_id, event.event_id);
}

#[tokio::test]
async fn a_multi_event_decision_is_appended_atomically() {
    let f = TestNats::start().await;
    let video = new_video();
    let batch = [pending(uploaded(video)), pending(started(1)), pending(started(2))];
    let version = f.store.append(video, 0, &batch).await.unwrap();
    let loaded = f.store.load(video).await.unwrap();
    assert_eq!(loaded.version, version);
    let ids: Vec<Uuid> = loaded.events.iter().map(|e| e.envelope.event_id).collect();
    assert_eq!(ids, batch.iter().map(|p| p.event_id).collect::<Vec<_>>());
    let sequences: Vec<u64> = loaded.events.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        vec![version - 2, version - 1, version],
        "a batch is stored contiguously"
    );

    // A batch decided on a stale version stores none of its events.
    let stale = f
        .store
        .append(video, version - 1, &[pending(started(3)), pending(started(4))])
        .await;
    assert!(matches!(stale, Err(AppendError::Conflict { .. })), "{stale:?}");
    assert_eq!(f.store.load(video).await.unwrap().events.len(), 3);
}

#[tokio::test]
async fn an_interrupted_batch_stores_nothing() {
    let f = TestNats::start().await;
    let video = new_video();
    // A writer that dies after sending the first two messages of a three-message batch, before the commit.
    for (index, event) in [uploaded(video), started(1)].into_iter().enumerate() {
        let encoded = fiapx_schemas::encode(&event);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", "dead-writer-batch");
        headers.insert("Nats-Batch-Sequence", (index + 1).to_string().as_str());
        headers.insert("Nats-Msg-Id", Uuid::now_v7().to_string().as_str());
        headers.insert("Fiapx-Event-Type", encoded.event_type);
        headers.insert("Fiapx-Schema-Version", "1");
        f.client
            .publish_with_headers(
                format!("videos.{video}.{}", encoded.event_type),
                headers,
                encoded.payload.into(),
            )
            .await
            .unwrap();
    }
    f.client.flush().await.unwrap();
    let loaded = f.store.load(video).await.unwrap();
    assert!(
        loaded.events.is_empty(),
        "uncommitted batch messages must not be visible: {loaded:?}"
    );
    // And the video is still writable from version 0.
    f.store
        .append(video, 0, &[pending(uploaded(video))])
        .await
        .unwrap();
    assert_eq!(f.store.load(video).await.unwrap().events.len(), 1);
}

#[tokio::test]
async fn a_corrupt_stored_message_is_a_typed_load_error() {
    let f = TestNats::start().await;
    let video = new_video();
    let js = async_nats::jetstream::new(f.client.clone());
    js.publish(format!("videos.{video}.uploaded"), "not json, no headers".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let error = f.store.load(video).await.unwrap_err();
    assert!(matches!(error, LoadError::Corrupt { sequence: 1, .. }), "{error}");
}

#[tokio::test]
async fn appends_fail_cleanly_when_the_server_is_gone() {
    let server = NatsServer::start();
    let settings = NatsSettings {
        request_timeout: std::time::Duration::from_millis(500),
        ..server.settings()
    };
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(std::time::Duration::from_millis(500)))
        .connect(&settings.url)
        .await
        .unwrap();
    provision(&async_nats::jetstream::new(client.clone()), &settings)
        .await
        .unwrap();
    let store = JetStreamEventStore::new(client, &settings);
    let mut server = server;
    server.kill();
    let video = new_video();
    let result = store.append(video, 0, &[pending(uploaded(video))]).await;
    assert!(matches!(result, Err(AppendError::Unavailable(_))), "{result:?}");
    let result = store.load(video).await;
    assert!(matches!(result, Err(LoadError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn a_subscription_reads_the_log_from_a_position_then_new_events() {
    let f = TestNats::start().await;
    let (a, b) = (new_video(), new_video());
    f.store.append(a, 0, &[pending(uploaded(a))]).await.unwrap();
    let v = f.store.append(b, 0, &[pending(uploaded(b))]).await.unwrap();
    // Through the port, as a second backend would be used.
    let mut events = fiapx_schemas::EventStore::subscribe(&f.store, v).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!((first.sequence, first.envelope.video_id), (v, b));
    let start = started(1);
    let later = f.store.append(a, 1, &[pending(start.clone())]).await.unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
        .await
        .expect("the new event arrives")
        .unwrap()
        .unwrap();
    assert_eq!((next.sequence, next.envelope.video_id), (later, a));
    assert_eq!(next.event, start);
}
