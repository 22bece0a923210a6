//! The transactional outbox and its relay.

use std::sync::Arc;
use std::time::Duration;

use kit::background::{Round, repeat};
use kit::db::{Arg, Db, Write, Writes, from_now, now, placeholders};
use kit::work::Retry;
use sqlx::AnyConnection;
use tokio::sync::{Notify, watch};

use super::{Bus, Envelope};

/// How long a relay may hold events it is publishing before another may take them.
const LEASE: Duration = Duration::from_secs(30);
/// How often the relay looks without being woken (retries, another replica's lapsed lease).
const POLL: Duration = Duration::from_millis(200);
const BATCH: i64 = 100;

/// Writes `envelope` to the outbox inside the caller's transaction, due for
/// publishing at once: the event exists exactly when the state change it
/// describes does.
pub async fn record(conn: &mut AnyConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    recording(envelope).execute(conn).await.map(drop)
}

/// The write `record` makes, to send with the other writes of its state change (`kit::db::Writes`).
pub fn recording(envelope: &Envelope) -> Write {
    Write::new(
        "INSERT INTO outbox (id, event_type, version, occurred_at, producer, correlation_id, traceparent, payload, due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)",
        vec![
            Arg::Text(envelope.id.clone()),
            Arg::Text(envelope.event_type.clone()),
            Arg::Int(i64::from(envelope.version)),
            Arg::Text(envelope.occurred_at.clone()),
            Arg::Text(envelope.producer.clone()),
            Arg::Text(envelope.correlation_id.clone()),
            Arg::OptionalText(envelope.traceparent.clone()),
            Arg::Text(envelope.payload.to_string()),
        ],
    )
}

/// A subgraph's outbox: committed events wait here until the relay has
/// published them.
#[derive(Clone)]
pub struct Outbox {
    db: Db,
    bus: Bus,
    wake: Arc<Notify>,
    retry: Retry,
}

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
    /// How many times it has been claimed, this time included.
    attempts: i64,
}

/// Leases up to `$3` due events, oldest first, and answers them whole; not
/// those `{held}` names. On PostgreSQL rows another replica is claiming are
/// skipped rather than waited for.
const CLAIM: &str = "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 WHERE id IN (\
        SELECT id FROM outbox WHERE published_at IS NULL AND due_at <= $2 AND (lease_until IS NULL OR lease_until < $2) {held} \
        ORDER BY due_at, id LIMIT $3 {lock}) \
     RETURNING id, event_type, version, occurred_at, producer, correlation_id, traceparent, payload, attempts";

/// Events a relay has published and not yet marked so: the next round's
/// claim marks them, in the same statement on PostgreSQL, so that a round
/// costs one statement rather than two. Until then their lease keeps them
/// from being claimed again; should the relay die first, they are claimed
/// after it and published again, which consumers take as nothing new.
#[derive(Default)]
struct Unmarked {
    ids: Vec<String>,
    /// When the first of them was published.
    since: Option<String>,
}

impl Outbox {
    /// A failed publish is tried again as `retry` says (with the in-process
    /// bus a publish fails when a consumer does, so this is their retry too).
    pub fn new(db: Db, bus: Bus, retry: Retry) -> Self {
        Outbox { db, bus, wake: Arc::new(Notify::new()), retry }
    }

    /// Tells the relay that a transaction with events has committed.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// As `committed`, and hands `events` to this process's followers at
    /// once: a storefront following its order hears the change as soon as it
    /// has happened, not after the relay and the broker (or, in process,
    /// every consumer) have passed it on. Followers hear it again from the bus.
    pub fn committed_and_announced(&self, events: &[Envelope]) {
        for envelope in events {
            self.bus.announce(envelope);
        }
        self.committed();
    }

    /// Publishes committed events until `shutdown`. Events are leased, so
    /// replicas share the work and no transaction stays open while the bus is busy.
    pub async fn relay(self, shutdown: watch::Receiver<bool>) {
        self.bus.wait_until_open().await;
        let unmarked = std::sync::Mutex::new(Unmarked::default());
        repeat("outbox relay", POLL, Some(&self.wake), shutdown, || self.publish_due(&unmarked)).await;
        let last = std::mem::take(&mut *unmarked.lock().expect("no panics under this lock"));
        if let Some(marking) = marking(&last)
            && let Err(error) = marking.execute(&self.db).await
        {
            tracing::warn!(events = last.ids.len(), %error, "could not mark the last events published; they will be published again");
        }
    }

