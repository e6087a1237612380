//! `fiapx serve ...`: builds the chosen services and runs them until SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use fiapx_auth::{Accounts, AuthApi, Passwords};
use fiapx_http::{IdleTimeout, access_token_from_query};
use fiapx_identity::{Revocations, TokenVerifier};
use fiapx_nats::{CommandHandler, JetStreamEventStore, VideoCallbacks, provision};
use fiapx_notifier::{Notifier, NotifierApi};
use fiapx_processor::Processor;
use fiapx_projections::Projector;
use fiapx_query::QueryApi;
use fiapx_storage::Storage;
use fiapx_upload::UploadApi;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::endpoint::BoxEndpoint;
use std::convert::Infallible;

use poem::listener::{Acceptor, Listener as _, TcpListener};
use poem::{EndpointExt, Route, Server, get, handler, web::Data};
use poem_openapi::OpenApiService;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::account::AccountApi;
use crate::config::{HttpSettings, Settings};

/// Which services one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Which {
    /// The upload (command) HTTP API.
    Upload,
    /// The query (read) HTTP API with live status.
    Query,
    /// Frame extraction workers.
    Processor,
    /// Read-model projector.
    Projector,
    /// Notifications (e-mail, webhooks) and their HTTP API.
    Notifier,
    /// Accounts, sessions and shares (the only service holding the private key).
    Auth,
    /// Everything in one process, one HTTP port (the local default).
    All,
}

/// The HTTP APIs a process serves (at least one).
pub struct Apis {
    /// Command side.
    pub upload: Option<UploadApi>,
    /// Read side.
    pub query: Option<QueryApi>,
    /// Webhooks, notification preferences, failure codes.
    pub notifier: Option<NotifierApi>,
    /// Accounts, sessions and shares, and the account as a whole (its export).
    pub auth: Option<(AuthApi, AccountApi)>,
}

const TITLE: &str = "FIAP X";

const DESCRIPTION: &str = "Upload videos, follow their processing live, download the frames as a ZIP.";

/// One API's own OpenAPI document.
pub fn api_document<T: poem_openapi::OpenApi>(api: T) -> String {
    OpenApiService::new(api, TITLE, env!("CARGO_PKG_VERSION"))
        .description(DESCRIPTION)
        .spec()
}

/// The one OpenAPI document of several APIs (each from [`api_document`]; the first gives `info`).
///
/// poem-openapi 5.1 writes a path shared by two `#[OpenApi]` impls (`GET /videos` in the query API, `POST
/// /videos` in the upload API) as two duplicate JSON keys, so readers keep only one of them (poem-web/poem#1032).
/// Each API's own document is valid, so they are merged here, path by path and method by method.
pub fn openapi_document(documents: impl IntoIterator<Item = String>) -> String {
    let document = |spec: String| serde_json::from_str::<serde_json::Value>(&spec).unwrap_or_default();
    let mut documents = documents.into_iter().map(document);
    let mut merged = documents.next().unwrap_or_default();
    for other in documents {
        merge_document(&mut merged, &other);
    }
    serde_json::to_string_pretty(&merged).unwrap_or_default()
}

fn merge_document(merged: &mut serde_json::Value, other: &serde_json::Value) {
    for (section, key) in [
        ("paths", None),
        ("components", Some("schemas")),
        ("components", Some("securitySchemes")),
    ] {
        let from = match key {
            None => other.get(section),
            Some(key) => other.get(section).and_then(|s| s.get(key)),
        };
        let Some(serde_json::Value::Object(from)) = from else {
            continue;
        };
        let into = match key {
            None => &mut merged[section],
            Some(key) => &mut merged[section][key],
        };
        if !into.is_object() {
            *into = serde_json::Value::Object(serde_json::Map::new());
        }
        let Some(into) = into.as_object_mut() else {
            continue;
        };
        for (name, value) in from {
            match (into.get_mut(name), value) {
                (Some(serde_json::Value::Object(existing)), serde_json::Value::Object(methods))
                    if section == "paths" =>
                {
                    existing.extend(methods.clone());
                }
                _ => {
                    into.insert(name.clone(), value.clone());
                }
            }
        }
    }
    if let Some(serde_json::Value::Array(tags)) = other.get("tags") {
        let known = merged["tags"].as_array().cloned().unwrap_or_default();
        let mut all = known.clone();
        all.extend(
            tags.iter()
                .filter(|tag| !known.iter().any(|k| k["name"] == tag["name"]))
                .cloned(),
        );
        merged["tags"] = serde_json::Value::Array(all);
    }
}

