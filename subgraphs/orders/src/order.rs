//! Orders: placing one, cancelling one, and the one function that changes an
//! order's status.
//!
//! ```text
//! PENDING ──stock reserved, payment authorized──► CONFIRMED ──cancel──► CANCELLED
//!    ├──stock short, reservation expired──► REJECTED   │
//!    └──payment declined──► PAYMENT_FAILED             └──fulfil (some lines)──► PARTIALLY_FULFILLED ──fulfil the rest──► FULFILLED
//! ```
//!
//! Fulfilment, refunds and returns are in `fulfilment`.

use std::collections::HashMap;

use async_graphql::Enum;
use events::contracts::{OrderCancelled, OrderConfirmed, OrderFulfilled, OrderLine, OrderPlaced, OrderRejected, PaymentFailed};
use events::{Contract, Envelope, Outbox, Trace, recording};
use kit::db::{Arg, Batches, Db, ManyByKey, OneByKey, Write, Writes, is_unique_violation, many_by_key, new_id, now, one_by_key};
use kit::domain::{Address, Email, IdempotencyKey};
use kit::error::{ApiError, UserError};
use kit::graph::GraphClient;
use kit::idempotency::{Keyed, Recalled, key_reused};
use kit::money::{CurrencyCode, Decimal, Money};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::NAME;
use crate::pricing::{self, Destination, Quote};
use crate::payment::{PaymentGateway, payment_due};

/// Where an order stands: PENDING while stock and payment settle, then CONFIRMED, REJECTED or PAYMENT_FAILED; a CONFIRMED order may become CANCELLED, or ship: PARTIALLY_FULFILLED, then FULFILLED.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderStatus {
    /// Placed; stock and payment are being settled.
    Pending,
    Confirmed,
    /// A sku could not be reserved, or the reservation expired.
    Rejected,
    /// The payment was declined; the reservation was released.
    PaymentFailed,
    Cancelled,
    /// Some lines have shipped; the payment is captured.
    PartiallyFulfilled,
    /// Every line has shipped; the payment is captured.
    Fulfilled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::PaymentFailed => "PAYMENT_FAILED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::PartiallyFulfilled => "PARTIALLY_FULFILLED",
            OrderStatus::Fulfilled => "FULFILLED",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        [
            OrderStatus::Pending,
            OrderStatus::Confirmed,
            OrderStatus::Rejected,
            OrderStatus::PaymentFailed,
            OrderStatus::Cancelled,
            OrderStatus::PartiallyFulfilled,
            OrderStatus::Fulfilled,
        ]
        .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("stored order status {text:?}"))
    }

    /// The statuses an order moves to this one from: every change of status
    /// is one of these moves (`Change`).
    fn reached_from(self) -> &'static [OrderStatus] {
        match self {
            OrderStatus::Pending => &[],
            OrderStatus::Confirmed | OrderStatus::Rejected | OrderStatus::PaymentFailed => &[OrderStatus::Pending],
            OrderStatus::Cancelled => &[OrderStatus::Confirmed],
            OrderStatus::PartiallyFulfilled | OrderStatus::Fulfilled => &[OrderStatus::Confirmed, OrderStatus::PartiallyFulfilled],
        }
    }

    /// Whether an order last known to be `last` can be this now: the same
    /// status heard again, or one move on.
    pub fn can_follow(self, last: OrderStatus) -> bool {
        self == last || self.reached_from().contains(&last)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub number: String,
    /// Empty for a guest's order: use `customer()`.
    pub customer_id: String,
    pub cart_id: String,
    pub status: String,
    pub total_minor: i64,
    pub currency: String,
    pub payment_token: Option<String>,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
    /// JSON of kit::domain::Address.
    pub shipping_address: Option<String>,
    pub billing_address: Option<String>,
    pub email: Option<String>,
    pub subtotal_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    /// 1 when the tax is part of subtotal and shipping (not added to them).
    pub taxes_included: i64,
    pub shipping_method: Option<String>,
}

impl OrderRow {
    pub fn status(&self) -> anyhow::Result<OrderStatus> {
        OrderStatus::parse(&self.status)
    }

    pub fn total(&self) -> anyhow::Result<Money> {
        Money::from_stored(self.total_minor, &self.currency)
    }

    /// The customer who placed it; None for a guest.
    pub fn customer(&self) -> Option<&str> {
        Some(self.customer_id.as_str()).filter(|id| !id.is_empty())
    }

    /// The trace of the request that placed it, which every later step
    /// carries on (from the current span, when traces are exported).
    pub fn trace(&self) -> Trace {
        let traceparent = kit::trace::current_traceparent(self.traceparent.clone());
        Trace { correlation_id: self.correlation_id.clone().unwrap_or_else(|| self.id.clone()), traceparent }
    }
}

const ORDER_COLUMNS: &str = "id, number, customer_id, cart_id, status, total_minor, currency, payment_token, correlation_id, traceparent, \
     shipping_address, billing_address, email, subtotal_minor, shipping_minor, tax_minor, taxes_included, shipping_method";

pub async fn find_order<'c>(executor: impl sqlx::Executor<'c, Database = sqlx::Any>, id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1")).bind(id).fetch_optional(executor).await
}

