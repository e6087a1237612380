//! Users and access against the real stack: `fiapx serve all` on a loopback port (real TCP, so client addresses
//! are real), a per-test nats-server, PostgreSQL database and S3 bucket. Register/login/refresh/logout, every
//! kind of bad token, owner isolation on every endpoint, shares, rate limits, disabled users through the real
//! `fiapx users` command, and no secret in the logs.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use biscuit_auth::Biscuit;
use biscuit_auth::macros::block;
use fiapx::config::Settings;
use fiapx::{Started, Which, start};
use fiapx_auth::LimitSettings;
use fiapx_domain::{UserId, VideoId};
use fiapx_http::test_support::strings;
use fiapx_identity::RootKey;
use fiapx_identity::test_support::test_root_key;
use fiapx_upload::UploadSettings;
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, EntityTrait as _};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod common;
use common::{Stack, Workers};

struct App {
    base: String,
    http: reqwest::Client,
    workers: Workers,
}

/// Starts `which` with `settings` and serves its HTTP app (if any) on a free loopback port.
async fn serve(which: Which, settings: &Settings) -> App {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,fiapx=debug")
            .try_init();
    }
    let stop = CancellationToken::new();
    let Started { mut workers, app } = start(which, settings, &stop).await.expect("app starts");
    let mut base = String::new();
    if let Some(app) = app {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        base = format!("http://{addr}");
        let until = stop.clone();
        let server = fiapx::http_server(acceptor, &settings.http);
        workers.spawn(async move {
            server
                .run_with_graceful_shutdown(app, until.cancelled_owned(), Some(Duration::from_secs(5)))
                .await?;
            Ok("http")
        });
    }
    App {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        workers: Workers::join(stop, workers),
    }
}

struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn code(&self) -> &str {
        self.body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {}", self.body))
    }
}

