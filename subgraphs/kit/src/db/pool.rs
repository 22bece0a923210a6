//! The connection pool under `Db`: deadpool's, holding sqlx connections.
//!
//! sqlx's own pool pings every connection given back to it, to flush what a
//! dropped future may have left half done: a round trip to PostgreSQL (or to
//! SQLite's worker thread) after every transaction and every statement run
//! outside one, and no setting turns it off. Here a connection is tested
//! only when it needs to be: when it comes back from a statement or a
//! transaction that did not finish (an error, or a future dropped part way),
//! or when it sat idle long enough to have been cut. A transaction that did
//! not finish is rolled back first, as sqlx's does.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::any::AnyConnectOptions;
use sqlx::{Any, AnyConnection, Connection as _, Database, Executor as _, TransactionManager};

/// How long a pooled connection may sit idle before it is tested on its next use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// How long a caller waits for a connection, or for a new one to be opened.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

pub type Pool = managed::Pool<Connections>;

/// Opens connections to one database, each set up with `setup` first.
#[derive(Debug)]
pub struct Connections {
    options: AnyConnectOptions,
    setup: Option<&'static str>,
}

/// A pooled connection, and whether whoever last held it finished with it.
pub struct Connection {
    raw: AnyConnection,
    /// True from the moment the connection is handed out until its holder
    /// finishes normally: still true when it comes back, it is tested first.
    unfinished: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Connection").field("unfinished", &self.unfinished).finish_non_exhaustive()
    }
}

impl managed::Manager for Connections {
    type Type = Connection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Connection, sqlx::Error> {
        let mut raw = AnyConnection::connect_with(&self.options).await?;
        if let Some(setup) = self.setup {
            raw.execute(setup).await?;
        }
        Ok(Connection { raw, unfinished: false })
    }

    async fn recycle(&self, connection: &mut Connection, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        // A ping also flushes what an unfinished holder left queued (the
        // rollback of its transaction) and fails on a broken connection,
        // which the pool then drops for a new one.
        if connection.unfinished || metrics.last_used() > IDLE_BEFORE_PING {
            connection.raw.ping().await?;
            connection.unfinished = false;
        }
        Ok(())
    }
}

/// A pool of at most `size` connections to `url`, opened as they are needed.
pub fn open(url: &str, size: usize, setup: Option<&'static str>) -> Result<Pool, sqlx::Error> {
    let options = AnyConnectOptions::from_str(url)?;
    managed::Pool::builder(Connections { options, setup })
        .max_size(size)
        // The connection used last is the one most likely still warm.
        .queue_mode(managed::QueueMode::Lifo)
        .wait_timeout(Some(ACQUIRE_TIMEOUT))
        .create_timeout(Some(ACQUIRE_TIMEOUT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|error| sqlx::Error::Configuration(error.into()))
}

/// A connection of `pool`, marked unfinished until its holder says otherwise.
pub async fn acquire(pool: &Pool) -> Result<Held, sqlx::Error> {
    let mut connection = pool.get().await.map_err(|error| match error {
        PoolError::Backend(error) => error,
        PoolError::Timeout(_) => sqlx::Error::PoolTimedOut,
        PoolError::Closed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Configuration(other.to_string().into()),
    })?;
    connection.unfinished = true;
    Ok(Held(connection))
}

/// Closes `pool`: its idle connections are closed politely now, the ones in
/// use when they come back.
pub async fn close(pool: &Pool) {
    let idle = pool.retain(|_, _| false).removed;
    pool.close();
    for connection in idle {
        let _ = connection.raw.close().await;
    }
}

/// A connection taken from the pool; it goes back when dropped.
pub struct Held(Object<Connections>);

impl Held {
    /// Its holder is done with it and left nothing under way.
    pub fn finished(&mut self) {
        self.0.unfinished = false;
    }
}

impl Deref for Held {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.0.raw
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0.raw
    }
}

type Transactions = <Any as Database>::TransactionManager;

/// A transaction on a pooled connection: committed or rolled back
/// explicitly, rolled back when dropped before.
pub struct Tx {
    connection: Held,
    open: bool,
}

