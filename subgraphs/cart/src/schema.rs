//! The cart subgraph's part of the graph.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use kit::auth::Viewer;
use kit::db::Db;
use kit::error::{ApiError, UserError};
use kit::graph::GraphClient;
use kit::server::Gateway;
use kit::domain::{Quantity, Sku};
use kit::money::{CurrencyCode, Money, MoneyInput};
use serde::Deserialize;

use crate::cart::{self, CartEdit, CartRow, EditOutcome, LineRow, Loaders, Merged, cart_with_lines};

pub struct Cart {
    row: CartRow,
    /// Its lines, when they were read with it (`cart(id:)`, the entity);
    /// otherwise they are read when asked for.
    lines: Option<Vec<LineRow>>,
    /// The catalog price of each line, in line order (`@requires`); needed only by `subtotal`.
    line_prices: Prices<Vec<Option<MoneyInput>>>,
}

/// Where the prices of a total come from.
enum Prices<T> {
    /// Passed in by a trusted gateway, which read them from the catalog.
    Passed(T),
    /// Not passed in, or passed in by a caller that could have made them up:
    /// the catalog is asked. (Some gateways, Hive Gateway's among them, ask
    /// for a total straight from the mutation that returns the cart, without
    /// the prices it requires, and ask again in an entity fetch.)
    FromCatalog,
}

impl<T> Prices<T> {
    /// Prices as a representation brought them, believed only from a trusted gateway.
    fn from_representation(ctx: &Context<'_>, prices: Option<T>) -> Self {
        match prices {
            Some(prices) if ctx.data_unchecked::<Gateway>().trusted => Prices::Passed(prices),
            _ => Prices::FromCatalog,
        }
    }
}

/// A cart. Belongs to the signed-in customer who created it, or, created
/// without a token, to whoever holds its id (a guest cart). Available to
/// other subgraphs as an entity; orders reads it at checkout.
#[Object]
impl Cart {
    /// The cart's unique identifier; for a guest cart, holding it is what gives access.
    async fn id(&self) -> ID {
        ID(self.row.id.clone())
    }

    /// Units across all lines.
    async fn item_count(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(self.line_rows(ctx).await?.iter().map(|line| line.quantity as i32).sum())
    }

    /// Lines in the order they were first added.
    #[graphql(directive = kit::directives::listSize::apply(Some(50), None, None))]
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<CartLine>> {
        Ok(self.line_rows(ctx).await?.into_iter().map(|row| CartLine { row, price: Prices::FromCatalog }).collect())
    }

    /// Sum of the line totals at the catalog's current prices.
    #[graphql(requires = "lines { variant { price { amount currencyCode } } }")]
    async fn subtotal(&self, ctx: &Context<'_>) -> Result<Money> {
        let lines = self.line_rows(ctx).await?;
        let prices = match &self.line_prices {
            Prices::Passed(prices) => prices.clone(),
            Prices::FromCatalog => catalog_prices(ctx, lines.iter().map(|line| line.sku.as_str())).await?,
        };
        if prices.len() != lines.len() {
            return Err(ApiError::BadUserInput("the cart changed while it was being read; ask again".into()).into());
        }
        let totals = lines
            .iter()
            .zip(&prices)
            .map(|(line, price)| line_total(line, price.as_ref()))
            .collect::<Result<Vec<Money>, ApiError>>()?;
        // An empty cart costs nothing, in the shop's default currency.
        Money::sum(totals, CurrencyCode::USD)
            .map_err(|_| ApiError::BadUserInput("the cart holds prices in more than one currency".into()).into())
    }
}

pub struct CartLine {
    row: LineRow,
    price: Prices<Option<MoneyInput>>,
}

/// One sku in a cart. An entity so that the router can hand it the
/// variant's current price for `lineTotal`.
#[Object]
impl CartLine {
    /// The line's identifier, which `updateCartLine` and `removeCartLine` take.
    async fn id(&self) -> ID {
        ID(self.row.id.clone())
    }

    /// How many units of the variant the line holds, 1 to 50.
    async fn quantity(&self) -> i32 {
        self.row.quantity as i32
    }

    /// The variant the line is for; its name and price come from products.
    async fn variant(&self) -> Variant {
        Variant { sku: ID(self.row.sku.clone()) }
    }

