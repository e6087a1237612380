//! The FIAP X read side in PostgreSQL: read models folded from the event log, the projector that keeps them
//! current, and rebuilds that replay the log into fresh tables.
//!
//! This crate owns the read-model rows ([`entity`]), how each event changes them ([`apply`], one module per read
//! model: [`videos`](mod@videos), [`timeline`], [`owner_counts`]), the checkpoint written in the same transaction,
//! the durable-consumer loop ([`Projector`]) and [`rebuild`]. The schema and the connection are `fiapx-database`.
//! It must not know about HTTP or S3, and it never decides anything: it only records what the log says happened.
//! Projections are replayable; reactors (the processor, the notifier) are not and never run during a replay.

mod apply;
pub mod entity;
mod generation;
pub mod owner_counts;
mod projector;
mod rebuild;
pub mod timeline;
pub mod videos;

pub use apply::{BatchOutcome, Incoming, apply, apply_batch};
pub use generation::{Generation, PROJECTIONS, VIDEOS, active_generation, checkpoint};
pub use projector::{Projector, ProjectorSettings};
pub use rebuild::{RebuildError, RebuildReport, rebuild};
