//! Pipeline benchmark: `make bench-pipeline` (part of `make bench`).
//!
//! Runs every part of FIAP X in this process (as `fiapx serve all` does) against real servers: its own
//! nats-server, a fresh PostgreSQL database and S3 bucket on the local stack. Uploads `N` copies of a 10 s 360p
//! clip over HTTP at concurrency `C` and measures, per video, upload -> `completed` in the read model. The
//! baseline, measured in the same run, is the extraction alone (the engine on the same clip from a local file,
//! into memory). Reports throughput, latency percentiles, lost and duplicated jobs, and the pipeline's overhead
//! over the extraction (latency p50 - extraction p50).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fiapx::{Started, Which, start};
use fiapx_frames::{Extractor, Limits};
use fiapx_identity::test_support::bearer;
use hdrhistogram::Histogram;
use poem::test::TestClient;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[path = "../tests/common/mod.rs"]
mod common;
use common::Stack;

const SEQUENTIAL: usize = 10;
const N: usize = 40;
const C: usize = 4;
const BASELINE_ROUNDS: usize = 5;

/// A 10 s 360p clip.
fn clip() -> PathBuf {
    fiapx_frames::test_support::testsrc_h264("640x360", 30, "10", "veryfast")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

type Phase = (Histogram<u64>, Vec<String>, Duration);

/// Uploads `n` copies of `body` with `c` in flight; per video, the time from the upload's start to `completed`
/// in the read model.
async fn phase(
    client: &Arc<TestClient<poem::endpoint::BoxEndpoint<'static>>>,
    body: &[u8],
    n: usize,
    c: usize,
) -> anyhow::Result<Phase> {
    let owner = Uuid::now_v7();
    let gate = Arc::new(tokio::sync::Semaphore::new(c));
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, gate, body) = (Arc::clone(client), Arc::clone(&gate), body.to_vec());
            tokio::spawn(async move {
                let _slot = gate.acquire_owned().await.expect("semaphore");
                let t0 = Instant::now();
                let response = client
                    .post("/api/v1/videos")
                    .header("authorization", bearer(owner))
                    .header("X-Fiapx-Filename", format!("bench-{i}.mp4"))
                    .content_type("video/mp4")
                    .body(body)
                    .send()
                    .await;
                if response.0.status() != 202 {
                    return None;
                }
                let json: Value = response.json().await.value().deserialize();
                let id = json["id"].as_str()?.to_owned();
                let deadline = t0 + Duration::from_secs(600);
                while Instant::now() < deadline {
                    let view = client
                        .get(format!("/api/v1/videos/{id}"))
                        .header("authorization", bearer(owner))
                        .send()
                        .await;
                    if view.0.status() == 200 {
                        let json: Value = view.json().await.value().deserialize();
                        match json["status"].as_str() {
                            Some("completed") => return Some((id, t0.elapsed())),
                            Some("failed") => return None,
                            _ => {}
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                None
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3)?;
    let mut completed = Vec::new();
    for task in tasks {
        if let Some((id, elapsed)) = task.await? {
            latency.record(elapsed.as_micros() as u64)?;
            completed.push(id);
        }
    }
    Ok((latency, completed, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The tests' stack (its own nats-server, database and bucket, the test keys, 2 processor slots), without the
    // in-flight limit.
    let stack = Stack::new().await;
    let settings = stack.settings_with_in_flight(0);
    let shutdown = CancellationToken::new();
    let Started { workers, app } = start(Which::All, &settings, &shutdown).await?;
    let client = Arc::new(TestClient::new(app.expect("HTTP app")));
    let path = clip();
    let body = std::fs::read(&path)?;

    // Baseline: the extraction alone, same clip, same engine, same default spec.
    let extractor = Extractor::new(Limits::default());
    let spec = fiapx_domain::ExtractionSpec::default();
    let mut baseline = Histogram::<u64>::new(3)?;
    for _ in 0..BASELINE_ROUNDS {
        let started = Instant::now();
        extractor
            .extract_path(&path, &spec, tokio::io::sink(), |_| {})
            .await?;
        baseline.record(started.elapsed().as_micros() as u64)?;
    }

    // Phase 1, one upload at a time: the pipeline's own overhead, no queueing behind other jobs.
    let (seq_latency, seq_completed, _) = phase(&client, &body, SEQUENTIAL, 1).await?;
    // Phase 2, N uploads at concurrency C: throughput, tail latency, lost and duplicated.
    let (latency, mut completed, wall) = phase(&client, &body, N, C).await?;
    completed.extend(seq_completed);

    // Duplicates: more than one `completed` event for a video.
    let store =
        fiapx_nats::JetStreamEventStore::new(settings.nats.connect("fiapx-bench").await?, &settings.nats);
    let mut duplicated = 0;
    for id in &completed {
        let loaded = store.load(id.parse()?).await?;
        let completions = loaded
            .events
            .iter()
            .filter(|e| e.event.event_type() == "completed")
            .count();
        if completions != 1 {
            duplicated += 1;
        }
    }
    shutdown.cancel();
    drop(workers);

    let lost = N + SEQUENTIAL - completed.len();
    println!("FIAP X pipeline benchmark: uploads of a 10 s 640x360 H.264 clip, default spec (fps=1 PNG)");
    println!(
        "(every part in one process, 2 jobs at once; nats-server, PostgreSQL and SeaweedFS on this machine)"
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| extraction alone p50 (ms), baseline | {:.0} |",
        ms(&baseline, 0.5)
    );
    println!(
        "| {SEQUENTIAL} one at a time: upload -> completed p50 (ms) | {:.0} |",
        ms(&seq_latency, 0.5)
    );
    println!(
        "| pipeline overhead at p50 (ms) = one-at-a-time p50 - extraction p50 | {:.0} |",
        ms(&seq_latency, 0.5) - ms(&baseline, 0.5)
    );
    println!(
        "| one-at-a-time p50 / extraction p50 | {:.2} |",
        ms(&seq_latency, 0.5) / ms(&baseline, 0.5)
    );
    println!(
        "| {N} at concurrency {C}: throughput (videos/s) | {:.2} |",
        latency.len() as f64 / wall.as_secs_f64()
    );
    for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
        println!(
            "| {N} at concurrency {C}: upload -> completed {label} (ms) | {:.0} |",
            ms(&latency, q)
        );
    }
    println!("| lost (of {}) | {lost} |", N + SEQUENTIAL);
    println!("| duplicated | {duplicated} |");
    println!();
    println!("At concurrency {C} with 2 jobs at once, latency includes waiting for a free processor slot.");
    Ok(())
}
