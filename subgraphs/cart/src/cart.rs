//! Cart queries. Every edit runs in one transaction that first claims the
//! cart while it is still OPEN, so an edit can never land on a cart that
//! checkout has taken.

use kit::db::{Batches, Db, ManyByKey, OneByKey, many_by_key, new_id, now, one_by_key};
use kit::domain::{Quantity, Sku};
use sqlx::AnyConnection;

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

/// A cart with one of its lines (none, for an empty cart), as one join reads them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CartLineJoinRow {
    pub cart_id: String,
    pub customer_id: Option<String>,
    pub line_id: Option<String>,
    pub sku: Option<String>,
    pub quantity: Option<i64>,
}

/// The cart and its lines, from its rows of `carts_with_lines_by_id`; None without rows.
pub fn cart_with_lines(rows: Vec<CartLineJoinRow>) -> Option<(CartRow, Vec<LineRow>)> {
    let first = rows.first()?;
    let cart = CartRow { id: first.cart_id.clone(), customer_id: first.customer_id.clone() };
    let lines = rows.into_iter().filter_map(|row| Some(LineRow { id: row.line_id?, cart_id: row.cart_id, sku: row.sku?, quantity: row.quantity? })).collect();
    Some((cart, lines))
}

/// A cart takes edits while OPEN; ORDERED once checkout has taken it;
/// MERGED once its lines moved into a signed-in customer's cart.
const OPEN: &str = "OPEN";
const ORDERED: &str = "ORDERED";
const MERGED: &str = "MERGED";

pub struct Loaders {
    pub lines_by_cart: ManyByKey<LineRow>,
    pub lines_by_id: OneByKey<LineRow>,
    pub carts_by_id: OneByKey<CartRow>,
    /// A cart and its lines in one statement, for reads that show both.
    pub carts_with_lines_by_id: ManyByKey<CartLineJoinRow>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches) -> Self {
        Loaders {
            lines_by_cart: many_by_key(db, batches,
                format!("SELECT {LINE_COLUMNS} FROM cart_lines WHERE cart_id IN ({{keys}}) ORDER BY cart_id, id"),
                |row: &LineRow| &row.cart_id,
            ),
            lines_by_id: one_by_key(db, batches, format!("SELECT {LINE_COLUMNS} FROM cart_lines WHERE id IN ({{keys}})"), |row: &LineRow| &row.id),
            carts_by_id: one_by_key(db, batches, "SELECT id, customer_id FROM carts WHERE id IN ({keys})", |row: &CartRow| &row.id),
            carts_with_lines_by_id: many_by_key(db, batches,
                "SELECT c.id AS cart_id, c.customer_id, l.id AS line_id, l.sku, l.quantity \
                 FROM carts c LEFT JOIN cart_lines l ON l.cart_id = c.id WHERE c.id IN ({keys}) ORDER BY c.id, l.id",
                |row: &CartLineJoinRow| &row.cart_id,
            ),
        }
    }
}

#[tracing::instrument(skip(db))]
pub async fn create_cart(db: &Db, customer_id: Option<&str>) -> Result<CartRow, sqlx::Error> {
    let now = now();
    sqlx::query_as(
        "INSERT INTO carts (id, customer_id, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, customer_id",
    )
    .bind(new_id())
    .bind(customer_id)
    .bind(OPEN)
    .bind(&now)
    .fetch_one(db)
    .await
}

