//! The products subgraph's part of the graph.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use events::{Outbox, Trace};
use kit::auth::Viewer;
use kit::db::Db;
use kit::error::{ApiError, UserError};
use kit::money::{CurrencyCode, Decimal, Money, MoneyInput};
use kit::page::{PageInfo, PageWindow};

use crate::catalog::{self, CategoryRow, ImageRow, Loaders, OptionRow, ProductRow, VariantOfProduct, VariantRow};
use crate::listing::{self, ListedRow, PRICE_BUCKETS, ProductQuery, ProductSortKey, SortDirection};
use crate::search;

/// Where image paths are served from; a URL is this followed by the path.
pub struct MediaBase(pub String);

/// Text filters longer than this are refused rather than scanned.
const MAX_FILTER_LENGTH: usize = 100;

/// Option values one listing may filter by.
const MAX_OPTION_FILTERS: usize = 20;

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
        let tree = ctx.data_unchecked::<Loaders>().tree().await.map_err(ApiError::from)?;
        Ok(tree.get(&self.category_slug).cloned().map(Category))
    }

    /// The product's images in display order; the first is the featured one.
    #[graphql(directive = kit::directives::listSize::apply(Some(10), None, None))]
    async fn images(&self, ctx: &Context<'_>) -> Result<Vec<Image>> {
        let base = ctx.data_unchecked::<MediaBase>();
        Ok(self.image_rows(ctx).await?.iter().map(|row| Image::new(base, row)).collect())
    }

    /// The image a listing shows for the product; null when it has none.
    async fn featured_image(&self, ctx: &Context<'_>) -> Result<Option<Image>> {
        let base = ctx.data_unchecked::<MediaBase>();
        Ok(self.image_rows(ctx).await?.first().map(|row| Image::new(base, row)))
    }

    /// The product's option axes (Size, Color, ...) with the values its variants take, in order.
    #[graphql(directive = kit::directives::listSize::apply(Some(3), None, None))]
    async fn options(&self, ctx: &Context<'_>) -> Result<Vec<ProductOption>> {
        let mut options: Vec<ProductOption> = Vec::new();
        for row in self.option_rows(ctx).await? {
            match options.iter_mut().find(|option| option.name == row.name) {
                Some(option) if option.values.contains(&row.value) => {}
                Some(option) => option.values.push(row.value),
                None => options.push(ProductOption { name: row.name, values: vec![row.value] }),
            }
        }
        Ok(options)
    }

    /// The variant with exactly these option values (one per axis); null when no variant has them.
    async fn variant_by_selected_options(&self, ctx: &Context<'_>, selected_options: Vec<SelectedOptionInput>) -> Result<Option<Variant>> {
        let rows = self.option_rows(ctx).await?;
        let mut by_sku: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for row in &rows {
            by_sku.entry(row.sku.as_str()).or_default().push((row.name.as_str(), row.value.as_str()));
        }
        let mut wanted: Vec<(&str, &str)> = selected_options.iter().map(|o| (o.name.as_str(), o.value.as_str())).collect();
        wanted.sort_unstable();
        let sku = by_sku.into_iter().find_map(|(sku, mut options)| {
            options.sort_unstable();
            (options == wanted).then_some(sku)
        });
        let Some(sku) = sku else { return Ok(None) };
        let variants = self.variant_rows(ctx).await?;
        Ok(variants.into_iter().find(|variant| variant.sku == sku).map(Variant::from))
    }

    /// The variants in display order. Inventory requires their skus to answer `Product.inStock`.
    #[graphql(directive = kit::directives::listSize::apply(Some(20), None, None))]
    async fn variants(&self, ctx: &Context<'_>) -> Result<Vec<Variant>> {
        Ok(self.variant_rows(ctx).await?.into_iter().map(Variant::from).collect())
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

    async fn image_rows(&self, ctx: &Context<'_>) -> Result<Vec<ImageRow>, ApiError> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.images_by_product.load_one(self.id.0.clone()).await?.unwrap_or_default())
    }

    async fn option_rows(&self, ctx: &Context<'_>) -> Result<Vec<OptionRow>, ApiError> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.options_by_product.load_one(self.id.0.clone()).await?.unwrap_or_default())
    }
}

