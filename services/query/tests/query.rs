//! The query API against real PostgreSQL (a database per test), nats-server (one per test, with the projector
//! running) and S3 (a bucket per test).

use std::time::Duration;

use fiapx_database::test_support::TestDatabase;
use fiapx_domain::testing::{now_ms as now, register_upload};
use fiapx_domain::{ArchiveObject, Command, UserId, VideoId};
use fiapx_http::json_error;
use fiapx_http::test_support::{location, strings, with_test_auth};
use fiapx_identity::test_support::bearer;
use fiapx_nats::test_support::TestNats;
use fiapx_projections::entity::video;
use fiapx_projections::{Projector, ProjectorSettings, VIDEOS, active_generation, checkpoint};
use fiapx_query::QueryApi;
use fiapx_storage::test_support::TestBucket;
use fiapx_storage::{PutOptions, archive_key, frame_key, manifest_key};
use futures::StreamExt;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::web::sse::Event as SseEvent;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use pretty_assertions::assert_eq;
use sea_orm::EntityTrait;
use uuid::Uuid;

struct Fixture {
    db: TestDatabase,
    nats: TestNats,
    bucket: TestBucket,
    projector: tokio::task::JoinHandle<()>,
    http: TestClient<poem::endpoint::BoxEndpoint<'static>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.projector.abort();
    }
}

async fn fixture() -> Fixture {
    fixture_with_projector(true).await
}

/// Without the projector, the read model stays empty: what a video looks like in the milliseconds before its row
/// is written.
async fn fixture_with_projector(running: bool) -> Fixture {
    let db = TestDatabase::create().await;
    let nats = TestNats::start().await;
    let bucket = TestBucket::create().await;
    let projector = Projector::new(
        db.connection().clone(),
        nats.client.clone(),
        &nats.settings,
        ProjectorSettings::default(),
    );
    let projector = tokio::spawn(async move {
        if running {
            projector.run(futures::future::pending()).await;
        }
    });
    let api = QueryApi::new(
        db.connection().clone(),
        nats.client.clone(),
        &nats.settings,
        bucket.storage().clone(),
        Duration::from_secs(120),
    );
    let app = with_test_auth(
        Route::new()
            .nest("/", OpenApiService::new(api, "FIAP X", "test"))
            .catch_all_error(json_error),
    )
    .boxed();
    Fixture {
        db,
        nats,
        bucket,
        projector,
        http: TestClient::new(app),
    }
}

fn user() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

impl Fixture {
    /// Publishes what the processor publishes while extracting `video` (job 0).
    async fn publish_progress(&self, video: VideoId, attempt: u32, frames_done: u64) {
        self.nats
            .client
            .publish(
                format!("progress.videos.{video}"),
                progress_json(video, attempt, frames_done).into(),
            )
            .await
            .unwrap();
    }

    async fn upload(&self, owner: UserId) -> VideoId {
        self.upload_named(owner, "clip.mp4").await
    }

    async fn upload_named(&self, owner: UserId, file_name: &str) -> VideoId {
        let video = VideoId::from_uuid(Uuid::now_v7());
        self.nats
            .run(video, register_upload(video, owner, file_name, 2048, now()))
            .await;
        video
    }

    async fn put(&self, key: &str, bytes: &[u8]) {
        let mut reader = bytes;
        self.bucket
            .storage()
            .put_stream(key, "application/zip", &mut reader, PutOptions::default())
            .await
            .unwrap();
    }

    /// A video of `owner` uploaded and started.
    async fn started(&self, owner: UserId) -> VideoId {
        let video = self.upload(owner).await;
        self.start(video).await;
        video
    }

    async fn start(&self, video: VideoId) {
        self.nats
            .run(
                video,
                Command::StartProcessing {
                    job: 0,
                    attempt: 1,
                    at: now(),
                },
            )
            .await;
    }