/// The orders whose ids fill `{keys}`, for `kit::db::fetch_by_keys` and the loader.
fn orders_by_ids_sql() -> String {
    format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id IN ({{keys}})")
}

/// The orders of `ids` that exist, by id, in one statement.
pub async fn find_orders(db: &Db, ids: &[String]) -> Result<HashMap<String, OrderRow>, sqlx::Error> {
    let rows: Vec<OrderRow> = kit::db::fetch_by_keys(db, &orders_by_ids_sql(), ids).await?;
    Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
}

/// How many orders are in each status.
pub async fn orders_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, COUNT(*) FROM orders GROUP BY status").fetch_all(db).await
}

/// One page of a customer's orders, newest first, and how many there are.
#[tracing::instrument(skip(db))]
pub async fn orders_of(db: &Db, customer_id: &str, after_id: Option<&str>, limit: i64) -> Result<(Vec<OrderRow>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE customer_id = $1").bind(customer_id).fetch_one(db).await?;
    let rows = match after_id {
        Some(after_id) => {
            sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
                .bind(customer_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(db)
                .await?
        }
        None => {
            sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT $2"))
                .bind(customer_id)
                .bind(limit)
                .fetch_all(db)
                .await?
        }
    };
    Ok((rows, total))
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LineRow {
    pub order_id: String,
    pub sku: String,
    pub product_id: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TimelineRow {
    pub order_id: String,
    pub status: String,
    pub at: String,
    pub reason: Option<String>,
}

const LINES_OF_ORDERS: &str = "SELECT order_id, sku, product_id, quantity, unit_price_minor, currency FROM order_lines \
     WHERE order_id IN ({keys}) ORDER BY order_id, position";

pub struct Loaders {
    pub orders_by_id: OneByKey<OrderRow>,
    pub lines_by_order: ManyByKey<LineRow>,
    pub timeline_by_order: ManyByKey<TimelineRow>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches) -> Self {
        Loaders {
            orders_by_id: one_by_key(db, batches, orders_by_ids_sql(), |row: &OrderRow| &row.id),
            lines_by_order: many_by_key(db, batches, LINES_OF_ORDERS, |row: &LineRow| &row.order_id),
            timeline_by_order: many_by_key(db, batches,
                "SELECT order_id, status, at, reason FROM order_timeline WHERE order_id IN ({keys}) ORDER BY order_id, position",
                |row: &TimelineRow| &row.order_id,
            ),
        }
    }
}

/// A legal change of an order's status, with the event it records.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// PENDING → CONFIRMED (stock reserved, payment authorized): OrderConfirmed, with the order's lines.
    Confirm { lines: &'a [OrderLine] },
    /// PENDING → REJECTED: OrderRejected, so inventory releases and the cart reopens.
    Reject { reason: &'a str },
    /// PENDING → PAYMENT_FAILED: PaymentFailed, so inventory releases (the compensation) and the cart reopens.
    FailPayment { reason: &'a str },
    /// CONFIRMED → CANCELLED: OrderCancelled, so inventory restores the stock.
    Cancel,
    /// CONFIRMED or PARTIALLY_FULFILLED → PARTIALLY_FULFILLED, or FULFILLED
    /// when nothing is left to ship: OrderFulfilled.
    Fulfil { shipped: &'a OrderFulfilled },
}

impl Change<'_> {
    fn from(self) -> &'static [OrderStatus] {
        self.to().reached_from()
    }

    fn to(self) -> OrderStatus {
        match self {
            Change::Confirm { .. } => OrderStatus::Confirmed,
            Change::Reject { .. } => OrderStatus::Rejected,
            Change::FailPayment { .. } => OrderStatus::PaymentFailed,
            Change::Cancel => OrderStatus::Cancelled,
            Change::Fulfil { shipped } if shipped.complete => OrderStatus::Fulfilled,
            Change::Fulfil { .. } => OrderStatus::PartiallyFulfilled,
        }
    }

    fn reason(self) -> Option<String> {
        match self {
            Change::Confirm { .. } => None,
            Change::Reject { reason } => Some(reason.to_string()),
            Change::FailPayment { reason } => Some(format!("PAYMENT_DECLINED: {reason}")),
            Change::Cancel => Some("CANCELLED_BY_CUSTOMER".to_string()),
            Change::Fulfil { shipped } => Some(format!("SHIPPED: {} {}", shipped.carrier, shipped.tracking_number)),
        }
    }
}

/// The status an event of this subgraph says an order has moved to (the
/// `to` of the change that recorded it); None for an event that moves no
/// status. A subscriber learns the new status from the event, without
/// reading the order again.
pub fn status_announced_by(envelope: &Envelope) -> Option<OrderStatus> {
    match envelope.event_type.as_str() {
        OrderConfirmed::TYPE => Some(OrderStatus::Confirmed),
        OrderRejected::TYPE => Some(OrderStatus::Rejected),
        PaymentFailed::TYPE => Some(OrderStatus::PaymentFailed),
        OrderCancelled::TYPE => Some(OrderStatus::Cancelled),
        OrderFulfilled::TYPE => Some(match envelope.decode::<OrderFulfilled>().ok()?.complete {
            true => OrderStatus::Fulfilled,
            false => OrderStatus::PartiallyFulfilled,
        }),
        _ => None,
    }
}

/// The one way an order changes status: only from the change's from-states
/// (a conditional update, so two steps racing cannot both win), with its
/// timeline entry and its event, all in `tx`; answers the event, to announce
/// once `tx` commits. None, logged, when the order is not in a from-state: an
/// illegal change does nothing.
pub async fn transition(tx: &mut AnyConnection, order: &OrderRow, change: Change<'_>, trace: &Trace) -> anyhow::Result<Option<Envelope>> {
    let from: Vec<&str> = change.from().iter().map(|status| status.as_str()).collect();
    let status_change = Write::new(
        "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ($4, $5)",
        // One or two from-states; one is bound twice.
        vec![Arg::Text(change.to().as_str().to_string()), Arg::Text(now()), Arg::Text(order.id.clone()), Arg::Text(from[0].to_string()), Arg::Text(from[from.len() - 1].to_string())],
    );
    let order_id = order.id.clone();
    let envelope = match change {
        Change::Confirm { lines } => Envelope::new(NAME, trace, &OrderConfirmed { order_id, customer_id: order.customer_id.clone(), lines: lines.to_vec() }),
        Change::Reject { reason } => {
            Envelope::new(NAME, trace, &OrderRejected { order_id, cart_id: order.cart_id.clone(), reason: reason.to_string() })
        }
        Change::FailPayment { reason } => {
            Envelope::new(NAME, trace, &PaymentFailed { order_id, cart_id: order.cart_id.clone(), reason: reason.to_string() })
        }
        Change::Cancel => Envelope::new(NAME, trace, &OrderCancelled { order_id }),
        Change::Fulfil { shipped } => Envelope::new(NAME, trace, shipped),
    };
    let recorded = Writes::new(timeline_entry(&order.id, change.to(), change.reason())).and(recording(&envelope));
    if !recorded.execute_if(status_change, tx).await? {
        tracing::info!(order_id = %order.id, ?change, ?from, "order not in the change's from-states; nothing changed");
        return Ok(None);
    }
    Ok(Some(envelope))
}

/// The order's next timeline entry. Its position counts the entries before
/// it, so a `Writes` holds at most one entry per order (none sees another's).
fn timeline_entry(order_id: &str, status: OrderStatus, reason: Option<String>) -> Write {
    Write::new(
        "INSERT INTO order_timeline (order_id, position, status, at, reason) \
         VALUES ($1, (SELECT COALESCE(MAX(position), -1) + 1 FROM order_timeline WHERE order_id = $1), $2, $3, $4)",
        vec![Arg::Text(order_id.to_string()), Arg::Text(status.as_str().to_string()), Arg::Text(now()), Arg::OptionalText(reason)],
    )
}

/// The lines of each of `order_ids`, in one statement, for the events that carry them.
pub async fn lines_of_orders(tx: &mut AnyConnection, order_ids: &[String]) -> Result<HashMap<String, Vec<OrderLine>>, sqlx::Error> {
    let rows: Vec<LineRow> = kit::db::fetch_by_keys(tx, LINES_OF_ORDERS, order_ids).await?;
    let mut lines: HashMap<String, Vec<OrderLine>> = HashMap::new();
    for row in rows {
        let line = OrderLine { sku: row.sku, product_id: row.product_id, quantity: row.quantity, unit_price_minor: row.unit_price_minor, currency: row.currency };
        lines.entry(row.order_id).or_default().push(line);
    }
    Ok(lines)
}

/// Stock and payment are settled: the order (whose `lines` OrderConfirmed
/// carries) is confirmed. Answers OrderConfirmed; None when it had settled already.
pub async fn confirm_order(tx: &mut AnyConnection, order: &OrderRow, lines: &[OrderLine]) -> anyhow::Result<Option<Envelope>> {
    transition(tx, order, Change::Confirm { lines }, &order.trace()).await
}

/// The order cannot be fulfilled (`reason`: OUT_OF_STOCK, RESERVATION_EXPIRED):
/// it is rejected and its cart may be ordered again.
pub async fn reject_order(tx: &mut AnyConnection, order_id: &str, reason: &str, trace: &Trace) -> anyhow::Result<()> {
    let order = find_order(&mut *tx, order_id).await?.ok_or_else(|| anyhow::anyhow!("no order {order_id}"))?;
    if transition(tx, &order, Change::Reject { reason }, trace).await?.is_some() {
        release_cart_claim(tx, &order).await?;
    }
    Ok(())
}

/// Rejects every order still PENDING `ttl` after it was placed
/// (RESERVATION_EXPIRED), each in its own transaction: inventory releases
/// its stock on OrderRejected, and a payment authorized meanwhile is voided
/// (the payment worker voids a REJECTED order's authorization). This is the
/// one place the race between a confirmation and an expiry is decided: the
/// PENDING guard lets exactly one of them happen, and inventory follows.
/// Answers how many expired.
pub async fn expire_reservations(db: &Db, outbox: &Outbox, ttl: std::time::Duration) -> anyhow::Result<usize> {
    let deadline = kit::db::timestamp(chrono::Utc::now() - chrono::Duration::from_std(ttl)?);
    let due: Vec<(String,)> = sqlx::query_as("SELECT id FROM orders WHERE status = $1 AND created_at <= $2")
        .bind(OrderStatus::Pending.as_str())
        .bind(deadline)
        .fetch_all(db)
        .await?;
    let mut expired = 0;
    for (order_id,) in due {
        let mut tx = db.begin().await?;
        let Some(order) = find_order(&mut *tx, &order_id).await? else { continue };
        if let Some(rejected) = transition(&mut tx, &order, Change::Reject { reason: "RESERVATION_EXPIRED" }, &order.trace()).await? {
            release_cart_claim(&mut tx, &order).await?;
            payment_due(&mut tx, &order_id).await?;
            tx.commit().await?;
            outbox.committed_and_announced(&[rejected]);
            expired += 1;
            tracing::info!(%order_id, "the order did not settle in time: rejected, its stock released");
        }
    }
    Ok(expired)
}

/// The payment was declined: the order failed and its cart may be ordered
/// again. Answers PaymentFailed; None when it had settled already.
pub async fn fail_payment(tx: &mut AnyConnection, order: &OrderRow, reason: &str) -> anyhow::Result<Option<Envelope>> {
    let failed = transition(tx, order, Change::FailPayment { reason }, &order.trace()).await?;
    if failed.is_some() {
        release_cart_claim(tx, order).await?;
    }
    Ok(failed)
}

/// A placeOrder request, as the customer or guest sent it.
pub struct PlaceOrder<'a> {
    /// The signed-in customer; None for a guest.
    pub customer_id: Option<&'a str>,
    /// Where the receipt goes; required of a guest.
    pub email: Option<Email>,
    pub cart_id: &'a str,
    pub idempotency_key: &'a IdempotencyKey,
    pub payment_token: &'a str,
    pub expected_total: Option<Money>,
    /// Where it ships, and who is billed (the shipping address unless given).
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    /// The shipping method's code; the cheapest to the address when not given.
    pub shipping_method: Option<&'a str>,
    /// The customer's own Authorization header, to read the cart as them.
    pub authorization: Option<&'a str>,
    pub trace: &'a Trace,
}

impl PlaceOrder<'_> {
    /// A customer's keys are theirs alone; a guest's belong to the guest cart
    /// (its id is the guest's capability). The same key for another cart,
    /// payment, total, address or shipping is a different request.
    fn keyed<'k>(&'k self, owner: &'k str) -> Keyed<'k> {
        let expected = self.expected_total.map(|total| format!("{} {}", Decimal(total.minor_units), total.currency.as_str()));
        Keyed {
            operation: "placeOrder",
            owner,
            key: self.idempotency_key,
            fingerprint: vec![
                self.cart_id.to_string(),
                self.payment_token.to_string(),
                expected.unwrap_or_default(),
                json_of(&self.shipping_address).unwrap_or_default(),
                json_of(&self.billing_address).unwrap_or_default(),
                self.shipping_method.unwrap_or_default().to_string(),
                self.email.as_ref().map(|email| email.as_str().to_string()).unwrap_or_default(),
            ],
        }
    }

    fn owner(&self) -> String {
        match self.customer_id {
            Some(customer_id) => customer_id.to_string(),
            None => format!("guest-cart:{}", self.cart_id),
        }
    }

    fn destination(&self) -> Option<Destination<'_>> {
        self.shipping_address.as_ref().map(|address| Destination { country: &address.country, region: address.region.as_deref() })
    }
}