impl App {
    async fn stop(self) {
        self.workers.stop().await;
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.bytes().await.unwrap_or_default();
        Reply {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.send(request).await
    }

    async fn register(&self, email: &str, password: &str) -> Reply {
        let body =
            json!({"email": email, "password": password, "display_name": "Maria Silva", "locale": "pt-BR"});
        self.call("POST", "/api/v1/auth/register", None, Some(body)).await
    }

    async fn login(&self, email: &str, password: &str) -> Reply {
        let body = json!({"email": email, "password": password});
        self.call("POST", "/api/v1/auth/login", None, Some(body)).await
    }

    async fn refresh(&self, refresh_token: &str) -> Reply {
        let body = json!({ "refresh_token": refresh_token });
        self.call("POST", "/api/v1/auth/refresh", None, Some(body)).await
    }

    async fn change_password(&self, token: &str, current: &str, new: &str) -> Reply {
        let body = json!({"current_password": current, "new_password": new});
        self.call("POST", "/api/v1/me/password", Some(token), Some(body))
            .await
    }

    /// A 10-minute share of `video` by `token`'s user.
    async fn share(&self, token: &str, video: Uuid) -> Reply {
        let body = json!({"expires_in_secs": 600});
        self.call(
            "POST",
            &format!("/api/v1/videos/{video}/shares"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// A webhook of `token`'s user to a port nothing listens on (registered: 201).
    async fn webhook(&self, token: &str) -> Reply {
        let body = json!({"url": "http://127.0.0.1:9/hook", "description": "mine"});
        let hook = self
            .call("POST", "/api/v1/webhooks", Some(token), Some(body))
            .await;
        assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
        hook
    }

    /// `DELETE /api/v1/me`, confirmed with `password`.
    async fn close_account(&self, token: &str, password: &str) -> Reply {
        let body = json!({ "password": password });
        self.call("DELETE", "/api/v1/me", Some(token), Some(body)).await
    }

    async fn me(&self, token: &str) -> Reply {
        self.call("GET", "/api/v1/me", Some(token), None).await
    }

    /// Registers a fresh user and returns its access token.
    async fn user(&self) -> (String, Uuid) {
        let reply = self
            .register(
                &format!("u{}@example.com", Uuid::now_v7().simple()),
                "correct horse battery",
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let id = reply.body["user"]["id"].as_str().unwrap().parse().unwrap();
        (reply.body["access_token"].as_str().unwrap().to_owned(), id)
    }

    async fn upload(&self, token: &str, body: Vec<u8>) -> Reply {
        let request = self
            .http
            .post(format!("{}/api/v1/videos", self.base))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .header("X-Fiapx-Filename", "praia.mp4")
            .body(body);
        self.send(request).await
    }

    async fn uploaded(&self, token: &str) -> Uuid {
        let reply = self.upload(token, clip()).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        reply.body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Polls (bounded) until the video is in one of `statuses`.
    async fn wait_for(&self, token: &str, id: Uuid, statuses: &[&str]) -> Value {
        for _ in 0..600 {
            let reply = self
                .call("GET", &format!("/api/v1/videos/{id}"), Some(token), None)
                .await;
            if reply.status == StatusCode::OK
                && statuses.contains(&reply.body["status"].as_str().unwrap_or_default())
            {
                return reply.body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("video {id} never reached {statuses:?}");
    }

    /// Waits (bounded) until the caller's list, which only the read model answers, shows `id` with `status`.
    /// (`GET /videos/{id}` answers from the log before the projector has written the row.)
    async fn wait_listed(&self, token: &str, id: Uuid, status: &str) {
        for _ in 0..600 {
            let reply = self
                .call(
                    "GET",
                    &format!("/api/v1/videos?status={status}"),
                    Some(token),
                    None,
                )
                .await;
            let listed = reply.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|item| item["id"] == id.to_string()));
            if reply.status == StatusCode::OK && listed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("video {id} never listed as {status}");
    }
}

fn clip() -> Vec<u8> {
    common::clip("auth_2s.mp4", "2", "160x120")
}

/// Sends `head` then `body` on a raw connection (nothing more: the body stays open) and reads the answer.
fn raw_exchange(base: &str, head: &str, body: &[u8]) -> String {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    // Up to the end of the JSON body of the answer (the connection may stay open).
    while !answer.ends_with(b"}") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn str_of<'a>(reply: &'a Reply, field: &str) -> &'a str {
    reply.body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {}", reply.body))
}

#[tokio::test]
async fn register_login_refresh_and_logout() {
    let stack = Stack::new().await;
    let app = serve(Which::All, &stack.settings()).await;

    let registered = app
        .register("  Maria.Silva@Example.com ", "correct horse battery")
        .await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    assert_eq!(registered.body["user"]["email"], "maria.silva@example.com");
    assert_eq!(registered.body["user"]["locale"], "pt-BR");
    assert_eq!(registered.body["token_type"], "Bearer");
    let me = app.me(str_of(&registered, "access_token")).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["display_name"], "Maria Silva");

    // The same e-mail in another case is taken; policies and shapes are checked.
    assert_eq!(
        app.register("MARIA.SILVA@example.com", "another good one")
            .await
            .code(),
        "email_taken"
    );
    let weak = app.register("joao@example.com", "short").await;
    assert_eq!(
        (weak.status, weak.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
    assert_eq!(
        app.register("not-an-email", "correct horse battery").await.code(),
        "bad_request"
    );

    // Unknown e-mail and wrong password: one answer.
    let wrong = app.login("maria.silva@example.com", "wrong horse battery").await;
    let unknown = app.login("nobody@example.com", "correct horse battery").await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(wrong.body, unknown.body);

    let login = app
        .login("MARIA.silva@example.com", "correct horse battery")
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let first_refresh = str_of(&login, "refresh_token").to_owned();

    // Rotation: each refresh returns a new pair; the old refresh token is spent.
    let second = app.refresh(&first_refresh).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let second_refresh = str_of(&second, "refresh_token").to_owned();
    assert_ne!(second_refresh, first_refresh);
    let second_access = str_of(&second, "access_token").to_owned();
    assert_eq!(app.me(&second_access).await.status, StatusCode::OK);

    // The spent token again within the grace (a tab reloaded while its renewal was in flight never saw the new
    // pair): another pair of the same session, and the pair it missed keeps working.
    let again = app.refresh(&first_refresh).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let again_refresh = str_of(&again, "refresh_token").to_owned();
    assert_ne!(again_refresh, second_refresh);
    assert_eq!(
        app.me(str_of(&again, "access_token")).await.status,
        StatusCode::OK
    );
    assert_eq!(app.me(&second_access).await.status, StatusCode::OK);

    // Past the grace, reusing a spent refresh token revokes the whole session: every newer refresh and access
    // token too.
    stack
        .db
        .connection()
        .execute_unprepared(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE used_at IS NOT NULL",
        )
        .await
        .unwrap();
    let reused = app.refresh(&first_refresh).await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    assert_eq!(app.refresh(&second_refresh).await.code(), "token_revoked");
    assert_eq!(app.refresh(&again_refresh).await.code(), "token_revoked");
    assert_eq!(app.me(&second_access).await.code(), "token_revoked");
    // Other sessions (the registration's) are untouched.
    assert_eq!(
        app.me(str_of(&registered, "access_token")).await.status,
        StatusCode::OK
    );

    // Logout ends the session at once, twice is fine, and an unknown refresh token is refused.
    let session = app
        .login("maria.silva@example.com", "correct horse battery")
        .await;
    let (access, refresh) = (
        str_of(&session, "access_token"),
        str_of(&session, "refresh_token"),
    );
    let body = json!({ "refresh_token": refresh });
    let out = app
        .call("POST", "/api/v1/auth/logout", None, Some(body.clone()))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call("POST", "/api/v1/auth/logout", None, Some(body))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.me(access).await.code(), "token_revoked");
    assert_eq!(app.refresh(refresh).await.code(), "token_revoked");
    assert_eq!(app.refresh("rt_made_up").await.code(), "invalid_token");
    app.stop().await;
}

#[tokio::test]
async fn missing_malformed_forged_tampered_and_expired_tokens_are_401_with_their_code() {
    let stack = Stack::new().await;
    let settings = stack.settings();
    assert_eq!(settings.auth.clock_skew_secs, 30, "the default leeway");
    let app = serve(Which::All, &settings).await;
    let (token, user) = app.user().await;

    let missing = app.call("GET", "/api/v1/videos", None, None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let forged = RootKey::generate()
        .mint_user(
            UserId::from_uuid(user),
            Uuid::now_v7(),
            SystemTime::now() + Duration::from_secs(600),
        )
        .unwrap();
    let mut tampered = token.clone().into_bytes();
    let at = tampered.len() / 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let expired_ago = |secs| {
        test_root_key()
            .mint_user(
                UserId::from_uuid(user),
                Uuid::now_v7(),
                SystemTime::now() - Duration::from_secs(secs),
            )
            .unwrap()
    };
    // Past the 30 s clock-skew leeway; one that expired 10 s ago is still accepted (another replica's clock may
    // run ahead).
    let expired = expired_ago(60);
    let skewed = expired_ago(10);
    for path in ["/api/v1/videos", "/api/v1/me"] {
        let reply = app.call("GET", path, Some(&skewed), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    }
    for (bad, code) in [
        ("garbage", "invalid_token"),
        (forged.as_str(), "invalid_token"),
        (tampered.as_str(), "invalid_token"),
        (expired.as_str(), "token_expired"),
    ] {
        for path in ["/api/v1/videos", "/api/v1/me"] {
            let reply = app.call("GET", path, Some(bad), None).await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::UNAUTHORIZED, code),
                "{path}"
            );
        }
        // A HEAD (a resumable upload's) has no body: the challenge says why.
        let head = app
            .http
            .head(format!("{}/api/v1/uploads/{}", app.base, Uuid::now_v7()))
            .bearer_auth(bad)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::UNAUTHORIZED);
        let challenge = head.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(&format!("error_description=\"{code}\"")),
            "{challenge}"
        );
    }
    // The real token works, in the header or (for EventSource and links) in the query.
    assert_eq!(
        app.call("GET", "/api/v1/videos", Some(&token), None).await.status,
        StatusCode::OK
    );
    let query = app
        .send(
            app.http
                .get(format!("{}/api/v1/videos", app.base))
                .query(&[("access_token", &token)]),
        )
        .await;
    assert_eq!(query.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn someone_elses_video_is_404_on_every_endpoint_and_shares_read_one_video_only() {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    // The share below expires to the second.
    settings.auth.clock_skew_secs = 0;
    let app = serve(Which::All, &settings).await;
    let (alice, alice_id) = app.user().await;
    let (bob, _) = app.user().await;
    let video = app.uploaded(&alice).await;
    let other = app.uploaded(&alice).await;
    app.wait_for(&alice, video, &["completed"]).await;

    let endpoints = [
        ("GET", format!("/api/v1/videos/{video}"), None),
        ("GET", format!("/api/v1/videos/{video}/timeline"), None),
        ("GET", format!("/api/v1/videos/{video}/download"), None),
        ("GET", format!("/api/v1/videos/{video}/events"), None),
        ("POST", format!("/api/v1/videos/{video}/reprocess"), None),
        ("DELETE", format!("/api/v1/videos/{video}"), None),
        (
            "POST",
            format!("/api/v1/videos/{video}/shares"),
            Some(json!({"expires_in_secs": 600})),
        ),
    ];
    for (method, path, body) in &endpoints {
        let reply = app.call(method, path, Some(&bob), body.clone()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
    }
    let listed = app.call("GET", "/api/v1/videos", Some(&bob), None).await;
    assert_eq!(listed.body["items"], json!([]), "bob sees nothing of alice's");

    // Alice shares one video.
    let share = app.share(&alice, video).await;
    assert_eq!(share.status, StatusCode::CREATED, "{}", share.body);
    let token = str_of(&share, "token").to_owned();
    for path in [
        format!("/api/v1/videos/{video}"),
        format!("/api/v1/videos/{video}/timeline"),
    ] {
        assert_eq!(
            app.call("GET", &path, Some(&token), None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let download = app
        .send(
            app.http
                .get(format!("{}{}", app.base, str_of(&share, "download_path"))),
        )
        .await;
    assert_eq!(download.status, StatusCode::FOUND, "the share link downloads");
    let live = app
        .http
        .get(format!(
            "{}/api/v1/videos/{video}/events?access_token={token}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK, "live status over SSE");
    drop(live);

    // ... and nothing else, even with blocks appended by its holder.
    let widened = Biscuit::from_base64(&token, test_root_key().public())
        .unwrap()
        .append(block!(
            r#"user({u}); share({o}); operation("write");"#,
            u = alice_id.to_string(),
            o = other.to_string()
        ))
        .unwrap()
        .to_base64()
        .unwrap();
    for token in [&token, &widened] {
        for (method, path, body) in [
            ("GET", format!("/api/v1/videos/{other}"), None),
            ("GET", format!("/api/v1/videos/{other}/download"), None),
            ("POST", format!("/api/v1/videos/{video}/reprocess"), None),
            ("DELETE", format!("/api/v1/videos/{video}"), None),
            (
                "POST",
                format!("/api/v1/videos/{video}/shares"),
                Some(json!({"expires_in_secs": 600})),
            ),
        ] {
            let reply = app.call(method, &path, Some(token), body).await;
            assert_eq!(reply.code(), "not_found", "{method} {path}");
        }
        for (method, path) in [
            ("GET", "/api/v1/videos"),
            ("GET", "/api/v1/me"),
            ("GET", "/api/v1/events"),
        ] {
            let reply = app.call(method, path, Some(token), None).await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{path}"
            );
        }
        let upload = app.upload(token, clip()).await;
        assert_eq!(upload.code(), "forbidden");
    }

    // A share stops at its expiry (minted here with a three-second life; the API's minimum is a minute).
    let short = test_root_key()
        .mint_share(
            UserId::from_uuid(alice_id),
            VideoId::from_uuid(video),
            SystemTime::now() + Duration::from_secs(3),
        )
        .unwrap()
        .token;
    let path = format!("/api/v1/videos/{video}");
    assert_eq!(
        app.call("GET", &path, Some(&short), None).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        app.call("GET", &path, Some(&short), None).await.code(),
        "token_expired"
    );
    let too_long = app
        .call(
            "POST",
            &format!("/api/v1/videos/{video}/shares"),
            Some(&alice),
            Some(json!({"expires_in_secs": 31 * 24 * 3600})),
        )
        .await;
    assert_eq!(too_long.code(), "bad_request");
    app.stop().await;
}

#[tokio::test]
async fn login_and_register_limits_trigger_with_retry_after_and_release() {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.auth.limits = LimitSettings {
        login_attempts_per_email: 3,
        login_attempts_per_client: 8,
        login_window_secs: 3,
        register_attempts_per_client: 2,
        register_window_secs: 2,
    };
    let app = serve(Which::All, &settings).await;
    let email = "ana@example.com";
    assert_eq!(
        app.register(email, "correct horse battery").await.status,
        StatusCode::CREATED
    );
    // Quick wrong attempts for one e-mail run into its limit (3 per 3 s) after about 3; bounded, no timing.
    let mut limited = None;
    for _ in 0..10 {
        let reply = app.login(email, "wrong horse battery").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
        assert_eq!(reply.code(), "invalid_credentials");
    }
    let limited = limited.expect("the per-e-mail limit triggers");
    assert_eq!(limited.code(), "rate_limited");
    let wait: u64 = limited.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=3).contains(&wait), "{wait}");
    // Another e-mail from the same client still has budget.
    assert_eq!(
        app.login("other@example.com", "whatever it is").await.code(),
        "invalid_credentials"
    );
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    assert_eq!(
        app.login(email, "correct horse battery").await.status,
        StatusCode::OK,
        "released"
    );
    // The client budget: 8 per window across e-mails; quick attempts with fresh e-mails exhaust it.
    let mut codes = Vec::new();
    for i in 0..20 {
        let code = app
            .login(&format!("x{i}@example.com"), "whatever it is")
            .await
            .code()
            .to_owned();
        let limited = code == "rate_limited";
        codes.push(code);
        if limited {
            break;
        }
    }
    assert_eq!(
        codes.last().map(String::as_str),
        Some("rate_limited"),
        "{codes:?}"
    );

    // Registration: 2 per 2 s per client; quick registrations run into it.
    let mut statuses = Vec::new();
    for i in 0..10 {
        let status = app
            .register(&format!("r{i}@example.com"), "correct horse battery")
            .await
            .status;
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_it_is_buffered_and_uploads_keep_their_own_limit_and_every_answer_has_security_headers()
 {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.http.max_body_bytes = 64 * 1024;
    let app = serve(Which::All, &settings).await;
    let email = "rui@example.com";
    let registered = app.register(email, "correct horse battery").await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let token = registered.body["access_token"].as_str().unwrap().to_owned();

    // Declared: refused before a byte is read.
    let declared = app
        .send(
            app.http
                .post(format!("{}/api/v1/auth/login", app.base))
                .header("content-type", "application/json")
                .body(vec![b' '; 64 * 1024 + 1]),
        )
        .await;
    assert_eq!(
        (declared.status, declared.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );

    // Chunked, and never finished: the server stops at the limit and answers without waiting for the rest.
    let base = app.base.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut chunks = Vec::new();
        for _ in 0..9 {
            chunks.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
            chunks.extend_from_slice(&[b' '; 8192]);
            chunks.extend_from_slice(b"\r\n");
        }
        raw_exchange(
            &base,
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            &chunks,
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"too_large\""), "{answer}");

    // Within the limit all works; the uploads take bodies far over it.
    assert_eq!(
        app.login(email, "correct horse battery").await.status,
        StatusCode::OK
    );
    assert_eq!(app.upload(&token, clip()).await.status, StatusCode::ACCEPTED);
    let data = clip();
    let created = app
        .http
        .post(format!("{}/api/v1/uploads", app.base))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patched = app
        .http
        .patch(format!("{}{location}", app.base))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert!(data.len() > 64 * 1024);
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    assert_eq!(patched.headers()["tus-resumable"], "1.0.0");
    // Every answer, the APIs' and the web app's, carries the security headers and the app's policy (images also
    // from the storage's origin); the API docs, whose scripts are inline, carry their own: those scripts' hashes.
    let page = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    let policy = fiapx::web::content_security_policy(&settings.s3)
        .unwrap()
        .to_string();
    assert!(
        policy.contains(&format!(
            "img-src 'self' data: {}",
            settings.s3.endpoint.trim_end_matches('/')
        )),
        "{policy}"
    );
    for response in [&patched, &page] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["content-security-policy"], policy.as_str());
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    }
    let docs = app
        .http
        .get(format!("{}/api/docs", app.base))
        .send()
        .await
        .unwrap();
    let docs_policy = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(docs_policy.contains("script-src 'sha256-"), "{docs_policy}");
    assert!(!docs_policy.contains("unsafe"), "{docs_policy}");
    assert_eq!(docs.headers()["x-frame-options"], "DENY");
    assert_eq!(
        patched.headers()["upload-offset"],
        data.len().to_string().as_str()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_with_too_many_videos_in_flight_gets_429_until_one_finishes() {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.upload = UploadSettings {
        max_videos_in_flight: 1,
        in_flight_retry_after_secs: 7,
        ..UploadSettings::default()
    };
    // Auth, upload and query, and the projector, but no processor: uploads stay queued.
    let auth = serve(Which::Auth, &settings).await;
    let upload = serve(Which::Upload, &settings).await;
    let query = serve(Which::Query, &settings).await;
    let projector = serve(Which::Projector, &settings).await;
    let (token, _) = auth.user().await;
    let first = upload.uploaded(&token).await;
    // The place is taken at admission (NATS KV), not when the read model catches up.
    query.wait_listed(&token, first, "queued").await;
    let refused = upload.upload(&token, clip()).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(refused.retry_after.as_deref(), Some("7"));
    // Someone else is not limited by it.
    let (other, _) = auth.user().await;
    assert_eq!(upload.upload(&other, clip()).await.status, StatusCode::ACCEPTED);
    // Once the first finishes (here: deleted), the user may upload again.
    let deleted = upload
        .call("DELETE", &format!("/api/v1/videos/{first}"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let mut accepted = false;
    for _ in 0..100 {
        if upload.upload(&token, clip()).await.status == StatusCode::ACCEPTED {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the place is free once the video is deleted");
    for app in [auth, upload, query, projector] {
        app.stop().await;
    }
}

fn fiapx_cli(stack: &Stack, args: &[&str], stdin: Option<&str>) -> String {
    let settings = stack.settings();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fiapx"));
    command
        .args(args)
        .env("FIAPX_NATS_URL", &settings.nats.url)
        .env("FIAPX_DATABASE_URL", &settings.database.url)
        .env("FIAPX__AUTH__ARGON2__MEMORY_KIB", "1024")
        .env("FIAPX__AUTH__ARGON2__ITERATIONS", "1")
        .env_remove("FIAPX_NEW_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("fiapx binary");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "fiapx {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn operators_add_list_and_disable_users_with_the_cli() {
    let stack = Stack::new().await;
    let app = serve(Which::All, &stack.settings()).await;
    let out = fiapx_cli(
        &stack,
        &[
            "users",
            "add",
            "--email",
            "Op@Example.com",
            "--name",
            "Operator",
            "--locale",
            "pt-BR",
        ],
        Some("correct horse battery\n"),
    );
    assert!(out.contains("op@example.com"), "{out}");
    let login = app.login("op@example.com", "correct horse battery").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let access = str_of(&login, "access_token").to_owned();
    let refresh = str_of(&login, "refresh_token").to_owned();
    let listed = fiapx_cli(&stack, &["users", "list"], None);
    assert!(
        listed.contains("op@example.com\tOperator\tpt-BR\tactive"),
        "{listed}"
    );

    fiapx_cli(&stack, &["users", "disable", "op@example.com"], None);
    // The server learns of it through the revocation bucket: bounded wait, no timing asserted.
    let mut code = String::new();
    for _ in 0..50 {
        code = app.me(&access).await.body["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if code == "token_revoked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code, "token_revoked");
    assert_eq!(app.refresh(&refresh).await.code(), "token_revoked");
    assert_eq!(
        app.login("op@example.com", "correct horse battery").await.code(),
        "invalid_credentials"
    );
    assert!(fiapx_cli(&stack, &["users", "list"], None).contains("\tdisabled\t"));

    fiapx_cli(&stack, &["users", "enable", "op@example.com"], None);
    let again = app.login("op@example.com", "correct horse battery").await;
    assert_eq!(again.status, StatusCode::OK);
    // A new sign-in works once the server has seen the enable (bounded wait) ...
    let fresh = str_of(&again, "access_token").to_owned();
    let mut status = StatusCode::UNAUTHORIZED;
    for _ in 0..50 {
        status = app.me(&fresh).await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "a token minted after the enable works");
    // ... and what was issued before the disable stays revoked: re-enabling revives nothing.
    assert_eq!(app.me(&access).await.code(), "token_revoked");
    assert_eq!(app.refresh(&refresh).await.code(), "token_revoked");
    app.stop().await;
}

#[tokio::test]
async fn changing_the_password_checks_the_current_one_and_ends_every_other_session() {
    let stack = Stack::new().await;
    let app = serve(Which::All, &stack.settings()).await;
    let email = "pat@example.com";
    let here = app.register(email, "correct horse battery").await;
    assert_eq!(here.status, StatusCode::CREATED, "{}", here.body);
    let elsewhere = app.login(email, "correct horse battery").await;
    let (token, other_token) = (str_of(&here, "access_token"), str_of(&elsewhere, "access_token"));

    let wrong = app
        .change_password(token, "not the password", "a brand new secret")
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(wrong.body["message"], "the current password is not right");
    let weak = app.change_password(token, "correct horse battery", "short").await;
    assert_eq!(
        (weak.status, weak.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
    assert_eq!(
        app.me(other_token).await.status,
        StatusCode::OK,
        "refused changes end nothing"
    );

    let done = app
        .change_password(token, "correct horse battery", "a brand new secret")
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    assert_eq!(
        app.me(token).await.status,
        StatusCode::OK,
        "the asking session stays"
    );
    assert_eq!(
        app.refresh(str_of(&here, "refresh_token")).await.status,
        StatusCode::OK
    );
    assert_eq!(app.me(other_token).await.code(), "token_revoked");
    assert_eq!(
        app.refresh(str_of(&elsewhere, "refresh_token")).await.code(),
        "token_revoked"
    );
    assert_eq!(
        app.login(email, "correct horse battery").await.code(),
        "invalid_credentials"
    );
    assert_eq!(
        app.login(email, "a brand new secret").await.status,
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn shares_are_listed_without_their_tokens_and_a_revoked_one_stops_at_once_even_live() {
    let stack = Stack::new().await;
    let app = serve(Which::All, &stack.settings()).await;
    let (alice, _) = app.user().await;
    let (bob, _) = app.user().await;
    let video = app.uploaded(&alice).await;
    app.wait_listed(&alice, video, "completed").await;
    let shares = format!("/api/v1/videos/{video}/shares");
    let mut created = Vec::new();
    for _ in 0..2 {
        let share = app.share(&alice, video).await;
        assert_eq!(share.status, StatusCode::CREATED, "{}", share.body);
        created.push((
            str_of(&share, "id").to_owned(),
            str_of(&share, "token").to_owned(),
        ));
    }
    let listed = app.call("GET", &shares, Some(&alice), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [created[1].0.as_str(), created[0].0.as_str()],
        "newest first"
    );
    assert!(
        items
            .iter()
            .all(|s| s["active"] == true && s["revoked_at"].is_null())
    );
    assert!(
        !listed.body.to_string().contains(&created[0].1),
        "no token in the list"
    );
    // Someone else cannot list or revoke them.
    assert_eq!(
        app.call("GET", &shares, Some(&bob), None).await.code(),
        "not_found"
    );
    let first = format!("{shares}/{}", created[0].0);
    assert_eq!(
        app.call("DELETE", &first, Some(&bob), None).await.code(),
        "not_found"
    );
    // A share token cannot manage shares.
    assert_eq!(
        app.call("GET", &shares, Some(&created[0].1), None).await.code(),
        "not_found"
    );

    // A live stream opened with the first share ...
    let mut live = app
        .http
        .get(format!(
            "{}/api/v1/videos/{video}/events?access_token={}",
            app.base, created[0].1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert!(live.chunk().await.unwrap().is_some(), "the first status arrives");

    let revoked = app.call("DELETE", &first, Some(&alice), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    let video_path = format!("/api/v1/videos/{video}");
    assert_eq!(
        app.call("GET", &video_path, Some(&created[0].1), None)
            .await
            .code(),
        "token_revoked",
        "revoked at once in this process"
    );
    // ... ends within a few seconds (re-checked every second), instead of staying open.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while live.chunk().await.unwrap_or(None).is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the revoked share's live stream is still open");

    // The other share still works; revoking again is not an error; an unknown share is 404.
    assert_eq!(
        app.call("GET", &video_path, Some(&created[1].1), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call("DELETE", &first, Some(&alice), None).await.status,
        StatusCode::NO_CONTENT
    );
    let unknown = format!("{shares}/{}", Uuid::now_v7());
    assert_eq!(
        app.call("DELETE", &unknown, Some(&alice), None).await.code(),
        "not_found"
    );
    let listed = app.call("GET", &shares, Some(&alice), None).await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items[1]["active"], false);
    assert!(items[1]["revoked_at"].is_string());
    assert_eq!(items[0]["active"], true);
    app.stop().await;
}

/// A `MakeWriter` that keeps everything written, for reading the logs back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_password_hash_or_token_ever_reaches_the_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace,h2=info,hyper=info,rustls=info")
        .json()
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test process");

    let stack = Stack::new().await;
    let mut settings = stack.settings();
    // The reuse below must be taken for a stolen copy (and logged as such), not a reloaded page.
    settings.auth.refresh_reuse_grace_secs = 0;
    let app = serve(Which::All, &settings).await;
    let password = "S3cret-Passw0rd-Unique";
    let registered = app.register("logcheck@example.com", password).await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let wrong = app.login("logcheck@example.com", "Wrong-Passw0rd-Unique").await;
    assert_eq!(wrong.code(), "invalid_credentials");
    let login = app.login("logcheck@example.com", password).await;
    let refreshed = app.refresh(str_of(&login, "refresh_token")).await;
    let reused = app.refresh(str_of(&login, "refresh_token")).await;
    assert_eq!(reused.code(), "token_revoked");
    let access = str_of(&refreshed, "access_token");
    app.call("GET", "/api/v1/videos", Some(access), None).await;
    app.send(
        app.http
            .get(format!("{}/api/v1/videos", app.base))
            .query(&[("access_token", access)]),
    )
    .await;
    app.call("GET", "/api/v1/videos", Some("forged-garbage-token-value"), None)
        .await;
    let body = json!({ "refresh_token": str_of(&refreshed, "refresh_token") });
    app.call("POST", "/api/v1/auth/logout", None, Some(body)).await;
    app.stop().await;

    let hash: String = stack
        .db
        .value(
            "SELECT password_hash FROM users WHERE email = 'logcheck@example.com'",
            "password_hash",
        )
        .await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("signed in"),
        "the logs were captured: {} bytes",
        logs.len()
    );
    let secrets = [
        password.to_owned(),
        "Wrong-Passw0rd-Unique".to_owned(),
        hash.clone(),
        hash.split('$').next_back().unwrap().to_owned(),
        str_of(&registered, "access_token").to_owned(),
        str_of(&registered, "refresh_token").to_owned(),
        str_of(&login, "access_token").to_owned(),
        str_of(&login, "refresh_token").to_owned(),
        access.to_owned(),
        str_of(&refreshed, "refresh_token").to_owned(),
        test_root_key().private_hex(),
    ];
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret leaked into the logs");
    }
    // Tokens are long; a prefix is enough to catch a truncated leak too.
    for token in &secrets[4..10] {
        assert!(
            !logs.contains(&token[..24]),
            "a token prefix leaked into the logs"
        );
    }
}

#[tokio::test]
async fn an_account_export_holds_all_of_the_users_data_and_no_secret() {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.notifier.allow_insecure_webhooks = true;
    let app = serve(Which::All, &settings).await;
    let (alice, alice_id) = app.user().await;
    let (bob, _) = app.user().await;
    let video = app.uploaded(&alice).await;
    let bobs = app.uploaded(&bob).await;
    app.wait_listed(&alice, video, "completed").await;
    let share = app.share(&alice, video).await;
    assert_eq!(share.status, StatusCode::CREATED, "{}", share.body);
    let hook = app.webhook(&alice).await;

    let response = app
        .http
        .get(format!("{}/api/v1/me/export", app.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"fiapx-account-"),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["format"], 1);
    assert_eq!(export["user"]["id"], alice_id.to_string());
    let videos = export["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "only hers: {text}");
    assert_eq!(videos[0]["video"]["id"], video.to_string());
    assert_eq!(
        strings(&videos[0]["timeline"], "event_type"),
        ["uploaded", "processing_started", "completed"]
    );
    assert_eq!(export["shares"][0]["id"], share.body["id"]);
    assert_eq!(
        export["notifications"]["webhooks"][0]["url"],
        "http://127.0.0.1:9/hook"
    );
    assert_eq!(export["notifications"]["preferences"]["email_on_failure"], true);
    for secret in [str_of(&share, "token"), str_of(&hook, "secret"), "argon2", "rt_"] {
        assert!(!text.contains(secret), "the export holds {secret}");
    }
    assert!(
        !text.contains(&bobs.to_string()),
        "the export holds someone else's video"
    );

    // A share token reads one video, not an account.
    let shared = app
        .call("GET", "/api/v1/me/export", Some(str_of(&share, "token")), None)
        .await;
    assert_eq!(shared.status, StatusCode::FORBIDDEN, "{}", shared.body);
    app.stop().await;
}

#[tokio::test]
async fn closing_an_account_removes_its_videos_log_rows_and_webhooks_and_ends_its_tokens() {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.notifier.allow_insecure_webhooks = true;
    let app = serve(Which::All, &settings).await;
    let (email, password) = ("closing@example.com", "correct horse battery");
    let registered = app.register(email, password).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    let alice = str_of(&registered, "access_token").to_owned();
    let (bob, _) = app.user().await;
    let video = app.uploaded(&alice).await;
    let bobs = app.uploaded(&bob).await;
    app.wait_listed(&alice, video, "completed").await;
    app.webhook(&alice).await;

    let wrong = app.close_account(&alice, "wrong horse battery").await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(
        app.me(&alice).await.status,
        StatusCode::OK,
        "a wrong password changes nothing"
    );

    let closed = app.close_account(&alice, password).await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT, "{}", closed.body);
    assert_eq!(app.me(&alice).await.code(), "token_revoked");
    assert_eq!(app.login(email, password).await.code(), "invalid_credentials");

    // Storage: nothing of her video; Bob's source is there.
    let keys = stack.bucket.keys().await;
    assert!(!keys.iter().any(|k| k.contains(&video.to_string())), "{keys:?}");
    assert!(
        keys.contains(&fiapx_storage::source_key(VideoId::from_uuid(bobs))),
        "{keys:?}"
    );
    // The deletion is an event of its own; the read model has no row now.
    let store = fiapx_nats::JetStreamEventStore::new(stack.nats.client.clone(), &stack.nats.settings);
    let log = store.load(VideoId::from_uuid(video)).await.unwrap();
    assert_eq!(log.events.last().map(|e| e.event.event_type()), Some("deleted"));
    let db = stack.db.connection();
    let row = fiapx_projections::entity::video::Entity::find_by_id(video)
        .one(db)
        .await
        .unwrap();
    assert!(row.is_none(), "{row:?}");
    let hooks = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM webhooks",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(hooks, 0);

    // Bob's video is untouched, and the e-mail address is free again.
    app.wait_for(&bob, bobs, &["completed"]).await;
    assert_eq!(app.register(email, password).await.status, StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn a_connection_that_goes_silent_is_closed_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.http.idle_timeout_secs = 2;
    let app = serve(Which::Auth, &settings).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Half a request, then silence (a slow client holding the connection).
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    silent
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = [0_u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(15), silent.read(&mut buffer))
        .await
        .expect("the server closes the silent connection");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed, nothing answered: {read:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "not before the timeout: {waited:?}"
    );
    // A connection that keeps talking is served as before.
    let reply = app.call("GET", "/api/v1/me", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn uploads_are_accepted_while_postgresql_is_unreachable_and_projected_once_it_is_back() {
    let stack = Stack::new().await;
    let settings = stack.settings();
    let auth = serve(Which::Auth, &settings).await;
    let (token, _) = auth.user().await;
    // The command side with a database that does not answer (nothing listens on the port).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let mut without_db = settings.clone();
    without_db.database.url = format!("postgres://fiapx:fiapx@127.0.0.1:{port}/fiapx");
    without_db.upload.max_videos_in_flight = 2;
    let upload = serve(Which::Upload, &without_db).await;
    let first = upload.uploaded(&token).await;
    let second = upload.uploaded(&token).await;
    // The in-flight limit holds without it too.
    let third = upload.upload(&token, clip()).await;
    assert_eq!(
        (third.status, third.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Delete works as well, and frees a place.
    let deleted = upload
        .call("DELETE", &format!("/api/v1/videos/{second}"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let fourth = upload.uploaded(&token).await;

    // The read side, started with the database, catches up from the log.
    let projector = serve(Which::Projector, &settings).await;
    let query = serve(Which::Query, &settings).await;
    query.wait_listed(&token, first, "queued").await;
    query.wait_listed(&token, fourth, "queued").await;
    for app in [auth, upload, projector, query] {
        app.stop().await;
    }
}

#[tokio::test]
async fn live_streams_and_upload_bodies_at_once_are_capped_per_user_and_per_address() {
    let stack = Stack::new().await;
    let mut settings = stack.settings();
    settings.http.live_streams_per_user = 2;
    settings.http.live_streams_per_client = 3;
    settings.upload.concurrent_per_client = 1;
    let auth = serve(Which::Auth, &settings).await;
    let query = serve(Which::Query, &settings).await;
    let upload = serve(Which::Upload, &settings).await;
    let (maria, _) = auth.user().await;
    let (joao, _) = auth.user().await;
    let open = |token: &str| {
        query
            .http
            .get(format!("{}/api/v1/events", query.base))
            .bearer_auth(token)
            .send()
    };
    let first = open(&maria).await.unwrap();
    let second = open(&maria).await.unwrap();
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    // A third of the same user: 429, whatever the address.
    let third = query.call("GET", "/api/v1/events", Some(&maria), None).await;
    assert_eq!(
        (third.status, third.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(third.retry_after.as_deref(), Some("15"));
    assert!(
        third.body["message"].as_str().unwrap().contains("this account"),
        "{}",
        third.body
    );
    // Another user from the same address: one more fits under the address's cap of 3, then 429.
    let joaos = open(&joao).await.unwrap();
    assert_eq!(joaos.status(), StatusCode::OK);
    let over = query.call("GET", "/api/v1/events", Some(&joao), None).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        over.body["message"].as_str().unwrap().contains("this address"),
        "{}",
        over.body
    );
    // A closed stream gives its place back once the server sees the connection go: at the latest when its next
    // keep-alive (every 15 s) finds no one to write to.
    drop(first);
    let mut reopened = None;
    for _ in 0..300 {
        let response = open(&maria).await.unwrap();
        if response.status() == StatusCode::OK {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "the closed stream's place never came back");

    // Upload bodies: one at a time from this address, whoever sends it.
    let (body, rest) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    body.unbounded_send(Ok(clip())).unwrap();
    let slow = upload
        .http
        .post(format!("{}/api/v1/videos", upload.base))
        .bearer_auth(&maria)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(rest))
        .send();
    let other = async {
        let mut refused = None;
        for _ in 0..100 {
            let reply = upload.upload(&joao, clip()).await;
            if reply.status == StatusCode::TOO_MANY_REQUESTS {
                refused = Some(reply);
                break;
            }
            // Sent before the slow one took its place.
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(body);
        refused
    };
    let (slow, refused) = futures::join!(slow, other);
    let refused = refused.expect("a second upload body from the address is refused");
    assert_eq!(refused.code(), "rate_limited");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("uploads at once from this address"),
        "{}",
        refused.body
    );
    assert_eq!(slow.unwrap().status(), StatusCode::ACCEPTED);
    // Its place is back.
    assert_eq!(upload.upload(&joao, clip()).await.status, StatusCode::ACCEPTED);
    drop((second, joaos, reopened));
    for app in [auth, query, upload] {
        app.stop().await;
    }
}
