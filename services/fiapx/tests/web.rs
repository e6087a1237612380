//! The web app served next to the APIs: files of the build, SPA fallback to index.html, cache headers, 404s that
//! stay the APIs' JSON, the hint when the build is missing, and the security headers with the app's
//! Content-Security-Policy on every answer.

use fiapx::web::{IMMUTABLE, NO_CACHE, content_security_policy, with_web_app};
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use poem::{EndpointExt as _, Route, get, handler};

const INDEX: &str = "<!doctype html><title>FIAP X</title><script src=\"/assets/index-abc123.js\"></script>";
const SCRIPT: &str = "console.log('fiapx');";

/// A build directory like Vite's, with a secret file next to it that must never be served.
fn build() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let dist = root.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).expect("dirs");
    std::fs::write(dist.join("index.html"), INDEX).expect("index");
    std::fs::write(dist.join("assets/index-abc123.js"), SCRIPT).expect("script");
    std::fs::write(dist.join("robots.txt"), "User-agent: *\n").expect("robots");
    std::fs::write(root.path().join("secret.txt"), "secret").expect("secret");
    root
}

fn client(dir: &std::path::Path) -> TestClient<impl poem::Endpoint + use<>> {
    // Shaped like `fiapx::http_app`: an API under /api/v1, /healthz, framework errors as the API's JSON.
    let app = Route::new()
        .at("/api/v1/videos", get(videos))
        .at("/healthz", get(healthz))
        .catch_all_error(fiapx_http::json_error);
    TestClient::new(with_web_app(app, dir).boxed())
}

#[handler]
fn videos() -> &'static str {
    "[]"
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[tokio::test]
async fn serves_the_build_with_spa_fallback_and_cache_headers() {
    let root = build();
    let cli = client(&root.path().join("dist"));

    for path in [
        "/",
        "/index.html",
        "/videos/0193a8f2-0000-7000-8000-00000000beef",
        "/share/x",
        "/settings",
    ] {
        let response = cli.get(path).send().await;
        response.assert_status_is_ok();
        response.assert_header("cache-control", NO_CACHE);
        response.assert_content_type("text/html; charset=utf-8");
        response.assert_text(INDEX).await;
    }

    let response = cli.get("/assets/index-abc123.js").send().await;
    response.assert_status_is_ok();
    response.assert_header("cache-control", IMMUTABLE);
    response.assert_content_type("text/javascript; charset=utf-8");
    response.assert_text(SCRIPT).await;

    let response = cli.get("/robots.txt").send().await;
    response.assert_status_is_ok();
    response.assert_header("cache-control", NO_CACHE);

    // A revalidation of an unchanged index is a 304.
    let first = cli.get("/").send().await;
    let etag = first
        .0
        .headers()
        .get("etag")
        .expect("etag")
        .to_str()
        .expect("ascii")
        .to_owned();
    let again = cli.get("/").header("if-none-match", etag.as_str()).send().await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    again.assert_header("cache-control", NO_CACHE);

    // HEAD answers like GET, without a body.
    let head = cli.request(Method::HEAD, "/videos/1").send().await;
    head.assert_status_is_ok();
    head.assert_text("").await;
}

#[tokio::test]
async fn api_paths_missing_assets_and_other_methods_are_not_the_web_apps() {
    let root = build();
    let cli = client(&root.path().join("dist"));

    let response = cli.get("/api/v1/nope").send().await;
    response.assert_status(StatusCode::NOT_FOUND);
    response
        .assert_json(serde_json::json!({"code": "not_found", "message": "not found"}))
        .await;

    let response = cli.get("/api").send().await;
    response.assert_status(StatusCode::NOT_FOUND);

    // `/metrics` has a listener of its own: here it is the APIs' 404, never index.html.
    let response = cli.get("/metrics").send().await;
    response.assert_status(StatusCode::NOT_FOUND);
    response
        .assert_json(serde_json::json!({"code": "not_found", "message": "not found"}))
        .await;

    // A stale hashed asset must fail, not run index.html as a script.
    cli.get("/assets/index-old999.js")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);

    // The APIs keep answering, operational endpoints too.
    cli.get("/api/v1/videos").send().await.assert_text("[]").await;
    let response = cli.get("/healthz").send().await;
    response.assert_status_is_ok();
    response.assert_text("ok").await;

    // Only GET and HEAD reach the web app.
    let response = cli.post("/videos/1").send().await;
    assert_ne!(response.0.status(), StatusCode::OK);

    // Nothing outside the build directory is served, however the path is spelled.
    for path in [
        "/../secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let response = cli.get(path).send().await;
        let status = response.0.status();
        let body = response.0.into_body().into_string().await.expect("body");
        assert!(
            !body.contains("secret") || body == INDEX,
            "{path}: {status} {body}"
        );
        assert_ne!(body, "secret", "{path}");
    }
}