/// A change to an open cart's lines, already validated at the edge.
#[derive(Debug)]
pub enum CartEdit<'a> {
    /// Adds to the line for `sku` (priced in `currency`), creating it if needed.
    Add { sku: &'a Sku, quantity: Quantity, currency: &'a str },
    /// Sets a line's quantity.
    Set { line_id: &'a str, quantity: Quantity },
    Remove { line_id: &'a str },
}

#[derive(Debug, PartialEq, Eq)]
pub enum EditOutcome {
    Applied,
    CartClosed,
    LineNotFound,
    /// The line would hold more than `Quantity::MAX`.
    QuantityLimit,
    /// The sku is priced in another currency than the cart's (given).
    CurrencyMismatch(String),
}

#[tracing::instrument(skip(db))]
pub async fn edit_cart(db: &Db, cart_id: &str, edit: CartEdit<'_>) -> Result<EditOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let claimed = sqlx::query("UPDATE carts SET updated_at = $1 WHERE id = $2 AND status = $3")
        .bind(now())
        .bind(cart_id)
        .bind(OPEN)
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() == 0 {
        return Ok(EditOutcome::CartClosed);
    }
    if let CartEdit::Add { currency, .. } = edit {
        // The cart row is ours until commit (claimed above), so two adds in
        // different currencies cannot both set it.
        let kept = sqlx::query(
            "UPDATE carts SET currency = $1 WHERE id = $2 \
             AND (currency IS NULL OR currency = $1 OR NOT EXISTS (SELECT 1 FROM cart_lines WHERE cart_id = $2))",
        )
        .bind(currency)
        .bind(cart_id)
        .execute(&mut *tx)
        .await?;
        if kept.rows_affected() == 0 {
            let held: Option<String> = sqlx::query_scalar("SELECT currency FROM carts WHERE id = $1").bind(cart_id).fetch_one(&mut *tx).await?;
            return Ok(EditOutcome::CurrencyMismatch(held.unwrap_or_default()));
        }
    }
    let changed = match edit {
        CartEdit::Add { sku, quantity, .. } => sqlx::query(
            "INSERT INTO cart_lines (id, cart_id, sku, quantity, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity \
             WHERE cart_lines.quantity + excluded.quantity <= $6",
        )
        .bind(new_id())
        .bind(cart_id)
        .bind(sku.as_str())
        .bind(quantity.get())
        .bind(now())
        .bind(Quantity::MAX)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        CartEdit::Remove { line_id } => {
            sqlx::query("DELETE FROM cart_lines WHERE id = $1 AND cart_id = $2")
                .bind(line_id)
                .bind(cart_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        CartEdit::Set { line_id, quantity } => sqlx::query("UPDATE cart_lines SET quantity = $1 WHERE id = $2 AND cart_id = $3")
            .bind(quantity.get())
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

/// What merging a guest cart into a customer's answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Merged {
    /// The customer's cart, with the guest's lines in it.
    Into(String),
    /// No such guest cart (or another customer's).
    NotFound,
    /// The guest cart was ordered or merged already.
    Closed,
    /// The two carts hold lines in different currencies (given: the customer's).
    CurrencyMismatch(String),
}

/// The customer signed in holding a guest cart: it becomes theirs. When
/// they have an open cart already (their newest), the guest's lines move
/// into it: a sku in both adds up, to at most `Quantity::MAX` units, and the
/// guest cart is MERGED (empty, no longer editable or orderable; the same
/// merge asked again answers the same cart). Without one, the guest cart
/// itself becomes the customer's. One transaction that
/// takes the customer's cart, then the guest's, so two merges cannot interleave.
#[tracing::instrument(skip(db))]
pub async fn merge_guest_cart(db: &Db, guest_cart_id: &str, customer_id: &str) -> Result<Merged, sqlx::Error> {
    let mut tx = db.begin().await?;
    let guest: Option<(Option<String>, String, Option<String>)> =
        sqlx::query_as("SELECT customer_id, status, merged_into FROM carts WHERE id = $1").bind(guest_cart_id).fetch_optional(&mut *tx).await?;
    match guest {
        None => return Ok(Merged::NotFound),
        Some((Some(owner), _, _)) if owner == customer_id => return Ok(Merged::Into(guest_cart_id.to_string())),
        Some((Some(_), _, _)) => return Ok(Merged::NotFound),
        Some((None, status, Some(target))) if status == MERGED => {
            // Merged before: into this customer's cart, the same answer again.
            let owner: Option<Option<String>> = sqlx::query_scalar("SELECT customer_id FROM carts WHERE id = $1").bind(&target).fetch_optional(&mut *tx).await?;
            return Ok(if owner.flatten().as_deref() == Some(customer_id) { Merged::Into(target) } else { Merged::Closed });
        }
        Some((None, status, _)) if status != OPEN => return Ok(Merged::Closed),
        Some((None, _, _)) => {}
    }
    let target: Option<(String,)> = sqlx::query_as(
        "UPDATE carts SET updated_at = $1 WHERE id = \
         (SELECT id FROM carts WHERE customer_id = $2 AND status = $3 ORDER BY created_at DESC, id DESC LIMIT 1) AND status = $3 RETURNING id",
    )
    .bind(now())
    .bind(customer_id)
    .bind(OPEN)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((target,)) = target else {
        let adopted = sqlx::query("UPDATE carts SET customer_id = $1, updated_at = $2 WHERE id = $3 AND customer_id IS NULL AND status = $4")
            .bind(customer_id)
            .bind(now())
            .bind(guest_cart_id)
            .bind(OPEN)
            .execute(&mut *tx)
            .await?;
        if adopted.rows_affected() == 0 {
            return Ok(Merged::Closed);
        }
        tx.commit().await?;
        return Ok(Merged::Into(guest_cart_id.to_string()));
    };
    let taken = sqlx::query("UPDATE carts SET status = $1, merged_into = $2, updated_at = $3 WHERE id = $4 AND customer_id IS NULL AND status = $5")
        .bind(MERGED)
        .bind(&target)
        .bind(now())
        .bind(guest_cart_id)
        .bind(OPEN)
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() == 0 {
        return Ok(Merged::Closed);
    }
    let currency_of = |cart: &str| {
        sqlx::query_scalar::<_, Option<String>>("SELECT currency FROM carts WHERE id = $1 AND EXISTS (SELECT 1 FROM cart_lines WHERE cart_id = $1)")
            .bind(cart.to_string())
    };
    let held = currency_of(&target).fetch_optional(&mut *tx).await?.flatten();
    let brought = currency_of(guest_cart_id).fetch_optional(&mut *tx).await?.flatten();
    if let (Some(held), Some(brought)) = (&held, &brought)
        && held != brought
    {
        return Ok(Merged::CurrencyMismatch(held.clone()));
    }
    if let Some(currency) = held.or(brought) {
        sqlx::query("UPDATE carts SET currency = $1 WHERE id = $2").bind(currency).bind(&target).execute(&mut *tx).await?;
    }
    let lines: Vec<(String, i64)> =
        sqlx::query_as("SELECT sku, quantity FROM cart_lines WHERE cart_id = $1 ORDER BY id").bind(guest_cart_id).fetch_all(&mut *tx).await?;
    for (sku, quantity) in lines {
        sqlx::query(
            "INSERT INTO cart_lines (id, cart_id, sku, quantity, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = \
             CASE WHEN cart_lines.quantity + excluded.quantity > $6 THEN $6 ELSE cart_lines.quantity + excluded.quantity END",
        )
        .bind(new_id())
        .bind(&target)
        .bind(&sku)
        .bind(quantity)
        .bind(now())
        .bind(Quantity::MAX)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1").bind(guest_cart_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Merged::Into(target))
}

/// Checkout has taken the cart for `order_id`: it can no longer change. A
/// guest cart merged in the meantime stays MERGED (its lines are in the
/// customer's cart now), and so is never reopened for that order.
pub async fn close_cart(tx: &mut AnyConnection, cart_id: &str, order_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE carts SET status = $1, order_id = $2, updated_at = $3 WHERE id = $4 AND status = $5")
        .bind(ORDERED)
        .bind(order_id)
        .bind(now())
        .bind(cart_id)
        .bind(OPEN)
        .execute(tx)
        .await?;
    Ok(())
}

/// The order that took the cart failed: the cart reopens so the shopper can
/// try again. Only that order's failure reopens it.
pub async fn reopen_cart(tx: &mut AnyConnection, cart_id: &str, order_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE carts SET status = $1, order_id = NULL, updated_at = $2 WHERE id = $3 AND order_id = $4")
        .bind(OPEN)
        .bind(now())
        .bind(cart_id)
        .bind(order_id)
        .execute(tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn status_of(db: &Db, cart_id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM carts WHERE id = $1").bind(cart_id).fetch_one(db).await.unwrap()
    }

    #[tokio::test]
    async fn an_order_of_a_guest_cart_merged_meanwhile_neither_closes_nor_reopens_it() {
        let db = kit::db::connect("sqlite::memory:", vec![kit::db::migrator(), events::migrator(), crate::migrator()]).await.unwrap();
        let own = create_cart(&db, Some("c1")).await.unwrap();
        let guest = create_cart(&db, None).await.unwrap();
        let sku = Sku::parse("sku", "A-1").unwrap();
        let one = Quantity::parse("quantity", 1).unwrap();
        for cart in [&own, &guest] {
            assert_eq!(edit_cart(&db, &cart.id, CartEdit::Add { sku: &sku, quantity: one, currency: "USD" }).await.unwrap(), EditOutcome::Applied);
        }
        assert_eq!(merge_guest_cart(&db, &guest.id, "c1").await.unwrap(), Merged::Into(own.id.clone()));

        // The guest's order, placed just before the merge, arrives and then fails.
        let mut tx = db.begin().await.unwrap();
        close_cart(&mut tx, &guest.id, "o1").await.unwrap();
        reopen_cart(&mut tx, &guest.id, "o1").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(status_of(&db, &guest.id).await, MERGED);
        assert_eq!(status_of(&db, &own.id).await, OPEN);
    }
}
