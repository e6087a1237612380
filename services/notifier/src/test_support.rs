//! The test process's secrets key ([`test_secrets_key`]), for settings that start a notifier; and a real SMTP
//! sink per test: the repository's `scripts/smtp_sink.py` (aiosmtpd, from the stack's venv) on a
//! free loopback port with its own directory, stopped on drop. Tests read what arrived, parsed.
//!
//! The interpreter is `$FIAPX_PYTHON`, else the project's `.state/venv/bin/python` (installed by `make deps`).

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fiapx_domain::testing::installed_tool;
use secrecy::SecretString;

/// The test process's secrets key in hex (64 digits, for `FIAPX__NOTIFIER__SECRETS_KEY`): random, the same for
/// the whole process.
pub fn test_secrets_key_hex() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("randomness from the operating system");
        hex::encode(bytes)
    })
}

/// [`test_secrets_key_hex`] as `notifier.secrets_key`.
pub fn test_secrets_key() -> SecretString {
    test_secrets_key_hex().into()
}

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `To:` addresses.
    pub to: Vec<String>,
    /// Decoded subject.
    pub subject: String,
    /// Decoded plain-text body.
    pub text: String,
    /// Decoded HTML body.
    pub html: String,
    /// `Message-ID` (without angle brackets).
    pub message_id: String,
}

/// A running SMTP sink owned by one test.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("no free loopback port")
}

impl SmtpSink {
    /// Starts the sink and waits until it accepts connections. Panics (it is for tests) with the reason.
    pub fn start() -> Self {
        let mut last_error = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(sink) => return sink,
                Err(error) => last_error = error,
            }
        }
        panic!("SMTP sink did not start: {last_error}");
    }

    /// Starts the sink on `port` (e.g. one a notifier was already told to use). Panics with the reason.
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|error| panic!("SMTP sink did not start: {error}"))
    }

    /// A loopback port nothing listens on yet.
    pub fn free_port() -> u16 {
        free_port()
    }

    fn try_start() -> Result<Self, String> {
        Self::try_start_on(free_port())
    }

    fn try_start_on(port: u16) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp_sink.py");
        let mut child = Command::new(installed_tool("FIAPX_PYTHON", "python", "python3"))
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--log"])
            .arg(dir.path().join("smtp.log"))
            .arg("--mail-dir")
            .arg(dir.path().join("mail"))
            .arg("--ready-file")
            .arg(dir.path().join("ready"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run the SMTP sink ({e}); run `make deps`"))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            // Readiness is the sink's own word that it bound the port: connecting could reach another process
            // that took the port between the probe and our bind.
            if dir.path().join("ready").exists() {
                return Ok(Self { child, port, dir });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("not listening after 15 s".into())
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        // Names are `<UTC stamp>-<counter>.eml`: sorting by name is arrival order.
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read(path).ok())
            .filter_map(|raw| {
                let parsed = mail_parser::MessageParser::default().parse(&raw)?;
                Some(ReceivedMail {
                    to: parsed
                        .to()
                        .map(|to| to.iter().filter_map(|a| a.address().map(str::to_owned)).collect())
                        .unwrap_or_default(),
                    subject: parsed.subject().unwrap_or_default().to_owned(),
                    text: parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                    html: parsed.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                    message_id: parsed.message_id().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    /// Waits (bounded, 60 s) until at least `count` messages arrived, and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        for _ in 0..600 {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {count} e-mails, got {}: {:?}",
            self.messages().len(),
            self.messages()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
