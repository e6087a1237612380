//! The PostgreSQL schema of the FIAP X read side, as forward-only sea-orm migrations.
//!
//! This crate owns the DDL of the read models and of the projection bookkeeping (generations, checkpoints,
//! errors). It runs as an explicit step (`fiapx migrate`), never from every replica at start-up. It must not know
//! how events are applied: that is `fiapx-projections`. There are no `down` migrations: a mistake is fixed by a
//! new migration, or by rebuilding the read models from the event log.
//!
//! Read models live in generation tables (`videos_g1`, `video_timeline_g1`, `owner_video_counts_g1`) behind views
//! with the plain names (`videos`, ...), which is what the query side reads. A rebuild creates the next
//! generation with `CREATE TABLE ... (LIKE <current> INCLUDING ALL)` and repoints the views in one transaction,
//! so a later migration that changes a read-model table changes the current generation's table (found in
//! `projection_generations`) and recreates the views.

/// Re-exported so that callers can run [`Migrator::up`] without depending on sea-orm-migration.
pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261122_000001_read_models;
mod m20261122_000002_users;
mod m20261122_000003_notifications;

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_read_models::Migration),
            Box::new(m20261122_000002_users::Migration),
            Box::new(m20261122_000003_notifications::Migration),
        ]
    }
}
