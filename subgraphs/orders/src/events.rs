//! What orders does with the checkout saga's events, and the payment worker.
//!
//! Consumes: InventoryReserved (the order is handed to the payment worker),
//! InventoryRejected (REJECTED, OrderRejected), ReservationExpired (REJECTED
//! if still PENDING, and any authorization voided). The payment worker
//! authorizes and settles: CONFIRMED and OrderConfirmed, or PAYMENT_FAILED
//! and PaymentFailed (the compensation that releases the stock). Payments run
//! apart from event handling so that a slow provider never holds up the
//! events behind it, such as a reservation's expiry.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use kit::db::{Db, now, timestamp};
use kit::events::contracts::{
    InventoryRejected, InventoryReserved, OrderConfirmed, OrderLine, OrderRejected, PaymentFailed, ReservationExpired,
};
use kit::events::{Contract, Envelope, Handler, Outbox, Trace, first_delivery, record};
use kit::money::{CurrencyCode, Money};
use sqlx::AnyConnection;
use tokio::sync::{Notify, watch};

use crate::NAME;
use crate::checkout::transition;
use crate::db::{OrderRow, find_order};
use crate::payments::{Authorization, PaymentGateway};

/// How long the worker may hold an order while the provider answers; after
/// that another worker (or replica) may take it. Authorizations are
/// idempotent per order, so taking it again charges nothing twice.
const PAYMENT_LEASE: Duration = Duration::from_secs(30);
/// Payments talked to the provider at once, per replica.
const PAYMENTS_IN_FLIGHT: usize = 32;
const PAYMENT_POLL: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct OrdersEvents {
    pub db: Db,
    pub outbox: Outbox,
    pub gateway: Arc<dyn PaymentGateway>,
    pub payments_due: Arc<Notify>,
}

#[async_trait]
impl Handler for OrdersEvents {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        match envelope.event_type.as_str() {
            InventoryReserved::TYPE => self.request_payment(envelope, &envelope.decode::<InventoryReserved>()?.order_id).await,
            InventoryRejected::TYPE => {
                let order_id = envelope.decode::<InventoryRejected>()?.order_id;
                self.reject(envelope, &order_id, "OUT_OF_STOCK").await
            }
            ReservationExpired::TYPE => {
                let order_id = envelope.decode::<ReservationExpired>()?.order_id;
                self.reject(envelope, &order_id, "RESERVATION_EXPIRED").await?;
                // A payment may have been authorized before the expiry won the race.
                self.gateway.void(&order_id).await
            }
            other => anyhow::bail!("orders does not consume {other}"),
        }
    }
}

