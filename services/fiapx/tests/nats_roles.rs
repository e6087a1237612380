//! One NATS user per service role (`fiapx::nats_roles`) against a real nats-server run with the rendered
//! permissions: every role, started alone with its own user, does its whole job (an upload goes through to a
//! completed video told on the live stream) without one refused subject, and what a role must not do is refused.

use std::time::Duration;

use fiapx::config::Settings;
use fiapx::nats_roles::{ADMIN_USER, password_variable, permissions, server_authorization, user_name};
use fiapx::{Started, Which, start};
use fiapx_identity::test_support::bearer;
use fiapx_nats::NatsSettings;
use fiapx_nats::test_support::NatsServer;
use futures::StreamExt as _;
use poem::test::TestClient;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod common;
use common::{Stack, Workers, clip};

const ROLES: [Which; 6] = [
    Which::Auth,
    Which::Upload,
    Which::Processor,
    Which::Projector,
    Which::Notifier,
    Which::Query,
];

/// The committed configuration (included by the local stack, mounted by deployments) is the rendering of the
/// default names, and nats-server accepts it.
#[test]
fn the_committed_auth_config_is_the_rendering_of_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/auth.conf");
    let rendered = server_authorization(&Settings::default());
    if std::env::var_os("FIAPX_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "deploy/nats/auth.conf is stale: run `FIAPX_BLESS=1 cargo nextest run -p fiapx -E 'test(auth_config)'`"
    );
    let binary = fiapx_domain::testing::installed_tool("FIAPX_NATS_SERVER_BIN", "nats-server", "nats-server");
    let users = std::iter::once(ADMIN_USER.to_owned()).chain(
        [ROLES.as_slice(), &[Which::All]]
            .concat()
            .into_iter()
            .map(user_name),
    );
    let check = std::process::Command::new(binary)
        .envs(users.map(|user| (password_variable(&user), "secret".to_owned())))
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Settings whose NATS connection is `user`'s on `server`.
fn as_user(settings: &Settings, server: &NatsServer, user: &str) -> Settings {
    Settings {
        nats: NatsSettings {
            user: Some(user.to_owned()),
            password: Some(format!("{user}-password").into()),
            request_timeout: Duration::from_secs(2),
            ..server.settings()
        },
        ..settings.clone()
    }
}

