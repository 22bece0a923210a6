//! What the cart does with the checkout saga's events.
//!
//! Consumes: OrderPlaced (the cart is ORDERED and can no longer change),
//! OrderRejected and PaymentFailed (the cart reopens, so the shopper can try
//! again). Produces nothing.

use async_trait::async_trait;
use kit::db::{Db, now};
use kit::events::contracts::{OrderPlaced, OrderRejected, PaymentFailed};
use kit::events::{Contract, Envelope, Handler, first_delivery};

use crate::NAME;

pub struct CartEvents {
    pub db: Db,
}

#[async_trait]
impl Handler for CartEvents {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        let (sql, cart_id, order_id) = match envelope.event_type.as_str() {
            OrderPlaced::TYPE => {
                let placed: OrderPlaced = envelope.decode()?;
                ("UPDATE carts SET status = 'ORDERED', order_id = $1, updated_at = $2 WHERE id = $3", placed.cart_id, placed.order_id)
            }
            OrderRejected::TYPE => {
                let rejected: OrderRejected = envelope.decode()?;
                (REOPEN, rejected.cart_id, rejected.order_id)
            }
            PaymentFailed::TYPE => {
                let failed: PaymentFailed = envelope.decode()?;
                (REOPEN, failed.cart_id, failed.order_id)
            }
            other => anyhow::bail!("cart does not consume {other}"),
        };
        sqlx::query(sql).bind(&order_id).bind(now()).bind(&cart_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Reopens the cart only if the failed order is the one that took it.
const REOPEN: &str = "UPDATE carts SET status = 'OPEN', order_id = NULL, updated_at = $2 WHERE order_id = $1 AND id = $3";
