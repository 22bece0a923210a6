//! The entities orders owns, resolved the way the router asks for them, for
//! their owner and for a stranger: each obeys the rule of its root field
//! (`order(id)`, `me`).

use std::sync::Arc;
use std::time::Duration;

use events::{Bus, BusConfig, Outbox};
use kit::graph::GraphClient;
use kit::server::RequestData;
use kit::testing::{customer, execute, memory_db};
use serde_json::json;

async fn schema_with_one_order() -> (orders::OrdersSchema, RequestData) {
    let db = memory_db(vec![events::migrator(), orders::migrator()]).await;
    sqlx::query(
        "INSERT INTO orders (id, number, customer_id, cart_id, status, total_minor, currency, created_at, updated_at) \
         VALUES ('o1', 'SO-1', 'owner', 'c1', 'PENDING', 1500, 'USD', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO order_lines (order_id, position, sku, quantity, unit_price_minor, currency) VALUES ('o1', 0, 'A', 3, 500, 'USD')")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO order_timeline (order_id, position, status, at, reason) VALUES ('o1', 0, 'PENDING', '2026-01-01T00:00:00.000Z', NULL)")
        .execute(&db)
        .await
        .unwrap();
    let bus = Bus::connect(&BusConfig::InProcess).await.unwrap();
    let checkout = orders::Checkout {
        carts: orders::CartSource { cart: GraphClient::new("http://127.0.0.1:9/unused", None), products: GraphClient::new("http://127.0.0.1:9/unused", None) },
        outbox: Outbox::new(db.clone(), bus.clone(), kit::work::Retry::default()),
        gateway: Arc::new(orders::SandboxGateway::new(db.clone(), Duration::ZERO)),
        bus,
    };
    (orders::schema(db.clone(), checkout), orders::request_data(&db))
}

#[tokio::test]
async fn order_resolves_for_its_customer_only() {
    let (schema, request_data) = schema_with_one_order().await;
    let query = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Order { number status total { amount } lines { quantity unitPrice { amount } variant { sku } } timeline { status } } } }";
    let representations = json!({ "r": [{ "__typename": "Order", "id": "o1" }] });
    let body = execute(&schema, &request_data, query, representations.clone(), customer("owner")).await;
    assert_eq!(
        body["data"]["_entities"],
        json!([{ "number": "SO-1", "status": "PENDING", "total": { "amount": "15.00" },
                 "lines": [{ "quantity": 3, "unitPrice": { "amount": "5.00" }, "variant": { "sku": "A" } }],
                 "timeline": [{ "status": "PENDING" }] }]),
        "{body}"
    );
    let body = execute(&schema, &request_data, query, representations, customer("someone-else")).await;
    assert_eq!(body["data"]["_entities"], json!([null]));
}

#[tokio::test]
async fn customer_resolves_with_their_orders() {
    let (schema, request_data) = schema_with_one_order().await;
    let body = execute(
        &schema,
        &request_data,
        "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id orders(first: 5) { totalCount edges { node { number } } } } } }",
        json!({ "r": [{ "__typename": "Customer", "id": "owner" }] }),
        customer("owner"),
    )
    .await;
    assert_eq!(body["data"]["_entities"], json!([{ "id": "owner", "orders": { "totalCount": 1, "edges": [{ "node": { "number": "SO-1" } }] } }]), "{body}");
}

#[tokio::test]
async fn a_customer_is_no_one_elses() {
    let (schema, request_data) = schema_with_one_order().await;
    let query = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id } } }";
    let representations = json!({ "r": [{ "__typename": "Customer", "id": "owner" }] });
    let body = execute(&schema, &request_data, query, representations.clone(), customer("someone-else")).await;
    assert_eq!(body["data"]["_entities"], json!([null]), "{body}");
    let body = execute(&schema, &request_data, query, representations, kit::auth::Viewer::Anonymous).await;
    assert_eq!(body["data"]["_entities"], json!([null]), "{body}");
}
