//! Stock queries. Every change is a conditional update, never a read followed
//! by a write, so concurrent requests cannot take stock below zero.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use kit::db::{Db, fetch_by_keys, is_unique_violation, loader};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct StockRow {
    pub on_hand: i64,
    pub reserved: i64,
}

impl StockRow {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(sqlx::FromRow)]
struct KeyedStockRow {
    sku: String,
    on_hand: i64,
    reserved: i64,
}

pub struct StockBySku(Db);

impl Loader<String> for StockBySku {
    type Value = StockRow;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, skus: &[String]) -> Result<HashMap<String, StockRow>, Self::Error> {
        let rows: Vec<KeyedStockRow> =
            fetch_by_keys(&self.0, "SELECT sku, on_hand, reserved FROM stock_levels WHERE sku IN ({keys})", skus).await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.sku, StockRow { on_hand: row.on_hand, reserved: row.reserved }))
            .collect())
    }
}

pub struct Loaders {
    pub stock_by_sku: DataLoader<StockBySku>,
}

impl Loaders {
    pub fn new(db: Db) -> Self {
        Loaders { stock_by_sku: loader(StockBySku(db)) }
    }
}

/// A back-office stock adjustment, validated.
#[derive(Debug)]
pub struct Adjustment<'a> {
    pub sku: &'a str,
    pub delta: i64,
    pub reason: &'a str,
    pub idempotency_key: &'a str,
    pub actor: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AdjustOutcome {
    Applied(StockRow),
    /// The key was used before for this same adjustment: nothing applied again.
    Replayed(StockRow),
    /// The key was used before for a different adjustment.
    KeyReused,
    UnknownSku,
    InsufficientStock(StockRow),
}

/// Applies `adjustment` once per idempotency key, all or nothing.
#[tracing::instrument(skip(db))]
pub async fn adjust_stock(db: &Db, adjustment: &Adjustment<'_>) -> Result<AdjustOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let recorded = sqlx::query(
        "INSERT INTO stock_adjustments (idempotency_key, sku, delta, reason, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(adjustment.idempotency_key)
    .bind(adjustment.sku)
    .bind(adjustment.delta)
    .bind(adjustment.reason)
    .bind(adjustment.actor)
    .bind(kit::db::now())
    .execute(&mut *tx)
    .await;
    match recorded {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            tx.rollback().await?;
            return replay(db, adjustment).await;
        }
        Err(error) => return Err(error),
    }
    let updated: Option<StockRow> = sqlx::query_as(
        "UPDATE stock_levels SET on_hand = on_hand + $1, updated_at = $2 \
         WHERE sku = $3 AND on_hand + $1 - reserved >= 0 RETURNING on_hand, reserved",
    )
    .bind(adjustment.delta)
    .bind(kit::db::now())
    .bind(adjustment.sku)
    .fetch_optional(&mut *tx)
    .await?;
    match updated {
        Some(stock) => {
            tx.commit().await?;
            Ok(AdjustOutcome::Applied(stock))
        }
        None => {
            tx.rollback().await?;
            Ok(match stock_of(db, adjustment.sku).await? {
                Some(stock) => AdjustOutcome::InsufficientStock(stock),
                None => AdjustOutcome::UnknownSku,
            })
        }
    }
}

async fn replay(db: &Db, adjustment: &Adjustment<'_>) -> Result<AdjustOutcome, sqlx::Error> {
    let (sku, delta): (String, i64) =
        sqlx::query_as("SELECT sku, delta FROM stock_adjustments WHERE idempotency_key = $1")
            .bind(adjustment.idempotency_key)
            .fetch_one(db)
            .await?;
    if sku != adjustment.sku || delta != adjustment.delta {
        return Ok(AdjustOutcome::KeyReused);
    }
    Ok(AdjustOutcome::Replayed(stock_of(db, &sku).await?.unwrap_or_default()))
}

pub async fn stock_of(db: &Db, sku: &str) -> Result<Option<StockRow>, sqlx::Error> {
    sqlx::query_as("SELECT on_hand, reserved FROM stock_levels WHERE sku = $1").bind(sku).fetch_optional(db).await
}

/// Sets the on-hand count of skus that have no stock row yet (the seed
/// command's input); existing rows are left alone, so seeding twice changes nothing.
pub async fn set_on_hand(db: &Db, stock: &[(String, i64)]) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let now = kit::db::now();
    for (sku, on_hand) in stock {
        sqlx::query(
            "INSERT INTO stock_levels (sku, on_hand, reserved, updated_at) VALUES ($1, $2, 0, $3) ON CONFLICT (sku) DO NOTHING",
        )
        .bind(sku)
        .bind(on_hand)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
