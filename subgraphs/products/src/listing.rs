//! Product listings: search, filters, sorting, pages from either end, and
//! facets. One listing is a handful of statements whatever its page size:
//! its total, its page, and each facet asked for, all over one `matched`
//! set written once here.

use kit::db::{Arg, Db, query_as_with, query_with};
use kit::error::ApiError;
use kit::page::PageWindow;
use sqlx::Row;
use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};

use crate::catalog::{PRODUCT_COLUMNS, ProductRow};

/// What a listing is ordered by.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductSortKey {
    /// Best match first; only with a search.
    Relevance,
    /// By name, A to Z.
    Name,
    /// By the cheapest variant's price, lowest first.
    Price,
    /// Most recently added first.
    Newest,
}

impl ProductSortKey {
    /// The column of `matched` that orders it.
    fn column(self) -> &'static str {
        match self {
            ProductSortKey::Relevance => "score",
            ProductSortKey::Name => "name",
            ProductSortKey::Price => "min_price_minor",
            ProductSortKey::Newest => "created_at",
        }
    }

    /// Which way it runs unless asked otherwise.
    pub fn natural_direction(self) -> SortDirection {
        match self {
            ProductSortKey::Relevance | ProductSortKey::Newest => SortDirection::Desc,
            ProductSortKey::Name | ProductSortKey::Price => SortDirection::Asc,
        }
    }
}

/// Ascending or descending.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// A listing's question, already validated.
#[derive(Clone, Debug)]
pub struct ProductQuery {
    /// Stems to match all of (search::query); none matches nothing.
    pub search: Option<Vec<String>>,
    /// A category and everything under it.
    pub category_slug: Option<String>,
    /// The product's price (its cheapest variant's) within, in minor units.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// Option values by option name: some variant has one of the values of each.
    pub options: Vec<(String, Vec<String>)>,
    /// Some variant is (or none is) available, per the availability read model.
    pub in_stock: Option<bool>,
    pub sort: ProductSortKey,
    pub direction: SortDirection,
}

/// A product of a listing, with what it is sorted by.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ListedRow {
    #[sqlx(flatten)]
    pub product: ProductRow,
    pub min_price_minor: i64,
    pub created_at: String,
    pub score: f64,
}

/// SQL text and its parameters, numbered as they are added.
#[derive(Default)]
struct Statement {
    sql: String,
    binds: Vec<Arg>,
}

impl Statement {
    /// Adds a parameter; answers its placeholder.
    fn bind(&mut self, value: Arg) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn query(&self) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        query_with(&self.sql, &self.binds)
    }

    fn query_as<R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>>(&self) -> QueryAs<'_, sqlx::Any, R, AnyArguments<'_>> {
        query_as_with(&self.sql, &self.binds)
    }
}

