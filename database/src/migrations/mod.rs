//! The schema, as forward-only sea-orm migrations, one SQL script each.
//!
//! They hold the DDL of the read models and of the projection bookkeeping (generations, checkpoints, errors), of
//! the auth service's users, refresh tokens and share links, and of the notifier's tables (webhooks, preferences, notifications, callback secrets). They run as an explicit step
//! (`fiapx migrate`), never from every replica at start-up. How events are applied is `fiapx-projections`'
//! business, not theirs. There are no `down` migrations: a mistake is fixed by a new migration, or by rebuilding the
//! read models from the event log. A migration's name is its file's stem (`m20261122_000001_read_models`) and is
//! what `seaql_migrations` records, so files are never renamed.
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
mod m20261202_000004_shares;
mod m20261202_000005_callbacks;
mod sql_script;

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_read_models::MIGRATION),
            Box::new(m20261122_000002_users::MIGRATION),
            Box::new(m20261122_000003_notifications::MIGRATION),
            Box::new(m20261202_000004_shares::MIGRATION),
            Box::new(m20261202_000005_callbacks::MIGRATION),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_databases_recorded() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "m20261122_000001_read_models",
                "m20261122_000002_users",
                "m20261122_000003_notifications",
                "m20261202_000004_shares",
                "m20261202_000005_callbacks"
            ]
        );
    }
}
