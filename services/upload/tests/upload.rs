//! The upload API against the real stack: a nats-server per test, a bucket per test on SeaweedFS.

mod support;

use fiapx_domain::{
    ArchiveObject, Command, Event, ExtractionSpec, ImageFormat, Rational, Selection, UserId, VideoId,
    VideoStatus,
};
use fiapx_http::test_support::{location, strings};
use fiapx_nats::Metadata;
use fiapx_storage::{PutOptions, archive_key, source_key};
use fiapx_upload::UploadSettings;
use futures::StreamExt as _;
use poem::Body;
use poem::http::StatusCode;
use poem::test::TestResponse;
use support::{
    App, MIB, Uploaded, bearer, header, held_body, min_rate_settings, owner, owner_header, post_upload,
    small_parts_settings, spawn_app, spawn_app_with, trickle,
};
use time::OffsetDateTime;
use uuid::Uuid;

async fn json(response: TestResponse) -> serde_json::Value {
    let bytes = response.0.into_body().into_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
}

async fn expect_error(response: TestResponse, status: StatusCode, code: &str) -> serde_json::Value {
    assert_eq!(response.0.status(), status);
    let body = json(response).await;
    assert_eq!(body["code"], code, "{body}");
    body
}

/// `POST /api/v1/videos` by `user`: `body` as `content_type`.
async fn post_video(app: &App, user: Uuid, content_type: &str, body: impl Into<Body>) -> TestResponse {
    app.client
        .post("/api/v1/videos")
        .header(owner_header(), bearer(user))
        .content_type(content_type)
        .body(body)
        .send()
        .await
}

async fn upload_raw(app: &App, owner: Uuid, body: Vec<u8>, query: &str) -> TestResponse {
    app.client
        .post(format!("/api/v1/videos{query}"))
        .header(owner_header(), bearer(owner))
        .header("X-Fiapx-Filename", "f%C3%A9rias.mp4")
        .content_type("application/octet-stream")
        .body(body)
        .send()
        .await
}

/// `POST /api/v1/videos` by `user` with an `Idempotency-Key`: `body` as `video/mp4`.
async fn post_video_keyed(
    app: &App,
    user: Uuid,
    key: &str,
    query: &str,
    body: impl Into<Body>,
) -> TestResponse {
    app.client
        .post(format!("/api/v1/videos{query}"))
        .header(owner_header(), bearer(user))
        .header("Idempotency-Key", key)
        .content_type("video/mp4")
        .body(body)
        .send()
        .await
}

/// `POST /api/v1/videos/{video}/reprocess` by `user`, with `body` as JSON when given.
async fn reprocess(app: &App, user: Uuid, video: Uuid, body: Option<&'static str>) -> TestResponse {
    let mut request = app
        .client
        .post(format!("/api/v1/videos/{video}/reprocess"))
        .header(owner_header(), bearer(user));
    if let Some(body) = body {
        request = request.content_type("application/json").body(body);
    }
    request.send().await
}

/// `DELETE /api/v1/videos/{video}` by `user`.
async fn delete_video(app: &App, user: Uuid, video: Uuid) -> TestResponse {
    app.client
        .delete(format!("/api/v1/videos/{video}"))
        .header(owner_header(), bearer(user))
        .send()
        .await
}

/// The id of an accepted upload, asserting the 202.
async fn accepted_id(response: TestResponse) -> Uuid {
    assert_eq!(response.0.status(), StatusCode::ACCEPTED);
    json(response).await["id"].as_str().unwrap().parse().unwrap()
}

/// A raw upload that must be accepted: its id, checked against `Location`.
async fn accepted(app: &App, owner: Uuid, body: Vec<u8>, query: &str) -> Uuid {
    let response = upload_raw(app, owner, body, query).await;
    let location = location(&response.0);
    let id = accepted_id(response).await;
    assert_eq!(location, format!("/api/v1/videos/{id}"));
    id
}

