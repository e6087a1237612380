//! The notifier against real servers: a per-test nats-server, a per-test PostgreSQL database, a per-test SMTP
//! sink (aiosmtpd) and webhook receivers served by the test on 127.0.0.1. Events are appended through the
//! command handler, as the processor would.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fiapx_database::test_support::TestDatabase;
use fiapx_domain::testing::register_upload;
use fiapx_domain::{ArchiveObject, AttemptFailure, Command, FailureCode, Language, UserId, VideoId};
use fiapx_http::json_error;
use fiapx_identity::{Revocations, RootKey, TokenVerifier};
use fiapx_nats::test_support::{TestNats, pull_until};
use fiapx_notifier::secrets::{Keyring, seal_stored};
use fiapx_notifier::store::Store;
use fiapx_notifier::test_support::{SmtpSink, test_secrets_key, test_secrets_key_hex};
use fiapx_notifier::webhook::verify;
use fiapx_notifier::{Notifier, NotifierApi, NotifierSettings};
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct World {
    nats: TestNats,
    db: TestDatabase,
    smtp: SmtpSink,
    root: RootKey,
    verifier: Arc<TokenVerifier>,
    stop_revocations: CancellationToken,
}

async fn world() -> World {
    let nats = TestNats::start().await;
    let db = TestDatabase::create().await;
    let root = RootKey::generate();
    let stop_revocations = CancellationToken::new();
    let revocations = Revocations::watch(
        &nats.jetstream(),
        "auth_revocations",
        Duration::from_secs(3600),
        1,
        stop_revocations.clone(),
    )
    .await
    .unwrap();
    let verifier = Arc::new(TokenVerifier::new(root.public(), revocations));
    World {
        nats,
        db,
        smtp: SmtpSink::start(),
        root,
        verifier,
        stop_revocations,
    }
}

/// A world with an English-speaking user for each of `names` (e-mail: the name in lower case at example.com).
async fn world_with<const N: usize>(names: [&str; N]) -> (World, [UserId; N]) {
    let w = world().await;
    let mut users = Vec::with_capacity(N);
    for name in names {
        let email = format!("{}@example.com", name.to_lowercase());
        users.push(w.user(&email, name, "en").await);
    }
    let users = users.try_into().expect("one user a name");
    (w, users)
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_revocations.cancel();
    }
}

fn settings(smtp: &SmtpSink) -> NotifierSettings {
    NotifierSettings {
        smtp_url: smtp.url().into(),
        public_url: "https://fiapx.test".into(),
        webhook_retry_secs: vec![1, 1, 1],
        email_retry_secs: vec![1, 1],
        allow_insecure_webhooks: true,
        poll_interval_ms: 100,
        lease_secs: 30,
        secrets_key: Some(test_secrets_key()),
        ..NotifierSettings::default()
    }
}

struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the notifier stops")
            .unwrap();
    }
}

impl World {
    /// Waits until the notifier (consumer `notifier`) settled, then stops it.
    async fn stop_when_settled(&self, running: Running) {
        self.settled("notifier").await;
        running.stop().await;
    }

