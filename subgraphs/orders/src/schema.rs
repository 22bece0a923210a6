//! The orders subgraph's part of the graph.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use kit::auth::Viewer;
use kit::db::Db;
use kit::error::{ApiError, UserError};
use events::{Bus, Outbox, Trace};
use kit::domain::{Address, IdempotencyKey};
use kit::graph::GraphClient;
use kit::money::{Money, MoneyInput};
use kit::page::{PageInfo, PageRequest};
use kit::server::ForwardedAuthorization;
use tokio::sync::broadcast::error::RecvError;

use crate::order::{self, Cancelled, Loaders, OrderRow, OrderStatus, PlaceOrder, Placed, find_order};
use crate::payment::PaymentGateway;

/// Who may read any order, not only their own (customer service, partners).
const READ_ALL_ORDERS: &str = "orders:read:all";

/// Money as stored, for an answer: a stored value that does not read is a bug, answered masked.
fn money(minor_units: i64, currency: &str) -> Result<Money, ApiError> {
    Ok(Money::from_stored(minor_units, currency)?)
}

/// A payment token from the provider's client library: 1 to 100 characters.
const MAX_PAYMENT_TOKEN_LENGTH: usize = 100;

pub struct Order(OrderRow);

/// An order. Owned here; available to other subgraphs as an entity.
#[Object]
impl Order {
    /// The order's unique identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The number a customer quotes to customer service.
    async fn number(&self) -> &str {
        &self.0.number
    }

    /// Where the order stands now; `timeline` tells how it got there.
    async fn status(&self) -> Result<OrderStatus> {
        Ok(self.0.status().map_err(ApiError::from)?)
    }

    /// Where the order ships; null when it was placed without an address.
    async fn shipping_address(&self) -> Result<Option<Address>> {
        Ok(stored_address(self.0.shipping_address.as_deref())?)
    }

    /// Who is billed: the shipping address unless checkout gave another; null without an address.
    async fn billing_address(&self) -> Result<Option<Address>> {
        Ok(stored_address(self.0.billing_address.as_deref())?)
    }

    /// What the order costs: the sum of its lines at the prices fixed when it was placed.
    async fn total(&self) -> Result<Money> {
        Ok(money(self.0.total_minor, &self.0.currency)?)
    }

    /// What was ordered: the cart's lines, at the prices fixed when the order was placed.
    #[graphql(directive = kit::directives::listSize::apply(Some(50), None, None))]
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<OrderLine>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.lines_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        rows.unwrap_or_default()
            .into_iter()
            .map(|row| {
                Ok(OrderLine {
                    quantity: row.quantity as i32,
                    unit_price: money(row.unit_price_minor, &row.currency)?,
                    variant: Variant { sku: ID(row.sku) },
                })
            })
            .collect()
    }

    /// Every status the order has been in, oldest first.
    #[graphql(directive = kit::directives::listSize::apply(Some(20), None, None))]
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Vec<OrderStatusChange>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.timeline_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        rows.unwrap_or_default()
            .into_iter()
            .map(|row| {
                Ok(OrderStatusChange {
                    status: OrderStatus::parse(&row.status).map_err(ApiError::from)?,
                    at: kit::db::parse_timestamp(&row.at).map_err(ApiError::from)?,
                    reason: row.reason,
                })
            })
            .collect()
    }
}

/// One sku of an order: how many units, at what price.
#[derive(SimpleObject)]
pub struct OrderLine {
    /// How many units were ordered.
    pub quantity: i32,
    /// The price charged, fixed when the order was placed.
    pub unit_price: Money,
    /// The variant ordered; its name and other details come from products.
    pub variant: Variant,
}

/// One entry of an order's timeline: a status the order reached, when, and why.
#[derive(SimpleObject)]
pub struct OrderStatusChange {
    /// The status the order reached.
    pub status: OrderStatus,
    /// When the order reached it.
    pub at: DateTime<Utc>,
    /// Why the order reached it, as a code such as OUT_OF_STOCK or CANCELLED_BY_CUSTOMER; null for PENDING and CONFIRMED.
    pub reason: Option<String>,
}

// The catalog's variant, owned by products (whose description clients see);
// an order line refers to it by sku.
#[derive(SimpleObject)]
#[graphql(unresolvable = "sku")]
pub struct Variant {
    /// The variant's stock-keeping unit, which identifies it across the shop.
    pub sku: ID,
}

/// A signed-in customer. Owned here; `orders` is their history.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Customer {
    /// The customer's identifier: the subject of their sign-in token.
    pub id: ID,
}