    /// quantity × the variant's current catalog price.
    #[graphql(requires = "variant { price { amount currencyCode } }")]
    async fn line_total(&self, ctx: &Context<'_>) -> Result<Money> {
        let price = match &self.price {
                        Prices::Passed(price) => *price,
            Prices::FromCatalog => catalog_prices(ctx, [self.row.sku.as_str()]).await?.remove(0),
        };
        Ok(line_total(&self.row, price.as_ref())?)
    }
}

fn no_catalog_price() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("a cart line's variant has no catalog price"))
}

fn line_total(line: &LineRow, price: Option<&MoneyInput>) -> Result<Money, ApiError> {
    let price = price.ok_or_else(no_catalog_price)?.into_money();
    Ok(price.times(line.quantity)?)
}

// The catalog's variant, owned by products (whose description clients see).
// The cart only refers to it by sku.
#[derive(SimpleObject)]
#[graphql(complex, unresolvable = "sku")]
pub struct Variant {
    /// The variant's stock-keeping unit, which identifies it across the shop.
    pub sku: ID,
}

#[ComplexObject]
impl Variant {
    /// Declared so that `@requires` can name it; always resolved by products.
    #[graphql(external)]
    async fn price(&self) -> Result<Money> {
        Err(ApiError::Internal(anyhow::anyhow!("Variant.price is resolved by the products subgraph")).into())
    }
}

/// What `CartLine.lineTotal` requires from products.
#[derive(InputObject)]
pub struct VariantPriceRepresentation {
    pub price: Option<MoneyInput>,
}

/// What `Cart.subtotal` requires from products, per line.
#[derive(InputObject)]
pub struct CartLinePriceRepresentation {
    pub variant: Option<VariantPriceRepresentation>,
}

/// The answer to a cart change: the cart as it now is, or why the change was refused.
#[derive(SimpleObject)]
pub struct CartPayload {
    /// The cart as it is after the change; null when the change was refused.
    pub cart: Option<Cart>,
    /// Why the change was refused; empty when it succeeded.
    pub user_errors: Vec<UserError>,
}

impl CartPayload {
    fn failed(error: UserError) -> Self {
        CartPayload { cart: None, user_errors: vec![error] }
    }

    fn of(row: CartRow) -> Self {
        CartPayload { cart: Some(Cart { row, lines: None, line_prices: Prices::FromCatalog }), user_errors: vec![] }
    }
}

impl Cart {
    async fn line_rows(&self, ctx: &Context<'_>) -> Result<Vec<LineRow>, ApiError> {
        if let Some(lines) = &self.lines {
            return Ok(lines.clone());
        }
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.lines_by_cart.load_one(self.row.id.clone()).await?.unwrap_or_default())
    }
}

/// The cart and its lines, read together; None when there is no such cart.
async fn find_cart_with_lines(ctx: &Context<'_>, id: &str) -> Result<Option<(CartRow, Vec<LineRow>)>, ApiError> {
    let rows = ctx.data_unchecked::<Loaders>().carts_with_lines_by_id.load_one(id.to_string()).await?;
    Ok(rows.and_then(cart_with_lines))
}

async fn find_cart(ctx: &Context<'_>, id: &str) -> Result<Option<CartRow>, ApiError> {
    Ok(ctx.data_unchecked::<Loaders>().carts_by_id.load_one(id.to_string()).await?)
}

/// A customer's cart is visible only to that customer; a guest cart to anyone holding its id.
fn visible_to(cart: &CartRow, viewer: &Viewer) -> bool {
    match &cart.customer_id {
        None => true,
        Some(owner) => viewer.subject_opt() == Some(owner.as_str()),
    }
}

pub struct Query;

