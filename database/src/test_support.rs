//! A fresh, migrated PostgreSQL database per test, dropped (with its connections) when the test ends.
//!
//! The server is the one in `FIAPX_DATABASE_URL` (the local stack's: `make up`); its role needs `CREATEDB`.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::{DatabaseSettings, Migrator, MigratorTrait, connect};

/// A database owned by one test.
#[derive(Debug)]
pub struct TestDatabase {
    settings: DatabaseSettings,
    admin_url: String,
    name: String,
    connection: DatabaseConnection,
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

impl TestDatabase {
    /// Creates `fiapx_test_<uuid>` and runs every migration. Panics (it is for tests) with the reason.
    pub async fn create() -> Self {
        let admin_url = std::env::var("FIAPX_DATABASE_URL")
            .expect("FIAPX_DATABASE_URL is not set: run `make up` and `set -a; . .state/env; set +a`");
        let name = format!("fiapx_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at FIAPX_DATABASE_URL ({e}); run `make up`"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("cannot create the test database (does the role have CREATEDB?)");
        let _ = admin.close().await;
        let settings = DatabaseSettings {
            url: with_database(&admin_url, &name),
            max_connections: 5,
        };
        let connection = connect(&settings)
            .await
            .expect("cannot connect to the test database");
        Migrator::up(&connection, None).await.expect("migrations failed");
        Self {
            settings,
            admin_url,
            name,
            connection,
        }
    }

    /// A pool on the test database.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Settings pointing at the test database.
    pub fn settings(&self) -> DatabaseSettings {
        self.settings.clone()
    }

    /// The first row `sql` returns. Panics when the query fails or returns nothing.
    pub async fn row(&self, sql: impl Into<String>) -> sea_orm::QueryResult {
        let sql = sql.into();
        self.connection
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql.clone(),
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// `column` of the first row `sql` returns.
    pub async fn value<T: sea_orm::TryGetable>(&self, sql: impl Into<String>, column: &str) -> T {
        self.row(sql)
            .await
            .try_get("", column)
            .unwrap_or_else(|e| panic!("column {column}: {e}"))
    }

    /// Inserts a user who cannot sign in (password hash `x`) and returns its id.
    pub async fn insert_user(&self, email: &str, display_name: &str, locale: &str) -> uuid::Uuid {
        let id = uuid::Uuid::now_v7();
        self.connection
            .execute_unprepared(&format!(
                "INSERT INTO users (id, email, display_name, locale, password_hash) \
                 VALUES ('{id}', '{email}', '{display_name}', '{locale}', 'x')"
            ))
            .await
            .expect("insert the user");
        id
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down: use a thread with its own runtime.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await.ok()?;
                let result = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/fiapx", "t1"),
            "postgres://u:p@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/fiapx?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
    }
}
