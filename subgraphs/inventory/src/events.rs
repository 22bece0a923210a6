//! The checkout saga's events, as inventory takes them: each is decoded and
//! handed to one step of `reservation`; the consumer records the delivery in
//! the same transaction.
//!
//! Consumes: OrderPlaced, OrderConfirmed, PaymentFailed, OrderRejected,
//! OrderCancelled, OrderLinesReturned. Produces (from reservation and stock): InventoryReserved,
//! InventoryRejected, StockLevelChanged.

use std::time::Duration;

use async_trait::async_trait;
use events::contracts::{OrderCancelled, OrderConfirmed, OrderLinesReturned, OrderPlaced, OrderRejected, PaymentFailed};
use events::{Contract, Envelope, Handler};
use sqlx::AnyConnection;

use crate::reservation::{commit_reservation, release_reservation, reserve_stock, restore_stock};
use crate::stock::restock_returned;

pub struct InventoryEvents {
    /// How long stock stays reserved for an order that has not settled.
    pub reservation_ttl: Duration,
}

#[async_trait]
impl Handler for InventoryEvents {
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
        let trace = envelope.trace();
        match envelope.event_type.as_str() {
            OrderPlaced::TYPE => reserve_stock(tx, &envelope.decode()?, self.reservation_ttl, &trace).await,
            OrderConfirmed::TYPE => commit_reservation(tx, &envelope.decode::<OrderConfirmed>()?.order_id, &trace).await,
            PaymentFailed::TYPE => release_reservation(tx, &envelope.decode::<PaymentFailed>()?.order_id, &trace).await,
            OrderRejected::TYPE => release_reservation(tx, &envelope.decode::<OrderRejected>()?.order_id, &trace).await,
            OrderCancelled::TYPE => restore_stock(tx, &envelope.decode::<OrderCancelled>()?.order_id, &trace).await,
            OrderLinesReturned::TYPE => restock_returned(tx, &envelope.decode()?, &trace).await,
            other => anyhow::bail!("inventory does not consume {other}"),
        }
    }
}
