//! Database access shared by all subgraphs: one SQL dialect through sqlx's
//! `Any` driver, so the same queries and migrations run on SQLite (dev) and
//! PostgreSQL (distributed). Integers are BIGINT (i64 on both), timestamps are
//! RFC 3339 UTC text, ids are opaque text.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql::dataloader::{DataLoader, Loader};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use sqlx::any::{AnyPoolOptions, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Connection as _, Describe, Either, Execute, Executor, Transaction};
use tokio::sync::mpsc;

/// A subgraph's connection pool. It counts the statements run through it, so
/// tests can prove that a page of N entities costs a constant number of
/// statements rather than N.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    statements: Arc<AtomicU64>,
    postgres: bool,
}

impl Db {
    /// The one place the dialects differ: row locks that skip locked rows.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The same pool with a counter of its own, for background work (relays,
    /// consumers, sweeps) so that it does not blur what requests cost.
    pub fn counted_apart(&self) -> Db {
        Db { statements: Arc::default(), ..self.clone() }
    }

    /// Statements run outside transactions since the pool was opened.
    pub fn statements_run(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

impl<'p> Executor<'p> for &'p Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        self.statements.fetch_add(1, Ordering::Relaxed);
        (&self.pool).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        self.statements.fetch_add(1, Ordering::Relaxed);
        (&self.pool).fetch_optional(query)
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).describe(sql)
    }
}

/// The tables every subgraph database has beside its own (migrations/kit):
/// idempotency keys and leased work items.
pub fn migrator() -> Migrator {
    sqlx::migrate!("../../migrations/kit")
}

/// Opens the pool and brings the schema up to date with each of `migrators`
/// in turn; they share one history table, each ignoring the others' versions.
///
/// SQLite gets a single connection: SQLite allows one writer at a time and a
/// deferred transaction that later wants to write fails with SQLITE_BUSY
/// instead of waiting, so serialising access in the pool is what keeps
/// concurrent checkouts correct on the embedded database.
#[tracing::instrument(skip(url, migrators), fields(url = %redact(url)))]
pub async fn connect(url: &str, migrators: Vec<Migrator>) -> anyhow::Result<Db> {
    install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    if let Some(folder) = sqlite_folder(url) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    let options = if sqlite {
        AnyPoolOptions::new().max_connections(1).after_connect(|conn, _| {
            Box::pin(async move {
                // A 64 MiB page cache: a catalog of 100,000 products is some 300 MB,
                // and listings read the same index pages request after request.
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;")
                    .await?;
                Ok(())
            })
        })
    } else {
        AnyPoolOptions::new().max_connections(pool_size()?)
    };
    let pool = options
        // A ping costs a round trip per acquire, as much as a short statement:
        // only a connection that sat idle (and may have been cut meanwhile) is tested.
        .test_before_acquire(false)
        .before_acquire(|conn, metadata| {
            Box::pin(async move {
                if metadata.idle_for > IDLE_BEFORE_PING {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    for mut migrator in migrators {
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await.context("running the database migrations")?;
    }
    Ok(Db { pool, statements: Arc::default(), postgres: !sqlite })
}

/// How long a pooled connection may sit idle before it is tested on its next use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Connections a PostgreSQL pool may open: DATABASE_POOL_SIZE, 10 by
/// default (seven processes of the shop stay under PostgreSQL's default of 100).
fn pool_size() -> anyhow::Result<u32> {
    match std::env::var("DATABASE_POOL_SIZE") {
        Ok(text) => text.parse().ok().filter(|n| *n >= 1).with_context(|| format!("DATABASE_POOL_SIZE: {text:?} is not a count of 1 or more")),
        Err(_) => Ok(10),
    }
}

/// The folder of a SQLite database file, which must exist before SQLite can create the file.
fn sqlite_folder(url: &str) -> Option<&std::path::Path> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    std::path::Path::new(path).parent().filter(|folder| !folder.as_os_str().is_empty())
}

/// A connection URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

/// A value bound to a statement written at run time.
#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    OptionalText(Option<String>),
    Int(i64),
    Float(f64),
}

/// Binds `args` to `sql`, in order.
pub fn query_with<'q>(sql: &'q str, args: &'q [Arg]) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |query, arg| match arg {
        Arg::Text(text) => query.bind(text.as_str()),
        Arg::OptionalText(text) => query.bind(text.as_deref()),
        Arg::Int(int) => query.bind(*int),
        Arg::Float(float) => query.bind(*float),
    })
}

