//! placeOrder and cancelOrder: the synchronous ends of the checkout saga.

use kit::db::{Db, change_status, is_unique_violation, new_id, now};
use kit::error::{ApiError, UserError};
use kit::events::contracts::{OrderCancelled, OrderLine, OrderPlaced};
use kit::events::{Envelope, Outbox, Trace, record};
use kit::graph::GraphClient;
use kit::money::{CurrencyCode, Decimal, Money};
use serde::Deserialize;
use sqlx::AnyConnection;

use crate::NAME;
use crate::db::{OrderRow, find_order};
use crate::payments::PaymentGateway;

const MAX_KEY_LENGTH: usize = 100;

/// A placeOrder request, as the customer sent it.
pub struct PlaceOrder<'a> {
    pub customer_id: &'a str,
    pub cart_id: &'a str,
    pub idempotency_key: &'a str,
    pub payment_token: &'a str,
    pub expected_total: Option<Money>,
    /// The customer's own Authorization header, to read the cart as them.
    pub authorization: Option<&'a str>,
    pub trace: &'a Trace,
}

pub enum Placed {
    Order(OrderRow),
    Refused(UserError),
}

/// The cart and the catalog's current prices, read in one query through the router.
const CART_WITH_PRICES: &str = "query ($id: ID!) { cart(id: $id) { lines { quantity variant { sku price { amount currencyCode } product { id } } } } }";

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
    variant: VariantView,
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

fn refused(code: &str, field: &str, message: impl Into<String>) -> Placed {
    Placed::Refused(UserError::new(code, field, message))
}

/// Places the order: PENDING, prices fixed, OrderPlaced in the outbox, all in
/// one transaction. The same key (per customer) always answers the same order.
#[tracing::instrument(skip_all, fields(customer_id = request.customer_id, cart_id = request.cart_id))]
pub async fn place_order(db: &Db, graph: &GraphClient, outbox: &Outbox, request: &PlaceOrder<'_>) -> Result<Placed, ApiError> {
    let key_length = request.idempotency_key.chars().count();
    if key_length == 0 || key_length > MAX_KEY_LENGTH {
        return Ok(refused("INVALID_IDEMPOTENCY_KEY", "input.idempotencyKey", format!("idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters")));
    }
    if request.payment_token.is_empty() || request.payment_token.len() > MAX_KEY_LENGTH {
        return Ok(refused("INVALID_PAYMENT_TOKEN", "input.paymentToken", format!("paymentToken must be 1 to {MAX_KEY_LENGTH} characters")));
    }
    if let Some(answer) = answer_for_known_key(db, request).await? {
        return Ok(answer);
    }
    if request.cart_id.is_empty() || request.cart_id.len() > MAX_KEY_LENGTH {
        return Ok(refused("CART_NOT_FOUND", "input.cartId", "no such cart"));
    }

    let data: CartData = graph
        .query(CART_WITH_PRICES, serde_json::json!({ "id": request.cart_id }), request.authorization)
        .await?;
    let Some(cart) = data.cart else {
        return Ok(refused("CART_NOT_FOUND", "input.cartId", "no such cart"));
    };
    if cart.lines.is_empty() {
        return Ok(refused("CART_EMPTY", "input.cartId", "the cart has no lines"));
    }
    let lines = cart.lines.iter().map(order_line).collect::<Result<Vec<OrderLine>, ApiError>>()?;
    let total = total_of(&lines)?;
    if let Some(expected) = request.expected_total
        && expected != total
    {
        return Ok(refused(
            "PRICE_CHANGED",
            "input.expectedTotal",
            format!("the cart now costs {} {}", Decimal(total.minor_units), total.currency.as_str()),
        ));
    }

    let order_id = new_id();
    let mut tx = db.begin().await?;
    let claimed = claim(&mut *tx, request, &order_id).await?;
    if let Some(refusal) = claimed {
        tx.rollback().await?;
        return match refusal {
            Claim::KeyTaken => Ok(answer_for_known_key(db, request).await?.expect("the key was just seen taken")),
            Claim::CartTaken => Ok(refused("CART_ALREADY_ORDERED", "input.cartId", "this cart has been ordered already")),
        };
    }
    let now = now();
    let number = format!("SO-{}", &uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase());
    sqlx::query(
        "INSERT INTO orders (id, number, customer_id, cart_id, status, total_minor, currency, created_at, updated_at, payment_token, correlation_id, traceparent) \
         VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $7, $8, $9, $10)",
    )
    .bind(&order_id)
    .bind(&number)
    .bind(request.customer_id)
    .bind(request.cart_id)
    .bind(total.minor_units)
    .bind(total.currency.as_str())
    .bind(&now)
    .bind(request.payment_token)
    .bind(&request.trace.correlation_id)
    .bind(&request.trace.traceparent)
    .execute(&mut *tx)
    .await?;
    for (position, line) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_lines (order_id, position, sku, product_id, quantity, unit_price_minor, currency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&order_id)
        .bind(position as i64)
        .bind(&line.sku)
        .bind(&line.product_id)
        .bind(line.quantity)
        .bind(line.unit_price_minor)
        .bind(&line.currency)
        .execute(&mut *tx)
        .await?;
    }
    add_to_timeline(&mut *tx, &order_id, "PENDING", None).await?;
    let placed = OrderPlaced {
        order_id: order_id.clone(),
        customer_id: request.customer_id.to_string(),
        cart_id: request.cart_id.to_string(),
        lines,
        total_minor: total.minor_units,
        currency: total.currency.as_str().to_string(),
    };
    record(&mut *tx, &Envelope::new(NAME, request.trace, &placed)).await?;
    tx.commit().await?;
    outbox.committed();
    let order = find_order(db, &order_id).await?.ok_or_else(|| anyhow::anyhow!("order {order_id} vanished after commit"))?;
    Ok(Placed::Order(order))
}

