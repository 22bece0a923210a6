//! Database access shared by all subgraphs: one SQL dialect through sqlx's
//! `Any` driver, so the same queries and migrations run on SQLite (dev) and
//! PostgreSQL (distributed). Integers are BIGINT (i64 on both), timestamps are
//! RFC 3339 UTC text, ids are opaque text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql::dataloader::{DataLoader, Loader};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, Describe, Either, Execute, Executor};
use tokio::sync::mpsc;

mod pool;
pub use pool::Tx;
use pool::{Pool, acquire};

/// A subgraph's connection pool. It counts the statements run through it, so
/// tests can prove that a page of N entities costs a constant number of
/// statements rather than N.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// SQLite's readers: a SELECT outside a transaction runs on one of these,
    /// beside the single writer (see `connect`). None on PostgreSQL, whose
    /// pool serves both.
    readers: Option<Pool>,
    statements: Arc<AtomicU64>,
    postgres: bool,
}

impl Db {
    /// Where the dialects differ: row locks that skip locked rows, and writes
    /// in WITH (see `Writes`, which asks the connection itself).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Tx::begin(acquire(&self.pool).await?).await
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
        if let Some(readers) = &self.readers {
            pool::close(readers).await;
        }
        pool::close(&self.pool).await
    }

    /// The pool a statement outside a transaction runs on: a read goes to
    /// the readers when there are any.
    fn pool_for(&self, sql: &str) -> &Pool {
        match &self.readers {
            Some(readers) if is_read(sql) => readers,
            _ => &self.pool,
        }
    }
}

/// Whether `sql` only reads: a SELECT, or a WITH whose body is one (a
/// statement that writes starts with INSERT, UPDATE or DELETE here).
fn is_read(sql: &str) -> bool {
    let sql = sql.trim_start();
    let starts = |word: &str| sql.get(..word.len()).is_some_and(|start| start.eq_ignore_ascii_case(word));
    starts("SELECT") || (starts("WITH") && !["INSERT", "UPDATE", "DELETE"].iter().any(|write| sql.to_ascii_uppercase().contains(write)))
}

