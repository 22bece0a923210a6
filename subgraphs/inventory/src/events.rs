//! What inventory does with the checkout saga's events, and the job that
//! releases reservations whose order never settled.
//!
//! Consumes: OrderPlaced (reserve every line, or none), OrderConfirmed (the
//! reservation becomes a sale), PaymentFailed and OrderRejected (release),
//! OrderCancelled (restore a sale to stock). Produces: InventoryReserved,
//! InventoryRejected, ReservationExpired.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use kit::db::{Db, change_status, now, timestamp};
use kit::events::contracts::{
    InventoryRejected, InventoryReserved, OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected, PaymentFailed,
    ReservationExpired,
};
use kit::events::{Contract, Envelope, Handler, Outbox, Trace, first_delivery, record};
use sqlx::AnyConnection;
use tokio::sync::watch;

use crate::NAME;

pub struct InventoryEvents {
    pub db: Db,
    pub outbox: Outbox,
    /// How long stock stays reserved for an order that has not settled.
    pub reservation_ttl: Duration,
}

#[async_trait]
impl Handler for InventoryEvents {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        match envelope.event_type.as_str() {
            OrderPlaced::TYPE => {
                // Reserving runs in a transaction of its own: all lines or none.
                tx.rollback().await?;
                return self.reserve(envelope, envelope.decode()?).await;
            }
            OrderConfirmed::TYPE => {
                let order_id = envelope.decode::<OrderConfirmed>()?.order_id;
                settle(&mut *tx, &order_id, "RESERVED", "COMMITTED", "on_hand = on_hand - $1, reserved = reserved - $1").await?;
            }
            PaymentFailed::TYPE => release(&mut *tx, &envelope.decode::<PaymentFailed>()?.order_id).await?,
            OrderRejected::TYPE => release(&mut *tx, &envelope.decode::<OrderRejected>()?.order_id).await?,
            OrderCancelled::TYPE => {
                let order_id = envelope.decode::<OrderCancelled>()?.order_id;
                // A cancellation can overtake the confirmation's commit: then only release.
                if !settle(&mut *tx, &order_id, "COMMITTED", "RESTORED", "on_hand = on_hand + $1").await? {
                    release(&mut *tx, &order_id).await?;
                }
            }
            other => anyhow::bail!("inventory does not consume {other}"),
        }
        tx.commit().await?;
        Ok(())
    }
}

impl InventoryEvents {
    /// Reserves every line in one transaction with conditional increments of
    /// `reserved`, skus in a fixed order so concurrent reservations cannot
    /// deadlock; a single short line rolls everything back and the order is
    /// rejected instead.
    async fn reserve(&self, envelope: &Envelope, placed: OrderPlaced) -> anyhow::Result<()> {
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        for line in &placed.lines {
            *wanted.entry(line.sku.clone()).or_default() += line.quantity;
        }
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        let now = now();
        let expires_at = timestamp(chrono::Utc::now() + chrono::Duration::from_std(self.reservation_ttl)?);
        let mut short = Vec::new();
        for (sku, quantity) in &wanted {
            let reserved = sqlx::query(
                "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2 WHERE sku = $3 AND on_hand - reserved >= $1",
            )
            .bind(quantity)
            .bind(&now)
            .bind(sku)
            .execute(&mut *tx)
            .await?;
            if reserved.rows_affected() == 0 {
                short.push(sku.clone());
            }
        }
        if !short.is_empty() {
            tx.rollback().await?;
            let mut tx = self.db.begin().await?;
            if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
                return Ok(());
            }
            insert_reservation(&mut *tx, &placed.order_id, "REJECTED", &now, &expires_at).await?;
            let rejected = InventoryRejected { order_id: placed.order_id.clone(), out_of_stock: short };
            record(&mut *tx, &Envelope::new(NAME, &envelope.trace(), &rejected)).await?;
            tx.commit().await?;
            self.outbox.committed();
            return Ok(());
        }
        insert_reservation(&mut *tx, &placed.order_id, "RESERVED", &now, &expires_at).await?;
        for (sku, quantity) in &wanted {
            sqlx::query("INSERT INTO reservation_lines (order_id, sku, quantity) VALUES ($1, $2, $3)")
                .bind(&placed.order_id)
                .bind(sku)
                .bind(quantity)
                .execute(&mut *tx)
                .await?;
        }
        record(&mut *tx, &Envelope::new(NAME, &envelope.trace(), &InventoryReserved { order_id: placed.order_id })).await?;
        tx.commit().await?;
        self.outbox.committed();
        Ok(())
    }

    /// Releases reservations past their TTL, every `every`, until `shutdown`.
    pub async fn expire_reservations(self: std::sync::Arc<Self>, every: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.expire_due().await {
                tracing::warn!(%error, "releasing expired reservations failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = kit::server::stopping(&mut shutdown) => return,
            }
        }
    }

    async fn expire_due(&self) -> anyhow::Result<()> {
        let due: Vec<(String,)> = sqlx::query_as("SELECT order_id FROM reservations WHERE status = 'RESERVED' AND expires_at <= $1")
            .bind(now())
            .fetch_all(&self.db)
            .await?;
        for (order_id,) in due {
            let mut tx = self.db.begin().await?;
            // The status guard makes this a no-op if the order settled meanwhile.
            if settle(&mut *tx, &order_id, "RESERVED", "EXPIRED", "reserved = reserved - $1").await? {
                let trace = Trace { correlation_id: format!("reservation-expiry-{order_id}"), traceparent: None };
                record(&mut *tx, &Envelope::new(NAME, &trace, &ReservationExpired { order_id: order_id.clone() })).await?;
                tx.commit().await?;
                self.outbox.committed();
                tracing::info!(%order_id, "reservation expired and released");
            }
        }
        Ok(())
    }
}

async fn insert_reservation(conn: &mut AnyConnection, order_id: &str, status: &str, now: &str, expires_at: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO reservations (order_id, status, created_at, expires_at, updated_at) VALUES ($1, $2, $3, $4, $3)")
        .bind(order_id)
        .bind(status)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a reservation from `from` to `to` and applies `stock_change` (with
/// `$1` the line's quantity) to each of its skus. False when the reservation
/// is not in `from` (already settled, or never made).
async fn settle(tx: &mut AnyConnection, order_id: &str, from: &str, to: &str, stock_change: &str) -> anyhow::Result<bool> {
    if !change_status(&mut *tx, "reservations", "order_id", order_id, from, to).await? {
        return Ok(false);
    }
    let lines: Vec<(String, i64)> = sqlx::query_as("SELECT sku, quantity FROM reservation_lines WHERE order_id = $1 ORDER BY sku")
        .bind(order_id)
        .fetch_all(&mut *tx)
        .await?;
    for (sku, quantity) in lines {
        sqlx::query(&format!("UPDATE stock_levels SET {stock_change}, updated_at = $2 WHERE sku = $3"))
            .bind(quantity)
            .bind(now())
            .bind(&sku)
            .execute(&mut *tx)
            .await?;
    }
    Ok(true)
}

/// Gives back whatever an unsettled order holds.
async fn release(tx: &mut AnyConnection, order_id: &str) -> anyhow::Result<()> {
    settle(tx, order_id, "RESERVED", "RELEASED", "reserved = reserved - $1").await?;
    Ok(())
}
