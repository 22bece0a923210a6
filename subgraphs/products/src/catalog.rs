//! Catalog queries. Every cross-entity load goes through a batch loader, so a
//! page of N products costs a constant number of statements, not N.

use events::contracts::VariantPriceChanged;
use events::{Envelope, Trace, record};
use kit::db::{Batches, Db, ManyByKey, OneByKey, many_by_key, one_by_key};
use kit::money::Money;
use sqlx::Row;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub category_slug: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VariantRow {
    pub sku: String,
    pub product_id: String,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
}

impl VariantRow {
    pub fn price(&self) -> anyhow::Result<Money> {
        Money::from_stored(self.price_minor, &self.currency)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CategoryRow {
    pub slug: String,
    pub name: String,
    pub product_count: i64,
}

const PRODUCT_COLUMNS: &str = "id, slug, name, description, category_slug";
const VARIANT_COLUMNS: &str = "sku, product_id, name, price_minor, currency";
const CATEGORY_WITH_COUNT: &str = "SELECT c.slug, c.name, COUNT(p.id) AS product_count \
     FROM categories c LEFT JOIN products p ON p.category_slug = c.slug";

/// The batch loaders, shared by all requests (they batch, they do not cache:
/// a price must never be served stale).
pub struct Loaders {
    pub products_by_id: OneByKey<ProductRow>,
    pub products_by_slug: OneByKey<ProductRow>,
    pub variants_by_sku: OneByKey<VariantRow>,
    pub variants_by_product: ManyByKey<VariantRow>,
    pub categories_by_slug: OneByKey<CategoryRow>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches) -> Self {
        Loaders {
            products_by_id: one_by_key(db, batches, format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({{keys}})"), |row: &ProductRow| &row.id),
            products_by_slug: one_by_key(db, batches, format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE slug IN ({{keys}})"), |row: &ProductRow| &row.slug),
            variants_by_sku: one_by_key(db, batches, format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE sku IN ({{keys}})"), |row: &VariantRow| &row.sku),
            variants_by_product: many_by_key(db, batches,
                format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE product_id IN ({{keys}}) ORDER BY product_id, position"),
                |row: &VariantRow| &row.product_id,
            ),
            categories_by_slug: one_by_key(db, batches,
                format!("{CATEGORY_WITH_COUNT} WHERE c.slug IN ({{keys}}) GROUP BY c.slug, c.name"),
                |row: &CategoryRow| &row.slug,
            ),
        }
    }
}

/// What the storefront filters a product list by, already validated.
pub struct ProductQuery {
    pub category_slug: Option<String>,
    /// Lower-case text to find in name or description.
    pub search: Option<String>,
    pub after_slug: Option<String>,
    pub limit: i64,
}

/// One page of products in slug order, and how many match in all.
#[tracing::instrument(skip(db, query))]
pub async fn list_products(db: &Db, query: &ProductQuery) -> Result<(Vec<ProductRow>, i64), sqlx::Error> {
    let mut conditions = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    if let Some(category) = &query.category_slug {
        binds.push(category.clone());
        conditions.push(format!("category_slug = ${}", binds.len()));
    }
    if let Some(search) = &query.search {
        binds.push(format!("%{}%", escape_like(search)));
        conditions.push(format!("search_text LIKE ${} ESCAPE '\\'", binds.len()));
    }
    let filter = if conditions.is_empty() { "1 = 1".to_string() } else { conditions.join(" AND ") };

    let count_sql = format!("SELECT COUNT(*) FROM products WHERE {filter}");
    let mut count = sqlx::query(&count_sql);
    for bind in &binds {
        count = count.bind(bind);
    }
    let total: i64 = count.fetch_one(db).await?.try_get(0)?;

    let mut page_filter = filter;
    let mut page_binds = binds;
    if let Some(after) = &query.after_slug {
        page_binds.push(after.clone());
        page_filter.push_str(&format!(" AND slug > ${}", page_binds.len()));
    }
    let page_sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE {page_filter} ORDER BY slug LIMIT {}",
        query.limit
    );
    let mut page = sqlx::query_as::<_, ProductRow>(&page_sql);
    for bind in &page_binds {
        page = page.bind(bind);
    }
    Ok((page.fetch_all(db).await?, total))
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[tracing::instrument(skip(db))]
pub async fn list_categories(db: &Db) -> Result<Vec<CategoryRow>, sqlx::Error> {
    sqlx::query_as(&format!("{CATEGORY_WITH_COUNT} GROUP BY c.slug, c.name ORDER BY c.name"))
        .fetch_all(db)
        .await
}

/// Sets a variant's price and records VariantPriceChanged in the same
/// transaction; None when the sku is unknown.
#[tracing::instrument(skip(db))]
pub async fn set_variant_price(db: &Db, sku: &str, price: Money, trace: &Trace) -> Result<Option<VariantRow>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let row: Option<VariantRow> = sqlx::query_as(&format!(
        "UPDATE variants SET price_minor = $1, currency = $2, updated_at = $3 WHERE sku = $4 RETURNING {VARIANT_COLUMNS}"
    ))
    .bind(price.minor_units)
    .bind(price.currency.as_str())
    .bind(kit::db::now())
    .bind(sku)
    .fetch_optional(&mut *tx)
    .await?;
    if row.is_some() {
        let changed = VariantPriceChanged { sku: sku.to_string(), price_minor: price.minor_units, currency: price.currency.as_str().into() };
        record(&mut *tx, &Envelope::new(crate::NAME, trace, &changed)).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// A product to add to the catalog (the seed command's input).
pub struct NewProduct {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub category_slug: String,
    pub category_name: String,
    pub variants: Vec<NewVariant>,
}

pub struct NewVariant {
    pub sku: String,
    pub name: String,
    pub price: Money,
}

/// Inserts products (and their categories) in one transaction; products whose
/// slug exists already are left as they are, so seeding twice changes nothing.
pub async fn insert_catalog(db: &Db, products: &[NewProduct]) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let mut inserted = 0;
    let now = kit::db::now();
    for product in products {
        sqlx::query("INSERT INTO categories (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING")
            .bind(&product.category_slug)
            .bind(&product.category_name)
            .execute(&mut *tx)
            .await?;
        let id = &product.id;
        let search_text = format!("{} {}", product.name, product.description).to_lowercase();
        let result = sqlx::query(
            "INSERT INTO products (id, slug, name, description, category_slug, search_text, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(id)
        .bind(&product.slug)
        .bind(&product.name)
        .bind(&product.description)
        .bind(&product.category_slug)
        .bind(&search_text)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            continue;
        }
        inserted += 1;
        for (position, variant) in product.variants.iter().enumerate() {
            sqlx::query(
                "INSERT INTO variants (sku, product_id, name, price_minor, currency, position, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&variant.sku)
            .bind(id)
            .bind(&variant.name)
            .bind(variant.price.minor_units)
            .bind(variant.price.currency.as_str())
            .bind(position as i64)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(inserted)
}