/// The answer when this customer used this key before: the same order for
/// the same cart, IDEMPOTENCY_KEY_REUSED for another.
async fn answer_for_known_key(db: &Db, request: &PlaceOrder<'_>) -> Result<Option<Placed>, ApiError> {
    let known: Option<(String, String)> =
        sqlx::query_as("SELECT cart_id, order_id FROM idempotency_keys WHERE customer_id = $1 AND idempotency_key = $2")
            .bind(request.customer_id)
            .bind(request.idempotency_key)
            .fetch_optional(db)
            .await?;
    let Some((cart_id, order_id)) = known else {
        return Ok(None);
    };
    if cart_id != request.cart_id {
        return Ok(Some(refused(
            "IDEMPOTENCY_KEY_REUSED",
            "input.idempotencyKey",
            "this idempotencyKey was used for another cart",
        )));
    }
    let order = find_order(db, &order_id).await?.ok_or_else(|| anyhow::anyhow!("idempotency key names missing order {order_id}"))?;
    Ok(Some(Placed::Order(order)))
}

enum Claim {
    KeyTaken,
    CartTaken,
}

/// Takes the idempotency key, then the cart, for `order_id`. The key first,
/// so that a concurrent request with the same key finds its twin's order.
async fn claim(tx: &mut AnyConnection, request: &PlaceOrder<'_>, order_id: &str) -> Result<Option<Claim>, ApiError> {
    let key = sqlx::query(
        "INSERT INTO idempotency_keys (customer_id, idempotency_key, cart_id, order_id, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(request.customer_id)
    .bind(request.idempotency_key)
    .bind(request.cart_id)
    .bind(order_id)
    .bind(now())
    .execute(&mut *tx)
    .await;
    match key {
        Err(error) if is_unique_violation(&error) => return Ok(Some(Claim::KeyTaken)),
        other => other?,
    };
    let cart = sqlx::query("INSERT INTO cart_claims (cart_id, order_id) VALUES ($1, $2)")
        .bind(request.cart_id)
        .bind(order_id)
        .execute(&mut *tx)
        .await;
    match cart {
        Err(error) if is_unique_violation(&error) => Ok(Some(Claim::CartTaken)),
        other => other.map(|_| None).map_err(ApiError::from),
    }
}

fn order_line(line: &CartLineView) -> Result<OrderLine, ApiError> {
    let bad_price = || ApiError::Internal(anyhow::anyhow!("the catalog sent an unreadable price for {}", line.variant.sku));
    let unit = Decimal::parse(&line.variant.price.amount).ok_or_else(bad_price)?;
    CurrencyCode::parse(&line.variant.price.currency_code).ok_or_else(bad_price)?;
    Ok(OrderLine {
        sku: line.variant.sku.clone(),
        product_id: line.variant.product.id.clone(),
        quantity: line.quantity,
        unit_price_minor: unit.0,
        currency: line.variant.price.currency_code.clone(),
    })
}

fn total_of(lines: &[OrderLine]) -> Result<Money, ApiError> {
    let currency = CurrencyCode::parse(&lines[0].currency).expect("order_line checked the currency");
    if lines.iter().any(|line| line.currency != lines[0].currency) {
        return Err(ApiError::BadUserInput("the cart holds prices in more than one currency".into()));
    }
    let minor_units = lines.iter().map(|line| line.unit_price_minor * line.quantity).sum();
    Ok(Money::new(minor_units, currency))
}

/// Appends a status to the order's timeline (inside the caller's transaction).
pub async fn add_to_timeline(tx: &mut AnyConnection, order_id: &str, status: &str, reason: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_timeline (order_id, position, status, at, reason) \
         VALUES ($1, (SELECT COALESCE(MAX(position), -1) + 1 FROM order_timeline WHERE order_id = $1), $2, $3, $4)",
    )
    .bind(order_id)
    .bind(status)
    .bind(now())
    .bind(reason)
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves an order from `from` to `to` and records it on the timeline; false
/// when the order was not in `from` (another step got there first).
pub async fn transition(tx: &mut AnyConnection, order_id: &str, from: &str, to: &str, reason: Option<&str>) -> Result<bool, sqlx::Error> {
    if !change_status(&mut *tx, "orders", "id", order_id, from, to).await? {
        return Ok(false);
    }
    add_to_timeline(tx, order_id, to, reason).await?;
    Ok(true)
}

pub enum Cancelled {
    Order(OrderRow),
    Refused(UserError),
}

/// Cancels a confirmed order: the payment is voided first (idempotently),
/// then the order is CANCELLED and OrderCancelled makes inventory restore the stock.
pub async fn cancel_order(db: &Db, gateway: &dyn PaymentGateway, outbox: &Outbox, order: OrderRow, trace: &Trace) -> Result<Cancelled, ApiError> {
    match order.status.as_str() {
        "CONFIRMED" => {}
        "CANCELLED" => return Ok(Cancelled::Order(order)),
        other => {
            return Ok(Cancelled::Refused(UserError::new(
                "ORDER_NOT_CANCELLABLE",
                "id",
                format!("only a CONFIRMED order can be cancelled; this one is {other}"),
            )));
        }
    }
    gateway.void(&order.id).await?;
    let mut tx = db.begin().await?;
    if transition(&mut *tx, &order.id, "CONFIRMED", "CANCELLED", Some("CANCELLED_BY_CUSTOMER")).await? {
        record(&mut *tx, &Envelope::new(NAME, trace, &OrderCancelled { order_id: order.id.clone() })).await?;
    }
    tx.commit().await?;
    outbox.committed();
    let order = find_order(db, &order.id).await?.ok_or_else(|| anyhow::anyhow!("order {} vanished", order.id))?;
    Ok(Cancelled::Order(order))
}