impl ProductQuery {
    /// A statement that starts with the `matched` set (the products that
    /// pass the search and every filter, each with its relevance `score`).
    fn matched(&self, postgres: bool) -> Statement {
        let mut statement = Statement::default();
        let mut conditions = Vec::new();
        let mut ctes = Vec::new();
        if let Some(slug) = &self.category_slug {
            let slug = statement.bind(Arg::Text(slug.clone()));
            ctes.push(format!(
                "tree (slug) AS (SELECT slug FROM categories WHERE slug = {slug} \
                 UNION ALL SELECT c.slug FROM categories c JOIN tree t ON c.parent_slug = t.slug)"
            ));
            conditions.push("p.category_slug IN (SELECT slug FROM tree)".to_string());
        }
        if let Some(min) = self.price_min {
            conditions.push(format!("p.min_price_minor >= {}", statement.bind(Arg::Int(min))));
        }
        if let Some(max) = self.price_max {
            conditions.push(format!("p.min_price_minor <= {}", statement.bind(Arg::Int(max))));
        }
        match self.in_stock {
            Some(true) => conditions.push("p.available_variants > 0".to_string()),
            Some(false) => conditions.push("p.available_variants = 0".to_string()),
            None => {}
        }
        let mut variant_conditions = Vec::new();
        for (name, values) in &self.options {
            let name = statement.bind(Arg::Text(name.clone()));
            let values: Vec<String> = values.iter().map(|value| statement.bind(Arg::Text(value.clone()))).collect();
            variant_conditions.push(format!(
                "EXISTS (SELECT 1 FROM variant_options o WHERE o.sku = v.sku AND o.name = {name} AND o.value IN ({}))",
                values.join(", ")
            ));
        }
        // One variant must have every option chosen (Size M in Red, not M in
        // Blue beside L in Red), and be in stock when in-stock is asked for.
        if !variant_conditions.is_empty() {
            if self.in_stock == Some(true) {
                variant_conditions.push(IN_STOCK.to_string());
            }
            conditions.push(format!("EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND {})", variant_conditions.join(" AND ")));
        }
        let columns = format!("p.{}, p.min_price_minor, p.created_at, p.available_variants", PRODUCT_COLUMNS.replace(", ", ", p."));
        let from = match (&self.search, postgres) {
            (Some(stems), _) if stems.is_empty() => {
                conditions.push("1 = 0".to_string());
                format!("SELECT {columns}, CAST(0 AS DOUBLE PRECISION) AS score FROM products p")
            }
            (Some(stems), true) => {
                let query = statement.bind(Arg::Text(stems.join(" & ")));
                conditions.push(format!("p.search_document @@ to_tsquery('simple', {query})"));
                format!("SELECT {columns}, CAST(ts_rank(p.search_document, to_tsquery('simple', {query})) AS DOUBLE PRECISION) AS score FROM products p")
            }
            (Some(stems), false) => {
                let phrase: Vec<String> = stems.iter().map(|stem| format!("\"{stem}\"")).collect();
                let query = statement.bind(Arg::Text(phrase.join(" ")));
                conditions.push(format!("products_search MATCH {query}"));
                // bm25 is lower for a better match; names weigh ten times descriptions.
                format!("SELECT {columns}, -bm25(products_search, 10.0, 1.0) AS score FROM products_search JOIN products p ON p.rowid = products_search.rowid")
            }
            (None, _) => format!("SELECT {columns}, CAST(0 AS DOUBLE PRECISION) AS score FROM products p"),
        };
        let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        ctes.push(format!("matched AS ({from}{filter})"));
        statement.sql = format!("WITH RECURSIVE {} ", ctes.join(", "));
        statement
    }

    /// The cursor kind of this sort: a cursor of another sort is refused.
    pub fn cursor_kind(&self) -> String {
        format!("product-{:?}-{:?}", self.sort, self.direction).to_lowercase()
    }

    /// A row's place in this sort, as its cursor holds it.
    pub fn cursor_key(&self, row: &ListedRow) -> String {
        let value = match self.sort {
            ProductSortKey::Relevance => row.score.to_string(),
            ProductSortKey::Name => row.product.name.clone(),
            ProductSortKey::Price => row.min_price_minor.to_string(),
            ProductSortKey::Newest => row.created_at.clone(),
        };
        format!("{}|{value}", row.product.slug)
    }

    /// The sort value a cursor key holds, typed for binding.
    fn cursor_value(&self, value: &str) -> Option<Arg> {
        Some(match self.sort {
            ProductSortKey::Relevance => Arg::Float(value.parse().ok().filter(|score: &f64| score.is_finite())?),
            ProductSortKey::Price => Arg::Int(value.parse().ok()?),
            ProductSortKey::Name | ProductSortKey::Newest => Arg::Text(value.to_string()),
        })
    }
}

/// A variant `v` with stock, as the availability read model has it.
const IN_STOCK: &str = "EXISTS (SELECT 1 FROM stock_availability a WHERE a.sku = v.sku AND a.available > 0)";

