//! `fiapx users ...` and `fiapx keys ...`: operator commands.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use fiapx::config::Settings;
use fiapx_auth::{Accounts, NewAccount, Passwords};
use fiapx_identity::Revocations;
use tokio_util::sync::CancellationToken;

/// `fiapx users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account. The password is read from the environment variable FIAPX_NEW_PASSWORD or, when unset,
    /// from the first line of standard input (never from the command line, which other users can see).
    Add {
        /// E-mail address (the sign-in name).
        #[arg(long)]
        email: String,
        /// Name shown to people.
        #[arg(long)]
        name: String,
        /// `en` or `pt-BR`.
        #[arg(long, default_value = "en")]
        locale: String,
    },
    /// List every account.
    List,
    /// Disable an account: its sessions end and its tokens (shares included) stop working at the next check.
    Disable {
        /// The account's e-mail.
        email: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account's e-mail.
        email: String,
    },
}

/// `fiapx keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new Ed25519 root private key (hex, mode 0600) and print its public key. Never overwrites.
    Generate {
        /// Where to write the private key.
        #[arg(long, default_value = ".state/auth/root.key")]
        out: PathBuf,
    },
    /// Write a new 256-bit key (hex, mode 0600) sealing webhook and callback signing secrets in the database
    /// (`notifier.secrets_key_file`) and print its key id. Never overwrites.
    GenerateSecretsKey {
        /// Where to write the key.
        #[arg(long, default_value = ".state/notifier/secrets.key")]
        out: PathBuf,
    },
}

/// Runs a `keys` command (no services needed).
pub fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { out } => {
            let root = fiapx_identity::generate_key_file(&out)
                .with_context(|| format!("cannot write a new key to {}", out.display()))?;
            eprintln!("private key written to {} (keep it secret)", out.display());
            println!("{}", root.public().to_bytes_hex());
            Ok(())
        }
        KeysCommand::GenerateSecretsKey { out } => {
            let key_id = fiapx_notifier::secrets::generate_key_file(&out)
                .with_context(|| format!("cannot write a new key to {}", out.display()))?;
            eprintln!("secrets key written to {} (keep it secret)", out.display());
            println!("{key_id}");
            Ok(())
        }
    }
}

/// Runs a `users` command against PostgreSQL (and NATS, for revocations).
pub async fn users(command: UsersCommand, settings: &Settings) -> anyhow::Result<()> {
    let db = fiapx_database::connect(&settings.database)
        .await
        .context("cannot connect to PostgreSQL")?;
    let revocations = match command {
        UsersCommand::Disable { .. } | UsersCommand::Enable { .. } => {
            let client = settings.nats.connect("fiapx-users").await?;
            let js = async_nats::jetstream::new(client);
            Revocations::watch(
                &js,
                &settings.auth.revocations_bucket,
                settings.auth.revocation_max_age(),
                settings.nats.replicas,
                CancellationToken::new(),
            )
            .await?
        }
        _ => Revocations::default(),
    };
    let passwords = Passwords::new(settings.auth.argon2).context("invalid auth.argon2 settings")?;
    let root = settings.auth.keys().root_key()?.map(Arc::new);
    let accounts = Accounts::new(db, passwords, root, revocations, settings.auth.clone());
    match command {
        UsersCommand::Add { email, name, locale } => {
            let password = match std::env::var("FIAPX_NEW_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    eprintln!("password (one line on standard input):");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let user = accounts
                .create_user(NewAccount {
                    email,
                    password,
                    display_name: name,
                    locale: Some(locale),
                })
                .await?;
            println!("{}\t{}", user.id, user.email);
        }
        UsersCommand::List => {
            println!("id\temail\tname\tlocale\tstatus\tcreated_at");
            for user in accounts.list_users().await? {
                let status = if user.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{status}\t{}",
                    user.id, user.email, user.display_name, user.locale, user.created_at
                );
            }
        }
        UsersCommand::Disable { email } => {
            let user = accounts.set_disabled(&email, true).await?;
            println!("{}\t{}\tdisabled", user.id, user.email);
        }
        UsersCommand::Enable { email } => {
            let user = accounts.set_disabled(&email, false).await?;
            println!("{}\t{}\tactive", user.id, user.email);
        }
    }
    Ok(())
}
