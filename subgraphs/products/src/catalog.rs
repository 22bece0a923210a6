//! Catalog queries. Every cross-entity load goes through a batch loader, so a
//! page of N products costs a constant number of statements, not N.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::contracts::{StockLevelChanged, VariantPriceChanged};
use events::{Envelope, Trace, record};
use kit::db::{Arg, Batches, Db, ManyByKey, OneByKey, insert_rows, many_by_key, one_by_key};
use kit::money::Money;
use sqlx::AnyConnection;
use tokio::sync::OnceCell;

use crate::search;

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

/// A variant looked up by sku, with its product: what a cart's or an
/// order's line asks of both comes from one read.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VariantOfProduct {
    #[sqlx(flatten)]
    pub variant: VariantRow,
    product_slug: String,
    product_name: String,
    product_description: String,
    product_category_slug: String,
}

impl VariantOfProduct {
    /// The variant and its product, as the rows they were read from.
    pub fn into_rows(self) -> (VariantRow, ProductRow) {
        let product = ProductRow {
            id: self.variant.product_id.clone(),
            slug: self.product_slug,
            name: self.product_name,
            description: self.product_description,
            category_slug: self.product_category_slug,
        };
        (self.variant, product)
    }
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
    pub parent_slug: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ImageRow {
    pub product_id: String,
    pub path: String,
    pub alt_text: String,
    pub width: i64,
    pub height: i64,
    pub variant_sku: Option<String>,
}

/// One variant's value on one option axis, with the product it belongs to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OptionRow {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub value: String,
}

pub(crate) const PRODUCT_COLUMNS: &str = "id, slug, name, description, category_slug";
const VARIANT_COLUMNS: &str = "sku, product_id, name, price_minor, currency";

/// The category tree: each category, its parent and children, and how many
/// products it holds with its sub-categories'.
pub struct CategoryTree {
    by_slug: HashMap<String, CategoryRow>,
    children: HashMap<String, Vec<String>>,
    /// Categories in name order.
    order: Vec<String>,
}

impl CategoryTree {
    pub fn new(rows: Vec<CategoryRow>) -> Self {
        let order: Vec<String> = rows.iter().map(|row| row.slug.clone()).collect();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for row in &rows {
            if let Some(parent) = &row.parent_slug {
                children.entry(parent.clone()).or_default().push(row.slug.clone());
            }
        }
        CategoryTree { by_slug: rows.into_iter().map(|row| (row.slug.clone(), row)).collect(), children, order }
    }

    pub fn get(&self, slug: &str) -> Option<&CategoryRow> {
        self.by_slug.get(slug)
    }

    pub fn all(&self) -> impl Iterator<Item = &CategoryRow> {
        self.order.iter().filter_map(|slug| self.by_slug.get(slug))
    }

    pub fn children(&self, slug: &str) -> impl Iterator<Item = &CategoryRow> {
        self.children.get(slug).into_iter().flatten().filter_map(|child| self.by_slug.get(child))
    }

    /// From the root down to `slug`, itself included.
    pub fn breadcrumbs(&self, slug: &str) -> Vec<&CategoryRow> {
        let mut path = Vec::new();
        let mut at = self.by_slug.get(slug);
        while let Some(category) = at {
            // A cycle in the data must not hang a request.
            if path.len() > self.by_slug.len() {
                break;
            }
            path.push(category);
            at = category.parent_slug.as_ref().and_then(|parent| self.by_slug.get(parent));
        }
        path.reverse();
        path
    }

    /// `counts` (by the category products are filed under) summed up the tree.
    pub fn rolled_up(&self, counts: &[(String, i64)]) -> HashMap<String, i64> {
        let mut totals = HashMap::new();
        for (slug, count) in counts {
            for category in self.breadcrumbs(slug) {
                *totals.entry(category.slug.clone()).or_default() += count;
            }
        }
        totals
    }
}

/// The category tree as the process last read it, shared by the requests of
/// the next second: every listing and product page reads it, and only
/// seeding writes categories, so a seed shows within a second.
#[derive(Clone, Default)]
pub struct Categories(Arc<Mutex<Option<(Instant, Arc<CategoryTree>)>>>);

/// How long a read of the category tree serves later requests.
const CATEGORIES_FRESH_FOR: Duration = Duration::from_secs(1);

impl Categories {
    async fn tree(&self, db: &Db) -> Result<Arc<CategoryTree>, sqlx::Error> {
        if let Some((read_at, tree)) = &*self.0.lock().expect("no panics under this lock")
            && read_at.elapsed() < CATEGORIES_FRESH_FOR
        {
            return Ok(tree.clone());
        }
        let tree = Arc::new(CategoryTree::new(list_categories(db).await?));
        *self.0.lock().expect("no panics under this lock") = Some((Instant::now(), tree.clone()));
        Ok(tree)
    }
}

