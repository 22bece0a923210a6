//! Durable queues of work in a subgraph's own database (the `work_items`
//! table): the events the outbox relay must publish, the payments orders must
//! take. An item is enqueued in the same transaction as the change that calls
//! for it, and claimed with a lease: replicas share the work, and an item
//! whose worker died is taken again once its lease has run out.

use std::time::Duration;

use sqlx::AnyConnection;

use crate::db::{Db, from_now, now};

/// One named queue. Its items are ids of rows the worker reads itself.
pub struct Queue {
    pub name: &'static str,
    /// How long a worker may hold an item before another may take it.
    pub lease: Duration,
}

/// An item taken from a queue, with how many times it has been taken.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: String,
    pub attempts: i64,
}

const CLAIM: &str = "UPDATE work_items SET lease_until = $1, attempts = attempts + 1 WHERE queue = $2 AND id IN (\
        SELECT id FROM work_items WHERE queue = $2 AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
        ORDER BY due_at, id LIMIT $4 {lock}) \
     RETURNING id, attempts";

impl Queue {
    /// Adds `id` to the queue, due now, inside the caller's transaction.
    pub async fn enqueue(&self, conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO work_items (queue, id, due_at, attempts) VALUES ($1, $2, $3, 0) ON CONFLICT (queue, id) DO NOTHING")
            .bind(self.name)
            .bind(id)
            .bind(now())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Adds `id` to the queue already leased to the caller, who takes it at
    /// once after the transaction commits, without claiming it again. Should
    /// the caller die first, the lease runs out and any worker takes it.
    pub async fn enqueue_leased(&self, conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO work_items (queue, id, due_at, lease_until, attempts) VALUES ($1, $2, $3, $4, 1) ON CONFLICT (queue, id) DO NOTHING")
            .bind(self.name)
            .bind(id)
            .bind(now())
            .bind(from_now(self.lease))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Leases up to `limit` due items, oldest first. On PostgreSQL rows
    /// another replica is claiming are skipped rather than waited for.
    pub async fn claim(&self, db: &Db, limit: i64) -> Result<Vec<Claimed>, sqlx::Error> {
        let lock = if db.is_postgres() { "FOR UPDATE SKIP LOCKED" } else { "" };
        sqlx::query_as(&CLAIM.replace("{lock}", lock))
            .bind(from_now(self.lease))
            .bind(self.name)
            .bind(now())
            .bind(limit)
            .fetch_all(db)
            .await
    }

    /// Removes finished items (inside the transaction that finished them, or not).
    pub async fn finish<'c>(&self, executor: impl sqlx::Executor<'c, Database = sqlx::Any>, ids: &[String]) -> Result<(), sqlx::Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!("DELETE FROM work_items WHERE queue = $1 AND id IN ({})", crate::db::placeholders(2, ids.len()));
        let mut query = sqlx::query(&sql).bind(self.name);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(executor).await?;
        Ok(())
    }

    /// Gives a failed item back, due again after `retry`'s backoff for its attempts.
    pub async fn retry_later(&self, db: &Db, item: &Claimed, error: &anyhow::Error, retry: &Retry) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE work_items SET due_at = $1, lease_until = NULL, last_error = $2 WHERE queue = $3 AND id = $4")
            .bind(from_now(retry.backoff(item.attempts)))
            .bind(format!("{error:#}"))
            .bind(self.name)
            .bind(&item.id)
            .execute(db)
            .await?;
        Ok(())
    }
}

/// How failed work is tried again: after a wait that doubles from `first`
/// up to `max`, `attempts` times in all before it is given up (an event then
/// becomes a dead letter). The default outlasts a blip of several minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub attempts: i64,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Retry {
    /// 15 attempts, 100 ms doubling to a minute: about seven minutes in all.
    fn default() -> Self {
        Retry { attempts: 15, first: Duration::from_millis(100), max: Duration::from_secs(60) }
    }
}

impl Retry {
    /// The wait after `attempts` failures.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exponent = attempts.clamp(1, 32) as u32 - 1;
        self.first.saturating_mul(1u32.checked_shl(exponent).unwrap_or(u32::MAX)).min(self.max)
    }

    /// How long retrying lasts before giving up.
    pub fn lasts(&self) -> Duration {
        (1..self.attempts).map(|attempt| self.backoff(attempt)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let retry = Retry::default();
        assert_eq!(retry.backoff(1), Duration::from_millis(100));
        assert_eq!(retry.backoff(3), Duration::from_millis(400));
        assert_eq!(retry.backoff(40), Duration::from_secs(60));
        assert!(retry.lasts() > Duration::from_secs(5 * 60), "the default outlasts a blip of minutes: {:?}", retry.lasts());
    }

    #[tokio::test]
    async fn a_claimed_item_is_not_claimed_again_until_its_lease_runs_out() {
        let db = crate::db::connect("sqlite::memory:", vec![crate::db::migrator()]).await.unwrap();
        let queue = Queue { name: "test", lease: Duration::from_millis(300) };
        let mut tx = db.begin().await.unwrap();
        queue.enqueue(&mut tx, "a").await.unwrap();
        queue.enqueue(&mut tx, "a").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(queue.claim(&db, 10).await.unwrap(), [Claimed { id: "a".into(), attempts: 1 }]);
        assert!(queue.claim(&db, 10).await.unwrap().is_empty(), "leased");
        tokio::time::sleep(Duration::from_millis(350)).await;
        let again = queue.claim(&db, 10).await.unwrap();
        assert_eq!(again, [Claimed { id: "a".into(), attempts: 2 }], "the lease ran out");
        queue.finish(&db, &["a".into()]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(queue.claim(&db, 10).await.unwrap().is_empty(), "finished");
    }

    #[tokio::test]
    async fn an_item_enqueued_leased_is_taken_by_others_only_once_its_lease_runs_out() {
        let db = crate::db::connect("sqlite::memory:", vec![crate::db::migrator()]).await.unwrap();
        let queue = Queue { name: "test", lease: Duration::from_millis(300) };
        let mut tx = db.begin().await.unwrap();
        queue.enqueue_leased(&mut tx, "a").await.unwrap();
        tx.commit().await.unwrap();
        assert!(queue.claim(&db, 10).await.unwrap().is_empty(), "leased to whoever queued it");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(queue.claim(&db, 10).await.unwrap(), [Claimed { id: "a".into(), attempts: 2 }], "its taker died: another takes it");
    }
}
