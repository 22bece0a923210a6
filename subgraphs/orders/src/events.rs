//! The checkout saga's events, as orders takes them: each is decoded and
//! handed to one step of `order` or `payment`; the consumer records the
//! delivery in the same transaction.
//!
//! Consumes: InventoryReserved (the payment is due), InventoryRejected
//! (rejected: out of stock). Produces (from order): OrderPlaced,
//! OrderConfirmed, OrderRejected, PaymentFailed, OrderCancelled.

use async_trait::async_trait;
use events::contracts::{InventoryRejected, InventoryReserved};
use events::{Contract, Envelope, Handler};
use sqlx::AnyConnection;

use crate::order::reject_order;
use crate::payment::{Payments, payment_due_here};

pub struct OrdersEvents {
    pub payments: Payments,
}

#[async_trait]
impl Handler for OrdersEvents {
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
        match envelope.event_type.as_str() {
            InventoryReserved::TYPE => Ok(payment_due_here(tx, &envelope.decode::<InventoryReserved>()?.order_id).await?),
            InventoryRejected::TYPE => reject_order(tx, &envelope.decode::<InventoryRejected>()?.order_id, "OUT_OF_STOCK", &envelope.trace()).await,
            other => anyhow::bail!("orders does not consume {other}"),
        }
    }

    /// A payment this replica queued for itself is due: take it at once.
    fn committed(&self, envelope: &Envelope) -> anyhow::Result<()> {
        if envelope.event_type == InventoryReserved::TYPE {
            self.payments.take(envelope.decode::<InventoryReserved>()?.order_id);
        }
        Ok(())
    }
}