/// What placeOrder answers.
pub enum Placed {
    /// The order, and for a guest a token that reads it (a new one each time
    /// the same request is answered again: tokens are kept only as hashes).
    Order { order: OrderRow, access_token: Option<String> },
    Refused(UserError),
}

fn refused(code: &str, field: &str, message: impl Into<String>) -> Placed {
    Placed::Refused(UserError::new(code, field, message))
}

/// Places the order: PENDING, prices, shipping and tax fixed, OrderPlaced in
/// the outbox, all in one transaction, and answers at once; the saga settles
/// it on events. The same request under the same key always answers the same order.
#[tracing::instrument(skip_all, fields(customer_id = request.customer_id, cart_id = request.cart_id))]
pub async fn place_order(db: &Db, source: &CartSource, outbox: &Outbox, request: &PlaceOrder<'_>) -> Result<Placed, ApiError> {
    let owner = request.owner();
    let keyed = request.keyed(&owner);
    // The key is read only when no order was placed now, rather than before
    // every order: a request sent again finds its cart ordered, its total
    // changed or its key taken, and is answered what the key says.
    let placed = place_new_order(db, source, outbox, request, &keyed).await;
    if matches!(placed, Ok(Placed::Order { .. })) {
        return placed;
    }
    match (recalled(db, &keyed, request).await, placed) {
        (Ok(Some(answer)), Err(error)) => {
            tracing::info!(error = %format!("{error:?}"), "placing the order again failed; answered what its idempotency key says");
            Ok(answer)
        }
        (Ok(Some(answer)), Ok(_)) => Ok(answer),
        (Ok(None), placed) => placed,
        (Err(error), Ok(_)) => Err(error),
        (Err(error), Err(placing)) => {
            tracing::warn!(error = %format!("{error:?}"), "could not read the idempotency key after placing the order failed");
            Err(placing)
        }
    }
}

