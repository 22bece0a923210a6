//! The inventory subgraph's part of the graph.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use kit::auth::Viewer;
use events::{Outbox, Trace};
use kit::db::Db;
use kit::error::{ApiError, UserError};

use kit::domain::{IdempotencyKey, Sku};

use crate::stock::{self, AdjustOutcome, Adjustment, Loaders, Stock};

/// The largest single adjustment accepted: a typo guard, not a business rule.
const MAX_DELTA: u32 = 1_000_000;
const MAX_REASON_LENGTH: usize = 200;

/// How many units of a variant the warehouse holds, and how many of them are still for sale.
#[derive(SimpleObject, Clone, Copy)]
pub struct StockLevel {
    /// What can still be sold: on hand minus reserved.
    pub available: i32,
    /// Held for orders that are not settled yet.
    pub reserved: i32,
    /// Physically in the warehouse.
    pub on_hand: i32,
}

impl From<Stock> for StockLevel {
    fn from(stock: Stock) -> Self {
        StockLevel { available: stock.available() as i32, reserved: stock.reserved as i32, on_hand: stock.on_hand as i32 }
    }
}

// The catalog's variant, owned by products (whose description clients see);
// inventory adds its stock. A sku the warehouse has never stocked has zero of
// everything.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Variant {
    /// The variant's stock-keeping unit, which identifies it across the shop.
    pub sku: ID,
}

#[ComplexObject]
impl Variant {
    /// What the warehouse holds for this variant; null (with an error naming
    /// inventory) when inventory cannot answer, so the page keeps the catalog's data.
    async fn stock(&self, ctx: &Context<'_>) -> Result<Option<StockLevel>> {
        Ok(Some(stock_of(ctx, &self.sku).await?.into()))
    }

    /// True when some can be bought; null when inventory cannot answer.
    async fn in_stock(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        Ok(Some(stock_of(ctx, &self.sku).await?.available() > 0))
    }
}

async fn stock_of(ctx: &Context<'_>, sku: &str) -> Result<Stock, ApiError> {
    let loaders = ctx.data_unchecked::<Loaders>();
    Ok(loaders.stock_by_sku.load_one(sku.to_string()).await?.map(|row| row.level()).unwrap_or_default())
}

// The catalog's product, owned by products (whose description clients see).
// Inventory answers `inStock` from the skus of its variants, which the router
// fetches from products first (`@requires`).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Product {
    /// The product's unique identifier.
    pub id: ID,
    /// The product's variants; declared so that `@requires` can name their skus, always resolved by products.
    #[graphql(external)]
    pub variants: Vec<Variant>,
}

#[ComplexObject]
impl Product {
    /// True when at least one variant can be bought; null when inventory cannot answer.
    #[graphql(requires = "variants { sku }")]
    async fn in_stock(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let skus = self.variants.iter().map(|v| v.sku.0.clone());
        let stock = loaders.stock_by_sku.load_many(skus).await.map_err(ApiError::from)?;
        Ok(Some(stock.values().any(|row| row.level().available() > 0)))
    }
}

/// The part of a product representation that `Product.inStock` requires.
#[derive(InputObject)]
pub struct VariantSkuRepresentation {
    pub sku: ID,
}

/// The answer to a back-office change of a variant (price or stock).
#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct VariantPayload {
    /// The variant as it is after the change; null when the change was refused.
    pub variant: Option<Variant>,
    /// Why the change was refused; empty when it succeeded.
    pub user_errors: Vec<UserError>,
}

impl VariantPayload {
    fn failed(error: UserError) -> Self {
        VariantPayload { variant: None, user_errors: vec![error] }
    }
}

pub struct Query;

/// Everything a storefront or back office can read from the shop.
#[Object]
impl Query {
    #[graphql(entity)]
    async fn find_variant_by_sku(&self, sku: ID) -> Variant {
        Variant { sku }
    }

    #[graphql(entity)]
    async fn find_product_by_id(
        &self,
        #[graphql(key)] id: ID,
        variants: Option<Vec<VariantSkuRepresentation>>,
    ) -> Product {
        let variants = variants.unwrap_or_default().into_iter().map(|v| Variant { sku: v.sku }).collect();
        Product { id, variants }
    }
}

pub struct Mutation;

/// Everything a storefront or back office can change in the shop; a business rule's refusal comes back in `userErrors`.
#[Object]
impl Mutation {
    /// Adds `delta` (negative to remove) to a sku's on-hand stock (scope
    /// inventory:write). Available stock never goes below zero; the same
    /// idempotencyKey applies the adjustment once.
    #[graphql(requires_scopes = "inventory:write")]
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        sku: ID,
        delta: i32,
        reason: String,
        idempotency_key: String,
    ) -> Result<VariantPayload> {
        let viewer = ctx.data_unchecked::<Viewer>();
        viewer.require_scope("inventory:write")?;
        if delta == 0 || delta.unsigned_abs() > MAX_DELTA {
            return Ok(VariantPayload::failed(UserError::new(
                "INVALID_DELTA",
                "delta",
                format!("delta must be non-zero and at most {MAX_DELTA} either way"),
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_LENGTH {
            return Ok(VariantPayload::failed(UserError::new(
                "INVALID_REASON",
                "reason",
                format!("reason must be 1 to {MAX_REASON_LENGTH} characters"),
            )));
        }
        let sku_input = sku;
        let sku = match Sku::parse("sku", &sku_input) {
            Ok(sku) => sku,
            Err(error) => return Ok(VariantPayload::failed(error)),
        };
        let idempotency_key = match IdempotencyKey::parse("idempotencyKey", &idempotency_key) {
            Ok(key) => key,
            Err(error) => return Ok(VariantPayload::failed(error)),
        };
        let adjustment = Adjustment {
            sku: &sku,
            delta: i64::from(delta),
            reason,
            idempotency_key: &idempotency_key,
            actor: viewer.subject()?,
        };
        let outcome = stock::adjust_stock(ctx.data_unchecked::<Db>(), &adjustment, ctx.data_unchecked::<Trace>()).await.map_err(ApiError::from)?;
        if matches!(outcome, AdjustOutcome::Applied(_)) {
            ctx.data_unchecked::<Outbox>().committed();
        }
        Ok(match outcome {
            AdjustOutcome::Applied(_) | AdjustOutcome::Replayed(_) => {
                VariantPayload { variant: Some(Variant { sku: sku_input }), user_errors: vec![] }
            }
            AdjustOutcome::KeyReused => VariantPayload::failed(kit::idempotency::key_reused("idempotencyKey")),
            AdjustOutcome::UnknownSku => {
                VariantPayload::failed(UserError::new("UNKNOWN_SKU", "sku", format!("no stock is kept for sku {}", sku.as_str())))
            }
            AdjustOutcome::InsufficientStock(stock) => VariantPayload::failed(UserError::new(
                "INSUFFICIENT_STOCK",
                "delta",
                format!("only {} available; stock cannot go below zero", stock.available()),
            )),
        })
    }
}