/// Everything a storefront or back office can read from the shop.
#[Object]
impl Query {
    /// A cart by id: null when there is none or it belongs to another customer.
    async fn cart(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Cart>> {
        let viewer = ctx.data_unchecked::<Viewer>();
        let cart = find_cart_with_lines(ctx, &id).await?.filter(|(cart, _)| visible_to(cart, viewer));
        Ok(cart.map(|(row, lines)| Cart { row, lines: Some(lines), line_prices: Prices::FromCatalog }))
    }

    #[graphql(entity)]
    async fn find_cart_by_id(
        &self,
        ctx: &Context<'_>,
        #[graphql(key)] id: ID,
        lines: Option<Vec<CartLinePriceRepresentation>>,
    ) -> Result<Option<Cart>> {
        let viewer = ctx.data_unchecked::<Viewer>();
        let cart = find_cart_with_lines(ctx, &id).await?.filter(|(cart, _)| visible_to(cart, viewer));
        let passed = lines.map(|lines| lines.into_iter().map(|l| l.variant.and_then(|v| v.price)).collect());
        Ok(cart.map(|(row, lines)| Cart { row, lines: Some(lines), line_prices: Prices::from_representation(ctx, passed) }))
    }

    #[graphql(entity)]
    async fn find_cart_line_by_id(
        &self,
        ctx: &Context<'_>,
        #[graphql(key)] id: ID,
        variant: Option<VariantPriceRepresentation>,
    ) -> Result<Option<CartLine>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let Some(row) = loaders.lines_by_id.load_one(id.0).await.map_err(ApiError::from)? else {
            return Ok(None);
        };
        // A line is seen by whoever may see its cart, as through `cart(id)`.
        let viewer = ctx.data_unchecked::<Viewer>();
        if !find_cart(ctx, &row.cart_id).await?.is_some_and(|cart| visible_to(&cart, viewer)) {
            return Ok(None);
        }
        let passed = variant.map(|v| v.price);
        Ok(Some(CartLine { row, price: Prices::from_representation(ctx, passed) }))
    }
}

pub struct Mutation;

/// Everything a storefront or back office can change in the shop; a business rule's refusal comes back in `userErrors`.
#[Object]
impl Mutation {
    /// A new empty cart: the customer's when signed in, else a guest cart.
    async fn create_cart(&self, ctx: &Context<'_>) -> Result<CartPayload> {
        let viewer = ctx.data_unchecked::<Viewer>();
        let row = cart::create_cart(ctx.data_unchecked::<Db>(), viewer.subject_opt()).await.map_err(ApiError::from)?;
        Ok(CartPayload::of(row))
    }

    /// Adds units of a sku; a sku already in the cart adds to that line.
    async fn add_cart_line(&self, ctx: &Context<'_>, cart_id: ID, sku: ID, quantity: i32) -> Result<CartPayload> {
        let (sku, quantity) = match (Sku::parse("sku", &sku), Quantity::parse("quantity", i64::from(quantity))) {
            (Ok(sku), Ok(quantity)) => (sku, quantity),
            (_, Err(error)) | (Err(error), _) => return Ok(CartPayload::failed(error)),
        };
        let Some(currency) = variant_currency(ctx, &sku).await? else {
            return Ok(CartPayload::failed(UserError::new("UNKNOWN_SKU", "sku", format!("no variant has sku {}", sku.as_str()))));
        };
        edit(ctx, &cart_id, CartEdit::Add { sku: &sku, quantity, currency: &currency }).await
    }

    /// Sets a line's quantity; 0 removes the line.
    async fn update_cart_line(&self, ctx: &Context<'_>, cart_id: ID, line_id: ID, quantity: i32) -> Result<CartPayload> {
        if quantity == 0 {
            return edit(ctx, &cart_id, CartEdit::Remove { line_id: &line_id }).await;
        }
        match Quantity::parse("quantity", i64::from(quantity)) {
            Ok(quantity) => edit(ctx, &cart_id, CartEdit::Set { line_id: &line_id, quantity }).await,
            Err(error) => Ok(CartPayload::failed(error)),
        }
    }

    /// Removes a line from the cart.
    async fn remove_cart_line(&self, ctx: &Context<'_>, cart_id: ID, line_id: ID) -> Result<CartPayload> {
        edit(ctx, &cart_id, CartEdit::Remove { line_id: &line_id }).await
    }

    /// On sign-in, the guest cart the shopper was filling becomes the
    /// customer's. Into their newest open cart when they have one: a sku in
    /// both adds up (at most 50 units), and the guest cart is left empty and
    /// closed; otherwise the guest cart itself becomes theirs. Answers the
    /// cart to use from now on. userErrors: CART_NOT_FOUND, CART_CLOSED,
    /// CURRENCY_MISMATCH (nothing changes).
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn merge_cart(&self, ctx: &Context<'_>, guest_cart_id: ID) -> Result<CartPayload> {
        let customer_id = ctx.data_unchecked::<Viewer>().subject()?;
        let merged = cart::merge_guest_cart(ctx.data_unchecked::<Db>(), &guest_cart_id, customer_id).await.map_err(ApiError::from)?;
        let field = "guestCartId";
        Ok(match merged {
            Merged::Into(cart_id) => {
                let cart = find_cart(ctx, &cart_id).await?;
                cart.map_or_else(|| CartPayload::failed(UserError::new("CART_NOT_FOUND", field, "no such cart")), CartPayload::of)
            }
            Merged::NotFound => CartPayload::failed(UserError::new("CART_NOT_FOUND", field, format!("no guest cart has id {}", guest_cart_id.as_str()))),
            Merged::Closed => CartPayload::failed(UserError::new("CART_CLOSED", field, "this guest cart has been ordered or merged already")),
            Merged::CurrencyMismatch(held) => CartPayload::failed(UserError::new(
                "CURRENCY_MISMATCH",
                field,
                format!("your cart is in {held} and the guest cart in another currency; nothing was merged"),
            )),
        })
    }
}

