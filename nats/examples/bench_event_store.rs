//! Event-store benchmark: `make bench-events` (part of `make bench`).
//!
//! Starts its own nats-server (file store in a temp dir) and measures, in the same run, our event store against
//! plain JetStream baselines doing the same amount of work without our guarantees:
//! - append throughput on one video (sequential, OCC) vs plain acked publishes on one subject;
//! - append throughput over many videos (concurrent writers, OCC) vs plain acked publishes, same concurrency;
//! - load latency of a 10-event video (one batched direct get) vs ten single direct gets.
//!
//! Ratios are what to compare across machines; absolute figures depend on the machine's load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use async_nats::jetstream;
use fiapx_domain::{Event, ExtractionSpec, SourceObject, UserId, VideoId};
use fiapx_nats::test_support::NatsServer;
use fiapx_nats::{JetStreamEventStore, provision};
use fiapx_schemas::{Metadata, PendingEvent};
use futures::future::try_join_all;
use hdrhistogram::Histogram;
use time::OffsetDateTime;
use uuid::Uuid;

const SINGLE_APPENDS: u32 = 2_000;
const VIDEOS: usize = 1_000;
const EVENTS_PER_VIDEO: u32 = 5;
const WRITERS: usize = 32;
const LOAD_VIDEOS: usize = 100;
const LOADS: usize = 2_000;

fn uploaded(video: VideoId) -> Event {
    Event::Uploaded {
        video_id: video,
        owner: UserId::from_uuid(Uuid::now_v7()),
        source: SourceObject {
            key: format!("sources/{video}"),
            file_name: "clip.mp4".into(),
            size_bytes: 10 << 20,
            content_type: "video/mp4".into(),
        },
        spec: ExtractionSpec::default(),
        at: OffsetDateTime::now_utc(),
    }
}

fn started(attempt: u32) -> Event {
    Event::ProcessingStarted {
        job: 0,
        attempt,
        at: OffsetDateTime::now_utc(),
    }
}

fn pending(event: Event) -> PendingEvent {
    PendingEvent::new(event, Metadata::new_request())
}

fn payload_of(event: &Event) -> bytes::Bytes {
    fiapx_schemas::encode(event).payload.into()
}

/// Appends `events` to `video` one by one, each at the version the previous one returned.
async fn append_history(store: &JetStreamEventStore, video: VideoId, events: u32) -> Result<()> {
    let mut version = store.append(video, 0, &[pending(uploaded(video))]).await?;
    for attempt in 1..events {
        version = store.append(video, version, &[pending(started(attempt))]).await?;
    }
    Ok(())
}

async fn raw_history(js: &jetstream::Context, subject: String, events: u32) -> Result<()> {
    let payload = payload_of(&started(1));
    for _ in 0..events {
        js.publish(subject.clone(), payload.clone()).await?.await?;
    }
    Ok(())
}

/// Runs `work` over `items` with `WRITERS` concurrent tasks.
async fn concurrently<F, Fut>(items: Vec<VideoId>, work: F) -> Result<Duration>
where
    F: Fn(VideoId) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let queue = Arc::new(tokio::sync::Mutex::new(items));
    let work = Arc::new(work);
    let started = Instant::now();
    let tasks = (0..WRITERS).map(|_| {
        let queue = Arc::clone(&queue);
        let work = Arc::clone(&work);
        tokio::spawn(async move {
            loop {
                let Some(video) = queue.lock().await.pop() else {
                    return Ok::<_, anyhow::Error>(());
                };
                work(video).await?;
            }
        })
    });
    for result in try_join_all(tasks).await? {
        result?;
    }
    Ok(started.elapsed())
}

fn per_sec(count: f64, elapsed: Duration) -> f64 {
    count / elapsed.as_secs_f64()
}

