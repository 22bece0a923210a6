//! Review queries.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use kit::db::{Db, fetch_by_keys, is_unique_violation, loader};

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

#[derive(Clone, Copy, Debug, Default)]
pub struct RatingRow {
    pub count: i64,
    pub sum: i64,
}

#[derive(sqlx::FromRow)]
struct KeyedRatingRow {
    product_id: String,
    count: i64,
    sum: i64,
}

pub struct RatingsByProduct(Db);

impl Loader<String> for RatingsByProduct {
    type Value = RatingRow;
    type Error = Arc<sqlx::Error>;

    async fn load(&self, product_ids: &[String]) -> Result<HashMap<String, RatingRow>, Self::Error> {
        let sql = format!(
            "SELECT product_id, COUNT(*) AS count, CAST(SUM(rating) AS BIGINT) AS sum FROM reviews \
             WHERE {VISIBLE} AND product_id IN ({{keys}}) GROUP BY product_id"
        );
        let rows: Vec<KeyedRatingRow> = fetch_by_keys(&self.0, &sql, product_ids).await?;
        Ok(rows.into_iter().map(|r| (r.product_id, RatingRow { count: r.count, sum: r.sum })).collect())
    }
}

pub struct Loaders {
    pub ratings_by_product: DataLoader<RatingsByProduct>,
}

impl Loaders {
    pub fn new(db: Db) -> Self {
        Loaders { ratings_by_product: loader(RatingsByProduct(db)) }
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
    pub rating: i64,
    pub title: Option<&'a str>,
    pub body: &'a str,
}

/// Inserts a review, marked verified when the customer bought the product.
/// None when the customer has reviewed this product already.
#[tracing::instrument(skip(db, review), fields(product_id = review.product_id))]
pub async fn insert_review(db: &Db, review: &NewReview<'_>) -> Result<Option<ReviewRow>, sqlx::Error> {
    let inserted = sqlx::query_as(&format!(
        "INSERT INTO reviews (id, product_id, customer_id, author_name, rating, title, body, status, verified_purchase, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', \
                 (SELECT COUNT(*) FROM purchases WHERE customer_id = $3 AND product_id = $2), $8) \
         RETURNING {REVIEW_COLUMNS}"
    ))
    .bind(kit::db::new_id())
    .bind(review.product_id)
    .bind(review.customer_id)
    .bind(review.author_name)
    .bind(review.rating)
    .bind(review.title)
    .bind(review.body)
    .bind(kit::db::now())
    .fetch_one(db)
    .await;
    match inserted {
        Ok(row) => Ok(Some(row)),
        Err(error) if is_unique_violation(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Sets a review's status; None when there is no such review.
#[tracing::instrument(skip(db))]
pub async fn set_status(db: &Db, id: &str, status: &str) -> Result<Option<ReviewRow>, sqlx::Error> {
    sqlx::query_as(&format!("UPDATE reviews SET status = $1 WHERE id = $2 RETURNING {REVIEW_COLUMNS}"))
        .bind(status)
        .bind(id)
        .fetch_optional(db)
        .await
}