async fn place_new_order(db: &Db, source: &CartSource, outbox: &Outbox, request: &PlaceOrder<'_>, keyed: &Keyed<'_>) -> Result<Placed, ApiError> {
    let cart = match read_cart(source, request.cart_id, request.authorization, "input.cartId").await? {
        Ok(cart) => cart,
        Err(refusal) => return Ok(Placed::Refused(refusal)),
    };
    let quote = match pricing::quote(db, cart.subtotal, request.destination(), request.shipping_method, "input.shippingMethod").await? {
        Ok(quote) => quote,
        Err(refusal) => return Ok(Placed::Refused(refusal)),
    };
    let total = quote.totals.total;
    if let Some(expected) = request.expected_total
        && expected != total
    {
        let now_costs = format!("the order now costs {} {} with shipping and tax", Decimal(total.minor_units), total.currency.as_str());
        return Ok(refused("PRICE_CHANGED", "input.expectedTotal", now_costs));
    }

    let order_id = new_id();
    let (access_token, grant) = match request.customer_id {
        None => {
            let (token, grant) = access_grant(&order_id);
            (Some(token), Some(grant))
        }
        Some(_) => (None, None),
    };
    let placing = order_writes(&order_id, request, &cart, &quote)
        .and(keyed.claiming(&order_id))
        .and(Write::new(
            "INSERT INTO cart_claims (cart_id, order_id) VALUES ($1, $2)",
            vec![Arg::Text(request.cart_id.to_string()), Arg::Text(order_id.clone())],
        ))
        .and_all(grant);
    let order: OrderRow = match placing.commit(db).await {
        Ok(order) => order,
        // Another order holds the cart; or, when none does, another request
        // took the key first, and `place_order` answers what the key says.
        Err(error) if is_unique_violation(&error) && cart_is_claimed(db, request.cart_id).await? => {
            return Ok(refused("CART_ALREADY_ORDERED", "input.cartId", "this cart has been ordered already"));
        }
        Err(error) => return Err(error.into()),
    };
    outbox.committed();
    Ok(Placed::Order { order, access_token })
}