/// The HTTP application: the APIs under `/api/v1`, the document at `/api/openapi.json`, interactive docs at
/// `/api/docs` and `/healthz` (`/metrics` has a listener of its own: [`metrics_app`]). Tokens are checked by
/// `verifier` (from the header, or from the `access_token` query parameter). Request bodies are limited to `max_body_bytes` while they stream, except
/// the uploads' (which have their own limit). A process serves either one API or all of them.
pub fn http_app(
    apis: Apis,
    verifier: Arc<TokenVerifier>,
    max_body_bytes: u64,
) -> anyhow::Result<BoxEndpoint<'static>> {
    let Apis {
        auth,
        upload,
        query,
        notifier,
    } = apis;
    // The resumable (tus) uploads are a second API of the upload service.
    let upload = upload.map(|plain| {
        let resumable = plain.resumable();
        (plain, resumable)
    });
    // Query first: its document gives `info`, and the committed snapshot keeps its order.
    let documents: Vec<String> = [
        query.clone().map(api_document),
        upload.clone().map(api_document),
        // Apart: both have paths under `/me` (GET in one, DELETE in the other), which one document would write
        // twice (poem-web/poem#1032).
        auth.clone().map(|(auth, _)| api_document(auth)),
        auth.clone().map(|(_, account)| api_document(account)),
        notifier.clone().map(api_document),
    ]
    .into_iter()
    .flatten()
    .collect();
    let route = match (auth, upload, query, notifier) {
        (Some(a), Some(u), Some(q), Some(n)) => combined((a, u, q, n), documents),
        (Some(a), None, None, None) => combined(a, documents),
        (None, Some(u), None, None) => combined(u, documents),
        (None, None, Some(q), None) => combined(q, documents),
        (None, None, None, Some(n)) => combined(n, documents),
        (None, None, None, None) => Route::new(),
        _ => anyhow::bail!("a process serves one HTTP API or all of them"),
    };
    let route = route.at("/healthz", get(healthz));
    // Framework errors (unparsable parameters, unknown routes, a missing token) get the API's JSON error shape.
    let app = fiapx_upload::with_tus_headers(route.catch_all_error(fiapx_http::json_error));
    let app = fiapx_http::with_body_limit(app, max_body_bytes, fiapx_upload::streams_own_body).data(verifier);
    Ok(access_token_from_query(app).map_to_response().boxed())
}

/// The routes of `api` (one API or a tuple of them), with the merged `documents` served as the OpenAPI document
/// and embedded in the Swagger UI page (its own document would carry poem-web/poem#1032's duplicate keys).
fn combined<T: poem_openapi::OpenApi + 'static>(api: T, documents: Vec<String>) -> Route {
    let document = openapi_document(documents);
    let service = OpenApiService::new(api, TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION);
    let docs = service.swagger_ui_html().replace(&service.spec(), &document);
    // Its scripts and styles are inline: a policy of its own allows exactly those (the web app's allows none).
    let policy = fiapx_http::ContentSecurityPolicy::inline_page(&docs).header_value();
    Route::new()
        .at("/api/openapi.json", get(serve_document.data(Arc::new(document))))
        .at("/api/docs", get(serve_docs.data(Arc::new((docs, policy)))))
        .nest("/", service)
}

#[handler]
fn serve_document(Data(document): Data<&Arc<String>>) -> poem::Response {
    poem::Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(document.as_str().to_owned())
}

