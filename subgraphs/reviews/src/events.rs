//! The checkout saga's events, as reviews takes them: OrderConfirmed is
//! decoded and handed to `review::record_purchase`; the consumer records the
//! delivery in the same transaction. Produces nothing.

use async_trait::async_trait;
use events::contracts::OrderConfirmed;
use events::{Contract, Envelope, Handler};
use sqlx::AnyConnection;

use crate::review::record_purchase;

pub struct ReviewsEvents;

#[async_trait]
impl Handler for ReviewsEvents {
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
        if envelope.event_type != OrderConfirmed::TYPE {
            anyhow::bail!("reviews does not consume {}", envelope.event_type);
        }
        let confirmed: OrderConfirmed = envelope.decode()?;
        if confirmed.customer_id.is_empty() {
            // A guest's purchase verifies no one's review.
            return Ok(());
        }
        // Lines of OrderPlaced v1 orders carry no product id.
        let products: Vec<&str> = confirmed.lines.iter().map(|line| line.product_id.as_str()).filter(|id| !id.is_empty()).collect();
        Ok(record_purchase(tx, &confirmed.customer_id, &products).await?)
    }

    fn records_events(&self) -> bool {
        false
    }
}