#[tokio::test]
async fn without_a_build_the_apis_work_and_the_root_says_how_to_build() {
    let root = tempfile::tempdir().expect("temp dir");
    let cli = client(&root.path().join("missing"));

    let response = cli.get("/").send().await;
    response.assert_status_is_ok();
    response.assert_content_type("text/html; charset=utf-8");
    let text = response.0.into_body().into_string().await.expect("body");
    assert!(
        text.contains("not built") && text.contains("npm run build"),
        "{text}"
    );

    cli.get("/videos/1")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    cli.get("/healthz").send().await.assert_status_is_ok();
    cli.get("/api/v1/nope")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    cli.get("/api/v1/videos").send().await.assert_text("[]").await;
}

#[handler]
fn own_policy() -> poem::Response {
    poem::Response::builder()
        .header(
            "content-security-policy",
            "default-src 'none'; script-src 'sha256-x'",
        )
        .body("docs")
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_the_apps_policy_with_the_storages_origin() {
    let root = build();
    // Frames are redirects to presigned URLs on the storage's endpoint: its origin, from the settings.
    let storage = fiapx_storage::S3Settings {
        endpoint: "https://objects.example.com:9000/".into(),
        ..Default::default()
    };
    let policy = content_security_policy(&storage).expect("policy");
    let app = Route::new()
        .at("/api/v1/videos", get(videos))
        .at("/api/docs", get(own_policy))
        .at("/healthz", get(healthz))
        .catch_all_error(fiapx_http::json_error);
    let cli = TestClient::new(fiapx_http::with_security_headers(
        with_web_app(app, root.path().join("dist")),
        &policy,
    ));
    let expected = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
                    script-src 'self'; style-src 'self'; img-src 'self' data: https://objects.example.com:9000; \
                    connect-src 'self'";
    let answers = [
        ("the app's page", Method::GET, "/", StatusCode::OK),
        ("a path of the app", Method::GET, "/videos/1", StatusCode::OK),
        ("a HEAD of a page", Method::HEAD, "/settings", StatusCode::OK),
        ("an asset", Method::GET, "/assets/index-abc123.js", StatusCode::OK),
        ("the API's JSON", Method::GET, "/api/v1/videos", StatusCode::OK),
        ("an operational endpoint", Method::GET, "/healthz", StatusCode::OK),
        (
            "an API error",
            Method::DELETE,
            "/api/v1/videos",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("an API 404", Method::GET, "/api/v1/nope", StatusCode::NOT_FOUND),
        (
            "a missing asset",
            Method::GET,
            "/assets/index-old999.js",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (what, method, path, status) in answers {
        let response = cli.request(method, path).send().await;
        assert_eq!(response.0.status(), status, "{what}");
        let headers = response.0.headers();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", expected),
        ] {
            assert_eq!(
                headers.get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{what}: {name}"
            );
        }
    }
    // A page with a policy of its own (the API docs) keeps it, and gets the other headers.
    let docs = cli.get("/api/docs").send().await;
    docs.assert_header(
        "content-security-policy",
        "default-src 'none'; script-src 'sha256-x'",
    );
    docs.assert_header("x-content-type-options", "nosniff");
}

#[test]
fn a_storage_endpoint_with_no_origin_is_refused() {
    for endpoint in ["objects.example.com", "ftp://objects.example.com", ""] {
        let storage = fiapx_storage::S3Settings {
            endpoint: endpoint.into(),
            ..Default::default()
        };
        assert!(content_security_policy(&storage).is_err(), "{endpoint:?}");
    }
}
