//! Order queries.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use kit::db::{Db, fetch_by_keys, loader};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub cart_id: String,
    pub status: String,
    pub total_minor: i64,
    pub currency: String,
    pub payment_token: Option<String>,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
}

const ORDER_COLUMNS: &str = "id, number, customer_id, cart_id, status, total_minor, currency, payment_token, correlation_id, traceparent";

pub async fn find_order(db: &Db, id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1")).bind(id).fetch_optional(db).await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LineRow {
    pub order_id: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TimelineRow {
    pub order_id: String,
    pub status: String,
    pub at: String,
    pub reason: Option<String>,
}

pub struct OrdersById(Db);
pub struct LinesByOrder(Db);
pub struct TimelineByOrder(Db);

type LoadResult<V> = Result<HashMap<String, V>, Arc<sqlx::Error>>;

impl Loader<String> for OrdersById {
    type Value = OrderRow;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, ids: &[String]) -> LoadResult<OrderRow> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id IN ({{keys}})");
        let rows: Vec<OrderRow> = fetch_by_keys(&self.0, &sql, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
    }
}

impl Loader<String> for LinesByOrder {
    type Value = Vec<LineRow>;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, order_ids: &[String]) -> LoadResult<Vec<LineRow>> {
        let sql = "SELECT order_id, sku, quantity, unit_price_minor, currency FROM order_lines \
                   WHERE order_id IN ({keys}) ORDER BY order_id, position";
        Ok(group_by_order(fetch_by_keys(&self.0, sql, order_ids).await?, |row: &LineRow| &row.order_id))
    }
}

impl Loader<String> for TimelineByOrder {
    type Value = Vec<TimelineRow>;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, order_ids: &[String]) -> LoadResult<Vec<TimelineRow>> {
        let sql = "SELECT order_id, status, at, reason FROM order_timeline \
                   WHERE order_id IN ({keys}) ORDER BY order_id, position";
        Ok(group_by_order(fetch_by_keys(&self.0, sql, order_ids).await?, |row: &TimelineRow| &row.order_id))
    }
}

fn group_by_order<T>(rows: Vec<T>, order_id: impl Fn(&T) -> &String) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        grouped.entry(order_id(&row).clone()).or_default().push(row);
    }
    grouped
}

pub struct Loaders {
    pub orders_by_id: DataLoader<OrdersById>,
    pub lines_by_order: DataLoader<LinesByOrder>,
    pub timeline_by_order: DataLoader<TimelineByOrder>,
}

impl Loaders {
    pub fn new(db: Db) -> Self {
        Loaders {
            orders_by_id: loader(OrdersById(db.clone())),
            lines_by_order: loader(LinesByOrder(db.clone())),
            timeline_by_order: loader(TimelineByOrder(db)),
        }
    }
}

/// One page of a customer's orders, newest first, and how many there are.
#[tracing::instrument(skip(db))]
pub async fn orders_of(
    db: &Db,
    customer_id: &str,
    after_id: Option<&str>,
    limit: i64,
) -> Result<(Vec<OrderRow>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(db)
        .await?;
    let after_clause = if after_id.is_some() { "AND id < $2" } else { "" };
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 {after_clause} ORDER BY id DESC LIMIT {limit}"
    );
    let mut query = sqlx::query_as(&sql).bind(customer_id);
    if let Some(after_id) = after_id {
        query = query.bind(after_id);
    }
    Ok((query.fetch_all(db).await?, total))
}
