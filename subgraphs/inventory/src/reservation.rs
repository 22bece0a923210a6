//! Reservations: stock held for an order while its payment settles, and the
//! steps of the checkout saga that move it.
//!
//! ```text
//! RESERVED ──confirm──► COMMITTED ──cancel──► RESTORED
//!    └──compensate──► RELEASED  (the order failed, or orders let it expire)
//! REJECTED: nothing could be reserved
//! ```
//!
//! Inventory never expires a reservation on its own: whether an order
//! settled in time is decided in one place, by orders (`expire_reservations`
//! there), so a confirmed order always keeps its stock and an expired one
//! comes back here as OrderRejected.

use std::collections::BTreeMap;
use std::time::Duration;

use events::contracts::{InventoryRejected, InventoryReserved, OrderPlaced};
use events::{Envelope, Trace, recording};
use kit::db::{Arg, Db, Write, Writes, from_now, is_postgres, now, query_as_with, query_with};
use sqlx::AnyConnection;

use crate::NAME;
use crate::stock::record_stock_levels;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationStatus {
    /// Counted in `stock_levels.reserved`.
    Reserved,
    /// Sold: it has left `on_hand`.
    Committed,
    /// Given back because the order failed or expired (the compensation).
    Released,
    /// A cancelled sale put back on the shelf.
    Restored,
    /// Nothing was reserved: a sku was short.
    Rejected,
}

impl ReservationStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Reserved => "RESERVED",
            ReservationStatus::Committed => "COMMITTED",
            ReservationStatus::Released => "RELEASED",
            ReservationStatus::Restored => "RESTORED",
            ReservationStatus::Rejected => "REJECTED",
        }
    }
}

/// A legal move of a reservation, and what it does to the stock of its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    Commit,
    Release,
    Restore,
}

impl Move {
    fn from(self) -> ReservationStatus {
        match self {
            Move::Commit | Move::Release => ReservationStatus::Reserved,
            Move::Restore => ReservationStatus::Committed,
        }
    }

    fn to(self) -> ReservationStatus {
        match self {
            Move::Commit => ReservationStatus::Committed,
            Move::Release => ReservationStatus::Released,
            Move::Restore => ReservationStatus::Restored,
        }
    }

    /// Whether it changes what is available (on hand less reserved): a sale
    /// takes the units out of both, so the catalog has nothing to learn.
    fn changes_availability(self) -> bool {
        self != Move::Commit
    }

    /// What it does to a line's stock level, `quantity` being the line's quantity.
    fn stock_change(self, quantity: &str) -> String {
        match self {
            Move::Commit => format!("on_hand = on_hand - {quantity}, reserved = reserved - {quantity}"),
            Move::Release => format!("reserved = reserved - {quantity}"),
            Move::Restore => format!("on_hand = on_hand + {quantity}"),
        }
    }
}

/// The one way a reservation changes status: only from the move's from-state
/// (a conditional update, so two steps racing cannot both win), with the
/// stock of every line changed and the new stock levels recorded when what
/// is available changed, all in `tx`. False, logged, when the reservation is not in the
/// from-state: an illegal move changes nothing.
async fn transition(tx: &mut AnyConnection, order_id: &str, step: Move, trace: &Trace) -> anyhow::Result<bool> {
    let Some(lines) = moved_lines(tx, order_id, step).await? else {
        tracing::info!(%order_id, ?step, from = step.from().as_str(), "reservation not in the move's from-state; nothing changed");
        return Ok(false);
    };
    if step.changes_availability() {
        let skus: Vec<&str> = lines.iter().map(|(sku, _)| sku.as_str()).collect();
        record_stock_levels(tx, &skus, trace).await?;
    }
    Ok(true)
}

const MOVE: &str = "UPDATE reservations SET status = $1, updated_at = $2 WHERE order_id = $3 AND status = $4";