/// Binds `args` to `sql`, in order, for rows read as `R`.
pub fn query_as_with<'q, R>(sql: &'q str, args: &'q [Arg]) -> sqlx::query::QueryAs<'q, Any, R, sqlx::any::AnyArguments<'q>>
where
    R: for<'r> sqlx::FromRow<'r, AnyRow>,
{
    args.iter().fold(sqlx::query_as(sql), |query, arg| match arg {
        Arg::Text(text) => query.bind(text.as_str()),
        Arg::OptionalText(text) => query.bind(text.as_deref()),
        Arg::Int(int) => query.bind(*int),
        Arg::Float(float) => query.bind(*float),
    })
}

/// Inserts `rows` with `insert` ("INSERT INTO t (a, b)") and `then` (an
/// ON CONFLICT clause, or empty), many rows to a statement: loading a large
/// catalog is a few hundred statements, not millions of round trips.
/// Answers how many rows were inserted.
pub async fn insert_rows(tx: &mut sqlx::AnyConnection, insert: &str, then: &str, rows: &[Vec<Arg>]) -> Result<u64, sqlx::Error> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(0) };
    // Both engines take at least 32,766 parameters to a statement.
    let per_statement = (30_000 / width.max(1)).max(1);
    let mut inserted = 0;
    for chunk in rows.chunks(per_statement) {
        let values: Vec<String> = (0..chunk.len()).map(|row| format!("({})", placeholders(row * width + 1, width))).collect();
        let sql = format!("{insert} VALUES {} {then}", values.join(", "));
        let args: Vec<Arg> = chunk.iter().flatten().cloned().collect();
        inserted += query_with(&sql, &args).execute(&mut *tx).await?.rows_affected();
    }
    Ok(inserted)
}

/// "$1, $2, ..., $n" starting at `$from`: the placeholder style both engines accept.
pub fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// True when `error` is a unique-constraint violation, so callers can turn a
/// lost insert race into a client answer instead of reading before writing.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// The outcome of an insert guarded by a unique key: false when the key
/// says it was done before (a delivery recorded, an idempotency key or a
/// cart already claimed).
pub fn inserted_once(result: Result<AnyQueryResult, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// A new row id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time as stored: RFC 3339 UTC with milliseconds, which sorts as text.
pub fn now() -> String {
    timestamp(chrono::Utc::now())
}

pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The stored time `after` from now.
pub fn from_now(after: Duration) -> String {
    timestamp(chrono::Utc::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX))
}

pub fn parse_timestamp(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("stored timestamp {text:?}"))?
        .with_timezone(&chrono::Utc))
}

/// Fetches the rows whose key is in `keys`, in one statement: `sql` holds
/// `{keys}` where the placeholder list goes. The shape behind every batch loader.
pub async fn fetch_by_keys<'c, T, E>(executor: E, sql: &str, keys: &[String]) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    E: Executor<'c, Database = Any>,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = sql.replace("{keys}", &placeholders(1, keys.len()));
    let mut query = sqlx::query_as::<_, T>(&sql);
    for key in keys {
        query = query.bind(key);
    }
    query.fetch_all(executor).await
}

/// How many turns of its request's task a batch waits before it runs its
/// one statement. The batch runs in the same task as the walk over the
/// response (see `Batches::run`), which gives way every 32 items of a list;
/// each turn lets the walk go on, so a whole level of a page lands in one
/// batch. Counted in turns, not time, so a busy machine cannot split a batch.
const BATCH_TURNS: usize = 16;

