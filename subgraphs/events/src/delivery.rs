//! Consuming events: idempotent handlers, bounded retries, dead letters.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use kit::db::{Db, new_id, now};
use kit::work::Retry;
use sqlx::AnyConnection;
use tracing::Instrument;

use super::{Envelope, Outbox};

/// What a subgraph does with the events it consumes: decode the event and
/// call the one step of the shop it stands for.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Applies `envelope` inside `tx`, the transaction that also records the
    /// delivery: the effect happens exactly once however often the event arrives.
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()>;

    /// Called once the effect has committed, to wake whoever acts on it next.
    /// An error is taken as a crash between the effect and its
    /// acknowledgement: the event is delivered again, and finds its effect
    /// already recorded.
    fn committed(&self, _envelope: &Envelope) -> anyhow::Result<()> {
        Ok(())
    }

    /// Whether handling an event may record events of its own: only then
    /// is the outbox relay woken after a delivery commits, for each wake
    /// costs it a look at the database.
    fn records_events(&self) -> bool {
        true
    }
}

/// A subgraph's durable consumer.
#[derive(Clone)]
pub struct Consumer {
    /// The consuming subgraph: replicas of one subgraph share one consumer.
    pub name: &'static str,
    pub db: Db,
    pub handler: Arc<dyn Handler>,
    /// Where the events the handler records go; woken after each commit.
    pub outbox: Outbox,
    /// How often a failing delivery is tried before it becomes a dead letter.
    pub retry: Retry,
}

/// Deliveries, by consumer, event type and outcome (handled, failed, dead_lettered).
static EVENTS: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(|| {
    kit::metrics::register(prometheus::IntCounterVec::new(
        prometheus::Opts::new("events_delivered_total", "Event deliveries to a consumer, by event type and outcome"),
        &["consumer", "event_type", "outcome"],
    ))
});

/// How one delivery ended, for the bus to acknowledge or retry.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Handled,
    /// Failed as often as `retry` allows: now a dead letter; acknowledge it.
    DeadLettered,
    /// Failed; deliver again later.
    Retry,
}

impl Consumer {
    /// Delivers `envelope` once, with the bookkeeping both buses share.
    pub async fn deliver(&self, envelope: &Envelope) -> Outcome {
        let span = delivery_span(self.name, envelope);
        let started = std::time::Instant::now();
        let applied = self.apply(envelope).instrument(span.clone()).await;
        self.settle(envelope, &span, started, applied).await
    }

