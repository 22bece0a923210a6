//! The orders subgraph's part of the graph.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use kit::auth::Viewer;
use kit::db::Db;
use kit::error::{ApiError, UserError};
use events::{Bus, Outbox, Trace};
use kit::domain::{Address, CountryCode, Email, IdempotencyKey, Quantity, Sku, us_state};
use kit::money::{Money, MoneyInput};
use kit::page::{PageInfo, PageRequest};
use kit::server::ForwardedAuthorization;
use tokio::sync::broadcast::error::RecvError;

use crate::fulfilment::{self, OrderRequest, RefundRequest, Shipment};
use crate::order::{self, CartSource, Changed, Loaders, OrderRow, OrderStatus, PlaceOrder, Placed, find_order, status_announced_by};
use crate::pricing::{Destination, Quote, ShippingOption};
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

    /// What the order costs: subtotal + shippingTotal + taxTotal, or, when
    /// `taxesIncluded`, subtotal + shippingTotal (the tax is part of them).
    /// Fixed when it was placed; this is what the payment is for.
    async fn total(&self) -> Result<Money> {
        Ok(money(self.0.total_minor, &self.0.currency)?)
    }

    /// The lines at the prices fixed when it was placed.
    async fn subtotal(&self) -> Result<Money> {
        Ok(money(self.0.subtotal_minor, &self.0.currency)?)
    }

    /// What shipping costs; zero for an order placed without an address.
    async fn shipping_total(&self) -> Result<Money> {
        Ok(money(self.0.shipping_minor, &self.0.currency)?)
    }

    /// The tax on lines and shipping, at the destination's rate: added to
    /// them, or the part of them that is tax when `taxesIncluded`.
    async fn tax_total(&self) -> Result<Money> {
        Ok(money(self.0.tax_minor, &self.0.currency)?)
    }

    /// Whether the currency's prices include tax (EUR) rather than have it added (USD).
    async fn taxes_included(&self) -> bool {
        self.0.taxes_included == 1
    }

    /// The code of the shipping method chosen at checkout (see `checkoutQuote`); null without an address.
    async fn shipping_method(&self) -> Option<&str> {
        self.0.shipping_method.as_deref()
    }

    /// Where the receipt goes: the email given at checkout (a guest always gives one).
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// What has shipped, oldest first.
    #[graphql(directive = kit::directives::listSize::apply(Some(50), None, None))]
    async fn fulfilments(&self, ctx: &Context<'_>) -> Result<Vec<Fulfilment>> {
        let rows = ctx.data_unchecked::<fulfilment::Loaders>().fulfilments_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        fulfilment::by_shipment(rows.unwrap_or_default()).into_iter().map(Fulfilment::of).collect()
    }

    /// Lines that came back and went back on sale, oldest first.
    #[graphql(directive = kit::directives::listSize::apply(Some(50), None, None))]
    async fn returns(&self, ctx: &Context<'_>) -> Result<Vec<OrderReturn>> {
        let rows = ctx.data_unchecked::<fulfilment::Loaders>().returns_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        fulfilment::by_shipment(rows.unwrap_or_default())
            .into_iter()
            .map(|shipped| {
                Ok(OrderReturn {
                    id: ID(shipped.first.id.clone()),
                    created_at: kit::db::parse_timestamp(&shipped.first.created_at).map_err(ApiError::from)?,
                    lines: shipment_lines(shipped.lines),
                })
            })
            .collect()
    }

    /// Money paid back, oldest first.
    #[graphql(directive = kit::directives::listSize::apply(Some(50), None, None))]
    async fn refunds(&self, ctx: &Context<'_>) -> Result<Vec<Refund>> {
        let rows = ctx.data_unchecked::<fulfilment::Loaders>().refunds_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        rows.unwrap_or_default()
            .into_iter()
            .map(|row| {
                Ok(Refund {
                    id: ID(row.id),
                    amount: money(row.amount_minor, &row.currency)?,
                    reason: row.reason,
                    paid: row.status == "REFUNDED",
                    created_at: kit::db::parse_timestamp(&row.created_at).map_err(ApiError::from)?,
                })
            })
            .collect()
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

/// Units of one variant in a shipment or a return.
#[derive(SimpleObject)]
pub struct ShipmentLine {
    /// How many units.
    pub quantity: i32,
    /// Of which variant; its name and other details come from products.
    pub variant: Variant,
}

fn shipment_lines(lines: Vec<(String, i64)>) -> Vec<ShipmentLine> {
    lines.into_iter().map(|(sku, quantity)| ShipmentLine { quantity: quantity as i32, variant: Variant { sku: ID(sku) } }).collect()
}

/// A shipment of some of an order's lines.
#[derive(SimpleObject)]
pub struct Fulfilment {
    /// The shipment's identifier.
    pub id: ID,
    /// Who carries it, e.g. UPS.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// When it shipped.
    pub created_at: DateTime<Utc>,
    /// What it holds.
    pub lines: Vec<ShipmentLine>,
}

impl Fulfilment {
    fn of(shipped: fulfilment::Shipped) -> Result<Self> {
        Ok(Fulfilment {
            id: ID(shipped.first.id.clone()),
            carrier: shipped.first.carrier.clone(),
            tracking_number: shipped.first.tracking_number.clone(),
            created_at: kit::db::parse_timestamp(&shipped.first.created_at).map_err(ApiError::from)?,
            lines: shipment_lines(shipped.lines),
        })
    }
}

/// Shipped lines that came back and went back on sale.
#[derive(SimpleObject)]
pub struct OrderReturn {
    /// The return's identifier.
    pub id: ID,
    /// When it was taken back.
    pub created_at: DateTime<Utc>,
    /// What came back.
    pub lines: Vec<ShipmentLine>,
}

/// Money paid back to the customer from the captured payment.
#[derive(SimpleObject)]
pub struct Refund {
    /// The refund's identifier.
    pub id: ID,
    /// What was paid back.
    pub amount: Money,
    /// Why, as the back office wrote it.
    pub reason: String,
    /// False while the provider has not confirmed it; sending the same request again finishes it.
    pub paid: bool,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
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

/// The customer who placed it, who may read all orders, or who holds one of its access tokens.
async fn may_see(ctx: &Context<'_>, order: &OrderRow, access_token: Option<&str>) -> Result<bool, ApiError> {
    let viewer = ctx.data_unchecked::<Viewer>();
    if (order.customer().is_some() && viewer.subject_opt() == order.customer()) || viewer.has_scope(READ_ALL_ORDERS) {
        return Ok(true);
    }
    Ok(match access_token {
        Some(token) => order::grants_access(ctx.data_unchecked::<Db>(), &order.id, token).await?,
        None => false,
    })
}

/// Anonymous callers need an access token to ask for an order at all.
fn identified(ctx: &Context<'_>, access_token: Option<&str>) -> Result<(), ApiError> {
    match access_token {
        Some(_) => Ok(()),
        None => ctx.data_unchecked::<Viewer>().subject().map(drop),
    }
}

async fn visible_order(ctx: &Context<'_>, id: String, access_token: Option<&str>) -> Result<Option<Order>, ApiError> {
    let row = ctx.data_unchecked::<Loaders>().orders_by_id.load_one(id).await?;
    match row {
        Some(order) if may_see(ctx, &order, access_token).await? => Ok(Some(Order(order))),
        _ => Ok(None),
    }
}

pub struct Query;

/// Everything a storefront or back office can read from the shop.
#[Object]
impl Query {
    /// An order by id: null unless it is the signed-in viewer's own (or the
    /// viewer may read all orders), or `accessToken` is one placeOrder gave
    /// for it (a guest's order). Neither signed in nor with an access token:
    /// UNAUTHENTICATED.
    async fn order(&self, ctx: &Context<'_>, id: ID, access_token: Option<String>) -> Result<Option<Order>> {
        identified(ctx, access_token.as_deref())?;
        Ok(visible_order(ctx, id.0, access_token.as_deref()).await?)
    }

    /// What ordering the cart costs shipped to `country` (and `region`, the
    /// state for US tax): every shipping method that goes there with its price,
    /// and the totals with `shippingMethod` (the cheapest when not given).
    /// placeOrder charges exactly this `total` for the same cart, address and method.
    async fn checkout_quote(&self, ctx: &Context<'_>, cart_id: ID, country: String, region: Option<String>, shipping_method: Option<String>) -> Result<CheckoutQuote> {
        let country = CountryCode::parse("country", &country).map_err(|error| ApiError::BadUserInput(error.message))?;
        let region = region.map(|region| region.trim().to_uppercase()).filter(|region| !region.is_empty());
        // As placeOrder's address check: US tax is by state, so a US quote needs one.
        let region = match country.as_str() {
            "US" => Some(region.as_deref().and_then(us_state).ok_or_else(|| ApiError::BadUserInput("a US quote needs the state's two-letter code, e.g. NY".into()))?),
            _ => region,
        };
        let destination = Destination { country: country.as_str(), region: region.as_deref() };
        let quoted = order::quote_cart(
            ctx.data_unchecked::<Db>(),
            ctx.data_unchecked::<CartSource>(),
            &cart_id,
            ctx.data_unchecked::<ForwardedAuthorization>().0.as_deref(),
            destination,
            shipping_method.as_deref(),
        )
        .await?;
        let quote = quoted.map_err(|refusal| ApiError::BadUserInput(format!("{}: {}", refusal.code, refusal.message)))?;
        Ok(CheckoutQuote::of(quote)?)
    }

    /// The signed-in customer.
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let subject = ctx.data_unchecked::<Viewer>().subject()?;
        Ok(Some(Customer { id: ID(subject.to_string()) }))
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        Ok(visible_order(ctx, id.0, None).await?)
    }

    /// A customer is seen only by themselves (or by who may read all
    /// orders), as through `me`.
    #[graphql(entity)]
    async fn find_customer_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Customer> {
        let viewer = ctx.data_unchecked::<Viewer>();
        (viewer.subject_opt() == Some(id.as_str()) || viewer.has_scope(READ_ALL_ORDERS)).then_some(Customer { id })
    }
}

/// A way to ship an order, priced for one cart and destination.
#[derive(SimpleObject)]
pub struct ShippingMethod {
    /// What placeOrder's `shippingMethod` takes, e.g. STANDARD.
    pub code: String,
    /// What a shopper is shown, e.g. Express.
    pub name: String,
    /// Who carries it, e.g. UPS.
    pub carrier: String,
    /// What it costs for this cart and destination.
    pub price: Money,
    /// Delivery takes minDays to maxDays working days.
    pub min_days: i32,
    /// The most working days delivery takes.
    pub max_days: i32,
}

impl ShippingMethod {
    fn of(option: ShippingOption) -> Self {
        ShippingMethod {
            code: option.code,
            name: option.name,
            carrier: option.carrier,
            price: option.price,
            min_days: option.min_days as i32,
            max_days: option.max_days as i32,
        }
    }
}

/// What a cart costs to order with shipping and tax, before placing it.
#[derive(SimpleObject)]
pub struct CheckoutQuote {
    /// The lines at the catalog's current prices.
    pub subtotal: Money,
    /// Every method that ships to the destination, cheapest first.
    pub shipping_methods: Vec<ShippingMethod>,
    /// The method the totals are for.
    pub shipping_method: ShippingMethod,
    /// What the chosen method costs.
    pub shipping_total: Money,
    /// Added to subtotal and shipping, or the part of them that is tax when `taxesIncluded`.
    pub tax_total: Money,
    /// Whether the currency's prices include tax (EUR) rather than have it added (USD).
    pub taxes_included: bool,
    /// What placeOrder will charge; send it as `expectedTotal`.
    pub total: Money,
}

impl CheckoutQuote {
    fn of(quote: Quote) -> Result<Self, ApiError> {
        let chosen = quote.chosen.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a quote to a destination has a shipping method")))?;
        let totals = quote.totals;
        Ok(CheckoutQuote {
            subtotal: totals.subtotal,
            shipping_methods: quote.options.into_iter().map(ShippingMethod::of).collect(),
            shipping_method: ShippingMethod::of(chosen),
            shipping_total: totals.shipping,
            tax_total: totals.tax,
            taxes_included: totals.taxes_included,
            total: totals.total,
        })
    }
}

/// What checkout sends to order a cart.
#[derive(InputObject)]
pub struct PlaceOrderInput {
    /// The cart to order; refused while another order holds it. A guest
    /// (no token) orders a guest cart; a customer their own or a guest cart.
    pub cart_id: ID,
    /// Where the receipt goes; required of a guest.
    pub email: Option<String>,
    /// A code from `checkoutQuote`'s shippingMethods; the cheapest to the shipping address when left out.
    pub shipping_method: Option<String>,
    /// The same key (per customer; for a guest, per cart) always answers with the same order.
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

/// The answer to a change to an order: the order as it now is, or why the request was refused.
#[derive(SimpleObject)]
pub struct OrderPayload {
    /// The order as it is after the request; null when the request was refused.
    pub order: Option<Order>,
    /// placeOrder by a guest: the token that reads and follows this order
    /// (`order(id, accessToken)`, `orderStatusChanged`). Keep it: it is shown
    /// once (the same request sent again gets a new one). Null otherwise.
    pub order_access_token: Option<String>,
    /// Why the request was refused; empty when it succeeded.
    pub user_errors: Vec<UserError>,
}

impl OrderPayload {
    fn of(row: OrderRow) -> Self {
        OrderPayload { order: Some(Order(row)), order_access_token: None, user_errors: vec![] }
    }

    fn failed(error: UserError) -> Self {
        OrderPayload { order: None, order_access_token: None, user_errors: vec![error] }
    }

    fn changed(changed: Changed) -> Self {
        match changed {
            Changed::Order(row) => OrderPayload::of(row),
            Changed::Refused(error) => OrderPayload::failed(error),
        }
    }
}

/// Units of one sku, as the back office sends them.
#[derive(InputObject)]
pub struct ShipmentLineInput {
    /// The variant's sku, as on the order's lines.
    pub sku: ID,
    /// 1 to 50.
    pub quantity: i32,
}

/// Lines as the back office sent them, one per sku: at least one, each 1 to 50 units.
fn parse_lines(lines: &[ShipmentLineInput]) -> Result<fulfilment::Lines, UserError> {
    if lines.is_empty() {
        return Err(UserError::new("INVALID_LINES", "input.lines", "name at least one line"));
    }
    let mut parsed = fulfilment::Lines::new();
    for line in lines {
        let sku = Sku::parse("input.lines.sku", &line.sku)?;
        let quantity = Quantity::parse("input.lines.quantity", i64::from(line.quantity))?;
        if parsed.insert(sku, quantity).is_some() {
            return Err(UserError::new("INVALID_LINES", "input.lines", format!("{} is named twice", line.sku.as_str())));
        }
    }
    Ok(parsed)
}

/// A short free text the back office types (a carrier, a tracking number, a reason): 1 to `max` characters.
fn parse_text<'a>(field: &str, text: &'a str, max: usize) -> Result<&'a str, UserError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(UserError::new("INVALID_TEXT", field, format!("must be 1 to {max} characters")));
    }
    Ok(text)
}

