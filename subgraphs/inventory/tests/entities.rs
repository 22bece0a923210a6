//! The entities inventory extends, resolved the way the router asks for them.
//! Stock is public, as on a product page: a stranger and a signed-in
//! customer get the same answer.

use kit::auth::Viewer;
use kit::server::RequestData;
use kit::testing::{customer, execute, memory_db};
use serde_json::{Value, json};

async fn schema_with_stock() -> (inventory::InventorySchema, RequestData) {
    let db = memory_db(vec![events::migrator(), inventory::migrator()]).await;
    inventory::set_on_hand(&db, &[("A".to_string(), 3), ("B".to_string(), 0)]).await.unwrap();
    let bus = events::Bus::connect(&events::BusConfig::InProcess).await.unwrap();
    let outbox = events::Outbox::new(db.clone(), bus, kit::work::Retry::default());
    (inventory::schema(db.clone(), outbox), inventory::request_data(&db))
}

/// Asks as a stranger and as a customer; both answers must be the same.
async fn ask_as_anyone(query: &str, representations: Value) -> Value {
    let (schema, request_data) = schema_with_stock().await;
    let stranger = execute(&schema, &request_data, query, representations.clone(), Viewer::Anonymous).await;
    let customer = execute(&schema, &request_data, query, representations, customer("c1")).await;
    assert_eq!(stranger, customer);
    stranger
}

#[tokio::test]
async fn variant_gets_its_stock() {
    let body = ask_as_anyone(
        "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Variant { sku inStock stock { available reserved onHand } } } }",
        json!({ "r": [{ "__typename": "Variant", "sku": "A" }, { "__typename": "Variant", "sku": "NEVER-STOCKED" }] }),
    )
    .await;
    assert_eq!(
        body["data"]["_entities"],
        json!([
            { "sku": "A", "inStock": true, "stock": { "available": 3, "reserved": 0, "onHand": 3 } },
            { "sku": "NEVER-STOCKED", "inStock": false, "stock": { "available": 0, "reserved": 0, "onHand": 0 } }
        ]),
        "{body}"
    );
}

#[tokio::test]
async fn product_in_stock_comes_from_the_required_variant_skus() {
    let body = ask_as_anyone(
        "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id inStock } } }",
        json!({ "r": [
            { "__typename": "Product", "id": "p1", "variants": [{ "sku": "B" }, { "sku": "A" }] },
            { "__typename": "Product", "id": "p2", "variants": [{ "sku": "B" }] }
        ] }),
    )
    .await;
    assert_eq!(body["data"]["_entities"], json!([{ "id": "p1", "inStock": true }, { "id": "p2", "inStock": false }]), "{body}");
}