    /// Delivers `envelopes` (of different ordering keys) in one transaction:
    /// one commit for the lot rather than one per event, which is most of
    /// what an event costs the database. When any of them fails the lot is
    /// rolled back and each is delivered alone, so a poison event costs its
    /// neighbours only a second try. Outcomes are in the order of `envelopes`.
    pub async fn deliver_all(&self, envelopes: &[&Envelope]) -> Vec<Outcome> {
        if envelopes.len() > 1 {
            let started = std::time::Instant::now();
            let spans: Vec<tracing::Span> = envelopes.iter().map(|envelope| delivery_span(self.name, envelope)).collect();
            match self.apply_together(envelopes, &spans).await {
                Ok(()) => {
                    let mut outcomes = Vec::with_capacity(envelopes.len());
                    for (envelope, span) in envelopes.iter().zip(&spans) {
                        let woken = span.in_scope(|| self.handler.committed(envelope));
                        outcomes.push(self.settle(envelope, span, started, woken).await);
                    }
                    return outcomes;
                }
                Err(error) => tracing::debug!(consumer = self.name, events = envelopes.len(), error = %format!("{error:#}"), "a batch failed; delivering its events one by one"),
            }
        }
        let mut outcomes = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            outcomes.push(self.deliver(envelope).await);
        }
        outcomes
    }

    /// Counts and logs how a delivery went; a failure is recorded, and
    /// becomes a dead letter at the last attempt.
    async fn settle(&self, envelope: &Envelope, span: &tracing::Span, started: std::time::Instant, applied: anyhow::Result<()>) -> Outcome {
        let outcome = if applied.is_ok() { "handled" } else { "failed" };
        EVENTS.with_label_values(&[self.name, &envelope.event_type, outcome]).inc();
        span.in_scope(|| tracing::info!(outcome, duration_ms = started.elapsed().as_millis() as u64, "event delivered"));
        let error = match applied {
            Ok(()) => return Outcome::Handled,
            Err(error) => error,
        };
        match self.record_failure(envelope, &error).await {
            Ok(attempts) if attempts >= self.retry.attempts => {
                EVENTS.with_label_values(&[self.name, &envelope.event_type, "dead_lettered"]).inc();
                tracing::error!(consumer = self.name, event_id = %envelope.id, event_type = %envelope.event_type, error = %format!("{error:#}"), "event dead-lettered");
                Outcome::DeadLettered
            }
            Ok(attempts) => {
                tracing::warn!(consumer = self.name, event_id = %envelope.id, attempts, error = %format!("{error:#}"), "event handling failed; will retry");
                Outcome::Retry
            }
            Err(bookkeeping) => {
                tracing::error!(consumer = self.name, event_id = %envelope.id, error = %bookkeeping, "could not record a failed delivery");
                Outcome::Retry
            }
        }
    }

    /// The handler's effect and the record of this delivery, in one transaction.
    async fn apply(&self, envelope: &Envelope) -> anyhow::Result<()> {
        self.apply_together(&[envelope], &[tracing::Span::current()]).await?;
        self.handler.committed(envelope)
    }

    /// Every handler's effect and the record of every delivery, in one
    /// transaction; each handler runs in its delivery's span.
    async fn apply_together(&self, envelopes: &[&Envelope], spans: &[tracing::Span]) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let ids: Vec<&str> = envelopes.iter().map(|envelope| envelope.id.as_str()).collect();
        let mut first_time = first_deliveries(&mut tx, self.name, &ids).await?;
        for (envelope, span) in envelopes.iter().zip(spans) {
            // Taken out, so that the same event twice in a batch is handled once.
            if first_time.remove(envelope.id.as_str()) {
                self.handler.handle(&mut tx, envelope).instrument(span.clone()).await?;
            }
        }
        tx.commit().await?;
        self.wake_relay();
        Ok(())
    }

    fn wake_relay(&self) {
        if self.handler.records_events() {
            self.outbox.committed();
        }
    }

    /// Counts a failed attempt; at the last one also writes the dead letter.
    async fn record_failure(&self, envelope: &Envelope, error: &anyhow::Error) -> anyhow::Result<i64> {
        let mut tx = self.db.begin().await?;
        let attempts: i64 = sqlx::query_scalar(
            "INSERT INTO delivery_failures (consumer, event_id, attempts, last_error) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = delivery_failures.attempts + 1, last_error = excluded.last_error \
             RETURNING attempts",
        )
        .bind(self.name)
        .bind(&envelope.id)
        .bind(format!("{error:#}"))
        .fetch_one(&mut *tx)
        .await?;
        if attempts >= self.retry.attempts {
            sqlx::query(
                "INSERT INTO dead_letters (id, consumer, event_id, event_type, envelope, error, attempts, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (consumer, event_id) DO NOTHING",
            )
            .bind(new_id())
            .bind(self.name)
            .bind(&envelope.id)
            .bind(&envelope.event_type)
            .bind(serde_json::to_string(envelope)?)
            .bind(format!("{error:#}"))
            .bind(attempts)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(attempts)
    }
}

/// Records that `consumer` has processed `event_ids`, inside the transaction
/// of their effects: answers those it had not before, the only ones to apply
/// now. A duplicate is skipped by the insert itself, not by a unique
/// violation, which on PostgreSQL would abort the rest of the transaction.
async fn first_deliveries(conn: &mut AnyConnection, consumer: &str, event_ids: &[&str]) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = (0..event_ids.len()).map(|i| format!("($1, ${}, $2)", i + 3)).collect();
    let sql = format!(
        "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES {} ON CONFLICT DO NOTHING RETURNING event_id",
        rows.join(", ")
    );
    let mut query = sqlx::query_scalar(&sql).bind(consumer).bind(now());
    for id in event_ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?.into_iter().collect())
}

/// The span of one delivery, continuing the trace of the request that caused the event.
fn delivery_span(consumer: &'static str, envelope: &Envelope) -> tracing::Span {
    let span = tracing::info_span!(
        "deliver_event",
        consumer,
        event_type = %envelope.event_type,
        event_id = %envelope.id,
        request_id = %envelope.correlation_id,
        trace_id = kit::trace::trace_id(envelope.traceparent.as_deref()),
    );
    kit::trace::continue_trace(&span, envelope.traceparent.as_deref());
    span
}

/// A delivery that failed for good, kept for an operator.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: String,
    pub consumer: String,
    pub event_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: i64,
    pub created_at: String,
    pub replayed_at: Option<String>,
}

