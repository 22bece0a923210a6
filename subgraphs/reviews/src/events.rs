//! What reviews does with the checkout saga's events.
//!
//! Consumes: OrderConfirmed (the customer bought these products: their
//! reviews of them, past and future, are verified purchases). Produces nothing.

use async_trait::async_trait;
use kit::db::Db;
use kit::events::contracts::OrderConfirmed;
use kit::events::{Contract, Envelope, Handler, first_delivery};

use crate::NAME;

pub struct ReviewsEvents {
    pub db: Db,
}

#[async_trait]
impl Handler for ReviewsEvents {
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()> {
        if envelope.event_type != OrderConfirmed::TYPE {
            anyhow::bail!("reviews does not consume {}", envelope.event_type);
        }
        let confirmed: OrderConfirmed = envelope.decode()?;
        let mut tx = self.db.begin().await?;
        if !first_delivery(&mut *tx, NAME, &envelope.id).await? {
            return Ok(());
        }
        for line in confirmed.lines.iter().filter(|line| !line.product_id.is_empty()) {
            sqlx::query("INSERT INTO purchases (customer_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&confirmed.customer_id)
                .bind(&line.product_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE reviews SET verified_purchase = 1 WHERE customer_id = $1 AND product_id = $2")
                .bind(&confirmed.customer_id)
                .bind(&line.product_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