/// The spec and job of the video's last event, which must be `reprocess_requested`.
async fn last_reprocess(app: &App, id: Uuid) -> (ExtractionSpec, u32) {
    let events = app.events(id).await;
    let Some(Event::ReprocessRequested { spec, job, .. }) = events.last() else {
        panic!("{events:?}")
    };
    (spec.clone(), *job)
}

#[tokio::test]
async fn raw_upload_stores_the_exact_bytes_and_appends_uploaded() {
    let app = spawn_app().await;
    let user = owner();
    let video = app.mp4();
    let response = upload_raw(
        &app,
        user,
        video.clone(),
        "?fps=30000/1001&format=jpeg&quality=80&max_width=64",
    )
    .await;
    assert_eq!(response.0.status(), StatusCode::ACCEPTED);
    let body = json(response).await;
    assert_eq!(body["status"], "queued");
    assert_eq!(body["job"], 0);
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["links"]["self"], format!("/api/v1/videos/{id}"));

    let key = source_key(VideoId::from_uuid(id));
    assert_eq!(app.keys().await, vec![key.clone()]);
    assert!(app.bucket.storage().get_bytes(&key).await.unwrap() == video);

    let Uploaded {
        video_id,
        owner,
        source,
        spec,
    } = app.uploaded(id).await;
    assert_eq!(video_id, VideoId::from_uuid(id));
    assert_eq!(owner, UserId::from_uuid(user));
    assert_eq!(source.key, key);
    assert_eq!(source.size_bytes, video.len() as u64);
    assert_eq!(source.file_name, "férias.mp4");
    assert_eq!(source.content_type, "video/mp4");
    assert_eq!(
        spec,
        ExtractionSpec {
            selection: Selection::Fps {
                fps: Rational::new(30000, 1001)
            },
            format: ImageFormat::Jpeg { quality: 80 },
            max_width: Some(64),
            max_height: None,
            storyboard: None,
        }
    );
}

