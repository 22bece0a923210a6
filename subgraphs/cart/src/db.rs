//! Cart queries. Every edit runs in one transaction that first claims the
//! cart while it is still OPEN, so an edit can never land on a cart that
//! checkout has taken.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use kit::db::{Db, fetch_by_keys, loader, new_id, now};

/// The most units of one sku a cart line may hold.
pub const MAX_LINE_QUANTITY: i64 = 50;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CartRow {
    pub id: String,
    pub customer_id: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LineRow {
    pub id: String,
    pub cart_id: String,
    pub sku: String,
    pub quantity: i64,
}

const LINE_COLUMNS: &str = "id, cart_id, sku, quantity";

pub struct LinesByCart(Db);
pub struct LinesById(Db);
pub struct CartsById(Db);

impl Loader<String> for LinesByCart {
    type Value = Vec<LineRow>;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, cart_ids: &[String]) -> Result<HashMap<String, Vec<LineRow>>, Self::Error> {
        let sql = format!("SELECT {LINE_COLUMNS} FROM cart_lines WHERE cart_id IN ({{keys}}) ORDER BY cart_id, id");
        let rows: Vec<LineRow> = fetch_by_keys(&self.0, &sql, cart_ids).await?;
        let mut by_cart: HashMap<String, Vec<LineRow>> = HashMap::new();
        for row in rows {
            by_cart.entry(row.cart_id.clone()).or_default().push(row);
        }
        Ok(by_cart)
    }
}

impl Loader<String> for LinesById {
    type Value = LineRow;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, LineRow>, Self::Error> {
        let sql = format!("SELECT {LINE_COLUMNS} FROM cart_lines WHERE id IN ({{keys}})");
        let rows: Vec<LineRow> = fetch_by_keys(&self.0, &sql, ids).await?;
        Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
    }
}

impl Loader<String> for CartsById {
    type Value = CartRow;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, CartRow>, Self::Error> {
        let rows: Vec<CartRow> =
            fetch_by_keys(&self.0, "SELECT id, customer_id FROM carts WHERE id IN ({keys})", ids).await?;
        Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
    }
}

pub struct Loaders {
    pub lines_by_cart: DataLoader<LinesByCart>,
    pub lines_by_id: DataLoader<LinesById>,
    pub carts_by_id: DataLoader<CartsById>,
}

impl Loaders {
    pub fn new(db: Db) -> Self {
        Loaders {
            lines_by_cart: loader(LinesByCart(db.clone())),
            lines_by_id: loader(LinesById(db.clone())),
            carts_by_id: loader(CartsById(db)),
        }
    }
}

#[tracing::instrument(skip(db))]
pub async fn create_cart(db: &Db, customer_id: Option<&str>) -> Result<CartRow, sqlx::Error> {
    let now = now();
    sqlx::query_as(
        "INSERT INTO carts (id, customer_id, status, created_at, updated_at) VALUES ($1, $2, 'OPEN', $3, $3) \
         RETURNING id, customer_id",
    )
    .bind(new_id())
    .bind(customer_id)
    .bind(&now)
    .fetch_one(db)
    .await
}

/// A change to an open cart's lines, already validated at the edge.
#[derive(Debug)]
pub enum CartEdit<'a> {
    /// Adds to the line for `sku`, creating it if needed.
    Add { sku: &'a str, quantity: i64 },
    /// Sets a line's quantity; 0 removes the line.
    Set { line_id: &'a str, quantity: i64 },
    Remove { line_id: &'a str },
}

#[derive(Debug, PartialEq, Eq)]
pub enum EditOutcome {
    Applied,
    CartClosed,
    LineNotFound,
    /// The line would hold more than MAX_LINE_QUANTITY.
    QuantityLimit,
}

#[tracing::instrument(skip(db))]
pub async fn edit_cart(db: &Db, cart_id: &str, edit: CartEdit<'_>) -> Result<EditOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let claimed = sqlx::query("UPDATE carts SET updated_at = $1 WHERE id = $2 AND status = 'OPEN'")
        .bind(now())
        .bind(cart_id)
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() == 0 {
        return Ok(EditOutcome::CartClosed);
    }
    let changed = match edit {
        CartEdit::Add { sku, quantity } => sqlx::query(
            "INSERT INTO cart_lines (id, cart_id, sku, quantity, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity \
             WHERE cart_lines.quantity + excluded.quantity <= $6",
        )
        .bind(new_id())
        .bind(cart_id)
        .bind(sku)
        .bind(quantity)
        .bind(now())
        .bind(MAX_LINE_QUANTITY)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        CartEdit::Set { line_id, quantity: 0 } | CartEdit::Remove { line_id } => {
            sqlx::query("DELETE FROM cart_lines WHERE id = $1 AND cart_id = $2")
                .bind(line_id)
                .bind(cart_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        CartEdit::Set { line_id, quantity } => sqlx::query("UPDATE cart_lines SET quantity = $1 WHERE id = $2 AND cart_id = $3")
            .bind(quantity)
            .bind(line_id)
            .bind(cart_id)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
    };
    if changed == 0 {
        return Ok(match edit {
            CartEdit::Add { .. } => EditOutcome::QuantityLimit,
            CartEdit::Set { .. } | CartEdit::Remove { .. } => EditOutcome::LineNotFound,
        });
    }
    tx.commit().await?;
    Ok(EditOutcome::Applied)
}