/// Which of `event_ids` this consumer's database records as applied.
pub async fn received(db: &Db, event_ids: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = kit::db::fetch_by_keys(db, "SELECT event_id FROM processed_events WHERE event_id IN ({keys})", event_ids).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// How many dead letters of a consumer's database wait for an operator.
pub async fn dead_letters_waiting(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters WHERE replayed_at IS NULL").fetch_one(db).await
}

/// The dead letters in a consumer's database, oldest first.
pub async fn dead_letters(db: &Db) -> anyhow::Result<Vec<DeadLetter>> {
    Ok(sqlx::query_as(
        "SELECT id, consumer, event_id, event_type, error, attempts, created_at, replayed_at FROM dead_letters ORDER BY created_at, id",
    )
    .fetch_all(db)
    .await?)
}

/// Delivers dead letter `id` once more, now that its cause is fixed. The
/// delivery is recorded like any other, so replaying an event that did
/// apply changes nothing.
pub async fn replay(consumer: &Consumer, id: &str) -> anyhow::Result<()> {
    let (envelope, replayed_at): (String, Option<String>) =
        sqlx::query_as("SELECT envelope, replayed_at FROM dead_letters WHERE id = $1 AND consumer = $2")
            .bind(id)
            .bind(consumer.name)
            .fetch_optional(&consumer.db)
            .await?
            .with_context(|| format!("{} has no dead letter {id}", consumer.name))?;
    if let Some(at) = replayed_at {
        anyhow::bail!("dead letter {id} was replayed already, at {at}");
    }
    let envelope: Envelope = serde_json::from_str(&envelope).context("reading the dead letter's envelope")?;
    consumer.apply(&envelope).await.with_context(|| format!("replaying {} {}", envelope.event_type, envelope.id))?;
    sqlx::query("UPDATE dead_letters SET replayed_at = $1 WHERE id = $2").bind(now()).bind(id).execute(&consumer.db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::StockLevelChanged;
    use crate::{Bus, BusConfig, Trace};

    /// Writes each event's sku as its effect; refuses the sku "poison".
    struct Recorder;

    #[async_trait]
    impl Handler for Recorder {
        async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
            let level: StockLevelChanged = envelope.decode()?;
            anyhow::ensure!(level.sku != "poison", "a poison event");
            // A plain insert: applying an event twice would fail.
            sqlx::query("INSERT INTO effects (sku) VALUES ($1)").bind(&level.sku).execute(&mut *tx).await?;
            Ok(())
        }
    }

    async fn consumer() -> Consumer {
        let db = kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), crate::migrator()]).await.unwrap();
        sqlx::query("CREATE TABLE effects (sku TEXT PRIMARY KEY)").execute(&db).await.unwrap();
        let bus = Bus::connect(&BusConfig::InProcess).await.unwrap();
        let retry = Retry { attempts: 3, first: std::time::Duration::from_millis(1), max: std::time::Duration::from_millis(1) };
        Consumer { name: "test", outbox: Outbox::new(db.clone(), bus, retry), db, handler: Arc::new(Recorder), retry }
    }

    fn event(sku: &str) -> Envelope {
        let trace = Trace { correlation_id: "test".into(), traceparent: None };
        Envelope::new("inventory", &trace, &StockLevelChanged { sku: sku.into(), available: 1, version: 1 })
    }

    async fn effects(consumer: &Consumer) -> Vec<String> {
        sqlx::query_scalar("SELECT sku FROM effects ORDER BY sku").fetch_all(&consumer.db).await.unwrap()
    }

    #[tokio::test]
    async fn a_poison_event_in_a_batch_costs_its_neighbours_nothing() {
        let consumer = consumer().await;
        let (a, poison, b) = (event("a"), event("poison"), event("b"));
        let outcomes = consumer.deliver_all(&[&a, &poison, &b]).await;
        assert_eq!(outcomes, [Outcome::Handled, Outcome::Retry, Outcome::Handled]);
        assert_eq!(effects(&consumer).await, ["a", "b"], "each neighbour applied once, after the batch was rolled back");
        let failures: Vec<(String, i64)> =
            sqlx::query_as("SELECT event_id, attempts FROM delivery_failures").fetch_all(&consumer.db).await.unwrap();
        assert_eq!(failures, [(poison.id.clone(), 1)]);
    }

    #[tokio::test]
    async fn a_batch_applies_each_event_once_however_often_it_arrives() {
        let consumer = consumer().await;
        let (a, b, c) = (event("a"), event("b"), event("c"));
        assert_eq!(consumer.deliver_all(&[&a, &b]).await, [Outcome::Handled, Outcome::Handled]);
        // Redelivered beside a new one, and twice in the same batch.
        assert_eq!(consumer.deliver_all(&[&a, &c, &c, &b]).await, [Outcome::Handled, Outcome::Handled, Outcome::Handled, Outcome::Handled]);
        assert_eq!(effects(&consumer).await, ["a", "b", "c"]);
        let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM processed_events WHERE consumer = 'test'").fetch_one(&consumer.db).await.unwrap();
        assert_eq!(recorded, 3);
    }
}