/// Applies `change` to the cart if the viewer may edit it; FORBIDDEN when the
/// cart is another customer's.
async fn edit(ctx: &Context<'_>, cart_id: &str, change: CartEdit<'_>) -> Result<CartPayload> {
    let not_found = || CartPayload::failed(UserError::new("CART_NOT_FOUND", "cartId", format!("no cart has id {cart_id}")));
    let Some(cart) = find_cart(ctx, cart_id).await? else {
        return Ok(not_found());
    };
    if !visible_to(&cart, ctx.data_unchecked::<Viewer>()) {
        return Err(ApiError::Forbidden("this cart belongs to another customer".into()).into());
    }
    let db = ctx.data_unchecked::<Db>();
    let outcome = cart::edit_cart(db, cart_id, change).await.map_err(ApiError::from)?;
    Ok(match outcome {
        EditOutcome::Applied => {
            let cart = find_cart(ctx, cart_id).await?;
            cart.map_or_else(not_found, CartPayload::of)
        }
        EditOutcome::CartClosed => {
            CartPayload::failed(UserError::new("CART_CLOSED", "cartId", "this cart has been ordered and can no longer change"))
        }
        EditOutcome::LineNotFound => {
            CartPayload::failed(UserError::new("LINE_NOT_FOUND", "lineId", "this cart has no such line"))
        }
        EditOutcome::QuantityLimit => CartPayload::failed(Quantity::invalid("quantity")),
        EditOutcome::CurrencyMismatch(held) => {
            CartPayload::failed(UserError::new("CURRENCY_MISMATCH", "sku", format!("this cart is in {held}, and the sku is priced in another currency")))
        }
    })
}

pub(crate) const CATALOG_PRICES: &str = "query ($skus: [ID!]!) { variants(skus: $skus) { price { amount currencyCode } } }";

/// The catalog's current price of each sku, in the order asked, through the router.
async fn catalog_prices<'s>(ctx: &Context<'_>, skus: impl IntoIterator<Item = &'s str>) -> Result<Vec<Option<MoneyInput>>, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        variants: Vec<Option<PricedVariant>>,
    }
    #[derive(Deserialize)]
    struct PricedVariant {
        price: PriceView,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PriceView {
        amount: String,
        currency_code: String,
    }
    let skus: Vec<&str> = skus.into_iter().collect();
    if skus.is_empty() {
        return Ok(vec![]);
    }
    let data: Data = ctx
        .data_unchecked::<GraphClient>()
        .query(CATALOG_PRICES, serde_json::json!({ "skus": skus }), None)
        .await?;
    data.variants
        .into_iter()
        .map(|variant| {
            let Some(variant) = variant else { return Ok(None) };
            let unreadable = || ApiError::Internal(anyhow::anyhow!("the catalog sent an unreadable price"));
            let amount = kit::money::Decimal::parse(&variant.price.amount).ok_or_else(unreadable)?;
            let currency_code = CurrencyCode::parse(&variant.price.currency_code).ok_or_else(unreadable)?;
            Ok(Some(MoneyInput { amount, currency_code }))
        })
        .collect()
}

pub(crate) const VARIANT_CURRENCY: &str = "query ($sku: ID!) { variant(sku: $sku) { price { currencyCode } } }";

/// The currency the catalog prices the sku in, through the router; None when there is no such sku.
async fn variant_currency(ctx: &Context<'_>, sku: &Sku) -> Result<Option<String>, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        variant: Option<VariantView>,
    }
    #[derive(Deserialize)]
    struct VariantView {
        price: PriceView,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PriceView {
        currency_code: String,
    }
    let data: Data = ctx.data_unchecked::<GraphClient>().query(VARIANT_CURRENCY, serde_json::json!({ "sku": sku.as_str() }), None).await?;
    Ok(data.variant.map(|variant| variant.price.currency_code))
}
