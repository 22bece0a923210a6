//! After confirmation, in the back office: shipping lines (the first
//! shipment captures the payment), paying money back, and taking shipped
//! lines back onto the shelf. Each request is made under an idempotency key
//! (scoped to its order) and takes the order's row first, so the requests for
//! one order are decided one at a time and never ship, return or refund more
//! than there is.
//!
//! A refund changes no stock; only `return_order_lines` puts units back
//! (inventory restocks on OrderLinesReturned).

use std::collections::BTreeMap;

use events::contracts::{OrderFulfilled, OrderLinesReturned, OrderRefunded, ShipmentLine};
use events::{Envelope, Outbox, Trace, record};
use kit::db::{Batches, Db, ManyByKey, many_by_key, new_id, now};
use kit::domain::{IdempotencyKey, Quantity, Sku};
use kit::error::{ApiError, UserError};
use kit::idempotency::{Keyed, Recalled, key_reused};
use kit::money::{Decimal, Money};
use sqlx::AnyConnection;

use crate::NAME;
use crate::order::{Change, Changed, OrderRow, OrderStatus, find_order, transition};
use crate::payment::PaymentGateway;

/// Lines of a request, by sku, as checked at the edge.
pub type Lines = BTreeMap<Sku, Quantity>;

/// Statuses in which the payment is captured and lines have shipped.
const SHIPPED: [OrderStatus; 2] = [OrderStatus::PartiallyFulfilled, OrderStatus::Fulfilled];

/// A back-office request about one order, under its idempotency key.
pub struct OrderRequest<'a> {
    pub order_id: &'a str,
    pub key: &'a IdempotencyKey,
    pub trace: &'a Trace,
}

impl OrderRequest<'_> {
    fn keyed(&self, operation: &'static str, fingerprint: Vec<String>) -> Keyed<'_> {
        Keyed { operation, owner: self.order_id, key: self.key, fingerprint }
    }
}

fn refused(code: &str, field: &str, message: impl Into<String>) -> Changed {
    Changed::Refused(UserError::new(code, field, message))
}

fn fingerprint_of(lines: &Lines) -> String {
    lines.iter().map(|(sku, quantity)| format!("{}×{}", sku.as_str(), quantity.get())).collect::<Vec<_>>().join(",")
}

async fn current(db: &Db, order_id: &str) -> Result<OrderRow, ApiError> {
    Ok(find_order(db, order_id).await?.ok_or_else(|| anyhow::anyhow!("order {order_id} vanished"))?)
}

/// What the key already answers: the order as it now is, or a refusal.
async fn recalled(db: &Db, keyed: &Keyed<'_>) -> Result<Option<Changed>, ApiError> {
    Ok(match keyed.recall(db).await? {
        Recalled::Unused => None,
        Recalled::Reused => Some(Changed::Refused(key_reused("input.idempotencyKey"))),
        // The key's owner is the order.
        Recalled::Answered(_) => Some(Changed::Order(current(db, keyed.owner).await?)),
    })
}

/// Takes the order's row until the transaction ends, if it is in one of
/// `statuses`: the requests for one order wait here for each other.
async fn take_order(tx: &mut AnyConnection, order_id: &str, statuses: &[OrderStatus]) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query("UPDATE orders SET updated_at = $1 WHERE id = $2 AND status IN ($3, $4)")
        .bind(now())
        .bind(order_id)
        .bind(statuses[0].as_str())
        .bind(statuses[statuses.len() - 1].as_str())
        .execute(tx)
        .await?;
    Ok(taken.rows_affected() == 1)
}

/// Units per sku of the order in table `of`, less those in table `less`:
/// ordered less shipped (what may ship), or shipped less returned (what may come back).
async fn units_left(tx: &mut AnyConnection, order_id: &str, of: &str, less: &str) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let sum = |table: &str| format!("SELECT sku, CAST(SUM(quantity) AS BIGINT) FROM {table} WHERE order_id = $1 GROUP BY sku");
    let mut left: BTreeMap<String, i64> = BTreeMap::new();
    for (sku, units) in sqlx::query_as::<_, (String, i64)>(&sum(of)).bind(order_id).fetch_all(&mut *tx).await? {
        *left.entry(sku).or_default() += units;
    }
    for (sku, units) in sqlx::query_as::<_, (String, i64)>(&sum(less)).bind(order_id).fetch_all(&mut *tx).await? {
        *left.entry(sku).or_default() -= units;
    }
    Ok(left)
}