    fn notifier(&self, settings: NotifierSettings) -> Running {
        let notifier = Notifier::new(
            self.db.connection().clone(),
            self.nats.client.clone(),
            &self.nats.settings,
            settings,
        )
        .unwrap();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move { notifier.run(token).await.unwrap() });
        Running { stop, task }
    }

    async fn user(&self, email: &str, name: &str, locale: &str) -> UserId {
        UserId::from_uuid(self.db.insert_user(email, name, locale).await)
    }

    async fn upload(&self, owner: UserId, file_name: &str) -> VideoId {
        let video = VideoId::from_uuid(Uuid::now_v7());
        let command = register_upload(video, owner, file_name, 10, OffsetDateTime::now_utc());
        self.nats.run(video, command).await;
        video
    }

    /// A video of `owner` that completes on its first attempt.
    async fn completed_video(&self, owner: UserId, file_name: &str) -> VideoId {
        let video = self.upload(owner, file_name).await;
        self.start(video, 1).await;
        self.complete(video, 1).await;
        video
    }

    /// A video of `owner` whose first attempt fails for good with `code`.
    async fn failed_video(&self, owner: UserId, file_name: &str, code: FailureCode) -> VideoId {
        let video = self.upload(owner, file_name).await;
        self.start(video, 1).await;
        self.fail(video, 1, code, false).await;
        video
    }

    async fn start(&self, video: VideoId, attempt: u32) {
        let at = OffsetDateTime::now_utc();
        self.nats
            .run(video, Command::StartProcessing { job: 0, attempt, at })
            .await;
    }

    async fn fail(&self, video: VideoId, attempt: u32, code: FailureCode, will_retry: bool) {
        let command = Command::FailProcessing(AttemptFailure {
            job: 0,
            attempt,
            code,
            message: "the processor's detail".into(),
            will_retry,
            at: OffsetDateTime::now_utc(),
        });
        self.nats.run(video, command).await;
    }

    async fn complete(&self, video: VideoId, attempt: u32) {
        let command = Command::CompleteProcessing {
            job: 0,
            attempt,
            archive: ArchiveObject {
                key: format!("archives/{video}/0.zip"),
                size_bytes: 100,
                sha256: "ab".repeat(32),
                frame_count: 7,
            },
            at: OffsetDateTime::now_utc(),
        };
        self.nats.run(video, command).await;
    }

    /// Waits (bounded) until `consumer` has taken every event and no notification waits to be sent.
    async fn settled(&self, consumer: &str) {
        let js = self.nats.jetstream();
        for _ in 0..600 {
            let stream = js.get_stream(&self.nats.settings.stream).await.unwrap();
            let last = stream.cached_info().state.last_sequence;
            let consumer_done = match stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>(consumer)
                .await
            {
                Ok(mut c) => {
                    let info = c.info().await.unwrap();
                    info.ack_floor.stream_sequence >= last
                        || (info.num_pending == 0 && info.num_ack_pending == 0)
                }
                Err(_) => false,
            };
            let open = self.count("status IN ('pending', 'sending')").await;
            if consumer_done && open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the notifier did not settle");
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db
            .value(
                format!("SELECT count(*) AS n FROM notifications WHERE {sql}"),
                "n",
            )
            .await
    }

    fn api(&self) -> Api {
        self.api_with(true)
    }

    fn api_with(&self, allow_insecure_webhooks: bool) -> Api {
        let settings = NotifierSettings {
            allow_insecure_webhooks,
            secrets_key: Some(test_secrets_key()),
            ..NotifierSettings::default()
        };
        self.api_on(&settings)
    }

    fn api_on(&self, settings: &NotifierSettings) -> Api {
        let api = NotifierApi::new(self.db.connection().clone(), settings).unwrap();
        let service = OpenApiService::new(api, "t", "1");
        TestClient::new(
            Route::new()
                .nest("/", service)
                .data(Arc::clone(&self.verifier))
                .catch_all_error(json_error)
                .boxed(),
        )
    }

    fn token(&self, user: UserId) -> String {
        let expires = SystemTime::now() + Duration::from_secs(3600);
        format!(
            "Bearer {}",
            self.root.mint_user(user, Uuid::now_v7(), expires).unwrap()
        )
    }

    /// `request` sent with `user`'s bearer token.
    async fn send_as(&self, request: Request<'_>, user: UserId) -> TestResponse {
        request.header("Authorization", self.token(user)).send().await
    }

    /// The delivery log of `user`'s webhook `hook` (200 expected).
    async fn webhook_log(&self, user: UserId, hook: Uuid) -> Value {
        let path = format!("/api/v1/webhooks/{hook}/deliveries");
        ok_json(self.send_as(self.api().get(path), user).await).await
    }

    /// Asks `api` to send `user`'s delivery `delivery` of webhook `hook` again (202 expected).
    async fn redeliver_webhook(&self, api: &Api, user: UserId, hook: Uuid, delivery: &str) {
        let path = format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/redeliver");
        let response = self.send_as(api.post(path), user).await;
        response.assert_status(StatusCode::ACCEPTED);
    }

    /// Makes a new callback signing secret for `user` (201 expected); the answer, with the secret.
    async fn make_callback_secret(&self, user: UserId) -> Value {
        let response = self
            .send_as(self.api().post("/api/v1/me/callback-secret"), user)
            .await;
        response.assert_status(StatusCode::CREATED);
        response.json().await.value().deserialize()
    }

    /// The delivery log of `user`'s callbacks (200 expected).
    async fn callback_log(&self, user: UserId) -> Value {
        ok_json(self.send_as(self.api().get("/api/v1/me/callbacks"), user).await).await
    }
}

/// The notifier's API under test.
type Api = TestClient<poem::endpoint::BoxEndpoint<'static>>;

/// A request to [`Api`], to send.
type Request<'a> = poem::test::TestRequestBuilder<'a, poem::endpoint::BoxEndpoint<'static>>;

/// The JSON body of `response`, which must be 200.
async fn ok_json(response: TestResponse) -> Value {
    response.assert_status_is_ok();
    response.json().await.value().deserialize()
}

/// One request a receiver got: headers, body, the status it answered.
type Received = (poem::http::HeaderMap, Vec<u8>, u16);

/// A webhook receiver on 127.0.0.1 that answers 500 to the first `failures` requests and records every request;
/// it stops when dropped.
struct Receiver {
    requests: Arc<Mutex<Vec<Received>>>,
    /// Where it listens (`http://127.0.0.1:{port}/hook`).
    url: String,
    stop: CancellationToken,
}

