//! The products subgraph's part of the graph.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use kit::auth::Viewer;
use kit::db::Db;
use events::{Outbox, Trace};
use kit::error::{ApiError, UserError};
use kit::money::{Money, MoneyInput};
use kit::page::{PageInfo, PageRequest};

use crate::catalog::{self, CategoryRow, Loaders, ProductQuery, ProductRow, VariantRow};

/// Text filters longer than this are refused rather than scanned.
const MAX_FILTER_LENGTH: usize = 100;

// Owned here and available to other subgraphs as an entity by `id` or by
// `slug`; inventory adds `inStock`, reviews adds `reviews` and `rating`.
/// A product of the catalog: its variants and prices, whether it is in
/// stock, and what customers say of it.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Product {
    /// The product's unique identifier.
    pub id: ID,
    /// The product's unique, URL-friendly name; `product(slug:)` finds the product by it.
    pub slug: String,
    /// The catalog's name for the product, as shown on its page.
    pub name: String,
    /// The catalog's description of the product, as shown on its page.
    pub description: String,
    #[graphql(skip)]
    category_slug: String,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Product {
            id: ID(row.id),
            slug: row.slug,
            name: row.name,
            description: row.description,
            category_slug: row.category_slug,
        }
    }
}

#[ComplexObject]
impl Product {
    /// The category the product is filed under; null when that category is not in the catalog.
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let row = loaders.categories_by_slug.load_one(self.category_slug.clone()).await.map_err(ApiError::from)?;
        Ok(row.map(Category::from))
    }

    /// The variants in display order. Inventory requires their skus to answer `Product.inStock`.
    #[graphql(directive = kit::directives::listSize::apply(Some(20), None, None))]
    async fn variants(&self, ctx: &Context<'_>) -> Result<Vec<Variant>> {
        Ok(self.variant_rows(ctx).await?.into_iter().map(Variant).collect())
    }

    /// The cheapest and dearest variant prices.
    async fn price_range(&self, ctx: &Context<'_>) -> Result<PriceRange> {
        let prices = self
            .variant_rows(ctx)
            .await?
            .iter()
            .map(VariantRow::price)
            .collect::<anyhow::Result<Vec<Money>>>()
            .map_err(ApiError::from)?;
        let min = prices.iter().min_by_key(|p| p.minor_units);
        let max = prices.iter().max_by_key(|p| p.minor_units);
        match (min, max) {
            (Some(min), Some(max)) => Ok(PriceRange { min: *min, max: *max }),
            _ => Err(ApiError::Internal(anyhow::anyhow!("product {} has no variants", self.id.0)).into()),
        }
    }
}

impl Product {
    async fn variant_rows(&self, ctx: &Context<'_>) -> Result<Vec<VariantRow>, ApiError> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.variants_by_product.load_one(self.id.0.clone()).await?.unwrap_or_default())
    }
}

#[derive(Clone)]
pub struct Variant(VariantRow);

// An entity: inventory adds `stock` and `inStock`; cart and orders reference
// it by sku.
/// One purchasable variant of a product (a size, a colour), identified by its
/// sku.
#[Object]
impl Variant {
    /// The variant's stock-keeping unit, which identifies it across the shop.
    async fn sku(&self) -> ID {
        ID(self.0.sku.clone())
    }

    /// The variant's own name, e.g. a size or a colour, as shown when choosing one.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The current catalog price; carts compute their totals from it.
    async fn price(&self) -> Result<Money> {
        Ok(self.0.price().map_err(ApiError::from)?)
    }

    /// The product this variant belongs to.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let row = loaders.products_by_id.load_one(self.0.product_id.clone()).await.map_err(ApiError::from)?;
        row.map(Product::from)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("variant {} has no product", self.0.sku)).into())
    }
}

/// A section of the catalog that products are filed under.
#[derive(SimpleObject, Clone)]
pub struct Category {
    /// The category's unique, URL-friendly name; `ProductFilter.categorySlug` takes it.
    pub slug: String,
    /// The category's name, as shown to shoppers.
    pub name: String,
    /// How many products are filed under the category.
    pub product_count: i32,
}

impl From<CategoryRow> for Category {
    fn from(row: CategoryRow) -> Self {
        Category { slug: row.slug, name: row.name, product_count: row.product_count as i32 }
    }
}

/// The lowest and highest prices among a product's variants.
#[derive(SimpleObject, Clone)]
pub struct PriceRange {
    /// The price of the cheapest variant.
    pub min: Money,
    /// The price of the dearest variant.
    pub max: Money,
}

/// Narrows a product list to one category, to a text search, or to both.
#[derive(InputObject, Default)]
pub struct ProductFilter {
    /// Only products of the category with this slug; blank means every category.
    pub category_slug: Option<String>,
    /// Words to find in the name or description, case-insensitively.
    pub search: Option<String>,
}

/// One page of a product list, with how many products the list holds in all.
#[derive(SimpleObject)]
pub struct ProductConnection {
    /// How many products match, across all pages.
    pub total_count: i32,
    /// Whether more pages follow, and the cursor to ask for the next one.
    pub page_info: PageInfo,
    /// The products of this page, in order, each with its cursor.
    pub edges: Vec<ProductEdge>,
}