/// The first line asking for more than is left, as a refusal.
fn beyond(lines: &Lines, left: &BTreeMap<String, i64>, what: &str) -> Option<Changed> {
    lines.iter().find_map(|(sku, quantity)| {
        let left = left.get(sku.as_str()).copied().unwrap_or(0);
        (quantity.get() > left).then(|| {
            refused("QUANTITY_EXCEEDS_ORDER", "input.lines", format!("{} has {left} unit(s) left to {what}, not {}", sku.as_str(), quantity.get()))
        })
    })
}

fn shipment_lines(lines: &Lines) -> Vec<ShipmentLine> {
    lines.iter().map(|(sku, quantity)| ShipmentLine { sku: sku.as_str().to_string(), quantity: quantity.get() }).collect()
}

async fn insert_lines(tx: &mut AnyConnection, table_and_key: &str, id: &str, order_id: &str, lines: &Lines) -> Result<(), sqlx::Error> {
    for (sku, quantity) in lines {
        sqlx::query(&format!("INSERT INTO {table_and_key}, order_id, sku, quantity) VALUES ($1, $2, $3, $4)"))
            .bind(id)
            .bind(order_id)
            .bind(sku.as_str())
            .bind(quantity.get())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// A shipment of some of an order's lines.
pub struct Shipment<'a> {
    pub lines: Lines,
    pub carrier: &'a str,
    pub tracking_number: &'a str,
}

/// Ships `shipment`: CONFIRMED or PARTIALLY_FULFILLED becomes
/// PARTIALLY_FULFILLED, or FULFILLED once every unit has shipped. The
/// payment is captured before anything is written; a capture that loses to
/// a cancellation's void refuses the shipment.
pub async fn fulfil_order(db: &Db, gateway: &dyn PaymentGateway, outbox: &Outbox, request: &OrderRequest<'_>, shipment: &Shipment<'_>) -> Result<Changed, ApiError> {
    let keyed = request.keyed("fulfillOrder", vec![fingerprint_of(&shipment.lines), shipment.carrier.into(), shipment.tracking_number.into()]);
    if let Some(answer) = recalled(db, &keyed).await? {
        return Ok(answer);
    }
    let not_fulfillable = |status: &str| refused("ORDER_NOT_FULFILLABLE", "input.orderId", format!("only a CONFIRMED or PARTIALLY_FULFILLED order ships; this one is {status}"));
    let order = current(db, request.order_id).await?;
    if !matches!(order.status()?, OrderStatus::Confirmed | OrderStatus::PartiallyFulfilled) {
        return Ok(not_fulfillable(&order.status));
    }
    // Checked before the capture, so a shipment that cannot be made takes no money.
    let unshipped = units_left(&mut *db.begin().await?, &order.id, "order_lines", "fulfilment_lines").await?;
    if let Some(refusal) = beyond(&shipment.lines, &unshipped, "ship") {
        return Ok(refusal);
    }
    if !gateway.capture(&order.id).await? {
        return Ok(not_fulfillable("cancelled: its payment was voided"));
    }
    let fulfilment_id = new_id();
    let mut tx = db.begin().await?;
    if !keyed.claim(&mut tx, &fulfilment_id).await? {
        tx.rollback().await?;
        return Ok(recalled(db, &keyed).await?.expect("a twin request claimed the key"));
    }
    if !take_order(&mut tx, &order.id, &[OrderStatus::Confirmed, OrderStatus::PartiallyFulfilled]).await? {
        tx.rollback().await?;
        return Ok(not_fulfillable(&current(db, &order.id).await?.status));
    }
    // Again under the order's row: a concurrent shipment may have taken units.
    let mut left = units_left(&mut tx, &order.id, "order_lines", "fulfilment_lines").await?;
    if let Some(refusal) = beyond(&shipment.lines, &left, "ship") {
        tx.rollback().await?;
        return Ok(refusal);
    }
    for (sku, quantity) in &shipment.lines {
        *left.entry(sku.as_str().to_string()).or_default() -= quantity.get();
    }
    sqlx::query("INSERT INTO fulfilments (id, order_id, carrier, tracking_number, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&fulfilment_id)
        .bind(&order.id)
        .bind(shipment.carrier)
        .bind(shipment.tracking_number)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    insert_lines(&mut tx, "fulfilment_lines (fulfilment_id", &fulfilment_id, &order.id, &shipment.lines).await?;
    let shipped = OrderFulfilled {
        order_id: order.id.clone(),
        fulfilment_id,
        lines: shipment_lines(&shipment.lines),
        carrier: shipment.carrier.to_string(),
        tracking_number: shipment.tracking_number.to_string(),
        complete: left.values().all(|units| *units == 0),
    };
    let fulfilled = transition(&mut tx, &order, Change::Fulfil { shipped: &shipped }, request.trace).await?;
    tx.commit().await?;
    outbox.committed_and_announced(fulfilled.as_slice());
    Ok(Changed::Order(current(db, &order.id).await?))
}

/// Takes shipped lines back: they go back on the shelf (OrderLinesReturned);
/// no money moves (refund separately). Never more than shipped and not yet returned.
pub async fn return_order_lines(db: &Db, outbox: &Outbox, request: &OrderRequest<'_>, lines: &Lines) -> Result<Changed, ApiError> {
    let keyed = request.keyed("returnOrderLines", vec![fingerprint_of(lines)]);
    if let Some(answer) = recalled(db, &keyed).await? {
        return Ok(answer);
    }
    let return_id = new_id();
    let mut tx = db.begin().await?;
    if !keyed.claim(&mut tx, &return_id).await? {
        tx.rollback().await?;
        return Ok(recalled(db, &keyed).await?.expect("a twin request claimed the key"));
    }
    if !take_order(&mut tx, request.order_id, &SHIPPED).await? {
        tx.rollback().await?;
        let status = current(db, request.order_id).await?.status;
        return Ok(refused("ORDER_NOT_RETURNABLE", "input.orderId", format!("only lines that shipped come back; this order is {status}")));
    }
    if let Some(refusal) = beyond(lines, &units_left(&mut tx, request.order_id, "fulfilment_lines", "return_lines").await?, "return") {
        tx.rollback().await?;
        return Ok(refusal);
    }
    sqlx::query("INSERT INTO returns (id, order_id, created_at) VALUES ($1, $2, $3)").bind(&return_id).bind(request.order_id).bind(now()).execute(&mut *tx).await?;
    insert_lines(&mut tx, "return_lines (return_id", &return_id, request.order_id, lines).await?;
    let returned = OrderLinesReturned { order_id: request.order_id.to_string(), return_id, lines: shipment_lines(lines) };
    record(&mut tx, &Envelope::new(NAME, request.trace, &returned)).await?;
    tx.commit().await?;
    outbox.committed();
    Ok(Changed::Order(current(db, request.order_id).await?))
}

/// A refund as it is asked for.
pub struct RefundRequest<'a> {
    pub amount: Money,
    pub reason: &'a str,
}

/// Pays `amount` back from the captured payment of a shipped order, never
/// more than was charged in all. The refund is written (REQUESTED) before the
/// provider is asked, with the refund id as the provider's idempotency key,
/// so a retry under the same key finishes it and never pays twice.
pub async fn refund_order(db: &Db, gateway: &dyn PaymentGateway, outbox: &Outbox, request: &OrderRequest<'_>, refund: &RefundRequest<'_>) -> Result<Changed, ApiError> {
    let amount = refund.amount;
    let keyed = request.keyed("refundOrder", vec![format!("{} {}", Decimal(amount.minor_units), amount.currency.as_str()), refund.reason.into()]);
    let refund_id = match keyed.recall(db).await? {
        Recalled::Reused => return Ok(Changed::Refused(key_reused("input.idempotencyKey"))),
        Recalled::Answered(refund_id) => refund_id,
        Recalled::Unused => match request_refund(db, &keyed, request, refund).await? {
            Ok(refund_id) => refund_id,
            Err(refusal) => return Ok(refusal),
        },
    };
    gateway.refund(request.order_id, &refund_id, amount).await?;
    let mut tx = db.begin().await?;
    let paid = sqlx::query("UPDATE refunds SET status = 'REFUNDED' WHERE id = $1 AND status = 'REQUESTED'").bind(&refund_id).execute(&mut *tx).await?;
    if paid.rows_affected() == 1 {
        let refunded = OrderRefunded {
            order_id: request.order_id.to_string(),
            refund_id,
            amount_minor: amount.minor_units,
            currency: amount.currency.as_str().to_string(),
        };
        record(&mut tx, &Envelope::new(NAME, request.trace, &refunded)).await?;
    }
    tx.commit().await?;
    outbox.committed();
    Ok(Changed::Order(current(db, request.order_id).await?))
}

/// Writes the refund REQUESTED under the order's row, if the order has
/// shipped and its payment still covers it; answers its id.
async fn request_refund(db: &Db, keyed: &Keyed<'_>, request: &OrderRequest<'_>, refund: &RefundRequest<'_>) -> Result<Result<String, Changed>, ApiError> {
    let refund_id = new_id();
    let mut tx = db.begin().await?;
    if !keyed.claim(&mut tx, &refund_id).await? {
        tx.rollback().await?;
        // A twin request wrote it; finish that one.
        return Ok(match keyed.recall(db).await? {
            Recalled::Answered(refund_id) => Ok(refund_id),
            _ => Err(Changed::Refused(key_reused("input.idempotencyKey"))),
        });
    }
    if !take_order(&mut tx, request.order_id, &SHIPPED).await? {
        tx.rollback().await?;
        let status = current(db, request.order_id).await?.status;
        let message = format!("only a shipped order's captured payment is refunded (cancel a CONFIRMED one); this order is {status}");
        return Ok(Err(refused("ORDER_NOT_REFUNDABLE", "input.orderId", message)));
    }
    let order = find_order(&mut *tx, request.order_id).await?.ok_or_else(|| anyhow::anyhow!("order {} vanished", request.order_id))?;
    let charged = order.total()?;
    if refund.amount.currency != charged.currency {
        tx.rollback().await?;
        return Ok(Err(refused("CURRENCY_MISMATCH", "input.amount", format!("the order was paid in {}", charged.currency.as_str()))));
    }
    let refunded: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE order_id = $1").bind(&order.id).fetch_one(&mut *tx).await?;
    let refundable = charged.minor_units - refunded;
    if refund.amount.minor_units > refundable {
        tx.rollback().await?;
        let message = format!("at most {} {} is left to refund", Decimal(refundable), charged.currency.as_str());
        return Ok(Err(refused("REFUND_EXCEEDS_PAYMENT", "input.amount", message)));
    }
    sqlx::query("INSERT INTO refunds (id, order_id, amount_minor, currency, reason, status, created_at) VALUES ($1, $2, $3, $4, $5, 'REQUESTED', $6)")
        .bind(&refund_id)
        .bind(&order.id)
        .bind(refund.amount.minor_units)
        .bind(refund.amount.currency.as_str())
        .bind(refund.reason)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(refund_id))
}

