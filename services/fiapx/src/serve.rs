//! `fiapx serve ...`: builds the chosen services and runs them until SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use fiapx_nats::{CommandHandler, EventStore, provision};
use fiapx_processor::Processor;
use fiapx_projections::Projector;
use fiapx_query::QueryApi;
use fiapx_storage::Storage;
use fiapx_upload::UploadApi;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::endpoint::BoxEndpoint;
use poem::listener::TcpListener;
use poem::{EndpointExt, Route, Server, get, handler, web::Data};
use poem_openapi::OpenApiService;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Settings;

/// Which services one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The upload (command) HTTP API.
    Upload,
    /// The query (read) HTTP API with live status.
    Query,
    /// Frame extraction workers.
    Processor,
    /// Read-model projector.
    Projector,
    /// Everything in one process, one HTTP port (the local default).
    All,
}

/// The HTTP APIs a process serves (at least one).
pub struct Apis {
    /// Command side.
    pub upload: Option<UploadApi>,
    /// Read side.
    pub query: Option<QueryApi>,
}

const TITLE: &str = "FIAP X";

const DESCRIPTION: &str = "Upload videos, follow their processing live, download the frames as a ZIP.";

/// The routes of both APIs (`/api/v1/...`). Its own document is not used: see [`openapi_document`].
pub fn api_service(upload: UploadApi, query: QueryApi) -> OpenApiService<(UploadApi, QueryApi), ()> {
    OpenApiService::new((upload, query), TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The one OpenAPI document for both APIs.
///
/// poem-openapi 5.1 writes a path shared by two `#[OpenApi]` impls (`GET /videos` in the query API, `POST
/// /videos` in the upload API) as two duplicate JSON keys, so readers keep only one of them (poem-web/poem#1032).
/// Each API's own document is valid, so they are merged here, path by path and method by method.
pub fn openapi_document(upload: &UploadApi, query: &QueryApi) -> String {
    let document = |spec: String| serde_json::from_str::<serde_json::Value>(&spec).unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    let mut merged = document(
        OpenApiService::new(query.clone(), TITLE, version)
            .description(DESCRIPTION)
            .spec(),
    );
    let other = document(
        OpenApiService::new(upload.clone(), TITLE, version)
            .description(DESCRIPTION)
            .spec(),
    );
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
    serde_json::to_string_pretty(&merged).unwrap_or_default()
}

/// The HTTP application: the APIs under `/api/v1`, the document at `/api/openapi.json`, interactive docs at
/// `/api/docs`, `/metrics` and `/healthz`.
pub fn http_app(apis: Apis, metrics: Option<PrometheusHandle>) -> BoxEndpoint<'static> {
    let route = match (apis.upload, apis.query) {
        (Some(upload), Some(query)) => {
            let document = openapi_document(&upload, &query);
            let service = api_service(upload, query);
            // The Swagger UI page embeds the document; swap in the merged one.
            let docs = service.swagger_ui_html().replace(&service.spec(), &document);
            Route::new()
                .at("/api/openapi.json", get(serve_document.data(Arc::new(document))))
                .at("/api/docs", get(serve_docs.data(Arc::new(docs))))
                .nest("/", service)
        }
        (Some(upload), None) => mount(
            Route::new(),
            OpenApiService::new(upload, TITLE, env!("CARGO_PKG_VERSION")),
        ),
        (None, Some(query)) => mount(
            Route::new(),
            OpenApiService::new(query, TITLE, env!("CARGO_PKG_VERSION")),
        ),
        (None, None) => Route::new(),
    };
    let route = route.at("/healthz", get(healthz));
    let route = match metrics {
        Some(handle) => route.at("/metrics", get(render_metrics.data(handle))),
        None => route,
    };
    // Framework errors (unparsable parameters, unknown routes, a missing owner) get the API's JSON error shape.
    route.catch_all_error(fiapx_http::json_error).boxed()
}

fn mount<T: poem_openapi::OpenApi + 'static>(route: Route, service: OpenApiService<T, ()>) -> Route {
    route
        .at("/api/openapi.json", service.spec_endpoint())
        .nest("/api/docs", service.swagger_ui())
        .nest("/", service)
}

#[handler]
fn serve_document(Data(document): Data<&Arc<String>>) -> poem::Response {
    poem::Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(document.as_str().to_owned())
}

#[handler]
fn serve_docs(Data(page): Data<&Arc<String>>) -> poem::web::Html<String> {
    poem::web::Html(page.as_str().to_owned())
}

#[handler]
fn healthz() -> &'static str {
    "ok"
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

/// Connects to the stack and builds `which`: provisions the stream and buckets, starts the workers, builds the
/// HTTP application (not yet listening). Everything stops when `shutdown` is cancelled.
pub async fn start(
    which: Which,
    settings: &Settings,
    metrics: Option<PrometheusHandle>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Started> {
    let client = async_nats::ConnectOptions::new()
        .name("fiapx")
        .connect(&settings.nats.url)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", settings.nats.url))?;
    let js = async_nats::jetstream::new(client.clone());
    provision(&js, &settings.nats)
        .await
        .context("cannot provision the event store")?;
    let store = EventStore::new(client.clone(), &settings.nats);
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
    let needs_db = wants(Which::Projector) || wants(Which::Query);
    let db = if needs_db {
        Some(
            fiapx_projections::connect(&settings.database)
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

    let upload = if wants(Which::Upload) {
        Some(
            UploadApi::new(
                handler.clone(),
                storage.clone(),
                settings.upload.clone(),
                &settings.nats,
            )
            .await
            .context("cannot start the upload service")?,
        )
    } else {
        None
    };
    let query = match (&db, wants(Which::Query)) {
        (Some(db), true) => Some(QueryApi::new(
            db.clone(),
            client.clone(),
            &settings.nats,
            storage.clone(),
            Duration::from_secs(settings.s3.presign_ttl_secs),
        )),
        _ => None,
    };
    let app = (upload.is_some() || query.is_some()).then(|| http_app(Apis { upload, query }, metrics));
    Ok(Started { workers, app })
}

/// Runs `which` until a shutdown signal.
pub async fn run(which: Which, settings: Settings, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let Started { mut workers, app } = start(which, &settings, Some(metrics), &shutdown).await?;
    if let Some(app) = app {
        let listener = TcpListener::bind(settings.http.bind.clone());
        let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
        let stop = shutdown.clone();
        info!(http.bind = %settings.http.bind, "HTTP APIs listening");
        eprintln!(
            "FIAP X is up: {}  (API docs: {0}/api/docs)",
            settings.http.public_url
        );
        workers.spawn(async move {
            Server::new(listener)
                .run_with_graceful_shutdown(app, stop.cancelled_owned(), Some(grace))
                .await
                .context("HTTP server failed")?;
            Ok("http")
        });
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
