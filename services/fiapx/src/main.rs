//! The one FIAP X binary: services (`fiapx serve ...`) and tooling (`migrate`, `projections`, `users`, `keys`,
//! `frames`).

mod frames;
mod operator;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fiapx::{config, serve, telemetry};
use fiapx_database::{Migrator, MigratorTrait};

/// FIAP X: video frame extraction.
#[derive(Debug, Parser)]
#[command(name = "fiapx", version, about)]
struct Cli {
    /// A TOML configuration file (environment variables `FIAPX__SECTION__KEY` override it).
    #[arg(long, global = true, env = "FIAPX_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run services until SIGINT/SIGTERM.
    Serve {
        /// Which services.
        #[arg(value_enum)]
        which: serve::Which,
    },
    /// Apply the PostgreSQL migrations (an explicit step, not done by services at start-up).
    Migrate,
    /// Read-model maintenance.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Extract frames from a local video into a ZIP, with the same engine as the processor service.
    Frames(frames::FramesArgs),
    /// Accounts, for operators.
    Users {
        #[command(subcommand)]
        command: operator::UsersCommand,
    },
    /// NATS: provisioning and the per-role users' permissions.
    Nats {
        #[command(subcommand)]
        command: NatsCommand,
    },
    /// Keys: the root key pair that signs access tokens, the key that seals the notifier's signing secrets.
    Keys {
        #[command(subcommand)]
        command: operator::KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum NatsCommand {
    /// Create or update the event stream and the progress bucket (as `fiapx-admin`: service roles may not).
    Provision,
    /// Print nats-server's `authorization` block: one user per service role with least-privilege permissions,
    /// for the configured stream, bucket and consumer names (deploy/nats/auth.conf is the one for the defaults).
    AuthConfig,
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Replay the event log into fresh tables and switch over; the old tables serve until the switch.
    Rebuild {
        /// The projection (`videos`).
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Frames(_) => "warn,ffmpeg=error",
        _ => "info,ffmpeg=warn,sqlx=warn",
    };
    telemetry::init_logs(default_filter);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Command::Frames(args) = cli.command {
        return runtime.block_on(frames::run(args));
    }
    if let Command::Keys { command } = cli.command {
        return operator::keys(command);
    }
    let settings = config::load(cli.config.as_deref())?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { which } => {
                let metrics = telemetry::init_metrics()?;
                serve::run(which, settings, metrics).await
            }
            Command::Migrate => {
                let db = fiapx_database::connect(&settings.database)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                Migrator::up(&db, None).await.context("migration failed")?;
                eprintln!("migrations applied");
                Ok(())
            }
            Command::Projections {
                command: ProjectionsCommand::Rebuild { name },
            } => {
                let db = fiapx_database::connect(&settings.database)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                let client = settings.nats.connect("fiapx-projections-rebuild").await?;
                let report = fiapx_projections::rebuild(&db, &client, &settings.nats, &name).await?;
                eprintln!("{report:?}");
                Ok(())
            }
            Command::Nats {
                command: NatsCommand::Provision,
            } => {
                let client = settings.nats.connect("fiapx-provision").await?;
                fiapx_nats::provision(&async_nats::jetstream::new(client), &settings.nats)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot provision (service roles' NATS users may not: connect as {})",
                            fiapx::nats_roles::ADMIN_USER
                        )
                    })?;
                eprintln!(
                    "stream {} and bucket {} ready",
                    settings.nats.stream, settings.nats.progress_bucket
                );
                Ok(())
            }
            Command::Nats {
                command: NatsCommand::AuthConfig,
            } => {
                print!("{}", fiapx::nats_roles::server_authorization(&settings));
                Ok(())
            }
            Command::Users { command } => operator::users(command, &settings).await,
            Command::Frames(_) | Command::Keys { .. } => unreachable!("handled above"),
        }
    })
}