impl Receiver {
    async fn start(failures: usize) -> Self {
        use poem::listener::{Acceptor, Listener};
        let requests = Arc::new(Mutex::new(Vec::new()));
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let stop = CancellationToken::new();
        let state = Arc::clone(&requests);
        let app = poem::endpoint::make(move |request: poem::Request| {
            let state = Arc::clone(&state);
            async move {
                let headers = request.headers().clone();
                let body = request.into_body().into_vec().await.unwrap_or_default();
                let mut requests = state.lock().unwrap();
                let status = if requests.len() < failures { 500 } else { 204 };
                requests.push((headers, body, status));
                poem::Response::builder()
                    .status(StatusCode::from_u16(status).unwrap())
                    .finish()
            }
        });
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, until.cancelled_owned(), Some(Duration::from_secs(1)))
                .await;
        });
        Self {
            requests,
            url: format!("http://{addr}/hook"),
            stop,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..600 {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} webhook requests, got {}", self.requests().len());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The `X-Fiapx-Signature` of a request.
fn signature(received: &Received) -> &str {
    received.0["x-fiapx-signature"].to_str().unwrap()
}

/// Whether a request is signed with `secret` (and the signature is current).
fn signed_with(received: &Received, secret: &str) -> bool {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    verify(secret, signature(received), &received.1, now, 300)
}

fn assert_signed(received: &Received, secret: &str) {
    assert!(signed_with(received, secret), "{}", signature(received));
}

async fn register_webhook(w: &World, user: UserId, url: &str) -> (Uuid, String) {
    let api = w.api();
    let request = api
        .post("/api/v1/webhooks")
        .body_json(&json!({"url": url, "description": "test"}));
    let response = w.send_as(request, user).await;
    response.assert_status(StatusCode::CREATED);
    let body: Value = response.json().await.value().deserialize();
    (
        body["id"].as_str().unwrap().parse().unwrap(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_final_failure_sends_one_email_in_the_owners_language() {
    let w = world().await;
    let ana = w.user("ana@example.com", "Ana", "pt-BR").await;
    let bob = w.user("bob@example.com", "Bob", "en").await;
    let running = w.notifier(settings(&w.smtp));

    // Ana: a retried attempt (no mail), then the final failure (one mail, in Portuguese).
    let video = w.upload(ana, "férias.mp4").await;
    w.start(video, 1).await;
    w.fail(video, 1, FailureCode::StorageUnavailable, true).await;
    w.start(video, 2).await;
    w.fail(video, 2, FailureCode::CorruptInput, false).await;
    // Bob: a completion (no mail: not opted in) and a failure (one mail, in English).
    w.completed_video(bob, "done.mp4").await;
    w.failed_video(bob, "broken.avi", FailureCode::UnsupportedFormat)
        .await;

    w.stop_when_settled(running).await;
    let mails = w.smtp.messages();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_ana = mails
        .iter()
        .find(|m| m.to == ["ana@example.com"])
        .expect("Ana's mail");
    assert!(to_ana.subject.contains("férias.mp4"), "{}", to_ana.subject);
    assert!(to_ana.subject.contains("falha"), "{}", to_ana.subject);
    assert!(to_ana.text.contains("corrupt_input"));
    assert!(
        to_ana
            .text
            .contains(FailureCode::CorruptInput.user_message(Language::PortugueseBrazil))
    );
    assert!(
        to_ana
            .text
            .contains(&format!("https://fiapx.test/videos/{video}"))
    );
    assert!(to_ana.html.contains("corrupt_input") && to_ana.html.contains("férias.mp4"));
    let to_bob = mails
        .iter()
        .find(|m| m.to == ["bob@example.com"])
        .expect("Bob's mail");
    assert!(to_bob.subject.contains("broken.avi") && to_bob.subject.contains("failed"));
    assert!(to_bob.text.contains("unsupported_format"));
    assert!(
        to_bob
            .text
            .contains(FailureCode::UnsupportedFormat.user_message(Language::English))
    );
    assert_eq!(w.count("channel = 'email' AND status = 'sent'").await, 2);
}

#[tokio::test]
async fn completions_are_mailed_only_to_users_who_opted_in() {
    let (w, [carla]) = world_with(["Carla"]).await;
    let api = w.api();
    let response = w.send_as(api.get("/api/v1/me/notifications"), carla).await;
    response.assert_status_is_ok();
    response
        .assert_json(
            json!({"email_on_failure": true, "email_on_completion": false, "webhook_on_completion": false}),
        )
        .await;
    let preferences =
        json!({"email_on_failure": false, "email_on_completion": true, "webhook_on_completion": false});
    let response = w
        .send_as(api.put("/api/v1/me/notifications").body_json(&preferences), carla)
        .await;
    response.assert_status_is_ok();

    let running = w.notifier(settings(&w.smtp));
    w.completed_video(carla, "ok.mp4").await;
    w.failed_video(carla, "bad.mp4", FailureCode::CorruptInput).await;
    w.stop_when_settled(running).await;
    let mails = w.smtp.messages();
    assert_eq!(mails.len(), 1, "only the completion: {mails:?}");
    assert!(mails[0].subject.contains("ok.mp4") && mails[0].subject.contains("ready"));
    assert!(mails[0].text.contains("Frames: 7"));
}

#[tokio::test]
async fn a_webhook_gets_one_signed_delivery_and_a_failing_receiver_gets_it_on_the_third_try() {
    let (w, [dan]) = world_with(["Dan"]).await;
    let healthy = Receiver::start(0).await;
    let flaky = Receiver::start(2).await;
    let (healthy_id, healthy_secret) = register_webhook(&w, dan, &healthy.url).await;
    let (flaky_id, flaky_secret) = register_webhook(&w, dan, &flaky.url).await;

    let running = w.notifier(settings(&w.smtp));
    let video = w.failed_video(dan, "clip.mp4", FailureCode::TooLong).await;
    w.settled("notifier").await;

    let got = healthy.requests();
    assert_eq!(got.len(), 1, "one delivery");
    assert_signed(&got[0], &healthy_secret);
    assert!(!signed_with(&got[0], &flaky_secret), "signed with its own secret");
    let (headers, body, _) = &got[0];
    assert_eq!(headers["x-fiapx-event"], "video.failed");
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["type"], "video.failed");
    assert_eq!(payload["video"]["id"], video.to_string());
    assert_eq!(payload["video"]["file_name"], "clip.mp4");
    assert_eq!(payload["failure"]["code"], "too_long");
    assert_eq!(payload["failure"]["retryable"], false);
    assert_eq!(payload["id"], headers["x-fiapx-delivery"].to_str().unwrap());

    let tries = flaky.requests();
    assert_eq!(
        tries.iter().map(|(_, _, status)| *status).collect::<Vec<_>>(),
        [500, 500, 204],
        "delivered on the third try"
    );
    let ids: Vec<&str> = tries
        .iter()
        .map(|(h, _, _)| h["x-fiapx-delivery"].to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "the same delivery id on every try"
    );
    for received in &tries {
        assert!(signed_with(received, &flaky_secret));
    }

    // The delivery log shows the three tries; a redeliver sends it once more with the same id.
    let log = w.webhook_log(dan, flaky_id).await;
    let delivery = &log["items"][0];
    assert_eq!(delivery["status"], "sent", "{log}");
    assert_eq!(delivery["attempts"], 3);
    let statuses: Vec<Value> = delivery["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status_code"].clone())
        .collect();
    assert_eq!(statuses, [json!(500), json!(500), json!(204)]);
    let delivery_id = delivery["id"].as_str().unwrap();
    let api = w.api();
    w.redeliver_webhook(&api, dan, flaky_id, delivery_id).await;
    let again = flaky.wait_for(4).await;
    assert_eq!(again[3].0["x-fiapx-delivery"], delivery_id);
    // Someone else cannot see or redeliver it.
    let eve = w.user("eve@example.com", "Eve", "en").await;
    let others = api.get(format!("/api/v1/webhooks/{healthy_id}/deliveries"));
    w.send_as(others, eve).await.assert_status(StatusCode::NOT_FOUND);
    w.stop_when_settled(running).await;
    assert_eq!(
        healthy.requests().len(),
        1,
        "still one delivery to the healthy receiver"
    );
}

#[tokio::test]
async fn the_webhook_api_checks_urls_hides_secrets_and_scopes_by_owner() {
    let (w, [fay, gus]) = world_with(["Fay", "Gus"]).await;
    let api = w.api();
    for url in ["http://example.com/hook", "ftp://example.com", "not a url"] {
        let request = api.post("/api/v1/webhooks").body_json(&json!({ "url": url }));
        let response = w.send_as(request, fay).await;
        response.assert_status(StatusCode::BAD_REQUEST);
    }
    let response = api
        .post("/api/v1/webhooks")
        .body_json(&json!({"url": "https://example.com/hook"}))
        .send()
        .await;
    response.assert_status(StatusCode::UNAUTHORIZED);

    let (id, secret) = register_webhook(&w, fay, "https://example.com/hook").await;
    assert!(secret.starts_with("whsec_"));
    let response = w.send_as(api.get("/api/v1/webhooks"), fay).await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains(&id.to_string()) && !text.contains(&secret),
        "{text}"
    );

    for (method, path) in [
        ("get", format!("/api/v1/webhooks/{id}")),
        ("delete", format!("/api/v1/webhooks/{id}")),
        ("get", format!("/api/v1/webhooks/{id}/deliveries")),
    ] {
        let request = match method {
            "get" => api.get(&path),
            _ => api.delete(&path),
        };
        let response = w.send_as(request, gus).await;
        response.assert_status(StatusCode::NOT_FOUND);
    }
    let hook = format!("/api/v1/webhooks/{id}");
    let response = w.send_as(api.delete(&hook), fay).await;
    response.assert_status(StatusCode::NO_CONTENT);
    let response = w.send_as(api.get(&hook), fay).await;
    response.assert_status(StatusCode::NOT_FOUND);

    let table = ok_json(api.get("/api/v1/failure-codes").send().await).await;
    assert_eq!(table.as_array().unwrap().len(), FailureCode::ALL.len());
    assert!(
        table
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["code"] == "storage_unavailable" && row["retryable"] == true)
    );
}