/// Lines of an order to ship.
#[derive(InputObject)]
pub struct FulfillOrderInput {
    /// The order to ship.
    pub order_id: ID,
    /// What ships, per sku: at most what is ordered and not yet shipped.
    pub lines: Vec<ShipmentLineInput>,
    /// Who carries it, e.g. UPS (1 to 50 characters).
    pub carrier: String,
    /// The carrier's tracking number (1 to 100 characters).
    pub tracking_number: String,
    /// The same key (per order) ships once.
    pub idempotency_key: String,
}

/// Shipped lines that came back.
#[derive(InputObject)]
pub struct ReturnOrderLinesInput {
    /// The order the lines shipped with.
    pub order_id: ID,
    /// What came back, per sku: at most what shipped and has not come back.
    pub lines: Vec<ShipmentLineInput>,
    /// The same key (per order) takes the return once.
    pub idempotency_key: String,
}

/// Money to pay back from a shipped order's payment.
#[derive(InputObject)]
pub struct RefundOrderInput {
    /// The order to refund.
    pub order_id: ID,
    /// More than zero, in the order's currency, and at most what is left of its total.
    pub amount: MoneyInput,
    /// Why (1 to 200 characters).
    pub reason: String,
    /// The same key (per order) refunds once, however often it is sent.
    pub idempotency_key: String,
}