/// A picture of a product or of one of its variants.
#[derive(SimpleObject, Clone)]
pub struct Image {
    /// Where the image is served, absolute.
    pub url: String,
    /// What the image shows, for screen readers and when it cannot load.
    pub alt_text: String,
    /// Its width in pixels.
    pub width: i32,
    /// Its height in pixels.
    pub height: i32,
}

impl Image {
    fn new(base: &MediaBase, row: &ImageRow) -> Self {
        Image { url: format!("{}{}", base.0, row.path), alt_text: row.alt_text.clone(), width: row.width as i32, height: row.height as i32 }
    }
}

/// One axis a product's variants differ on, e.g. Size with S, M and L.
#[derive(SimpleObject, Clone)]
pub struct ProductOption {
    /// The axis, e.g. "Size".
    pub name: String,
    /// The values the product's variants take on it, in display order.
    pub values: Vec<String>,
}

/// A variant's value on one option axis, e.g. Size: M.
#[derive(SimpleObject, Clone)]
pub struct SelectedOption {
    /// The axis, e.g. "Size".
    pub name: String,
    /// The variant's value on it, e.g. "M".
    pub value: String,
}

/// An option value a shopper chose, e.g. Size: M.
#[derive(InputObject, Clone)]
pub struct SelectedOptionInput {
    /// The axis, e.g. "Size".
    pub name: String,
    /// The chosen value, e.g. "M".
    pub value: String,
}

#[derive(Clone)]
pub struct Variant {
    row: VariantRow,
    /// Its product, when the two were read together (a variant looked up by sku).
    product: Option<ProductRow>,
}

impl From<VariantRow> for Variant {
    fn from(row: VariantRow) -> Self {
        Variant { row, product: None }
    }
}

impl From<VariantOfProduct> for Variant {
    fn from(found: VariantOfProduct) -> Self {
        let (row, product) = found.into_rows();
        Variant { row, product: Some(product) }
    }
}

// An entity: inventory adds `stock` and `inStock`; cart and orders reference
// it by sku.
/// One purchasable variant of a product (a size, a colour), identified by its
/// sku.
#[Object]
impl Variant {
    /// The variant's stock-keeping unit, which identifies it across the shop.
    async fn sku(&self) -> ID {
        ID(self.row.sku.clone())
    }

    /// The variant's own name, e.g. a size or a colour, as shown when choosing one.
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// The current catalog price; carts compute their totals from it.
    async fn price(&self) -> Result<Money> {
        Ok(self.row.price().map_err(ApiError::from)?)
    }

    /// The variant's value on each of its product's option axes, in axis order.
    async fn selected_options(&self, ctx: &Context<'_>) -> Result<Vec<SelectedOption>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.options_by_product.load_one(self.row.product_id.clone()).await.map_err(ApiError::from)?.unwrap_or_default();
        Ok(rows.into_iter().filter(|row| row.sku == self.row.sku).map(|row| SelectedOption { name: row.name, value: row.value }).collect())
    }

    /// The variant's own image, or else its product's featured image; null when there is neither.
    async fn image(&self, ctx: &Context<'_>) -> Result<Option<Image>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.images_by_product.load_one(self.row.product_id.clone()).await.map_err(ApiError::from)?.unwrap_or_default();
        let own = rows.iter().find(|row| row.variant_sku.as_deref() == Some(self.row.sku.as_str()));
        Ok(own.or(rows.first()).map(|row| Image::new(ctx.data_unchecked::<MediaBase>(), row)))
    }