/// Registers `url` as a webhook as `user` on `api` and expects a 400 `bad_request`; returns the error body.
async fn refused_webhook(w: &World, api: &Api, user: UserId, url: &str) -> Value {
    let request = api.post("/api/v1/webhooks").body_json(&json!({ "url": url }));
    let response = w.send_as(request, user).await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.value().deserialize();
    assert_eq!(body["code"], "bad_request", "{url}: {body}");
    body
}

#[tokio::test]
async fn webhook_urls_to_internal_addresses_are_refused_and_nothing_is_stored() {
    let (w, [hal]) = world_with(["Hal"]).await;
    let strict = w.api_with(false);
    for url in [
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://localhost/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://127.0.0.1/x",
        "https://[fd00::1]/x",
        "https://metadata.google.internal/computeMetadata/v1/",
    ] {
        let body = refused_webhook(&w, &strict, hal, url).await;
        assert!(
            body["message"].as_str().unwrap().contains("public internet host"),
            "{url}: {body}"
        );
    }
    // Allowing insecure webhooks (tests, `make run`) lets loopback through, and nothing else that is not public.
    let lenient = w.api_with(true);
    for url in [
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest",
        "https://[fd00::1]/x",
    ] {
        refused_webhook(&w, &lenient, hal, url).await;
    }
    let list = ok_json(w.send_as(strict.get("/api/v1/webhooks"), hal).await).await;
    assert_eq!(list["items"], json!([]), "nothing stored");
    let stored: i64 = w.db.value("SELECT count(*) AS n FROM webhooks", "n").await;
    assert_eq!(stored, 0);
    register_webhook(&w, hal, "https://[::1]:9/x").await;
}