/// What the idempotency key already answers, if anything.
async fn recalled(db: &Db, keyed: &Keyed<'_>, request: &PlaceOrder<'_>) -> Result<Option<Placed>, ApiError> {
    Ok(match keyed.recall(db).await? {
        Recalled::Unused => None,
        Recalled::Reused => Some(Placed::Refused(key_reused("input.idempotencyKey"))),
        Recalled::Answered(order_id) => {
            let order = find_order(db, &order_id).await?.ok_or_else(|| anyhow::anyhow!("idempotency key names missing order {order_id}"))?;
            let access_token = match request.customer_id {
                None => {
                    let (token, grant) = access_grant(&order_id);
                    grant.execute(db).await?;
                    Some(token)
                }
                Some(_) => None,
            };
            Some(Placed::Order { order, access_token })
        }
    })
}

/// A new token that reads and follows `order_id`, and the write that grants
/// it: only the token's hash is kept.
fn access_grant(order_id: &str) -> (String, Write) {
    let token = format!("oat_{}", hex(&rand::random::<[u8; 32]>()));
    let grant = Write::new(
        "INSERT INTO order_access_tokens (token_hash, order_id, created_at) VALUES ($1, $2, $3)",
        vec![Arg::Text(token_hash(&token)), Arg::Text(order_id.to_string()), Arg::Text(now())],
    );
    (token, grant)
}