/// How many products match in all.
#[tracing::instrument(skip_all)]
pub async fn count_products(db: &Db, query: &ProductQuery) -> Result<i64, sqlx::Error> {
    let mut statement = query.matched(db.is_postgres());
    statement.sql.push_str("SELECT COUNT(*) FROM matched");
    statement.query().fetch_one(db).await?.try_get(0)
}

/// One page of a listing, as `window` asks, walking away from its cursor.
#[tracing::instrument(skip_all)]
pub async fn list_products(db: &Db, query: &ProductQuery, window: &PageWindow) -> Result<Vec<ListedRow>, ApiError> {
    let mut statement = query.matched(db.is_postgres());
    // Backward pages are fetched in reverse and turned round by PageWindow::finish.
    let descending = (query.direction == SortDirection::Desc) != window.backward;
    let (order, beyond) = if descending { ("DESC", "<") } else { ("ASC", ">") };
    let column = query.sort.column();
    let mut filter = String::new();
    if let Some(key) = &window.cursor {
        let invalid = || ApiError::BadUserInput(format!("the cursor is not a valid {} cursor", query.cursor_kind()));
        let (slug, value) = key.split_once('|').ok_or_else(invalid)?;
        let value = query.cursor_value(value).ok_or_else(invalid)?;
        let (value, slug) = (statement.bind(value), statement.bind(Arg::Text(slug.to_string())));
        // Row values compare the sort column, then the slug that breaks ties.
        filter = format!(" WHERE ({column}, slug) {beyond} ({value}, {slug})");
    }
    statement.sql.push_str(&format!(
        "SELECT * FROM matched{filter} ORDER BY {column} {order}, slug {order} LIMIT {}",
        window.fetch_limit()
    ));
    Ok(statement.query_as::<ListedRow>().fetch_all(db).await?)
}

/// Upper bounds of the price buckets, in minor units; the last bucket is open.
pub const PRICE_BUCKETS: &[i64] = &[2_500, 5_000, 10_000, 20_000, 50_000];

/// Counts of the listing's products by category, option value, price bucket
/// and availability: four statements.
#[derive(Debug, Default)]
pub struct FacetCounts {
    /// (category slug, products filed directly under it)
    pub categories: Vec<(String, i64)>,
    /// (option name, value, products with a variant of that value)
    pub options: Vec<(String, String, i64)>,
    /// (bucket index into PRICE_BUCKETS, or its length for the open one; products whose cheapest variant falls in it)
    pub prices: Vec<(i64, i64)>,
    pub in_stock: i64,
}

#[tracing::instrument(skip_all)]
pub async fn facet_counts(db: &Db, query: &ProductQuery) -> Result<FacetCounts, sqlx::Error> {
    let postgres = db.is_postgres();
    let run = |tail: String| {
        let mut statement = query.matched(postgres);
        statement.sql.push_str(&tail);
        statement
    };
    let categories = run("SELECT category_slug, COUNT(*) FROM matched GROUP BY category_slug".into());
    let options = run("SELECT o.name, o.value, COUNT(*) FROM matched m JOIN product_option_values o ON o.product_id = m.id \
         GROUP BY o.name, o.value ORDER BY o.name, o.value"
        .into());
    let cases: String = PRICE_BUCKETS.iter().enumerate().map(|(index, bound)| format!("WHEN min_price_minor < {bound} THEN {index} ")).collect();
    let prices = run(format!(
        "SELECT bucket, COUNT(*) FROM (SELECT CASE {cases}ELSE {} END AS bucket FROM matched) b GROUP BY bucket ORDER BY bucket",
        PRICE_BUCKETS.len()
    ));
    let in_stock = run("SELECT COUNT(*) FROM matched WHERE available_variants > 0".into());
    Ok(FacetCounts {
        categories: categories.query_as().fetch_all(db).await?,
        options: options.query_as().fetch_all(db).await?,
        prices: prices.query_as().fetch_all(db).await?,
        in_stock: in_stock.query().fetch_one(db).await?.try_get(0)?,
    })
}