    /// The product this variant belongs to.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        if let Some(product) = &self.product {
            return Ok(Product::from(product.clone()));
        }
        let loaders = ctx.data_unchecked::<Loaders>();
        let row = loaders.products_by_id.load_one(self.row.product_id.clone()).await.map_err(ApiError::from)?;
        row.map(Product::from)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("variant {} has no product", self.row.sku)).into())
    }
}

#[derive(Clone)]
pub struct Category(CategoryRow);

/// A section of the catalog that products are filed under. Categories form
/// a tree: a category's products include its sub-categories'.
#[Object]
impl Category {
    /// The category's unique, URL-friendly name; `ProductFilter.categorySlug` takes it.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// The category's name, as shown to shoppers.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How many products the category holds, its sub-categories' included.
    async fn product_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let counts = ctx.data_unchecked::<Loaders>().product_counts().await.map_err(ApiError::from)?;
        Ok(counts.get(&self.0.slug).copied().unwrap_or(0) as i32)
    }

    /// The category it is part of; null at the top of the tree.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(parent) = &self.0.parent_slug else { return Ok(None) };
        Ok(tree(ctx).await?.get(parent).cloned().map(Category))
    }

    /// Its sub-categories, by name.
    #[graphql(directive = kit::directives::listSize::apply(Some(20), None, None))]
    async fn children(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        Ok(tree(ctx).await?.children(&self.0.slug).cloned().map(Category).collect())
    }

    /// The path from the top of the tree down to this category, itself last.
    #[graphql(directive = kit::directives::listSize::apply(Some(5), None, None))]
    async fn breadcrumbs(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        Ok(tree(ctx).await?.breadcrumbs(&self.0.slug).into_iter().cloned().map(Category).collect())
    }
}

async fn tree(ctx: &Context<'_>) -> Result<Arc<catalog::CategoryTree>, ApiError> {
    Ok(ctx.data_unchecked::<Loaders>().tree().await?)
}

/// The lowest and highest prices among a product's variants.
#[derive(SimpleObject, Clone)]
pub struct PriceRange {
    /// The price of the cheapest variant.
    pub min: Money,
    /// The price of the dearest variant.
    pub max: Money,
}

/// Narrows a product list: every filter given must hold.
#[derive(InputObject, Default)]
pub struct ProductFilter {
    /// Only products of the category with this slug or of its sub-categories; blank means every category.
    pub category_slug: Option<String>,
    /// Words to find in the name or description: every word must match, in
    /// any form ("knives" finds "Knife"); the best matches come first.
    pub search: Option<String>,
    /// Only products whose price (their cheapest variant's, as listings show it) is within this range.
    pub price: Option<PriceRangeFilter>,
    /// Only products with a variant that has these option values: any of the
    /// values given for one option, and every option named.
    pub options: Option<Vec<SelectedOptionInput>>,
    /// Only products with a variant in stock (true) or with none (false).
    pub in_stock: Option<bool>,
}

/// A price range in the shop's currency, either end optional and inclusive.
#[derive(InputObject, Default)]
pub struct PriceRangeFilter {
    /// The lowest price, e.g. "25.00".
    pub min: Option<Decimal>,
    /// The highest price, e.g. "100.00".
    pub max: Option<Decimal>,
}

/// One page of a product list, with how many products the list holds in all.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ProductConnection {
    /// How many products match, across all pages.
    pub total_count: i32,
    /// Whether pages come before and after this one, and the cursors to ask for them.
    pub page_info: PageInfo,
    /// The products of this page, in order, each with its cursor.
    pub edges: Vec<ProductEdge>,
    #[graphql(skip)]
    query: ProductQuery,
}

