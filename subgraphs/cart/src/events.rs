//! The checkout saga's events, as the cart takes them: each is decoded and
//! handed to one step of `cart`; the consumer records the delivery in the
//! same transaction.
//!
//! Consumes: OrderPlaced (the cart closes), OrderRejected and PaymentFailed
//! (the cart reopens). Produces nothing.

use async_trait::async_trait;
use events::contracts::{OrderPlaced, OrderRejected, PaymentFailed};
use events::{Contract, Envelope, Handler};
use sqlx::AnyConnection;

use crate::cart::{close_cart, reopen_cart};

pub struct CartEvents;

#[async_trait]
impl Handler for CartEvents {
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
        match envelope.event_type.as_str() {
            OrderPlaced::TYPE => {
                let placed: OrderPlaced = envelope.decode()?;
                Ok(close_cart(tx, &placed.cart_id, &placed.order_id).await?)
            }
            OrderRejected::TYPE => {
                let rejected: OrderRejected = envelope.decode()?;
                Ok(reopen_cart(tx, &rejected.cart_id, &rejected.order_id).await?)
            }
            PaymentFailed::TYPE => {
                let failed: PaymentFailed = envelope.decode()?;
                Ok(reopen_cart(tx, &failed.cart_id, &failed.order_id).await?)
            }
            other => anyhow::bail!("cart does not consume {other}"),
        }
    }

    fn records_events(&self) -> bool {
        false
    }
}