    /// Marks what the last round published, claims what is due and
    /// publishes it; what it published is marked by the next round.
    async fn publish_due(&self, unmarked: &std::sync::Mutex<Unmarked>) -> anyhow::Result<Round> {
        let published_before = std::mem::take(&mut *unmarked.lock().expect("no panics under this lock"));
        let mut rows: Vec<OutboxRow> = match self.mark_and_claim(&published_before).await {
            Ok(rows) => rows,
            Err(error) => {
                *unmarked.lock().expect("no panics under this lock") = published_before;
                return Err(error.into());
            }
        };
        let claimed = rows.len();
        // Ids are UUIDv7: in id order, a producer's events go out in the order
        // they happened. Each ordering key's events go out one after another;
        // different keys side by side.
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let mut attempts = std::collections::HashMap::new();
        let mut lanes: Vec<Vec<Envelope>> = Vec::new();
        let mut lane_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for row in rows {
            attempts.insert(row.id.clone(), row.attempts);
            let envelope = Envelope {
                payload: serde_json::from_str(&row.payload)?,
                id: row.id,
                event_type: row.event_type,
                version: row.version as u32,
                occurred_at: row.occurred_at,
                producer: row.producer,
                correlation_id: row.correlation_id,
                traceparent: row.traceparent,
            };
            let lane = *lane_of.entry(envelope.ordering_key().to_string()).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            });
            lanes[lane].push(envelope);
        }
        let lanes = futures::future::join_all(lanes.iter().map(|lane| self.publish_in_order(lane))).await;
        let mut published = Vec::new();
        let mut failures = Vec::new();
        for (lane_published, unpublished) in lanes {
            published.extend(lane_published);
            failures.extend(unpublished);
        }
        if !published.is_empty() {
            *unmarked.lock().expect("no panics under this lock") = Unmarked { ids: published, since: Some(now()) };
        }
        // The failed event and those after it on its lane wait for the retry, in order.
        for (failed, error) in failures {
            tracing::warn!(event_id = %failed[0].id, event_type = %failed[0].event_type, error = %format!("{error:#}"), "publishing failed; will retry");
            for envelope in failed {
                self.retry_later(&envelope.id, attempts[&envelope.id], &error).await?;
            }
        }
        Ok(if claimed as i64 == BATCH { Round::Busy } else { Round::Idle })
    }

    /// Marks `published` and leases up to a batch of due events.
    async fn mark_and_claim(&self, published: &Unmarked) -> Result<Vec<OutboxRow>, sqlx::Error> {
        let lock = if self.db.is_postgres() { "FOR UPDATE SKIP LOCKED" } else { "" };
        // Not those it is marking: their lease keeps them out anyway, unless a
        // round took longer than the lease, and one statement must not update a row twice.
        let held = match published.ids.len() {
            0 => String::new(),
            count => format!("AND id NOT IN ({})", placeholders(4, count)),
        };
        let mut args = vec![Arg::Text(from_now(LEASE)), Arg::Text(now()), Arg::Int(BATCH)];
        args.extend(published.ids.iter().cloned().map(Arg::Text));
        let claim = Writes::new(Write::new(CLAIM.replace("{held}", &held).replace("{lock}", lock), args));
        match marking(published) {
            Some(marking) => claim.and(marking),
            None => claim,
        }
        .commit_all(&self.db)
        .await
    }

    /// Gives a claimed event back, due again after the retry's backoff for its attempts.
    async fn retry_later(&self, id: &str, attempts: i64, error: &anyhow::Error) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox SET due_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3")
            .bind(from_now(self.retry.backoff(attempts)))
            .bind(format!("{error:#}"))
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Publishes `lane` in order until one fails: answers the ids published,
    /// and the events left (the failed one first) with the error.
    async fn publish_in_order<'l>(&self, lane: &'l [Envelope]) -> (Vec<String>, Option<(&'l [Envelope], anyhow::Error)>) {
        let mut published = Vec::new();
        for (index, envelope) in lane.iter().enumerate() {
            if let Err(error) = self.bus.publish(envelope).await {
                return (published, Some((&lane[index..], error)));
            }
            published.push(envelope.id.clone());
        }
        (published, None)
    }

}

/// The write that marks `published` so; None when there is nothing to mark.
fn marking(published: &Unmarked) -> Option<Write> {
    let since = published.since.clone()?;
    let sql = format!("UPDATE outbox SET published_at = $1, lease_until = NULL WHERE id IN ({})", placeholders(2, published.ids.len()));
    Some(Write::new(sql, std::iter::once(since).chain(published.ids.iter().cloned()).map(Arg::Text).collect()))
}