#[handler]
fn serve_docs(Data(page): Data<&Arc<(String, poem::http::HeaderValue)>>) -> poem::Response {
    let (page, policy) = page.as_ref();
    poem::Response::builder()
        .content_type("text/html; charset=utf-8")
        .header("content-security-policy", policy.clone())
        .body(page.clone())
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// The metrics application, for its own listener (`metrics.bind`): `/metrics` in the Prometheus text format,
/// nothing else. Apart from the public APIs, so that what the process counts is not published to the world.
pub fn metrics_app(handle: PrometheusHandle) -> BoxEndpoint<'static> {
    Route::new()
        .at("/metrics", get(render_metrics.data(handle)))
        .boxed()
}

#[handler]
fn render_metrics(Data(handle): Data<&PrometheusHandle>) -> String {
    handle.render()
}

/// A process's running parts: background workers and, if it serves HTTP, the application.
pub struct Started {
    /// Processor, projector (each ends when `shutdown` is cancelled).
    pub workers: JoinSet<anyhow::Result<&'static str>>,
    /// The HTTP application, when the process serves an API.
    pub app: Option<BoxEndpoint<'static>>,
}

/// Makes sure the event stream and the progress bucket exist. `serve all` provisions them (converging their
/// configuration); one role alone, whose NATS user may not change the event stream ([`crate::nats_roles`]),
/// provisions only when the stream is missing, which such a user is refused: `fiapx nats provision` as
/// `fiapx-admin` does it first.
async fn ensure_event_store(
    js: &async_nats::jetstream::Context,
    which: Which,
    nats: &fiapx_nats::NatsSettings,
) -> anyhow::Result<()> {
    if which != Which::All && js.get_stream(&nats.stream).await.is_ok() {
        return Ok(());
    }
    provision(js, nats).await.with_context(|| {
        format!(
            "cannot provision the event store (stream {}); a service role's NATS user may not: run `fiapx nats \
             provision` as {} first",
            nats.stream,
            crate::nats_roles::ADMIN_USER
        )
    })
}