/// One fulfilment's or return's line, with its shipment's details.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ShipmentRow {
    pub id: String,
    pub order_id: String,
    /// Empty for a return.
    pub carrier: String,
    pub tracking_number: String,
    pub created_at: String,
    pub sku: String,
    pub quantity: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub created_at: String,
}

/// A fulfilment or a return, with its lines.
pub struct Shipped {
    pub first: ShipmentRow,
    pub lines: Vec<(String, i64)>,
}

/// Rows of one order's shipments, grouped by shipment (rows come ordered by it).
pub fn by_shipment(rows: Vec<ShipmentRow>) -> Vec<Shipped> {
    let mut shipments: Vec<Shipped> = Vec::new();
    for row in rows {
        let line = (row.sku.clone(), row.quantity);
        match shipments.last_mut() {
            Some(shipment) if shipment.first.id == row.id => shipment.lines.push(line),
            _ => shipments.push(Shipped { first: row, lines: vec![line] }),
        }
    }
    shipments
}

pub struct Loaders {
    pub fulfilments_by_order: ManyByKey<ShipmentRow>,
    pub returns_by_order: ManyByKey<ShipmentRow>,
    pub refunds_by_order: ManyByKey<RefundRow>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches) -> Self {
        Loaders {
            fulfilments_by_order: many_by_key(db, batches,
                "SELECT f.id, f.order_id, f.carrier, f.tracking_number, f.created_at, l.sku, l.quantity \
                 FROM fulfilments f JOIN fulfilment_lines l ON l.fulfilment_id = f.id \
                 WHERE f.order_id IN ({keys}) ORDER BY f.order_id, f.created_at, f.id, l.sku",
                |row: &ShipmentRow| &row.order_id,
            ),
            returns_by_order: many_by_key(db, batches,
                "SELECT r.id, r.order_id, '' AS carrier, '' AS tracking_number, r.created_at, l.sku, l.quantity \
                 FROM returns r JOIN return_lines l ON l.return_id = r.id \
                 WHERE r.order_id IN ({keys}) ORDER BY r.order_id, r.created_at, r.id, l.sku",
                |row: &ShipmentRow| &row.order_id,
            ),
            refunds_by_order: many_by_key(db, batches,
                "SELECT id, order_id, amount_minor, currency, reason, status, created_at FROM refunds \
                 WHERE order_id IN ({keys}) ORDER BY order_id, created_at, id",
                |row: &RefundRow| &row.order_id,
            ),
        }
    }
}