#[ComplexObject]
impl ProductConnection {
    /// How the matching products (all pages) divide by category, option value, price and stock.
    async fn facets(&self, ctx: &Context<'_>) -> Result<ProductFacets> {
        let counts = listing::facet_counts(ctx.data_unchecked::<Db>(), &self.query).await.map_err(ApiError::from)?;
        let tree = tree(ctx).await?;
        let totals = tree.rolled_up(&counts.categories);
        let categories = tree
            .all()
            .filter_map(|row| totals.get(&row.slug).map(|count| CategoryFacet { category: Category(row.clone()), count: *count as i32 }))
            .collect();
        let mut options: Vec<OptionFacet> = Vec::new();
        for (name, value, count) in counts.options {
            let value = OptionValueFacet { value, count: count as i32 };
            match options.iter_mut().find(|option| option.name == name) {
                Some(option) => option.values.push(value),
                None => options.push(OptionFacet { name, values: vec![value] }),
            }
        }
        let usd = |minor: i64| Money::new(minor, CurrencyCode::USD);
        let prices = counts
            .prices
            .into_iter()
            .map(|(bucket, count)| {
                let bucket = bucket as usize;
                PriceBucket {
                    min: usd(if bucket == 0 { 0 } else { PRICE_BUCKETS[bucket - 1] }),
                    max: PRICE_BUCKETS.get(bucket).map(|bound| usd(*bound)),
                    count: count as i32,
                }
            })
            .collect();
        Ok(ProductFacets { categories, options, prices, in_stock: counts.in_stock as i32 })
    }
}

/// Counts of a listing's matching products, for filters a storefront shows beside it.
#[derive(SimpleObject)]
pub struct ProductFacets {
    /// Categories holding matches (a category counts its sub-categories'), by name.
    pub categories: Vec<CategoryFacet>,
    /// Each option axis, with how many matches have a variant of each value.
    pub options: Vec<OptionFacet>,
    /// Matches by their cheapest variant's price; empty buckets are left out.
    pub prices: Vec<PriceBucket>,
    /// How many matches have a variant in stock.
    pub in_stock: i32,
}

/// A category and how many of the matches it holds.
#[derive(SimpleObject)]
pub struct CategoryFacet {
    /// The category.
    pub category: Category,
    /// How many matching products it holds, sub-categories included.
    pub count: i32,
}

/// An option axis and its values among the matches.
#[derive(SimpleObject)]
pub struct OptionFacet {
    /// The axis, e.g. "Size".
    pub name: String,
    /// Its values, each with how many matches have a variant of it.
    pub values: Vec<OptionValueFacet>,
}

/// One option value and how many matches have a variant of it.
#[derive(SimpleObject)]
pub struct OptionValueFacet {
    /// The value, e.g. "M".
    pub value: String,
    /// How many matching products have a variant with it.
    pub count: i32,
}

/// A price range and how many matches' cheapest variant falls in it.
#[derive(SimpleObject)]
pub struct PriceBucket {
    /// The range's lower end, inclusive.
    pub min: Money,
    /// The range's upper end, exclusive; null for the last, open range.
    pub max: Option<Money>,
    /// How many matching products it holds.
    pub count: i32,
}

