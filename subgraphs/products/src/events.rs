//! The events the catalog takes: inventory's stock levels, kept as a read
//! model for the availability filter and facets (event-carried state: the
//! catalog never calls inventory).
//!
//! Consumes: StockLevelChanged. Produces (from `catalog`): VariantPriceChanged.

use async_trait::async_trait;
use events::contracts::StockLevelChanged;
use events::{Contract, Envelope, Handler};
use sqlx::AnyConnection;

use crate::catalog::record_stock_level;

pub struct CatalogEvents;

#[async_trait]
impl Handler for CatalogEvents {
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
        match envelope.event_type.as_str() {
            StockLevelChanged::TYPE => Ok(record_stock_level(tx, &envelope.decode()?).await?),
            other => anyhow::bail!("products does not consume {other}"),
        }
    }

    fn records_events(&self) -> bool {
        false
    }
}
