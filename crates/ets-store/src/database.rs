//! The API's reads, run on either database: one SQL text per read, written
//! in PostgreSQL's dialect and rendered for SQLite (`$1::uuid` becomes
//! `?1`, `COLLATE "C"` goes: SQLite compares text byte by byte anyway), its
//! parameters bound in each backend's types, its rows decoded once through
//! [`StoredRow`]. This is the one place that asks which database it is.

use std::borrow::Cow;
use std::future::Future;

use futures_util::TryStreamExt as _;

use chrono::{DateTime, Utc};
use ets_core::journal::format_time;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::StoreError;
use crate::load::Read;
use crate::rows::StoredRow;

/// A connection pool to either database.
#[derive(Clone)]
pub(crate) enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A value bound to a read; `None` is SQL `NULL`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Uuid(Option<Uuid>),
    Text(Option<&'a str>),
    Integer(Option<i64>),
    Time(Option<DateTime<Utc>>),
}

impl Database {
    /// On SQLite, copies the write-ahead log into the database file and
    /// empties it (`wal_checkpoint(TRUNCATE)`, which waits for any reader
    /// or writer still busy, up to the busy timeout): whether it did, which
    /// it always does on PostgreSQL (nothing to do).
    pub(crate) async fn empty_log(&self) -> Result<bool, sqlx::Error> {
        if let Self::Sqlite(pool) = self {
            // (busy, frames in the log, frames copied): busy when a reader
            // or writer outlasted the wait.
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await?;
            return Ok(busy == 0);
        }
        Ok(true)
    }

    /// `postgres` or `sqlite`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// Open and idle connections.
    pub(crate) fn pool_use(&self) -> (u32, usize) {
        match self {
            Self::Postgres(pool) => (pool.size(), pool.num_idle()),
            Self::Sqlite(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// Every row `sql` answers, decoded.
    ///
    /// # Errors
    /// The database failure, or a stored value that does not decode.
    pub(crate) async fn all<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        decode: impl Fn(&dyn StoredRow) -> Read<T>,
    ) -> Result<Vec<T>, StoreError> {
        let decoded = match self {
            Self::Postgres(pool) => {
                let rows = postgres_query(sql, params).fetch_all(pool).await?;
                rows.iter().map(|row| decode(row)).collect::<Read<_>>()
            }
            Self::Sqlite(pool) => {
                let sql = sqlite_sql(sql);
                let rows = sqlite_query(&sql, params).fetch_all(pool).await?;
                rows.iter().map(|row| decode(row)).collect::<Read<_>>()
            }
        };
        Ok(decoded?)
    }

    /// Runs a statement that answers no rows; the number of rows it changed.
    ///
    /// # Errors
    /// The database failure.
    pub(crate) async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        Ok(match self {
            Self::Postgres(pool) => postgres_query(sql, params)
                .execute(pool)
                .await?
                .rows_affected(),
            Self::Sqlite(pool) => {
                let sql = sqlite_sql(sql);
                sqlite_query(&sql, params)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// The first row `sql` answers, if any, decoded.
    ///
    /// # Errors
    /// As [`Database::all`].
    pub(crate) async fn first<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        decode: impl Fn(&dyn StoredRow) -> Read<T>,
    ) -> Result<Option<T>, StoreError> {
        let decoded = match self {
            Self::Postgres(pool) => {
                let row = postgres_query(sql, params).fetch_optional(pool).await?;
                row.as_ref().map(|row| decode(row)).transpose()
            }
            Self::Sqlite(pool) => {
                let sql = sqlite_sql(sql);
                let row = sqlite_query(&sql, params).fetch_optional(pool).await?;
                row.as_ref().map(|row| decode(row)).transpose()
            }
        };
        Ok(decoded?)
    }
}

/// A consistent read of many statements: a read-only transaction, at
/// REPEATABLE READ on PostgreSQL (one snapshot for all its statements); on
/// SQLite a deferred transaction, whose first read fixes what the WAL shows
/// it. Rolled back when dropped.
pub(crate) enum Snapshot {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

impl Database {
    /// Begins a [`Snapshot`] on a connection of the pool.
    ///
    /// # Errors
    /// The database failure.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        match self {
            Self::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *transaction)
                    .await?;
                Ok(Snapshot::Postgres(transaction))
            }
            Self::Sqlite(pool) => Ok(Snapshot::Sqlite(pool.begin().await?)),
        }
    }

    /// A [`Snapshot`] and, on PostgreSQL, a second one on another
    /// connection that sees exactly what the first sees (it imports the
    /// first's exported snapshot), so two reads of one instant can run at
    /// once. SQLite's connections cannot share a snapshot: `None`.
    ///
    /// # Errors
    /// The database failure.
    pub(crate) async fn shared_snapshot(&self) -> Result<(Snapshot, Option<Snapshot>), StoreError> {
        let (pool, mut transaction) = match (self, self.snapshot().await?) {
            (Self::Postgres(pool), Snapshot::Postgres(transaction)) => (pool, transaction),
            (_, first) => return Ok((first, None)),
        };
        let (id,): (String,) = sqlx::query_as("SELECT pg_export_snapshot()")
            .fetch_one(&mut *transaction)
            .await?;
        // `SET TRANSACTION SNAPSHOT` takes no parameter; the id is
        // PostgreSQL's own (hex digits and dashes), checked anyway.
        if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::Internal(
                "an exported snapshot id that is not hex",
            ));
        }
        let mut second = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *second)
            .await?;
        sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
            .execute(&mut *second)
            .await?;
        Ok((
            Snapshot::Postgres(transaction),
            Some(Snapshot::Postgres(second)),
        ))
    }
}