#[tokio::test]
async fn each_role_does_its_job_with_its_own_user_and_is_refused_the_rest() {
    let stack = Stack::new().await;
    let base = stack.settings();
    let users: Vec<String> = std::iter::once(ADMIN_USER.to_owned())
        .chain(ROLES.into_iter().chain([Which::All]).map(user_name))
        .collect();
    let server = NatsServer::start_with_config(
        &server_authorization(&base),
        users
            .iter()
            .map(|user| (password_variable(user), format!("{user}-password")))
            .collect(),
    );
    let admin = as_user(&base, &server, ADMIN_USER);
    let client = admin.nats.connect("provision").await.unwrap();
    fiapx_nats::provision(&async_nats::jetstream::new(client), &admin.nats)
        .await
        .unwrap();

    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    let mut apps = std::collections::HashMap::new();
    for role in ROLES {
        let settings = as_user(&base, &server, &user_name(role));
        let Started {
            workers: started,
            app,
        } = start(role, &settings, &shutdown)
            .await
            .unwrap_or_else(|e| panic!("{role:?} starts with its own user: {e:#}"));
        workers.spawn(async move {
            let mut started = started;
            while let Some(result) = started.join_next().await {
                result.expect("worker panicked")?;
            }
            Ok::<_, anyhow::Error>("role")
        });
        if let Some(app) = app {
            apps.insert(role, TestClient::new(app));
        }
    }
    let workers = Workers::join(shutdown, workers);

    // The whole job across the roles: upload (upload), extraction (processor), read model (projector), the live
    // stream and the list (query).
    let owner = Uuid::now_v7();
    let live = apps[&Which::Query]
        .get("/api/v1/events")
        .header("authorization", bearer(owner))
        .send()
        .await;
    live.assert_status_is_ok();
    let mut live = live.0.into_body().into_bytes_stream();
    let uploaded = apps[&Which::Upload]
        .post("/api/v1/videos")
        .header("authorization", bearer(owner))
        .header("X-Fiapx-Filename", "roles.mp4")
        .content_type("application/octet-stream")
        .body(clip("a_2s.mp4", "2", "160x120"))
        .send()
        .await;
    uploaded.assert_status(poem::http::StatusCode::ACCEPTED);
    let id = uploaded.json().await.value().deserialize::<Value>()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut told = String::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while !told.contains("completed") {
            let chunk = live.next().await.expect("the live stream stays open").unwrap();
            told.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the live stream told no completion in 60 s: {told}"));
    assert!(told.contains(&id), "{told}");
    let mut listed = false;
    for _ in 0..300 {
        let page: Value = apps[&Which::Query]
            .get("/api/v1/videos?status=completed")
            .header("authorization", bearer(owner))
            .send()
            .await
            .json()
            .await
            .value()
            .deserialize();
        if page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|v| v["id"] == id))
        {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "the projector's read model lists the completed video");
    assert!(
        !server.log().contains("Violation"),
        "a role was refused a subject it uses:\n{}",
        violations(&server)
    );

    // What a role must not do.
    let js = |user: &str| {
        let settings = as_user(&base, &server, user).nats;
        async move { async_nats::jetstream::new(settings.connect("probe").await.unwrap()) }
    };
    let (query, projector, processor, upload) = (
        js(&user_name(Which::Query)).await,
        js(&user_name(Which::Projector)).await,
        js(&user_name(Which::Processor)).await,
        js(&user_name(Which::Upload)).await,
    );
    let revocation = format!("$KV.{}.forged", base.auth.revocations_bucket);
    let (forged, deleted, changed, revoked) = tokio::join!(
        async {
            query
                .publish(format!("videos.{id}.completed"), "{}".into())
                .await?
                .await
        },
        projector.delete_stream("VIDEOS"),
        processor.update_stream(fiapx_nats::stream_config(&base.nats)),
        async { upload.publish(revocation.clone(), "x".into()).await?.await },
    );
    assert!(forged.is_err(), "the query role appended an event");
    assert!(deleted.is_err(), "the projector deleted the log");
    assert!(changed.is_err(), "the processor changed the event stream");
    assert!(revoked.is_err(), "the upload role wrote a revocation");
    let notifier = as_user(&base, &server, &user_name(Which::Notifier))
        .nats
        .connect("probe")
        .await
        .unwrap();
    let _snoop = notifier.subscribe("_INBOX.fiapx-query.>").await.unwrap();
    let _ = notifier.flush().await;
    let log = wait_for_log(&server, 5, "Subscription Violation").await;
    for refused in [
        format!("fiapx-query\" - Publish Violation - Subject \"videos.{id}.completed\""),
        "fiapx-projector\" - Publish Violation - Subject \"$JS.API.STREAM.DELETE.VIDEOS\"".to_owned(),
        "fiapx-processor\" - Publish Violation - Subject \"$JS.API.STREAM.UPDATE.VIDEOS\"".to_owned(),
        format!("fiapx-upload\" - Publish Violation - Subject \"{revocation}\""),
        "fiapx-notifier\" - Subscription Violation - Subject \"_INBOX.fiapx-query.>\"".to_owned(),
    ] {
        assert!(log.contains(&refused), "not refused: {refused}\n{log}");
    }
    // And the event stream keeps exactly what the roles appended.
    let admin_js = js(ADMIN_USER).await;
    let mut stream = admin_js.get_stream("VIDEOS").await.unwrap();
    assert!(stream.info().await.unwrap().state.messages >= 3);
    assert!(
        !permissions(Which::Query, &base)
            .publish
            .iter()
            .any(|s| s.starts_with("videos.")),
        "the read side has no right to append"
    );
    workers.stop().await;
}

/// The server's log once it contains `needle` (at most `secs` seconds).
async fn wait_for_log(server: &NatsServer, secs: u64, needle: &str) -> String {
    for _ in 0..secs * 10 {
        let log = server.log();
        if log.contains(needle) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.log()
}

fn violations(server: &NatsServer) -> String {
    server
        .log()
        .lines()
        .filter(|line| line.contains("Violation"))
        .collect::<Vec<_>>()
        .join("\n")
}