/// Webhooks registered while loopback was allowed, sent by a notifier that does not allow it: a name that resolves
/// to loopback is refused by the client's resolver on every try, an IP literal before the first; the receiver
/// hears nothing and the delivery log says why, without naming the host.
#[tokio::test]
async fn a_notifier_not_allowing_loopback_never_calls_a_host_that_resolves_to_it() {
    let (w, [ida]) = world_with(["Ida"]).await;
    let receiver = Receiver::start(0).await;
    let url = &receiver.url;
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook");
    // `localhost` resolves from /etc/hosts (or the system resolver's synthesis): no DNS server is asked.
    let (by_name, _) = register_webhook(&w, ida, &format!("http://localhost:{port}/hook")).await;
    let (by_literal, _) = register_webhook(&w, ida, url).await;

    let running = w.notifier(NotifierSettings {
        allow_insecure_webhooks: false,
        webhook_retry_secs: vec![1],
        ..settings(&w.smtp)
    });
    w.failed_video(ida, "clip.mp4", FailureCode::CorruptInput).await;
    w.stop_when_settled(running).await;
    assert!(receiver.requests().is_empty(), "the receiver was never called");

    let delivery = w.webhook_log(ida, by_name).await["items"][0].clone();
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 2, "retried on the schedule: {delivery}");
    for attempt in delivery["tries"].as_array().unwrap() {
        assert_eq!(
            attempt["error"], "the webhook host resolves only to non-public addresses",
            "{delivery}"
        );
        assert_eq!(attempt["status_code"], Value::Null);
    }
    let delivery = w.webhook_log(ida, by_literal).await["items"][0].clone();
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 1, "never retried: {delivery}");
    assert_eq!(
        delivery["tries"][0]["error"], "the webhook address is not a public internet address",
        "{delivery}"
    );
}

#[tokio::test]
async fn a_notifier_restarted_mid_batch_and_a_full_redelivery_send_no_duplicates() {
    let (w, [hal]) = world_with(["Hal"]).await;
    let videos = {
        let mut videos = Vec::new();
        for n in 0..12 {
            let video = w
                .failed_video(hal, &format!("v{n}.mp4"), FailureCode::CorruptInput)
                .await;
            videos.push(video);
        }
        videos
    };
    let slow = NotifierSettings {
        batch_size: 2,
        ..settings(&w.smtp)
    };
    let first = w.notifier(slow.clone());
    w.smtp.wait_for(3).await;
    first.stop().await;
    let second = w.notifier(slow.clone());
    w.stop_when_settled(second).await;
    // A new consumer reads the whole log again, as a total redelivery would: the records keep it from sending.
    let replay = w.notifier(NotifierSettings {
        consumer: "notifier_replay".into(),
        ..slow
    });
    w.settled("notifier_replay").await;
    replay.stop().await;

    let mails = w.smtp.messages();
    assert_eq!(
        mails.len(),
        videos.len(),
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), videos.len(), "distinct notifications");
    for (n, _) in videos.iter().enumerate() {
        let name = format!("v{n}.mp4");
        assert_eq!(
            mails.iter().filter(|m| m.subject.contains(&name)).count(),
            1,
            "{name}"
        );
    }
    assert_eq!(w.count("true").await, 12);
}

#[tokio::test]
async fn an_smtp_outage_delays_the_email_but_loses_nothing() {
    let (w, [ida]) = world_with(["Ida"]).await;
    // The notifier is told about an SMTP server that is not up yet.
    let port = SmtpSink::free_port();
    let running = w.notifier(NotifierSettings {
        smtp_url: format!("smtp://127.0.0.1:{port}").into(),
        email_retry_secs: vec![1; 30],
        ..settings(&w.smtp)
    });
    w.failed_video(ida, "late.mp4", FailureCode::TooLarge).await;
    // Wait for a failed try on record.
    let mut failed = 0;
    for _ in 0..600 {
        failed =
            w.db.value::<i64>(
                "SELECT count(*) AS n FROM notification_attempts WHERE outcome = 'failed'",
                "n",
            )
            .await;
        if failed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed > 0, "a try against the missing SMTP server failed");
    assert_eq!(
        w.count("status IN ('pending', 'sending')").await,
        1,
        "still waiting to be sent"
    );
    // SMTP comes up: the next try delivers it, once.
    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(1).await;
    w.stop_when_settled(running).await;
    assert_eq!(sink.messages().len(), 1, "{mails:?}");
    assert!(mails[0].subject.contains("late.mp4"));
    assert!(mails[0].text.contains("too_large"));
    assert_eq!(w.count("status = 'sent' AND attempts > 1").await, 1);
}

