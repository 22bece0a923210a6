//! The entities cart owns, resolved the way the router asks for them, with
//! the catalog prices the router passes in through `@requires`, for their
//! owner and for strangers: each obeys the rule of `cart(id)`.

use kit::graph::GraphClient;
use kit::auth::Viewer;
use kit::server::RequestData;
use kit::testing::{customer, execute, memory_db};
use serde_json::{Value, json};

const ENTITIES: &str = "query ($r: [_Any!]!) { _entities(representations: $r) { \
    ... on Cart { id itemCount subtotal { amount currencyCode } } \
    ... on CartLine { id quantity lineTotal { amount currencyCode } } } }";

async fn customer_cart_with_two_lines() -> (cart::CartSchema, RequestData, String, Vec<String>, kit::db::Db) {
    let db = memory_db(vec![events::migrator(), cart::migrator()]).await;
    let created: (String,) = sqlx::query_as("INSERT INTO carts (id, customer_id, status, created_at, updated_at) VALUES ('c1', 'owner', 'OPEN', 't', 't') RETURNING id")
        .fetch_one(&db)
        .await
        .unwrap();
    for (line, sku, quantity) in [("l1", "A", 2), ("l2", "B", 1)] {
        sqlx::query("INSERT INTO cart_lines (id, cart_id, sku, quantity, created_at) VALUES ($1, 'c1', $2, $3, 't')")
            .bind(line)
            .bind(sku)
            .bind(quantity as i64)
            .execute(&db)
            .await
            .unwrap();
    }
    let schema = cart::schema(db.clone(), GraphClient::new("http://127.0.0.1:9/unused", None));
    (schema, cart::request_data(&db), created.0, vec!["l1".into(), "l2".into()], db)
}

fn price(amount: &str) -> Value {
    json!({ "price": { "amount": amount, "currencyCode": "USD" } })
}

#[tokio::test]
async fn cart_subtotal_uses_the_prices_passed_in() {
    let (schema, request_data, cart, _, _) = customer_cart_with_two_lines().await;
    let representation = json!({ "__typename": "Cart", "id": cart, "lines": [{ "variant": price("10.00") }, { "variant": price("2.50") }] });
    let body = execute(&schema, &request_data, ENTITIES, json!({ "r": [representation] }), customer("owner")).await;
    assert_eq!(
        body["data"]["_entities"],
        json!([{ "id": "c1", "itemCount": 3, "subtotal": { "amount": "22.50", "currencyCode": "USD" } }]),
        "{body}"
    );
    let body = execute(&schema, &request_data, ENTITIES, json!({ "r": [representation] }), customer("someone-else")).await;
    assert_eq!(body["data"]["_entities"], json!([null]), "another customer's cart resolves to nothing");
}

#[tokio::test]
async fn cart_line_total_uses_the_price_passed_in() {
    let (schema, request_data, _, lines, _) = customer_cart_with_two_lines().await;
    let body = execute(
        &schema,
        &request_data,
        ENTITIES,
        json!({ "r": [{ "__typename": "CartLine", "id": lines[0], "variant": price("10.00") }] }),
        customer("owner"),
    )
    .await;
    assert_eq!(
        body["data"]["_entities"],
        json!([{ "id": "l1", "quantity": 2, "lineTotal": { "amount": "20.00", "currencyCode": "USD" } }]),
        "{body}"
    );
}

#[tokio::test]
async fn cart_line_is_seen_only_by_whoever_may_see_its_cart() {
    let (schema, request_data, _, lines, _) = customer_cart_with_two_lines().await;
    let representations = json!({ "r": [{ "__typename": "CartLine", "id": lines[1], "variant": price("2.50") }] });
    for stranger in [customer("someone-else"), Viewer::Anonymous] {
        let body = execute(&schema, &request_data, ENTITIES, representations.clone(), stranger).await;
        assert_eq!(body["data"]["_entities"], json!([null]), "{body}");
    }
    let body = execute(&schema, &request_data, ENTITIES, representations, customer("owner")).await;
    assert_eq!(body["data"]["_entities"][0]["quantity"], 1, "{body}");
}

#[tokio::test]
async fn a_cart_and_its_lines_are_read_in_one_statement() {
    let (schema, request_data, cart, _, db) = customer_cart_with_two_lines().await;
    sqlx::query("INSERT INTO carts (id, customer_id, status, created_at, updated_at) VALUES ('empty', 'owner', 'OPEN', 't', 't')").execute(&db).await.unwrap();
    let query = "query ($id: ID!) { cart(id: $id) { id itemCount lines { id quantity } } }";
    let before = db.statements_run();
    let body = execute(&schema, &request_data, query, json!({ "id": cart }), customer("owner")).await;
    assert_eq!(
        body["data"]["cart"],
        json!({ "id": "c1", "itemCount": 3, "lines": [{ "id": "l1", "quantity": 2 }, { "id": "l2", "quantity": 1 }] }),
        "{body}"
    );
    assert_eq!(db.statements_run() - before, 1, "the cart and its lines come from one statement");
    let body = execute(&schema, &request_data, query, json!({ "id": "empty" }), customer("owner")).await;
    assert_eq!(body["data"]["cart"], json!({ "id": "empty", "itemCount": 0, "lines": [] }), "{body}");
    let body = execute(&schema, &request_data, query, json!({ "id": cart }), customer("someone-else")).await;
    assert_eq!(body["data"]["cart"], Value::Null, "another customer's cart is null");
}