/// Whether `token` is one of `order_id`'s access tokens.
pub async fn grants_access(db: &Db, order_id: &str, token: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM order_access_tokens WHERE token_hash = $1 AND order_id = $2")
        .bind(token_hash(token))
        .bind(order_id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A cart's lines at the catalog's current prices, and their sum.
struct PricedCart {
    lines: Vec<OrderLine>,
    subtotal: Money,
}

/// Where placeOrder and checkoutQuote read the cart and its prices: from
/// the cart and products subgraphs themselves, the two fetches the router
/// would make for one query, without the router's hop (every order pays
/// this read). Both answer as of the moment they are asked.
#[derive(Clone)]
pub struct CartSource {
    pub cart: GraphClient,
    pub products: GraphClient,
}

/// A cart's lines, asked of the cart subgraph as the customer.
pub(crate) const CART_LINES: &str = "query ($id: ID!) { cart(id: $id) { lines { quantity variant { sku } } } }";
/// The catalog's current prices of some skus, asked of the products subgraph.
pub(crate) const CATALOG_PRICES: &str = "query ($skus: [ID!]!) { variants(skus: $skus) { sku price { amount currencyCode } product { id } } }";

#[derive(Deserialize)]
struct CartData {
    cart: Option<CartView>,
}

#[derive(Deserialize)]
struct CartView {
    lines: Vec<CartLineView>,
}

#[derive(Deserialize)]
struct CartLineView {
    quantity: i64,
    variant: SkuView,
}

#[derive(Deserialize)]
struct SkuView {
    sku: String,
}

#[derive(Deserialize)]
struct VariantsData {
    variants: Vec<Option<VariantView>>,
}

#[derive(Deserialize)]
struct VariantView {
    sku: String,
    price: PriceView,
    product: ProductView,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceView {
    amount: String,
    currency_code: String,
}

#[derive(Deserialize)]
struct ProductView {
    id: String,
}

/// Reads the cart as the customer sees it, with the catalog's current prices;
/// a user error when it cannot be ordered.
async fn read_cart(source: &CartSource, cart_id: &str, authorization: Option<&str>, field: &str) -> Result<Result<PricedCart, UserError>, ApiError> {
    let data: CartData = source.cart.query(CART_LINES, serde_json::json!({ "id": cart_id }), authorization).await?;
    let Some(cart) = data.cart else {
        return Ok(Err(UserError::new("CART_NOT_FOUND", field, "no such cart")));
    };
    if cart.lines.is_empty() {
        return Ok(Err(UserError::new("CART_EMPTY", field, "the cart has no lines")));
    }
    let variants = catalog_prices(&source.products, &cart.lines).await?;
    let mut lines = Vec::new();
    let mut prices = Vec::new();
    for line in &cart.lines {
        let sku = &line.variant.sku;
        let variant = variants.get(sku.as_str()).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the catalog does not know {sku}, which a cart holds")))?;
        let unreadable = || ApiError::Internal(anyhow::anyhow!("the catalog sent an unreadable price for {sku}"));
        let unit = Decimal::parse(&variant.price.amount).ok_or_else(unreadable)?;
        let currency = CurrencyCode::parse(&variant.price.currency_code).ok_or_else(unreadable)?;
        prices.push(Money::new(unit.0, currency).times(line.quantity)?);
        lines.push(OrderLine {
            sku: sku.clone(),
            product_id: variant.product.id.clone(),
            quantity: line.quantity,
            unit_price_minor: unit.0,
            currency: currency.as_str().to_string(),
        });
    }
    let subtotal = Money::sum(prices, CurrencyCode::USD).map_err(|_| ApiError::BadUserInput("the cart holds prices in more than one currency".into()))?;
    Ok(Ok(PricedCart { lines, subtotal }))
}

/// The catalog's variants of the lines' skus, by sku, asked a page of skus at a time.
async fn catalog_prices(products: &GraphClient, lines: &[CartLineView]) -> Result<HashMap<String, VariantView>, ApiError> {
    let skus: Vec<&str> = lines.iter().map(|line| line.variant.sku.as_str()).collect();
    let mut variants = HashMap::new();
    for page in skus.chunks(kit::page::MAX_PAGE_SIZE as usize) {
        let data: VariantsData = products.query(CATALOG_PRICES, serde_json::json!({ "skus": page }), None).await?;
        variants.extend(data.variants.into_iter().flatten().map(|variant| (variant.sku.clone(), variant)));
    }
    Ok(variants)
}

/// What ordering the cart would cost with shipping to `destination` by
/// `method` (the cheapest when not given), as placeOrder would charge it.
pub async fn quote_cart(
    db: &Db,
    source: &CartSource,
    cart_id: &str,
    authorization: Option<&str>,
    destination: Destination<'_>,
    method: Option<&str>,
) -> Result<Result<Quote, UserError>, ApiError> {
    let cart = match read_cart(source, cart_id, authorization, "cartId").await? {
        Ok(cart) => cart,
        Err(refusal) => return Ok(Err(refusal)),
    };
    Ok(pricing::quote(db, cart.subtotal, Some(destination), method, "shippingMethod").await?)
}

/// Whether an order holds the cart.
async fn cart_is_claimed(db: &Db, cart_id: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM cart_claims WHERE cart_id = $1").bind(cart_id).fetch_optional(db).await?.is_some())
}

/// Lets the cart be ordered again, once the order that held it has failed.
async fn release_cart_claim(tx: &mut AnyConnection, order: &OrderRow) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_claims WHERE cart_id = $1 AND order_id = $2").bind(&order.cart_id).bind(&order.id).execute(tx).await?;
    Ok(())
}

/// An address as the order row stores it.
fn json_of(address: &Option<Address>) -> Option<String> {
    address.as_ref().map(|address| serde_json::to_string(address).expect("an address serializes"))
}

/// The writes of a new order: the order (returned), its lines, its first timeline entry and OrderPlaced.
fn order_writes(order_id: &str, request: &PlaceOrder<'_>, cart: &PricedCart, quote: &Quote) -> Writes {
    let now = now();
    let number = format!("SO-{}", &uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase());
    let totals = &quote.totals;
    let order = Write::new(
        format!(
            "INSERT INTO orders (id, number, customer_id, cart_id, status, total_minor, currency, created_at, updated_at, payment_token, correlation_id, traceparent, \
             shipping_address, billing_address, email, subtotal_minor, shipping_minor, tax_minor, taxes_included, shipping_method) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING {ORDER_COLUMNS}"
        ),
        vec![
            Arg::Text(order_id.to_string()),
            Arg::Text(number),
            Arg::Text(request.customer_id.unwrap_or_default().to_string()),
            Arg::Text(request.cart_id.to_string()),
            Arg::Text(OrderStatus::Pending.as_str().to_string()),
            Arg::Int(totals.total.minor_units),
            Arg::Text(totals.total.currency.as_str().to_string()),
            Arg::Text(now),
            Arg::Text(request.payment_token.to_string()),
            Arg::Text(request.trace.correlation_id.clone()),
            Arg::OptionalText(request.trace.traceparent.clone()),
            Arg::OptionalText(json_of(&request.shipping_address)),
            Arg::OptionalText(json_of(&request.billing_address)),
            Arg::OptionalText(request.email.as_ref().map(|email| email.as_str().to_string())),
            Arg::Int(totals.subtotal.minor_units),
            Arg::Int(totals.shipping.minor_units),
            Arg::Int(totals.tax.minor_units),
            Arg::Int(i64::from(totals.taxes_included)),
            Arg::OptionalText(quote.chosen.as_ref().map(|method| method.code.clone())),
        ],
    );
    let lines = cart.lines.iter().enumerate().map(|(position, line)| {
        Write::new(
            "INSERT INTO order_lines (order_id, position, sku, product_id, quantity, unit_price_minor, currency) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                Arg::Text(order_id.to_string()),
                Arg::Int(position as i64),
                Arg::Text(line.sku.clone()),
                Arg::Text(line.product_id.clone()),
                Arg::Int(line.quantity),
                Arg::Int(line.unit_price_minor),
                Arg::Text(line.currency.clone()),
            ],
        )
    });
    let placed = OrderPlaced {
        order_id: order_id.to_string(),
        customer_id: request.customer_id.unwrap_or_default().to_string(),
        cart_id: request.cart_id.to_string(),
        lines: cart.lines.clone(),
        total_minor: totals.total.minor_units,
        currency: totals.total.currency.as_str().to_string(),
    };
    Writes::new(order).and_all(lines).and(timeline_entry(order_id, OrderStatus::Pending, None)).and(recording(&Envelope::new(NAME, request.trace, &placed)))
}

/// What a change to a placed order (cancel, fulfil, refund, return) answers.
pub enum Changed {
    Order(OrderRow),
    Refused(UserError),
}

/// Cancels a confirmed order: the payment is voided first (idempotently),
/// then the order is CANCELLED and OrderCancelled makes inventory restore the stock.
pub async fn cancel_order(db: &Db, gateway: &dyn PaymentGateway, outbox: &Outbox, order: OrderRow, trace: &Trace) -> Result<Changed, ApiError> {
    let not_cancellable = |status: &str| {
        Changed::Refused(UserError::new("ORDER_NOT_CANCELLABLE", "id", format!("only a CONFIRMED order can be cancelled; this one is {status}")))
    };
    match order.status()? {
        OrderStatus::Confirmed => {}
        OrderStatus::Cancelled => return Ok(Changed::Order(order)),
        other => return Ok(not_cancellable(other.as_str())),
    }
    if !gateway.void(&order.id).await? {
        // A fulfilment captured the payment first: the order ships. (Should
        // that fulfilment's request have failed after the capture, sending it
        // again with its key finishes it.)
        return Ok(not_cancellable("being fulfilled"));
    }
    let mut tx = db.begin().await?;
    let cancelled = transition(&mut tx, &order, Change::Cancel, trace).await?;
    tx.commit().await?;
    outbox.committed_and_announced(cancelled.as_slice());
    let order = find_order(db, &order.id).await?.ok_or_else(|| anyhow::anyhow!("order {} vanished", order.id))?;
    Ok(Changed::Order(order))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db_with_order(status: OrderStatus) -> (Db, OrderRow) {
        let db = kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), events::migrator(), crate::migrator()]).await.unwrap();
        sqlx::query(
            "INSERT INTO orders (id, number, customer_id, cart_id, status, total_minor, currency, created_at, updated_at) \
             VALUES ('o1', 'SO-1', 'c1', 'k1', $1, 500, 'USD', 't', 't')",
        )
        .bind(status.as_str())
        .execute(&db)
        .await
        .unwrap();
        let order = find_order(&db, "o1").await.unwrap().unwrap();
        (db, order)
    }

    async fn count(db: &Db, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
    }

    #[tokio::test]
    async fn lines_read_together_go_to_their_own_orders_in_order() {
        let (db, _) = db_with_order(OrderStatus::Pending).await;
        sqlx::query("INSERT INTO orders (id, number, customer_id, cart_id, status, total_minor, currency, created_at, updated_at) SELECT 'o2', 'SO-2', customer_id, 'k2', status, total_minor, currency, created_at, updated_at FROM orders")
            .execute(&db)
            .await
            .unwrap();
        for (order_id, position, sku) in [("o1", 1, "B"), ("o2", 0, "C"), ("o1", 0, "A")] {
            sqlx::query("INSERT INTO order_lines (order_id, position, sku, product_id, quantity, unit_price_minor, currency) VALUES ($1, $2, $3, 'p', 1, 100, 'USD')")
                .bind(order_id)
                .bind(position)
                .bind(sku)
                .execute(&db)
                .await
                .unwrap();
        }
        let mut tx = db.begin().await.unwrap();
        let lines = lines_of_orders(&mut tx, &["o1".to_string(), "o2".to_string(), "o3".to_string()]).await.unwrap();
        let skus = |order_id: &str| lines.get(order_id).map(|lines| lines.iter().map(|line| line.sku.as_str()).collect::<Vec<_>>());
        assert_eq!((skus("o1"), skus("o2"), skus("o3")), (Some(vec!["A", "B"]), Some(vec!["C"]), None));
    }

    #[test]
    fn a_status_heard_out_of_turn_does_not_follow_the_last_one() {
        assert!(OrderStatus::Confirmed.can_follow(OrderStatus::Pending));
        assert!(OrderStatus::Confirmed.can_follow(OrderStatus::Confirmed), "heard again");
        assert!(!OrderStatus::Confirmed.can_follow(OrderStatus::Cancelled), "the confirmation heard after the cancellation");
        assert!(!OrderStatus::PartiallyFulfilled.can_follow(OrderStatus::Fulfilled), "a first shipment heard after the last");
        assert!(!OrderStatus::Cancelled.can_follow(OrderStatus::Pending), "the confirmation missed");
    }

    #[tokio::test]
    async fn an_illegal_change_is_a_no_op() {
        let (db, order) = db_with_order(OrderStatus::Confirmed).await;
        let mut tx = db.begin().await.unwrap();
        for change in [Change::Confirm { lines: &[] }, Change::Reject { reason: "OUT_OF_STOCK" }, Change::FailPayment { reason: "declined" }] {
            assert!(transition(&mut tx, &order, change, &Trace::default()).await.unwrap().is_none(), "{change:?} from CONFIRMED");
        }
        tx.commit().await.unwrap();
        assert_eq!(find_order(&db, "o1").await.unwrap().unwrap().status, "CONFIRMED");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM order_timeline").await, 0, "no timeline entry");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox").await, 0, "no event");
    }

    #[tokio::test]
    async fn each_change_s_event_announces_the_status_it_moved_to() {
        let shipped = |complete| OrderFulfilled {
            order_id: "o1".into(),
            fulfilment_id: "f1".into(),
            lines: Vec::new(),
            carrier: "UPS".into(),
            tracking_number: "1Z".into(),
            complete,
        };
        let (partly, wholly) = (shipped(false), shipped(true));
        let changes = [
            (OrderStatus::Pending, Change::Confirm { lines: &[] }),
            (OrderStatus::Pending, Change::Reject { reason: "OUT_OF_STOCK" }),
            (OrderStatus::Pending, Change::FailPayment { reason: "declined" }),
            (OrderStatus::Confirmed, Change::Cancel),
            (OrderStatus::Confirmed, Change::Fulfil { shipped: &partly }),
            (OrderStatus::Confirmed, Change::Fulfil { shipped: &wholly }),
        ];
        for (from, change) in changes {
            let (db, order) = db_with_order(from).await;
            let mut tx = db.begin().await.unwrap();
            let answered = transition(&mut tx, &order, change, &Trace::default()).await.unwrap().expect("a legal change");
            tx.commit().await.unwrap();
            let (id, event_type, payload): (String, String, String) = sqlx::query_as("SELECT id, event_type, payload FROM outbox").fetch_one(&db).await.unwrap();
            let recorded = (id.as_str(), event_type.as_str(), serde_json::from_str::<serde_json::Value>(&payload).unwrap());
            assert_eq!(recorded, (answered.id.as_str(), answered.event_type.as_str(), answered.payload.clone()), "the event answered is the one recorded");
            assert_eq!(status_announced_by(&answered), Some(change.to()), "{change:?}");
            assert!(events::contracts::FOLLOWED.contains(&answered.event_type.as_str()), "{change:?}: followers on other processes hear it");
        }
    }

    #[tokio::test]
    async fn a_legal_change_moves_the_status_with_its_timeline_entry_and_event() {
        let (db, order) = db_with_order(OrderStatus::Confirmed).await;
        let mut tx = db.begin().await.unwrap();
        assert!(transition(&mut tx, &order, Change::Cancel, &Trace::default()).await.unwrap().is_some());
        tx.commit().await.unwrap();
        assert_eq!(find_order(&db, "o1").await.unwrap().unwrap().status().unwrap(), OrderStatus::Cancelled);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM order_timeline WHERE status = 'CANCELLED' AND reason = 'CANCELLED_BY_CUSTOMER'").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE event_type = 'OrderCancelled'").await, 1);
    }
}

/// An order as an operator looks at it: its status, its timeline and what
/// the payment provider was asked.
#[derive(Debug, serde::Serialize)]
pub struct OrderSaga {
    pub id: String,
    pub number: String,
    pub status: String,
    pub total: String,
    pub timeline: Vec<(String, String, Option<String>)>,
    pub payment: Vec<(String, String, String)>,
}

/// The orders side of `order_id`'s saga; None when there is no such order.
pub async fn order_saga(db: &Db, order_id: &str) -> anyhow::Result<Option<OrderSaga>> {
    let Some(order) = find_order(db, order_id).await? else {
        return Ok(None);
    };
    let timeline = sqlx::query_as("SELECT status, at, reason FROM order_timeline WHERE order_id = $1 ORDER BY position").bind(order_id).fetch_all(db).await?;
    let payment = sqlx::query_as("SELECT operation, outcome, at FROM sandbox_payment_calls WHERE order_id = $1 ORDER BY at, id").bind(order_id).fetch_all(db).await?;
    let total = order.total()?;
    Ok(Some(OrderSaga {
        total: format!("{} {}", Decimal(total.minor_units), total.currency.as_str()),
        id: order.id,
        number: order.number,
        status: order.status,
        timeline,
        payment,
    }))
}