/// A product in a page of a list, with the cursor that marks its place.
#[derive(SimpleObject)]
pub struct ProductEdge {
    /// An opaque cursor; pass it as `after` (or `before`) to page on from this product, in the same sort.
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
    /// Products, filtered and sorted, a page at a time from either end:
    /// `first` (with `after`) or `last` (with `before`), at most 100. Sorted
    /// by relevance when searching and by name otherwise, unless `sortKey`
    /// says; `direction` defaults to the key's natural one (relevance and
    /// newest descending, name and price ascending). A cursor belongs to its
    /// sort: another sort refuses it.
    #[graphql(directive = kit::directives::listSize::apply(None, Some(vec!["first".into(), "last".into()]), Some(vec!["edges".into()])))]
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ProductFilter>,
        sort_key: Option<ProductSortKey>,
        direction: Option<SortDirection>,
    ) -> Result<ProductConnection> {
        let query = product_query(filter.unwrap_or_default(), sort_key, direction)?;
        let window = PageWindow::parse(&query.cursor_kind(), first, after.as_deref(), last, before.as_deref())?;
        let db = ctx.data_unchecked::<Db>();
        let rows = listing::list_products(db, &query, &window).await?;
        let total = listing::count_products(db, &query).await.map_err(ApiError::from)?;
        let (edges, page_info) = window.finish(&query.cursor_kind(), rows, |row| query.cursor_key(row));
        Ok(ProductConnection {
            total_count: total as i32,
            page_info,
            edges: edges.into_iter().map(|(cursor, row): (String, ListedRow)| ProductEdge { cursor, node: row.product.into() }).collect(),
            query,
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
        Ok(skus.iter().map(|sku| found.get(&sku.0).cloned().map(Variant::from)).collect())
    }

    /// Every category, by name, with how many products it holds; `parent` and `children` give the tree.
    #[graphql(directive = kit::directives::listSize::apply(Some(100), None, None))]
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        Ok(tree(ctx).await?.all().cloned().map(Category).collect())
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
        Ok(loaders.variants_by_sku.load_one(sku.0).await.map_err(ApiError::from)?.map(Variant::from))
    }
}

/// The listing `filter`, `sort_key` and `direction` ask for, validated.
fn product_query(filter: ProductFilter, sort_key: Option<ProductSortKey>, direction: Option<SortDirection>) -> Result<ProductQuery, ApiError> {
    // Only stop words or punctuation ("a", "%%") is a search that matches nothing.
    let search = bounded_text("filter.search", filter.search)?.map(|text| search::query(&text).unwrap_or_default());
    let sort = sort_key.unwrap_or(if search.is_some() { ProductSortKey::Relevance } else { ProductSortKey::Name });
    if sort == ProductSortKey::Relevance && search.is_none() {
        return Err(ApiError::BadUserInput("`sortKey: RELEVANCE` needs `filter.search`".into()));
    }
    let price = filter.price.unwrap_or_default();
    let (price_min, price_max) = (price.min.map(|d| d.0), price.max.map(|d| d.0));
    if price_min.is_some_and(|min| min < 0) || price_max.is_some_and(|max| max < 0) {
        return Err(ApiError::BadUserInput("`filter.price` must not be negative".into()));
    }
    if let (Some(min), Some(max)) = (price_min, price_max)
        && min > max
    {
        return Err(ApiError::BadUserInput("`filter.price.min` must not exceed `filter.price.max`".into()));
    }
    let chosen = filter.options.unwrap_or_default();
    if chosen.len() > MAX_OPTION_FILTERS {
        return Err(ApiError::BadUserInput(format!("`filter.options` takes at most {MAX_OPTION_FILTERS} values")));
    }
    let mut options: Vec<(String, Vec<String>)> = Vec::new();
    for option in chosen {
        let name = bounded_text("filter.options.name", Some(option.name))?.ok_or_else(|| ApiError::BadUserInput("`filter.options.name` is blank".into()))?;
        let value = bounded_text("filter.options.value", Some(option.value))?.ok_or_else(|| ApiError::BadUserInput("`filter.options.value` is blank".into()))?;
        match options.iter_mut().find(|(known, _)| *known == name) {
            Some((_, values)) => values.push(value),
            None => options.push((name, vec![value])),
        }
    }
    Ok(ProductQuery {
        search,
        category_slug: bounded_text("filter.categorySlug", filter.category_slug)?,
        price_min,
        price_max,
        options,
        in_stock: filter.in_stock,
        sort,
        direction: direction.unwrap_or(sort.natural_direction()),
    })
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
                Ok(VariantPayload { variant: Some(Variant::from(row)), user_errors: vec![] })
            }
            None => Ok(VariantPayload::failed(UserError::new("UNKNOWN_SKU", "sku", format!("no variant has sku {}", sku.0)))),
        }
    }
}
