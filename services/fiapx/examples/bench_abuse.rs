//! Memory probes of issue 13: `make bench-abuse` (part of `make bench`).
//!
//! Runs every part of FIAP X in this process (as `fiapx serve all` does, on a real loopback listener through
//! [`fiapx::http_server`]) against real servers: its own nats-server, a fresh PostgreSQL database and S3 bucket
//! on the local stack. Then sends, one at a time, the two hostile bodies that once grew the server by gigabytes:
//! - a 1 GiB JSON body, chunked (no `Content-Length`), to the unauthenticated `POST /api/v1/auth/login`;
//! - a 1 GiB `multipart/form-data` body that never contains its boundary, to `POST /api/v1/videos`.
//!
//! Each is measured as the growth of this process's peak RSS (VmHWM reset before each request) and the time to
//! the answer. The client produces its body lazily from one reused 1 MiB buffer, so the growth is an upper bound
//! for the server alone. The baseline, measured in the same run, is a valid request of the same route: a login
//! with a small JSON body, and a 64 MiB raw upload that is stored in S3. The target is less than 64 MB of growth
//! per probe.
//!
//! ```text
//! set -a; . .state/env; set +a
//! cargo run --release -p fiapx --example bench_abuse
//! FIAPX_BENCH_ABUSE_MIB=256 cargo run --release -p fiapx --example bench_abuse
//! ```

use std::time::Instant;

use bytes::Bytes;
use fiapx::{Started, Which, start};
use fiapx_domain::testing::{process_memory, reset_peak_memory};
use fiapx_http::test_support::lazy_body;
use fiapx_identity::test_support::bearer;
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[path = "../tests/common/mod.rs"]
mod common;
use common::Stack;

const MIB: u64 = 1024 * 1024;
const TARGET_MB: f64 = 64.0;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// One measured request.
struct Probe {
    status: String,
    secs: f64,
    growth: u64,
}

async fn measure(request: reqwest::RequestBuilder) -> Probe {
    let (before, _) = process_memory();
    reset_peak_memory();
    let started = Instant::now();
    // The server may answer and close before the whole body is sent: that is an error for the client, and the
    // answer the probe wants.
    let status = match request.send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{} {code}", status.as_u16())
        }
        Err(error) => format!("connection closed by the server ({error})"),
    };
    let secs = started.elapsed().as_secs_f64();
    let (_, peak) = process_memory();
    Probe {
        status,
        secs,
        growth: peak.saturating_sub(before),
    }
}

fn report(name: &str, probe: &Probe, baseline_name: &str, baseline: &Probe) {
    println!(
        "{name}: {} after {:.2} s, RSS growth {:.1} MB (target < {TARGET_MB:.0} MB): {}",
        probe.status,
        probe.secs,
        mb(probe.growth),
        if mb(probe.growth) < TARGET_MB {
            "OK"
        } else {
            "OVER TARGET"
        }
    );
    println!(
        "  baseline {baseline_name}: {} after {:.2} s, RSS growth {:.1} MB; probe/baseline growth = {:.2}",
        baseline.status,
        baseline.secs,
        mb(baseline.growth),
        probe.growth as f64 / baseline.growth.max(1) as f64
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = fiapx_domain::testing::bench_bytes("FIAPX_BENCH_ABUSE_MIB", 1024);
    // The tests' stack: its own nats-server, database and bucket, the test keys.
    let stack = Stack::new().await;
    let settings = stack.settings();
    let shutdown = CancellationToken::new();
    let Started { workers, app } = start(Which::All, &settings, &shutdown).await?;
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no socket address"))?;
    let server = fiapx::http_server(acceptor, &settings.http);
    let app = app.ok_or_else(|| anyhow::anyhow!("serve all has HTTP"))?;
    tokio::spawn(server.run_with_graceful_shutdown(app, shutdown.clone().cancelled_owned(), None));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let owner = bearer(Uuid::now_v7());
    let login = || {
        http.post(format!("{base}/api/v1/auth/login"))
            .header("content-type", "application/json")
    };
    let upload = |content_type: &str| {
        http.post(format!("{base}/api/v1/videos"))
            .header("authorization", &owner)
            .header("content-type", content_type)
            .header("X-Fiapx-Filename", "probe.mp4")
    };
    let mp4 = fiapx_frames::test_support::testsrc_h264("320x240", 25, "2", "ultrafast");
    let mp4 = Bytes::from(std::fs::read(mp4)?);

    // Warm-up: connection pool, allocator arenas, the first S3 multipart upload, argon2's first hash.
    measure(login().body(r#"{"email":"warm@example.com","password":"warm up"}"#)).await;
    measure(upload("video/mp4").body(reqwest::Body::wrap_stream(lazy_body(mp4.clone(), 0, 8 * MIB)))).await;

    let valid_login =
        measure(login().body(r#"{"email":"nobody@example.com","password":"correct horse battery"}"#)).await;
    let json_probe = measure(login().body(reqwest::Body::wrap_stream(lazy_body(
        Bytes::from_static(br#"{"email":"a@example.com","password":""#),
        b'a',
        total,
    ))))
    .await;
    let valid_upload =
        measure(upload("video/mp4").body(reqwest::Body::wrap_stream(lazy_body(mp4.clone(), 0, 64 * MIB))))
            .await;
    let multipart_probe = measure(
        upload("multipart/form-data; boundary=fiapx-probe-boundary")
            .body(reqwest::Body::wrap_stream(lazy_body(Bytes::new(), b'x', total))),
    )
    .await;

    println!(
        "memory probes, {:.0} MB bodies, one at a time, in-process server on {addr}",
        mb(total)
    );
    report(
        "1 GiB chunked JSON to POST /api/v1/auth/login",
        &json_probe,
        "a valid login (small JSON)",
        &valid_login,
    );
    report(
        "1 GiB boundary-less multipart to POST /api/v1/videos",
        &multipart_probe,
        "a valid 64 MiB raw upload (stored in S3)",
        &valid_upload,
    );
    shutdown.cancel();
    drop(workers);
    Ok(())
}
