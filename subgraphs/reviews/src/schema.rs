//! The reviews subgraph's part of the graph.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::auth::Viewer;
use kit::db::Db;
use kit::error::{ApiError, UserError};
use kit::graph::GraphClient;
use kit::page::{PageInfo, PageRequest};
use serde::Deserialize;

use kit::domain::Rating;

use crate::review::{self, Loaders, NewReview, RatingRow, ReviewRow, ReviewStatus};

const MAX_TITLE_LENGTH: usize = 120;
const MAX_BODY_LENGTH: usize = 5_000;

/// A moderator's verdict on a review: APPROVE keeps it visible, REJECT hides it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ModerationDecision {
    Approve,
    Reject,
}

#[derive(Clone)]
pub struct Review(ReviewRow);

/// A customer's review of a product. Owned here.
#[Object]
impl Review {
    /// The review's unique identifier, which `moderateReview` takes.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// 1 to 5 stars.
    async fn rating(&self) -> i32 {
        self.0.rating as i32
    }

    /// The review's headline; null when the author gave none.
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// The review's text.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The reviewer's name as shown with the review: the name in their sign-in token, else "Customer".
    async fn author_name(&self) -> &str {
        &self.0.author_name
    }

    /// True when the author has a confirmed order containing the product.
    async fn verified_purchase(&self) -> bool {
        self.0.verified_purchase > 0
    }

    /// When the review was submitted.
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(kit::db::parse_timestamp(&self.0.created_at).map_err(ApiError::from)?)
    }

    /// Where the review stands with moderation.
    async fn status(&self) -> Result<ReviewStatus> {
        Ok(ReviewStatus::parse(&self.0.status).map_err(ApiError::from)?)
    }

    /// The product the review is of.
    async fn product(&self) -> Product {
        Product { id: ID(self.0.product_id.clone()) }
    }
}

/// How a product is rated across its visible reviews.
#[derive(SimpleObject)]
pub struct RatingSummary {
    /// Mean of the visible ratings; null while there are none.
    pub average: Option<f64>,
    /// How many visible reviews the average is taken over.
    pub count: i32,
}

impl From<RatingRow> for RatingSummary {
    fn from(row: RatingRow) -> Self {
        let average = (row.count > 0).then(|| (row.sum as f64 / row.count as f64 * 100.0).round() / 100.0);
        RatingSummary { average, count: row.count as i32 }
    }
}

/// One page of a product's visible reviews, with how many there are in all.
#[derive(SimpleObject)]
pub struct ReviewConnection {
    /// How many visible reviews the product has, across all pages.
    pub total_count: i32,
    /// Whether more pages follow, and the cursor to ask for the next one.
    pub page_info: PageInfo,
    /// The reviews of this page, newest first, each with its cursor.
    pub edges: Vec<ReviewEdge>,
}

/// A review in a page of a list, with the cursor that marks its place.
#[derive(SimpleObject)]
pub struct ReviewEdge {
    /// An opaque cursor; pass it as `after` to get the reviews that follow this one.
    pub cursor: String,
    /// The review.
    pub node: Review,
}

// The catalog's product, owned by products (whose description clients see);
// reviews adds its reviews and rating.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Product {
    /// The product's unique identifier.
    pub id: ID,
}

#[ComplexObject]
impl Product {
    /// Visible reviews, newest first; null (with an error naming reviews) when
    /// reviews cannot answer, so the page keeps the catalog's data.
    #[graphql(directive = kit::directives::listSize::apply(None, Some(vec!["first".into()]), Some(vec!["edges".into()])), directive = kit::directives::cost::apply(5))]
    async fn reviews(&self, ctx: &Context<'_>, first: i32, after: Option<String>) -> Result<Option<ReviewConnection>> {
        let page = PageRequest::parse("review", first, after.as_deref())?;
        let (rows, total) = review::list_reviews(ctx.data_unchecked::<Db>(), &self.id, page.after.as_deref(), page.fetch_limit())
            .await
            .map_err(ApiError::from)?;
        let (edges, page_info) = page.finish("review", rows, |row| &row.id);
        Ok(Some(ReviewConnection {
            total_count: total as i32,
            page_info,
            edges: edges.into_iter().map(|(cursor, row)| ReviewEdge { cursor, node: Review(row) }).collect(),
        }))
    }

    /// The mean rating; null when reviews cannot answer.
    async fn rating(&self, ctx: &Context<'_>) -> Result<Option<RatingSummary>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let row = loaders.ratings_by_product.load_one(self.id.0.clone()).await.map_err(ApiError::from)?;
        Ok(Some(row.unwrap_or_default().into()))
    }
}

