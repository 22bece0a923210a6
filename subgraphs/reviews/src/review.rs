//! Reviews and ratings, and the purchases that make a review verified.

use kit::db::{Arg, Batches, Db, OneByKey, Write, Writes, is_unique_violation, one_by_key};
use kit::domain::Rating;
use sqlx::AnyConnection;

/// Where a review stands with moderation; only a REJECTED review is hidden.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReviewStatus {
    /// Visible, not yet looked at by a moderator.
    Pending,
    Approved,
    /// Hidden: no longer part of the product's reviews or rating.
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "PENDING",
            ReviewStatus::Approved => "APPROVED",
            ReviewStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        [ReviewStatus::Pending, ReviewStatus::Approved, ReviewStatus::Rejected]
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("stored review status {text:?}"))
    }
}

/// Reviews a moderator rejected are hidden from the product everywhere.
const VISIBLE: &str = "status <> 'REJECTED'";

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReviewRow {
    pub id: String,
    pub product_id: String,
    pub author_name: String,
    pub rating: i64,
    pub title: Option<String>,
    pub body: String,
    pub status: String,
    pub verified_purchase: i64,
    pub created_at: String,
}

const REVIEW_COLUMNS: &str = "id, product_id, author_name, rating, title, body, status, verified_purchase, created_at";

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct RatingRow {
    pub product_id: String,
    pub count: i64,
    pub sum: i64,
}

pub struct Loaders {
    pub ratings_by_product: OneByKey<RatingRow>,
}

impl Loaders {
    pub fn new(db: &Db, batches: &Batches) -> Self {
        let sql = format!(
            "SELECT product_id, COUNT(*) AS count, CAST(SUM(rating) AS BIGINT) AS sum FROM reviews \
             WHERE {VISIBLE} AND product_id IN ({{keys}}) GROUP BY product_id"
        );
        Loaders { ratings_by_product: one_by_key(db, batches, sql, |row: &RatingRow| &row.product_id) }
    }
}

/// One page of a product's visible reviews, newest first, and how many there are.
#[tracing::instrument(skip(db))]
pub async fn list_reviews(
    db: &Db,
    product_id: &str,
    after_id: Option<&str>,
    limit: i64,
) -> Result<(Vec<ReviewRow>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM reviews WHERE product_id = $1 AND {VISIBLE}"))
        .bind(product_id)
        .fetch_one(db)
        .await?;
    let after_clause = if after_id.is_some() { "AND id < $2" } else { "" };
    let sql = format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews WHERE product_id = $1 AND {VISIBLE} {after_clause} ORDER BY id DESC LIMIT {limit}"
    );
    let mut query = sqlx::query_as(&sql).bind(product_id);
    if let Some(after_id) = after_id {
        query = query.bind(after_id);
    }
    Ok((query.fetch_all(db).await?, total))
}

pub struct NewReview<'a> {
    pub product_id: &'a str,
    pub customer_id: &'a str,
    pub author_name: &'a str,
    pub rating: Rating,
    pub title: Option<&'a str>,
    pub body: &'a str,
}

/// Inserts a review, marked verified when the customer bought the product.
/// None when the customer has reviewed this product already.
#[tracing::instrument(skip(db, review), fields(product_id = review.product_id))]
pub async fn insert_review(db: &Db, review: &NewReview<'_>) -> Result<Option<ReviewRow>, sqlx::Error> {
    let inserted = sqlx::query_as(&format!(
        "INSERT INTO reviews (id, product_id, customer_id, author_name, rating, title, body, status, verified_purchase, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 (SELECT COUNT(*) FROM purchases WHERE customer_id = $3 AND product_id = $2), $9) \
         RETURNING {REVIEW_COLUMNS}"
    ))
    .bind(kit::db::new_id())
    .bind(review.product_id)
    .bind(review.customer_id)
    .bind(review.author_name)
    .bind(review.rating.get())
    .bind(review.title)
    .bind(review.body)
    .bind(ReviewStatus::Pending.as_str())
    .bind(kit::db::now())
    .fetch_one(db)
    .await;
    match inserted {
        Ok(row) => Ok(Some(row)),
        Err(error) if is_unique_violation(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Loads reviews of a catalog that has no sales yet (the seed), many to a
/// statement, awaiting moderation and unverified; a customer's second
/// review of a product is skipped. Answers how many were added.
pub async fn insert_reviews(db: &Db, reviews: &[NewReview<'_>]) -> Result<u64, sqlx::Error> {
    let text = |value: &str| Arg::Text(value.to_string());
    let now = kit::db::now();
    let rows: Vec<Vec<Arg>> = reviews
        .iter()
        .map(|r| {
            let (status, title) = (ReviewStatus::Pending.as_str(), Arg::OptionalText(r.title.map(str::to_string)));
            vec![text(&kit::db::new_id()), text(r.product_id), text(r.customer_id), text(r.author_name), Arg::Int(r.rating.get()), title, text(r.body), text(status), Arg::Int(0), text(&now)]
        })
        .collect();
    let mut tx = db.begin().await?;
    let inserted = kit::db::insert_rows(
        &mut tx,
        "INSERT INTO reviews (id, product_id, customer_id, author_name, rating, title, body, status, verified_purchase, created_at)",
        "ON CONFLICT DO NOTHING",
        &rows,
    )
    .await?;
    tx.commit().await?;
    Ok(inserted)
}

/// A moderator's decision: the review is APPROVED or REJECTED (and hidden);
/// None when there is no such review.
#[tracing::instrument(skip(db))]
pub async fn moderate_review(db: &Db, id: &str, status: ReviewStatus) -> Result<Option<ReviewRow>, sqlx::Error> {
    sqlx::query_as(&format!("UPDATE reviews SET status = $1 WHERE id = $2 RETURNING {REVIEW_COLUMNS}"))
        .bind(status.as_str())
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A confirmed order: the customer bought these products, so their reviews
/// of them, past and future, are verified purchases.
pub async fn record_purchase(tx: &mut AnyConnection, customer_id: &str, product_ids: &[&str]) -> Result<(), sqlx::Error> {
    let bought = |sql: &'static str, product_id: &str| Write::new(sql, vec![Arg::Text(customer_id.to_string()), Arg::Text(product_id.to_string())]);
    // Each product once: writes sent together do not see each other's rows.
    let products: std::collections::BTreeSet<&str> = product_ids.iter().copied().collect();
    let mut writes = products.into_iter().flat_map(|product_id| {
        [
            bought("INSERT INTO purchases (customer_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", product_id),
            bought("UPDATE reviews SET verified_purchase = 1 WHERE customer_id = $1 AND product_id = $2", product_id),
        ]
    });
    let Some(first) = writes.next() else { return Ok(()) };
    Writes::new(first).and_all(writes).execute(tx).await
}