/// Connects to the stack and builds `which`: provisions the stream and buckets, starts the workers, builds the
/// HTTP application (not yet listening). Everything stops when `shutdown` is cancelled.
pub async fn start(
    which: Which,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Started> {
    let client = settings.nats.connect("fiapx").await?;
    let js = async_nats::jetstream::new(client.clone());
    ensure_event_store(&js, which, &settings.nats).await?;
    let store = JetStreamEventStore::new(client.clone(), &settings.nats);
    let handler = CommandHandler::new(store, settings.nats.max_append_retries);
    let storage = Storage::new(&settings.s3).context("invalid S3 settings")?;
    storage
        .ensure_bucket()
        .await
        .context("cannot reach the S3 bucket")?;

    let wants = |service: Which| which == service || which == Which::All;
    let mut workers = JoinSet::new();
    if wants(Which::Processor) {
        let processor = Processor::new(
            client.clone(),
            handler.clone(),
            storage.clone(),
            settings.nats.clone(),
            settings.processor.clone(),
        );
        let stop = shutdown.clone();
        workers.spawn(async move {
            processor.run(stop).await.map_err(anyhow::Error::from)?;
            Ok::<_, anyhow::Error>("processor")
        });
    }
    // The upload service (the command side) needs no PostgreSQL: it keeps taking uploads while the read side is
    // down.
    let needs_db =
        wants(Which::Projector) || wants(Which::Query) || wants(Which::Notifier) || wants(Which::Auth);
    let db = if needs_db {
        Some(
            fiapx_database::connect(&settings.database)
                .await
                .context("cannot connect to PostgreSQL")?,
        )
    } else {
        None
    };
    if let (true, Some(db)) = (wants(Which::Projector), &db) {
        let projector = Projector::new(
            db.clone(),
            client.clone(),
            &settings.nats,
            settings.projector.clone(),
        );
        let stop = shutdown.clone();
        workers.spawn(async move {
            projector.run(stop.cancelled_owned()).await;
            Ok("projector")
        });
    }

    let notifier = match (&db, wants(Which::Notifier)) {
        (Some(db), true) => {
            let worker = Notifier::new(
                db.clone(),
                client.clone(),
                &settings.nats,
                settings.notifier.clone(),
            )
            .context("cannot start the notifier")?;
            let stop = shutdown.clone();
            workers.spawn(async move {
                worker.run(stop).await.map_err(anyhow::Error::from)?;
                Ok::<_, anyhow::Error>("notifier")
            });
            Some(NotifierApi::new(db.clone(), &settings.notifier).context("cannot start the notifier API")?)
        }
        _ => None,
    };

    let serves_http = [Which::Auth, Which::Upload, Which::Query, Which::Notifier]
        .into_iter()
        .any(wants);
    let revocations = if serves_http {
        Revocations::watch(
            &js,
            &settings.auth.revocations_bucket,
            settings.auth.revocation_max_age(),
            settings.nats.replicas,
            shutdown.clone(),
        )
        .await
        .context("cannot load token revocations")?
    } else {
        Revocations::default()
    };
    let auth = match (&db, wants(Which::Auth)) {
        (Some(db), true) => {
            let root = settings
                .auth
                .keys()
                .root_key()
                .context("cannot load the root key")?
                .context("the auth service needs auth.private_key_file (run `fiapx keys generate`)")?;
            let passwords = Passwords::new(settings.auth.argon2).context("invalid auth.argon2 settings")?;
            let accounts = Accounts::new(
                db.clone(),
                passwords,
                Some(Arc::new(root)),
                revocations.clone(),
                settings.auth.clone(),
            );
            let auth = AuthApi::new(accounts.clone());
            let callbacks = VideoCallbacks::new(js.clone(), &settings.nats);
            let account = AccountApi::new(
                accounts,
                auth.clone(),
                handler.clone(),
                storage.clone(),
                callbacks,
            );
            Some((auth, account))
        }
        _ => None,
    };

    let upload = if wants(Which::Upload) {
        Some(
            UploadApi::new(
                handler.clone(),
                storage.clone(),
                fiapx_upload::UploadSettings {
                    engine_max_frames: settings.processor.limits.max_frames,
                    allow_insecure_callbacks: settings.notifier.allow_insecure_webhooks,
                    ..settings.upload.clone()
                },
                &settings.nats,
            )
            .await
            .context("cannot start the upload service")?,
        )
    } else {
        None
    };
    let query = match (&db, wants(Which::Query)) {
        (Some(db), true) => Some(
            QueryApi::new(
                db.clone(),
                client.clone(),
                &settings.nats,
                storage.clone(),
                Duration::from_secs(settings.s3.presign_ttl_secs),
            )
            .with_live_stream_cap(fiapx_http::CapSettings {
                per_user: settings.http.live_streams_per_user,
                per_client: settings.http.live_streams_per_client,
                ..fiapx_query::DEFAULT_LIVE_STREAM_CAP
            }),
        ),
        _ => None,
    };
    let app = if serves_http {
        let public = settings
            .auth
            .keys()
            .public_key()
            .context("cannot load the root public key")?;
        let verifier =
            Arc::new(TokenVerifier::new(public, revocations).with_clock_skew(settings.auth.clock_skew()));
        let apis = Apis {
            auth,
            upload,
            query,
            notifier,
        };
        let app = http_app(apis, verifier, settings.http.max_body_bytes)?;
        let policy = crate::web::content_security_policy(&settings.s3).context("invalid s3.endpoint")?;
        Some(
            fiapx_http::with_security_headers(crate::web::with_web_app(app, &settings.http.web_dir), &policy)
                .boxed(),
        )
    } else {
        None
    };
    Ok(Started { workers, app })
}

/// The HTTP server on `acceptor` as `fiapx serve` runs it: a connection on which nothing moves (no byte read or
/// written) for `http.idle_timeout_secs` is cut ([`IdleTimeout`]), so a client that opens connections and goes
/// silent (mid headers, mid body, or idle between requests) cannot hold them for ever. A live stream stays open:
/// it writes a keep-alive every 15 s.
pub fn http_server<A: Acceptor + 'static>(
    acceptor: A,
    http: &HttpSettings,
) -> Server<Infallible, IdleTimeout<A>> {
    let timeout = Duration::from_secs(http.idle_timeout_secs.max(1));
    Server::new_with_acceptor(IdleTimeout::new(acceptor, timeout))
}