/// The batch loaders of one request (they batch, they do not cache across
/// requests: a price must never be served stale), and the category tree.
pub struct Loaders {
    db: Db,
    categories: Categories,
    pub products_by_id: OneByKey<ProductRow>,
    pub products_by_slug: OneByKey<ProductRow>,
    pub variants_by_sku: OneByKey<VariantOfProduct>,
    pub variants_by_product: ManyByKey<VariantRow>,
    pub images_by_product: ManyByKey<ImageRow>,
    pub options_by_product: ManyByKey<OptionRow>,
    tree: OnceCell<Arc<CategoryTree>>,
    product_counts: OnceCell<Arc<HashMap<String, i64>>>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches, categories: &Categories) -> Self {
        Loaders {
            db: db.clone(),
            categories: categories.clone(),
            products_by_id: one_by_key(db, batches, format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({{keys}})"), |row: &ProductRow| &row.id),
            products_by_slug: one_by_key(db, batches, format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE slug IN ({{keys}})"), |row: &ProductRow| &row.slug),
            variants_by_sku: one_by_key(db, batches,
                "SELECT v.sku, v.product_id, v.name, v.price_minor, v.currency, p.slug AS product_slug, p.name AS product_name, \
                 p.description AS product_description, p.category_slug AS product_category_slug \
                 FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku IN ({keys})",
                |row: &VariantOfProduct| &row.variant.sku,
            ),
            variants_by_product: many_by_key(db, batches,
                format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE product_id IN ({{keys}}) ORDER BY product_id, position"),
                |row: &VariantRow| &row.product_id,
            ),
            images_by_product: many_by_key(db, batches,
                "SELECT product_id, path, alt_text, width, height, variant_sku FROM product_images WHERE product_id IN ({keys}) ORDER BY product_id, position",
                |row: &ImageRow| &row.product_id,
            ),
            options_by_product: many_by_key(db, batches,
                "SELECT v.product_id, o.sku, o.name, o.value FROM variant_options o JOIN variants v ON v.sku = o.sku \
                 WHERE v.product_id IN ({keys}) ORDER BY v.product_id, v.position, o.position",
                |row: &OptionRow| &row.product_id,
            ),
            tree: OnceCell::new(),
            product_counts: OnceCell::new(),
        }
    }

    /// The category tree, the same throughout a request.
    pub async fn tree(&self) -> Result<Arc<CategoryTree>, sqlx::Error> {
        Ok(self.tree.get_or_try_init(|| self.categories.tree(&self.db)).await?.clone())
    }

    /// How many products each category holds, its sub-categories' included;
    /// counted once per request, and only when asked (a product page is not).
    pub async fn product_counts(&self) -> Result<Arc<HashMap<String, i64>>, sqlx::Error> {
        let counts = self
            .product_counts
            .get_or_try_init(|| async {
                let filed: Vec<(String, i64)> =
                    sqlx::query_as("SELECT category_slug, COUNT(*) FROM products GROUP BY category_slug").fetch_all(&self.db).await?;
                Ok::<_, sqlx::Error>(Arc::new(self.tree().await?.rolled_up(&filed)))
            })
            .await?;
        Ok(counts.clone())
    }
}

/// Every category, one statement: the tree is small (see `Categories`).
#[tracing::instrument(skip(db))]
pub async fn list_categories(db: &Db) -> Result<Vec<CategoryRow>, sqlx::Error> {
    sqlx::query_as("SELECT slug, name, parent_slug FROM categories ORDER BY name").fetch_all(db).await
}

/// Keeps inventory's newest available count of a sku (StockLevelChanged):
/// an older version delivered late changes nothing.
pub async fn record_stock_level(tx: &mut AnyConnection, level: &StockLevelChanged) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock_availability (sku, available, version, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sku) DO UPDATE SET available = excluded.available, version = excluded.version, updated_at = excluded.updated_at \
         WHERE stock_availability.version < excluded.version",
    )
    .bind(&level.sku)
    .bind(level.available)
    .bind(level.version)
    .bind(kit::db::now())
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("UPDATE products SET available_variants = ({AVAILABLE_VARIANTS}) WHERE id = (SELECT product_id FROM variants WHERE sku = $1)"))
        .bind(&level.sku)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// How many of the product's variants are in stock, per the read model.