/// Moves the order's reservation as `step` says, changes the stock of its
/// lines, and answers the lines, by sku; None (and nothing changed) when
/// the reservation was not in the step's from-state. On PostgreSQL the
/// move, the stock changes and the read are one statement.
async fn moved_lines(tx: &mut AnyConnection, order_id: &str, step: Move) -> Result<Option<Vec<(String, i64)>>, sqlx::Error> {
    let args = [step.to().as_str(), now().as_str(), order_id, step.from().as_str()].map(|value| Arg::Text(value.to_string()));
    if is_postgres(tx) {
        // A row per line; one row of nulls for a moved reservation without lines; none when nothing moved.
        let sql = format!(
            "WITH moved AS ({MOVE} RETURNING order_id), \
             lines AS (SELECT l.sku, l.quantity FROM moved JOIN reservation_lines l ON l.order_id = moved.order_id), \
             stocked AS (UPDATE stock_levels SET {}, updated_at = $2 FROM lines WHERE stock_levels.sku = lines.sku) \
             SELECT l.sku, l.quantity FROM moved LEFT JOIN reservation_lines l ON l.order_id = moved.order_id ORDER BY l.sku",
            step.stock_change("lines.quantity")
        );
        let rows: Vec<(Option<String>, Option<i64>)> = query_as_with(&sql, &args).fetch_all(&mut *tx).await?;
        return Ok((!rows.is_empty()).then(|| rows.into_iter().filter_map(|(sku, quantity)| Some((sku?, quantity?))).collect()));
    }
    if query_with(MOVE, &args).execute(&mut *tx).await?.rows_affected() == 0 {
        return Ok(None);
    }
    let lines: Vec<(String, i64)> =
        sqlx::query_as("SELECT sku, quantity FROM reservation_lines WHERE order_id = $1 ORDER BY sku").bind(order_id).fetch_all(&mut *tx).await?;
    let change = format!("UPDATE stock_levels SET {}, updated_at = $2 WHERE sku = $3", step.stock_change("$1"));
    for (sku, quantity) in &lines {
        sqlx::query(&change).bind(quantity).bind(now()).bind(sku).execute(&mut *tx).await?;
    }
    Ok(Some(lines))
}

/// Reserves every line of a placed order, or none: conditional increments of
/// `reserved`, skus in a fixed order so concurrent reservations cannot
/// deadlock. A single short sku undoes the others and rejects the order.
/// Records InventoryReserved or InventoryRejected.
#[tracing::instrument(skip_all, fields(order_id = %placed.order_id))]
pub async fn reserve_stock(tx: &mut AnyConnection, placed: &OrderPlaced, ttl: Duration, trace: &Trace) -> anyhow::Result<()> {
    let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &placed.lines {
        *wanted.entry(line.sku.as_str()).or_default() += line.quantity;
    }
    let mut short = Vec::new();
    let mut held = Vec::new();
    let mut sold_out = Vec::new();
    for (sku, quantity) in &wanted {
        let left: Option<i64> = sqlx::query_scalar(
            "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2 WHERE sku = $3 AND on_hand - reserved >= $1 \
             RETURNING on_hand - reserved",
        )
        .bind(quantity)
        .bind(now())
        .bind(sku)
        .fetch_optional(&mut *tx)
        .await?;
        match left {
            None => short.push(sku.to_string()),
            Some(left) => {
                held.push((sku, quantity));
                if left == 0 {
                    sold_out.push(*sku);
                }
            }
        }
    }
    let status = if short.is_empty() {
        ReservationStatus::Reserved
    } else {
        // Undone by hand (this transaction holds the rows) rather than by a
        // savepoint, which would cost every order two more round trips.
        for (sku, quantity) in held {
            sqlx::query("UPDATE stock_levels SET reserved = reserved - $1 WHERE sku = $2").bind(quantity).bind(sku).execute(&mut *tx).await?;
        }
        ReservationStatus::Rejected
    };
    let reservation = Write::new(
        "INSERT INTO reservations (order_id, status, created_at, expires_at, updated_at) VALUES ($1, $2, $3, $4, $3)",
        vec![Arg::Text(placed.order_id.clone()), Arg::Text(status.as_str().to_string()), Arg::Text(now()), Arg::Text(from_now(ttl))],
    );
    if status == ReservationStatus::Rejected {
        let rejected = InventoryRejected { order_id: placed.order_id.clone(), out_of_stock: short };
        return Ok(Writes::new(reservation).and(recording(&Envelope::new(NAME, trace, &rejected))).execute(tx).await?);
    }
    // Only a sku this order sells out changes what the catalog shows: one
    // that stays in stock records nothing, or a busy sku would send an
    // event, and the catalog a transaction, for every order.
    record_stock_levels(tx, &sold_out, trace).await?;
    let lines: Vec<Write> = wanted
        .iter()
        .map(|(sku, quantity)| {
            Write::new(
                "INSERT INTO reservation_lines (order_id, sku, quantity) VALUES ($1, $2, $3)",
                vec![Arg::Text(placed.order_id.clone()), Arg::Text(sku.to_string()), Arg::Int(*quantity)],
            )
        })
        .collect();
    let reserved = Envelope::new(NAME, trace, &InventoryReserved { order_id: placed.order_id.clone() });
    Ok(Writes::new(reservation).and_all(lines).and(recording(&reserved)).execute(tx).await?)
}

