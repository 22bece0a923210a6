//! What orders does with the checkout saga's events.
//!
//! Consumes: InventoryReserved (authorize the payment, then CONFIRMED and
//! OrderConfirmed, or PAYMENT_FAILED and PaymentFailed: the compensation that
//! releases the stock), InventoryRejected (REJECTED, OrderRejected),
//! ReservationExpired (REJECTED if still PENDING). Produces OrderPlaced,
//! OrderConfirmed, OrderRejected, PaymentFailed, OrderCancelled.

use std::sync::Arc;

use async_trait::async_trait;
use kit::db::Db;
use kit::events::contracts::{
    InventoryRejected, InventoryReserved, OrderConfirmed, OrderLine, OrderRejected, PaymentFailed, ReservationExpired,
};
use kit::events::{Contract, Envelope, Handler, Outbox, first_delivery, record};
use kit::money::{CurrencyCode, Money};
use sqlx::AnyConnection;

use crate::NAME;
use crate::checkout::transition;
use crate::db::{OrderRow, find_order};
use crate::payments::{Authorization, PaymentGateway};

pub struct OrdersEvents {
    pub db: Db,
    pub outbox: Outbox,
    pub gateway: Arc<dyn PaymentGateway>,
}

#[async_trait]
impl Handler for OrdersEvents {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        match envelope.event_type.as_str() {
            InventoryReserved::TYPE => self.take_payment(envelope, &envelope.decode::<InventoryReserved>()?.order_id).await,
            InventoryRejected::TYPE => {
                let order_id = envelope.decode::<InventoryRejected>()?.order_id;
                self.reject(envelope, &order_id, "OUT_OF_STOCK").await
            }
            ReservationExpired::TYPE => {
                let order_id = envelope.decode::<ReservationExpired>()?.order_id;
                self.reject(envelope, &order_id, "RESERVATION_EXPIRED").await
            }
            other => anyhow::bail!("orders does not consume {other}"),
        }
    }
}

impl OrdersEvents {
    /// Stock is held: authorize the payment (idempotent per order, so a
    /// redelivery never charges twice) and settle the order either way.
    async fn take_payment(&self, envelope: &Envelope, order_id: &str) -> anyhow::Result<()> {
        let order = find_order(&self.db, order_id).await?.ok_or_else(|| anyhow::anyhow!("no order {order_id}"))?;
        if order.status != "PENDING" {
            return self.mark_processed(envelope).await;
        }
        let currency = CurrencyCode::parse(&order.currency).ok_or_else(|| anyhow::anyhow!("stored currency {}", order.currency))?;
        let token = order.payment_token.clone().unwrap_or_default();
        let authorization = self.gateway.authorize(order_id, Money::new(order.total_minor, currency), &token).await?;

        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        let mut void_after_commit = false;
        match authorization {
            Authorization::Authorized { .. } => {
                if transition(&mut *tx, order_id, "PENDING", "CONFIRMED", None).await? {
                    let confirmed = OrderConfirmed {
                        order_id: order_id.to_string(),
                        customer_id: order.customer_id.clone(),
                        lines: order_lines(&mut *tx, order_id).await?,
                    };
                    record(&mut *tx, &Envelope::new(NAME, &envelope.correlation_id, &confirmed)).await?;
                } else {
                    // The order settled another way (its reservation expired) while
                    // the payment was being taken: give the money back.
                    void_after_commit = true;
                }
            }
            Authorization::Declined { reason } => {
                if transition(&mut *tx, order_id, "PENDING", "PAYMENT_FAILED", Some(&format!("PAYMENT_DECLINED: {reason}"))).await? {
                    release_cart(&mut *tx, &order).await?;
                    let failed = PaymentFailed { order_id: order_id.to_string(), cart_id: order.cart_id.clone(), reason };
                    record(&mut *tx, &Envelope::new(NAME, &envelope.correlation_id, &failed)).await?;
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

    async fn reject(&self, envelope: &Envelope, order_id: &str, reason: &str) -> anyhow::Result<()> {
        let order = find_order(&self.db, order_id).await?.ok_or_else(|| anyhow::anyhow!("no order {order_id}"))?;
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        if transition(&mut *tx, order_id, "PENDING", "REJECTED", Some(reason)).await? {
            release_cart(&mut *tx, &order).await?;
            let rejected = OrderRejected { order_id: order_id.to_string(), cart_id: order.cart_id.clone(), reason: reason.to_string() };
            record(&mut *tx, &Envelope::new(NAME, &envelope.correlation_id, &rejected)).await?;
        } else {
            tracing::warn!(%order_id, status = %order.status, reason, "a rejection arrived for an order that had settled");
        }
        tx.commit().await?;
        self.outbox.committed();
        Ok(())
    }

    async fn mark_processed(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        first_delivery(&mut *tx, NAME, &envelope.id).await?;
        tx.commit().await?;
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
