//! `spawn_app()`: the upload API on a per-test nats-server and a per-test bucket of the stack's S3.

#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use fiapx_domain::{Event, VideoId};
use fiapx_http::json_error;
use fiapx_http::test_support::with_test_auth;
use fiapx_nats::CommandHandler;
use fiapx_nats::test_support::TestNats;
use fiapx_storage::test_support::TestBucket;
use fiapx_upload::{UploadApi, UploadSettings, with_tus_headers};
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use uuid::Uuid;

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

    /// Asserts that nothing reached storage or the event log.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.keys().await, Vec::<String>::new(), "objects stored");
        assert_eq!(self.stream_messages().await, 0, "events appended");
    }
}