impl OrdersEvents {
    async fn request_payment(&self, envelope: &Envelope, order_id: &str) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        sqlx::query("UPDATE orders SET payment_requested_at = $1 WHERE id = $2 AND status = 'PENDING' AND payment_requested_at IS NULL")
            .bind(now())
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.payments_due.notify_one();
        Ok(())
    }

    async fn reject(&self, envelope: &Envelope, order_id: &str, reason: &str) -> anyhow::Result<()> {
        let order = find_order(&self.db, order_id).await?.ok_or_else(|| anyhow::anyhow!("no order {order_id}"))?;
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        if transition(&mut *tx, order_id, "PENDING", "REJECTED", Some(reason)).await? {
            release_cart(&mut *tx, &order).await?;
            let rejected = OrderRejected { order_id: order_id.to_string(), cart_id: order.cart_id.clone(), reason: reason.to_string() };
            record(&mut *tx, &Envelope::new(NAME, &envelope.trace(), &rejected)).await?;
        } else {
            tracing::warn!(%order_id, status = %order.status, reason, "a rejection arrived for an order that had settled");
        }
        tx.commit().await?;
        self.outbox.committed();
        Ok(())
    }

    /// Takes payments for orders whose stock is reserved, until `shutdown`.
    pub async fn take_payments(self, mut shutdown: watch::Receiver<bool>) {
        let worker = &self;
        loop {
            match self.claim_due_payments().await {
                Ok(orders) => {
                    futures::stream::iter(orders)
                        .for_each_concurrent(PAYMENTS_IN_FLIGHT, |order_id| async move {
                            if let Err(error) = worker.settle_payment(&order_id).await {
                                tracing::warn!(%order_id, error = %format!("{error:#}"), "taking the payment failed; retrying after the lease");
                            }
                        })
                        .await;
                }
                Err(error) => tracing::warn!(%error, "looking for payments to take failed; retrying"),
            }
            tokio::select! {
                _ = self.payments_due.notified() => {}
                _ = tokio::time::sleep(PAYMENT_POLL) => {}
                _ = kit::server::stopping(&mut shutdown) => return,
            }
        }
    }

    async fn claim_due_payments(&self) -> anyhow::Result<Vec<String>> {
        let now_text = now();
        let lease_until = timestamp(chrono::Utc::now() + chrono::Duration::from_std(PAYMENT_LEASE)?);
        let skip_locked = if self.db.is_postgres() { "FOR UPDATE SKIP LOCKED" } else { "" };
        let claimed: Vec<(String,)> = sqlx::query_as(&format!(
            "UPDATE orders SET payment_lease_until = $1 WHERE id IN (\
                SELECT id FROM orders WHERE status = 'PENDING' AND payment_requested_at IS NOT NULL \
                AND (payment_lease_until IS NULL OR payment_lease_until < $2) ORDER BY payment_requested_at LIMIT 100 {skip_locked}) \
             RETURNING id"
        ))
        .bind(&lease_until)
        .bind(&now_text)
        .fetch_all(&self.db)
        .await?;
        Ok(claimed.into_iter().map(|(id,)| id).collect())
    }

    /// Authorizes (idempotently) and settles the order either way.
    async fn settle_payment(&self, order_id: &str) -> anyhow::Result<()> {
        let order = find_order(&self.db, order_id).await?.ok_or_else(|| anyhow::anyhow!("no order {order_id}"))?;
        if order.status != "PENDING" {
            return Ok(());
        }
        let currency = CurrencyCode::parse(&order.currency).ok_or_else(|| anyhow::anyhow!("stored currency {}", order.currency))?;
        let token = order.payment_token.clone().unwrap_or_default();
        let authorization = self.gateway.authorize(order_id, Money::new(order.total_minor, currency), &token).await?;
        let trace = Trace {
            correlation_id: order.correlation_id.clone().unwrap_or_else(|| order_id.to_string()),
            traceparent: order.traceparent.clone(),
        };

        let mut tx = self.db.begin().await?;
        let mut void_after_commit = false;
        match authorization {
            Authorization::Authorized { .. } => {
                if transition(&mut *tx, order_id, "PENDING", "CONFIRMED", None).await? {
                    let confirmed = OrderConfirmed {
                        order_id: order_id.to_string(),
                        customer_id: order.customer_id.clone(),
                        lines: order_lines(&mut *tx, order_id).await?,
                    };
                    record(&mut *tx, &Envelope::new(NAME, &trace, &confirmed)).await?;
                } else {
                    // The order settled another way (its reservation expired) while
                    // the provider was answering: give the money back.
                    void_after_commit = true;
                }
            }
            Authorization::Declined { reason } => {
                if transition(&mut *tx, order_id, "PENDING", "PAYMENT_FAILED", Some(&format!("PAYMENT_DECLINED: {reason}"))).await? {
                    release_cart(&mut *tx, &order).await?;
                    let failed = PaymentFailed { order_id: order_id.to_string(), cart_id: order.cart_id.clone(), reason };
                    record(&mut *tx, &Envelope::new(NAME, &trace, &failed)).await?;
                }
            }
        }
        tx.commit().await?;
        self.outbox.committed();
        if void_after_commit {
            self.gateway.void(order_id).await?;
        }
        Ok(())
    }
}

/// Lets the cart be ordered again.
async fn release_cart(tx: &mut AnyConnection, order: &OrderRow) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_claims WHERE cart_id = $1 AND order_id = $2")
        .bind(&order.cart_id)
        .bind(&order.id)
        .execute(tx)
        .await?;
    Ok(())
}

async fn order_lines(tx: &mut AnyConnection, order_id: &str) -> Result<Vec<OrderLine>, sqlx::Error> {
    let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
        "SELECT sku, product_id, quantity, unit_price_minor, currency FROM order_lines WHERE order_id = $1 ORDER BY position",
    )
            .bind(order_id)
            .fetch_all(tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(sku, product_id, quantity, unit_price_minor, currency)| OrderLine { sku, product_id, quantity, unit_price_minor, currency })
        .collect())
}