/// A product in a page of a list, with the cursor that marks its place.
#[derive(SimpleObject)]
pub struct ProductEdge {
    /// An opaque cursor; pass it as `after` to get the products that follow this one.
    pub cursor: String,
    /// The product.
    pub node: Product,
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
    /// Products in alphabetical (slug) order, optionally within one category
    /// and matching a text search. `first` is at most 100.
    #[graphql(directive = kit::directives::listSize::apply(None, Some(vec!["first".into()]), Some(vec!["edges".into()])))]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: i32,
        after: Option<String>,
        filter: Option<ProductFilter>,
    ) -> Result<ProductConnection> {
        let page = PageRequest::parse("product", first, after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let query = ProductQuery {
            category_slug: bounded_text("filter.categorySlug", filter.category_slug)?,
            search: bounded_text("filter.search", filter.search)?.map(|s| s.to_lowercase()),
            after_slug: page.after.clone(),
            limit: page.fetch_limit(),
        };
        let (rows, total) = catalog::list_products(ctx.data_unchecked::<Db>(), &query).await.map_err(ApiError::from)?;
        let (edges, page_info) = page.finish("product", rows, |row| &row.slug);
        Ok(ProductConnection {
            total_count: total as i32,
            page_info,
            edges: edges.into_iter().map(|(cursor, row)| ProductEdge { cursor, node: row.into() }).collect(),
        })
    }

    /// One product by `id` or by `slug` (give exactly one); null when there is none.
    async fn product(&self, ctx: &Context<'_>, id: Option<ID>, slug: Option<String>) -> Result<Option<Product>> {
        match (id, slug) {
            (Some(id), None) => self.find_product_by_id(ctx, id).await,
            (None, Some(slug)) => self.find_product_by_slug(ctx, slug).await,
            _ => Err(ApiError::BadUserInput("give exactly one of `id` and `slug`".into()).into()),
        }
    }

    /// One variant by sku; null when there is none.
    async fn variant(&self, ctx: &Context<'_>, sku: ID) -> Result<Option<Variant>> {
        self.find_variant_by_sku(ctx, sku).await
    }

    /// Variants by sku, in the order asked, null for an unknown sku; at most 100 skus.
    #[graphql(directive = kit::directives::listSize::apply(Some(100), None, None))]
    async fn variants(&self, ctx: &Context<'_>, skus: Vec<ID>) -> Result<Vec<Option<Variant>>> {
        if skus.len() > kit::page::MAX_PAGE_SIZE as usize {
            return Err(ApiError::BadUserInput(format!("ask for at most {} skus at once", kit::page::MAX_PAGE_SIZE)).into());
        }
        let loaders = ctx.data_unchecked::<Loaders>();
        let found = loaders.variants_by_sku.load_many(skus.iter().map(|sku| sku.0.clone())).await.map_err(ApiError::from)?;
        Ok(skus.iter().map(|sku| found.get(&sku.0).cloned().map(Variant)).collect())
    }

    /// Every category, by name, with how many products it holds.
    #[graphql(directive = kit::directives::listSize::apply(Some(100), None, None))]
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let rows = catalog::list_categories(ctx.data_unchecked::<Db>()).await.map_err(ApiError::from)?;
        Ok(rows.into_iter().map(Category::from).collect())
    }

    #[graphql(entity)]
    async fn find_product_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.products_by_id.load_one(id.0).await.map_err(ApiError::from)?.map(Product::from))
    }

    #[graphql(entity)]
    async fn find_product_by_slug(&self, ctx: &Context<'_>, slug: String) -> Result<Option<Product>> {
        if slug.len() > MAX_FILTER_LENGTH {
            return Ok(None);
        }
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.products_by_slug.load_one(slug).await.map_err(ApiError::from)?.map(Product::from))
    }

    #[graphql(entity)]
    async fn find_variant_by_sku(&self, ctx: &Context<'_>, sku: ID) -> Result<Option<Variant>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.variants_by_sku.load_one(sku.0).await.map_err(ApiError::from)?.map(Variant))
    }
}

/// Trims an optional filter, drops it when empty, refuses it when oversized.
fn bounded_text(field: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_FILTER_LENGTH {
        return Err(ApiError::BadUserInput(format!("`{field}` must be at most {MAX_FILTER_LENGTH} characters")));
    }
    Ok(Some(text))
}

pub struct Mutation;

/// Everything a storefront or back office can change in the shop; a business rule's refusal comes back in `userErrors`.
#[Object]
impl Mutation {
    /// Sets a variant's price (scope catalog:write). Carts show the new price
    /// at once, because they read it through `@requires` on every request.
    #[graphql(requires_scopes = "catalog:write")]
    async fn set_variant_price(&self, ctx: &Context<'_>, sku: ID, price: MoneyInput) -> Result<VariantPayload> {
        ctx.data_unchecked::<Viewer>().require_scope("catalog:write")?;
        let price = match price.into_price() {
            Ok(price) => price,
            Err(message) => return Ok(VariantPayload::failed(UserError::new("INVALID_PRICE", "price.amount", message))),
        };
        let db = ctx.data_unchecked::<Db>();
        match catalog::set_variant_price(db, &sku, price, ctx.data_unchecked::<Trace>()).await.map_err(ApiError::from)? {
            Some(row) => {
                ctx.data_unchecked::<Outbox>().committed();
                Ok(VariantPayload { variant: Some(Variant(row)), user_errors: vec![] })
            }
            None => Ok(VariantPayload::failed(UserError::new("UNKNOWN_SKU", "sku", format!("no variant has sku {}", sku.0)))),
        }
    }
}