#[ComplexObject]
impl Customer {
    /// Newest first.
    #[graphql(directive = kit::directives::listSize::apply(None, Some(vec!["first".into()]), Some(vec!["edges".into()])))]
    async fn orders(&self, ctx: &Context<'_>, first: i32, after: Option<String>) -> Result<OrderConnection> {
        let viewer = ctx.data_unchecked::<Viewer>();
        if viewer.subject()? != self.id.as_str() && !viewer.has_scope(READ_ALL_ORDERS) {
            return Err(ApiError::Forbidden("only the customer may list their orders".into()).into());
        }
        let page = PageRequest::parse("order", first, after.as_deref())?;
        let (rows, total) = order::orders_of(ctx.data_unchecked::<Db>(), &self.id, page.after.as_deref(), page.fetch_limit())
            .await
            .map_err(ApiError::from)?;
        let (edges, page_info) = page.finish("order", rows, |row| &row.id);
        Ok(OrderConnection {
            total_count: total as i32,
            page_info,
            edges: edges.into_iter().map(|(cursor, row)| OrderEdge { cursor, node: Order(row) }).collect(),
        })
    }
}

/// One page of a customer's orders, with how many orders they have in all.
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// How many orders the customer has placed, across all pages.
    pub total_count: i32,
    /// Whether more pages follow, and the cursor to ask for the next one.
    pub page_info: PageInfo,
    /// The orders of this page, newest first, each with its cursor.
    pub edges: Vec<OrderEdge>,
}

/// An order in a page of a list, with the cursor that marks its place.
#[derive(SimpleObject)]
pub struct OrderEdge {
    /// An opaque cursor; pass it as `after` to get the orders that follow this one.
    pub cursor: String,
    /// The order.
    pub node: Order,
}

fn may_see(viewer: &Viewer, order: &OrderRow) -> bool {
    viewer.subject_opt() == Some(order.customer_id.as_str()) || viewer.has_scope(READ_ALL_ORDERS)
}

async fn visible_order(ctx: &Context<'_>, id: String) -> Result<Option<Order>, ApiError> {
    let viewer = ctx.data_unchecked::<Viewer>();
    let row = ctx.data_unchecked::<Loaders>().orders_by_id.load_one(id).await?;
    Ok(row.filter(|order| may_see(viewer, order)).map(Order))
}

pub struct Query;

/// Everything a storefront or back office can read from the shop.
#[Object]
impl Query {
    /// An order by id: null unless it is the viewer's own (or the viewer may read all orders).
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        ctx.data_unchecked::<Viewer>().subject()?;
        Ok(visible_order(ctx, id.0).await?)
    }

    /// The signed-in customer.
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let subject = ctx.data_unchecked::<Viewer>().subject()?;
        Ok(Some(Customer { id: ID(subject.to_string()) }))
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        Ok(visible_order(ctx, id.0).await?)
    }

    /// A customer is seen only by themselves (or by who may read all
    /// orders), as through `me`.
    #[graphql(entity)]
    async fn find_customer_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Customer> {
        let viewer = ctx.data_unchecked::<Viewer>();
        (viewer.subject_opt() == Some(id.as_str()) || viewer.has_scope(READ_ALL_ORDERS)).then_some(Customer { id })
    }
}

/// What checkout sends to order a cart.
#[derive(InputObject)]
pub struct PlaceOrderInput {
    /// The cart to order; refused while another order holds it.
    pub cart_id: ID,
    /// The same key (per customer) always answers with the same order.
    pub idempotency_key: String,
    /// A token from the payment provider's client library (sandbox: tok_visa, tok_declined, tok_slow).
    pub payment_token: String,
    /// The total the shopper saw; when the catalog's total differs, no order is made.
    pub expected_total: Option<MoneyInput>,
    /// Where the order ships, checked for its country (postal code shape for US, GB, DE and FR; the state for the US).
    pub shipping_address: Option<AddressInput>,
    /// Who is billed; the shipping address when left out.
    pub billing_address: Option<AddressInput>,
}

/// A postal address as a shopper types it.
#[derive(InputObject, Clone)]
pub struct AddressInput {
    /// Who receives it.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Flat, floor, building.
    pub line2: Option<String>,
    /// City or town.
    pub city: String,
    /// State, county or province; for the US the two-letter state code, required.
    pub region: Option<String>,
    /// Postal or ZIP code; required in the US, GB, DE and FR.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. US, GB, DE, FR.
    pub country: String,
}

impl AddressInput {
    fn parse(&self, field: &str) -> Result<Address, UserError> {
        Address::parse(field, &self.name, &self.line1, self.line2.as_deref(), &self.city, self.region.as_deref(), self.postal_code.as_deref(), &self.country)
    }
}

fn stored_address(json: Option<&str>) -> Result<Option<Address>, ApiError> {
    json.map(|json| serde_json::from_str(json).map_err(|error| ApiError::Internal(anyhow::anyhow!("a stored address does not read: {error}")))).transpose()
}

/// The answer to placing or cancelling an order: the order as it now is, or why the request was refused.
#[derive(SimpleObject)]
pub struct OrderPayload {
    /// The order as it is after the request; null when the request was refused.
    pub order: Option<Order>,
    /// Why the request was refused; empty when it succeeded.
    pub user_errors: Vec<UserError>,
}