impl Tx {
    pub(super) async fn begin(mut connection: Held) -> Result<Tx, sqlx::Error> {
        Transactions::begin(&mut connection, None).await?;
        Ok(Tx { connection, open: true })
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        Transactions::commit(&mut self.connection).await?;
        self.open = false;
        self.connection.finished();
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        Transactions::rollback(&mut self.connection).await?;
        self.open = false;
        self.connection.finished();
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            // Queued: the test before the connection's next use sends it.
            Transactions::start_rollback(&mut self.connection);
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.connection
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::postgres_url;

    /// One connection, so every use below is the same session (or its replacement).
    fn one_connection(url: &str) -> Pool {
        sqlx::any::install_default_drivers();
        open(url, 1, None).unwrap()
    }

    async fn count(pool: &Pool, table: &str) -> i64 {
        let mut connection = acquire(pool).await.unwrap();
        let counted = sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}")).fetch_one(&mut *connection).await.unwrap();
        connection.finished();
        counted
    }

    async fn a_transaction_dropped_unfinished_is_rolled_back_before_reuse(url: &str, create: &str) {
        let pool = one_connection(url);
        let mut connection = acquire(&pool).await.unwrap();
        sqlx::query(create).execute(&mut *connection).await.unwrap();
        connection.finished();
        drop(connection);
        let mut abandoned = Tx::begin(acquire(&pool).await.unwrap()).await.unwrap();
        sqlx::query("INSERT INTO scratch (n) VALUES (1)").execute(&mut *abandoned).await.unwrap();
        drop(abandoned);
        assert_eq!(count(&pool, "scratch").await, 0, "the abandoned insert was rolled back");
        let mut next = Tx::begin(acquire(&pool).await.unwrap()).await.expect("the connection is out of the old transaction");
        sqlx::query("INSERT INTO scratch (n) VALUES (2)").execute(&mut *next).await.unwrap();
        next.commit().await.unwrap();
        assert_eq!(count(&pool, "scratch").await, 1);
        close(&pool).await;
    }

    #[tokio::test]
    async fn on_sqlite_a_transaction_dropped_unfinished_is_rolled_back_before_reuse() {
        a_transaction_dropped_unfinished_is_rolled_back_before_reuse("sqlite::memory:", "CREATE TABLE scratch (n BIGINT)").await;
    }

    #[tokio::test]
    async fn on_postgres_a_transaction_dropped_unfinished_is_rolled_back_before_reuse() {
        // A temporary table lives as long as the session: only this test's connection sees it.
        a_transaction_dropped_unfinished_is_rolled_back_before_reuse(&postgres_url(), "CREATE TEMPORARY TABLE scratch (n BIGINT)").await;
    }

    #[tokio::test]
    async fn a_statement_abandoned_part_way_leaves_its_connection_usable() {
        let pool = one_connection(&postgres_url());
        let mut connection = acquire(&pool).await.unwrap();
        let abandoned = tokio::time::timeout(Duration::from_millis(50), sqlx::query("SELECT pg_sleep(0.5)").execute(&mut *connection)).await;
        assert!(abandoned.is_err(), "the statement was dropped before its answer");
        drop(connection);
        let mut connection = acquire(&pool).await.unwrap();
        let answer: i32 = sqlx::query_scalar("SELECT 7").fetch_one(&mut *connection).await.unwrap();
        assert_eq!(answer, 7, "the next statement reads its own answer, not the abandoned one's");
    }

    #[tokio::test]
    async fn a_connection_the_server_cut_is_replaced() {
        let pool = one_connection(&postgres_url());
        let backend = |pool: Pool| async move {
            let mut connection = acquire(&pool).await?;
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *connection).await?;
            connection.finished();
            Ok::<_, sqlx::Error>(pid)
        };
        let cut = backend(pool.clone()).await.unwrap();
        let mut admin = AnyConnection::connect(&postgres_url()).await.unwrap();
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(cut).fetch_one(&mut admin).await.unwrap();
        assert!(terminated);
        admin.close().await.unwrap();
        // The first use after the cut may fail with it; the one after runs on a new connection.
        let first = backend(pool.clone()).await;
        let replaced = match first {
            Ok(pid) => pid,
            Err(_) => backend(pool.clone()).await.expect("a failed connection is tested and replaced"),
        };
        assert_ne!(replaced, cut);
    }
}
