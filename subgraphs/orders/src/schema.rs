//! The orders subgraph's part of the graph.

use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kit::auth::Viewer;
use kit::db::Db;
use kit::error::ApiError;
use kit::money::{CurrencyCode, Money};
use kit::page::{PageInfo, PageRequest};

use crate::db::{self, Loaders, OrderRow};

/// Who may read any order, not only their own (customer service, partners).
const READ_ALL_ORDERS: &str = "orders:read:all";

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderStatus {
    /// Placed; stock and payment are being settled.
    Pending,
    Confirmed,
    /// A sku could not be reserved.
    Rejected,
    /// The payment was declined; the reservation was released.
    PaymentFailed,
    Cancelled,
}

impl OrderStatus {
    fn parse(text: &str) -> Result<Self, ApiError> {
        Ok(match text {
            "PENDING" => OrderStatus::Pending,
            "CONFIRMED" => OrderStatus::Confirmed,
            "REJECTED" => OrderStatus::Rejected,
            "PAYMENT_FAILED" => OrderStatus::PaymentFailed,
            "CANCELLED" => OrderStatus::Cancelled,
            other => return Err(ApiError::Internal(anyhow::anyhow!("stored order status {other:?}"))),
        })
    }
}

fn money(minor_units: i64, currency: &str) -> Result<Money, ApiError> {
    let currency = CurrencyCode::parse(currency).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored currency {currency:?}")))?;
    Ok(Money::new(minor_units, currency))
}

/// An order. Owned here; available to other subgraphs as an entity.
pub struct Order(OrderRow);

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The number a customer quotes to customer service.
    async fn number(&self) -> &str {
        &self.0.number
    }

    async fn status(&self) -> Result<OrderStatus> {
        Ok(OrderStatus::parse(&self.0.status)?)
    }

    /// What the order costs: the sum of its lines at the prices fixed when it was placed.
    async fn total(&self) -> Result<Money> {
        Ok(money(self.0.total_minor, &self.0.currency)?)
    }

    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<OrderLine>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.lines_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        rows.unwrap_or_default()
            .into_iter()
            .map(|row| {
                Ok(OrderLine {
                    quantity: row.quantity as i32,
                    unit_price: money(row.unit_price_minor, &row.currency)?,
                    variant: Variant { sku: ID(row.sku) },
                })
            })
            .collect()
    }

    /// Every status the order has been in, oldest first.
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Vec<OrderStatusChange>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.timeline_by_order.load_one(self.0.id.clone()).await.map_err(ApiError::from)?;
        rows.unwrap_or_default()
            .into_iter()
            .map(|row| {
                Ok(OrderStatusChange {
                    status: OrderStatus::parse(&row.status)?,
                    at: kit::db::parse_timestamp(&row.at).map_err(ApiError::from)?,
                    reason: row.reason,
                })
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct OrderLine {
    pub quantity: i32,
    /// The price charged, fixed when the order was placed.
    pub unit_price: Money,
    pub variant: Variant,
}

#[derive(SimpleObject)]
pub struct OrderStatusChange {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// The catalog's variant, owned by products; an order line refers to it by sku.
#[derive(SimpleObject)]
#[graphql(unresolvable = "sku")]
pub struct Variant {
    pub sku: ID,
}

/// A signed-in customer. Owned here; `orders` is their history.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Customer {
    pub id: ID,
}

#[ComplexObject]
impl Customer {
    /// Newest first.
    async fn orders(&self, ctx: &Context<'_>, first: i32, after: Option<String>) -> Result<OrderConnection> {
        let viewer = ctx.data_unchecked::<Viewer>();
        if viewer.subject()? != self.id.as_str() && !viewer.has_scope(READ_ALL_ORDERS) {
            return Err(ApiError::Forbidden("only the customer may list their orders".into()).into());
        }
        let page = PageRequest::parse("order", first, after.as_deref())?;
        let (rows, total) = db::orders_of(ctx.data_unchecked::<Db>(), &self.id, page.after.as_deref(), page.fetch_limit())
            .await
            .map_err(ApiError::from)?;
        let (edges, page_info) = page.finish("order", rows, |row| &row.id);
        Ok(OrderConnection {
            total_count: total as i32,
            page_info,
            edges: edges.into_iter().map(|(cursor, row)| OrderEdge { cursor, node: Order(row) }).collect(),
        })
    }
}

#[derive(SimpleObject)]
pub struct OrderConnection {
    pub total_count: i32,
    pub page_info: PageInfo,
    pub edges: Vec<OrderEdge>,
}

#[derive(SimpleObject)]
pub struct OrderEdge {
    pub cursor: String,
    pub node: Order,
}

async fn visible_order(ctx: &Context<'_>, id: String) -> Result<Option<Order>, ApiError> {
    let viewer = ctx.data_unchecked::<Viewer>();
    let row = ctx.data_unchecked::<Loaders>().orders_by_id.load_one(id).await?;
    Ok(row
        .filter(|order| viewer.subject_opt() == Some(order.customer_id.as_str()) || viewer.has_scope(READ_ALL_ORDERS))
        .map(Order))
}

pub struct Query;

#[Object]
impl Query {
    /// An order by id: null unless it is the viewer's own (or the viewer may read all orders).
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        ctx.data_unchecked::<Viewer>().subject()?;
        Ok(visible_order(ctx, id.0).await?)
    }

    /// The signed-in customer.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let subject = ctx.data_unchecked::<Viewer>().subject()?;
        Ok(Some(Customer { id: ID(subject.to_string()) }))
    }

    #[graphql(entity)]
    async fn find_order_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        Ok(visible_order(ctx, id.0).await?)
    }

    #[graphql(entity)]
    async fn find_customer_by_id(&self, id: ID) -> Customer {
        Customer { id }
    }
}