impl Snapshot {
    /// Whether this is PostgreSQL, whose `numeric` sums exactly in SQL
    /// (SQLite's `SUM` of decimals kept as text is a float).
    pub(crate) fn sums_exactly(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Hands each row `sql` answers, decoded, to `each` as the database
    /// sends it: the rows are never all in memory. Stops at the first
    /// error, the database's or the one `each` returns.
    ///
    /// # Errors
    /// The database failure, a stored value that does not decode, or what
    /// `each` returns.
    pub(crate) async fn each<T, E, F, Fut>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        decode: impl Fn(&dyn StoredRow) -> Read<T>,
        mut each: F,
    ) -> Result<(), E>
    where
        E: From<StoreError>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        match self {
            Self::Postgres(transaction) => {
                let mut rows = postgres_query(sql, params).fetch(&mut **transaction);
                while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
                    each(decode(&row).map_err(StoreError::from)?).await?;
                }
            }
            Self::Sqlite(transaction) => {
                let sql = sqlite_sql(sql);
                let mut rows = sqlite_query(&sql, params).fetch(&mut **transaction);
                while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
                    each(decode(&row).map_err(StoreError::from)?).await?;
                }
            }
        }
        Ok(())
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn postgres_query<'q>(sql: &'q str, params: &[Param<'q>]) -> PgQuery<'q> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match *param {
            Param::Uuid(value) => query.bind(value),
            Param::Text(value) => query.bind(value),
            Param::Integer(value) => query.bind(value),
            Param::Time(value) => query.bind(value),
        })
}

/// SQLite keeps uuids and times as text (times in the journal's fixed-width
/// form, so text order is time order).
fn sqlite_query<'q>(sql: &'q str, params: &[Param<'q>]) -> SqliteQuery<'q> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match *param {
            Param::Uuid(value) => query.bind(value.map(|id| id.to_string())),
            Param::Text(value) => query.bind(value),
            Param::Integer(value) => query.bind(value),
            Param::Time(value) => query.bind(value.map(format_time)),
        })
}

/// Renders PostgreSQL's dialect for SQLite: `$n` and `$n::type` become `?n`
/// (SQLite needs no cast to type a `NULL`), and `COLLATE "C"` goes.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') && !sql.contains("COLLATE") {
        return Cow::Borrowed(sql);
    }
    let sql = sql.replace(" COLLATE \"C\"", "");
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        out.push('?');
        while let Some(digit) = chars.next_if(char::is_ascii_digit) {
            out.push(digit);
        }
        // A cast after the placeholder: `::name` and an optional `[]`.
        if chars.peek() == Some(&':') {
            chars.next();
            chars.next_if_eq(&':');
            while chars
                .next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                .is_some()
            {}
            if chars.next_if_eq(&'[').is_some() {
                chars.next_if_eq(&']');
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    #[test]
    fn postgres_placeholders_and_casts_render_as_sqlite_placeholders() {
        assert_eq!(
            sqlite_sql("WHERE ($1::uuid IS NULL OR id > $1) AND at <= $12 LIMIT $2"),
            "WHERE (?1 IS NULL OR id > ?1) AND at <= ?12 LIMIT ?2"
        );
        assert_eq!(
            sqlite_sql(
                "WHERE $1::text IS NULL OR code COLLATE \"C\" > $1 ORDER BY code COLLATE \"C\""
            ),
            "WHERE ?1 IS NULL OR code > ?1 ORDER BY code"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }
}