/// Who may ship, take back and refund orders.
const WRITE_ORDERS: &str = "orders:write";

/// The key of a back-office request about `order_id`, once the caller may
/// make it and the order exists; a user error when either input does not read.
async fn back_office_key(ctx: &Context<'_>, order_id: &str, key: &str) -> Result<Result<IdempotencyKey, UserError>> {
    ctx.data_unchecked::<Viewer>().require_scope(WRITE_ORDERS)?;
    let key = match IdempotencyKey::parse("input.idempotencyKey", key) {
        Ok(key) => key,
        Err(error) => return Ok(Err(error)),
    };
    if find_order(ctx.data_unchecked::<Db>(), order_id).await.map_err(ApiError::from)?.is_none() {
        return Ok(Err(UserError::new("ORDER_NOT_FOUND", "input.orderId", "no such order")));
    }
    Ok(Ok(key))
}

pub struct Mutation;

/// Everything a storefront or back office can change in the shop; a business rule's refusal comes back in `userErrors`.
#[Object]
impl Mutation {
    /// Places an order for the cart and answers at once with the order
    /// PENDING; stock and payment settle it on events within a second or so.
    /// Signed in, the order is the customer's; without a token it is a
    /// guest's, who must give an email and gets an `orderAccessToken`.
    async fn place_order(&self, ctx: &Context<'_>, input: PlaceOrderInput) -> Result<OrderPayload> {
        let customer_id = ctx.data_unchecked::<Viewer>().subject_opt();
        let email = match (input.email.as_deref().map(|email| Email::parse("input.email", email)).transpose(), customer_id) {
            (Err(error), _) => return Ok(OrderPayload::failed(error)),
            (Ok(None), None) => return Ok(OrderPayload::failed(UserError::new("EMAIL_REQUIRED", "input.email", "a guest checks out with an email address"))),
            (Ok(email), _) => email,
        };
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
        if input.shipping_method.is_some() && shipping_address.is_none() {
            let missing = UserError::new("SHIPPING_ADDRESS_REQUIRED", "input.shippingAddress", "a shipping method needs an address to ship to");
            return Ok(OrderPayload::failed(missing));
        }
        let request = PlaceOrder {
            customer_id,
            email,
            shipping_method: input.shipping_method.as_deref(),
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
            ctx.data_unchecked::<CartSource>(),
            ctx.data_unchecked::<Outbox>(),
            &request,
        )
        .await?;
        Ok(match placed {
            Placed::Order { order, access_token } => OrderPayload { order_access_token: access_token, ..OrderPayload::of(order) },
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
        Ok(OrderPayload::changed(cancelled))
    }

    /// Ships lines of a CONFIRMED or PARTIALLY_FULFILLED order (scope
    /// orders:write): PARTIALLY_FULFILLED, or FULFILLED once every unit has
    /// shipped. The first shipment captures the payment; a cancelled order does not ship.
    /// userErrors: ORDER_NOT_FOUND, ORDER_NOT_FULFILLABLE, QUANTITY_EXCEEDS_ORDER,
    /// INVALID_LINES, INVALID_TEXT, INVALID_SKU, INVALID_QUANTITY, IDEMPOTENCY_KEY_REUSED.
    #[graphql(requires_scopes = "orders:write")]
    async fn fulfill_order(&self, ctx: &Context<'_>, input: FulfillOrderInput) -> Result<OrderPayload> {
        let key = match back_office_key(ctx, &input.order_id, &input.idempotency_key).await? {
            Ok(key) => key,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let parsed = (parse_lines(&input.lines), parse_text("input.carrier", &input.carrier, 50), parse_text("input.trackingNumber", &input.tracking_number, 100));
        let shipment = match parsed {
            (Ok(lines), Ok(carrier), Ok(tracking_number)) => Shipment { lines, carrier, tracking_number },
            (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => return Ok(OrderPayload::failed(error)),
        };
        let request = OrderRequest { order_id: &input.order_id, key: &key, trace: ctx.data_unchecked::<Trace>() };
        let gateway = ctx.data_unchecked::<Arc<dyn PaymentGateway>>();
        let fulfilled = fulfilment::fulfil_order(ctx.data_unchecked::<Db>(), gateway.as_ref(), ctx.data_unchecked::<Outbox>(), &request, &shipment).await?;
        Ok(OrderPayload::changed(fulfilled))
    }

    /// Takes back shipped lines (scope orders:write): they go back on sale.
    /// No money moves; refund with refundOrder. userErrors: ORDER_NOT_FOUND,
    /// ORDER_NOT_RETURNABLE, QUANTITY_EXCEEDS_ORDER, INVALID_LINES, IDEMPOTENCY_KEY_REUSED.
    #[graphql(requires_scopes = "orders:write")]
    async fn return_order_lines(&self, ctx: &Context<'_>, input: ReturnOrderLinesInput) -> Result<OrderPayload> {
        let key = match back_office_key(ctx, &input.order_id, &input.idempotency_key).await? {
            Ok(key) => key,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let lines = match parse_lines(&input.lines) {
            Ok(lines) => lines,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let request = OrderRequest { order_id: &input.order_id, key: &key, trace: ctx.data_unchecked::<Trace>() };
        let returned = fulfilment::return_order_lines(ctx.data_unchecked::<Db>(), ctx.data_unchecked::<Outbox>(), &request, &lines).await?;
        Ok(OrderPayload::changed(returned))
    }

    /// Pays money back from a shipped order's captured payment (scope
    /// orders:write); stock is untouched unless lines are returned. Never more
    /// than the order's total in all. userErrors: ORDER_NOT_FOUND,
    /// ORDER_NOT_REFUNDABLE, REFUND_EXCEEDS_PAYMENT, CURRENCY_MISMATCH,
    /// INVALID_AMOUNT, INVALID_TEXT, IDEMPOTENCY_KEY_REUSED.
    #[graphql(requires_scopes = "orders:write")]
    async fn refund_order(&self, ctx: &Context<'_>, input: RefundOrderInput) -> Result<OrderPayload> {
        let key = match back_office_key(ctx, &input.order_id, &input.idempotency_key).await? {
            Ok(key) => key,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let amount = input.amount.into_money();
        if amount.minor_units <= 0 {
            return Ok(OrderPayload::failed(UserError::new("INVALID_AMOUNT", "input.amount", "a refund is more than zero")));
        }
        let reason = match parse_text("input.reason", &input.reason, 200) {
            Ok(reason) => reason,
            Err(error) => return Ok(OrderPayload::failed(error)),
        };
        let request = OrderRequest { order_id: &input.order_id, key: &key, trace: ctx.data_unchecked::<Trace>() };
        let gateway = ctx.data_unchecked::<Arc<dyn PaymentGateway>>();
        let refund = RefundRequest { amount, reason };
        let refunded = fulfilment::refund_order(ctx.data_unchecked::<Db>(), gateway.as_ref(), ctx.data_unchecked::<Outbox>(), &request, &refund).await?;
        Ok(OrderPayload::changed(refunded))
    }
}

pub struct Subscription;

/// Live updates: each field answers at once, then again each time what it follows changes.
#[Subscription]
impl Subscription {
    /// The order now, then again each time its status changes (a second
    /// partial shipment is not a change of status: read `fulfilments`).
    /// Signed in, or with an `accessToken` placeOrder gave for it (a guest's order).
    async fn order_status_changed(&self, ctx: &Context<'_>, order_id: ID, access_token: Option<String>) -> Result<impl Stream<Item = Order> + use<>> {
        identified(ctx, access_token.as_deref())?;
        let db = ctx.data_unchecked::<Db>().clone();
        // Subscribe before reading, so no change can slip between the two.
        let live = ctx.data_unchecked::<Bus>().follow(&order_id);
        let order = match find_order(&db, &order_id).await.map_err(ApiError::from)? {
            Some(order) if may_see(ctx, &order, access_token.as_deref()).await? => Some(order),
            _ => None,
        };
        let Some(order) = order else {
            return Err(ApiError::BadUserInput(format!("no order {} to follow", order_id.0)).into());
        };
        // The order as last sent, and whether its latest status is still to be sent.
        let state = (db, live, order, true);
        Ok(futures::stream::unfold(state, |(db, mut live, mut order, mut unsent)| async move {
            loop {
                if unsent {
                    return Some((Order(order.clone()), (db, live, order, false)));
                }
                let announced = match live.recv().await {
                    Ok(event) => match status_announced_by(&event) {
                        Some(status) => Some(status),
                        None => continue,
                    },
                    // Events were missed.
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => return None,
                };
                let moved_to = match announced {
                    // Only orders' own status changes move an order's status, and
                    // each says to what: no need to read the order again.
                    Some(status) if order.status().is_ok_and(|last| status.can_follow(last)) => status.as_str().to_string(),
                    // Events were missed, or one came out of turn (the process
                    // that makes a change announces it at once, so it can overtake
                    // an earlier change coming through the bus): the order says
                    // where it stands now.
                    _ => match find_order(&db, &order.id).await {
                        Ok(Some(now)) => now.status,
                        _ => continue,
                    },
                };
                if moved_to != order.status {
                    order.status = moved_to;
                    unsent = true;
                }
            }
        }))
    }
}