impl<'p> Executor<'p> for &'p Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let pool = self.pool_for(query.sql());
        // The connection is held until every result has been read; the
        // statements run here outside transactions answer a page at most.
        let results = async move {
            let mut connection = acquire(pool).await?;
            let results: Vec<_> = (&mut *connection).fetch_many(query).collect().await;
            if results.iter().all(Result::is_ok) {
                connection.finished();
            }
            Ok::<_, sqlx::Error>(results)
        };
        results.map(|read| futures::stream::iter(read.unwrap_or_else(|error| vec![Err(error)]))).flatten_stream().boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let pool = self.pool_for(query.sql());
        async move {
            let mut connection = acquire(pool).await?;
            let row = (&mut *connection).fetch_optional(query).await?;
            connection.finished();
            Ok(row)
        }
        .boxed()
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        async move {
            let mut connection = acquire(&self.pool).await?;
            let statement = (&mut *connection).prepare_with(sql, parameters).await?;
            connection.finished();
            Ok(statement)
        }
        .boxed()
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'p: 'e,
    {
        async move {
            let mut connection = acquire(&self.pool).await?;
            let described = (&mut *connection).describe(sql).await?;
            connection.finished();
            Ok(described)
        }
        .boxed()
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
/// SQLite gets a single writing connection: SQLite allows one writer at a
/// time and a deferred transaction that later wants to write fails with
/// SQLITE_BUSY instead of waiting, so serialising writes in the pool is what
/// keeps concurrent checkouts correct on the embedded database. Reads outside
/// transactions go to a pool of read-only connections, one per core: in WAL
/// mode they read the last committed state beside the writer, so a product
/// page is not queued behind every other request's SQL on one thread.
#[tracing::instrument(skip(url, migrators), fields(url = %redact(url)))]
pub async fn connect(url: &str, migrators: Vec<Migrator>) -> anyhow::Result<Db> {
    install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    if let Some(folder) = sqlite_folder(url) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    let connecting = || format!("connecting to {}", redact(url));
    let pool = pool::open(url, if sqlite { 1 } else { pool_size()? }, sqlite.then_some(SQLITE_PRAGMAS)).with_context(connecting)?;
    {
        let mut connection = acquire(&pool).await.with_context(connecting)?;
        for mut migrator in migrators {
            migrator.set_ignore_missing(true);
            migrator.run(&mut *connection).await.context("running the database migrations")?;
        }
        connection.finished();
    }
    // An in-memory database is private to its one connection: it has no readers.
    let readers = match sqlite && !url.contains(":memory:") && !url.contains("mode=memory") {
        true => {
            let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
            Some(pool::open(url, cores, Some(SQLITE_READER_PRAGMAS)).with_context(connecting)?)
        }
        false => None,
    };
    Ok(Db { pool, readers, statements: Arc::default(), postgres: !sqlite })
}

/// A 64 MiB page cache: a catalog of 100,000 products is some 300 MB, and
/// listings read the same index pages request after request.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;";
/// Readers refuse to write, so a statement sent to them by mistake fails loudly.
const SQLITE_READER_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536; PRAGMA query_only = ON;";

/// Connections a PostgreSQL pool may open: DATABASE_POOL_SIZE, 10 by
/// default (seven processes of the shop stay under PostgreSQL's default of 100).
fn pool_size() -> anyhow::Result<usize> {
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

/// One write with its values, for `Writes`.
#[derive(Clone, Debug)]
pub struct Write {
    pub sql: Cow<'static, str>,
    pub args: Vec<Arg>,
}

impl Write {
    /// `sql` numbers its placeholders from $1, and `args` holds one value for each.
    pub fn new(sql: impl Into<Cow<'static, str>>, args: Vec<Arg>) -> Write {
        Write { sql: sql.into(), args }
    }

    /// Runs it alone, on a connection, in a transaction or on the pool.
    pub async fn execute<'c, E>(&self, executor: E) -> Result<AnyQueryResult, sqlx::Error>
    where
        E: Executor<'c, Database = sqlx::Any>,
    {
        query_with(&self.sql, &self.args).execute(executor).await
    }
}

/// Writes made together in a transaction, none of which needs another's
/// answer or sees another's effect. On PostgreSQL they are sent as one
/// statement, the first as the statement proper and the others as
/// data-modifying WITH clauses, which PostgreSQL runs to completion with it,
/// checking foreign keys at its end: one round trip where each write would
/// cost one. SQLite has no writes in WITH, and a round trip there is a call
/// into the library, so it runs them one after another in the order given.
pub struct Writes {
    first: Write,
    rest: Vec<Write>,
}

/// The most values one combined statement carries; more (a cart of
/// thousands of lines) go one write at a time, as on SQLite.
const MAX_ARGS_TOGETHER: usize = 30_000;

impl Writes {
    pub fn new(first: Write) -> Writes {
        Writes { first, rest: Vec::new() }
    }

    pub fn and(mut self, write: Write) -> Writes {
        self.rest.push(write);
        self
    }

    pub fn and_all(mut self, writes: impl IntoIterator<Item = Write>) -> Writes {
        self.rest.extend(writes);
        self
    }

    pub async fn execute(self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        match self.as_one_statement(is_postgres(conn)) {
            Some((sql, args)) => query_with(&sql, &args).execute(conn).await.map(drop),
            None => {
                self.first.execute(&mut *conn).await?;
                one_by_one(&self.rest, conn).await
            }
        }
    }

    /// Runs them all, answering the row the first one returns (its RETURNING clause).
    pub async fn fetch_one<R>(self, conn: &mut sqlx::AnyConnection) -> Result<R, sqlx::Error>
    where
        R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        if let Some((sql, args)) = self.as_one_statement(is_postgres(conn)) {
            return query_as_with(&sql, &args).fetch_one(conn).await;
        }
        let row = query_as_with(&self.first.sql, &self.first.args).fetch_one(&mut *conn).await?;
        one_by_one(&self.rest, conn).await?;
        Ok(row)
    }

    /// Runs them as a transaction of their own, answering the row the first
    /// one returns. On PostgreSQL the one statement is that transaction, with
    /// no BEGIN or COMMIT to send; on SQLite they run between the two.
    pub async fn commit<R>(self, db: &Db) -> Result<R, sqlx::Error>
    where
        R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        if let Some((sql, args)) = self.as_one_statement(db.is_postgres()) {
            return query_as_with(&sql, &args).fetch_one(db).await;
        }
        let mut tx = db.begin().await?;
        let row = self.fetch_one(&mut tx).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// As `commit`, answering every row the first one returns.
    pub async fn commit_all<R>(self, db: &Db) -> Result<Vec<R>, sqlx::Error>
    where
        R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        if let Some((sql, args)) = self.as_one_statement(db.is_postgres()) {
            return query_as_with(&sql, &args).fetch_all(db).await;
        }
        let mut tx = db.begin().await?;
        let rows = query_as_with(&self.first.sql, &self.first.args).fetch_all(&mut *tx).await?;
        one_by_one(&self.rest, &mut tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Runs them only when `guard`, an UPDATE, changes a row, and answers
    /// whether it did: a status change and what it records. On PostgreSQL
    /// that is one statement, the guard a WITH clause that each write, an
    /// `INSERT … VALUES (…)`, takes its row from, so a guard that changes
    /// nothing leaves nothing written; elsewhere the guard runs first.
    pub async fn execute_if(self, guard: Write, conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
        if let Some((sql, args)) = self.guarded_by(&guard, is_postgres(conn)) {
            let changed: i64 = query_as_with::<(i64,)>(&sql, &args).fetch_one(conn).await?.0;
            return Ok(changed > 0);
        }
        if guard.execute(&mut *conn).await?.rows_affected() == 0 {
            return Ok(false);
        }
        self.execute(conn).await?;
        Ok(true)
    }

    /// How many values the writes carry together.
    fn values(&self) -> usize {
        self.first.args.len() + self.rest.iter().map(|write| write.args.len()).sum::<usize>()
    }

    /// The one statement of `execute_if` on PostgreSQL; None where the guard
    /// runs first, or where a write is not an `INSERT … VALUES (…)`.
    fn guarded_by(&self, guard: &Write, postgres: bool) -> Option<(String, Vec<Arg>)> {
        if !postgres || guard.args.len() + self.values() > MAX_ARGS_TOGETHER {
            return None;
        }
        let mut args = guard.args.clone();
        let mut clauses = vec![format!("guard AS ({} RETURNING 1)", guard.sql)];
        for (index, write) in std::iter::once(&self.first).chain(&self.rest).enumerate() {
            let (insert, values) = write.sql.split_once(" VALUES (")?;
            let row = values.strip_suffix(')')?;
            clauses.push(format!("write{} AS ({insert} SELECT {} FROM guard)", index + 1, renumbered(row, args.len())));
            args.extend(write.args.iter().cloned());
        }
        Some((format!("WITH {} SELECT COUNT(*) FROM guard", clauses.join(", ")), args))
    }

    /// The one statement PostgreSQL is sent; None where they go one by one.
    fn as_one_statement(&self, postgres: bool) -> Option<(String, Vec<Arg>)> {
        if !postgres || self.values() > MAX_ARGS_TOGETHER {
            return None;
        }
        if self.rest.is_empty() {
            return Some((self.first.sql.to_string(), self.first.args.clone()));
        }
        let mut args = self.first.args.clone();
        let mut clauses = Vec::with_capacity(self.rest.len());
        for (index, write) in self.rest.iter().enumerate() {
            clauses.push(format!("write{} AS ({})", index + 1, renumbered(&write.sql, args.len())));
            args.extend(write.args.iter().cloned());
        }
        Some((format!("WITH {} {}", clauses.join(", "), self.first.sql), args))
    }
}

async fn one_by_one(writes: &[Write], conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    for write in writes {
        write.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Whether `conn` is PostgreSQL's, for a statement written for each engine.
pub fn is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("postgresql")
}

/// `sql` with each placeholder $n written as $(n + by), for a statement
/// whose values follow `by` others. Our statements hold no `$` but in placeholders.
fn renumbered(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut end = at + 1;
        while let Some((_, digit)) = chars.next_if(|(_, next)| next.is_ascii_digit()) {
            end += digit.len_utf8();
        }
        if let Ok(number) = sql[at + 1..end].parse::<usize>() {
            out.push_str(&(number + by).to_string());
        }
    }
    out
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

/// How many turns a batch spawned outside a request's walk (see
/// `Batches::spawned`) waits before it runs, so that the loads of one
/// level of a subscription's answer land in it.
const SPAWNED_BATCH_TURNS: usize = 16;

/// How many polls in a row the walk may ask for at once before the batches
/// run anyway: a list of 100 items yields a few times at most, so this only
/// guards against a future that keeps waking itself.
const MAX_YIELDS_BEFORE_BATCHES: usize = 64;

/// Where a request's batch loaders run their batches.
#[derive(Clone)]
pub struct Batches(Option<mpsc::UnboundedSender<BoxFuture<'static, ()>>>);

impl Batches {
    /// Runs `work` (one request's execution) with the batches its loaders
    /// start driven in the same task. A batch runs only once the walk over
    /// the response can go no further without it: while the walk yields to
    /// go on (its task's budget runs out on a long list), its loads gather, so a
    /// whole level of a page lands in one batch whatever the machine's load,
    /// and the walk is polled once per step rather than once per turn.
    pub async fn run<F: Future>(work: impl FnOnce(Batches) -> F) -> F::Output {
        let (sender, mut started) = mpsc::unbounded_channel();
        let work = work(Batches(Some(sender)));
        let mut running = FuturesUnordered::new();
        let mut work = std::pin::pin!(work);
        let mut yields_in_a_row = 0;
        std::future::poll_fn(move |cx| {
            let asked_again = Arc::new(AskedAgain { asked: AtomicBool::new(false), task: cx.waker().clone() });
            let waker = std::task::Waker::from(asked_again.clone());
            if let Poll::Ready(output) = work.as_mut().poll(&mut std::task::Context::from_waker(&waker)) {
                return Poll::Ready(output);
            }
            if asked_again.asked.load(Ordering::Acquire) && yields_in_a_row < MAX_YIELDS_BEFORE_BATCHES {
                // The walk has more to do at once (the task is woken already).
                yields_in_a_row += 1;
                return Poll::Pending;
            }
            yields_in_a_row = 0;
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
        match &self.0 {
            // The request's task is gone only when its answer is; nobody waits for this batch then.
            Some(sender) => drop(sender.send(batch.in_current_span().boxed())),
            None => drop(tokio::spawn(
                async move {
                    for _ in 0..SPAWNED_BATCH_TURNS {
                        tokio::task::yield_now().await;
                    }
                    batch.await
                }
                .in_current_span(),
            )),
        }
    }
}

/// The waker the walk is polled with: it notes whether the walk asked to be
/// polled again (it yielded with more to do) and passes the call on.
struct AskedAgain {
    asked: AtomicBool,
    task: std::task::Waker,
}

impl std::task::Wake for AskedAgain {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.asked.store(true, Ordering::Release);
        self.task.wake_by_ref();
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

    /// Counts the batches it is asked to load.
    struct CountingLoader(Arc<AtomicU64>);

    impl Loader<String> for CountingLoader {
        type Value = String;
        type Error = Arc<sqlx::Error>;

        async fn load(&self, keys: &[String]) -> Result<HashMap<String, String>, Self::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(keys.iter().map(|key| (key.clone(), key.to_uppercase())).collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_level_of_a_hundred_loads_is_one_batch_though_the_walk_yields() {
        let batches_run = Arc::new(AtomicU64::new(0));
        let loaded = Batches::run(|batches| {
            let loader = loader(CountingLoader(batches_run.clone()), &batches);
            async move {
                // As a walk over a long list does (its task's budget runs out),
                // the items reach their loads a few polls apart.
                let level = (0..100).map(|i| {
                    let loader = &loader;
                    async move {
                        for _ in 0..i / 32 {
                            tokio::task::yield_now().await;
                        }
                        loader.load_one(format!("k{i}")).await
                    }
                });
                let first = futures::future::join_all(level).await;
                let next = loader.load_one("next level".to_string()).await;
                (first, next)
            }
        })
        .await;
        assert_eq!(loaded.0.len(), 100);
        assert_eq!(loaded.0[99].as_ref().unwrap().as_deref(), Some("K99"));
        assert_eq!(loaded.1.unwrap().as_deref(), Some("NEXT LEVEL"));
        assert_eq!(batches_run.load(Ordering::SeqCst), 2, "one batch per level");
    }

    #[test]
    fn only_reads_go_to_the_readers() {
        assert!(is_read("SELECT 1"));
        assert!(is_read("\n  select id FROM orders"));
        assert!(is_read("WITH RECURSIVE tree (slug) AS (SELECT slug FROM categories) SELECT * FROM tree"));
        assert!(!is_read("WITH gone AS (SELECT 1) DELETE FROM carts"));
        assert!(!is_read("UPDATE work_items SET lease_until = $1 RETURNING id"));
        assert!(!is_read("INSERT INTO outbox (id) VALUES ($1)"));
        assert!(!is_read("PRAGMA wal_checkpoint"));
    }

    #[tokio::test]
    async fn a_write_is_read_back_at_once_through_the_readers() {
        let folder = tempfile_folder();
        let url = format!("sqlite://{}/reads.db?mode=rwc", folder.display());
        let db = connect(&url, vec![migrator()]).await.unwrap();
        assert!(db.readers.is_some());
        for round in 0..20 {
            let id = format!("item-{round}");
            sqlx::query("INSERT INTO work_items (queue, id, due_at, attempts) VALUES ('q', $1, 't', 0)").bind(&id).execute(&db).await.unwrap();
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM work_items WHERE id = $1").bind(&id).fetch_optional(&db).await.unwrap();
            assert_eq!(found, Some(id), "a committed write is visible to the next read");
        }
        let mut reader = acquire(db.readers.as_ref().unwrap()).await.unwrap();
        let refused = sqlx::query("INSERT INTO work_items (queue, id, due_at, attempts) VALUES ('q', 'x', 't', 0)").execute(&mut *reader).await;
        assert!(refused.is_err(), "readers do not write");
        drop(reader);
        db.close().await;
        std::fs::remove_dir_all(folder).unwrap();
    }

    fn tempfile_folder() -> std::path::PathBuf {
        let folder = std::env::temp_dir().join(format!("kit-db-{}", new_id()));
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    pub(crate) fn postgres_url() -> String {
        let server = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        format!("{}/postgres", server.trim_end_matches('/'))
    }

    /// A parent and two children written together, each value in its place
    /// (PostgreSQL gets them as one statement, its placeholders renumbered).
    async fn writes_land_together(url: &str) {
        let db = connect(url, vec![]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query("CREATE TEMPORARY TABLE parents (id TEXT PRIMARY KEY, name TEXT NOT NULL, nickname TEXT NOT NULL)").execute(&mut *tx).await.unwrap();
        sqlx::query("CREATE TEMPORARY TABLE children (parent_id TEXT NOT NULL REFERENCES parents (id), position BIGINT NOT NULL, note TEXT)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let child = |position: i64, note: Option<&str>| {
            Write::new(
                "INSERT INTO children (parent_id, position, note) VALUES ($1, $2, $3)",
                vec![Arg::Text("p1".into()), Arg::Int(position), Arg::OptionalText(note.map(str::to_string))],
            )
        };
        let parent: (String, String, String) = Writes::new(Write::new(
            "INSERT INTO parents (id, name, nickname) VALUES ($1, $2, $2) RETURNING id, name, nickname",
            vec![Arg::Text("p1".into()), Arg::Text("first".into())],
        ))
        .and_all([child(0, Some("zero")), child(1, None)])
        .fetch_one(&mut tx)
        .await
        .unwrap();
        assert_eq!(parent, ("p1".to_string(), "first".to_string(), "first".to_string()));
        let children: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT parent_id, position, note FROM children ORDER BY position").fetch_all(&mut *tx).await.unwrap();
        assert_eq!(children, vec![("p1".to_string(), 0, Some("zero".to_string())), ("p1".to_string(), 1, None)]);
        let orphan = Write::new("INSERT INTO children (parent_id, position) VALUES ($1, $2)", vec![Arg::Text("nobody".into()), Arg::Int(0)]);
        assert!(Writes::new(child(2, None)).and(orphan).execute(&mut tx).await.is_err(), "a write that breaks a constraint is an error");
        tx.rollback().await.unwrap();
        db.close().await;
    }

    /// A status change guards what it records: written when the guard
    /// changed a row, not at all when it changed none.
    async fn guarded_writes_follow_their_guard(url: &str) {
        let db = connect(url, vec![]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query("CREATE TEMPORARY TABLE things (id TEXT PRIMARY KEY, status TEXT NOT NULL)").execute(&mut *tx).await.unwrap();
        sqlx::query("CREATE TEMPORARY TABLE history (thing_id TEXT NOT NULL, position BIGINT NOT NULL, status TEXT NOT NULL)").execute(&mut *tx).await.unwrap();
        sqlx::query("INSERT INTO things (id, status) VALUES ('t1', 'NEW')").execute(&mut *tx).await.unwrap();
        let change = |from: &str, to: &str| {
            let guard = Write::new(
                "UPDATE things SET status = $1 WHERE id = $2 AND status = $3",
                vec![Arg::Text(to.into()), Arg::Text("t1".into()), Arg::Text(from.into())],
            );
            let entry = Write::new(
                "INSERT INTO history (thing_id, position, status) VALUES ($1, (SELECT COUNT(*) FROM history WHERE thing_id = $1), $2)",
                vec![Arg::Text("t1".into()), Arg::Text(to.into())],
            );
            (guard, Writes::new(entry.clone()).and(entry))
        };
        let (guard, writes) = change("NEW", "DONE");
        assert!(writes.execute_if(guard, &mut tx).await.unwrap(), "the guard changed the thing");
        let (guard, writes) = change("NEW", "AGAIN");
        assert!(!writes.execute_if(guard, &mut tx).await.unwrap(), "the thing is no longer NEW");
        let status: String = sqlx::query_scalar("SELECT status FROM things").fetch_one(&mut *tx).await.unwrap();
        assert_eq!(status, "DONE");
        let history: Vec<(String, i64, String)> = sqlx::query_as("SELECT thing_id, position, status FROM history").fetch_all(&mut *tx).await.unwrap();
        assert_eq!(history.len(), 2, "both writes of the change that happened, none of the one that did not");
        assert!(history.iter().all(|(id, _, status)| id == "t1" && status == "DONE"));
        tx.rollback().await.unwrap();
        db.close().await;
    }

    #[tokio::test]
    async fn on_sqlite_a_guard_runs_before_its_writes() {
        guarded_writes_follow_their_guard("sqlite::memory:").await;
    }

    #[tokio::test]
    async fn on_postgres_a_guard_and_its_writes_are_one_statement() {
        guarded_writes_follow_their_guard(&postgres_url()).await;
    }

    #[test]
    fn guarded_writes_take_their_row_from_the_guard() {
        let guard = Write::new("UPDATE t SET s = $1 WHERE id = $2", vec![Arg::Text("b".into()), Arg::Text("x".into())]);
        let write = Write::new("INSERT INTO h (id, s) VALUES ($1, $2)", vec![Arg::Text("x".into()), Arg::Text("b".into())]);
        let (sql, args) = Writes::new(write).guarded_by(&guard, true).unwrap();
        assert_eq!(
            sql,
            "WITH guard AS (UPDATE t SET s = $1 WHERE id = $2 RETURNING 1), write1 AS (INSERT INTO h (id, s) SELECT $3, $4 FROM guard) SELECT COUNT(*) FROM guard"
        );
        assert_eq!(args.len(), 4);
        let upsert = Write::new("INSERT INTO h (id) VALUES ($1) ON CONFLICT DO NOTHING", vec![Arg::Text("x".into())]);
        assert!(Writes::new(upsert).guarded_by(&guard, true).is_none(), "only a plain INSERT … VALUES (…) is rewritten");
    }

    #[tokio::test]
    async fn on_sqlite_writes_run_one_after_another() {
        writes_land_together("sqlite::memory:").await;
    }

    #[tokio::test]
    async fn on_postgres_writes_are_one_statement() {
        writes_land_together(&postgres_url()).await;
    }

    #[test]
    fn a_later_writes_placeholders_follow_the_earlier_ones() {
        assert_eq!(renumbered("VALUES ($1, $2, $1) -- $12", 3), "VALUES ($4, $5, $4) -- $15");
        assert_eq!(renumbered("price $ 1", 3), "price $ 1");
    }

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