#[tokio::test]
async fn an_uploads_callback_gets_both_outcomes_signed_with_the_account_secret() {
    let (w, [dan, eve]) = world_with(["Dan", "Eve"]).await;
    let receiver = Receiver::start(0).await;
    let callbacks = fiapx_nats::VideoCallbacks::new(w.nats.jetstream(), &w.nats.settings);
    let api = w.api();
    let running = w.notifier(settings(&w.smtp));

    // No secret yet: the callback is not sent unsigned; its delivery fails for good and says what to do.
    let response = w.send_as(api.get("/api/v1/me/callback-secret"), dan).await;
    response.assert_status(StatusCode::NOT_FOUND);
    let first = w.upload(dan, "first.mp4").await;
    callbacks.set(*first.as_uuid(), &receiver.url).await.unwrap();
    w.start(first, 1).await;
    w.complete(first, 1).await;
    w.settled("notifier").await;
    assert!(receiver.requests().is_empty(), "nothing sent unsigned");
    let deliveries = w.callback_log(dan).await;
    let unsigned = &deliveries["items"][0];
    assert_eq!(unsigned["status"], "failed", "{deliveries}");
    assert_eq!(unsigned["event_type"], "video.completed");
    assert_eq!(unsigned["video_id"], first.to_string());
    assert!(
        unsigned["last_error"]
            .as_str()
            .unwrap()
            .contains("POST /api/v1/me/callback-secret"),
        "{unsigned}"
    );
    let unsigned_id = unsigned["id"].as_str().unwrap().to_owned();

    // With a secret, the redelivered completion and a later failure are signed with it. Webhooks would get
    // the completion only with `webhook_on_completion`; asking for a callback is the opt-in.
    let made = w.make_callback_secret(dan).await;
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{made}");
    let shown = ok_json(w.send_as(api.get("/api/v1/me/callback-secret"), dan).await).await;
    assert_eq!(shown["created_at"], made["created_at"]);
    assert!(shown.get("secret").is_none(), "the secret is shown once: {shown}");

    // Someone else can neither see nor redeliver it.
    let theirs = w.callback_log(eve).await;
    assert_eq!(theirs["items"], json!([]));
    let redeliver = |user: UserId| {
        let path = format!("/api/v1/me/callbacks/{unsigned_id}/redeliver");
        w.send_as(api.post(path), user)
    };
    redeliver(eve).await.assert_status(StatusCode::NOT_FOUND);
    redeliver(dan).await.assert_status(StatusCode::ACCEPTED);
    // A video whose upload named no callback URL calls nobody.
    w.failed_video(dan, "second.mp4", FailureCode::TooLong).await;
    let got = receiver.wait_for(1).await;
    assert_signed(&got[0], &secret);
    let (headers, body, _) = &got[0];
    assert_eq!(headers["x-fiapx-event"], "video.completed");
    assert_eq!(headers["x-fiapx-delivery"], unsigned_id.as_str());
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["video"]["id"], first.to_string());
    assert_eq!(payload["video"]["file_name"], "first.mp4");

    let third = w.upload(dan, "third.mp4").await;
    callbacks.set(*third.as_uuid(), &receiver.url).await.unwrap();
    w.start(third, 1).await;
    w.fail(third, 1, FailureCode::TooLong, false).await;
    let got = receiver.wait_for(2).await;
    assert_signed(&got[1], &secret);
    let (headers, body, _) = &got[1];
    assert_eq!(headers["x-fiapx-event"], "video.failed");
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["video"]["id"], third.to_string());
    assert_eq!(payload["failure"]["code"], "too_long");

    // A new secret replaces the old one at once.
    let rotated = w.make_callback_secret(dan).await;
    assert_ne!(rotated["secret"], made["secret"]);
    w.stop_when_settled(running).await;
    assert_eq!(
        receiver.requests().len(),
        2,
        "the video without a callback URL called nobody"
    );
    let deliveries = w.callback_log(dan).await;
    let statuses: Vec<&str> = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent"], "{deliveries}");
}

#[tokio::test]
async fn an_event_intake_gives_up_on_is_kept_in_the_dead_letter_stream() {
    let (w, [dan]) = world_with(["Dan"]).await;
    let notifier = Notifier::new(
        w.db.connection().clone(),
        w.nats.client.clone(),
        &w.nats.settings,
        NotifierSettings {
            max_deliver: 2,
            ..settings(&w.smtp)
        },
    )
    .unwrap();
    let js = w.nats.jetstream();
    js.create_or_update_stream(notifier.dead_letter_stream_config())
        .await
        .unwrap();
    let consumer = w.nats.consumer(notifier.consumer_config()).await;
    let video = w.failed_video(dan, "clip.mp4", FailureCode::TooLong).await;
    // An intake that can never record it (as with the database down for good): every delivery is naked.
    let dead_letters = notifier.dead_letter_stream_config().name;
    let (deliveries, dead) = pull_until(&consumer, Duration::from_millis(300), true, async || {
        let mut stream = js.get_stream(&dead_letters).await.unwrap();
        if stream.info().await.unwrap().state.messages > 0 {
            Some(stream.direct_get(1).await.unwrap())
        } else {
            None
        }
    })
    .await;
    let dead = dead.expect("the advisory was kept");
    assert_eq!(deliveries, 2, "max_deliver deliveries, then none");
    let advisory: Value = serde_json::from_slice(&dead.payload).unwrap();
    assert_eq!(advisory["type"], "io.nats.jetstream.advisory.v1.max_deliver");
    assert_eq!(advisory["consumer"], "notifier");
    // The advisory names the event by its stream sequence: the `failed` event, third in the log.
    let events = w.nats.events(video).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(advisory["stream_seq"], 3, "{advisory}");
}

