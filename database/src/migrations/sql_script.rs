//! The one shape every migration has: a forward-only SQL script, named for its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::util::get_file_stem;

/// A migration that runs one SQL script on `up`. Its name is the stem of `file`, as `DeriveMigrationName` makes it,
/// so the names recorded in `seaql_migrations` stay what they were.
#[derive(Debug)]
pub(crate) struct SqlScript {
    file: &'static str,
    up: &'static str,
}

impl SqlScript {
    /// The migration defined in `file` (pass `file!()`) that runs `up`.
    pub(crate) const fn new(file: &'static str, up: &'static str) -> Self {
        Self { file, up }
    }
}

impl MigrationName for SqlScript {
    fn name(&self) -> &str {
        get_file_stem(self.file)
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlScript {
    // The trait elides this lifetime; naming it makes the async-trait expansion disagree with the trait.
    #[expect(elided_lifetimes_in_paths, reason = "must match MigrationTrait's signature")]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.up).await?;
        Ok(())
    }
}
