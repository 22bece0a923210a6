//! Every event the shop publishes, in one place: its type name, its version,
//! its payload, who produces it and who consumes it. A payload carries all
//! its consumers need, so no consumer calls back into the producer.
//!
//! Versioning: a change that only adds a field with a default bumps VERSION
//! and stays readable by old consumers; older versions must still decode
//! into the current struct (see the tests below). A breaking change is a new
//! event type.

use serde::{Deserialize, Serialize};
use serde::de::DeserializeOwned;

/// A payload type with its wire name and the version this code writes.
pub trait Contract: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const VERSION: u32;
}

/// Who consumes what: the durable consumers of the shop, by subgraph. The
/// in-process bus and the NATS consumers are both built from this table.
pub const SUBSCRIPTIONS: &[(&str, &[&str])] = &[
    (
        "inventory",
        &[OrderPlaced::TYPE, OrderConfirmed::TYPE, OrderRejected::TYPE, PaymentFailed::TYPE, OrderCancelled::TYPE, OrderLinesReturned::TYPE],
    ),
    ("orders", &[InventoryReserved::TYPE, InventoryRejected::TYPE]),
    ("cart", &[OrderPlaced::TYPE, OrderRejected::TYPE, PaymentFailed::TYPE]),
    ("reviews", &[OrderConfirmed::TYPE]),
    ("products", &[StockLevelChanged::TYPE]),
];

/// What live subscriptions follow: the events that change an order's status
/// (orders' `status_announced_by`, for `orderStatusChanged`). A process hears
/// these from every other process (over NATS) and no others, so a
/// subscription on one replica sees its order settle on another.
pub const FOLLOWED: &[&str] = &[OrderConfirmed::TYPE, OrderRejected::TYPE, PaymentFailed::TYPE, OrderCancelled::TYPE, OrderFulfilled::TYPE];

/// One line of an order, at the price fixed when it was placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    /// Added in OrderPlaced v2 (reviews needs it for verified purchases).
    #[serde(default)]
    pub product_id: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
}

/// orders → inventory (reserve), cart (close the cart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    /// Empty for a guest's order.
    pub customer_id: String,
    pub cart_id: String,
    pub lines: Vec<OrderLine>,
    pub total_minor: i64,
    pub currency: String,
}

impl Contract for OrderPlaced {
    const TYPE: &'static str = "OrderPlaced";
    const VERSION: u32 = 2;
}

/// inventory → orders: every line is reserved; take the payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReserved {
    pub order_id: String,
}

impl Contract for InventoryReserved {
    const TYPE: &'static str = "InventoryReserved";
    const VERSION: u32 = 1;
}

/// inventory → orders: nothing was reserved, because these skus lack stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRejected {
    pub order_id: String,
    pub out_of_stock: Vec<String>,
}

impl Contract for InventoryRejected {
    const TYPE: &'static str = "InventoryRejected";
    const VERSION: u32 = 1;
}

/// orders → inventory (the reservation becomes a sale), reviews (verified purchases).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: String,
    /// Empty for a guest's order.
    pub customer_id: String,
    pub lines: Vec<OrderLine>,
}

impl Contract for OrderConfirmed {
    const TYPE: &'static str = "OrderConfirmed";
    const VERSION: u32 = 1;
}

/// orders → inventory (release whatever is reserved), cart (reopen).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    pub order_id: String,
    pub cart_id: String,
    pub reason: String,
}

impl Contract for OrderRejected {
    const TYPE: &'static str = "OrderRejected";
    const VERSION: u32 = 1;
}

/// orders → inventory (release the reservation: the compensation), cart (reopen).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub order_id: String,
    pub cart_id: String,
    pub reason: String,
}

impl Contract for PaymentFailed {
    const TYPE: &'static str = "PaymentFailed";
    const VERSION: u32 = 1;
}

/// orders → inventory: a confirmed order was cancelled and its payment voided; restore the stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: String,
}