    async fn complete(&self, video: VideoId, key: &str, size: u64) {
        let archive = ArchiveObject {
            key: key.to_owned(),
            size_bytes: size,
            sha256: "00".repeat(32),
            frame_count: 3,
        };
        self.nats
            .run(
                video,
                Command::CompleteProcessing {
                    job: 0,
                    attempt: 1,
                    archive,
                    at: now(),
                },
            )
            .await;
    }

    /// Stores `zip` (and `manifest` beside it, as the processor does) as job 0's archive, then starts and
    /// completes `video` with it and waits for the read model.
    async fn complete_with_archive(&self, video: VideoId, zip: &[u8], manifest: Option<&[u8]>) {
        let key = archive_key(video, 0);
        self.put(&key, zip).await;
        if let Some(manifest) = manifest {
            self.put(&manifest_key(video, 0), manifest).await;
        }
        self.start(video).await;
        self.complete(video, &key, zip.len() as u64).await;
        self.caught_up().await;
    }

    /// Waits (bounded) until the projector has applied the whole log.
    async fn caught_up(&self) {
        let js = self.nats.jetstream();
        let target = js
            .get_stream(&self.nats.settings.stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .last_sequence;
        for _ in 0..600 {
            let generation = active_generation(self.db.connection(), VIDEOS).await.unwrap();
            if checkpoint(self.db.connection(), VIDEOS, generation)
                .await
                .unwrap()
                >= target
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("projector did not reach {target}");
    }

    async fn get(&self, owner: UserId, path: &str) -> TestResponse {
        self.http
            .get(path)
            .header("authorization", bearer(*owner.as_uuid()))
            .send()
            .await
    }

    /// `GET path` by `owner` answers `status` with the error `code`.
    async fn refused(&self, owner: UserId, path: &str, status: StatusCode, code: &str) {
        assert_error(self.get(owner, path).await, status, code).await;
    }

    /// `GET /api/v1/videos` by `owner` with `query`.
    async fn list_response(&self, owner: UserId, query: &[(&str, &str)]) -> TestResponse {
        let mut request = self
            .http
            .get("/api/v1/videos")
            .header("authorization", bearer(*owner.as_uuid()));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        request.send().await
    }

    /// The ids of the page `owner` lists with `query`, and the next cursor.
    async fn list(&self, owner: UserId, query: &[(&str, &str)]) -> (Vec<String>, Option<String>) {
        let response = self.list_response(owner, query).await;
        response.assert_status_is_ok();
        let page: serde_json::Value = response.0.into_body().into_json().await.unwrap();
        let ids = strings(&page["items"], "id")
            .into_iter()
            .map(str::to_owned)
            .collect();
        let next = page["next_cursor"].as_str().map(str::to_owned);
        (ids, next)
    }
}

async fn assert_error(response: TestResponse, status: StatusCode, code: &str) {
    response.assert_status(status);
    let json = response.json().await;
    json.value().object().get("code").assert_string(code);
}

#[tokio::test]
async fn lists_only_the_callers_videos_newest_first_in_keyset_pages() {
    let f = fixture().await;
    let (alice, bob) = (user(), user());
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(f.upload(alice).await.to_string());
    }
    let theirs = [f.upload(bob).await.to_string(), f.upload(bob).await.to_string()];
    f.caught_up().await;

    // Newest first: uploads were sequential, and UUID v7 ids break ties of equal timestamps the same way.
    mine.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "2")];
        if let Some(cursor) = cursor.as_deref() {
            query.push(("cursor", cursor));
        }
        let (ids, next) = f.list(alice, &query).await;
        assert!(ids.len() <= 2);
        seen.extend(ids);
        pages += 1;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, mine);

    let (bobs, next) = f.list(bob, &[]).await;
    assert_eq!(bobs, [theirs[1].clone(), theirs[0].clone()]);
    assert_eq!(next, None);
    let (nobody, _) = f.list(user(), &[]).await;
    assert!(nobody.is_empty());

    assert_error(
        f.http.get("/api/v1/videos").send().await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let bad_cursor = f.list_response(alice, &[("cursor", "not-a-cursor")]).await;
    assert_error(bad_cursor, StatusCode::BAD_REQUEST, "bad_request").await;
    let zero = f.list_response(alice, &[("limit", "0")]).await;
    assert_error(zero, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn filters_by_status_and_never_shows_deleted_videos() {
    let f = fixture().await;
    let owner = user();
    let done = f.started(owner).await;
    let key = format!("archives/{done}/0.zip");
    f.put(&key, b"zip").await;
    f.complete(done, &key, 3).await;
    let busy = f.started(owner).await;
    let gone = f.upload(owner).await;
    f.nats
        .run(gone, Command::DeleteVideo { by: owner, at: now() })
        .await;
    let waiting = f.upload(owner).await;
    f.caught_up().await;

    assert_eq!(
        f.list(owner, &[("status", "completed")]).await.0,
        [done.to_string()]
    );
    assert_eq!(
        f.list(owner, &[("status", "processing")]).await.0,
        [busy.to_string()]
    );
    assert_eq!(
        f.list(owner, &[("status", "queued")]).await.0,
        [waiting.to_string()]
    );
    assert!(f.list(owner, &[("status", "failed")]).await.0.is_empty());
    assert_eq!(
        f.list(owner, &[]).await.0,
        [waiting.to_string(), busy.to_string(), done.to_string()]
    );
    let deleted = f.list_response(owner, &[("status", "deleted")]).await;
    assert_error(deleted, StatusCode::BAD_REQUEST, "bad_request").await;
    f.refused(
        owner,
        &format!("/api/v1/videos/{gone}"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let response = f.get(owner, &format!("/api/v1/videos/{done}")).await;
    response.assert_status_is_ok();
    let json = response.json().await;
    let video = json.value().object();
    video.get("status").assert_string("completed");
    video.get("frame_count").assert_i64(3);
    video.get("file_name").assert_string("clip.mp4");
    // The spec in the shape uploads and reprocess accept, so that it can be sent back as it is.
    let spec = video.get("spec").object();
    spec.get("fps").assert_string("1");
    spec.get("format").assert_string("png");
    assert_eq!(
        json.value().deserialize::<serde_json::Value>()["spec"],
        serde_json::json!({"fps": "1", "format": "png"})
    );
}

#[tokio::test]
async fn another_owners_video_is_not_found_everywhere() {
    let f = fixture().await;
    let (owner, stranger) = (user(), user());
    let video = f.started(owner).await;
    f.caught_up().await;

    for suffix in ["", "/timeline", "/download", "/events", "/frames", "/frames/0"] {
        let path = format!("/api/v1/videos/{video}{suffix}");
        f.refused(stranger, &path, StatusCode::NOT_FOUND, "not_found")
            .await;
    }
    let unknown = format!("/api/v1/videos/{}", Uuid::now_v7());
    f.refused(owner, &unknown, StatusCode::NOT_FOUND, "not_found")
        .await;
    f.refused(
        owner,
        "/api/v1/videos/not-a-uuid",
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    f.get(owner, &format!("/api/v1/videos/{video}"))
        .await
        .assert_status_is_ok();
    let response = f.get(owner, &format!("/api/v1/videos/{video}/timeline")).await;
    response.assert_status_is_ok();
    let json = response.json().await;
    let entries = json.value().object().get("entries").array();
    let types: Vec<_> = entries
        .iter()
        .map(|e| e.object().get("event_type").string().to_owned())
        .collect();
    assert_eq!(types, ["uploaded", "processing_started"]);
    entries
        .get(1)
        .object()
        .get("summary")
        .object()
        .get("attempt")
        .assert_i64(1);
}

#[tokio::test]
async fn download_is_not_ready_until_completed_then_redirects_to_a_working_link() {
    let f = fixture().await;
    let owner = user();
    let video = f.upload_named(owner, "férias de verão.mp4").await;
    f.caught_up().await;
    let path = format!("/api/v1/videos/{video}/download");
    f.refused(owner, &path, StatusCode::CONFLICT, "not_ready").await;
    f.start(video).await;
    f.caught_up().await;
    f.refused(owner, &path, StatusCode::CONFLICT, "not_ready").await;

    let key = format!("archives/{video}/0.zip");
    let content = b"PK\x03\x04 frames archive".repeat(100);
    f.put(&key, &content).await;
    f.complete(video, &key, content.len() as u64).await;
    f.caught_up().await;

    let response = f.get(owner, &path).await;
    response.assert_status(StatusCode::FOUND);
    let location = location(&response.0);
    assert!(location.contains("X-Amz-Signature"), "{location}");
    let downloaded = reqwest::get(&location).await.unwrap();
    assert_eq!(downloaded.status(), reqwest::StatusCode::OK);
    // Saved under the uploaded name (RFC 6266: an ASCII fallback and the UTF-8 form), not as `0.zip`.
    assert_eq!(
        downloaded.headers()["content-disposition"],
        "attachment; filename=\"f_rias de ver_o-frames.zip\"; \
         filename*=UTF-8''f%C3%A9rias%20de%20ver%C3%A3o-frames.zip"
    );
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), content.as_slice());
}

/// An archive of three "images" with other bytes around them, its manifest as the processor stores it beside
/// the archive, and the images.
fn archive_with_frames() -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let images: Vec<Vec<u8>> = ["first", "second frame", "3"]
        .iter()
        .map(|s| format!("image {s}").into_bytes())
        .collect();
    let mut zip = b"PK\x03\x04 local header".to_vec();
    let mut frames = Vec::new();
    for (index, image) in images.iter().enumerate() {
        frames.push(serde_json::json!({
            "index": index,
            "pts": index as f64 * 1.5,
            "file": format!("frame_{:04}.png", index + 1),
            "size": image.len(),
            "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(image)),
            "offset": zip.len(),
        }));
        zip.extend_from_slice(image);
        zip.extend_from_slice(b" next header ");
    }
    let manifest = serde_json::json!({
        "version": 1,
        "spec": fiapx_domain::ExtractionSpec::default(),
        "source": {"container": "mov,mp4"},
        "frame_count": frames.len(),
        "frames": frames,
    });
    (zip, serde_json::to_vec(&manifest).unwrap(), images)
}

#[tokio::test]
async fn frames_are_listed_in_pages_and_each_is_served_as_an_image_of_its_own() {
    let f = fixture().await;
    let owner = user();
    let video = f.upload(owner).await;
    f.caught_up().await;
    let list = format!("/api/v1/videos/{video}/frames");
    f.refused(owner, &list, StatusCode::CONFLICT, "not_ready").await;
    f.refused(owner, &format!("{list}/0"), StatusCode::CONFLICT, "not_ready")
        .await;

    let (zip, manifest, images) = archive_with_frames();
    f.complete_with_archive(video, &zip, Some(&manifest)).await;

    let first = body_json(f.get(owner, &format!("{list}?limit=2")).await).await;
    assert_eq!(first["frame_count"], 3, "{first}");
    assert_eq!(
        strings(&first["items"], "file_name"),
        ["frame_0001.png", "frame_0002.png"]
    );
    assert_eq!(first["items"][1]["pts"], 1.5);
    assert_eq!(first["items"][1]["size_bytes"], images[1].len());
    let cursor = first["next_cursor"].as_str().unwrap();
    let last = body_json(f.get(owner, &format!("{list}?limit=2&cursor={cursor}")).await).await;
    assert_eq!(strings(&last["items"], "file_name"), ["frame_0003.png"]);
    assert!(last["next_cursor"].is_null(), "{last}");

    for (bad, status, code) in [
        ("?cursor=nope", StatusCode::BAD_REQUEST, "bad_request"),
        ("?limit=0", StatusCode::BAD_REQUEST, "bad_request"),
        ("/3", StatusCode::NOT_FOUND, "not_found"),
        ("/first", StatusCode::BAD_REQUEST, "bad_request"),
    ] {
        f.refused(owner, &format!("{list}{bad}"), status, code).await;
    }

    // Twice: the first copies the image out of the archive, the second finds the copy (and needs neither the
    // archive nor its manifest any more: both are gone by then).
    for round in 0..2 {
        if round == 1 {
            f.bucket.storage().delete(&manifest_key(video, 0)).await.unwrap();
            f.bucket.storage().delete(&archive_key(video, 0)).await.unwrap();
        }
        let response = f.get(owner, &format!("{list}/1")).await;
        response.assert_status(StatusCode::FOUND);
        let image = reqwest::get(&location(&response.0)).await.unwrap();
        assert_eq!(image.status(), reqwest::StatusCode::OK);
        assert_eq!(image.headers()["content-type"], "image/png");
        assert_eq!(image.bytes().await.unwrap().as_ref(), images[1].as_slice());
    }
    assert!(
        f.bucket
            .keys()
            .await
            .contains(&frame_key(video, 0, "frame_0002.png"))
    );
}

#[tokio::test]
async fn an_archive_without_its_manifest_says_so_and_a_corrupt_copy_source_is_refused() {
    let f = fixture().await;
    let owner = user();
    let video = f.upload(owner).await;
    let (zip, manifest, _) = archive_with_frames();
    f.complete_with_archive(video, &zip, None).await;
    let list = format!("/api/v1/videos/{video}/frames");
    let response = f.get(owner, &list).await;
    response.assert_status(StatusCode::CONFLICT);
    let body = body_json(response).await;
    assert!(body["message"].as_str().unwrap().contains("reprocess"), "{body}");

    // The manifest says frame 0 is bytes the archive does not hold: refused, and nothing is copied.
    let mut tampered: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    tampered["frames"][0]["offset"] = serde_json::json!(0);
    f.put(&manifest_key(video, 0), &serde_json::to_vec(&tampered).unwrap())
        .await;
    f.refused(
        owner,
        &format!("{list}/0"),
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    )
    .await;
    assert!(
        !f.bucket
            .keys()
            .await
            .contains(&frame_key(video, 0, "frame_0001.png"))
    );
}

/// The `(id, event name, data)` of the next SSE message within 20 s.
async fn next_message(
    events: &mut (dyn futures::Stream<Item = SseEvent> + Unpin + Send),
) -> (Option<String>, String, serde_json::Value) {
    let message = tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .expect("no live event")
        .expect("stream ended");
    match message {
        SseEvent::Message { id, event, data } => (
            (!id.is_empty()).then_some(id),
            event,
            serde_json::from_str(&data).unwrap(),
        ),
        SseEvent::Retry { .. } => panic!("unexpected retry frame"),
    }
}

#[tokio::test]
async fn one_feed_per_user_carries_all_of_their_videos_and_resumes_after_its_last_event_id() {
    let f = fixture().await;
    let (alice, bob) = (user(), user());
    let feed_of = async |who: UserId, after: Option<&str>| {
        let mut request = f
            .http
            .get("/api/v1/events")
            .header("authorization", bearer(*who.as_uuid()));
        if let Some(after) = after {
            request = request.header("last-event-id", after);
        }
        let response = request.send().await;
        response.assert_status_is_ok();
        response.sse_stream()
    };
    let mut alices = feed_of(alice, None).await;
    let mut bobs = feed_of(bob, None).await;

    let first = f.upload(alice).await;
    let theirs = f.upload(bob).await;
    let second = f.upload(alice).await;
    f.start(first).await;
    for video in [first, theirs] {
        f.publish_progress(video, 1, 3).await;
    }

    // Progress travels apart from the log: it may come before or between the status events.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_message(&mut alices).await);
    }
    let (statuses, progress): (Vec<_>, Vec<_>) = seen.iter().partition(|(_, name, _)| name == "status");
    let summary: Vec<(String, &str)> = statuses
        .iter()
        .map(|(_, _, data)| {
            (
                data["video_id"].as_str().unwrap().to_owned(),
                data["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (first.to_string(), "queued"),
            (second.to_string(), "queued"),
            (first.to_string(), "processing"),
        ],
        "alice's videos only, in log order: {seen:?}"
    );
    assert_eq!(progress.len(), 1, "{seen:?}");
    assert_eq!(progress[0].2["video_id"], first.to_string());
    // Status events carry their log position as the SSE id (increasing).
    let ids: Vec<u64> = statuses
        .iter()
        .map(|(id, _, data)| {
            let id: u64 = id.as_deref().expect("a status event has an id").parse().unwrap();
            assert_eq!(data["sequence"], id);
            id
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let mut bob_saw = Vec::new();
    for _ in 0..2 {
        let (_, name, data) = next_message(&mut bobs).await;
        assert_eq!(data["video_id"], theirs.to_string(), "bob sees only his video");
        bob_saw.push(name);
    }
    bob_saw.sort();
    assert_eq!(bob_saw, ["progress", "status"]);

    // Reconnecting after the first event replays what came after it, then goes on live.
    let mut resumed = feed_of(alice, Some(&ids[0].to_string())).await;
    let (id, _, data) = next_message(&mut resumed).await;
    assert_eq!(
        (id, data["video_id"].as_str()),
        (Some(ids[1].to_string()), Some(second.to_string().as_str()))
    );
    let (id, _, data) = next_message(&mut resumed).await;
    assert_eq!(
        (id, data["status"].as_str()),
        (Some(ids[2].to_string()), Some("processing"))
    );
    f.nats
        .run(second, Command::DeleteVideo { by: alice, at: now() })
        .await;
    let (_, _, data) = next_message(&mut resumed).await;
    assert_eq!(
        (data["video_id"].as_str(), data["status"].as_str()),
        (Some(second.to_string().as_str()), Some("deleted"))
    );
}

/// A progress message of `video`'s job 0: `frames_done` of 10 frames, extracting.
fn progress_json(video: VideoId, attempt: u32, frames_done: u64) -> String {
    serde_json::json!({
        "video_id": video.to_string(), "job": 0, "attempt": attempt,
        "frames_done": frames_done, "frames_expected": 10, "stage": "extracting"
    })
    .to_string()
}

fn event(message: &SseEvent) -> (String, serde_json::Value) {
    match message {
        SseEvent::Message { event, data, .. } => (event.clone(), serde_json::from_str(data).unwrap()),
        SseEvent::Retry { .. } => panic!("unexpected retry frame"),
    }
}

#[tokio::test]
async fn live_events_start_with_the_status_then_follow_progress_and_changes() {
    let f = fixture().await;
    let owner = user();
    let video = f.upload(owner).await;
    f.caught_up().await;

    let response = f.get(owner, &format!("/api/v1/videos/{video}/events")).await;
    response.assert_status_is_ok();
    let mut events = response.sse_stream();
    let next = async |events: &mut (dyn futures::Stream<Item = SseEvent> + Unpin + Send)| {
        let message = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("no live event")
            .expect("stream ended");
        event(&message)
    };

    let (name, first) = next(&mut events).await;
    assert_eq!(name, "status");
    assert_eq!(first["type"], "status");
    assert_eq!(first["status"], "queued");

    f.start(video).await;
    let (name, started) = next(&mut events).await;
    assert_eq!(
        (name.as_str(), &started["status"]),
        ("status", &serde_json::json!("processing"))
    );
    assert_eq!(started["attempt"], 1);

    f.publish_progress(video, 1, 7).await;
    let (name, update) = next(&mut events).await;
    assert_eq!(name, "progress");
    assert_eq!(update["frames_done"], 7);
    assert_eq!(update["stage"], "extracting");

    f.nats
        .run(video, Command::DeleteVideo { by: owner, at: now() })
        .await;
    let (_, last) = next(&mut events).await;
    assert_eq!(last["status"], "deleted");
    let end = tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .expect("stream did not end");
    assert!(end.is_none(), "the stream ends after deletion");
}

async fn body_json(response: TestResponse) -> serde_json::Value {
    response.0.into_body().into_json().await.unwrap()
}

#[tokio::test]
async fn a_processing_video_shows_its_latest_progress_to_polling_clients() {
    let f = fixture().await;
    let owner = user();
    let video = f.started(owner).await;
    f.caught_up().await;
    let path = format!("/api/v1/videos/{video}");
    let shown = async || {
        let response = f.get(owner, &path).await;
        response.assert_status_is_ok();
        body_json(response).await
    };
    assert!(shown().await.get("progress").is_none(), "nothing published yet");

    let bucket = async_nats::jetstream::new(f.nats.client.clone())
        .get_key_value(&f.nats.settings.progress_bucket)
        .await
        .unwrap();
    let put = async |attempt: u32, done: u64| {
        let update = progress_json(video, attempt, done);
        bucket.put(video.to_string(), update.into()).await.unwrap();
    };
    put(1, 7).await;
    let body = shown().await;
    assert_eq!(body["status"], "processing");
    assert_eq!(body["progress"]["frames_done"], 7);
    assert_eq!(body["progress"]["frames_expected"], 10);
    assert_eq!(body["progress"]["stage"], "extracting");
    // Lists leave it out.
    let listed = body_json(f.get(owner, "/api/v1/videos").await).await;
    assert!(listed["items"][0].get("progress").is_none(), "{listed}");

    // Progress of another attempt is not this attempt's.
    put(2, 9).await;
    assert!(shown().await.get("progress").is_none());
    // Once completed there is no progress, whatever the bucket still holds.
    put(1, 10).await;
    let key = format!("archives/{video}/0.zip");
    f.put(&key, b"PK\x03\x04").await;
    f.complete(video, &key, 4).await;
    f.caught_up().await;
    let body = shown().await;
    assert_eq!(body["status"], "completed");
    assert!(body.get("progress").is_none(), "{body}");
}

#[tokio::test]
async fn a_video_the_read_model_has_not_caught_up_with_is_read_from_the_log() {
    let f = fixture_with_projector(false).await;
    let (alice, bob) = (user(), user());
    let video = f.upload(alice).await;
    let path = format!("/api/v1/videos/{video}");
    assert!(
        video::Entity::find_by_id(*video.as_uuid())
            .one(f.db.connection())
            .await
            .unwrap()
            .is_none(),
        "no read-model row: the answers below come from the log"
    );

    let response = f.get(alice, &path).await;
    response.assert_status_is_ok();
    let json = response.json().await;
    json.value().object().get("status").assert_string("queued");
    json.value().object().get("file_name").assert_string("clip.mp4");

    // The live stream opens too, starting with the status folded from the log.
    let response = f.get(alice, &format!("{path}/events")).await;
    response.assert_status_is_ok();
    let mut events = response.sse_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("first event")
        .expect("stream open");
    let (name, data) = event(&first);
    assert_eq!(name, "status");
    assert_eq!(data["status"], "queued");

    // Still owner-scoped, still blind to what never existed, and a deleted video is gone.
    f.refused(bob, &path, StatusCode::NOT_FOUND, "not_found").await;
    f.refused(bob, &format!("{path}/events"), StatusCode::NOT_FOUND, "not_found")
        .await;
    let unknown = format!("/api/v1/videos/{}", Uuid::now_v7());
    f.refused(alice, &unknown, StatusCode::NOT_FOUND, "not_found")
        .await;
    f.nats
        .run(video, Command::DeleteVideo { by: alice, at: now() })
        .await;
    f.refused(alice, &path, StatusCode::NOT_FOUND, "not_found").await;
}
