//! Upload benchmark: streams a generated 2 GiB video body through the upload API (real HTTP on a free port, real
//! S3 from the stack, a private nats-server) and reports the process's RSS growth against the 64 MB target.
//!
//! The body is a real MP4 made by the ffmpeg CLI followed by zero padding up to the size, generated chunk by chunk
//! while sending (the same 1 MiB buffer is re-sent), so the client holds nothing: the content gate sees a genuine
//! `ftyp` box and the padding is just trailing bytes (the processor would probe the MP4 and ignore them).
//! The client runs in the same process, so the growth measured is an upper bound for the service alone.
//!
//! ```text
//! set -a; . .state/env; set +a
//! cargo run --release -p fiapx-upload --example bench_upload            # 2 GiB
//! FIAPX_BENCH_UPLOAD_MIB=256 cargo run --release -p fiapx-upload --example bench_upload
//! ```
//! Baseline in the same run: the same stream written straight to S3 with `Storage::put_stream` (no HTTP, no
//! event), whose throughput the API's is compared with.

use std::time::Instant;

use bytes::Bytes;
use fiapx_domain::testing::{process_memory, reset_peak_memory};
use fiapx_http::json_error;
use fiapx_http::test_support::{lazy_body, with_test_auth};
use fiapx_identity::test_support::bearer;
use fiapx_nats::test_support::TestNats;
use fiapx_storage::PutOptions;
use fiapx_storage::test_support::TestBucket;
use fiapx_upload::{UploadApi, UploadSettings};
use futures::stream::StreamExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Route, Server};
use poem_openapi::OpenApiService;
use tokio_util::io::StreamReader;

const MIB: u64 = 1024 * 1024;
const TARGET_MB: f64 = 64.0;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn small_mp4() -> Vec<u8> {
    let path = fiapx_frames::test_support::testsrc_h264("320x240", 25, "2", "ultrafast");
    std::fs::read(path).expect("read mp4")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = fiapx_domain::testing::bench_bytes("FIAPX_BENCH_UPLOAD_MIB", 2048);
    let baseline_total = total.min(512 * MIB);
    let mp4 = Bytes::from(small_mp4());

    let nats = TestNats::start().await;
    let handler = nats.handler(nats.settings.max_append_retries);
    let bucket = TestBucket::create().await;
    let settings = UploadSettings {
        max_upload_bytes: total + MIB,
        ..UploadSettings::default()
    };
    let options = PutOptions {
        part_size: settings.part_size_bytes,
        parts_in_flight: settings.parts_in_flight,
    };
    let api = UploadApi::new(handler, bucket.storage().clone(), settings, &nats.settings).await?;
    let route = with_test_auth(
        Route::new()
            .nest("/", OpenApiService::new(api, "fiapx", "bench"))
            .catch_all_error(json_error),
    );
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no socket address"))?;
    tokio::spawn(Server::new_with_acceptor(acceptor).run(route));
    let url = format!("http://{addr}/api/v1/videos");
    let http = reqwest::Client::new();
    let owner = bearer(uuid::Uuid::now_v7());
    let upload = |size: u64| {
        http.post(&url)
            .header("authorization", &owner)
            .header("content-type", "video/mp4")
            .header("X-Fiapx-Filename", "bench.mp4")
            .body(reqwest::Body::wrap_stream(lazy_body(mp4.clone(), 0, size)))
            .send()
    };

    // Warm-up: connection pools, allocator arenas, the first multipart upload.
    let warm = upload(32 * MIB).await?;
    anyhow::ensure!(warm.status() == 202, "warm-up upload failed: {}", warm.status());

    // Baseline: the same stream straight into S3.
    let started = Instant::now();
    let mut reader = StreamReader::new(lazy_body(mp4.clone(), 0, baseline_total).boxed());
    bucket
        .storage()
        .put_stream("bench/baseline", "video/mp4", &mut reader, options)
        .await?;
    let baseline_secs = started.elapsed().as_secs_f64();
    bucket.storage().delete("bench/baseline").await?;

    let (rss_before, _) = process_memory();
    reset_peak_memory();
    let started = Instant::now();
    let response = upload(total).await?;
    let secs = started.elapsed().as_secs_f64();
    let (rss_after, peak) = process_memory();
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status == 202, "upload failed: {status} {body}");

    let growth = peak.saturating_sub(rss_before);
    let api_mbps = mb(total) / secs;
    let baseline_mbps = mb(baseline_total) / baseline_secs;
    println!(
        "upload of {:.0} MB through POST /api/v1/videos: {secs:.1} s, {api_mbps:.0} MB/s",
        mb(total)
    );
    println!(
        "baseline (Storage::put_stream of {:.0} MB, no HTTP): {baseline_mbps:.0} MB/s; API/baseline throughput = {:.2}",
        mb(baseline_total),
        api_mbps / baseline_mbps
    );
    println!(
        "RSS before {:.1} MB, peak during upload {:.1} MB, after {:.1} MB",
        mb(rss_before),
        mb(peak),
        mb(rss_after)
    );
    println!(
        "upload RSS growth: {:.1} MB (target < {TARGET_MB:.0} MB for 2 GB): {}",
        mb(growth),
        if mb(growth) < TARGET_MB {
            "OK"
        } else {
            "OVER TARGET"
        }
    );
    drop(bucket);
    Ok(())
}
