//! Connecting to a nats-server that asks for credentials, with `NatsSettings::connect`, against a real server.

use fiapx_domain::VideoId;
use fiapx_domain::testing::register_upload;
use fiapx_nats::test_support::NatsServer;
use fiapx_nats::{CommandHandler, ConnectError, JetStreamEventStore, Metadata, NatsSettings, provision};
use time::OffsetDateTime;

#[tokio::test]
async fn a_server_with_a_password_serves_the_configured_user_and_refuses_everyone_else() {
    let server = NatsServer::start_with_password("fiapx", "a long local password");
    let settings = server.settings();

    // No credentials, or the wrong password: refused, and the error names neither.
    let anonymous = NatsSettings {
        user: None,
        password: None,
        ..settings.clone()
    };
    let refused = anonymous.connect("test").await.unwrap_err();
    assert!(matches!(refused, ConnectError::Connect { .. }), "{refused}");
    let wrong = NatsSettings {
        password: Some("not the password".to_owned().into()),
        ..settings.clone()
    };
    let refused = wrong.connect("test").await.unwrap_err();
    assert!(matches!(refused, ConnectError::Connect { .. }), "{refused}");
    assert!(!refused.to_string().contains("not the password"), "{refused}");
    assert!(!format!("{settings:?}").contains("a long local password"));

    // A user without a password is a configuration mistake, said as such.
    let half = NatsSettings {
        password: None,
        ..settings.clone()
    };
    assert!(matches!(
        half.connect("test").await.unwrap_err(),
        ConnectError::HalfCredentials
    ));

    // The configured user provisions the log and runs commands as usual.
    let client = settings.connect("test").await.unwrap();
    provision(&async_nats::jetstream::new(client.clone()), &settings)
        .await
        .unwrap();
    let handler = CommandHandler::new(JetStreamEventStore::new(client, &settings), 3);
    let video = VideoId::from_uuid(uuid::Uuid::now_v7());
    let owner = fiapx_domain::UserId::from_uuid(uuid::Uuid::now_v7());
    handler
        .handle(
            video,
            register_upload(video, owner, "clip.mp4", 10, OffsetDateTime::now_utc()),
            Metadata::new_request(),
        )
        .await
        .unwrap();
    assert_eq!(handler.state(video).await.unwrap().owner, Some(owner));
}

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    fiapx_domain::testing::run_tool(
        std::process::Command::new("openssl").args(args).current_dir(dir),
        &format!("openssl {args:?}"),
    );
}

#[tokio::test]
async fn tls_to_a_server_of_a_private_ca_needs_that_ca() {
    // A CA of the test's own, and a certificate for 127.0.0.1 it signs.
    let dir = tempfile::tempdir().unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        dir.path(),
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=fiapx test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        dir.path(),
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.path().join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.cnf",
        ],
    );
    let server = NatsServer::start_with_tls(&dir.path().join("server.pem"), &dir.path().join("server.key"));
    let plain = server.settings();

    // Without the CA the server's certificate is not trusted; with it, TLS works end to end.
    let untrusted = NatsSettings {
        tls_required: true,
        ..plain.clone()
    };
    let refused = untrusted.connect("test").await.unwrap_err();
    assert!(matches!(refused, ConnectError::Connect { .. }), "{refused}");
    let trusted = NatsSettings {
        tls_ca_file: Some(dir.path().join("ca.pem")),
        ..plain
    };
    let client = trusted.connect("test").await.unwrap();
    provision(&async_nats::jetstream::new(client), &trusted)
        .await
        .unwrap();
}