#[tokio::test]
async fn a_multipart_upload_streams_several_parts_with_the_default_spec() {
    // 5 MiB parts: a 12 MiB body goes through three multipart parts.
    let app = spawn_app_with(small_parts_settings()).await;
    let mut video = app.mp4();
    video.resize(12 * MIB + 3, 0x5A);
    let id = accepted(&app, owner(), video.clone(), "").await;
    let key = source_key(VideoId::from_uuid(id));
    assert!(app.bucket.storage().get_bytes(&key).await.unwrap() == video);
    let Uploaded { spec, source, .. } = app.uploaded(id).await;
    assert_eq!(spec, ExtractionSpec::default());
    assert_eq!(source.size_bytes, video.len() as u64);
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "fiapx-test-boundary-7d3c";
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: video/mp4\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\nContent-Type: application/json\r\n\r\n")
                    .as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn multipart_upload_with_a_spec_part() {
    let app = spawn_app().await;
    let user = owner();
    let video = app.mp4();
    let (content_type, body) = multipart(&[
        (
            "spec",
            None,
            br#"{"count": 5, "format": "webp", "max_height": 90}"#,
        ),
        ("file", Some("clip.mp4"), &video),
    ]);
    let id = accepted_id(post_video(&app, user, &content_type, body).await).await;
    let key = source_key(VideoId::from_uuid(id));
    assert!(app.bucket.storage().get_bytes(&key).await.unwrap() == video);
    let Uploaded { spec, source, .. } = app.uploaded(id).await;
    assert_eq!(spec.selection, Selection::Count { count: 5 });
    assert_eq!(spec.format, ImageFormat::Webp);
    assert_eq!(spec.max_height, Some(90));
    assert_eq!(source.file_name, "clip.mp4");

    // A bad spec part is refused before the file is stored.
    let (content_type, body) =
        multipart(&[("spec", None, br#"{"fsp": 2}"#), ("file", Some("a.mp4"), &video)]);
    let response = post_video(&app, user, &content_type, body).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_spec").await;
    // No file part at all.
    let (content_type, body) = multipart(&[("spec", None, b"{}")]);
    let response = post_video(&app, user, &content_type, body).await;
    expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(app.keys().await.len(), 1);
    assert_eq!(app.stream_messages().await, 1);
}

#[tokio::test]
async fn a_multipart_body_without_its_boundary_early_is_refused_without_reading_on() {
    let app = spawn_app().await;
    let user = owner();
    // 16 GiB that never hold the declared boundary, produced lazily: refused after the first few KiB.
    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let endless = futures::stream::repeat(chunk)
        .take(256 * 1024)
        .map(Ok::<_, std::io::Error>);
    let response = post_video(
        &app,
        user,
        "multipart/form-data; boundary=never-there",
        Body::from_bytes_stream(endless),
    )
    .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body["message"].as_str().unwrap().contains("boundary"), "{body}");
    // No boundary parameter at all.
    let response = post_video(&app, user, "multipart/form-data", Body::from(vec![b'x'; 10])).await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body["message"].as_str().unwrap().contains("boundary"), "{body}");
    // A preamble before the first boundary within the limit is fine.
    let (content_type, body) = multipart(&[("file", Some("a.mp4"), &app.mp4())]);
    let mut with_preamble = vec![b'p'; 4000];
    with_preamble.extend_from_slice(b"\r\n");
    with_preamble.extend_from_slice(&body);
    assert_eq!(
        post_video(&app, user, &content_type, with_preamble)
            .await
            .0
            .status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn over_the_limit_is_413_and_leaves_nothing_in_s3() {
    let app = spawn_app_with(UploadSettings {
        max_upload_bytes: 7 * MIB as u64,
        ..small_parts_settings()
    })
    .await;
    let mut video = app.mp4();
    video.resize(12 * MIB, 0);

    // Streamed without Content-Length: the limit trips after the multipart upload started.
    let response = post_video(
        &app,
        owner(),
        "video/mp4",
        Body::from_async_read(std::io::Cursor::new(video.clone())),
    )
    .await;
    let body = expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    assert!(body["message"].as_str().unwrap().contains(&(7 * MIB).to_string()));
    assert_eq!(app.keys().await, Vec::<String>::new());
    app.assert_no_pending_multipart().await;

    // With a Content-Length over the limit the body is not even read.
    let response = app
        .client
        .post("/api/v1/videos")
        .header(owner_header(), bearer(owner()))
        .header("content-length", video.len().to_string())
        .content_type("video/mp4")
        .body(video)
        .send()
        .await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn not_a_video_is_415_and_empty_is_400_and_nothing_is_stored() {
    let app = spawn_app().await;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(10_000, 1);
    let response = upload_raw(&app, owner(), png, "").await;
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let response = upload_raw(&app, owner(), Vec::new(), "").await;
    expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let response = post_video(
        &app,
        owner(),
        "application/octet-stream",
        Body::from_async_read(std::io::Cursor::new(Vec::new())),
    )
    .await;
    expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;

    let response = post_video(&app, owner(), "application/json", "{}").await;
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let response = upload_raw(&app, owner(), app.mp4(), "?fps=1&count=3").await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_spec").await;
    let response = upload_raw(&app, owner(), app.mp4(), "?fps=500").await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_spec").await;
    assert!(body["message"].as_str().unwrap().contains("240"), "{body}");

    let response = app
        .client
        .post("/api/v1/videos")
        .content_type("application/octet-stream")
        .body(app.mp4())
        .send()
        .await;
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;

    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_result_per_owner() {
    let app = spawn_app().await;
    let user = owner();
    let video = app.mp4();
    let send = |who: Uuid| post_video_keyed(&app, who, "retry-me-1", "?count=3", video.clone());
    let first = json(send(user).await).await;
    let second_response = send(user).await;
    assert_eq!(second_response.0.status(), StatusCode::ACCEPTED);
    let second = json(second_response).await;
    assert_eq!(first, second);
    assert_eq!(app.keys().await.len(), 1);
    assert_eq!(app.stream_messages().await, 1);

    // The same key from someone else is their own upload, never the first owner's video.
    let other = json(send(owner()).await).await;
    assert_ne!(other["id"], first["id"]);
    assert_eq!(app.keys().await.len(), 2);
    assert_eq!(app.stream_messages().await, 2);

    // A failed attempt does not hold the key: the retry runs.
    let response = post_video_keyed(&app, user, "retry-me-2", "", b"not a video at all".to_vec()).await;
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let response = post_video_keyed(&app, user, "retry-me-2", "", video.clone()).await;
    assert_eq!(response.0.status(), StatusCode::ACCEPTED);
    assert_eq!(app.stream_messages().await, 3);
}

async fn complete(app: &App, id: Uuid, job: u32) {
    let video = VideoId::from_uuid(id);
    let at = OffsetDateTime::now_utc();
    let key = archive_key(video, job);
    app.bucket
        .storage()
        .put_stream(&key, "application/zip", &mut &b"PK"[..], PutOptions::default())
        .await
        .unwrap();
    for command in [
        Command::StartProcessing { job, attempt: 1, at },
        Command::CompleteProcessing {
            job,
            attempt: 1,
            archive: ArchiveObject {
                key,
                size_bytes: 2,
                sha256: "00".repeat(32),
                frame_count: 2,
            },
            at,
        },
    ] {
        app.handler
            .handle(video, command, Metadata::new_request())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn reprocess_flow_and_its_rejections() {
    let app = spawn_app().await;
    let user = owner();
    let id = accepted(&app, user, app.mp4(), "?count=4").await;

    // Still queued: not allowed yet.
    let body = expect_error(
        reprocess(&app, user, id, None).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("queued"), "{body}");

    complete(&app, id, 0).await;
    expect_error(
        reprocess(&app, owner(), id, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        reprocess(&app, user, Uuid::now_v7(), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        reprocess(&app, user, id, Some(r#"{"fps": "0"}"#)).await,
        StatusCode::BAD_REQUEST,
        "invalid_spec",
    )
    .await;
    expect_error(
        reprocess(&app, user, id, Some("not json")).await,
        StatusCode::BAD_REQUEST,
        "invalid_spec",
    )
    .await;

    let response = reprocess(&app, user, id, Some(r#"{"every": "2", "format": "jpeg"}"#)).await;
    assert_eq!(response.0.status(), StatusCode::ACCEPTED);
    assert_eq!(location(&response.0), format!("/api/v1/videos/{id}"));
    let body = json(response).await;
    assert_eq!(body["job"], 1);
    assert_eq!(body["status"], "queued");
    let (spec, job) = last_reprocess(&app, id).await;
    assert_eq!(job, 1);
    assert_eq!(
        spec.selection,
        Selection::Every {
            seconds: Rational::new(2, 1)
        }
    );
    assert_eq!(spec.format, ImageFormat::Jpeg { quality: 85 });

    // Without a body the current spec is kept.
    complete(&app, id, 1).await;
    let response = reprocess(&app, user, id, None).await;
    assert_eq!(response.0.status(), StatusCode::ACCEPTED);
    let (spec, job) = last_reprocess(&app, id).await;
    assert_eq!(job, 2);
    assert_eq!(
        spec.selection,
        Selection::Every {
            seconds: Rational::new(2, 1)
        }
    );
}

#[tokio::test]
async fn delete_removes_source_and_archives_and_appends_deleted() {
    let app = spawn_app().await;
    let user = owner();
    let id = accepted(&app, user, app.mp4(), "").await;
    complete(&app, id, 0).await;
    let other_id = accepted(&app, user, app.mp4(), "").await;
    assert_eq!(app.keys().await.len(), 3);

    // Someone else's video is not found, and nothing moves.
    expect_error(
        delete_video(&app, owner(), id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        delete_video(&app, user, Uuid::now_v7()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.keys().await.len(), 3);

    let response = delete_video(&app, user, id).await;
    assert_eq!(response.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.keys().await, vec![source_key(VideoId::from_uuid(other_id))]);
    let events = app.events(id).await;
    assert!(matches!(events.last(), Some(Event::Deleted { .. })), "{events:?}");
    let state = fiapx_domain::Video::from_events(&events);
    assert_eq!(state.status, VideoStatus::Deleted);

    // Deleted videos are gone for every command.
    expect_error(
        delete_video(&app, user, id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let response = reprocess(&app, user, id, None).await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn an_event_store_outage_is_503_and_the_source_is_removed() {
    let mut app = spawn_app().await;
    let video = app.mp4();
    app.nats.server.kill();
    let response = upload_raw(&app, owner(), video, "").await;
    assert_eq!(header(&response, "retry-after"), Some("1".to_owned()));
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(app.keys().await, Vec::<String>::new());
}

#[tokio::test]
async fn the_openapi_document_describes_the_write_side() {
    let app = spawn_app().await;
    let spec: serde_json::Value =
        serde_json::from_str(&poem_openapi::OpenApiService::new(app.api.clone(), "fiapx", "test").spec())
            .unwrap();
    let upload = &spec["paths"]["/api/v1/videos"]["post"];
    let content = &upload["requestBody"]["content"];
    for media in ["application/octet-stream", "video/*", "multipart/form-data"] {
        assert!(content.get(media).is_some(), "{media} missing: {content}");
    }
    for status in ["202", "400", "401", "413", "415", "503"] {
        assert!(upload["responses"].get(status).is_some(), "{status} missing");
    }
    let params = strings(&upload["parameters"], "name");
    for name in [
        "X-Fiapx-Filename",
        "Idempotency-Key",
        "fps",
        "every",
        "count",
        "format",
        "quality",
    ] {
        assert!(params.contains(&name), "{name} missing: {params:?}");
    }
    assert!(spec["paths"]["/api/v1/videos/{id}/reprocess"]["post"].is_object());
    assert!(spec["paths"]["/api/v1/videos/{id}"]["delete"]["responses"]["204"].is_object());
    assert!(spec["components"]["securitySchemes"]["BearerToken"].is_object());
    assert!(spec["components"]["schemas"]["ExtractionSpec"].is_object());
}

#[tokio::test]
async fn a_retry_while_the_first_attempt_runs_is_409_then_replays() {
    let app = spawn_app().await;
    let user = owner();
    let video = app.mp4();
    // Capacity 1: the second send returns only once the service has taken the first chunk, i.e. after it claimed
    // the key.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(1);
    let body = Body::from_bytes_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let send = |body: Body| post_video_keyed(&app, user, "slow-one", "", body);
    let (half, rest) = video.split_at(video.len() / 2);
    let (half, rest) = (
        bytes::Bytes::copy_from_slice(half),
        bytes::Bytes::copy_from_slice(rest),
    );
    let retry = async {
        tx.send(Ok(half)).await.unwrap();
        tx.send(Ok(rest)).await.unwrap();
        let response = send(Body::from(video.clone())).await;
        drop(tx);
        response
    };
    let (first, retry) = tokio::join!(send(body), retry);
    expect_error(retry, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(first.0.status(), StatusCode::ACCEPTED);
    let first = json(first).await;
    let replay = json(send(Body::from(video.clone())).await).await;
    assert_eq!(first, replay);
    assert_eq!(app.keys().await.len(), 1);
    assert_eq!(app.stream_messages().await, 1);
}

#[tokio::test]
async fn a_count_the_processors_cannot_hold_is_refused_before_anything_is_stored() {
    let app = spawn_app_with(UploadSettings {
        engine_max_frames: 50_000,
        ..UploadSettings::default()
    })
    .await;
    let user = owner();
    let response = upload_raw(&app, user, app.mp4(), "?count=60000").await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_spec").await;
    assert!(body["message"].as_str().unwrap().contains("50000"), "{body}");
    assert!(app.bucket.keys().await.is_empty(), "nothing stored");

    let id = accepted(&app, user, app.mp4(), "?count=50000").await;
    complete(&app, id, 0).await;
    let response = reprocess(&app, user, id, Some(r#"{"count": 60000}"#)).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_spec").await;
    assert!(
        !matches!(
            app.events(id).await.last(),
            Some(Event::ReprocessRequested { .. })
        ),
        "no reprocess recorded"
    );
}

#[tokio::test]
async fn a_callback_url_is_checked_before_the_body_and_kept_until_the_video_is_deleted() {
    let app = spawn_app().await;
    let user = owner();
    let callbacks = fiapx_nats::VideoCallbacks::new(app.nats.jetstream(), &app.nats.settings);
    // Refused before a byte of the body is read: not https, an internal address, not a URL, too long.
    let too_long = format!("https%3A%2F%2Fhooks.example.com%2F{}", "a".repeat(2100));
    for (query, says) in [
        ("http%3A%2F%2Fhooks.example.com%2Fx", "https"),
        ("https%3A%2F%2F169.254.169.254%2Flatest", "public"),
        ("https%3A%2F%2F127.0.0.1%3A9%2Fx", "public"),
        ("nope", "not a valid URL"),
        (too_long.as_str(), "longer than 2048"),
    ] {
        let response = upload_raw(&app, user, app.mp4(), &format!("?callback_url={query}")).await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    app.assert_nothing_stored().await;

    let id = accepted(
        &app,
        user,
        app.mp4(),
        "?count=3&callback_url=https%3A%2F%2Fhooks.example.com%2Fdone%3Ft%3D1",
    )
    .await;
    assert_eq!(
        callbacks.get(id).await.unwrap().as_deref(),
        Some("https://hooks.example.com/done?t=1")
    );
    let plain = accepted(&app, user, app.mp4(), "").await;
    assert_eq!(callbacks.get(plain).await.unwrap(), None);

    // Deleting the video removes its callback URL with its objects.
    let response = delete_video(&app, user, id).await;
    assert_eq!(response.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(callbacks.get(id).await.unwrap(), None);
}

#[tokio::test]
async fn parallel_uploads_never_exceed_the_in_flight_limit_and_finished_videos_free_their_place() {
    // No PostgreSQL anywhere in this test: admission lives in NATS.
    let app = spawn_app_with(UploadSettings {
        max_videos_in_flight: 10,
        in_flight_retry_after_secs: 9,
        ..UploadSettings::default()
    })
    .await;
    let user = owner();
    let mp4 = app.mp4();
    let answers = futures::future::join_all((0..15).map(|_| upload_raw(&app, user, mp4.clone(), ""))).await;
    let mut accepted = Vec::new();
    let mut refused = 0;
    for response in answers {
        match response.0.status() {
            StatusCode::ACCEPTED => accepted.push(json(response).await["id"].as_str().unwrap().to_owned()),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(response.0.headers()["retry-after"].to_str().unwrap(), "9");
                expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (accepted.len(), refused),
        (10, 5),
        "exactly the limit is admitted"
    );
    // Refused uploads stored nothing: ten sources, ten `uploaded` events.
    assert_eq!(app.keys().await.len(), 10);
    assert_eq!(app.stream_messages().await, 10);

    // A resumable upload is counted too; someone else is not limited by this user's videos.
    assert_eq!(
        post_upload(&app, user, 1000, None).await.0.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        upload_raw(&app, owner(), mp4.clone(), "").await.0.status(),
        StatusCode::ACCEPTED
    );

    // A video that completes frees its place; a refused body (not a video) gives its place back at once.
    let first: Uuid = accepted[0].parse().unwrap();
    complete(&app, first, 0).await;
    let response = upload_raw(&app, user, b"not a video at all".to_vec(), "").await;
    assert_eq!(response.0.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let eleventh = accepted_id(upload_raw(&app, user, mp4.clone(), "").await).await;
    assert_eq!(
        upload_raw(&app, user, mp4.clone(), "").await.0.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Reprocessing takes a place: with all ten taken, the completed video cannot be reprocessed...
    assert_eq!(
        reprocess(&app, user, first, None).await.0.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...until a deletion frees one; then the reprocess holds it.
    let response = delete_video(&app, user, eleventh).await;
    assert_eq!(response.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        reprocess(&app, user, first, None).await.0.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        upload_raw(&app, user, mp4, "").await.0.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_body_under_the_minimum_rate_is_cut_with_408_and_gives_its_place_back() {
    let app = spawn_app_with(UploadSettings {
        max_videos_in_flight: 1,
        ..min_rate_settings()
    })
    .await;
    let user = owner();
    // A real video's first bytes, then 16 bytes every 100 ms (160 bytes/s) for up to 30 s.
    let started = std::time::Instant::now();
    let response = post_video(
        &app,
        user,
        "application/octet-stream",
        trickle(app.mp4().into(), vec![0; 16 * 300].into(), 16),
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "cut within a few windows, not at the end of the body: {:?}",
        started.elapsed()
    );
    let body = expect_error(response, StatusCode::REQUEST_TIMEOUT, "too_slow").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("minimum of 4096 bytes/s"),
        "{body}"
    );
    app.assert_nothing_stored().await;
    // Its place among the videos in flight (one here) was given back, and a body at speed is accepted.
    accepted(&app, user, app.mp4(), "").await;
}

#[tokio::test]
async fn upload_bodies_at_once_are_capped_per_user_and_a_finished_one_frees_its_place() {
    let app = spawn_app_with(UploadSettings {
        concurrent_per_user: 2,
        concurrent_retry_after_secs: 4,
        ..UploadSettings::default()
    })
    .await;
    let user = owner();
    let mp4 = bytes::Bytes::from(app.mp4());
    // Two uploads whose bodies stay open until the test ends them.
    let (first_body, first_rest) = held_body(mp4.clone());
    let (second_body, second_rest) = held_body(mp4.clone());
    let first = post_video(&app, user, "application/octet-stream", first_rest);
    let second = post_video(&app, user, "application/octet-stream", second_rest);
    let third = async {
        // An empty body is refused (400) while a place is free, and takes none; once both run, 429.
        let mut refused = None;
        for _ in 0..100 {
            let response = post_video(&app, user, "application/octet-stream", Body::empty()).await;
            if response.0.status() == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(response.0.headers()["retry-after"], "4");
                refused = Some(expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await);
                break;
            }
            expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Someone else is not limited by this user's uploads.
        accepted(&app, owner(), mp4.to_vec(), "").await;
        drop(first_body);
        // The first one ends and gives its place back: the next upload of this user is accepted.
        let mut after = StatusCode::TOO_MANY_REQUESTS;
        for _ in 0..100 {
            let response = upload_raw(&app, user, mp4.to_vec(), "").await;
            after = response.0.status();
            if after != StatusCode::TOO_MANY_REQUESTS {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        drop(second_body);
        (refused, after)
    };
    let (first, second, (refused, after)) = futures::join!(first, second, third);
    let refused = refused.expect("a third upload at once is refused");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("too many uploads at once from this account"),
        "{refused}"
    );
    assert_eq!(after, StatusCode::ACCEPTED);
    assert_eq!(first.0.status(), StatusCode::ACCEPTED);
    assert_eq!(second.0.status(), StatusCode::ACCEPTED);
    // The four accepted videos, nothing of the refused ones.
    assert_eq!(app.stream_messages().await, 4);
}
