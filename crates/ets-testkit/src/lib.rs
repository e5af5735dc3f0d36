//! Fresh databases for tests. PostgreSQL comes from `TEST_DATABASE_URL` (a
//! URL of a server where the user may create databases); each test gets a
//! database of its own, dropped when the test ends. Without the variable the
//! PostgreSQL half of each suite is skipped and says so loudly on stderr; in
//! CI (`CI` set) its absence is an error.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Once;

use sqlx::Connection;

/// The variable naming the PostgreSQL server for tests.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Which kind.
    pub kind: Kind,
    /// The URL to give the store or the server.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Postgres { admin_url: String, name: String },
    Sqlite { dir: PathBuf },
}

impl TestDatabase {
    /// A new SQLite file in a new temporary folder.
    #[must_use]
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("ets-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        let path = dir.join("ets-ledger.db");
        Self {
            kind: Kind::Sqlite,
            url: format!("sqlite:{}", path.display()),
            cleanup: Cleanup::Sqlite { dir },
        }
    }

    /// A new PostgreSQL database, or `None` (after a loud notice) when
    /// `TEST_DATABASE_URL` is not set.
    ///
    /// # Panics
    /// When the server refuses to create the database, or when `CI` is set
    /// and `TEST_DATABASE_URL` is not.
    pub async fn postgres() -> Option<Self> {
        let admin_url = postgres_url()?;
        let name = format!("ets_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {TEST_DATABASE_URL}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        Some(Self {
            kind: Kind::Postgres,
            url: with_database(&admin_url, &name),
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// One fresh database of each kind available: SQLite always, PostgreSQL
    /// when configured.
    pub async fn each() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres().await);
        databases
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread of our own.
                let dropper = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    runtime.block_on(async {
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut admin)
                            .await;
                        }
                    });
                });
                let _ = dropper.join();
            }
        }
    }
}

/// The PostgreSQL server URL for tests, if configured.
///
/// # Panics
/// In CI (`CI` set) when it is not configured: CI must run the PostgreSQL suite.
#[must_use]
pub fn postgres_url() -> Option<String> {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{TEST_DATABASE_URL} is not set in CI: the PostgreSQL suite must run"
            );
            warn_skipped();
            None
        }
    }
}

fn warn_skipped() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Written past the test harness's output capture on purpose.
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\n!! POSTGRESQL SUITE SKIPPED: {TEST_DATABASE_URL} is not set.\n!! Only SQLite was tested. \
             Run e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test --workspace\n{bar}\n",
            bar = "!".repeat(78)
        );
    });
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_replaces_the_one_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