fn micros(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

#[tokio::main]
async fn main() -> Result<()> {
    let server = NatsServer::start();
    let settings = server.settings();
    let client = settings.connect("fiapx-bench").await?;
    let js = jetstream::new(client.clone());
    provision(&js, &settings).await?;
    js.create_stream(jetstream::stream::Config {
        name: "BASELINE".into(),
        subjects: vec!["baseline.>".into()],
        storage: jetstream::stream::StorageType::File,
        allow_direct: true,
        ..Default::default()
    })
    .await?;
    let store = JetStreamEventStore::new(client.clone(), &settings);

    // Warm-up: connections, stream files, allocator.
    append_history(&store, VideoId::from_uuid(Uuid::now_v7()), 50).await?;
    raw_history(&js, "baseline.warmup.x".into(), 50).await?;

    // 1. One video, sequential appends with OCC vs plain acked publishes.
    let video = VideoId::from_uuid(Uuid::now_v7());
    let t = Instant::now();
    append_history(&store, video, SINGLE_APPENDS).await?;
    let ours_single = per_sec(f64::from(SINGLE_APPENDS), t.elapsed());
    let t = Instant::now();
    raw_history(&js, "baseline.single.x".into(), SINGLE_APPENDS).await?;
    let base_single = per_sec(f64::from(SINGLE_APPENDS), t.elapsed());

    // 2. Many videos, WRITERS concurrent writers.
    let videos: Vec<VideoId> = (0..VIDEOS).map(|_| VideoId::from_uuid(Uuid::now_v7())).collect();
    let total = (VIDEOS as f64) * f64::from(EVENTS_PER_VIDEO);
    let s = store.clone();
    let ours_many = per_sec(
        total,
        concurrently(videos.clone(), move |v| {
            let s = s.clone();
            async move { append_history(&s, v, EVENTS_PER_VIDEO).await }
        })
        .await?,
    );
    let j = js.clone();
    let base_many = per_sec(
        total,
        concurrently(videos, move |v| {
            let j = j.clone();
            async move { raw_history(&j, format!("baseline.{v}.x"), EVENTS_PER_VIDEO).await }
        })
        .await?,
    );

    // 3. Load latency of 10-event videos: one batched direct get vs ten single direct gets.
    let load_videos: Vec<VideoId> = (0..LOAD_VIDEOS)
        .map(|_| VideoId::from_uuid(Uuid::now_v7()))
        .collect();
    for video in &load_videos {
        append_history(&store, *video, 10).await?;
    }
    let stream = js.get_stream(&settings.stream).await?;
    let mut ours = Histogram::<u64>::new(3)?;
    let mut base = Histogram::<u64>::new(3)?;
    for i in 0..LOADS {
        let video = load_videos[i % LOAD_VIDEOS];
        let t = Instant::now();
        let loaded = store.load(video).await?;
        ours.record(t.elapsed().as_micros() as u64)?;
        assert_eq!(loaded.events.len(), 10);

        let t = Instant::now();
        let mut next = 0u64;
        for _ in 0..10 {
            let message = stream
                .direct_get_next_for_subject(format!("videos.{video}.*"), Some(next + 1))
                .await?;
            next = message.sequence;
        }
        base.record(t.elapsed().as_micros() as u64)?;
    }

    println!(
        "FIAP X event store benchmark (nats-server {}, file store, loopback)",
        server_version(&client)
    );
    println!();
    println!("| measure | ours | baseline | ours / baseline |");
    println!("|---|---|---|---|");
    println!(
        "| append, 1 video, sequential (events/s) | {ours_single:.0} | {base_single:.0} plain acked publish | {:.2} |",
        ours_single / base_single
    );
    println!(
        "| append, {VIDEOS} videos x {EVENTS_PER_VIDEO}, {WRITERS} writers (events/s) | {ours_many:.0} | {base_many:.0} plain acked publish | {:.2} |",
        ours_many / base_many
    );
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        println!(
            "| load 10-event video, {label} (µs) | {:.0} | {:.0} ten direct gets | {:.2} |",
            micros(&ours, q),
            micros(&base, q),
            micros(&ours, q) / micros(&base, q)
        );
    }
    Ok(())
}

fn server_version(client: &async_nats::Client) -> String {
    client.server_info().version
}
