//! `spawn_app()`: the upload API on a per-test nats-server and a per-test bucket of the stack's S3.

#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use bytes::Bytes;
use fiapx_domain::{Event, ExtractionSpec, SourceObject, UserId, VideoId};
use fiapx_http::json_error;
use fiapx_http::test_support::with_test_auth;
use fiapx_nats::CommandHandler;
use fiapx_nats::test_support::TestNats;
use fiapx_storage::test_support::TestBucket;
use fiapx_upload::{UploadApi, UploadSettings, with_tus_headers};
use futures::StreamExt as _;
use futures::channel::mpsc::UnboundedSender;
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestResponse};
use poem::{Body, EndpointExt, Route};
use poem_openapi::OpenApiService;
use uuid::Uuid;

pub const MIB: usize = 1024 * 1024;

pub struct App {
    pub api: UploadApi,
    pub client: TestClient<BoxEndpoint<'static>>,
    pub bucket: TestBucket,
    pub handler: CommandHandler,
    pub nats: TestNats,
}

pub async fn spawn_app() -> App {
    spawn_app_with(UploadSettings::default()).await
}

pub async fn spawn_app_with(settings: UploadSettings) -> App {
    let nats = TestNats::start().await;
    let handler = nats.handler(nats.settings.max_append_retries);
    let bucket = TestBucket::create().await;
    let api = UploadApi::new(
        handler.clone(),
        bucket.storage().clone(),
        settings,
        &nats.settings,
    )
    .await
    .expect("upload api");
    let service = OpenApiService::new((api.clone(), api.resumable()), "fiapx", "test");
    let route = with_test_auth(with_tus_headers(
        Route::new().nest("/", service).catch_all_error(json_error),
    ))
    .boxed();
    App {
        api,
        client: TestClient::new(route),
        bucket,
        handler,
        nats,
    }
}

/// The defaults but for 5 MiB multipart parts (the smallest S3 takes): a body of a few MiB spans several parts.
pub fn small_parts_settings() -> UploadSettings {
    UploadSettings {
        part_size_bytes: 5 * MIB,
        ..UploadSettings::default()
    }
}

/// The defaults but for a minimum body rate of 4096 bytes/s, checked every second: a [`trickle`] of 16 bytes
/// every 100 ms is cut within a few seconds.
pub fn min_rate_settings() -> UploadSettings {
    UploadSettings {
        min_rate_bytes_per_sec: 4096,
        min_rate_window_secs: 1,
        ..UploadSettings::default()
    }
}

pub fn owner() -> Uuid {
    Uuid::now_v7()
}

/// The header carrying the caller's token.
pub fn owner_header() -> &'static str {
    "authorization"
}

/// The `authorization` value for `user`.
pub fn bearer(user: Uuid) -> String {
    fiapx_identity::test_support::bearer(user)
}

/// `response`'s header `name`, if any.
pub fn header(response: &TestResponse, name: &str) -> Option<String> {
    response
        .0
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
}

/// A body whose first chunk is `first` and that stays open until the returned sender is dropped.
pub fn held_body(first: Bytes) -> (UnboundedSender<std::io::Result<Bytes>>, Body) {
    let (sender, receiver) = futures::channel::mpsc::unbounded::<std::io::Result<Bytes>>();
    sender.unbounded_send(Ok(first)).unwrap();
    (sender, Body::from_bytes_stream(receiver))
}

/// `head` at once, then `tail` in chunks of `step` bytes every 100 ms: a client on a very slow line.
pub fn trickle(head: Bytes, tail: Bytes, step: usize) -> Body {
    let head = futures::stream::once(std::future::ready(Ok::<_, std::io::Error>(head)));
    let tail = futures::stream::iter((0..tail.len()).step_by(step)).then(move |at| {
        let chunk = tail.slice(at..(at + step).min(tail.len()));
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Ok(chunk)
        }
    });
    Body::from_bytes_stream(head.chain(tail))
}

/// tus `POST /api/v1/uploads` by `user` for a file of `length` bytes, with `Upload-Metadata` when given.
pub async fn post_upload(app: &App, user: Uuid, length: usize, metadata: Option<&str>) -> TestResponse {
    let mut request = app
        .client
        .post("/api/v1/uploads")
        .header(owner_header(), bearer(user))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string());
    if let Some(metadata) = metadata {
        request = request.header("Upload-Metadata", metadata);
    }
    request.send().await
}

/// What the `uploaded` event of a video says.
pub struct Uploaded {
    pub video_id: VideoId,
    pub owner: UserId,
    pub source: SourceObject,
    pub spec: ExtractionSpec,
}

impl App {
    /// A small real MP4 made by the ffmpeg CLI.
    pub fn mp4(&self) -> Vec<u8> {
        let path = fiapx_frames::test_support::testsrc_h264("160x120", 10, "2", "ultrafast");
        std::fs::read(path).expect("read the generated mp4")
    }

    pub async fn events(&self, video: Uuid) -> Vec<Event> {
        self.nats.events(VideoId::from_uuid(video)).await
    }

    /// Every message in the event stream (all videos).
    pub async fn stream_messages(&self) -> u64 {
        let mut stream = self
            .nats
            .store
            .jetstream()
            .get_stream("VIDEOS")
            .await
            .expect("stream");
        stream.info().await.expect("stream info").state.messages
    }

    pub async fn keys(&self) -> Vec<String> {
        self.bucket.keys().await
    }

    /// The video's `uploaded` event, asserting that it is its only event.
    pub async fn uploaded(&self, video: Uuid) -> Uploaded {
        let events = self.events(video).await;
        match events.as_slice() {
            [
                Event::Uploaded {
                    video_id,
                    owner,
                    source,
                    spec,
                    ..
                },
            ] => Uploaded {
                video_id: *video_id,
                owner: *owner,
                source: source.clone(),
                spec: spec.clone(),
            },
            other => panic!("expected one uploaded event, got {other:?}"),
        }
    }

    /// Asserts that no multipart upload was left open in storage.
    pub async fn assert_no_pending_multipart(&self) {
        assert_eq!(
            self.bucket.storage().pending_multipart_uploads("").await.unwrap(),
            Vec::<fiapx_storage::PendingUpload>::new()
        );
    }

    /// Asserts that nothing reached storage or the event log.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.keys().await, Vec::<String>::new(), "objects stored");
        assert_eq!(self.stream_messages().await, 0, "events appended");
    }
}