/// Where a request's batch loaders run their batches.
#[derive(Clone)]
pub struct Batches(Option<mpsc::UnboundedSender<BoxFuture<'static, ()>>>);

impl Batches {
    /// Runs `work` (one request's execution) with the batches its loaders
    /// start driven in the same task, so they see the walk's progress.
    pub async fn run<F: Future>(work: impl FnOnce(Batches) -> F) -> F::Output {
        let (sender, mut started) = mpsc::unbounded_channel();
        let work = work(Batches(Some(sender)));
        let mut running = FuturesUnordered::new();
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            loop {
                while let Poll::Ready(Some(batch)) = started.poll_recv(cx) {
                    running.push(batch);
                }
                match running.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => continue,
                    Poll::Ready(None) | Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    /// Batches run as tasks of their own, for work that is not one request's
    /// walk (a subscription's stream, a test's request).
    pub fn spawned() -> Batches {
        Batches(None)
    }

    fn start(&self, batch: BoxFuture<'static, ()>) {
        use tracing::Instrument;
        let batch = async move {
            for _ in 0..BATCH_TURNS {
                tokio::task::yield_now().await;
            }
            batch.await
        }
        .in_current_span()
        .boxed();
        match &self.0 {
            // The request's task is gone only when its answer is; nobody waits for this batch then.
            Some(sender) => drop(sender.send(batch)),
            None => drop(tokio::spawn(batch)),
        }
    }
}

/// A batching loader whose batches `batches` runs.
fn loader<L: Loader<String>>(inner: L, batches: &Batches) -> DataLoader<L> {
    let batches = batches.clone();
    DataLoader::new(inner, move |batch| batches.start(batch)).delay(Duration::ZERO)
}

/// Rows loaded in batches by a key column: `sql` selects them with
/// `IN ({keys})`, and `key` reads a row's key back.
pub struct ByKey<R> {
    db: Db,
    sql: String,
    key: fn(&R) -> &str,
}

/// The row for each key.
pub type OneByKey<R> = DataLoader<ByKey<R>>;

/// Every row for each key (a cart's lines, an order's timeline), in the order `sql` sorts them.
pub struct GroupedByKey<R>(ByKey<R>);

pub type ManyByKey<R> = DataLoader<GroupedByKey<R>>;

pub fn one_by_key<R: Row>(db: &Db, batches: &Batches, sql: impl Into<String>, key: fn(&R) -> &str) -> OneByKey<R> {
    loader(ByKey { db: db.clone(), sql: sql.into(), key }, batches)
}

pub fn many_by_key<R: Row>(db: &Db, batches: &Batches, sql: impl Into<String>, key: fn(&R) -> &str) -> ManyByKey<R> {
    loader(GroupedByKey(ByKey { db: db.clone(), sql: sql.into(), key }), batches)
}

/// What a batch loader can load.
pub trait Row: for<'r> sqlx::FromRow<'r, AnyRow> + Clone + Send + Sync + Unpin + 'static {}

impl<R> Row for R where R: for<'r> sqlx::FromRow<'r, AnyRow> + Clone + Send + Sync + Unpin + 'static {}

impl<R: Row> Loader<String> for ByKey<R> {
    type Value = R;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, R>, Self::Error> {
        let rows: Vec<R> = fetch_by_keys(&self.db, &self.sql, keys).await?;
        Ok(rows.into_iter().map(|row| ((self.key)(&row).to_string(), row)).collect())
    }
}

impl<R: Row> Loader<String> for GroupedByKey<R> {
    type Value = Vec<R>;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Vec<R>>, Self::Error> {
        let rows: Vec<R> = fetch_by_keys(&self.0.db, &self.0.sql, keys).await?;
        let mut grouped: HashMap<String, Vec<R>> = HashMap::new();
        for row in rows {
            grouped.entry((self.0.key)(&row).to_string()).or_default().push(row);
        }
        Ok(grouped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_start() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }

    #[test]
    fn sqlite_folder_is_the_files_parent() {
        assert_eq!(sqlite_folder("sqlite://data/x.db?mode=rwc"), Some(std::path::Path::new("data")));
        assert_eq!(sqlite_folder("sqlite://x.db"), None);
        assert_eq!(sqlite_folder("sqlite::memory:"), None);
        assert_eq!(sqlite_folder("postgres://h/db"), None);
    }

    #[test]
    fn redact_hides_credentials() {
        assert_eq!(redact("postgres://u:secret@127.0.0.1/db"), "postgres://***@127.0.0.1/db");
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