impl OrderPayload {
    fn of(row: OrderRow) -> Self {
        OrderPayload { order: Some(Order(row)), user_errors: vec![] }
    }

    fn failed(error: UserError) -> Self {
        OrderPayload { order: None, user_errors: vec![error] }
    }
}

pub struct Mutation;

/// Everything a storefront or back office can change in the shop; a business rule's refusal comes back in `userErrors`.
#[Object]
impl Mutation {
    /// Places an order for the cart and answers at once with the order
    /// PENDING; stock and payment settle it on events within a second or so.
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn place_order(&self, ctx: &Context<'_>, input: PlaceOrderInput) -> Result<OrderPayload> {
        let customer_id = ctx.data_unchecked::<Viewer>().subject()?;
        let idempotency_key = match IdempotencyKey::parse("input.idempotencyKey", &input.idempotency_key) {
            Ok(key) => key,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        if !(1..=MAX_PAYMENT_TOKEN_LENGTH).contains(&input.payment_token.len()) {
            return Ok(OrderPayload::failed(UserError::new(
                "INVALID_PAYMENT_TOKEN",
                "input.paymentToken",
                format!("paymentToken must be 1 to {MAX_PAYMENT_TOKEN_LENGTH} characters"),
            )));
        }
        let shipping_address = match input.shipping_address.as_ref().map(|address| address.parse("input.shippingAddress")).transpose() {
            Ok(address) => address,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let billing_address = match input.billing_address.as_ref().map(|address| address.parse("input.billingAddress")).transpose() {
            Ok(address) => address.or_else(|| shipping_address.clone()),
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let request = PlaceOrder {
            customer_id,
            shipping_address,
            billing_address,
            cart_id: &input.cart_id,
            idempotency_key: &idempotency_key,
            payment_token: &input.payment_token,
            expected_total: input.expected_total.map(MoneyInput::into_money),
            authorization: ctx.data_unchecked::<ForwardedAuthorization>().0.as_deref(),
            trace: ctx.data_unchecked::<Trace>(),
        };
        let placed = order::place_order(
            ctx.data_unchecked::<Db>(),
            ctx.data_unchecked::<GraphClient>(),
            ctx.data_unchecked::<Outbox>(),
            &request,
        )
        .await?;
        Ok(match placed {
            Placed::Order(row) => OrderPayload::of(row),
            Placed::Refused(error) => OrderPayload::failed(error),
        })
    }

    /// Cancels a CONFIRMED order: the payment is voided and the stock restored.
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn cancel_order(&self, ctx: &Context<'_>, id: ID) -> Result<OrderPayload> {
        let viewer = ctx.data_unchecked::<Viewer>();
        let customer_id = viewer.subject()?;
        let db = ctx.data_unchecked::<Db>();
        let order = find_order(db, &id).await.map_err(ApiError::from)?.filter(|order| order.customer_id == customer_id);
        let Some(order) = order else {
            return Ok(OrderPayload::failed(UserError::new("ORDER_NOT_FOUND", "id", "no such order")));
        };
        let gateway = ctx.data_unchecked::<Arc<dyn PaymentGateway>>();
        let cancelled = order::cancel_order(db, gateway.as_ref(), ctx.data_unchecked::<Outbox>(), order, ctx.data_unchecked::<Trace>()).await?;
        Ok(match cancelled {
            Cancelled::Order(row) => OrderPayload::of(row),
            Cancelled::Refused(error) => OrderPayload::failed(error),
        })
    }
}

pub struct Subscription;

/// Live updates: each field answers at once, then again each time what it follows changes.
#[Subscription]
impl Subscription {
    /// The order now, then again each time its status changes.
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn order_status_changed(&self, ctx: &Context<'_>, order_id: ID) -> Result<impl Stream<Item = Order> + use<>> {
        let viewer = ctx.data_unchecked::<Viewer>();
        viewer.subject()?;
        let db = ctx.data_unchecked::<Db>().clone();
        // Subscribe before reading, so no change can slip between the two.
        let live = ctx.data_unchecked::<Bus>().live();
        let order = find_order(&db, &order_id).await.map_err(ApiError::from)?.filter(|order| may_see(viewer, order));
        let Some(order) = order else {
            return Err(ApiError::BadUserInput(format!("no order {} to follow", order_id.0)).into());
        };
        let state = (db, live, order.id.clone(), None::<String>, Some(order));
        Ok(futures::stream::unfold(state, |(db, mut live, id, last_status, pending)| async move {
            let mut pending = pending;
            loop {
                if let Some(order) = pending.take()
                    && last_status.as_deref() != Some(order.status.as_str())
                {
                    let status = order.status.clone();
                    return Some((Order(order), (db, live, id, Some(status), None)));
                }
                match live.recv().await {
                    Ok(event) if event.payload.get("order_id").and_then(|v| v.as_str()) != Some(id.as_str()) => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => pending = find_order(&db, &id).await.ok().flatten(),
                    Err(RecvError::Closed) => return None,
                }
            }
        }))
    }
}