const AVAILABLE_VARIANTS: &str =
    "SELECT COUNT(*) FROM variants v JOIN stock_availability a ON a.sku = v.sku WHERE v.product_id = products.id AND a.available > 0";

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
    if let Some(variant) = &row {
        sqlx::query("UPDATE products SET min_price_minor = (SELECT MIN(price_minor) FROM variants WHERE product_id = $1) WHERE id = $1")
            .bind(&variant.product_id)
            .execute(&mut *tx)
            .await?;
        let changed = VariantPriceChanged { sku: sku.to_string(), price_minor: price.minor_units, currency: price.currency.as_str().into() };
        record(&mut *tx, &Envelope::new(crate::NAME, trace, &changed)).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// A category to add to the catalog, under its parent (listed before it).
pub struct NewCategory {
    pub slug: String,
    pub name: String,
    pub parent_slug: Option<String>,
}

/// A product to add to the catalog (the seed command's input).
pub struct NewProduct {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub category_slug: String,
    /// When it was added, as kit::db::now() writes it: the newest sort reads it.
    pub created_at: String,
    pub variants: Vec<NewVariant>,
    /// In display order; the first is featured.
    pub images: Vec<NewImage>,
}

pub struct NewVariant {
    pub sku: String,
    pub name: String,
    pub price: Money,
    /// (option name, value), in the product's axis order.
    pub options: Vec<(String, String)>,
}

pub struct NewImage {
    /// Relative to MEDIA_BASE_URL.
    pub path: String,
    pub alt_text: String,
    pub width: i64,
    pub height: i64,
    /// The variant it shows, when it shows one.
    pub variant_sku: Option<String>,
}

/// Inserts categories and products in one transaction, many rows to a
/// statement; what exists already (by key) is left as it is, so seeding
/// twice changes nothing. Answers how many products were added.
pub async fn insert_catalog(db: &Db, categories: &[NewCategory], products: &[NewProduct]) -> anyhow::Result<u64> {
    let text = |value: &str| Arg::Text(value.to_string());
    let mut tx = db.begin().await?;
    let rows: Vec<Vec<Arg>> = categories.iter().map(|c| vec![text(&c.slug), text(&c.name), Arg::OptionalText(c.parent_slug.clone())]).collect();
    insert_rows(&mut tx, "INSERT INTO categories (slug, name, parent_slug)", "ON CONFLICT DO NOTHING", &rows).await?;
    let rows: Vec<Vec<Arg>> = products
        .iter()
        .map(|p| {
            let min_price = p.variants.iter().map(|variant| variant.price.minor_units).min().unwrap_or(0);
            let (name_terms, description_terms) = (search::indexed(&p.name), search::indexed(&p.description));
            vec![text(&p.id), text(&p.slug), text(&p.name), text(&p.description), text(&p.category_slug), text(&name_terms), text(&description_terms), Arg::Int(min_price), text(&p.created_at)]
        })
        .collect();
    let inserted = insert_rows(
        &mut tx,
        "INSERT INTO products (id, slug, name, description, category_slug, name_terms, description_terms, min_price_minor, created_at)",
        "ON CONFLICT DO NOTHING",
        &rows,
    )
    .await?;
    let variants = products.iter().flat_map(|p| p.variants.iter().enumerate().map(move |(position, v)| (p, position, v)));
    let rows: Vec<Vec<Arg>> = variants
        .clone()
        .map(|(p, position, v)| vec![text(&v.sku), text(&p.id), text(&v.name), Arg::Int(v.price.minor_units), text(v.price.currency.as_str()), Arg::Int(position as i64), text(&p.created_at)])
        .collect();
    insert_rows(&mut tx, "INSERT INTO variants (sku, product_id, name, price_minor, currency, position, updated_at)", "ON CONFLICT DO NOTHING", &rows).await?;
    let rows: Vec<Vec<Arg>> = variants
        .flat_map(|(_, _, v)| v.options.iter().enumerate().map(move |(position, (name, value))| vec![text(&v.sku), Arg::Int(position as i64), text(name), text(value)]))
        .collect();
    insert_rows(&mut tx, "INSERT INTO variant_options (sku, position, name, value)", "ON CONFLICT DO NOTHING", &rows).await?;
    let rows: Vec<Vec<Arg>> = products
        .iter()
        .flat_map(|p| {
            p.images.iter().enumerate().map(move |(position, image)| {
                vec![text(&p.id), Arg::Int(position as i64), text(&image.path), text(&image.alt_text), Arg::Int(image.width), Arg::Int(image.height), Arg::OptionalText(image.variant_sku.clone())]
            })
        })
        .collect();
    insert_rows(&mut tx, "INSERT INTO product_images (product_id, position, path, alt_text, width, height, variant_sku)", "ON CONFLICT DO NOTHING", &rows).await?;
    sqlx::query(
        "INSERT INTO product_option_values (product_id, name, value) \
         SELECT DISTINCT v.product_id, o.name, o.value FROM variant_options o JOIN variants v ON v.sku = o.sku ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inserted)
}

/// Sets the availability read model directly (the seed loads inventory and
/// this copy of it together; StockLevelChanged keeps it after).
pub async fn set_availability(db: &Db, stock: &[(String, i64)]) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let now = kit::db::now();
    let rows: Vec<Vec<Arg>> = stock.iter().map(|(sku, available)| vec![Arg::Text(sku.clone()), Arg::Int(*available), Arg::Int(0), Arg::Text(now.clone())]).collect();
    insert_rows(&mut tx, "INSERT INTO stock_availability (sku, available, version, updated_at)", "ON CONFLICT DO NOTHING", &rows).await?;
    // One pass over the new rows (a correlated subquery per product is slow on
    // tables PostgreSQL has no statistics for yet).
    sqlx::query(
        "UPDATE products SET available_variants = counted.n FROM \
         (SELECT v.product_id, COUNT(*) AS n FROM variants v JOIN stock_availability a ON a.sku = v.sku WHERE a.available > 0 GROUP BY v.product_id) counted \
         WHERE counted.product_id = products.id",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Fresh statistics, so the first listings are planned for the catalog's real size.
    sqlx::query("ANALYZE").execute(db).await?;
    Ok(())
}
