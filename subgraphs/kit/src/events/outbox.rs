//! The transactional outbox and its relay.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::{Notify, watch};

use super::{Bus, Envelope};
use crate::db::{Db, now, timestamp};

/// Writes `envelope` to the outbox inside the caller's transaction: the event
/// exists exactly when the state change it describes does.
pub async fn record(conn: &mut AnyConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (id, event_type, version, occurred_at, producer, correlation_id, traceparent, payload, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $4)",
    )
    .bind(&envelope.id)
    .bind(&envelope.event_type)
    .bind(i64::from(envelope.version))
    .bind(&envelope.occurred_at)
    .bind(&envelope.producer)
    .bind(&envelope.correlation_id)
    .bind(&envelope.traceparent)
    .bind(envelope.payload.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// A subgraph's outbox: committed events wait here until the relay has
/// published them.
#[derive(Clone)]
pub struct Outbox {
    db: Db,
    bus: Bus,
    wake: Arc<Notify>,
}

/// How long a relay may hold rows it claimed before another replica may take them.
const LEASE: Duration = Duration::from_secs(30);
/// How often the relay looks without being woken (events from other replicas, retries).
const POLL: Duration = Duration::from_millis(200);
const BATCH: i64 = 100;

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: String,
    event_type: String,
    version: i64,
    occurred_at: String,
    producer: String,
    correlation_id: String,
    traceparent: Option<String>,
    payload: String,
    attempts: i64,
}

impl Outbox {
    pub fn new(db: Db, bus: Bus) -> Self {
        Outbox { db, bus, wake: Arc::new(Notify::new()) }
    }

    /// Tells the relay that a transaction with events has committed.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Publishes committed events until `shutdown`. Rows are claimed with a
    /// lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so replicas share the
    /// work and no transaction stays open while the bus is busy.
    pub async fn relay(self, mut shutdown: watch::Receiver<bool>) {
        self.bus.wait_until_open().await;
        loop {
            match self.publish_due().await {
                Ok(published) if published == BATCH as usize => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "outbox relay failed; retrying"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = crate::server::stopping(&mut shutdown) => return,
            }
        }
    }

    async fn publish_due(&self) -> anyhow::Result<usize> {
        let now_text = now();
        let lease_until = timestamp(chrono::Utc::now() + chrono::Duration::from_std(LEASE)?);
        let skip_locked = if self.db.is_postgres() { "FOR UPDATE SKIP LOCKED" } else { "" };
        let mut rows: Vec<OutboxRow> = sqlx::query_as(&format!(
            "UPDATE outbox SET locked_until = $1 WHERE id IN (\
                SELECT id FROM outbox WHERE published_at IS NULL AND next_attempt_at <= $2 \
                AND (locked_until IS NULL OR locked_until < $2) ORDER BY id LIMIT {BATCH} {skip_locked}) \
             RETURNING id, event_type, version, occurred_at, producer, correlation_id, traceparent, payload, attempts"
        ))
        .bind(&lease_until)
        .bind(&now_text)
        .fetch_all(&self.db)
        .await?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let claimed = rows.len();
        for row in rows {
            let envelope = Envelope {
                id: row.id,
                event_type: row.event_type,
                version: row.version as u32,
                occurred_at: row.occurred_at,
                producer: row.producer,
                correlation_id: row.correlation_id,
                traceparent: row.traceparent,
                payload: serde_json::from_str(&row.payload)?,
            };
            match self.bus.publish(&envelope).await {
                Ok(()) => {
                    sqlx::query("UPDATE outbox SET published_at = $1, locked_until = NULL WHERE id = $2")
                        .bind(now())
                        .bind(&envelope.id)
                        .execute(&self.db)
                        .await?;
                }
                Err(error) => {
                    let attempts = row.attempts + 1;
                    let retry_at = chrono::Utc::now() + chrono::Duration::from_std(super::bus::backoff(attempts))?;
                    tracing::warn!(event_id = %envelope.id, event_type = %envelope.event_type, attempts, error = %error, "publishing failed; will retry");
                    sqlx::query(
                        "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, locked_until = NULL WHERE id = $4",
                    )
                    .bind(attempts)
                    .bind(timestamp(retry_at))
                    .bind(format!("{error:#}"))
                    .bind(&envelope.id)
                    .execute(&self.db)
                    .await?;
                }
            }
        }
        Ok(claimed)
    }
}