/// What the `secret` column of `table` holds for the row whose `key` is `id`.
async fn stored_secret(w: &World, table: &str, key: &str, id: Uuid) -> String {
    w.db.value(
        format!("SELECT secret FROM {table} WHERE {key} = '{id}'"),
        "secret",
    )
    .await
}

async fn execute(w: &World, sql: &str, values: Vec<sea_orm::Value>) {
    use sea_orm::ConnectionTrait as _;
    w.db.connection()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .unwrap();
}

/// A webhook row as the notifier wrote it before secrets were sealed: the secret in plain text.
async fn legacy_webhook(w: &World, owner: UserId, url: &str) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let secret = fiapx_notifier::webhook::new_secret().unwrap();
    execute(
        w,
        "INSERT INTO webhooks (id, owner_id, url, secret) VALUES ($1, $2, $3, $4)",
        vec![
            id.into(),
            (*owner.as_uuid()).into(),
            url.into(),
            secret.clone().into(),
        ],
    )
    .await;
    (id, secret)
}

fn keyring(settings: &NotifierSettings) -> Keyring {
    Keyring::from_settings(settings).unwrap()
}

/// A new key in a file of its own (mode 0600), and settings using it as the current key.
fn key_file_settings(w: &World) -> (NotifierSettings, std::path::PathBuf) {
    let path = std::env::temp_dir()
        .join(format!("fiapx-notifier-{}", Uuid::now_v7()))
        .join("secrets.key");
    fiapx_notifier::secrets::generate_key_file(&path).unwrap();
    let settings = NotifierSettings {
        secrets_key: None,
        secrets_key_file: Some(path.clone()),
        ..settings(&w.smtp)
    };
    (settings, path)
}

#[tokio::test]
async fn signing_secrets_are_stored_sealed_and_still_sign_deliveries() {
    let (w, [dan]) = world_with(["Dan"]).await;
    let receiver = Receiver::start(0).await;
    let (hook, secret) = register_webhook(&w, dan, &receiver.url).await;
    let made = w.make_callback_secret(dan).await;
    let callback_secret = made["secret"].as_str().unwrap();

    let key_id = keyring(&settings(&w.smtp)).key_id().to_owned();
    let stored_hook = stored_secret(&w, "webhooks", "id", hook).await;
    let stored_callback = stored_secret(&w, "callback_secrets", "user_id", *dan.as_uuid()).await;
    for (stored, plain) in [
        (&stored_hook, &secret),
        (&stored_callback, &callback_secret.to_owned()),
    ] {
        assert!(stored.starts_with(&format!("sealed:v1:{key_id}:")), "{stored}");
        assert!(!stored.contains(plain.as_str()), "no plain secret in the column");
        assert!(!stored.contains(&plain["whsec_".len()..]), "not even its hex");
    }

    let running = w.notifier(settings(&w.smtp));
    w.failed_video(dan, "clip.mp4", FailureCode::TooLong).await;
    let got = receiver.wait_for(1).await;
    assert_signed(&got[0], &secret);
    w.stop_when_settled(running).await;
    assert_eq!(
        stored_secret(&w, "webhooks", "id", hook).await,
        stored_hook,
        "a sealed secret is left as it is"
    );
}