/// Runs `which` until a shutdown signal: its HTTP APIs (if it has any) on `http.bind`, `/metrics` (whatever the
/// role) on `metrics.bind` unless that is empty.
pub async fn run(which: Which, settings: Settings, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let Started { mut workers, app } = start(which, &settings, &shutdown).await?;
    tokio::spawn(crate::telemetry::run_upkeep(metrics.clone(), shutdown.clone()));
    serve_metrics(&settings, metrics, &shutdown, &mut workers).await?;
    if let Some(app) = app {
        let listener = TcpListener::bind(settings.http.bind.clone());
        info!(http.bind = %settings.http.bind, "HTTP APIs listening");
        eprintln!(
            "FIAP X is up: {}  (API docs: {0}/api/docs)",
            settings.http.public_url
        );
        let acceptor = listener
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {}", settings.http.bind))?;
        spawn_server(&mut workers, acceptor, app, &settings.http, &shutdown, "http");
    }

    // Any worker ending (or failing) before a shutdown was asked for stops the whole process: a supervisor
    // (systemd, Kubernetes) restarts it, rather than it limping on half-alive.
    let mut result = Ok(());
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(name)) => info!(worker = name, "worker stopped"),
            Ok(Err(error)) => {
                error!(error = format!("{error:#}"), "worker failed");
                result = Err(error);
            }
            Err(error) => {
                error!(%error, "worker panicked");
                result = Err(anyhow::anyhow!("a worker panicked: {error}"));
            }
        }
        if !shutdown.is_cancelled() {
            warn!("a worker stopped on its own; shutting the process down");
            shutdown.cancel();
        }
    }
    info!("stopped");
    result
}

/// Serves [`metrics_app`] on `metrics.bind` (unless it is empty) among `workers` until `shutdown`.
async fn serve_metrics(
    settings: &Settings,
    metrics: PrometheusHandle,
    shutdown: &CancellationToken,
    workers: &mut JoinSet<anyhow::Result<&'static str>>,
) -> anyhow::Result<()> {
    let metrics_bind = settings.metrics.bind.trim();
    if metrics_bind.is_empty() {
        info!("metrics listener off (metrics.bind is empty)");
        return Ok(());
    }
    let acceptor = TcpListener::bind(metrics_bind.to_owned())
        .into_acceptor()
        .await
        .with_context(|| {
            format!("cannot listen on {metrics_bind} (metrics.bind; empty turns the metrics listener off)")
        })?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied());
    info!(metrics.bind = metrics_bind, metrics.addr = ?local, "metrics listening at /metrics");
    let shown = local.map_or_else(|| metrics_bind.to_owned(), |addr| addr.to_string());
    eprintln!("FIAP X metrics: http://{shown}/metrics");
    spawn_server(
        workers,
        acceptor,
        metrics_app(metrics),
        &settings.http,
        shutdown,
        "metrics",
    );
    Ok(())
}

/// Runs `app` on `acceptor` ([`http_server`]) as the worker `name` among `workers` until `shutdown`, then waits
/// up to `http.shutdown_grace_secs` for the requests in flight.
fn spawn_server<A: Acceptor + 'static>(
    workers: &mut JoinSet<anyhow::Result<&'static str>>,
    acceptor: A,
    app: BoxEndpoint<'static>,
    http: &HttpSettings,
    shutdown: &CancellationToken,
    name: &'static str,
) {
    let server = http_server(acceptor, http);
    let grace = Duration::from_secs(http.shutdown_grace_secs);
    let stop = shutdown.clone();
    workers.spawn(async move {
        server
            .run_with_graceful_shutdown(app, stop.cancelled_owned(), Some(grace))
            .await
            .with_context(|| format!("{name} server failed"))?;
        Ok(name)
    });
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    info!("shutdown requested; finishing in-flight work");
    shutdown.cancel();
}
