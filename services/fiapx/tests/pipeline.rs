//! The whole pipeline in one process against real servers: upload over HTTP -> `uploaded` event -> processor ->
//! archive in S3 -> projector -> query API -> presigned download. A per-test nats-server, a per-test PostgreSQL
//! database and a per-test S3 bucket.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use fiapx::{Started, Which, start};
use fiapx_http::test_support::{location, strings};
use fiapx_identity::test_support::bearer;
use poem::test::TestClient;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod common;
use common::{Stack, Workers, clip};

struct App {
    client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    workers: Workers,
    _stack: Stack,
}

async fn spawn_app() -> App {
    let stack = Stack::new().await;
    // 30 concurrent uploads of 3 owners stay under the in-flight limit.
    let settings = stack.settings_with_in_flight(100);
    let shutdown = CancellationToken::new();
    let Started { workers, app } = start(Which::All, &settings, &shutdown).await.expect("app starts");
    App {
        client: TestClient::new(app.expect("serve all has HTTP")),
        workers: Workers::join(shutdown, workers),
        _stack: stack,
    }
}

impl App {
    async fn stop(self) {
        self.workers.stop().await;
    }

    async fn upload(&self, owner: Uuid, name: &str, body: Vec<u8>) -> Uuid {
        self.upload_with(owner, name, "", body).await
    }