/// What waits in an outbox: how many events, and since when the oldest.
#[derive(Debug, Default, sqlx::FromRow)]
pub struct Backlog {
    pub events: i64,
    pub oldest: Option<String>,
}

/// The events of `db`'s outbox not yet published.
pub async fn backlog(db: &Db) -> Result<Backlog, sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*) AS events, MIN(occurred_at) AS oldest FROM outbox WHERE published_at IS NULL").fetch_one(db).await
}

/// An event of this subgraph's outbox, for an operator.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct SentEvent {
    pub id: String,
    pub event_type: String,
    pub producer: String,
    pub occurred_at: String,
    pub published_at: Option<String>,
}

/// The events this subgraph produced about `order_id`, oldest first.
pub async fn sent_about(db: &Db, order_id: &str) -> Result<Vec<SentEvent>, sqlx::Error> {
    // Order ids are UUIDs: nothing in one is a LIKE wildcard.
    if !order_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Ok(Vec::new());
    }
    // Every saga event's payload names its order as `order_id`.
    sqlx::query_as("SELECT id, event_type, producer, occurred_at, published_at FROM outbox WHERE payload LIKE $1 ORDER BY id")
        .bind(format!("%\"order_id\":\"{order_id}\"%"))
        .fetch_all(db)
        .await
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;
    use crate::contracts::{OrderCancelled, OrderFulfilled};
    use crate::{BusConfig, Trace};

    fn fulfilled(order_id: &str) -> Envelope {
        let payload = OrderFulfilled {
            order_id: order_id.into(),
            fulfilment_id: "f1".into(),
            lines: vec![],
            carrier: "UPS".into(),
            tracking_number: "1Z".into(),
            complete: true,
        };
        Envelope::new("orders", &Trace::default(), &payload)
    }

    async fn committed(db: &Db, outbox: &Outbox, envelope: &Envelope) {
        let mut tx = db.begin().await.unwrap();
        record(&mut tx, envelope).await.unwrap();
        tx.commit().await.unwrap();
        outbox.committed();
    }

    #[tokio::test]
    async fn a_round_marks_what_the_last_published_and_the_relay_marks_the_rest_before_it_stops() {
        let db = kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), crate::migrator()]).await.unwrap();
        // No consumer takes OrderFulfilled: publishing it in process reaches the followers alone.
        let bus = Bus::connect(&BusConfig::InProcess).await.unwrap();
        bus.open();
        let outbox = Outbox::new(db.clone(), bus.clone(), Retry::default());
        let mut following = bus.follow("o1");
        let (stop, shutdown) = watch::channel(false);
        let relay = tokio::spawn(outbox.clone().relay(shutdown));

        let (first, second) = (fulfilled("o1"), fulfilled("o1"));
        committed(&db, &outbox, &first).await;
        assert_eq!(following.recv().await.unwrap().id, first.id);
        committed(&db, &outbox, &second).await;
        assert_eq!(following.recv().await.unwrap().id, second.id);
        let first_sent = &sent_about(&db, "o1").await.unwrap()[0];
        assert!(first_sent.published_at.is_some(), "the round that published the second marked the first: {first_sent:?}");

        stop.send(true).unwrap();
        relay.await.unwrap();
        assert!(sent_about(&db, "o1").await.unwrap().iter().all(|sent| sent.published_at.is_some()), "marked before the relay stopped");
        assert_eq!(backlog(&db).await.unwrap().events, 0);
        assert!(following.recv().now_or_never().is_none(), "each was published once");
    }

    #[tokio::test]
    async fn a_committed_event_reaches_this_process_s_followers_before_the_relay_publishes_it() {
        let db = kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), crate::migrator()]).await.unwrap();
        let bus = Bus::connect(&BusConfig::InProcess).await.unwrap();
        // No relay runs: only the announcement can reach the follower.
        let outbox = Outbox::new(db, bus.clone(), Retry::default());
        let mut following = bus.follow("o1");
        let mut elsewhere = bus.follow("o2");
        let cancelled = Envelope::new("orders", &Trace::default(), &OrderCancelled { order_id: "o1".into() });
        outbox.committed_and_announced(std::slice::from_ref(&cancelled));
        // Announcing is done when it returns: what was heard can be read at once.
        assert_eq!(following.recv().now_or_never().expect("heard already").unwrap().id, cancelled.id);
        assert!(elsewhere.recv().now_or_never().is_none(), "only the order's followers hear it");
    }
}