impl Contract for OrderCancelled {
    const TYPE: &'static str = "OrderCancelled";
    const VERSION: u32 = 1;
}

/// One sku of a shipment or a return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLine {
    pub sku: String,
    pub quantity: i64,
}

/// orders → anyone listening (notifications, the order's subscribers): lines
/// of the order left the warehouse; `complete` when nothing is left to ship.
/// The first fulfilment captured the payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFulfilled {
    pub order_id: String,
    pub fulfilment_id: String,
    pub lines: Vec<ShipmentLine>,
    pub carrier: String,
    pub tracking_number: String,
    pub complete: bool,
}

impl Contract for OrderFulfilled {
    const TYPE: &'static str = "OrderFulfilled";
    const VERSION: u32 = 1;
}

/// orders → anyone listening: money was paid back from the captured payment.
/// Stock is untouched: only returned lines go back on the shelf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRefunded {
    pub order_id: String,
    pub refund_id: String,
    pub amount_minor: i64,
    pub currency: String,
}

impl Contract for OrderRefunded {
    const TYPE: &'static str = "OrderRefunded";
    const VERSION: u32 = 1;
}

/// orders → inventory: shipped lines came back; put them back on the shelf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLinesReturned {
    pub order_id: String,
    pub return_id: String,
    pub lines: Vec<ShipmentLine>,
}

impl Contract for OrderLinesReturned {
    const TYPE: &'static str = "OrderLinesReturned";
    const VERSION: u32 = 1;
}

/// products → anyone listening (search indexes, caches): a variant's price changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantPriceChanged {
    pub sku: String,
    pub price_minor: i64,
    pub currency: String,
}

impl Contract for VariantPriceChanged {
    const TYPE: &'static str = "VariantPriceChanged";
    const VERSION: u32 = 1;
}

/// inventory → products: a sku's available stock (on hand less reserved)
/// changed (event-carried state for the catalog's availability filter and
/// facets). Recorded for every adjustment, release and restock, and for a
/// reservation only when it sells the sku out: one that leaves some
/// available records none, so between events a consumer may rely on whether
/// `available` is above zero, not on the count. A sale, which takes units
/// out of both, records none either. `version` grows with every event of
/// the sku, so a consumer keeps the newest whatever the order of delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevelChanged {
    pub sku: String,
    pub available: i64,
    pub version: i64,
}

impl Contract for StockLevelChanged {
    const TYPE: &'static str = "StockLevelChanged";
    const VERSION: u32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Envelope;

    #[test]
    fn order_placed_v1_still_decodes() {
        // Version 1, as producers wrote it before lines carried product ids.
        let v1 = r#"{"id":"e1","type":"OrderPlaced","version":1,"occurred_at":"2026-01-01T00:00:00.000Z",
            "producer":"orders","correlation_id":"r1","payload":{"order_id":"o1","customer_id":"c1","cart_id":"k1",
            "lines":[{"sku":"A","quantity":2,"unit_price_minor":500,"currency":"USD"}],"total_minor":1000,"currency":"USD"}}"#;
        let envelope: Envelope = serde_json::from_str(v1).unwrap();
        let placed: OrderPlaced = envelope.decode().unwrap();
        assert_eq!(placed.lines[0].sku, "A");
        assert_eq!(placed.lines[0].product_id, "");
    }

    #[test]
    fn a_newer_version_than_this_code_knows_is_refused() {
        let trace = crate::Trace { correlation_id: "r1".into(), traceparent: None };
        let envelope = Envelope::new("orders", &trace, &InventoryReserved { order_id: "o1".into() });
        let mut future = envelope.clone();
        future.version = InventoryReserved::VERSION + 1;
        assert!(future.decode::<InventoryReserved>().is_err());
        assert!(envelope.decode::<OrderCancelled>().is_err(), "another type is refused");
        assert_eq!(envelope.decode::<InventoryReserved>().unwrap().order_id, "o1");
    }
}