/// A customer's review of a product, as they send it.
#[derive(InputObject)]
pub struct SubmitReviewInput {
    /// The product reviewed.
    pub product_id: ID,
    /// 1 to 5.
    pub rating: i32,
    /// An optional headline, at most 120 characters; blank means none.
    pub title: Option<String>,
    /// The review's text, 1 to 5,000 characters.
    pub body: String,
}

/// The answer to submitting or moderating a review: the review as it now is, or why the request was refused.
#[derive(SimpleObject)]
pub struct ReviewPayload {
    /// The review as it is after the request; null when the request was refused.
    pub review: Option<Review>,
    /// Why the request was refused; empty when it succeeded.
    pub user_errors: Vec<UserError>,
}

impl ReviewPayload {
    fn failed(error: UserError) -> Self {
        ReviewPayload { review: None, user_errors: vec![error] }
    }
}

pub struct Query;

/// Everything a storefront or back office can read from the shop.
#[Object]
impl Query {
    #[graphql(entity)]
    async fn find_product_by_id(&self, id: ID) -> Product {
        Product { id }
    }
}

pub struct Mutation;

/// Everything a storefront or back office can change in the shop; a business rule's refusal comes back in `userErrors`.
#[Object]
impl Mutation {
    /// A signed-in customer reviews a product, once per product.
    #[graphql(directive = kit::directives::authenticated::apply())]
    async fn submit_review(&self, ctx: &Context<'_>, input: SubmitReviewInput) -> Result<ReviewPayload> {
        let viewer = ctx.data_unchecked::<Viewer>();
        let customer_id = viewer.subject()?;
        let rating = match Rating::parse("input.rating", i64::from(input.rating)) {
            Ok(rating) => rating,
            Err(error) => return Ok(ReviewPayload::failed(error)),
        };
        let title = input.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if title.is_some_and(|t| t.chars().count() > MAX_TITLE_LENGTH) {
            return Ok(ReviewPayload::failed(UserError::new(
                "INVALID_TITLE",
                "input.title",
                format!("title must be at most {MAX_TITLE_LENGTH} characters"),
            )));
        }
        let body = input.body.trim();
        if body.is_empty() || body.chars().count() > MAX_BODY_LENGTH {
            return Ok(ReviewPayload::failed(UserError::new(
                "INVALID_BODY",
                "input.body",
                format!("body must be 1 to {MAX_BODY_LENGTH} characters"),
            )));
        }
        if !product_exists(ctx, &input.product_id).await? {
            return Ok(ReviewPayload::failed(UserError::new(
                "UNKNOWN_PRODUCT",
                "input.productId",
                format!("no product has id {}", input.product_id.0),
            )));
        }
        let review = NewReview {
            product_id: &input.product_id,
            customer_id,
            author_name: viewer.display_name().unwrap_or("Customer"),
            rating,
            title,
            body,
        };
        match review::insert_review(ctx.data_unchecked::<Db>(), &review).await.map_err(ApiError::from)? {
            Some(row) => Ok(ReviewPayload { review: Some(Review(row)), user_errors: vec![] }),
            None => Ok(ReviewPayload::failed(UserError::new(
                "DUPLICATE_REVIEW",
                "input.productId",
                "you have already reviewed this product",
            ))),
        }
    }

    /// Approves or rejects a review (scope reviews:moderate). A rejected
    /// review leaves the product's reviews and rating.
    #[graphql(requires_scopes = "reviews:moderate")]
    async fn moderate_review(&self, ctx: &Context<'_>, id: ID, decision: ModerationDecision) -> Result<ReviewPayload> {
        ctx.data_unchecked::<Viewer>().require_scope("reviews:moderate")?;
        let status = match decision {
            ModerationDecision::Approve => ReviewStatus::Approved,
            ModerationDecision::Reject => ReviewStatus::Rejected,
        };
        match review::moderate_review(ctx.data_unchecked::<Db>(), &id, status).await.map_err(ApiError::from)? {
            Some(row) => Ok(ReviewPayload { review: Some(Review(row)), user_errors: vec![] }),
            None => Ok(ReviewPayload::failed(UserError::new("REVIEW_NOT_FOUND", "id", format!("no review has id {}", id.0)))),
        }
    }
}

pub(crate) const PRODUCT_EXISTS: &str = "query ($id: ID!) { product(id: $id) { id } }";

/// Asks the catalog, through the router, whether the product exists.
async fn product_exists(ctx: &Context<'_>, id: &str) -> Result<bool, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        product: Option<serde_json::Value>,
    }
    let data: Data = ctx
        .data_unchecked::<GraphClient>()
        .query(PRODUCT_EXISTS, serde_json::json!({ "id": id }), None)
        .await?;
    Ok(data.product.is_some())
}
