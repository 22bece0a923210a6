//! Stock per sku. Every change is a conditional update, never a read followed
//! by a write, so concurrent requests cannot take stock below zero.

use events::contracts::{OrderLinesReturned, ShipmentLine, StockLevelChanged};
use events::{Envelope, Trace, record};
use kit::db::{Arg, Batches, Db, OneByKey, now, one_by_key};
use sqlx::AnyConnection;
use kit::domain::{IdempotencyKey, Sku};
use kit::idempotency::{Keyed, Recalled};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stock {
    pub on_hand: i64,
    pub reserved: i64,
}

impl Stock {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StockRow {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
}

impl StockRow {
    pub fn level(&self) -> Stock {
        Stock { on_hand: self.on_hand, reserved: self.reserved }
    }
}

pub struct Loaders {
    pub stock_by_sku: OneByKey<StockRow>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches) -> Self {
        Loaders {
            stock_by_sku: one_by_key(db, batches, "SELECT sku, on_hand, reserved FROM stock_levels WHERE sku IN ({keys})", |row: &StockRow| &row.sku),
        }
    }
}

/// A back-office stock adjustment, validated.
#[derive(Debug)]
pub struct Adjustment<'a> {
    pub sku: &'a Sku,
    pub delta: i64,
    pub reason: &'a str,
    pub idempotency_key: &'a IdempotencyKey,
    /// The staff member making it.
    pub actor: &'a str,
}

impl Adjustment<'_> {
    /// Keys are shared by the whole back office: the same key from another
    /// staff member, or for another change, is a different request.
    fn keyed(&self) -> Keyed<'_> {
        Keyed {
            operation: "adjustStock",
            owner: "",
            key: self.idempotency_key,
            fingerprint: vec![self.sku.as_str().into(), self.delta.to_string(), self.reason.into(), self.actor.into()],
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AdjustOutcome {
    Applied(Stock),
    /// The key was used before for this same adjustment: nothing applied again.
    Replayed(Stock),
    /// The key was used before for a different adjustment.
    KeyReused,
    UnknownSku,
    InsufficientStock(Stock),
}

/// Applies `adjustment` once per idempotency key, all or nothing.
#[tracing::instrument(skip(db))]
pub async fn adjust_stock(db: &Db, adjustment: &Adjustment<'_>, trace: &Trace) -> anyhow::Result<AdjustOutcome> {
    let keyed = adjustment.keyed();
    if let Some(answer) = recalled(db, &keyed, adjustment.sku).await? {
        return Ok(answer);
    }
    let mut tx = db.begin().await?;
    if !keyed.claim(&mut tx, adjustment.idempotency_key.as_str()).await? {
        tx.rollback().await?;
        return Ok(recalled(db, &keyed, adjustment.sku).await?.expect("a twin request claimed the key"));
    }
    sqlx::query(
        "INSERT INTO stock_adjustments (idempotency_key, sku, delta, reason, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(adjustment.idempotency_key.as_str())
    .bind(adjustment.sku.as_str())
    .bind(adjustment.delta)
    .bind(adjustment.reason)
    .bind(adjustment.actor)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    let updated: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE stock_levels SET on_hand = on_hand + $1, updated_at = $2 \
         WHERE sku = $3 AND on_hand + $1 - reserved >= 0 RETURNING on_hand, reserved",
    )
    .bind(adjustment.delta)
    .bind(now())
    .bind(adjustment.sku.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    match updated {
        Some((on_hand, reserved)) => {
            record_stock_levels(&mut tx, &[adjustment.sku.as_str()], trace).await?;
            tx.commit().await?;
            Ok(AdjustOutcome::Applied(Stock { on_hand, reserved }))
        }
        None => {
            tx.rollback().await?;
            Ok(match stock_of(db, adjustment.sku.as_str()).await? {
                Some(stock) => AdjustOutcome::InsufficientStock(stock),
                None => AdjustOutcome::UnknownSku,
            })
        }
    }
}

/// What an adjustment's key already answers, if anything.
async fn recalled(db: &Db, keyed: &Keyed<'_>, sku: &Sku) -> Result<Option<AdjustOutcome>, sqlx::Error> {
    Ok(match keyed.recall(db).await? {
        Recalled::Unused => None,
        Recalled::Reused => Some(AdjustOutcome::KeyReused),
        Recalled::Answered(_) => Some(AdjustOutcome::Replayed(stock_of(db, sku.as_str()).await?.unwrap_or_default())),
    })
}

/// Bumps the version of each of `skus` and records StockLevelChanged with
/// its available count, in `tx`: every change of stock that can change
/// whether a sku is in stock calls it, so the catalog's read of
/// availability follows.
pub async fn record_stock_levels(tx: &mut AnyConnection, skus: &[&str], trace: &Trace) -> anyhow::Result<()> {
    for sku in skus {
        let level: Option<(i64, i64)> =
            sqlx::query_as("UPDATE stock_levels SET version = version + 1 WHERE sku = $1 RETURNING on_hand - reserved, version")
                .bind(sku)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((available, version)) = level {
            record(tx, &Envelope::new(crate::NAME, trace, &StockLevelChanged { sku: sku.to_string(), available, version })).await?;
        }
    }
    Ok(())
}

/// Shipped units came back (OrderLinesReturned): they are on the shelf again.
pub async fn restock_returned(tx: &mut AnyConnection, returned: &OrderLinesReturned, trace: &Trace) -> anyhow::Result<()> {
    let mut lines: Vec<&ShipmentLine> = returned.lines.iter().collect();
    // A fixed order, so concurrent restocks cannot deadlock.
    lines.sort_by(|a, b| a.sku.cmp(&b.sku));
    for line in &lines {
        sqlx::query("UPDATE stock_levels SET on_hand = on_hand + $1, updated_at = $2 WHERE sku = $3")
            .bind(line.quantity)
            .bind(now())
            .bind(&line.sku)
            .execute(&mut *tx)
            .await?;
    }
    let skus: Vec<&str> = lines.iter().map(|line| line.sku.as_str()).collect();
    record_stock_levels(tx, &skus, trace).await
}

pub async fn stock_of(db: &Db, sku: &str) -> Result<Option<Stock>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT on_hand, reserved FROM stock_levels WHERE sku = $1").bind(sku).fetch_optional(db).await?;
    Ok(row.map(|(on_hand, reserved)| Stock { on_hand, reserved }))
}

/// Sets the on-hand count of skus that have no stock row yet (the seed
/// command's input); existing rows are left alone, so seeding twice changes nothing.
pub async fn set_on_hand(db: &Db, stock: &[(String, i64)]) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let now = now();
    let rows: Vec<Vec<Arg>> = stock.iter().map(|(sku, on_hand)| vec![Arg::Text(sku.clone()), Arg::Int(*on_hand), Arg::Int(0), Arg::Text(now.clone())]).collect();
    kit::db::insert_rows(&mut tx, "INSERT INTO stock_levels (sku, on_hand, reserved, updated_at)", "ON CONFLICT DO NOTHING", &rows).await?;
    tx.commit().await?;
    Ok(())
}
