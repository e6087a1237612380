//! The one FIAP X binary. For now it runs the frame engine on a local file (`fiapx frames`); the services and
//! operational commands join it as they are built.

mod frames;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// FIAP X: video frame extraction.
#[derive(Debug, Parser)]
#[command(name = "fiapx", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Extract frames from a local video into a ZIP, with the same engine as the processor service.
    Frames(frames::FramesArgs),
}

fn main() -> anyhow::Result<()> {
    // Logs go to stderr so stdout stays clean; FFmpeg's own messages arrive here as target `ffmpeg`.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,ffmpeg=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Frames(args) => runtime.block_on(frames::run(args)),
    }
}