/// The order is confirmed: its reservation becomes a sale and leaves `on_hand`.
pub async fn commit_reservation(tx: &mut AnyConnection, order_id: &str, trace: &Trace) -> anyhow::Result<()> {
    transition(tx, order_id, Move::Commit, trace).await?;
    Ok(())
}

/// The compensation: the order failed (payment declined, rejected), so its
/// reserved stock goes back on sale.
pub async fn release_reservation(tx: &mut AnyConnection, order_id: &str, trace: &Trace) -> anyhow::Result<()> {
    transition(tx, order_id, Move::Release, trace).await?;
    Ok(())
}

/// A confirmed order was cancelled: its sale goes back on the shelf. A
/// cancellation can overtake the confirmation's delivery; then the
/// reservation is still held and is released instead.
pub async fn restore_stock(tx: &mut AnyConnection, order_id: &str, trace: &Trace) -> anyhow::Result<()> {
    if !transition(tx, order_id, Move::Restore, trace).await? {
        transition(tx, order_id, Move::Release, trace).await?;
    }
    Ok(())
}

/// A reservation as an operator looks at it: its status, until when, and its lines.
#[derive(Debug, serde::Serialize)]
pub struct ReservationView {
    pub status: String,
    pub expires_at: String,
    pub lines: Vec<(String, i64)>,
}

/// The inventory side of `order_id`'s saga; None when nothing was reserved or refused for it.
pub async fn reservation_of(db: &Db, order_id: &str) -> Result<Option<ReservationView>, sqlx::Error> {
    let found: Option<(String, String)> =
        sqlx::query_as("SELECT status, expires_at FROM reservations WHERE order_id = $1").bind(order_id).fetch_optional(db).await?;
    let Some((status, expires_at)) = found else {
        return Ok(None);
    };
    let lines = sqlx::query_as("SELECT sku, quantity FROM reservation_lines WHERE order_id = $1 ORDER BY sku").bind(order_id).fetch_all(db).await?;
    Ok(Some(ReservationView { status, expires_at, lines }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::contracts::OrderLine;

    async fn reserved_order(db: &Db, units: i64) -> String {
        crate::stock::set_on_hand(db, &[("A".into(), 10)]).await.unwrap();
        let placed = OrderPlaced {
            order_id: "o1".into(),
            customer_id: "c1".into(),
            cart_id: "k1".into(),
            lines: vec![OrderLine { sku: "A".into(), product_id: "p1".into(), quantity: units, unit_price_minor: 100, currency: "USD".into() }],
            total_minor: 100 * units,
            currency: "USD".into(),
        };
        let mut tx = db.begin().await.unwrap();
        reserve_stock(&mut tx, &placed, Duration::from_secs(60), &Trace::default()).await.unwrap();
        tx.commit().await.unwrap();
        placed.order_id
    }

    async fn stock(db: &Db) -> (i64, i64) {
        let level = crate::stock::stock_of(db, "A").await.unwrap().unwrap();
        (level.on_hand, level.reserved)
    }

    async fn db() -> Db {
        kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), events::migrator(), crate::migrator()]).await.unwrap()
    }

    #[tokio::test]
    async fn an_illegal_move_changes_nothing() {
        let db = db().await;
        let order = reserved_order(&db, 3).await;
        let mut tx = db.begin().await.unwrap();
        assert!(!transition(&mut tx, &order, Move::Restore, &Trace::default()).await.unwrap(), "a reservation that was never sold cannot be restored");
        commit_reservation(&mut tx, &order, &Trace::default()).await.unwrap();
        assert!(!transition(&mut tx, &order, Move::Release, &Trace::default()).await.unwrap(), "a sale cannot be released");
        tx.commit().await.unwrap();
        assert_eq!(stock(&db).await, (7, 0), "sold once; nothing else moved");
    }

    #[tokio::test]
    async fn a_short_sku_reserves_nothing() {
        let db = db().await;
        let order = reserved_order(&db, 11).await;
        assert_eq!(stock(&db).await, (10, 0));
        let status: String = sqlx::query_scalar("SELECT status FROM reservations WHERE order_id = $1").bind(&order).fetch_one(&db).await.unwrap();
        assert_eq!(status, "REJECTED");
    }
}
