//! FIAP X's PostgreSQL database: the connection pool and the whole schema.
//!
//! This crate owns how to reach the database ([`DatabaseSettings`], [`connect`]) and every table in it, as
//! forward-only migrations ([`Migrator`], run by `fiapx migrate`): the read models and projection bookkeeping of
//! `fiapx-projections`, the accounts and sessions of the auth service, the notifier's tables. The crates that read
//! and write those tables keep their own sea-orm entities. With the feature `test-support` it also gives each test a
//! fresh, migrated database of its own (`test_support::TestDatabase`). It must not know about events, HTTP or
//! NATS: it holds DDL and a pool, never what a row means.

mod connection;
mod migrations;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use connection::{DatabaseSettings, connect};
pub use migrations::{Migrator, MigratorTrait};