    /// An upload with the extraction spec in the query string (`query` starts with `?`, or is empty).
    async fn upload_with(&self, owner: Uuid, name: &str, query: &str, body: Vec<u8>) -> Uuid {
        let response = self
            .post(
                owner,
                &format!("/api/v1/videos{query}"),
                "application/octet-stream",
                body,
            )
            .header("X-Fiapx-Filename", name)
            .send()
            .await;
        response.assert_status(poem::http::StatusCode::ACCEPTED);
        let location = location(&response.0);
        let json: Value = response.json().await.value().deserialize();
        let id: Uuid = json["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(location, format!("/api/v1/videos/{id}"));
        id
    }

    /// `POST path` by `owner` with `body` of `content_type`, to send (more headers may follow).
    fn post(
        &self,
        owner: Uuid,
        path: &str,
        content_type: &str,
        body: impl Into<poem::Body>,
    ) -> poem::test::TestRequestBuilder<'_, poem::endpoint::BoxEndpoint<'static>> {
        self.client
            .post(path)
            .header("authorization", bearer(owner))
            .content_type(content_type)
            .body(body)
    }

    /// `GET /api/v1/videos/{id}/download` by `owner`.
    async fn download(&self, owner: Uuid, id: Uuid) -> poem::test::TestResponse {
        self.client
            .get(format!("/api/v1/videos/{id}/download"))
            .header("authorization", bearer(owner))
            .send()
            .await
    }

    async fn get(&self, owner: Uuid, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(path)
            .header("authorization", bearer(owner))
            .send()
            .await;
        let status = response.0.status().as_u16();
        let body = response.0.into_body().into_bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Polls the read model (bounded) until the video is completed or failed there. The list answers from the read
    /// model only (`GET /videos/{id}` folds the log while the row is missing, so it can say `completed` before the
    /// timeline has a row); once listed as finished, the row and its timeline are written (one transaction).
    async fn finished(&self, owner: Uuid, id: Uuid) -> Value {
        for _ in 0..900 {
            for status in ["completed", "failed"] {
                let (code, page) = self
                    .get(owner, &format!("/api/v1/videos?status={status}&limit=100"))
                    .await;
                let listed = page["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|item| item["id"] == id.to_string()));
                if code == 200 && listed {
                    return self.get(owner, &format!("/api/v1/videos/{id}")).await.1;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "video {id} did not finish: {:?}",
            self.get(owner, &format!("/api/v1/videos/{id}")).await
        );
    }
}

async fn zip_entries(bytes: Vec<u8>) -> Vec<String> {
    let reader = async_zip::base::read::mem::ZipFileReader::new(bytes)
        .await
        .expect("a valid ZIP");
    reader
        .file()
        .entries()
        .iter()
        .map(|e| e.filename().as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_uploaded_video_comes_back_as_a_zip_of_its_frames() {
    let app = spawn_app().await;
    let owner = Uuid::now_v7();
    let id = app
        .upload(owner, "praia.mp4", clip("a_5_3s.mp4", "5.3", "320x240"))
        .await;
    let video = app.finished(owner, id).await;
    assert_eq!(video["status"], "completed", "{video}");
    assert_eq!(video["frame_count"], 5, "5.3 s at fps=1");
    assert_eq!(video["file_name"], "praia.mp4");

    let (status, timeline) = app.get(owner, &format!("/api/v1/videos/{id}/timeline")).await;
    assert_eq!(status, 200);
    let types = strings(&timeline["entries"], "event_type");
    assert_eq!(types, ["uploaded", "processing_started", "completed"]);

    let download = app.download(owner, id).await;
    download.assert_status(poem::http::StatusCode::FOUND);
    let url = location(&download.0);
    let zip = reqwest::get(&url).await.unwrap();
    assert!(zip.status().is_success(), "presigned URL works: {}", zip.status());
    let entries = zip_entries(zip.bytes().await.unwrap().to_vec()).await;
    assert_eq!(
        entries.iter().filter(|n| n.ends_with(".png")).count(),
        5,
        "{entries:?}"
    );
    assert!(entries.contains(&"manifest.json".to_owned()));

    // One frame without the ZIP: listed, then served as an image of its own.
    let (status, frames) = app.get(owner, &format!("/api/v1/videos/{id}/frames")).await;
    assert_eq!(status, 200, "{frames}");
    assert_eq!(frames["frame_count"], 5, "{frames}");
    assert_eq!(strings(&frames["items"], "file_name")[0], "frame_0001.png");
    let poster = app
        .client
        .get(format!("/api/v1/videos/{id}/frames/0"))
        .header("authorization", bearer(owner))
        .send()
        .await;
    poster.assert_status(poem::http::StatusCode::FOUND);
    let image = reqwest::get(&location(&poster.0)).await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    let image = image.bytes().await.unwrap();
    assert!(image.starts_with(b"\x89PNG"), "a PNG");
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&image)),
        frames["items"][0]["sha256"].as_str().unwrap()
    );

    // Someone else sees nothing of it.
    let stranger = Uuid::now_v7();
    assert_eq!(app.get(stranger, &format!("/api/v1/videos/{id}")).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_videos_spec_can_be_sent_back_as_it_is_to_process_it_again() {
    let app = spawn_app().await;
    let owner = Uuid::now_v7();
    let body = clip("c_3s.mp4", "3", "320x240");

    // A count the processors cannot hold (processor.limits.max_frames, 50000 by default) is refused at once.
    let refused = app
        .post(
            owner,
            "/api/v1/videos?count=60000",
            "application/octet-stream",
            body.clone(),
        )
        .send()
        .await;
    refused.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let error: Value = refused.json().await.value().deserialize();
    assert_eq!(error["code"], "invalid_spec", "{error}");

    let query = "?count=3&format=jpeg&quality=70&max_width=160";
    let id = app.upload_with(owner, "clip.mp4", query, body).await;
    let video = app.finished(owner, id).await;
    assert_eq!(video["status"], "completed", "{video}");
    assert_eq!(video["frame_count"], 3);
    let spec = video["spec"].clone();
    assert_eq!(
        spec,
        serde_json::json!({"count": 3, "format": "jpeg", "quality": 70, "max_width": 160}),
        "the spec in the shape it was given"
    );

    let video = reprocess_until_completed(&app, owner, id, spec.to_string()).await;
    assert_eq!(
        (&video["job"], &video["status"]),
        (&1.into(), &"completed".into()),
        "{video}"
    );
    assert_eq!(video["spec"], spec, "the same spec ran again");
    assert_eq!(video["frame_count"], 3);
    app.stop().await;
}

/// Asks for video `id` (processed once) to be processed again with `spec` (JSON), and waits up to a minute for
/// its second job to complete; returns the video as last read.
async fn reprocess_until_completed(app: &App, owner: Uuid, id: Uuid, spec: String) -> Value {
    let again = app
        .post(
            owner,
            &format!("/api/v1/videos/{id}/reprocess"),
            "application/json",
            spec,
        )
        .send()
        .await;
    again.assert_status(poem::http::StatusCode::ACCEPTED);
    let mut video = Value::Null;
    for _ in 0..600 {
        video = app.get(owner, &format!("/api/v1/videos/{id}")).await.1;
        if video["job"] == 1 && video["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    video
}

/// The selection modes beyond rates and counts run end to end: frames at positions, keyframes, and a position
/// past the end, which fails for good with its own code.
#[tokio::test]
async fn positions_keyframes_and_a_position_past_the_end() {
    let app = spawn_app().await;
    let owner = Uuid::now_v7();
    let body = clip("c_3s.mp4", "3", "320x240");

    let id = app
        .upload_with(owner, "clip.mp4", "?at=last,%2050%25,0:01.5,first", body.clone())
        .await;
    let video = app.finished(owner, id).await;
    assert_eq!(video["status"], "completed", "{video}");
    assert_eq!(video["frame_count"], 4);
    assert_eq!(
        video["spec"],
        serde_json::json!({"at": "last,50%,00:00:01.500,first", "format": "png"}),
        "positions come back in one written form, in the order given"
    );
    let (_, frames) = app.get(owner, &format!("/api/v1/videos/{id}/frames")).await;
    let pts: Vec<f64> = frames["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pts"].as_f64().unwrap())
        .collect();
    assert!(
        pts.windows(2).all(|w| w[0] <= w[1]) && pts[0] == 0.0,
        "in time order: {pts:?}"
    );

    let video = reprocess_until_completed(&app, owner, id, r#"{"keyframes": true}"#.to_owned()).await;
    assert_eq!(video["status"], "completed", "{video}");
    assert_eq!(
        video["spec"],
        serde_json::json!({"keyframes": true, "format": "png"})
    );
    assert!(video["frame_count"].as_u64().unwrap() >= 1, "{video}");

    let past = app.upload_with(owner, "clip.mp4", "?at=1,00:00:09", body).await;
    let video = app.finished(owner, past).await;
    assert_eq!(video["status"], "failed", "{video}");
    assert_eq!(video["failure"]["code"], "position_past_end", "{video}");
    assert_eq!(video["failure"]["will_retry"], false, "{video}");
    app.stop().await;
}

/// A storyboard asked for with the frames: a WebVTT index served by the API, whose cues name sheets the API
/// redirects to, each a JPEG grid of tiles; a video without one answers 404.
#[tokio::test]
async fn a_storyboard_is_served_next_to_the_frames() {
    let app = spawn_app().await;
    let owner = Uuid::now_v7();
    let body = clip("c_3s.mp4", "3", "320x240");
    let query = "?count=2&storyboard=1&storyboard_width=80&storyboard_columns=2&storyboard_rows=1";
    let id = app.upload_with(owner, "clip.mp4", query, body.clone()).await;
    let video = app.finished(owner, id).await;
    assert_eq!(video["status"], "completed", "{video}");
    assert_eq!(
        video["spec"],
        serde_json::json!({"count": 2, "format": "png", "storyboard": "1", "storyboard_width": 80,
            "storyboard_columns": 2, "storyboard_rows": 1})
    );
    let vtt = app
        .client
        .get(format!("/api/v1/videos/{id}/storyboard.vtt"))
        .header("authorization", bearer(owner))
        .send()
        .await;
    vtt.assert_status_is_ok();
    vtt.assert_header("content-type", "text/vtt; charset=utf-8");
    let vtt = vtt.0.into_body().into_string().await.unwrap();
    assert_eq!(
        vtt,
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard/0.jpg#xywh=0,0,80,60\n\
         \n00:00:01.000 --> 00:00:02.000\nstoryboard/0.jpg#xywh=80,0,80,60\n\
         \n00:00:02.000 --> 00:00:03.000\nstoryboard/1.jpg#xywh=0,0,80,60\n"
    );
    for (sheet, width) in [("0.jpg", 160), ("1.jpg", 160)] {
        let found = app
            .client
            .get(format!("/api/v1/videos/{id}/storyboard/{sheet}"))
            .header("authorization", bearer(owner))
            .send()
            .await;
        found.assert_status(poem::http::StatusCode::FOUND);
        let image = reqwest::get(&location(&found.0)).await.unwrap();
        assert_eq!(image.headers()["content-type"], "image/jpeg");
        let image = image::load_from_memory(&image.bytes().await.unwrap()).unwrap();
        assert_eq!((image.width(), image.height()), (width, 60), "{sheet}");
    }
    let missing = app
        .client
        .get(format!("/api/v1/videos/{id}/storyboard/2.jpg"))
        .header("authorization", bearer(owner))
        .send()
        .await;
    missing.assert_status(poem::http::StatusCode::NOT_FOUND);
    // Someone else, and a video without a storyboard, get 404.
    let stranger = app
        .client
        .get(format!("/api/v1/videos/{id}/storyboard.vtt"))
        .header("authorization", bearer(Uuid::now_v7()))
        .send()
        .await;
    stranger.assert_status(poem::http::StatusCode::NOT_FOUND);
    let plain = app.upload_with(owner, "clip.mp4", "?count=1", body).await;
    assert_eq!(app.finished(owner, plain).await["status"], "completed");
    let none = app
        .client
        .get(format!("/api/v1/videos/{plain}/storyboard.vtt"))
        .header("authorization", bearer(owner))
        .send()
        .await;
    none.assert_status(poem::http::StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_corrupt_video_ends_failed_with_its_code() {
    let app = spawn_app().await;
    let owner = Uuid::now_v7();
    let mut bytes = clip("b_4s.mp4", "4", "320x240");
    for byte in bytes.iter_mut().skip(2048) {
        *byte = byte.wrapping_mul(13).wrapping_add(5);
    }
    let id = app.upload(owner, "broken.mp4", bytes).await;
    let video = app.finished(owner, id).await;
    assert_eq!(video["status"], "failed", "{video}");
    let code = video["failure"]["code"].as_str().unwrap().to_owned();
    assert!(
        ["corrupt_input", "unsupported_format", "truncated_input"].contains(&code.as_str()),
        "{video}"
    );
    let download = app.download(owner, id).await;
    download.assert_status(poem::http::StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn thirty_concurrent_uploads_from_several_owners_all_complete_and_stay_private() {
    let app = spawn_app().await;
    let owners: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let body = clip("c_2_2s.mp4", "2.2", "160x120");
    let uploads = (0..30).map(|i| {
        let owner = owners[i % owners.len()];
        let body = body.clone();
        let app = &app;
        async move { (owner, app.upload(owner, &format!("clip-{i}.mp4"), body).await) }
    });
    let uploaded: Vec<(Uuid, Uuid)> = futures::future::join_all(uploads).await;
    let mut mine: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (owner, id) in &uploaded {
        let video = app.finished(*owner, *id).await;
        assert_eq!(video["status"], "completed", "{video}");
        assert_eq!(video["frame_count"], 2);
        mine.entry(*owner).or_default().push(*id);
    }
    for owner in &owners {
        let (status, page) = app.get(*owner, "/api/v1/videos?limit=100").await;
        assert_eq!(status, 200);
        let mut listed: Vec<Uuid> = strings(&page["items"], "id")
            .into_iter()
            .map(|id| id.parse().unwrap())
            .collect();
        let mut expected = mine[owner].clone();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected, "each owner lists exactly their own videos");
    }
    app.stop().await;
}

#[tokio::test]
async fn framework_errors_have_the_api_error_shape() {
    let app = spawn_app().await;
    let response = app
        .client
        .get("/api/v1/videos/not-a-uuid")
        .header("authorization", bearer(Uuid::now_v7()))
        .send()
        .await;
    assert_eq!(response.0.status().as_u16(), 400);
    let body: Value = response.json().await.value().deserialize();
    assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
    let response = app.client.get("/api/v1/videos").send().await;
    assert_eq!(response.0.status().as_u16(), 401, "no token");
    let body: Value = response.json().await.value().deserialize();
    assert_eq!(body["code"], "unauthorized");
    app.stop().await;
}

/// The committed `schemas/openapi.json` is the document the code serves. Bless with `FIAPX_BLESS=1`.
#[tokio::test]
async fn the_openapi_snapshot_matches_the_code() {
    let app = spawn_app().await;
    let response = app.client.get("/api/openapi.json").send().await;
    response.assert_status_is_ok();
    let served: Value = response.json().await.value().deserialize();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json");
    let rendered = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("FIAPX_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run `FIAPX_BLESS=1 cargo nextest run -p fiapx openapi`",
            path.display()
        )
    });
    assert_eq!(
        committed, rendered,
        "schemas/openapi.json drifted from the code: bless it with FIAPX_BLESS=1"
    );
    // Both sides of the API are in the one document.
    let paths = served["paths"].as_object().unwrap();
    // Every method of a path two APIs share is in the one document.
    for (path, methods) in [
        ("/api/v1/videos", ["get", "post"]),
        ("/api/v1/me", ["get", "delete"]),
    ] {
        for method in methods {
            assert!(paths[path].get(method).is_some(), "{method} {path} missing");
        }
    }
    app.stop().await;
}