#[tokio::test]
async fn plain_text_secrets_from_before_sealing_keep_signing_and_get_sealed() {
    let (w, [dan, ann]) = world_with(["Dan", "Ann"]).await;
    let receiver = Receiver::start(0).await;
    let (old_hook, old_secret) = legacy_webhook(&w, dan, &receiver.url).await;
    let plain_callback = fiapx_notifier::webhook::new_secret().unwrap();
    execute(
        &w,
        "INSERT INTO callback_secrets (user_id, secret) VALUES ($1, $2)",
        vec![(*ann.as_uuid()).into(), plain_callback.clone().into()],
    )
    .await;

    // The sweep the notifier runs at start-up: both rows sealed, the second run has nothing to do.
    let store = Store::new(w.db.connection().clone());
    let ring = keyring(&settings(&w.smtp));
    let report = seal_stored(&store, &ring).await.unwrap();
    assert_eq!((report.sealed, report.unreadable), (2, 0));
    assert_eq!(seal_stored(&store, &ring).await.unwrap().sealed, 0, "idempotent");
    let sealed_hook = stored_secret(&w, "webhooks", "id", old_hook).await;
    let sealed_callback = stored_secret(&w, "callback_secrets", "user_id", *ann.as_uuid()).await;
    assert!(sealed_hook.starts_with("sealed:v1:") && !sealed_hook.contains(&old_secret));
    assert!(sealed_callback.starts_with("sealed:v1:") && !sealed_callback.contains(&plain_callback));

    // A row written in plain text while the notifier runs (an older process in a rolling deploy) signs its
    // delivery and is sealed by it.
    let running = w.notifier(settings(&w.smtp));
    // After its start-up sweep (nothing to do here: it ends within milliseconds).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (late_hook, late_secret) = legacy_webhook(&w, dan, &receiver.url).await;
    w.failed_video(dan, "clip.mp4", FailureCode::TooLong).await;
    let got = receiver.wait_for(2).await;
    let mut secrets_used = Vec::new();
    for received in &got {
        let which = [&old_secret, &late_secret]
            .into_iter()
            .find(|secret| signed_with(received, secret))
            .expect("signed with the webhook's original secret");
        secrets_used.push(which.clone());
    }
    secrets_used.sort();
    let mut expected = vec![old_secret.clone(), late_secret.clone()];
    expected.sort();
    assert_eq!(secrets_used, expected, "each webhook signed with its own secret");
    w.stop_when_settled(running).await;
    let late_stored = stored_secret(&w, "webhooks", "id", late_hook).await;
    assert!(
        late_stored.starts_with(&format!("sealed:v1:{}:", ring.key_id())),
        "{late_stored}"
    );
    assert!(!late_stored.contains(&late_secret));
    assert_eq!(
        ring.open(
            fiapx_notifier::store::Deliveries::Webhook(late_hook),
            &late_stored
        )
        .map(|o| secrecy::ExposeSecret::expose_secret(&o.secret).to_owned())
        .unwrap(),
        late_secret,
        "sealed, not changed"
    );
}

#[tokio::test]
async fn a_wrong_key_fails_clearly_and_a_previous_key_still_opens() {
    let (w, [dan]) = world_with(["Dan"]).await;
    let receiver = Receiver::start(0).await;
    let (hook, secret) = register_webhook(&w, dan, &receiver.url).await;
    let original = stored_secret(&w, "webhooks", "id", hook).await;

    // Without a key, neither the worker nor the API starts, and the error names the setting.
    let no_key = NotifierSettings {
        secrets_key: None,
        ..settings(&w.smtp)
    };
    let error = Notifier::new(
        w.db.connection().clone(),
        w.nats.client.clone(),
        &w.nats.settings,
        no_key.clone(),
    )
    .err()
    .expect("no key, no notifier")
    .to_string();
    assert!(error.contains("notifier.secrets_key_file"), "{error}");
    let error = NotifierApi::new(w.db.connection().clone(), &no_key)
        .expect_err("no key, no API")
        .to_string();
    assert!(error.contains("notifier.secrets_key_file"), "{error}");

    // Another key: the delivery is never sent unsigned or wrongly signed; it fails, saying why.
    let (other, other_path) = key_file_settings(&w);
    let running = w.notifier(other.clone());
    w.failed_video(dan, "clip.mp4", FailureCode::TooLong).await;
    w.stop_when_settled(running).await;
    assert!(receiver.requests().is_empty(), "nothing sent");
    let log = w.webhook_log(dan, hook).await;
    let delivery = &log["items"][0];
    assert_eq!(delivery["status"], "failed", "{log}");
    let why = delivery["last_error"].as_str().unwrap();
    assert!(
        why.contains("signing secret cannot be opened") && why.contains("notifier.secrets_key_file"),
        "{why}"
    );
    assert_eq!(
        stored_secret(&w, "webhooks", "id", hook).await,
        original,
        "a secret that does not open is left as it is"
    );
    let report = seal_stored(&Store::new(w.db.connection().clone()), &keyring(&other))
        .await
        .unwrap();
    assert_eq!((report.sealed, report.unreadable), (0, 1));

    // A sealed value copied to another row does not open there.
    let (copy, _) = legacy_webhook(&w, dan, &receiver.url).await;
    execute(
        &w,
        "UPDATE webhooks SET secret = $1 WHERE id = $2",
        vec![original.clone().into(), copy.into()],
    )
    .await;
    let moved = keyring(&settings(&w.smtp)).open(fiapx_notifier::store::Deliveries::Webhook(copy), &original);
    assert!(moved.is_err(), "bound to its row");
    execute(&w, "DELETE FROM webhooks WHERE id = $1", vec![copy.into()]).await;

    // Rotation: the new key current, the old one previous. The redelivery is signed with the same secret, and
    // the row is sealed with the new key.
    let old_path = other_path.with_file_name("old.key");
    std::fs::write(&old_path, test_secrets_key_hex()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&old_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let rotated = NotifierSettings {
        secrets_previous_key_files: vec![old_path],
        ..other.clone()
    };
    let running = w.notifier(rotated.clone());
    let delivery_id = delivery["id"].as_str().unwrap();
    w.redeliver_webhook(&w.api_on(&rotated), dan, hook, delivery_id)
        .await;
    let got = receiver.wait_for(1).await;
    assert_signed(&got[0], &secret);
    w.stop_when_settled(running).await;
    let resealed = stored_secret(&w, "webhooks", "id", hook).await;
    assert!(
        resealed.starts_with(&format!("sealed:v1:{}:", keyring(&other).key_id())),
        "sealed with the new key: {resealed}"
    );
    std::fs::remove_dir_all(other_path.parent().unwrap()).unwrap();
}
